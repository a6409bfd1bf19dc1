"""The validation suite behind ``sl.plrp``'s setting (issue 15): every architecture, two lengths,
planted motifs with an AND grammar and a decoy, and the shipped CTCF ChIP-seq peaks.

Models (``_common.PLANTED_ARCHS``): one convolution + global max (``small_cnn``), two
convolutions (``two_conv``), DeepSEA-shaped (``deepsea``), Basset-shaped with BatchNorm
(``basset``), a BPNet-like dilated residual net with profile and counts heads explained on
counts (``bpnet``); each trained on a planted set (CTCF AND SPI1 for label 1, GATA1 a decoy in
both classes) at 200 and 1,000 bp; plus the shipped CTCF SmallCNN on the 500 CTCF peaks (reference:
FIMO matches of JASPAR MA0139, p < 1e-4).

Explained: held-out true positives (label 1, predicted probability > 0.5).

Methods: gradient x input, tangermeme DeepLIFT-SHAP (20 dinucleotide shuffles), LRP
best-practice (sl.lrp), LRP with sl.plrp's composite unpruned, ``sl.plrp`` (the default),
``sl.plrp`` with a user's TopK at 0.01 / 0.05 / 0.2 and MassPrune at 0.3 / 0.5 / 0.8, the
candidate settings the default was chosen from (position grouping, conv stack only or every
layer input, the first choice epsilon-gamma + position-grouped MassPrune), and ablations (gamma
instead of zB on the first layer, top-k by |r|, p_neg = p/2, and 0.1's default MassPrune(0.5)).

Metrics on per-position relevance (sum of the four rows), per sequence, then averaged: Gini of
|r| and the share of exact zeros; relevance mass accuracy (RMA, positive relevance inside the
causal motifs); AUPRC of |r| against the whole causal motifs and against their core columns
(>= 1 bit); instance recall (share of causal instances whose largest positive r reaches 10 %
of the sequence's peak |r|; an instance turned negative is not recalled); negative instances
(share of causal instances whose summed relevance is negative: AUPRC on |r| cannot see a motif
whose sign flipped); AOPC of deleting the most relevant positions first (20 steps of 1 % of L
replaced by N columns; ties in a seeded random order), as a ratio of means. Every figure comes
with a 95 % paired bootstrap interval over the explained sequences (1,000 resamples).

    python benchmarks/validation_suite.py [--archs ...] [--lengths 200 1000] [--no-ctcf] [--quick]

Prints one table per model, then the issue's checks per model (PASS / MISS) with the paired
differences they rest on. ``--summary RUN.json ...`` prints one line per model from saved runs.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import quality as Q  # noqa: E402

sl = C.sl
from sparselrp.lrp import MassPrune, TopK  # noqa: E402
from sparselrp.metrics import auprc, faithfulness, gini, relevance_mass_accuracy  # noqa: E402

N_BOOT = 1000


# ----------------------------------------------------------------------------- methods

def _plrp(**kw):
    def run(model, X, target, batch_size, device):
        return sl.plrp(model, X.to(device), target=target, batch_size=batch_size, device=device, **kw).cpu()
    return run


def _lrp(composite="best-practice", pruning=None):
    def run(model, X, target, batch_size, device):
        return C.lrp(model, X.to(device), target=target, composite=composite, pruning=pruning,
                     batch_size=batch_size, device=device).cpu()
    return run


POS = dict(layers="positions", group="position")

#: key -> (label, runner, family); family "peer" runs on C.peer_compatible(model). "user" rows are
#: what a user gets from ``sl.plrp(model, X, pruning=sl.TopK(k) / sl.MassPrune(p))`` (the classes'
#: defaults: every conv / dense input, single units, sign-aware top-k, p_neg = p); "candidate" rows
#: are the settings sl.plrp's default was chosen from; "ablation" rows undo one choice each.
METHODS = {
    "gxi": ("gradient x input", C.run_grad_x_input, "floor"),
    "dls": ("DeepLIFT-SHAP (tangermeme, 20 refs)", C.run_tangermeme_dls, "peer"),
    "lrp": ("LRP best-practice (sl.lrp)", _lrp(), "lrp"),
    "lrp_eg": ("LRP epsilon-gamma (unpruned)", _lrp("epsilon-gamma"), "lrp"),
    "plrp": ("sl.plrp (default)", _plrp(), "plrp"),
    "topk0.01": ("TopK(0.01) (sl.plrp(k=0.01))", _plrp(k=0.01), "user"),
    "topk0.05": ("TopK(0.05) (sl.plrp(k=0.05))", _plrp(k=0.05), "user"),
    "topk0.2": ("TopK(0.2) (sl.plrp(k=0.2))", _plrp(k=0.2), "user"),
    "mass0.3": ("MassPrune(0.3)", _plrp(pruning=MassPrune(0.3)), "user"),
    "mass0.5": ("MassPrune(0.5)", _plrp(pruning=MassPrune(0.5)), "user"),
    "mass0.8": ("MassPrune(0.8)", _plrp(pruning=MassPrune(0.8)), "user"),
    "c_two": ("TopK(0.1) two-sided, sign-aware", _plrp(pruning=TopK(0.1)), "candidate"),
    "c_two05": ("TopK(0.05) two-sided, sign-aware", _plrp(pruning=TopK(0.05)), "candidate"),
    "c_pos_mass": ("MassPrune(0.5), conv-stack positions", _plrp(pruning=MassPrune(0.5, **POS)), "candidate"),
    "c_pos_topk": ("TopK(0.1) positive, conv-stack positions",
                   _plrp(pruning=TopK(0.1, positive_only=True, **POS)), "candidate"),
    "c_first": ("first choice: epsilon-gamma, MassPrune(0.5), conv-stack positions",
                _plrp(composite="epsilon-gamma", pruning=MassPrune(0.5, **POS)), "candidate"),
    "abl_eg": ("ablation: gamma first layer (epsilon-gamma)", _plrp(composite="epsilon-gamma"), "ablation"),
    "abl_signs": ("ablation: TopK(0.1) two-sided by |r|", _plrp(pruning=TopK(0.1, sign_aware=False)), "ablation"),
    "abl_pneg": ("ablation: MassPrune(0.5), p_neg = p/2", _plrp(pruning=MassPrune(0.5, p_neg=0.25)), "ablation"),
    "old_mass": ("0.1 default MassPrune(0.5), p_neg = p/2", _lrp(pruning=MassPrune(0.5, p_neg=0.25)), "ablation"),
}


# ----------------------------------------------------------------------------- ground truth

def _core_columns(pwm, min_bits=1.0):
    p = np.clip(pwm, 1e-9, 1)
    return (2 + (p * np.log2(p)).sum(0)) >= min_bits


def planted_truth(sim, idx):
    """Causal instances (row, start, end, strand, pwm) of the explained sequences, and the masks."""
    pwms = {m.id: m.pwm for m in sim.motifs}
    rows = {int(s): i for i, s in enumerate(idx.tolist())}
    inst = [(rows[i.seq], i.start, i.end, i.strand, pwms[i.motif_id]) for i in sim.instances
            if i.relevant and i.seq in rows]
    return inst


def ctcf_truth(X, threshold=1e-4):
    from memelite import fimo

    motif = sl.simulate.jaspar_motifs(("MA0139",))[0]
    hits = fimo({motif.name: motif.pwm.astype(np.float64)}, X.numpy().astype(np.float64), threshold=threshold)[0]
    return [(int(s), int(a), int(b), st, motif.pwm) for s, a, b, st in
            zip(hits["sequence_name"], hits["start"], hits["end"], hits["strand"])]


def masks(inst, n, length):
    whole = np.zeros((n, length), bool)
    core = np.zeros((n, length), bool)
    for r, a, b, strand, pwm in inst:
        whole[r, a:b] = True
        cols = _core_columns(pwm)
        if strand == "-":
            cols = cols[::-1]
        core[r, a:b] |= cols[: b - a]
    return whole, core


# ----------------------------------------------------------------------------- per-sequence metrics

def per_sequence(model, X, R, inst, whole, core, target, steps, device):
    """Per-sequence figures: dict name -> (N,) arrays (AOPC as numerator / denominator)."""
    r = R.double().sum(1).numpy()                             # (N, L) per-position relevance
    a = np.abs(r)
    out = {"gini": gini(r).values, "zeros": (r == 0).mean(1), "rma": relevance_mass_accuracy(r, whole).values,
           "auprc": auprc(r, whole).values, "auprc_core": auprc(r, core).values}
    peak = a.max(1)
    hit = np.zeros(len(r))
    cnt = np.zeros(len(r))
    flip = np.zeros(len(r))
    for row, s, e, _, _ in inst:
        cnt[row] += 1
        # recalled: the instance's largest positive relevance reaches 10 % of the sequence's peak
        # |r| (an instance turned negative is evidence against the prediction, not recalled)
        hit[row] += float(peak[row] > 0 and r[row, s:e].max() >= 0.1 * peak[row])
        flip[row] += float(r[row, s:e].sum() < 0)
    out["recall_hit"], out["recall_n"], out["flip_n"] = hit, cnt, flip
    f = faithfulness(model, X, R, target=target, steps=steps, step_size=0.01, background="zeros", device=device)
    out["aopc_num"] = f.curve[:, :1].repeat(steps, 1).mean(1) - f.curve[:, 1:].mean(1)
    out["aopc_den"] = np.abs(f.curve[:, 0])
    return out


def _stat(v, name, idx):
    """Statistic of one method on (resampled) rows ``idx`` (B, N) or (N,)."""
    if name == "recall":
        return v["recall_hit"][idx].sum(-1) / np.maximum(v["recall_n"][idx].sum(-1), 1)
    if name == "flipped":
        return v["flip_n"][idx].sum(-1) / np.maximum(v["recall_n"][idx].sum(-1), 1)
    if name == "aopc":
        return v["aopc_num"][idx].sum(-1) / v["aopc_den"][idx].sum(-1)
    x = v[name][idx]
    return np.nanmean(x, axis=-1)


METRICS = ["gini", "zeros", "rma", "auprc", "auprc_core", "recall", "flipped", "aopc"]


def summarise(values, n, seed=0):
    """Means with 95 % paired bootstrap intervals; the resampled statistics for paired contrasts."""
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n, size=(N_BOOT, n))
    full = np.arange(n)
    res, reps = {}, {}
    for key, v in values.items():
        res[key], reps[key] = {}, {}
        for m in METRICS:
            b = _stat(v, m, boot)
            reps[key][m] = b
            res[key][m] = (float(_stat(v, m, full)), float(np.nanpercentile(b, 2.5)), float(np.nanpercentile(b, 97.5)))
    return res, reps


def paired(reps, a, b, m):
    """Mean difference a - b and its 95 % paired bootstrap interval."""
    d = reps[a][m] - reps[b][m]
    return float(np.nanmean(d)), float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5))


# ----------------------------------------------------------------------------- one model

def run_model(label, model, X, inst, args, device, log):
    n, _, length = X.shape
    whole, core = masks(inst, n, length)
    peer = None
    values, seconds = {}, {}
    for key in args.methods:
        name, fn, family = METHODS[key]
        m = model
        if family == "peer":
            if not C._has("tangermeme"):
                log(f"# {label}: {key} skipped (tangermeme not installed)")
                continue
            peer = peer or C.peer_compatible(model, length)
            m = peer
        t0 = time.perf_counter()
        R = fn(m, X, 0, args.batch_size, device).float()
        seconds[key] = time.perf_counter() - t0
        values[key] = per_sequence(model, X, R, inst, whole, core, 0, args.steps, device)
        log(f"# {label}: {key} done in {seconds[key]:.1f} s")
    res, reps = summarise(values, n)
    return dict(label=label, n=n, length=length, mask_share=float(whole.mean()), core_share=float(core.mean()),
                instances=len(inst), results=res, seconds=seconds), reps


def fmt_ci(t, digits=3):
    m, lo, hi = t
    if not np.isfinite(m):
        return "n/a"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def print_table(row):
    head = ["method", "Gini", "zeros", "RMA", "AUPRC", "AUPRC core", "inst. recall", "neg. inst.", "AOPC", "s"]
    print(f"\n### {row['label']}\n")
    print(f"{row['n']} true positives of {row['length']} bp; causal instances {row['instances']}; "
          f"motif positions {row['mask_share']:.3f}, core columns {row['core_share']:.3f} of all positions\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for key, r in row["results"].items():
        cells = [METHODS[key][0]] + [fmt_ci(r[m], 2 if m in ("recall", "flipped") else 3) for m in METRICS]
        cells.append(f"{row['seconds'][key]:.1f}")
        print("| " + " | ".join(cells) + " |")


def checks(row, reps):
    """The issue's targets on one model; each with the figures it rests on."""
    R = row["results"]
    out = []
    if "plrp" not in R:
        return out
    p = R["plrp"]
    if "dls" in R:
        d = paired(reps, "plrp", "dls", "gini")
        out.append(("Gini above DeepLIFT-SHAP", d[0] > 0, f"{p['gini'][0]:.3f} vs {R['dls']['gini'][0]:.3f}, "
                    f"diff {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"))
    dense = [k for k in R if METHODS[k][2] in ("floor", "peer", "lrp", "plrp")]
    for m in ("auprc", "auprc_core"):
        best = max(dense, key=lambda k: R[k][m][0])
        d = paired(reps, "plrp", best, m) if best != "plrp" else (0.0, 0.0, 0.0)
        out.append((f"{m} within 0.005 of the best ({METHODS[best][0]})", d[0] >= -0.005,
                    f"{p[m][0]:.3f} vs {R[best][m][0]:.3f}, diff {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"))
    if "lrp" in R:
        d = paired(reps, "plrp", "lrp", "rma")
        out.append(("RMA not below LRP's", d[0] >= 0, f"{p['rma'][0]:.3f} vs {R['lrp']['rma'][0]:.3f}, "
                    f"diff {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"))
    out.append(("instance recall >= 0.99", p["recall"][0] >= 0.99, fmt_ci(p["recall"])))
    if "lrp" in R:
        for k in [k for k in R if METHODS[k][2] == "user"] + ["plrp"]:
            ok_a = R[k]["auprc"][0] >= 0.9 * R["lrp"]["auprc"][0]
            ok_r = R[k]["recall"][0] >= 0.95
            out.append((f"no collapse: {METHODS[k][0]}", ok_a and ok_r,
                        f"AUPRC {R[k]['auprc'][0]:.3f} (0.9 x LRP {0.9 * R['lrp']['auprc'][0]:.3f}), "
                        f"recall {R[k]['recall'][0]:.3f}"))
    return out


