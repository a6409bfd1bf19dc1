"""Seconds to render and write 100 attribution logos (issue 6: seconds, not minutes).

Prints one table row per configuration: the fast vectorised renderer against plain
logomaker, single logos and LRP-vs-pruned pairs, PNG and SVG, 1000-bp windows with a
sparse 20-bp relevant run (cropped to the default 80-position window) and, for
comparison, uncropped 200-bp windows.

    python benchmarks/logo_speed.py [--n 100] [--quick]
"""

import argparse
import tempfile
import time

import numpy as np


def make_data(n, length, seed=0):
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1)
    R_dense = X * rng.normal(scale=0.05, size=(n, 1, length)).astype(np.float32)
    R = np.zeros_like(X)
    starts = rng.integers(0, length - 20, n)
    for i, s in enumerate(starts):
        R[i, :, s:s + 20] = X[i, :, s:s + 20] * rng.normal(size=20)
        R_dense[i, :, s:s + 20] += R[i, :, s:s + 20]
    return X, R, R_dense


def run(n, length, crop, fmt, engine, pairs):
    import sparselrp.plot.logos as L

    X, R, R_dense = make_data(n, length)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        if engine == "fast":
            L.write_attribution_logos(X, R, d, fmt=fmt, crop=crop, R_dense=R_dense if pairs else None)
        else:  # the same files drawn glyph by glyph with logomaker
            for i in range(n):
                if pairs:
                    fig = L.plot_lrp_comparison(X[i], R_dense[i], R[i], crop=crop, engine="logomaker")
                else:
                    fig = L.plot_attribution_logo(X[i], R[i], crop=crop, engine="logomaker")
                L.save_figure(fig, f"{d}/{i}.{fmt}", dpi=100)
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="logos per configuration")
    ap.add_argument("--quick", action="store_true", help="only the default configuration")
    args = ap.parse_args()

    # warm up fonts and caches so the first row is not charged for them
    run(2, 200, 80, "png", "fast", False)
    configs = [(1000, 80, "png", "fast", False)]
    if not args.quick:
        configs += [
            (1000, 80, "svg", "fast", False),
            (1000, 80, "png", "fast", True),
            (200, None, "png", "fast", False),
            (1000, 80, "png", "logomaker", False),
            (200, None, "png", "logomaker", False),
        ]
    print(f"{'logos':>6} {'length':>6} {'window':>6} {'format':>6} {'engine':>10} {'pairs':>5} {'seconds':>8} {'ms/logo':>8}")
    for length, crop, fmt, engine, pairs in configs:
        s = run(args.n, length, crop, fmt, engine, pairs)
        print(f"{args.n:>6} {length:>6} {str(crop or length):>6} {fmt:>6} {engine:>10} {str(pairs):>5} "
              f"{s:>8.2f} {1000 * s / args.n:>8.1f}")


if __name__ == "__main__":
    main()
