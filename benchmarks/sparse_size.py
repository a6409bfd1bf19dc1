"""How much smaller a sparse attribution file is than the dense one (issue 15 item 4).

On the demo's data (the shipped CTCF SmallCNN on the 500 CTCF peaks, 200 bp) and on a
1,000 bp planted set (the two-convolution CNN of the validation suite), writes the maps
users get in both file forms and reports their sizes: ``sl.plrp`` projected (what
``sparselrp attribute`` writes), the same map raw, plain LRP best-practice raw (0.1's
default file, zB first layer), and 0.1's pruned default (best-practice, MassPrune(0.5)) raw.

    python benchmarks/sparse_size.py [--quick]
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import quality as Q  # noqa: E402

sl = C.sl
from sparselrp.io.attributions import size_ratio  # noqa: E402


def maps(model, X):
    from sparselrp.lrp.plrp import RECOMMENDED_COMPOSITE, recommended_pruning

    plrp_raw = C.lrp(model, X, target=0, composite=RECOMMENDED_COMPOSITE, pruning=recommended_pruning())
    return {
        "sl.plrp, projected (sparselrp attribute's default)": sl.plrp(model, X, target=0),
        "sl.plrp, raw": plrp_raw,
        "LRP best-practice, raw (0.1's unpruned file)": C.lrp(model, X, target=0),
        "best-practice + MassPrune(0.5), raw (0.1's pruned file)": C.lrp(model, X, target=0,
                                                                         pruning=C.MassPrune(0.5, p_neg=0.25)),
    }


def report(label, model, X):
    rows = []
    for name, R in maps(model, X).items():
        s = size_ratio(R)
        rows.append([name, f"{s['density']:.3f}", f"{s['dense_bytes'] / 1024:.0f}", f"{s['sparse_bytes'] / 1024:.0f}",
                     f"{s['ratio']:.2f}"])
    print(f"\n### {label}: {X.shape[0]} sequences of {X.shape[-1]} bp\n")
    print(C.table(["map", "stored share of entries", "dense KiB", "sparse KiB", "dense / sparse"], rows))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-sim", type=int, default=8000, help="planted set of the validation suite (its cached model)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--n", type=int, default=500, help="planted sequences written")
    ap.add_argument("--cache", default=str(C.DEFAULT_CACHE))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_sim, args.epochs, args.n = 300, 1, 20
    print("## sparse against dense attribution files (np.savez_compressed, float32)")
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:] if argv is None else argv)}")
    model, _, _ = C.ctcf_model(cache=args.cache, log=lambda m: print(m, file=sys.stderr))
    X = Q.ctcf_peaks(40 if args.quick else None)
    report("demo data: CTCF peaks, shipped SmallCNN", model, X)
    sim = C.planted_set(n=args.n_sim, length=1000, seed=1)
    model, _, _ = C.planted_model(sim, epochs=args.epochs, arch="two_conv", cache=None if args.quick else args.cache,
                                  log=lambda m: print(m, file=sys.stderr))
    _, _, test = C.split(len(sim.X))
    with torch.no_grad():
        report("planted set, two-convolution CNN", model, sim.X[test][: args.n])


if __name__ == "__main__":
    main()
