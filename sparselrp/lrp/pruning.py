"""Pruning strategies for pruned LRP (PLRP), applied inside the relevance pass.

After the relevance ``r`` of a pruned tensor is complete (all its consumers have handed
it their relevance) it is flattened per sample to ``(N, M)``, small entries are set to
zero, and the survivors are redistributed; the pruned relevance is then propagated
further down, so sparsity compounds toward the input. The model is never modified.

Default prune points: the relevance of every convolution and linear layer's input,
except the model input X itself (and tensors that are X up to a reshape/padding).
A tensor feeding several layers (a residual stream) is pruned once.

Selection (vectorised over the batch, no Python loop over samples or positions; ties
are broken deterministically by position):

* :class:`MassPrune` (the paper's PLRP): sort the positive entries ascending and drop
  the longest prefix whose sum is at most ``p`` times the positive total; the same on
  the negative entries (on ``|r|``) with ``p_neg`` (default ``p / 2``); among equal
  values the lower flat index is dropped first. Long rows (more than ``SORT_MAX``
  entries) use a partial sort of the kept entries instead of a full sort.
* :class:`TopK`: keep the ``k`` entries of largest ``|r|`` (``k`` a count clamped to the
  layer size, or a fraction in (0, 1] of the layer's units, rounded up); among equal
  ``|r|`` at the cut the lower flat index is kept.

Redistribution: ``"lambda"`` rescales the positive survivors so the positive total is
what it was before pruning, likewise the negative ones (a sign with no survivor keeps
nothing: no division by zero); ``"matrix"`` (PLRP-M, our reading) redoes the consumer
layers' relevance step with the pruned units masked out of their input, so each upper
unit hands its relevance only to surviving inputs in proportion to their
contributions; upper units with no surviving (non-zero) contribution fall back to
lambda (their normal relevance at the survivors, rescaled to their positive and
negative totals); ``"none"`` drops the pruned mass.
"""

import math

import torch

_REDISTRIBUTE = ("lambda", "matrix", "none")


class Pruning:
    """Base class of pruning strategies.

    Parameters
    ----------
    redistribute : {"lambda", "matrix", "none"}
    layers : None, str, int, type, list of those, or dict {spec: value}
        Which tensors are pruned. ``None``: the inputs of every Conv1d/Linear layer
        except X. A str names an explained layer (its input is pruned) or a graph node
        (module path / fx node name; that node's output is pruned); an int indexes
        :attr:`LRP.layer_names` (negative allowed); a module type selects the inputs of
        all layers of that type. A dict gives a per-layer ``k`` or ``p``.
    """

    def __init__(self, redistribute="lambda", layers=None):
        if redistribute not in _REDISTRIBUTE:
            raise ValueError(f"redistribute must be one of {_REDISTRIBUTE}, got {redistribute!r}")
        self.redistribute = redistribute
        self.layers = layers

    # -- selection ---------------------------------------------------------------
    def is_noop(self, value, size):
        """True when ``value`` keeps every unit of a layer of ``size`` units."""
        raise NotImplementedError

    def keep_mask(self, r, value):
        """Boolean mask ``(N, M)`` of surviving entries of ``r`` ``(N, M)``."""
        raise NotImplementedError

    def check_value(self, value):
        raise NotImplementedError

    def apply(self, R, value, ctx=None):
        """Prune one tensor's relevance.

        Parameters
        ----------
        R : torch.Tensor
            ``(N, ...)`` relevance of the pruned tensor.
        value : float or int
            The layer's ``k`` or ``p``.

        Returns
        -------
        (torch.Tensor, torch.Tensor or None)
            Pruned relevance with ``R``'s shape, and the keep mask (``None`` if nothing was
            pruned).
        """
        shape = R.shape
        r = R.reshape(shape[0], -1)
        if self.is_noop(value, r.shape[1]):
            return R, None
        keep = self.keep_mask(r, value)
        if self.redistribute == "lambda":
            out = lambda_redistribute(r, keep)
        else:
            out = r * keep
        return out.reshape(shape), keep.reshape(shape)


