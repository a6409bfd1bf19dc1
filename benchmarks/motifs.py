"""From attributions to motifs on planted data: sparselrp's path beside tfmodisco-lite on DeepLIFT-SHAP
and on gradient x input (issue 16 item 6).

Data and models: the planted set of the PLRP and validation benchmarks (``_common.planted_set``:
CTCF MA0139 AND SPI1 MA0080 make label 1, GATA1 MA0035 is a decoy planted at the same rate in
both classes), one model per ``--archs`` trained on 70 % of it (cached, ``_common.planted_model``).
Explained: the held-out true positives (label 1, predicted probability > 0.5), at most ``--n-eval``.

Paths (each: attribution, then motifs, each step timed):

- ``sparselrp``: ``sl.plrp(model, X, hypothetical=True)`` -> ``sl.motifs.discover`` (tfmodisco-lite);
- ``sparselrp, null=nonzero``: the same maps with the seqlet null from non-zero windows;
- ``DeepLIFT-SHAP + modisco``: tangermeme ``deep_lift_shap(hypothetical=True)`` (20 dinucleotide
  shuffles) -> ``modiscolite.tfmodisco.TFMoDISco`` with ``modisco motifs``' settings (the peer);
- ``grad x input + modisco``: the input gradient, centred over the four bases per position (the usual
  hypothetical scores of gradient x input) -> ``TFMoDISco``;
- ``sparselrp 0.1 (greedy)``: best-practice LRP with MassPrune(0.5) -> ``find_seqlets`` ->
  ``discover_motifs`` (the greedy clusterer 0.1 shipped), unless ``--no-greedy``.

Scoring: every pattern is compared with JASPAR (memelite TOMTOM, the newest shipped release,
vertebrates). A causal motif is *recovered* when one of the top ``--top`` patterns (by seqlet
support) is a positive pattern (its bases raise the output, as a causal motif's must) with the
motif's JASPAR source (same base id) among its matches at q < 0.01; *bits* is the information
content of that pattern's PWM over its trimmed columns. A causal motif found only as a negative
pattern is shown as such and does not count. The decoy is *reported* when any pattern, of either
sign, matches GATA1's source at q < 0.01.

    python benchmarks/motifs.py [--archs small_cnn two_conv] [--n-eval 600] [--quick]

Ends with the issue's checks per model: sparselrp recovers every causal motif and no decoy, with
bits >= 90 % of DeepLIFT-SHAP + modisco's, and attribution plus motifs faster than that peer.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

sl = C.sl
from sparselrp.motifs import discover, discover_motifs, find_seqlets, match_jaspar  # noqa: E402
from sparselrp.motifs.modisco import DEFAULTS, _to_motif  # noqa: E402

CAUSAL = {"MA0139": "CTCF", "MA0080": "SPI1"}
DECOY = {"MA0035": "GATA1"}


# ----------------------------------------------------------------------------- attribution

def attr_plrp(model, X, batch_size):
    return sl.plrp(model, X, target=0, hypothetical=True, batch_size=batch_size).numpy()


def attr_dls(model, X, batch_size):
    from tangermeme.deep_lift_shap import deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        H = deep_lift_shap(model, X, target=0, batch_size=batch_size, n_shuffles=20, hypothetical=True,
                           random_state=0, warning_threshold=1e9, verbose=False)
    return H.detach().float().numpy()


def attr_gradient(model, X, batch_size):
    out = []
    for i in range(0, len(X), batch_size):
        x = X[i:i + batch_size].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
        out.append((g - g.mean(1, keepdim=True)).detach())
    return torch.cat(out).numpy()


def attr_lrp01(model, X, batch_size):
    return sl.lrp(model, X, target=0, pruning=sl.MassPrune(0.5), batch_size=batch_size).numpy()


# ----------------------------------------------------------------------------- motifs

def motifs_sparselrp(X, H, null="all"):
    return discover(X, H, null=null)


def motifs_modisco(X, H):
    """tfmodisco-lite's own run (TFMoDISco) with the settings of its command line."""
    from modiscolite import tfmodisco

    d = DEFAULTS
    pos, neg = tfmodisco.TFMoDISco(
        one_hot=np.ascontiguousarray(X.transpose(0, 2, 1)), hypothetical_contribs=np.ascontiguousarray(
            H.transpose(0, 2, 1)), max_seqlets_per_metacluster=d["max_seqlets"], sliding_window_size=d["window"],
        flank_size=d["flank"], trim_to_window_size=d["trim_size"], initial_flank_to_add=d["initial_flank"],
        final_flank_to_add=d["final_flank"], target_seqlet_fdr=d["fdr"], n_leiden_runs=d["n_leiden"])
    out = []
    for sign, patterns in (("positive", pos), ("negative", neg)):
        for i, p in enumerate(sorted(patterns or [], key=lambda p: -len(p.seqlets))):
            out.append(_to_motif(p, sign, i, d["trim_threshold"]))
    return sorted(out, key=lambda m: -m.support)


