"""Throughput of sl.lrp against gradient x input on a DeepSEA-like network.

Prints sequences per second of plain gradient x input (``torch.autograd.grad`` on the
input only, parameters frozen), of ``sl.lrp`` (one call, graph capture included) and of
the object form ``sl.LRP(...).attribute`` for several composites and pruning settings,
with the ratio to gradient x input, all measured in one run on the same model and batch.

Targets (issue 3 / issue 4): LRP >= 0.5x gradient x input; pruned LRP >= 0.8x unpruned.

Usage::

    python benchmarks/lrp_speed.py                      # N=256, L=1000, CPU, DeepSEA widths / 2
    python benchmarks/lrp_speed.py --width 1.0 --repeats 3
    python benchmarks/lrp_speed.py --device cuda
"""

import argparse
import time
from statistics import median as _median

import torch
import torch.nn as nn

import sparselrp as sl
from sparselrp.lrp import LRP, MassPrune, TopK


class DeepSEALike(nn.Module):
    """3 x (Conv1d k8 + ReLU + MaxPool 4) then Dense + ReLU + Dense (DeepSEA layout;
    channel widths 320/480/960 scaled by ``width``)."""

    def __init__(self, length=1000, width=0.5, n_out=919, hidden=925):
        super().__init__()
        c1, c2, c3 = (max(4, int(round(c * width))) for c in (320, 480, 960))
        self.features = nn.Sequential(
            nn.Conv1d(4, c1, 8), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(c1, c2, 8), nn.ReLU(), nn.MaxPool1d(4),
            nn.Conv1d(c2, c3, 8), nn.ReLU(), nn.Dropout(0.5),
        )
        lc = ((length - 7) // 4 - 7) // 4 - 7
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c3 * lc, hidden), nn.ReLU(),
                                        nn.Linear(hidden, n_out))

    def forward(self, x):
        return self.classifier(self.features(x))


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _time_all(fns, repeats):
    """Wall times of each function over ``repeats`` interleaved rounds (one call of every
    function per round, so load changes on a shared machine hit all methods alike).

    Returns ``{label: [seconds per round]}``."""
    for fn in fns.values():
        fn()  # warm-up
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync()
            t0 = time.perf_counter()
            fn()
            _sync()
            times[k].append(time.perf_counter() - t0)
    return times


def _ratio(times, num, den):
    """Median over rounds of the per-round ratio ``times[num] / times[den]``."""
    return _median([a / b for a, b in zip(times[num], times[den])])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=256, help="sequences per batch")
    ap.add_argument("--length", type=int, default=1000, help="sequence length")
    ap.add_argument("--width", type=float, default=0.5, help="channel width factor (1.0 = DeepSEA)")
    ap.add_argument("--repeats", type=int, default=5, help="timed interleaved rounds (medians are reported)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    model = DeepSEALike(args.length, args.width).eval().to(dev)
    for p in model.parameters():
        p.requires_grad_(False)
    idx = torch.randint(0, 4, (args.n, args.length))
    X = torch.nn.functional.one_hot(idx, 4).permute(0, 2, 1).float().contiguous().to(dev)
    target = 0

    def grad_x_input_on(Xb):
        x = Xb.clone().requires_grad_(True)
        out = model(x)
        (g,) = torch.autograd.grad(out[:, target].sum(), x)
        return g * x.detach()

    # sl.lrp on CPU explains a batch in steps whose largest intermediate tensor stays under
    # 16 MiB (fewer page faults); gradient x input in the same steps is shown too, so the
    # table says how much of the ratio that alone explains
    step = LRP(model, device=dev)._cpu_chunk(X, X.dtype) if dev.type == "cpu" else args.n

    def grad_x_input_steps():
        return torch.cat([grad_x_input_on(X[s:s + step]) for s in range(0, args.n, step)])

    fns = {"gradient x input": lambda: grad_x_input_on(X),
           f"gradient x input, steps of {step}": grad_x_input_steps,
           "sl.lrp best-practice (incl. capture)": lambda: sl.lrp(model, X, target=target, device=dev)}
    for comp in ("best-practice", "epsilon-plus", "epsilon", "epsilon-alpha2-beta1"):
        e = LRP(model, composite=comp, device=dev)
        fns[f"LRP {comp}"] = lambda e=e: e.attribute(X, target=target)
    for label, pr in (("MassPrune(0.5)", MassPrune(0.5)), ("TopK(0.05)", TopK(0.05)),
                      ("MassPrune(0.5, matrix)", MassPrune(0.5, redistribute="matrix"))):
        e = LRP(model, composite="best-practice", pruning=pr, device=dev)
        fns[f"LRP best-practice + {label}"] = lambda e=e: e.attribute(X, target=target)
    times = _time_all(fns, args.repeats)
    print(f"DeepSEA-like (width {args.width}), N={args.n}, L={args.length}, device={dev}, "
          f"threads={torch.get_num_threads()}, {args.repeats} interleaved rounds; seq/s from the median "
          f"round, ratios the median of the per-round ratios")
    print(f"{'method':45s} {'seq/s':>10s} {'x grad*in':>10s} {'x unpruned':>11s}")
    for label, t in times.items():
        rel = f"{_ratio(times, 'LRP best-practice', label):11.2f}" if "+" in label else f"{'':11s}"
        print(f"{label:45s} {args.n / _median(t):10.1f} {_ratio(times, 'gradient x input', label):10.2f} {rel}")


if __name__ == "__main__":
    main()
