"""Border effects: does relevance pile up at the sequence ends?

'same' convolutions pad the sequence with zeros; a model can learn to react to the
padding (or a rule can push relevance toward it), and the map then lights up the ends.
The border is one receptive-field half-width ``h`` at each end, the reach of the
convolutional trunk (the part of the model that keeps the length axis).

Receptive field (computed from the captured graph, no probe needed): walking the graph
in forward order, each node carries the width ``rf`` of input it sees and the ``jump``
between neighbouring units (input positions per unit)::

    input                     rf = 1, jump = 1
    Conv1d (k, dilation d, s) rf += (k - 1) d jump;  jump *= s
    MaxPool1d / AvgPool1d(k, s)  rf += (k - 1) jump; jump *= s
    element-wise, sums, BatchNorm, reshapes, cropping: the max over their inputs
    Linear on a length axis, adaptive/global pooling, max/mean over the length,
    Flatten followed by Linear: global (the trunk ends there)

The receptive field is the largest ``rf`` reached before the trunk ends; ``h = rf // 2``,
at least 1 and at most ``L // 4`` (so the border never covers more than half the
sequence; BPNet-like models with a receptive field longer than the input get that cap).
The figure is ``border share / (2 h / L)``: 1 for a uniform map.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import make_check, nanmean, per_position


def _ints(v):
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def receptive_field(graph):
    """Receptive field of the convolutional trunk of a captured graph.

    Parameters
    ----------
    graph : sparselrp.lrp.graph.CapturedGraph
        E.g. ``sparselrp.LRP(model).graph``.

    Returns
    -------
    int
        Width (in input positions) seen by one unit of the deepest layer that still
        has a length axis; 1 for a model without convolutions or pooling.
    """
    nodes = graph.nodes
    rf = {}
    jump = {}
    best = 1
    for g in nodes:
        if g.kind == "input":
            rf[g.index], jump[g.index] = 1, 1
            continue
        ins = [j for j in g.inputs if j in rf]
        if not ins:
            continue
        r_in = max(rf[j] for j in ins)
        j_in = max(jump[j] for j in ins)
        r, jp, is_global = r_in, j_in, False
        if g.kind == "layer":
            if g.layer.kind == "conv":
                k = g.layer.weight.shape[-1]
                r = r_in + (k - 1) * g.layer.dilation * j_in
                jp = j_in * g.layer.stride
            elif g.layer.kind == "linear":
                is_global = True
        elif g.kind in ("maxpool", "norm"):
            m = g.module
            k = s = None
            if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
                k, s = _ints(m.kernel_size), _ints(m.stride if m.stride is not None else m.kernel_size)
            elif isinstance(m, (nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d)):
                is_global = True
            elif g.op == "call_function" and g.target in (F.max_pool1d, F.avg_pool1d):
                args = list(g.args) + [None] * 3
                k = _ints(g.kwargs.get("kernel_size", args[1]))
                st = g.kwargs.get("stride", args[2])
                s = k if st is None else _ints(st)
            elif g.op == "call_function" and g.target in (F.adaptive_max_pool1d, F.adaptive_avg_pool1d):
                is_global = True
            elif g.target in (torch.sum, "sum", torch.mean, "mean"):
                is_global = True   # sums / means over an axis: global pooling
            if k is not None:
                r = r_in + (k - 1) * j_in
                jp = j_in * s
        elif g.kind == "maxdim":
            is_global = True
        if is_global:
            continue
        rf[g.index], jump[g.index] = r, jp
        best = max(best, r)
    return int(best)


def border_width(rf, length):
    """Half-width ``h`` of the border for a receptive field ``rf`` and length ``L``."""
    return int(max(1, min(rf // 2, length // 4)))


def border_figures(R, h):
    """Per-sample border share.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` relevance.
    h : int
        Border half-width.

    Returns
    -------
    dict
        ``share`` (N,): share of ``|r|`` within ``h`` positions of either end (NaN for an
        all-zero map); ``uniform`` float: ``2h / L``; ``ratio`` (N,): ``share / uniform``.
    """
    a = np.abs(per_position(R))
    n, length = a.shape
    edge = np.zeros(length, dtype=bool)
    edge[:h] = True
    edge[length - h:] = True
    tot = a.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, a[:, edge].sum(axis=1) / tot, np.nan)
    uniform = edge.sum() / length
    return {"share": share, "uniform": float(uniform), "ratio": share / uniform}


def border_check(fig, h, rf, thresholds):
    """The "border" check: mean border share over the uniform share."""
    share = nanmean(fig["share"])
    v = share / fig["uniform"] if np.isfinite(share) else float("nan")
    details = {"receptive_field": rf, "half_width": h, "mean_share": share, "uniform_share": fig["uniform"]}
    txt = f"{100 * share:.1f} % of |relevance| lies within {h} bp of the ends, where a uniform map puts " \
          f"{100 * fig['uniform']:.1f} %" if np.isfinite(share) else ""
    return make_check(
        "border", "share / uniform", "border_ratio", v, thresholds,
        ok_text=f"{txt}: no pile-up at the sequence ends.",
        bad_text=f"{txt}: relevance piles up at the sequence ends, where zero padding meets the "
                 f"convolutions; peaks near the edges may be padding artifacts.",
        na_text="All maps are zero; the border share is undefined.",
        details=details)
