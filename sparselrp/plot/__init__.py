"""Plots: sequence logos (attribution, motif, LRP vs pruned LRP), per-layer sparsity,
and the self-contained HTML report.

Everything here draws on plain :class:`matplotlib.figure.Figure` objects (Agg
canvas, no pyplot state).
"""

from .logos import (
    attribution_matrix,
    crop_window,
    draw_logo,
    figure_to_data_uri,
    information_matrix,
    logo_glyphs,
    plot_attribution_logo,
    plot_lrp_comparison,
    plot_motif,
    plot_motif_logo,
    position_relevance,
    save_figure,
    write_attribution_logos,
)
from .layers import plot_layer_sparsity
from .report import render_report, write_report

__all__ = [
    "attribution_matrix",
    "crop_window",
    "draw_logo",
    "figure_to_data_uri",
    "information_matrix",
    "logo_glyphs",
    "plot_attribution_logo",
    "plot_lrp_comparison",
    "plot_motif",
    "plot_motif_logo",
    "position_relevance",
    "save_figure",
    "write_attribution_logos",
    "plot_layer_sparsity",
    "render_report",
    "write_report",
]
