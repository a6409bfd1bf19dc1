"""``diagnose``: run the "fact or artifact" checks and collect them in a :class:`Diagnosis`."""

import json

import numpy as np
import torch

from ._common import jsonable
from .thresholds import resolve

#: The check families, in report order; ``Diagnosis.flags`` lists the tripped ones.
CHECKS = ("bias", "border", "n-columns", "randomisation", "strand")


class Diagnosis:
    """Result of :func:`diagnose`.

    Attributes
    ----------
    checks : list of Check
        Every figure with its threshold, pass/fail (None: not applicable) and verdict.
    per_sample : dict
        ``{figure: numpy.ndarray (N,)}`` for the N diagnosed samples.
    info : dict
        Run parameters: composite, pruning, target, sample indices, receptive field,
        first-layer rules, layer names, randomisation stages.
    flags : list of str
        The families (of :data:`CHECKS`) with at least one failed check that counts.
    """

    def __init__(self, checks, per_sample, info):
        self.checks = list(checks)
        self.per_sample = dict(per_sample)
        self.info = dict(info)

    @property
    def flags(self):
        bad = {c.family for c in self.checks if c.passed is False and c.counts}
        return [f for f in CHECKS if f in bad]

    def __repr__(self):
        return f"Diagnosis(flags={self.flags}, checks={len(self.checks)}, n={self.info.get('n_samples')})"

    def check(self, name):
        """The :class:`Check` whose name or key is ``name``."""
        for c in self.checks:
            if c.name == name or c.key == name:
                return c
        raise KeyError(f"no check {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    def to_dict(self):
        """Everything as plain JSON-able Python (NaN becomes None).

        Returns
        -------
        dict
            ``flags``, ``checks`` (list of dicts: name, family, key, value, threshold,
            direction, passed, verdict, counts_for_flag, details), ``info``,
            ``per_sample`` ({figure: list of N floats}).
        """
        return {"flags": self.flags, "checks": [c.to_dict() for c in self.checks],
                "info": jsonable(self.info), "per_sample": jsonable(self.per_sample)}

    def to_report(self, figures=False):
        """The trust section of the HTML report (:func:`sparselrp.plot.write_report`).

        Parameters
        ----------
        figures : bool
            Also include ``figures``: ``{title: "data:image/png;base64,..."}`` (the
            cascading-randomisation curve and per-sample histograms; JSON-able).

        Returns
        -------
        dict
            ``{"flags": [...], "checks": [{"name", "value", "threshold", "passed",
            "verdict"}, ...], "composite", "samples"}`` (and ``"figures"``).
        """
        checks = [{k: d[k] for k in ("name", "value", "threshold", "passed", "verdict")}
                  for d in (c.to_dict() for c in self.checks)]
        out = {"flags": self.flags, "checks": checks, "composite": self.info.get("composite"),
               "samples": self.info.get("n_samples")}
        if figures:
            from ..plot.logos import figure_to_data_uri
            from .figures import plot_per_sample, plot_randomisation

            figs = {}
            for title, fn in (("Cascading randomisation", plot_randomisation),
                              ("Per-sample figures", plot_per_sample)):
                fig = fn(self)
                if fig is not None:
                    figs[title] = figure_to_data_uri(fig)
            out["figures"] = figs
        return out

    def to_json(self, path):
        """Write :meth:`to_dict` to ``path`` atomically (no half-written file)."""
        from .._atomic import atomic_open

        with atomic_open(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1, allow_nan=False)
            fh.write("\n")

    def summary_table(self):
        """A plain-text table: check, value, threshold, result; then the flags."""
        rows = [("check", "value", "threshold", "result")]
        for c in self.checks:
            v = "n/a" if c.value is None or not np.isfinite(c.value) else f"{c.value:.3f}"
            op = ">" if c.direction == "above" else "<"
            res = {True: "passed", False: "FLAGGED" if c.counts else "flagged*", None: "n/a"}[c.passed]
            rows.append((c.name, v, f"flag if {op} {c.threshold:g}", res))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(s.ljust(w[i]) if i == 0 else s.rjust(w[i]) if i < 3 else s for i, s in enumerate(r))
                 for r in rows]
        lines.insert(1, "  ".join("-" * x for x in w))
        lines.append("")
        lines.append("flags: " + (", ".join(self.flags) if self.flags else "none"))
        if any(c.passed is False and not c.counts for c in self.checks):
            lines.append("(* reported for context under an extra composite; does not raise a flag)")
        return "\n".join(lines)


