"""Localisation of attributions against a ground-truth mask (e.g. planted motifs).

All functions compare the per-position relevance r_l (sum of the four rows) of
each sample with a boolean mask of shape (N, L), and return a
:class:`~sparselrp.metrics.MetricResult` with per-sample values of shape (N,).
"""

import numpy as np

from ._common import as_mask, make_result, position_relevance


def relevance_mass_accuracy(R, mask):
    """Relevance mass accuracy (RMA): share of the positive relevance inside the mask.

    RMA = sum_{l in mask} max(r_l, 0) / sum_l max(r_l, 0)   (Arras et al. 2022).

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) or per-position relevance (N, L).
    mask : array-like of bool
        Ground truth, shape (N, L) or (L,).

    Returns
    -------
    MetricResult
        ``values`` (N,) in [0, 1]; NaN (undefined) for samples without positive relevance.
    """
    r = position_relevance(R)
    m = as_mask(mask, r.shape)
    pos = np.maximum(r, 0.0)
    total = pos.sum(axis=1)
    inside = (pos * m).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rma = np.where(total > 0, inside / total, np.nan)
    return make_result("rma", rma, r)


def attribution_localisation(R, mask):
    """Attribution localisation weighted by mask size (Kohlbrenner et al. 2020, mu_w).

    mu_w = RMA * L / |mask| = (R_in / R_tot) / (S_in / S_tot), with R_in and R_tot
    the positive relevance inside the mask and in total, S_in = |mask| the number
    of masked positions and S_tot = L. A map that spreads its positive relevance
    evenly scores 1 (chance level); a map with all of it inside the mask scores
    L / |mask|, so that small ground-truth regions are not easy to hit by chance.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) or per-position relevance (N, L).
    mask : array-like of bool
        Ground truth, shape (N, L) or (L,).

    Returns
    -------
    MetricResult
        ``values`` (N,) in [0, L / |mask|]; NaN for samples without positive
        relevance or with an empty mask.
    """
    r = position_relevance(R)
    m = as_mask(mask, r.shape)
    rma = relevance_mass_accuracy(r, m).values
    size = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_w = np.where(size > 0, rma * r.shape[1] / size, np.nan)
    return make_result("attribution_localisation", mu_w, r)


def _tie_groups(sorted_scores):
    """Tie groups of a row-sorted (N, L) array.

    Returns
    -------
    gid : numpy.ndarray
        (N * L,) group id of each flattened entry; groups never span rows and ids
        increase along the flattened array.
    start, end : numpy.ndarray
        (n_groups,) flattened index of the first and last entry of each group.
    """
    n, length = sorted_scores.shape
    new = np.ones((n, length), dtype=bool)
    new[:, 1:] = sorted_scores[:, 1:] != sorted_scores[:, :-1]
    new = new.ravel()
    gid = np.cumsum(new) - 1
    start = np.flatnonzero(new)
    end = np.append(start[1:], new.size) - 1
    return gid, start, end


def average_ranks(scores):
    """1-based ranks of each row of ``scores`` with ties given their average rank.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape (N, L).

    Returns
    -------
    numpy.ndarray
        Shape (N, L), float64 (like ``scipy.stats.rankdata(method="average", axis=1)``).
    """
    scores = np.asarray(scores)
    n, length = scores.shape
    order = np.argsort(scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, axis=1)
    gid, start, end = _tie_groups(s)
    within = np.arange(n * length) % max(length, 1)  # 0-based position in the row
    avg = (within[start] + within[end]) / 2.0 + 1.0
    ranks = np.empty((n, length), dtype=np.float64)
    np.put_along_axis(ranks, order, avg[gid].reshape(n, length), axis=1)
    return ranks


def auroc(R, mask):
    """Area under the ROC curve of |r| as a score for the masked positions, per sample.

    Equals the probability that a random masked position has a larger |r| than a
    random unmasked one, ties counting 1/2 (Mann-Whitney U / (n_pos * n_neg), with
    average ranks for ties).

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) or per-position relevance (N, L).
    mask : array-like of bool
        Ground truth, shape (N, L) or (L,).

    Returns
    -------
    MetricResult
        ``values`` (N,) in [0, 1]; NaN where the mask is empty or covers every position.
    """
    r = position_relevance(R)
    m = as_mask(mask, r.shape)
    ranks = average_ranks(np.abs(r))
    n_pos = m.sum(axis=1).astype(np.float64)
    n_neg = r.shape[1] - n_pos
    u = (ranks * m).sum(axis=1) - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)
    return make_result("auroc", auc, r)


def auprc(R, mask):
    """Area under the precision-recall curve of |r| against the mask, per sample.

    Computed as average precision with step interpolation (as
    ``sklearn.metrics.average_precision_score``): AP = sum_t (recall_t -
    recall_{t-1}) * precision_t over the distinct score thresholds t in
    decreasing order, tied scores entering together.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) or per-position relevance (N, L).
    mask : array-like of bool
        Ground truth, shape (N, L) or (L,).

    Returns
    -------
    MetricResult
        ``values`` (N,) in [0, 1]; NaN where the mask is empty. A random map
        scores about |mask| / L.
    """
    r = position_relevance(R)
    m = as_mask(mask, r.shape)
    n, length = r.shape
    scores = np.abs(r)
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(-scores, order, axis=1)  # ascending in -|r|
    lab = np.take_along_axis(m, order, axis=1).astype(np.float64)
    tp = np.cumsum(lab, axis=1).ravel()
    gid, start, end = _tie_groups(s)
    within = np.arange(n * length) % max(length, 1)
    precision_at_end = tp[end] / (within[end] + 1.0)
    n_pos = m.sum(axis=1).astype(np.float64)
    contrib = (lab.ravel() * precision_at_end[gid]).reshape(n, length).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(n_pos > 0, contrib / n_pos, np.nan)
    return make_result("auprc", ap, r)