def motifs_greedy(X, R):
    return discover_motifs(find_seqlets(R, X), X, R)


PATHS = {
    "sparselrp": ("sparselrp (sl.plrp -> discover)", attr_plrp, motifs_sparselrp),
    "sparselrp_nonzero": ("sparselrp, null=nonzero", attr_plrp,
                          lambda X, H: motifs_sparselrp(X, H, null="nonzero")),
    "dls": ("DeepLIFT-SHAP + modisco", attr_dls, motifs_modisco),
    "gxi": ("grad x input + modisco", attr_gradient, motifs_modisco),
    "greedy": ("sparselrp 0.1 (greedy)", attr_lrp01, motifs_greedy),
}


# ----------------------------------------------------------------------------- scoring

def score(motifs, top):
    """Per planted motif: recovered (a positive pattern among the top ones for a causal motif, any
    pattern for the decoy), bits of that pattern, its rank, and whether it was seen only as a
    negative pattern."""
    if motifs:
        match_jaspar(motifs, top=50)
    out = {}
    for mid, name in {**CAUSAL, **DECOY}.items():
        hits = [(rank, m) for rank, m in enumerate(motifs)
                if any(x["target_id"].split(".")[0] == mid and x["q"] < 0.01 for x in m.matches)]
        causal = mid in CAUSAL
        good = [(r, m) for r, m in hits if not causal or (m.sign == "positive" and r < top)]
        if good:
            rank, m = good[0]
            out[name] = dict(found=True, rank=rank + 1, bits=float(m.information_content().sum()),
                             support=m.support, sign=m.sign)
        else:
            out[name] = dict(found=False, rank=hits[0][0] + 1 if hits else None, bits=0.0,
                             negative_only=bool(hits) and all(m.sign == "negative" for _, m in hits))
    return out


def run_model(label, model, X, paths, args, log):
    rows = []
    Xn = X.numpy()
    for key in paths:
        title, attr, find = PATHS[key]
        log(f"# {label}: {title}")
        t0 = time.perf_counter()
        H = attr(model, X, args.batch_size)
        t1 = time.perf_counter()
        try:
            motifs = find(Xn, H)
            err = None
        except ValueError as exc:  # too few seqlets
            motifs, err = [], str(exc).splitlines()[0]
        t2 = time.perf_counter()
        s = score(motifs, args.top)
        rows.append(dict(key=key, path=title, attr_s=t1 - t0, motif_s=t2 - t1, total_s=t2 - t0,
                         n_patterns=len(motifs), top=[(m.name, m.support, round(float(m.information_content().sum()), 1),
                                                       m.matches[0]["target_name"] if m.matches else "-")
                                                      for m in motifs[:args.top]],
                         error=err, **{name: v for name, v in s.items()}))
    return rows


def print_rows(label, rows, top):
    print(f"\n### {label}\n")
    headers = ["path", "attribution s", "motifs s", "total s", "patterns"]
    headers += [f"{n} (bits, rank)" for n in CAUSAL.values()] + [f"decoy {n}" for n in DECOY.values()]
    table = []
    for r in rows:
        cells = [r["path"], f"{r['attr_s']:.1f}", f"{r['motif_s']:.1f}", f"{r['total_s']:.1f}", str(r["n_patterns"])]
        for n in CAUSAL.values():
            v = r[n]
            cells.append(f"{v['bits']:.1f} (#{v['rank']})" if v["found"] else
                         f"negative only (#{v['rank']})" if v.get("negative_only") else "missed")
        for n in DECOY.values():
            cells.append("reported" if r[n]["found"] else "no")
        table.append(cells)
    print(C.table(headers, table))
    print(f"\nTop {top} patterns per path (name, seqlets, bits, best JASPAR match):\n")
    for r in rows:
        print(f"- {r['path']}: " + ("; ".join(f"{n} {s} {b} {t}" for n, s, b, t in r["top"]) or r["error"] or "none"))