def _check_X(X):
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(np.ascontiguousarray(X))
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a one-hot tensor (N, 4, L), got {type(X).__name__}")
    if X.ndim != 3 or X.shape[1] != 4:
        raise ValueError(f"X must be one-hot of shape (N, 4, L), got shape {tuple(X.shape)}")
    if X.shape[0] == 0 or X.shape[2] == 0:
        raise ValueError(f"X is empty (shape {tuple(X.shape)})")
    if not X.is_floating_point():
        X = X.float()
    if not bool(torch.isfinite(X).all()):
        raise ValueError("X contains NaN or Inf values")
    return X


def _composite_name(c):
    if isinstance(c, str):
        return c
    from ..lrp import get_composite

    return getattr(get_composite(c), "name", None) or type(c).__name__


def diagnose(model, X, target=0, composite="best-practice", pruning=None, n_samples=64, seed=0,
             checks=None, randomisation_composites=(), n_random=2, thresholds=None, batch_size=256,
             device=None):
    """Run the "fact or artifact" diagnostics of an LRP explanation.

    The checks (docs/methods.md section 5, after Landt-Hayen et al.), each with a documented
    threshold (:mod:`sparselrp.diagnose.thresholds`; docs/trust.md explains them):

    * ``"bias"``: conservation gap at every layer and the share of the explained
      output absorbed by bias terms (:mod:`~sparselrp.diagnose.bias`);
    * ``"border"``: relevance within one receptive-field half-width of the ends
      against a uniform map's share (:mod:`~sparselrp.diagnose.border`);
    * ``"n-columns"``: relevance on N columns, padded positions and absent bases,
      with the first-layer rule's name (:mod:`~sparselrp.diagnose.ncolumns`);
    * ``"randomisation"``: cascading re-initialisation from the output down, the rank
      correlation of the maps with the model's, and whether the maps are sparser than
      a random network's (:mod:`~sparselrp.diagnose.randomisation`);
    * ``"strand"``: agreement with the reverse-complement map flipped back, and
      relevance kept in the top seqlets when their flanks are dinucleotide-shuffled
      (:mod:`~sparselrp.diagnose.strand`).

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`sparselrp.lrp`; never modified.
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot.
    target : int, sequence of N ints, or callable
        As for :func:`sparselrp.lrp` (a sequence is subsampled with X).
    composite : str or Composite
        The composite of the maps being diagnosed.
    pruning : TopK, MassPrune or None
        The pruning of the maps being diagnosed.
    n_samples : int or None
        Diagnose a seeded random subset of this many samples (all when None or N is
        smaller); keeps the default run cheap.
    seed : int
        Seeds the subset, the re-initialisations and the shuffles.
    checks : iterable of str, optional
        Families to run (default all of :data:`CHECKS`).
    randomisation_composites : iterable of str
        Extra composites to run the randomisation check under, for comparison (their
        rows are reported and do not raise the flag), e.g. ``("epsilon", "epsilon-plus")``.
    n_random : int
        Fully re-initialised copies behind the sparsity figure (>= 1).
    thresholds : dict, optional
        ``{key: value}`` overrides of :data:`~sparselrp.diagnose.thresholds.THRESHOLDS`.
    batch_size : int
        Samples per LRP pass.
    device : str or torch.device, optional
        Compute device (default CUDA when available).

    Returns
    -------
    Diagnosis
        ``.flags``, ``.checks``, ``.per_sample`` (arrays of shape (n,)), ``.to_dict()``,
        ``.to_report()``, ``.summary_table()``.
    """
    from ..lrp import LRP
    from .bias import bias_check, bias_figures
    from .border import border_check, border_figures, border_width, receptive_field
    from .ncolumns import ncolumn_check, ncolumn_figures
    from .randomisation import cascade, randomisation_checks
    from .strand import flank_figures, rc_figures, run_map, strand_checks

    thr = resolve(thresholds)
    todo = CHECKS if checks is None else tuple(checks)
    for c in todo:
        if c not in CHECKS:
            raise ValueError(f"unknown check {c!r}; choose from {', '.join(CHECKS)}")
    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 1:
        raise ValueError(f"n_random must be a positive integer, got {n_random!r}")
    X = _check_X(X)
    N, _, L = X.shape
    idx = np.arange(N)
    if n_samples is not None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer or None, got {n_samples!r}")
        if N > n_samples:
            idx = np.sort(np.random.default_rng(seed).choice(N, int(n_samples), replace=False))
    Xs = X[torch.as_tensor(idx, device=X.device)] if idx.size != N else X
    tgt = target
    if not callable(target) and not isinstance(target, (int, np.integer)):
        t = target.detach().cpu() if isinstance(target, torch.Tensor) else torch.as_tensor(np.asarray(target))
        if t.ndim == 1 and t.shape[0] == N:
            tgt = t[torch.as_tensor(idx)]
    explainer = LRP(model, composite=composite, pruning=pruning, device=device)
    R, f = run_map(explainer, Xs, tgt, batch_size)
    cname = _composite_name(composite)
    first = {g.name: (repr(g.rule), bool(getattr(g.rule, "multiplies_input", True)))
             for g in explainer.graph.layers if g.is_first}
    rf = receptive_field(explainer.graph)
    h = border_width(rf, L)
    info = {"composite": cname, "pruning": None if pruning is None else repr(pruning),
            "target": target if isinstance(target, (int, np.integer)) else "per-sample" if not callable(target)
            else "callable",
            "n_input": int(N), "n_samples": int(len(idx)), "length": int(L), "sample_indices": idx,
            "seed": int(seed), "layers": explainer.layer_names, "receptive_field": rf, "border_half_width": h,
            "first_layer_rules": {k: r for k, (r, _) in first.items()}, "thresholds": thr}
    out_checks, per = [], {"output": f}

    if "bias" in todo:
        cons = explainer.conservation(Xs, target=tgt, batch_size=batch_size)
        bf = bias_figures(cons)
        out_checks.append(bias_check(bf, thr))
        per.update({"conservation_gap": bf["gap"], "bias_share": bf["bias_share"]})
        per.update({f"layer_gap[{k}]": v for k, v in bf["layer_gap"].items()})
    if "border" in todo:
        bo = border_figures(R, h)
        out_checks.append(border_check(bo, h, rf, thr))
        per["border_share"] = bo["share"]
    if "n-columns" in todo:
        nc = ncolumn_figures(Xs, R)
        out_checks.append(ncolumn_check(nc, first, thr))
        per.update({"n_column_share": nc["n_share"], "padded_share": nc["pad_share"],
                    "absent_base_share": nc["absent_share"]})
    if "randomisation" in todo:
        comps, seen = [composite], {cname}
        for c in randomisation_composites or ():
            if _composite_name(c) not in seen:
                seen.add(_composite_name(c))
                comps.append(c)
        info["randomisation"] = {}
        for k, comp in enumerate(comps):
            name = _composite_name(comp)
            R0 = R if k == 0 else LRP(model, composite=comp, pruning=pruning, device=device).attribute(
                Xs, target=tgt, batch_size=batch_size)
            res = cascade(model, Xs, R0, tgt, comp, pruning, seed, batch_size, device, n_random=n_random)
            out_checks.extend(randomisation_checks(res, name, thr, main=k == 0))
            info["randomisation"][name] = {"stages": res["stages"], "not_randomised": res["skipped"]}
            suffix = "" if k == 0 else f"[{name}]"
            per[f"randomisation_similarity{suffix}"] = res["similarity"][:, -1] if res["similarity"].size \
                else np.full(len(idx), np.nan)
    if "strand" in todo:
        rc = rc_figures(explainer, Xs, R, f, tgt, batch_size)
        fl = flank_figures(explainer, Xs, R, tgt, batch_size, seed)
        out_checks.extend(strand_checks(rc, fl, thr))
        per.update({"rc_agreement": rc["agreement"], "output_rc": rc["f_rc"],
                    "flank_retention": fl["retention"]})
    return Diagnosis(out_checks, per, info)
