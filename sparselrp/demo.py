"""The demo: CTCF ChIP-seq peaks -> small CNN -> pruned LRP -> tfmodisco-lite -> JASPAR -> report.

``sparselrp demo`` (the README's main command) runs :func:`run_demo` on the
shipped real data: the 500 strongest CTCF peaks in GM12878 (200 bp, hg19). It
trains the small CNN against dinucleotide shuffles (or reuses the model a
previous run left in the output folder), explains the peaks with
:func:`sparselrp.plrp` (the recommended pruned LRP) as hypothetical scores,
discovers motifs in them with tfmodisco-lite (:func:`sparselrp.motifs.discover`),
matches them to JASPAR, checks the maps for artifacts and writes ``report.html``
beside every intermediate file, the tfmodisco-lite HDF5 that Fi-NeMo reads included.
"""

import json
import time
from pathlib import Path

import numpy as np
import torch

from ._atomic import atomic_open

#: Settings of the demo's explanation: :func:`sparselrp.plrp`'s defaults (its composite and pruning).
DEMO_SETTINGS = {"explainer": "sl.plrp", "target": 0}


def _modisco_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modisco-lite")
    except PackageNotFoundError:  # pragma: no cover - a core dependency
        return "?"


def _log(msg, verbose):
    if verbose:
        print(f"[sparselrp demo] {msg}", flush=True)


