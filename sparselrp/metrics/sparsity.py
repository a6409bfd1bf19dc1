"""Sparsity of attributions: Gini index and share of exact zeros."""

import numpy as np

from ._common import make_result, position_relevance, to_numpy


def gini(R, normalized=False):
    """Gini index of the absolute per-position relevance, per sample.

    With c = |r| sorted ascending (c_1 <= ... <= c_L, r_l the sum of the four rows
    at position l), the index is the one of Hurley and Rickard (2009)::

        G = 1 - 2 * sum_k (c_k / ||c||_1) * (L - k + 1/2) / L

    which equals the mean absolute difference sum_ij |c_i - c_j| / (2 L ||c||_1).
    A uniform map gives 0; a map with a single non-zero position gives 1 - 1/L
    (so 0.999 for L = 1000). With ``normalized=True`` the index is multiplied by
    L / (L - 1), so that a single non-zero position gives exactly 1.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L), or per-position relevance (N, L).
    normalized : bool
        Rescale to [0, 1] exactly (see above).

    Returns
    -------
    MetricResult
        ``values`` of shape (N,); all-zero maps have NaN, are left out of ``mean``
        and are counted in ``n_all_zero`` (and ``n_undefined``).
    """
    r = position_relevance(R)
    n, length = r.shape
    c = np.sort(np.abs(r), axis=1)
    total = c.sum(axis=1)
    weights = (length - np.arange(1, length + 1) + 0.5) / max(length, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = 1.0 - 2.0 * (c @ weights) / total
    g = np.where(total > 0, g, np.nan)
    if normalized and length > 1:
        g = g * length / (length - 1)
    # rounding can push a uniform map a hair below 0
    g = np.where(np.isnan(g), g, np.clip(g, 0.0, 1.0))
    return make_result("gini", g, r)


def zero_share(R, level="position"):
    """Share of exact zeros, per sample.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) (or (N, L) per-position relevance with ``level="position"``).
    level : {"position", "element"}
        ``"position"``: share of positions whose relevance r_l (sum of the four rows)
        is exactly 0. ``"element"``: share of the 4 * L entries that are exactly 0
        (with one-hot input and rules that multiply by the input at least 3/4 of the
        entries are zero whatever the model, so "position" is the informative one).

    Returns
    -------
    MetricResult
        ``values`` of shape (N,) in [0, 1] (NaN only when L = 0).
    """
    r = position_relevance(R)
    if level == "position":
        z = r == 0
    elif level == "element":
        a = to_numpy(R, "R")
        if a.ndim != 3:
            raise ValueError(f"zero_share(level='element') needs attributions (N, 4, L), got shape {a.shape}")
        z = (a == 0).reshape(a.shape[0], -1)
    else:
        raise ValueError(f"level must be 'position' or 'element', got {level!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        share = z.sum(axis=1) / z.shape[1] if z.shape[1] else np.full(z.shape[0], np.nan)
    return make_result("zero_share", share, r)