# ----------------------------------------------------------------------------- main

def true_positives(model, X, y, device, n_eval, predicted=True):
    """Indices of the first ``n_eval`` positives the model calls positive (``predicted=False``:
    every positive, for --quick, whose one-epoch models call few)."""
    with torch.no_grad():
        prob = torch.sigmoid(torch.cat([model(X[i:i + 256].to(device))[:, 0].cpu() for i in range(0, len(X), 256)]))
    keep = (y > 0.5) & ((prob > 0.5) | (not predicted))
    return torch.nonzero(keep)[:, 0][:n_eval]


def summary(paths):
    """One line per model from saved runs (``--json``): sl.plrp against the best of the others."""
    import json

    head = ["model", "Gini plrp / DLS", "AUPRC plrp / best", "core plrp / best", "RMA plrp / LRP",
            "recall plrp", "neg. inst. plrp / LRP", "AOPC plrp / LRP", "checks passed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for path in paths:
        run = json.loads(Path(path).read_text())
        checks = dict((lbl, cs) for lbl, cs in run["checks"])
        for row in run["rows"]:
            R = row["results"]
            if "plrp" not in R:
                continue
            dense = [k for k in R if k in ("gxi", "dls", "lrp", "lrp_eg", "plrp")]

            def best(m):
                k = max(dense, key=lambda k: R[k][m][0])
                return f"{R['plrp'][m][0]:.3f} / {R[k][m][0]:.3f} ({'plrp' if k == 'plrp' else k})"

            cs = checks.get(row["label"], [])
            dls = f"{R['dls']['gini'][0]:.3f}" if "dls" in R else "n/a"
            lines.append("| " + " | ".join([
                row["label"].split(" (")[0], f"{R['plrp']['gini'][0]:.3f} / {dls}", best("auprc"), best("auprc_core"),
                f"{R['plrp']['rma'][0]:.3f} / {R['lrp']['rma'][0]:.3f}", f"{R['plrp']['recall'][0]:.2f}",
                f"{R['plrp']['flipped'][0]:.2f} / {R['lrp']['flipped'][0]:.2f}",
                f"{R['plrp']['aopc'][0]:.2f} / {R['lrp']['aopc'][0]:.2f}",
                f"{sum(ok for _, ok, _ in cs)} of {len(cs)}"]) + " |")
    print("\n".join(lines))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--summary"]:
        return summary(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["small_cnn", "two_conv", "deepsea", "basset", "bpnet"],
                    choices=sorted(C.PLANTED_ARCHS))
    ap.add_argument("--lengths", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--no-ctcf", action="store_true", help="skip the CTCF peaks")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--n-sim", type=int, default=8000, help="planted sequences per set (70 %% train)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--n-eval", type=int, default=100, help="true positives explained per model")
    ap.add_argument("--steps", type=int, default=20, help="AOPC deletion steps (1 %% of L each)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1, help="seed of the planted sets")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache", default=str(C.DEFAULT_CACHE))
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="tiny settings (smoke test; figures meaningless)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_sim, args.epochs, args.n_eval, args.steps = 400, 1, 6, 3
    device = C.resolve_device(args.device)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started = time.time()
    print("## validation suite: sl.plrp against LRP, gradient x input and DeepLIFT-SHAP\n")
    print(f"machine: {C.machine_description(device)}")
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("cells: mean [95 % paired bootstrap interval]; AOPC as a ratio of means")
    rows, all_checks = [], []
    for length in args.lengths:
        sim = C.planted_set(n=args.n_sim, length=length, seed=args.seed)
        _, _, test = C.split(len(sim.X))
        test_idx = torch.arange(len(sim.X))[test]
        for arch in args.archs:
            model, _, meta = C.planted_model(sim, epochs=args.epochs, arch=arch,
                                             cache=None if args.quick else args.cache, log=log)
            model.to(device)
            sub = test_idx[true_positives(model, sim.X[test_idx], sim.y[test_idx, 0], device, args.n_eval,
                                          predicted=not args.quick)]
            if len(sub) < 2:
                log(f"# {arch} {length} bp: fewer than 2 true positives; skipped")
                continue
            label = f"{arch}, {length} bp (validation AUROC {meta.get('val_auroc', 'n/a')})"
            row, reps = run_model(label, model, sim.X[sub], planted_truth(sim, sub), args, device, log)
            row["model"] = meta
            print_table(row)
            rows.append(row)
            all_checks.append((label, checks(row, reps)))
    if not args.no_ctcf:
        model, _, meta = C.ctcf_model(cache=args.cache, log=log)
        model.to(device)
        X = Q.ctcf_peaks(60 if args.quick else None)
        sub = true_positives(model, X, torch.ones(len(X)), device, args.n_eval)
        inst = ctcf_truth(X[sub])
        label = "CTCF peaks (GM12878, 200 bp), shipped SmallCNN; reference: FIMO MA0139 p < 1e-4"
        row, reps = run_model(label, model, X[sub], inst, args, device, log)
        print_table(row)
        rows.append(row)
        all_checks.append((label, checks(row, reps)))

    print("\n## checks (issue 15)\n")
    n_pass = n_all = 0
    for label, cs in all_checks:
        print(f"\n{label}\n")
        for name, ok, detail in cs:
            print(f"- {'PASS' if ok else 'MISS'}  {name}: {detail}")
            n_pass += bool(ok)
            n_all += 1
    print(f"\n{n_pass} of {n_all} checks pass; total wall time {time.time() - started:.0f} s")
    C.write_json(args.json, dict(machine=C.machine_description(device), args=vars(args), rows=rows,
                                 checks=[(lbl, [(n, bool(o), d) for n, o, d in cs]) for lbl, cs in all_checks]))


if __name__ == "__main__":
    main()
