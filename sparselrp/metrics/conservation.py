"""Conservation: does the input relevance add up to the explained output?"""

import numpy as np

from ._common import make_result, position_relevance, to_numpy


def conservation_error(R, f):
    """Relative conservation error |sum R - f| / |f| per sample.

    LRP with conserving rules and no bias terms gives sum R = f_t(x) exactly;
    biases, stabilisers and pruning without redistribution open a gap, which
    this measures.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) (or (N, L) per-position relevance).
    f : float, torch.Tensor or numpy.ndarray
        The explained outputs f_t(x), shape (N,) (or a scalar, or (N, 1)).

    Returns
    -------
    MetricResult
        ``values`` (N,) >= 0; NaN where f = 0 (the relative error is undefined).
    """
    r = position_relevance(R)
    fv = to_numpy(f, "f").astype(np.float64)
    if fv.ndim == 2 and fv.shape[1] == 1:
        fv = fv[:, 0]
    fv = np.broadcast_to(fv, (r.shape[0],)) if fv.ndim == 0 else fv
    if fv.shape != (r.shape[0],):
        raise ValueError(f"f: expected one output per sample, shape ({r.shape[0]},), got {fv.shape}")
    total = r.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(fv != 0, np.abs(total - fv) / np.abs(fv), np.nan)
    return make_result("conservation_error", err, r)
