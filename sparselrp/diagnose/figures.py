"""Figures of a :class:`~sparselrp.diagnose.Diagnosis` for the report's trust section.

Plain :class:`matplotlib.figure.Figure` objects (Agg canvas, no pyplot state).
"""

import numpy as np


def _figure(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig


def plot_randomisation(diagnosis):
    """Cascading randomisation: median similarity of the maps after each stage.

    One line per composite; stage 0 is the model itself (similarity 1), then one stage
    per explained layer re-initialised, output layer first. The dashed line is the
    threshold of the last stage.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the randomisation check was not run.
    """
    rows = [c for c in diagnosis.checks if c.key == "randomisation_similarity" and c.details.get("stages")]
    if not rows:
        return None
    fig = _figure(5.0, 3.0)
    ax = fig.add_subplot(1, 1, 1)
    stages = None
    for c in rows:
        sims = [1.0] + [np.nan if v is None else v for v in c.details["stage_similarity"]]
        ax.plot(range(len(sims)), sims, marker="o", label=c.details.get("composite", c.name))
        stages = c.details["stages"]
    ax.axhline(rows[0].threshold, color="grey", ls="--", lw=1, label="threshold (last stage)")
    ax.set_xticks(range(len(stages) + 1))
    ax.set_xticklabels(["model"] + list(stages), rotation=30, ha="right", fontsize=7)
    ax.set_xlabel("+ layer re-initialised (cumulative)", fontsize=8)
    ax.set_ylabel("rank correlation of |r|")
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), 1.05)
    ax.set_title("Cascading randomisation (output layer first)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


_PANELS = [
    ("bias_share", "bias share", "bias_share"),
    ("border_share", "border share / uniform", "border_ratio"),
    ("rc_agreement", "RC agreement", "strand_agreement"),
    ("flank_retention", "flank retention", "flank_retention"),
]


def plot_per_sample(diagnosis):
    """Histograms of the per-sample figures, each with its threshold (dashed).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when none of the figures is available.
    """
    panels = [(k, t, key) for k, t, key in _PANELS if k in diagnosis.per_sample]
    if not panels:
        return None
    fig = _figure(2.2 * len(panels), 2.2)
    thr = diagnosis.info.get("thresholds", {})
    for i, (k, title, key) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        v = np.asarray(diagnosis.per_sample[k], dtype=np.float64)
        if k == "border_share":
            uni = 2 * diagnosis.info.get("border_half_width", 1) / max(diagnosis.info.get("length", 1), 1)
            v = v / uni
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=20, color="#4c72b0")
        if key in thr:
            ax.axvline(thr[key], color="#c44e52", ls="--", lw=1)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
