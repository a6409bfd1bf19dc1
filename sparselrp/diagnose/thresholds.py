"""The thresholds at which each diagnostic is flagged, with the reasoning behind each.

Every figure of :func:`sparselrp.diagnose` is compared with one entry of
:data:`THRESHOLDS`. ``direction`` says which side trips the check: ``"above"``
flags a value greater than the threshold, ``"below"`` a value smaller than it.
Pass ``thresholds={"key": value}`` to :func:`~sparselrp.diagnose.diagnose` (or
``--threshold key=value`` on the command line) to change one. docs/trust.md
explains how to read each figure.

=======================  =========  =========  ===========================================
key                      default    direction  figure
=======================  =========  =========  ===========================================
bias_share               0.5        above      share of |f_t(x)| absorbed by bias terms
border_ratio             2.0        above      border share of |relevance| / uniform share
n_column_share           0.05       above      share of |relevance| on N / padded columns
randomisation_similarity 0.5        above      rank correlation with the randomised maps
randomisation_sparsity   0.05       below      Gini(model maps) - Gini(random-model maps)
strand_agreement         0.5        below      correlation of |r| with the RC map flipped back
strand_output            0.8        below      (gate) correlation of f(x) and f(rc(x))
flank_retention          0.5        below      relevance kept in the top seqlets after a
                                               dinucleotide shuffle of their flanks
=======================  =========  =========  ===========================================
"""

#: key -> dict(value, direction, doc). See the module docstring and docs/trust.md.
THRESHOLDS = {
    "bias_share": {
        "value": 0.5,
        "direction": "above",
        "doc": (
            "Aggregate share of the explained output absorbed by bias terms (and stabilisers) on the "
            "way down, sum_n |absorbed_n| / sum_n |f_t(x_n)|. Above one half, most of the prediction "
            "is not in the map at all: the letters explain the smaller part of the decision."
        ),
    },
    "border_ratio": {
        "value": 2.0,
        "direction": "above",
        "doc": (
            "Share of the absolute per-position relevance within one receptive-field half-width of "
            "either sequence end, divided by the share a uniform map puts there (2h / L). A map "
            "without border effect gives about 1 (less for unpadded convolutions, which see the "
            "edges through fewer windows); twice the uniform share means relevance piles up where "
            "zero padding meets the convolutions."
        ),
    },
    "n_column_share": {
        "value": 0.05,
        "direction": "above",
        "doc": (
            "Share of the absolute relevance on N columns (all-zero one-hot columns) and padded "
            "positions. Rules that multiply by the input give them exactly zero; zB, flat and "
            "w-square give them relevance by design. Above 5 % a visible part of the map sits on "
            "bases that are not there."
        ),
    },
    "randomisation_similarity": {
        "value": 0.5,
        "direction": "above",
        "doc": (
            "Median (over samples) Spearman rank correlation of |r| between the model's maps and the "
            "maps of the model with every explained layer re-initialised (the end of the cascade). "
            "Adebayo et al. (2018) expect it near zero; above 0.5 the map survives the loss of "
            "everything the model learnt and so reflects the architecture and the input, not the "
            "data."
        ),
    },
    "randomisation_sparsity": {
        "value": 0.05,
        "direction": "below",
        "doc": (
            "Mean Gini index of the model's (unpruned) maps minus that of the maps of fully "
            "re-initialised copies. A trained model concentrates relevance on what it learnt; if a "
            "random network of the same architecture gives maps as sparse (less than 0.05 apart), "
            "the sparsity comes from the architecture (max pooling, ReLU) and a sparse map proves "
            "nothing. A model with random weights sits at about 0."
        ),
    },
    "strand_agreement": {
        "value": 0.5,
        "direction": "below",
        "doc": (
            "Median Pearson correlation of |r| between the map of x and the map of the "
            "reverse complement of x flipped back. A model trained with reverse-complement "
            "augmentation should explain both strands alike; below 0.5 the two maps disagree "
            "about which positions matter. Checked only where the model itself is strand-"
            "consistent (see strand_output)."
        ),
    },
    "strand_output": {
        "value": 0.8,
        "direction": "below",
        "doc": (
            "Gate of the strand check: Pearson correlation of f_t(x) and f_t(rc(x)) over the "
            "samples. Below 0.8 the model does not predict both strands alike (it was not trained "
            "with reverse-complement augmentation), so its maps need not agree and the strand "
            "agreement is reported but not flagged."
        ),
    },
    "flank_retention": {
        "value": 0.5,
        "direction": "below",
        "doc": (
            "Median over samples with a seqlet of (share of |relevance| inside the top seqlets "
            "after a dinucleotide shuffle of everything outside them) / (that share before). A "
            "map that explains the seqlets keeps about 1; below 0.5 more than half of the seqlets' "
            "relevance moves away when only their context changes."
        ),
    },
}


def resolve(overrides=None):
    """Threshold values with ``overrides`` applied.

    Parameters
    ----------
    overrides : dict, optional
        ``{key: float}`` for keys of :data:`THRESHOLDS`.

    Returns
    -------
    dict
        ``{key: float}``.

    Raises
    ------
    ValueError
        An unknown key or a value that is not a finite number.
    """
    import math

    values = {k: float(v["value"]) for k, v in THRESHOLDS.items()}
    for k, v in (overrides or {}).items():
        if k not in THRESHOLDS:
            raise ValueError(f"unknown threshold {k!r}; known: {', '.join(THRESHOLDS)}")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"threshold {k!r} must be a number, got {v!r}") from None
        if not math.isfinite(v):
            raise ValueError(f"threshold {k!r} must be finite, got {v!r}")
        values[k] = v
    return values


def trips(key, value, threshold):
    """Whether ``value`` trips the check ``key`` at ``threshold`` (None if value is NaN/None)."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if THRESHOLDS[key]["direction"] == "above":
        return bool(value > threshold)
    return bool(value < threshold)
