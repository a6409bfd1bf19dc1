"""Bias absorption and the conservation gap at every layer.

LRP starts from the explained output f_t(x) and hands it down layer by layer. Rules
that put the bias in the denominator (epsilon, LRP-0, gamma, z+, alpha-beta, w-square)
let each bias term keep its share; what the bias keeps never reaches the input. The
check reads the engine's bookkeeping (:func:`sparselrp.lrp.conservation`):

* conservation gap at layer l, per sample: ``(f - S_l) / |f|`` with ``S_l`` the sum of
  the relevance of layer l's input (the input layer's entry is the gap of the map);
* bias share, per sample: ``absorbed / |f|`` where ``absorbed`` is the relevance kept by
  bias terms and stabilisers summed over layers (pruning losses are reported apart);
* the summary is the mass-weighted share ``sum_n |absorbed_n| / sum_n |f_n|``, which
  samples with f near zero cannot blow up.
"""

import numpy as np

from ._common import make_check, nanmedian, to_np


def bias_figures(cons):
    """Per-sample conservation figures from the engine's bookkeeping.

    Parameters
    ----------
    cons : dict
        Output of :func:`sparselrp.lrp.conservation` (``output``, ``input_sum``,
        ``absorbed``, ``pruned``, ``per_layer_sum``, ``per_layer_absorbed``; (N,) each).

    Returns
    -------
    dict
        ``output`` (N,), ``input_sum`` (N,), ``gap`` (N,) relative gap of the map,
        ``bias_share`` (N,), ``pruned_share`` (N,), ``layer_gap`` {layer: (N,)},
        ``layer_absorbed_share`` {layer: (N,)}, ``aggregate_bias_share`` float.
    """
    f = to_np(cons["output"])
    af = np.abs(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(af > 0, 1.0 / af, np.nan)
    absorbed = to_np(cons["absorbed"])
    pruned = to_np(cons.get("pruned", np.zeros_like(f)))
    out = {
        "output": f,
        "input_sum": to_np(cons["input_sum"]),
        "gap": (f - to_np(cons["input_sum"])) * inv,
        "bias_share": absorbed * inv,
        "pruned_share": pruned * inv,
        "layer_gap": {k: (f - to_np(v)) * inv for k, v in cons.get("per_layer_sum", {}).items()},
        "layer_absorbed_share": {k: to_np(v) * inv for k, v in cons.get("per_layer_absorbed", {}).items()},
    }
    tot = af.sum()
    out["aggregate_bias_share"] = float(np.abs(absorbed).sum() / tot) if tot > 0 else float("nan")
    return out


def bias_check(fig, thresholds):
    """The "bias" check from :func:`bias_figures` output."""
    v = fig["aggregate_bias_share"]
    details = {
        "median_gap": nanmedian(fig["gap"]),
        "median_bias_share": nanmedian(fig["bias_share"]),
        "median_pruned_share": nanmedian(fig["pruned_share"]),
        "layer_gap": {k: nanmedian(x) for k, x in fig["layer_gap"].items()},
        "layer_absorbed_share": {k: nanmedian(x) for k, x in fig["layer_absorbed_share"].items()},
    }
    pct = "n/a" if not np.isfinite(v) else f"{100 * v:.0f} %"
    return make_check(
        "bias", "share absorbed", "bias_share", v, thresholds,
        ok_text=f"Bias terms absorb {pct} of the explained output; the map accounts for most of the "
                f"prediction.",
        bad_text=f"Bias terms absorb {pct} of the explained output: the map explains only part of the "
                 f"prediction and its letter heights understate what drives it (see the per-layer "
                 f"conservation gap).",
        na_text="Every explained output is zero; the share is undefined.",
        details=details)
