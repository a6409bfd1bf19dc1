"""Per-layer sparsity plot: how much of each layer's relevance is zero (or its Gini index)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_layer_sparsity"]


def _is_number(v):
    try:
        return np.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def plot_layer_sparsity(layer_sparsity, ylabel="share of zero relevance", title=None, figsize=None):
    """Bar chart of a sparsity measure per layer, in the order given.

    Parameters
    ----------
    layer_sparsity : dict
        Layer name -> a number (e.g. share of zeros, in [0, 1]), or layer name ->
        dict of measure name -> number (e.g. ``{"zeros": 0.9, "gini": 0.95}``),
        which draws grouped bars, one colour per measure. Entries that are not
        numbers are left out.
    ylabel : str
        y-axis label (used when values are plain numbers).
    title : str, optional
        Axes title.
    figsize : (float, float), optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if not layer_sparsity:
        raise ValueError("layer_sparsity is empty")
    layers = [str(k) for k in layer_sparsity]
    values = list(layer_sparsity.values())
    if all(isinstance(v, dict) for v in values):
        measures = []
        for v in values:
            measures += [m for m in v if m not in measures and _is_number(v[m])]
        table = np.array([[float(v[m]) if _is_number(v.get(m)) else np.nan for m in measures] for v in values])
    else:
        measures = [ylabel]
        table = np.array([[float(v) if _is_number(v) else np.nan] for v in values])
    n, k = table.shape
    fig = Figure(figsize=figsize or (max(3.5, 0.55 * n * max(1, k) ** 0.5 + 1.2), 2.4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(n)
    width = 0.8 / max(k, 1)
    palette = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#c53030"]
    for j, m in enumerate(measures):
        col = table[:, j]
        ok = np.isfinite(col)
        ax.bar(x[ok] + (j - (k - 1) / 2) * width, col[ok], width=width, color=palette[j % len(palette)],
               label=m)
    ax.set_xticks(x)
    ax.set_xticklabels(layers, rotation=30 if max(map(len, layers)) > 6 else 0, ha="right" if
                       max(map(len, layers)) > 6 else "center", fontsize=7)
    finite = table[np.isfinite(table)]
    if finite.size and finite.min() >= 0 and finite.max() <= 1:
        ax.set_ylim(0, 1.0)
    ax.set_ylabel(ylabel if k == 1 else "value", fontsize=8)
    ax.tick_params(labelsize=7, length=2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if k > 1:
        ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return fig
