"""Pruned LRP against LRP on planted motifs: the paper's claims on genomic data (issue 4 item 4).

Sequences with JASPAR motifs planted at recorded positions (``sparselrp.simulate``):
CTCF (MA0139) and SPI1 (MA0080) must both be present for label 1, GATA1 (MA0035) is
a decoy planted at the same rate in both classes. A small CNN (zoo "small_cnn";
``--arch two_conv`` for two convolutions, ``--arch deepsea`` or ``basset`` for deeper ones)
is trained on 70 % of the set; held-out positives are explained with gradient x
input, LRP best-practice, TopK at several k and MassPrune (PLRP) with lambda and
matrix redistribution at several p.
Table: Gini and share of zero positions (sparsity), relevance mass accuracy and
AUPRC of |r| against the relevant motifs' positions, AOPC of most-relevant-first
deletion (and of random deletion), conservation error |sum R - f| / |f|, and time.
A second table shows the per-layer sparsity (share of zero units in the relevance
of each explained layer's input), where pruning compounds toward the input.

    python benchmarks/plrp_vs_lrp.py [--n-eval 200] [--arch small_cnn] [--quick]

Ends with whether the default (best-practice, MassPrune(0.5), lambda) reaches
input Gini >= 0.9 with AUPRC not below LRP's.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from _common import MassPrune, Method, TopK  # noqa: E402


def method_grid(ks, ps):
    out = [Method("gxi", "grad x input", C.run_grad_x_input, "floor"),
           Method("lrp", "LRP best-practice", C._sparselrp(None), "sparselrp")]
    for k in ks:
        out.append(Method(f"topk{k}", f"TopK({k:g})", C._sparselrp(TopK(k)), "sparselrp", pruned=True))
    for redistribute in ("lambda", "matrix"):
        for p in ps:
            out.append(Method(f"mass{p}{redistribute[0]}", f"MassPrune({p:g}, {redistribute})",
                              C._sparselrp(MassPrune(p, redistribute=redistribute)), "sparselrp", pruned=True))
    return out


def instance_table(sim, idx):
    """The relevant planted instances of the explained sequences: (row, start, end, motif name) arrays."""
    pos = {int(s): i for i, s in enumerate(idx.tolist())}
    hits = [(pos[i.seq], i.start, i.end, i.motif_name) for i in sim.instances if i.relevant and i.seq in pos]
    rows, starts, ends, names = zip(*hits) if hits else ((), (), (), ())
    as_index = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return as_index(rows), as_index(starts), as_index(ends), list(names)


def motif_kept(instances):
    """``extra`` column maker: share of each relevant motif's instances left with any non-zero relevance.

    A pruned map can drop a motif entirely; its positions then tie with the zeroed
    background, which is what costs AUPRC.
    """
    rows, starts, ends, names = instances

    def columns(R):
        nz = (R.sum(1) != 0).to(torch.int64)  # (N, L)
        csum = torch.nn.functional.pad(nz.cumsum(1), (1, 0))
        keep = (csum[rows, ends] - csum[rows, starts]) > 0
        out = {}
        for name in sorted(set(names)):
            sel = torch.tensor([n == name for n in names])
            out[f"kept_{name}"] = float(keep[sel].float().mean())
        return out

    return columns


def filter_split(model, X, sim, idx, layers, device="cpu"):
    """SmallCNN only: the positive relevance of the pooled filters, grouped by what each filter's maximum lies on.

    With global max pooling each filter's relevance comes from one window (its
    maximum); this counts, per sequence, how many filters with positive relevance
    sit on each relevant motif (or on the background) and how much they carry.
    """
    conv = model.body[0]
    width = conv.kernel_size[0]
    with torch.no_grad():
        first = conv(X.to(device)).argmax(-1).cpu()  # (N, F) start of each filter's maximum window
    R = layers["body.4"]  # (N, F) relevance of the pooled filters
    label = torch.zeros_like(first)  # 0 = background, 1.. = motif index
    motif_names = sorted({i.motif_name for i in sim.instances if i.relevant})
    rows, starts, ends, names = instance_table(sim, idx)
    for r, s, e, n in zip(rows.tolist(), starts.tolist(), ends.tolist(), names):
        on = (first[r] + width > s) & (first[r] < e)
        label[r, on] = motif_names.index(n) + 1
    total = R.clamp(min=0).sum(1)
    out = []
    for k, name in enumerate(["background"] + motif_names):
        sel = (label == k) & (R > 0)
        count = sel.sum(1).float()
        mass = (R.clamp(min=0) * sel).sum(1)
        share = mass / total
        per_filter = (share / count.clamp(min=1))[count > 0]
        out.append([name, float(count.mean()), float(share.mean()), float(per_filter.mean())])
    return C.table(["maximum on", "filters with R > 0 (mean per sequence)", "share of positive R",
                    "share per such filter"], out)


def layer_sparsity(model, X, prunings, batch_size, device):
    """Share of exact zeros in each explained layer's input relevance, per pruning setting."""
    headers, rows = None, []
    for label, pruning in prunings:
        _, layers = C.lrp(model, X.to(device), target=0, pruning=pruning, batch_size=batch_size, device=device,
                          return_layers=True)
        if headers is None:
            headers = ["setting"] + list(layers)
        rows.append([label] + [float((v == 0).float().mean()) for v in layers.values()])
    return C.table(headers, rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--arch", default="small_cnn", choices=sorted(C.PLANTED_ARCHS), help="model trained")
    ap.add_argument("--n-sim", type=int, default=20000, help="planted-motif sequences (70 %% train)")
    ap.add_argument("--length", type=int, default=200, help="sequence length L")
    ap.add_argument("--seed", type=int, default=1, help="seed of the simulated set (a new set trains a new model)")
    ap.add_argument("--epochs", type=int, default=25, help="training epochs")
    ap.add_argument("--n-eval", type=int, default=200, help="held-out positives explained")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--k", type=float, nargs="+", default=[0.01, 0.05, 0.2], help="TopK k values (share of units)")
    ap.add_argument("--p", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.9], help="MassPrune p values")
    ap.add_argument("--steps", type=int, default=20, help="AOPC deletion steps (1 %% of L each)")
    ap.add_argument("--cache", default=str(C.DEFAULT_CACHE), help="directory of the cached trained models")
    ap.add_argument("--json", default=None, help="also write all results to this JSON file")
    ap.add_argument("--quick", action="store_true", help="tiny settings (smoke test; figures meaningless)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_sim, args.epochs, args.n_eval, args.batch_size, args.steps = 300, 1, 6, 8, 3
        args.k, args.p = [0.05], [0.5]
    device = C.resolve_device(args.device)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started = time.time()
    print("## pruned LRP (PLRP) against LRP on planted motifs\n")
    print(f"machine: {C.machine_description(device)}")
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:] if argv is None else argv)}\n")
    sim = C.planted_set(n=args.n_sim, length=args.length, seed=args.seed)
    model, _, meta = C.planted_model(sim, epochs=args.epochs, arch=args.arch,
                                     cache=None if args.quick else args.cache, log=log)
    model.to(device)
    _, _, test = C.split(len(sim.X))
    idx = torch.arange(len(sim.X))[test]
    idx = idx[sim.y[idx, 0] > 0.5][: args.n_eval]
    X, mask = sim.X[idx], sim.mask[idx]
    print(f"data: {args.n_sim} sequences of {X.shape[-1]} bp, rule {C.PLANTED_RULE} (CTCF and SPI1), decoy GATA1; "
          f"model: {args.arch} ({sum(p.numel() for p in model.parameters()):,} parameters), validation AUROC "
          f"{meta.get('val_auroc', 'n/a')}; explained: {len(idx)} held-out positives; reference: planted CTCF + "
          f"SPI1 positions ({mask.float().mean():.3f} of positions); AOPC: {args.steps} steps of 1 % of L "
          "replaced by all-zero (N) columns\n")
    instances = instance_table(sim, idx)
    rows = C.evaluate_methods(method_grid(args.k, args.p), model, X, mask, batch_size=args.batch_size, device=device,
                              conservation=True, aopc_kwargs=dict(steps=args.steps, step_size=0.01,
                                                                  background="zeros"),
                              extra=motif_kept(instances), log=log)
    kept = sorted({k for r in rows for k in r if k.startswith("kept_")})
    print(C.quality_table(rows, C.QUALITY_COLUMNS[:-1] + [(k, k[5:] + " kept") for k in kept] + [("note", "note")]))
    print("\n(\"X kept\": share of the relevant planted X instances left with any non-zero relevance)")

    print("\n### per-layer sparsity: share of zero units in each explained layer's input relevance\n")
    settings = [("LRP best-practice", None)] + [(f"TopK({k:g})", TopK(k)) for k in args.k] + \
        [(f"MassPrune({p:g})", MassPrune(p)) for p in args.p]
    print(layer_sparsity(model, X[:min(len(X), 64)], settings, args.batch_size, device))
    if args.arch == "small_cnn":
        print("\n### LRP best-practice: positive relevance of the pooled filters, by what each filter's maximum "
              "lies on\n")
        _, layers = C.lrp(model, X.to(device), target=0, batch_size=args.batch_size, device=device,
                          return_layers=True)
        print(filter_split(model, X, sim, idx, {k: v.cpu() for k, v in layers.items()}, device))

    by = {r["key"]: r for r in rows if "gini" in r}
    print("\n### target (issue 4): default setting, best-practice + MassPrune(0.5) + lambda\n")
    default, base = by.get("mass0.5l"), by.get("lrp")
    if default is None or base is None:
        print("n/a (p = 0.5 not in --p, or a run failed)")
        verdict = None
    else:
        g_ok = default["gini"] >= 0.9
        a_ok = default["auprc"] >= base["auprc"]
        verdict = dict(gini=default["gini"], auprc=default["auprc"], lrp_auprc=base["auprc"], gini_ok=g_ok,
                       auprc_ok=a_ok)
        print(f"{'PASS' if g_ok else 'MISS'}  input Gini {default['gini']:.3f} (target >= 0.9; LRP "
              f"{base['gini']:.3f})")
        print(f"{'PASS' if a_ok else 'MISS'}  AUPRC {default['auprc']:.3f} not below LRP's {base['auprc']:.3f}")
        aopc_change = (default["aopc"] - base["aopc"]) / abs(base["aopc"]) if base["aopc"] else float("nan")
        print(f"info  AOPC {default['aopc']:.3f} vs LRP {base['aopc']:.3f} ({100 * aopc_change:+.1f} %)")
        best = max(by.values(), key=lambda r: r["gini"])
        print(f"info  sparsest setting: {best['method']} (Gini {best['gini']:.3f}, AUPRC {best['auprc']:.3f})")
    print(f"\ntotal wall time {time.time() - started:.0f} s")
    C.write_json(args.json, dict(machine=C.machine_description(device), args=vars(args), model=meta, rows=rows,
                                 target=verdict))


if __name__ == "__main__":
    main()
