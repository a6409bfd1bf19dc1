"""Training speed and quality of the small CNN on CPU.

Prints one table row per run: the planted-motif set (JASPAR CTCF with GATA1 and
SPI1 decoys in both classes) and the shipped CTCF ChIP-seq peaks against
dinucleotide shuffles (the demo model). Time is wall-clock for the whole training
including validation after each epoch; target: under a minute on 2 CPU cores.

Usage::

    python benchmarks/train_speed.py [--threads 1 2] [--seeds 0 1 2]
"""

import argparse
import platform
import time

import torch

import sparselrp as sl
from sparselrp.models.train import train, train_ctcf_model


def planted_run(seed, threads):
    sim = sl.simulate.simulate(n=2000, length=200, rules=["CTCF"], seed=seed)
    pos, neg = sim.X[sim.y[:, 0] == 1], sim.X[sim.y[:, 0] == 0]
    t = time.perf_counter()
    res = train(positives=pos, negatives=neg, shuffles=0, epochs=20, patience=3, lr=3e-3, seed=seed,
                num_threads=threads, device="cpu")
    return res.metrics, time.perf_counter() - t


def ctcf_run(seed, threads):
    t = time.perf_counter()
    res = train_ctcf_model(None, seed=seed, num_threads=threads)
    return res.metrics, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads available")
    header = f"{'data set':<26} {'seed':>4} {'threads':>7} {'n_train':>7} {'epochs':>6} {'best':>4} " \
             f"{'val AUROC':>9} {'test AUROC':>10} {'seconds':>8}"
    print(header)
    print("-" * len(header))
    for name, fn in (("planted CTCF (n=2000)", planted_run), ("CTCF peaks vs shuffles", ctcf_run)):
        for threads in args.threads:
            for seed in args.seeds:
                m, secs = fn(seed, threads)
                print(f"{name:<26} {seed:>4} {threads:>7} {m['n_train']:>7} {len(m['history']):>6} "
                      f"{m['best_epoch']:>4} {m['best_val_auroc']:>9.4f} {m['test_auroc']:>10.4f} {secs:>8.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
