"""One-hot encoding speed: the vectorised encoders against a naive per-base Python loop.

Prints a markdown table: seconds (best of ``--repeats``) and throughput to encode one
1 Mb and one 10 Mb sequence with ``one_hot_encode``, a batch of 10,000 x 1 kb with
``one_hot_encode_batch`` (equal lengths, and with ``length=`` padding/cropping), the
dinucleotide shuffle of that batch, and a naive per-base loop on a smaller input
whose time is scaled linearly to the full size (marked "scaled").

    python benchmarks/encode_speed.py [--repeats 3] [--naive-bases 200000]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))

from sparselrp.sequence import dinucleotide_shuffle, one_hot_encode, one_hot_encode_batch  # noqa: E402


def naive_encode(seq):
    """The per-base loop the vectorised encoder replaces."""
    X = torch.zeros(4, len(seq), dtype=torch.float32)
    for i, c in enumerate(seq):
        c = c.upper()
        if c == "A":
            X[0, i] = 1
        elif c == "C":
            X[1, i] = 1
        elif c == "G":
            X[2, i] = 1
        elif c == "T":
            X[3, i] = 1
        elif c != "N":
            raise ValueError(f"invalid character {c!r} at position {i}")
    return X


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def random_seq(n, rng):
    return rng.choice(np.frombuffer(b"ACGTacgtN", dtype=np.uint8), size=n).tobytes().decode()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    ap.add_argument("--naive-bases", type=int, default=200_000,
                    help="bases the naive loop really encodes (its time is scaled to each size)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# torch {torch.__version__}, numpy {np.__version__}, {os.cpu_count()} logical cores, "
          f"load average {load:.2f}; best of {args.repeats}")

    one_mb, ten_mb = random_seq(1_000_000, rng), random_seq(10_000_000, rng)
    batch = [random_seq(1000, rng) for _ in range(10_000)]
    ragged = [random_seq(int(n), rng) for n in rng.integers(800, 1200, 10_000)]
    Xb = one_hot_encode_batch(batch)

    naive_small = random_seq(args.naive_bases, rng)
    t_naive = best_of(lambda: naive_encode(naive_small), 1)
    per_base = t_naive / args.naive_bases

    rows = []

    def row(task, bases, seconds, scaled=False):
        rows.append((task, bases, seconds, scaled))

    row("one_hot_encode, 1 Mb", 1e6, best_of(lambda: one_hot_encode(one_mb), args.repeats))
    row("one_hot_encode, 10 Mb", 1e7, best_of(lambda: one_hot_encode(ten_mb), args.repeats))
    row("one_hot_encode_batch, 10,000 x 1 kb", 1e7, best_of(lambda: one_hot_encode_batch(batch), args.repeats))
    row("one_hot_encode_batch, 10,000 x 0.8-1.2 kb, length=1000", float(sum(map(len, ragged))),
        best_of(lambda: one_hot_encode_batch(ragged, length=1000), args.repeats))
    row("dinucleotide_shuffle, 10,000 x 1 kb", 1e7,
        best_of(lambda: dinucleotide_shuffle(Xb, random_state=0), max(1, args.repeats - 1)))
    row(f"naive per-base loop, {args.naive_bases:,} b (measured)", args.naive_bases, t_naive)
    row("naive per-base loop, 1 Mb", 1e6, per_base * 1e6, scaled=True)
    row("naive per-base loop, 10 Mb", 1e7, per_base * 1e7, scaled=True)

    vec10 = rows[1][2]
    print("| task | bases | seconds | Mb/s | vs. naive loop, same bases |")
    print("|---|---:|---:|---:|---:|")
    for task, bases, sec, scaled in rows:
        speed = bases / sec / 1e6
        ratio = per_base * bases / sec if task.startswith("one_hot") else None  # naive time, same bases
        note = " (scaled)" if scaled else ""
        print(f"| {task} | {bases:,.0f} | {sec:.3f}{note} | {speed:,.1f} | "
              f"{'-' if ratio is None else f'{ratio:,.0f}x faster'} |")
    print(f"\none_hot_encode of 10 Mb: {vec10:.3f} s (target: well under 1 s)")


if __name__ == "__main__":
    main()
