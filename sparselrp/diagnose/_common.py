"""Shared pieces of the diagnostics: the check record and vectorised statistics."""

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import rankdata

from .thresholds import THRESHOLDS, trips


@dataclass
class Check:
    """One flagged-or-not figure of a diagnostic.

    Attributes
    ----------
    family : str
        The flag it feeds: "bias", "border", "n-columns", "randomisation" or "strand".
    name : str
        Display name, ``"family: figure"``.
    key : str
        Key of :data:`~sparselrp.diagnose.thresholds.THRESHOLDS`.
    value : float or None
        The summarised figure (None / NaN when not applicable).
    threshold : float
    passed : bool or None
        None when the check does not apply (its reason is in ``verdict``).
    verdict : str
        Plain-language reading of the result.
    details : dict
        Extra JSON-able figures (per layer, per composite, ...).
    counts : bool
        Whether a failure raises the family's flag (False for figures reported for
        context only, e.g. the randomisation check under extra composites).
    """

    family: str
    name: str
    key: str
    value: object
    threshold: float
    passed: object
    verdict: str
    details: dict = field(default_factory=dict)
    counts: bool = True

    @property
    def direction(self):
        return THRESHOLDS[self.key]["direction"]

    def to_dict(self):
        return {"name": self.name, "family": self.family, "key": self.key, "value": _num(self.value),
                "threshold": float(self.threshold), "direction": self.direction, "passed": self.passed,
                "verdict": self.verdict, "counts_for_flag": self.counts,
                "details": jsonable(self.details)}


def make_check(family, figure, key, value, thresholds, ok_text, bad_text, na_text=None, details=None):
    """Build a :class:`Check`, comparing ``value`` with ``thresholds[key]``."""
    thr = thresholds[key]
    passed = trips(key, value, thr)
    passed = None if passed is None else not passed
    if passed is None:
        verdict = na_text or "Not applicable."
    else:
        verdict = ok_text if passed else bad_text
    return Check(family, f"{family}: {figure}", key, None if value is None else float(value), thr, passed,
                 verdict, details or {})


def _num(v):
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return None if not np.isfinite(v) else v


def jsonable(obj):
    """Convert numpy / torch values in a nested structure to plain Python (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


def to_np(x):
    """A tensor or array as float64 numpy."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        x = x.numpy()
    return np.asarray(x, dtype=np.float64)


def per_position(R):
    """Per-position relevance ``r`` (N, L): the sum of the four rows of ``R`` (N, 4, L)."""
    return to_np(R).sum(axis=1)


def rowwise_spearman(a, b):
    """Spearman rank correlation of each row of ``a`` with the same row of ``b``.

    Parameters
    ----------
    a, b : numpy.ndarray
        ``(N, L)``.

    Returns
    -------
    numpy.ndarray
        ``(N,)``; ties get average ranks; NaN where a row is constant.
    """
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    return rowwise_pearson(ra, rb)


def rowwise_pearson(a, b):
    """Pearson correlation of each row of ``a`` with the same row of ``b`` ((N, L) -> (N,))."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a * b).sum(axis=1) / den
    return np.where(den > 0, out, np.nan)


def nanmedian(x):
    """Median ignoring NaN; NaN for an empty or all-NaN input (no warning)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def nanmean(x):
    """Mean ignoring NaN; NaN for an empty or all-NaN input (no warning)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if x.size else float("nan")


def gini_rows(r):
    """Gini index of |r| per row ((N, L) -> (N,)); NaN for an all-zero row."""
    from ..metrics import gini

    return np.asarray(gini(r).values, dtype=np.float64)
