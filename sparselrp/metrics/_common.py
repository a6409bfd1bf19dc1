"""Shared helpers of the metrics: input conversion and the result type."""

from dataclasses import dataclass, field

import numpy as np


def to_numpy(x, name="array"):
    """Return ``x`` (torch tensor, numpy array or nested sequence) as a numpy array.

    Torch tensors are detached and moved to the CPU; no copy is made for numpy input.
    """
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach()
            if x.dtype in (torch.bfloat16, torch.float16):
                x = x.float()
            return x.cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        return np.asarray(x)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"{name}: cannot convert {type(x).__name__} to an array") from exc


def position_relevance(R):
    """Per-position relevance r_l = sum of the channel rows, as float64.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions of shape (N, 4, L) (any channel count is summed), or an
        already reduced per-position map of shape (N, L).

    Returns
    -------
    numpy.ndarray
        Shape (N, L), float64.
    """
    r = to_numpy(R, "R")
    if r.dtype == bool or not np.issubdtype(r.dtype, np.number):
        raise TypeError(f"R: expected a numeric array, got dtype {r.dtype}")
    if r.ndim == 3:
        return r.astype(np.float64, copy=False).sum(axis=1)
    if r.ndim == 2:
        return r.astype(np.float64, copy=True)
    raise ValueError(f"R: expected attributions of shape (N, 4, L) or per-position relevance (N, L), got shape {r.shape}")


def as_mask(mask, shape):
    """Validate a ground-truth mask and broadcast it to ``shape`` = (N, L).

    Parameters
    ----------
    mask : array-like of bool or 0/1
        Shape (N, L), or (L,) to use the same mask for every sample.
    shape : tuple of int
        (N, L) of the relevance it is compared against.

    Returns
    -------
    numpy.ndarray
        Boolean array of shape (N, L).
    """
    m = to_numpy(mask, "mask")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.isin(m, (0, 1)).all():
            raise ValueError("mask: expected booleans or 0/1 values")
        m = m.astype(bool)
    if m.shape == (shape[1],):
        m = np.broadcast_to(m, shape)
    if m.shape != tuple(shape):
        raise ValueError(f"mask: expected shape (N, L) = {tuple(shape)} or (L,) = ({shape[1]},), got {m.shape}")
    return m


@dataclass(frozen=True)
class MetricResult:
    """A per-sample metric with its summary.

    Attributes
    ----------
    name : str
        The metric.
    values : numpy.ndarray
        Shape (N,), float64; NaN where the metric is undefined for a sample
        (e.g. an all-zero map for the Gini index, a mask without positives for AUROC).
    mean : float
        Mean over the samples where the metric is defined (NaN if none is).
    n_undefined : int
        Number of samples left out of the mean.
    n_all_zero : int
        Number of samples whose per-position relevance is all zero.
    """

    name: str
    values: np.ndarray = field(repr=False)
    mean: float
    n_undefined: int
    n_all_zero: int

    def __float__(self):
        return float(self.mean)

    def __len__(self):
        return len(self.values)


def make_result(name, values, r):
    """Build a :class:`MetricResult` from per-sample ``values`` (N,) and relevance ``r`` (N, L)."""
    values = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(values)
    mean = float(values[defined].mean()) if defined.any() else float("nan")
    n_all_zero = int((~(r != 0).any(axis=1)).sum())
    return MetricResult(name, values, mean, int((~defined).sum()), n_all_zero)