def lambda_redistribute(r, keep, target=None):
    """Rescale surviving entries so positive and negative totals are preserved.

    Parameters
    ----------
    r : torch.Tensor
        ``(N, M)`` relevance before pruning.
    keep : torch.Tensor
        ``(N, M)`` bool mask of survivors.
    target : torch.Tensor, optional
        ``(N, M)`` relevance whose totals are to be matched (default ``r``).

    Returns
    -------
    torch.Tensor
        ``(N, M)``: ``r * keep`` with positive entries scaled by ``P_before / P_after`` and
        negative ones by ``N_before / N_after`` (0 where there is no survivor).
    """
    t = r if target is None else target
    rk = r * keep
    pos_b = t.clamp(min=0).sum(1, keepdim=True)
    neg_b = t.sum(1, keepdim=True) - pos_b
    pos_a = rk.clamp(min=0).sum(1, keepdim=True)
    neg_a = rk.sum(1, keepdim=True) - pos_a
    one = torch.ones_like(pos_a)
    sp = torch.where(pos_a > 0, pos_b / torch.where(pos_a > 0, pos_a, one), 0.0)
    sn = torch.where(neg_a < 0, neg_b / torch.where(neg_a < 0, neg_a, -one), 0.0)
    return rk * torch.where(rk > 0, sp, sn)


#: rows of up to this many entries use a full stable sort; longer rows a partial sort
SORT_MAX = 8192


def _mass_drop_sort(v, p):
    """Full stable sort (see :func:`_mass_drop`)."""
    vals, idx = torch.sort(v, dim=1, stable=True)
    cs = torch.cumsum(vals, dim=1)
    drop_sorted = (cs <= p * cs[:, -1:]) & (vals > 0)
    drop = torch.zeros_like(drop_sorted)
    drop.scatter_(1, idx, drop_sorted)
    return drop