def checks(rows):
    by = {r["key"]: r for r in rows}
    sp, peer = by.get("sparselrp"), by.get("dls")
    out = []
    if sp is None:
        return out
    rec = all(sp[n]["found"] for n in CAUSAL.values())
    out.append(("every causal motif recovered (as a positive pattern)", rec,
                ", ".join(f"{n} " + ("#" + str(sp[n]["rank"]) if sp[n]["found"] else
                                     "negative only" if sp[n].get("negative_only") else "missed")
                          for n in CAUSAL.values())))
    out.append(("no decoy reported", not any(sp[n]["found"] for n in DECOY.values()),
                ", ".join(f"{n} {'reported' if sp[n]['found'] else 'not reported'}" for n in DECOY.values())))
    if peer is not None:
        ratios = [sp[n]["bits"] / peer[n]["bits"] if peer[n]["found"] and peer[n]["bits"] > 0 else float("nan")
                  for n in CAUSAL.values()]
        ok = all(np.isfinite(x) and x >= 0.9 for x in ratios)
        out.append(("bits >= 90 % of DeepLIFT-SHAP + modisco's", ok,
                    ", ".join(f"{n} {sp[n]['bits']:.1f} vs {peer[n]['bits']:.1f}" for n in CAUSAL.values())))
        out.append(("attribution + motifs faster than DeepLIFT-SHAP + modisco", sp["total_s"] < peer["total_s"],
                    f"{sp['total_s']:.1f} s vs {peer['total_s']:.1f} s"))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["small_cnn", "two_conv"], choices=sorted(C.PLANTED_ARCHS))
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--n-sim", type=int, default=8000, help="planted sequences (70 %% train)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--n-eval", type=int, default=600, help="true positives explained per model")
    ap.add_argument("--top", type=int, default=5, help="a causal motif counts when among this many top patterns")
    ap.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    ap.add_argument("--no-greedy", action="store_true", help="leave out the 0.1 greedy path")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1, help="seed of the planted set")
    ap.add_argument("--cache", default=str(C.DEFAULT_CACHE))
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="tiny settings (smoke test; figures meaningless)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_sim, args.epochs, args.n_eval = 600, 1, 40
    paths = [p for p in args.paths if not (args.no_greedy and p == "greedy")]
    if not C._has("tangermeme"):
        paths = [p for p in paths if p != "dls"]
        print("tangermeme is not installed: the DeepLIFT-SHAP path is left out")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    torch.set_grad_enabled(True)
    started = time.time()
    print("## motifs: sparselrp's path beside tfmodisco-lite on DeepLIFT-SHAP and on gradient x input\n")
    print(f"machine: {C.machine_description('cpu')}")
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:] if argv is None else argv)}")
    from importlib.metadata import version

    from sparselrp.lrp.plrp import RECOMMENDED_COMPOSITE, recommended_pruning

    print(f"sl.plrp: composite {RECOMMENDED_COMPOSITE}, pruning {recommended_pruning()!r}; "
          f"tfmodisco-lite {version('modisco-lite')}")
    sim = C.planted_set(n=args.n_sim, length=args.length, seed=args.seed)
    _, _, test = C.split(len(sim.X))
    idx = torch.arange(len(sim.X))[test]
    results, all_checks = [], []
    for arch in args.archs:
        model, _, meta = C.planted_model(sim, epochs=args.epochs, arch=arch, cache=None if args.quick else args.cache,
                                         log=log)
        with torch.no_grad():
            prob = torch.sigmoid(model(sim.X[idx])[:, 0])
        sub = idx[(sim.y[idx, 0] > 0.5) & (prob > 0.5)][:args.n_eval]
        what = "true positives"
        if len(sub) < 2:  # an untrained model (--quick): explain the positives
            sub, what = idx[sim.y[idx, 0] > 0.5][:args.n_eval], "positives (too few true positives)"
        label = (f"{arch}, {args.length} bp, {len(sub)} {what} "
                 f"(validation AUROC {meta.get('val_auroc', 'n/a')})")
        rows = run_model(label, model, sim.X[sub], paths, args, log)
        print_rows(label, rows, args.top)
        cs = checks(rows)
        all_checks.append((label, cs))
        results.append(dict(model=label, rows=rows, checks=[list(c) for c in cs]))
    print("\n## checks (issue 16)\n")
    for label, cs in all_checks:
        print(f"\n{label}\n")
        for name, ok, detail in cs:
            print(f"- {'PASS' if ok else 'MISS'}  {name}: {detail}")
    print(f"\ntotal wall time {time.time() - started:.0f} s")
    C.write_json(args.json, dict(machine=C.machine_description("cpu"), args=vars(args), results=results))


if __name__ == "__main__":
    main()