def run_demo(outdir="sparselrp_demo", seed=0, verbose=True, progress=False, retrain=False, top=10):
    """Run the whole demo and return the report's absolute path.

    Parameters
    ----------
    outdir : str or Path
        Output folder (created if missing). Holds ``model/``, ``ohe.npz`` (one-hot,
        ``arr_0``), ``hyp.npz`` (PLRP hypothetical scores, ``arr_0``: with ``ohe.npz``
        the pair ``modisco motifs -s -a`` reads), ``attr.npz`` (PLRP contributions),
        ``attr_lrp.npz`` (the same composite unpruned), ``regions.narrowPeak`` (one
        row per sequence), ``seqlets.tsv``/``.bed`` (tfmodisco-lite's seqlets),
        ``modisco_results.h5`` (tfmodisco-lite's HDF5, for Fi-NeMo),
        ``motifs.meme``/``.json``, ``trust.json``, ``summary.json`` and
        ``report.html``.
    seed : int
        Seed of training, shuffles and diagnostics.
    verbose : bool
        Print one line per step.
    progress : bool
        Progress bars for the long steps.
    retrain : bool
        Train a new model even if ``outdir/model`` holds one.
    top : int
        Sequences shown with their logos in the report.

    Returns
    -------
    pathlib.Path
        Absolute path of ``report.html``.
    """
    import sparselrp as sl
    from .data import ctcf_peaks_fasta
    from .genome import coords_from_names, read_fasta
    from .io.attributions import save_attributions
    from .io.meme import write_meme
    from .io.modisco import write_modisco_h5
    from .io.motifs_json import write_motifs_json
    from .io.onehot import save_onehot
    from .io.regions import write_regions
    from .io.seqlets import write_seqlets_bed, write_seqlets_tsv
    from .lrp.plrp import RECOMMENDED_COMPOSITE, recommended_pruning
    from .metrics import conservation_error, gini, zero_share
    from .motifs import discover, match_jaspar
    from .plot.report import motif_examples, write_report

    t0 = time.perf_counter()
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    # 1. model: reuse the one a previous run trained, else train it (about a minute on 2 cores)
    model_dir = out / "model"
    if retrain or not (model_dir / "config.json").exists():
        _log("training the small CNN on 500 CTCF peaks vs dinucleotide shuffles", verbose)
        sl.models.train_ctcf_model(model_dir, seed=seed, progress=progress)
    model = sl.models.load(model_dir, device="cpu").eval()
    train_metrics = {}
    if (model_dir / "metrics.json").exists():
        train_metrics = json.loads((model_dir / "metrics.json").read_text())
    test_auroc = train_metrics.get("test_auroc")
    _log(f"model ready (held-out AUROC {test_auroc:.3f})" if test_auroc is not None else "model ready", verbose)

    # 2. sequences: the peaks, with their hg19 coordinates from the record names
    fasta = ctcf_peaks_fasta()
    names, seqs = zip(*read_fasta(fasta))
    length = model.seq_len
    X = sl.one_hot_encode_batch(list(seqs), length=length)
    coords = coords_from_names(names, [len(q) for q in seqs], length)
    save_onehot(out / "ohe.npz", X, names=list(names), coords=coords)

    write_regions(out / "regions.narrowPeak", X.shape[0], length, names=list(names), coords=coords)

    # 3. attributions: PLRP hypothetical scores (for tfmodisco-lite), its contributions X * H, the same
    #    composite unpruned (LRP) for the comparison logos, and the explained output f_t(x)
    pruning = recommended_pruning()
    _log(f"explaining {X.shape[0]} peaks with sl.plrp ({RECOMMENDED_COMPOSITE}, {pruning!r})", verbose)
    target = DEMO_SETTINGS["target"]
    H, layers = sl.plrp(model, X, target=target, hypothetical=True, return_layers=True)
    R = H * X  # projected contributions: equal to sl.plrp(model, X) row by row
    R_lrp = sl.plrp(model, X, target=target, pruning=False)
    with torch.no_grad():
        f = model(X)[:, target].double()
    save_attributions(out / "attr.npz", R)
    save_attributions(out / "attr_lrp.npz", R_lrp)
    save_attributions(out / "hyp.npz", H)

    summary = {}
    for label, A in (("PLRP", R), ("LRP", R_lrp)):
        summary[f"{label}: Gini of per-position relevance"] = gini(A).mean
        summary[f"{label}: share of zero positions"] = zero_share(A).mean
        summary[f"{label}: conservation error |sum R - f| / |f|"] = float(np.nanmean(conservation_error(A, f).values))
    summary["mean explained output f(x)"] = float(f.mean())
    layer_sparsity = {
        name: {"pruned LRP: zero share": float((rel == 0).double().mean())} for name, rel in layers.items()
    }

    # 4. motifs: tfmodisco-lite on the hypothetical scores, matched to JASPAR
    _log("discovering motifs with tfmodisco-lite", verbose)
    t_motifs = time.perf_counter()
    motifs, details = discover(X, H, coords=coords, names=list(names), return_details=True)
    seqlets = details["seqlets"]
    n_seq = details["n_seqlets"]
    _log(f"{n_seq['positive']} positive and {n_seq['negative']} negative seqlets -> {len(motifs)} patterns "
         f"in {time.perf_counter() - t_motifs:.0f} s", verbose)
    write_seqlets_tsv(out / "seqlets.tsv", seqlets)
    write_seqlets_bed(out / "seqlets.bed", seqlets)
    match_jaspar(motifs)
    write_meme(out / "motifs.meme", motifs)
    write_motifs_json(out / "motifs.json", motifs, metadata={"engine": "tfmodisco-lite",
                                                             "n_seqlets": n_seq, "options": details["options"]})
    write_modisco_h5(out / "modisco_results.h5", motifs, X, H)
    if motifs and motifs[0].matches:
        best = motifs[0].matches[0]
        _log(f"top pattern ({motifs[0].support} seqlets, {motifs[0].information_content().sum():.1f} bits) best "
             f"JASPAR match: {best['target_id']} {best['target_name']} (q = {best['q']:.2g})", verbose)

    # 5. can the maps be trusted? (bias absorption, borders, N columns, randomisation, strand)
    trust = None
    try:
        from .diagnose import diagnose
    except ImportError:  # pragma: no cover - diagnostics are optional for the demo
        diagnose = None
    if diagnose is not None:
        _log("checking the maps for artifacts", verbose)
        diag = diagnose(model, X[:64], target=target, composite=RECOMMENDED_COMPOSITE, pruning=pruning, seed=seed)
        trust = diag.to_report(figures=True)
        diag.to_json(out / "trust.json")

    # 6. the report: top peaks by model output, LRP above PLRP
    order = torch.argsort(f, descending=True)[:top].tolist()
    sequences = [
        {"name": names[i], "X": X[i], "R": R[i], "R_dense": R_lrp[i], "score": float(f[i])} for i in order
    ]
    params = {
        "data": f"{fasta.name} ({X.shape[0]} CTCF ChIP-seq peaks, GM12878, hg19, {length} bp)",
        "model": f"{type(model).__name__} trained by sparselrp (held-out AUROC "
                 f"{test_auroc:.3f})" if test_auroc is not None else type(model).__name__,
        "explainer": "sl.plrp (hypothetical scores for tfmodisco-lite)",
        "composite": RECOMMENDED_COMPOSITE,
        "pruning": repr(pruning),
        "motif engine": f"tfmodisco-lite {_modisco_version()} (seqlet null: {details['null']} windows)",
        "target": target,
        "seed": seed,
        "sparselrp": sl.__version__,
        "torch": torch.__version__,
    }
    report = write_report(
        out / "report.html", params=params, summary=summary, layer_sparsity=layer_sparsity, sequences=sequences,
        motifs=motifs, seqlets=seqlets, trust=trust, title="sparselrp demo: CTCF peaks in GM12878",
        motif_examples={m.name: motif_examples(m, X, R, names=list(names)) for m in motifs},
    )
    summary_out = {"params": params, "summary": summary, "n_seqlets": n_seq,
                   "motifs": [{"name": m.name, "sign": m.sign, "support": m.support, "width": m.width,
                               "bits": float(m.information_content().sum()),
                               "best_match": m.matches[0] if m.matches else None} for m in motifs],
                   "trust_flags": None if trust is None else trust.get("flags"),
                   "seconds": time.perf_counter() - t0}
    with atomic_open(out / "summary.json", "w") as fh:
        json.dump(summary_out, fh, indent=2, default=float)
    _log(f"done in {time.perf_counter() - t0:.0f} s", verbose)
    return Path(report).resolve()