def _mass_drop(v, p):
    """Drop mask for non-negative ``v`` (N, M): the longest prefix of the positive entries in
    ascending order (ties: lower index first) whose cumulative sum is <= p * total.

    Long rows avoid the full sort: the complement (the kept entries) is the smallest set of
    largest entries whose remainder is <= p * total, found with a growing partial sort
    (``topk``); equal values at the cut keep the higher indices. Rows whose kept set would
    exceed a quarter of the row fall back to the full sort.
    """
    n, m = v.shape
    if m <= SORT_MAX:
        return _mass_drop_sort(v, p)
    total = v.sum(1, keepdim=True)
    budget = p * total
    npos = torch.count_nonzero(v, dim=1)
    # initial partial-sort size from a sorted 1-in-16 subsample (kept count, with margin)
    sub = torch.sort(v[:, ::16], dim=1, descending=True).values
    cs = torch.cumsum(sub, 1) * 16
    k_sub = torch.count_nonzero((total - cs) > budget, dim=1) + 1
    K = min(m, max(256, int(k_sub.max()) * 16 * 3 // 2 + 256))
    if K >= m // 4:
        return _mass_drop_sort(v, p)
    while True:
        vals = torch.topk(v, K, dim=1, largest=True, sorted=True).values
        ok = (total - torch.cumsum(vals, 1)) <= budget          # keeping the top j+1 suffices
        found = ok.any(1) | (npos <= K)
        if bool(found.all()):
            break
        if K >= m // 4:
            return _mass_drop_sort(v, p)
        K = min(m, K * 4)
    first = torch.where(ok.any(1), ok.to(torch.int8).argmax(1), (npos - 1).clamp(min=0))
    k = torch.minimum(first + 1, npos.clamp(min=1))
    vk = vals.gather(1, (k - 1)[:, None])
    above = v > vk
    tie = v == vk
    need = k[:, None] - torch.count_nonzero(above, dim=1)[:, None]
    if bool((torch.count_nonzero(tie, dim=1)[:, None] <= need).all()):
        keep = above | tie
    else:   # keep the highest-index ties
        rank = torch.cumsum(tie.flip(1).to(torch.int32), 1).flip(1)
        keep = above | (tie & (rank <= need))
    return (v > 0) & ~keep


def _mass_drop_signed(r, p, p_neg):
    """Drop mask for signed ``r`` (N, M): :func:`_mass_drop` on the positive part with ``p``
    and on the magnitude of the negative part with ``p_neg``."""
    drop = torch.zeros(r.shape, dtype=torch.bool, device=r.device)
    if p > 0:
        drop |= _mass_drop(r.clamp(min=0), p)
    if p_neg > 0:
        drop |= _mass_drop((-r).clamp(min=0), p_neg)
    return drop


class MassPrune(Pruning):
    """PLRP mass pruning: drop the share ``p`` of positive and ``p_neg`` of negative mass.

    Parameters
    ----------
    p : float or dict
        Share in [0, 1) of the positive relevance mass to drop per sample and layer.
        A dict ``{layer spec: p}`` prunes only those layers, each with its own share.
    p_neg : float, optional
        Share of the negative mass (default ``p / 2``, our reading of the paper).
    redistribute : {"lambda", "matrix", "none"}
        See the module docstring.
    layers : optional
        Which layers (see :class:`Pruning`); a dict gives per-layer ``p``.
    """

    def __init__(self, p, p_neg=None, redistribute="lambda", layers=None):
        if isinstance(p, dict):
            if layers is not None:
                raise ValueError("give per-layer shares either as p={...} or layers={...}, not both")
            layers, p = p, None
        super().__init__(redistribute, layers)
        self.p = p
        self.p_neg = p_neg
        if p is not None:
            self.check_value(p)
        if isinstance(layers, dict):
            for v in layers.values():
                self.check_value(v)
        if p_neg is not None and not (0 <= float(p_neg) < 1):
            raise ValueError(f"MassPrune: p_neg must be in [0, 1), got {p_neg!r}")

    def __repr__(self):
        return f"MassPrune(p={self.p!r}, p_neg={self.p_neg!r}, redistribute={self.redistribute!r}, layers={self.layers!r})"

    @property
    def default_value(self):
        return self.p

    def check_value(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= float(value) < 1):
            raise ValueError(f"MassPrune: p must be a number in [0, 1), got {value!r}")

    def _pneg(self, p):
        return p / 2 if self.p_neg is None else float(self.p_neg)

    def is_noop(self, value, size):
        return float(value) == 0 and self._pneg(float(value)) == 0

    def keep_mask(self, r, value):
        p = float(value)
        return ~_mass_drop_signed(r, p, self._pneg(p))


class TopK(Pruning):
    """Keep the ``k`` units of largest ``|relevance|`` per sample and pruned layer.

    Parameters
    ----------
    k : int, float or dict
        A count (clamped to the layer size) or a fraction in (0, 1] of the layer's units
        (rounded up). A dict ``{layer spec: k}`` prunes only those layers.
    redistribute : {"lambda", "matrix", "none"}
        See the module docstring.
    layers : optional
        Which layers (see :class:`Pruning`); a dict gives per-layer ``k``.
    """

    def __init__(self, k, redistribute="lambda", layers=None):
        if isinstance(k, dict):
            if layers is not None:
                raise ValueError("give per-layer k either as k={...} or layers={...}, not both")
            layers, k = k, None
        super().__init__(redistribute, layers)
        self.k = k
        if k is not None:
            self.check_value(k)
        if isinstance(layers, dict):
            for v in layers.values():
                self.check_value(v)

    def __repr__(self):
        return f"TopK(k={self.k!r}, redistribute={self.redistribute!r}, layers={self.layers!r})"

    @property
    def default_value(self):
        return self.k

    def check_value(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"TopK: k must be an int count or a float fraction in (0, 1], got {value!r}")
        if isinstance(value, float) and not (0 < value <= 1):
            raise ValueError(f"TopK: a fractional k must be in (0, 1], got {value!r}")
        if isinstance(value, int) and value < 1:
            raise ValueError(f"TopK: k must be at least 1, got {value!r}")

    def count(self, value, size):
        """Number of kept units for a layer of ``size`` units."""
        if isinstance(value, float):
            return max(1, min(size, math.ceil(value * size - 1e-9)))
        return min(int(value), size)

    def is_noop(self, value, size):
        return self.count(value, size) >= size

    def keep_mask(self, r, value):
        k = self.count(value, r.shape[1])
        a = r.abs()
        # k-th largest |r| per sample, then keep all above it and the lowest-index ties
        kth = torch.topk(a, k, dim=1, largest=True, sorted=False).values.min(dim=1, keepdim=True).values
        above = a > kth
        tie = a == kth
        need = k - torch.count_nonzero(above, dim=1)[:, None]
        if bool((torch.count_nonzero(tie, dim=1)[:, None] <= need).all()):   # no surplus ties at the cut
            return above | tie
        tie_rank = torch.cumsum(tie.to(torch.int32), dim=1)
        return above | (tie & (tie_rank <= need))
