"""Pruning strategies for pruned LRP (PLRP), applied inside the relevance pass.

After the relevance ``r`` of a pruned tensor is complete (all its consumers have handed
it their relevance) it is flattened per sample to ``(N, M)``, small entries are set to
zero, and the survivors are redistributed; the pruned relevance is then propagated
further down, so sparsity compounds toward the input. The model is never modified.

Default prune points: the relevance of every convolution and linear layer's input,
except the model input X itself (and tensors that are X up to a reshape/padding);
``layers="positions"`` prunes the convolution stack's position-resolved tensors only.
A tensor feeding several layers (a residual stream) is pruned once. With
``group="position"`` the channels of a position of an ``(N, C, L)`` tensor are selected
together, on the position's positive and negative sums.

Selection (vectorised over the batch, no Python loop over samples or positions; ties
are broken deterministically by position):

* :class:`MassPrune` (the paper's PLRP): sort the positive entries ascending and drop
  the longest prefix whose sum is at most ``p`` times the positive total; the same on
  the negative entries (on ``|r|``) with ``p_neg`` (default ``p``); among equal
  values the lower flat index is dropped first. Sums are taken in float64. Both signs
  are selected in one go: rows of up to ``SORT_MAX`` entries (and any row on a GPU) by
  one stable sort; longer rows on CPU without a sort, by a threshold search: a mass
  histogram over the top bits of the float32 bit pattern (monotone in the magnitude)
  finds the bin holding the cut, a second histogram narrows that bin, and only its few
  entries are sorted. The same mask either way (up to float rounding of a cumulative sum
  lying exactly at the budget). The lambda factors come with the selection.
* :class:`TopK`: keep the ``k`` entries of largest ``|r|`` (``k`` a count clamped to the
  layer size, or a fraction in (0, 1] of the layer's units, rounded up and at least two),
  sign-aware by default: the positive entries keep at least their share of the ``k``
  slots by mass; among equal ``|r|`` at the cut the lower flat index is kept.

Redistribution: ``"lambda"`` rescales the positive survivors so the positive total is
what it was before pruning, likewise the negative ones (a sign with no survivor keeps
nothing: no division by zero); ``"matrix"`` (PLRP-M, our reading) renormalises each
consumer unit's own contributions over the surviving inputs, so it hands down what it
handed down before, to the survivors only, without re-evaluating its bias (see
:meth:`Engine._matrix <sparselrp.lrp.propagate.Engine._matrix>`); ``"none"`` drops the
pruned mass.
"""

import math

import torch

_REDISTRIBUTE = ("lambda", "matrix", "none")
_GROUPS = (None, "position")


class Pruning:
    """Base class of pruning strategies.

    Parameters
    ----------
    redistribute : {"lambda", "matrix", "none"}
    layers : None, str, int, type, list of those, or dict {spec: value}
        Which tensors are pruned. ``None``: the inputs of every Conv1d/Linear layer
        except X. ``"positions"``: every position-resolved tensor of the convolution stack
        (the output of the first convolution(s) and the input of every later convolution;
        dense and globally pooled layers are left unpruned). A str names an explained
        layer (its input is pruned) or a graph node (module path / fx node name; that
        node's output is pruned); an int indexes :attr:`LRP.layer_names` (negative
        allowed); a module type selects the inputs of all layers of that type. A dict
        gives a per-layer ``k`` or ``p``.
    group : None or "position"
        ``None``: every unit is selected on its own. ``"position"``: on position-resolved
        tensors ``(N, C, L)`` the channels of a position are kept or dropped together,
        selected on the position's positive sum and negative sum (so a motif that several
        weak filters see survives as a whole); ``k`` then counts positions. Tensors without
        a position axis are selected per unit.
    """

    def __init__(self, redistribute="lambda", layers=None, group=None):
        if redistribute not in _REDISTRIBUTE:
            raise ValueError(f"redistribute must be one of {_REDISTRIBUTE}, got {redistribute!r}")
        if group not in _GROUPS:
            raise ValueError(f"group must be one of {_GROUPS}, got {group!r}")
        self.redistribute = redistribute
        self.layers = layers
        self.group = group

    # -- selection ---------------------------------------------------------------
    def is_noop(self, value, size):
        """True when ``value`` keeps every unit of a layer of ``size`` units."""
        raise NotImplementedError

    def keep_mask(self, r, value):
        """Boolean mask ``(N, M)`` of surviving entries of ``r`` ``(N, M)``."""
        raise NotImplementedError

    def check_value(self, value):
        raise NotImplementedError

    def select(self, r, value, rescale):
        """Keep mask ``(N, M)`` of ``r`` ``(N, M)`` and, where the strategy computes it with
        the selection, the lambda-rescaled relevance (else ``None``)."""
        return self.keep_mask(r, value), None

    def apply(self, R, value):
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
        lam = self.redistribute == "lambda"
        if self.group == "position" and R.ndim == 3 and shape[-1] > 1:
            if self.is_noop(value, shape[-1]):
                return R, None
            pos = R.clamp(min=0).sum(1)
            neg = R.clamp(max=0).sum(1)
            keep = self.select_positions(pos, neg, value)[:, None, :].expand(shape).reshape(shape[0], -1)
            out = lambda_redistribute(r, keep) if lam else r * keep
            return out.reshape(shape), keep.reshape(shape)
        if self.is_noop(value, r.shape[1]):
            return R, None
        keep, out = self.select(r, value, lam)
        if out is None:
            out = lambda_redistribute(r, keep) if lam else r * keep
        return out.reshape(shape), keep.reshape(shape)

    def select_positions(self, pos, neg, value):
        """Keep mask ``(N, L)`` of positions from their positive sums ``pos`` ``(N, L)``
        (>= 0) and negative sums ``neg`` ``(N, L)`` (<= 0) over the channels."""
        raise NotImplementedError


def lambda_redistribute(r, keep, target=None, conserve=False):
    """Rescale surviving entries so positive and negative totals are preserved.

    Parameters
    ----------
    r : torch.Tensor
        ``(N, M)`` relevance before pruning.
    keep : torch.Tensor
        ``(N, M)`` bool mask of survivors.
    target : torch.Tensor, optional
        ``(N, M)`` relevance whose totals are to be matched (default ``r``).
    conserve : bool
        Where a sign of ``target`` has no survivor of that sign, give its total to all
        survivors in proportion to ``|r|`` instead of dropping it (PLRP-M's fall-backs), so
        the row total is kept whenever anything survives.

    Returns
    -------
    torch.Tensor
        ``(N, M)``: ``r * keep`` with positive entries scaled by ``P_before / P_after`` and
        negative ones by ``N_before / N_after`` (0 where there is no survivor).
    """
    t = r if target is None else target
    rk = r * keep
    kp, kn = rk.clamp(min=0), rk.clamp(max=0)
    # each sign summed on its own (total minus positive part cancels when one sign is tiny)
    pos_b = t.clamp(min=0).sum(1, keepdim=True)
    neg_b = t.clamp(max=0).sum(1, keepdim=True)
    pos_a = kp.sum(1, keepdim=True)
    neg_a = kn.sum(1, keepdim=True)
    one = torch.ones_like(pos_a)
    sp = torch.where(pos_a > 0, pos_b / torch.where(pos_a > 0, pos_a, one), 0.0)
    sn = torch.where(neg_a < 0, neg_b / torch.where(neg_a < 0, neg_a, -one), 0.0)
    if not conserve:
        return kp.mul_(sp).add_(kn.mul_(sn))
    w = rk.abs()
    wsum = w.sum(1, keepdim=True)
    left = torch.where(pos_a > 0, 0.0, pos_b) + torch.where(neg_a < 0, 0.0, neg_b)
    spread = torch.where(wsum > 0, left / torch.where(wsum > 0, wsum, one), 0.0)
    return kp.mul_(sp).add_(kn.mul_(sn)).add_(w.mul_(spread))


#: fewest units a fractional :class:`TopK` keeps per tensor (where the tensor has as many)
TOPK_MIN_KEEP = 2

#: default ``p_neg`` of :class:`MassPrune` as a multiple of ``p`` (1: both signs pruned at the
#: same share; 0.1's factor 0.5 kept about 27 negative background windows per sequence on the
#: SmallCNN; the validation suite in docs/plrp.md compares the two)
P_NEG_FACTOR = 1.0

#: on CPU, rows of up to this many entries are selected with one full stable sort; longer
#: rows with the mass histogram (see :func:`_select_hist`); other devices always sort
SORT_MAX = 1024

# histogram bin of an entry: its float32 sign bit, 8 exponent bits and top 3 mantissa bits
_SHIFT = 20
_NBIN = 1 << 11      # magnitude bins per sign; bins are ordered like the magnitudes


def _mass_prune(r, p, p_neg, rescale=False):
    """Mass pruning of both signs at once.

    Parameters
    ----------
    r : torch.Tensor
        ``(N, M)`` signed relevance.
    p, p_neg : float
        Shares in [0, 1) of the positive and of the negative mass to drop.
    rescale : bool
        Also return the lambda-redistributed relevance.

    Returns
    -------
    keep : torch.Tensor
        ``(N, M)`` bool; dropped are, per sign, the longest prefix of the non-zero entries in
        ascending order of magnitude (ties: lower index first) whose cumulative magnitude is
        at most the share times the sign's total (sums in float64).
    out : torch.Tensor or None
        ``(N, M)`` (with ``rescale``): the survivors scaled so that the positive and the
        negative totals are those before pruning (see :func:`lambda_redistribute`).
    """
    n, m = r.shape
    if m == 0 or n == 0:
        return torch.ones(r.shape, dtype=torch.bool, device=r.device), (r.clone() if rescale else None)
    if m <= SORT_MAX or r.device.type != "cpu":   # (a GPU sorts fast; its bincount sums in no fixed order)
        return _select_sort(r, p, p_neg, rescale)
    return _select_hist(r, p, p_neg, rescale)


def _lambda_factor(total, dropped):
    """Lambda factor ``total / kept`` (1 where nothing is kept) of float64 masses."""
    kept = total - dropped
    return torch.where(kept > 0, total / torch.where(kept > 0, kept, 1.0), 1.0)


def _select_sort(r, p, p_neg, rescale):
    """:func:`_mass_prune` by one stable sort of the ``(2N, M)`` stacked sign magnitudes."""
    n = r.shape[0]
    v = torch.cat([r.clamp(min=0), (-r).clamp(min=0)])          # (2N, M): positive, negative
    vals, idx = torch.sort(v, dim=1, stable=True)
    cs = torch.cumsum(vals, dim=1, dtype=torch.float64)
    total = cs[:, -1]
    share = torch.tensor([p, p_neg], dtype=torch.float64, device=r.device).repeat_interleave(n)
    ds = (cs <= (share * total)[:, None]) & (vals > 0)
    drop = torch.zeros_like(ds).scatter_(1, idx, ds)
    keep = ~(drop[:n] | drop[n:])
    if not rescale:
        return keep, None
    dropped = torch.where(ds, cs, 0.0).amax(1)                    # cs grows: at the last dropped one
    f = _lambda_factor(total, dropped).to(r.dtype).view(2, n, 1)
    out = r * torch.where(r < 0, f[1], f[0])
    return keep, out.masked_fill_(~keep, 0)


def _resolve_boundary(flat, r32, r64, m, g_n, below, budget):
    """Cut inside the boundary bins of :func:`_select_hist`.

    The ``K`` entries ``flat`` (flat indices into ``(N, M)``, ascending) are binned once more
    by the next 10 bits of their float32 pattern; the entries of each group's new boundary
    bin are then ordered by exact magnitude (ties: lower index first) and cut by their
    cumulative sum. ``below`` and ``budget`` are the ``(2N,)`` float64 mass below the boundary
    bin and the mass budget of each group. Returns the flat indices of the dropped entries and
    the ``(2N,)`` dropped mass.
    """
    vals = r64.view(-1).index_select(0, flat)
    g = 2 * torch.div(flat, m, rounding_mode="floor") + (vals >= 0)
    a = vals.abs_()
    sub = (r32.view(-1).view(torch.int32).index_select(0, flat) >> (_SHIFT - 10)) & 1023
    hist = torch.bincount(g * 1024 + sub, a, minlength=g_n * 1024).view(g_n, 1024)
    cum = hist.cumsum_(1).add_(below[:, None])
    b = torch.searchsorted(cum, budget[:, None], right=True)[:, 0]
    below = torch.where(b > 0, cum.gather(1, (b - 1).clamp(max=1023, min=0)[:, None])[:, 0], below)
    bg = b[g]
    gone = flat[sub < bg]                                          # below the new boundary bin
    at = (sub == bg).nonzero()[:, 0]
    g, a, flat = g[at], a[at], flat[at]
    # order by group, then magnitude, then index: two stable sorts
    a, o1 = torch.sort(a, stable=True)
    g, o2 = torch.sort(g.index_select(0, o1), stable=True)
    a = a.index_select(0, o2)
    # cumulative sums within each group, in a (groups, largest count) zero-padded table
    counts = torch.bincount(g, minlength=g_n)
    pos = torch.arange(g.numel(), device=g.device) - (torch.cumsum(counts, 0) - counts)[g]
    pad = torch.zeros(g_n, int(counts.max()) if g.numel() else 0, dtype=torch.float64, device=g.device)
    pad[g, pos] = a
    ds = (pad.cumsum_(1)[g, pos] + below[g]) <= budget[g]
    dropped = below + torch.bincount(g, torch.where(ds, a, 0.0), minlength=g_n)
    return torch.cat([gone, flat.index_select(0, o1.index_select(0, o2)[ds])]), dropped


def _select_hist(r, p, p_neg, rescale):
    """:func:`_mass_prune` by a threshold search instead of a sort.

    A float32's bit pattern read as an int32 is monotone in the magnitude, so its top 12 bits
    (sign, exponent, 3 mantissa bits) give ``2 x 2048`` ordered bins per sample. One weighted
    ``bincount`` gives the mass per bin, its cumulative sum the boundary bin of each sign (the
    first whose cumulative mass exceeds the budget): bins below it are dropped, bins above it
    kept. Only the entries of the boundary bin (found by gathering a per-bin table) are
    looked at again (:func:`_resolve_boundary`: a second histogram on the next 10 bits, then
    an exact sort of the few entries left). A per-bin table of scale factors (0 below the
    boundary, else the group's lambda factor) gathered by bin then gives the mask and the
    rescaled relevance at once. No Python loop over samples or positions.
    """
    n, m = r.shape
    dev = r.device
    g_n = 2 * n                                   # groups (sample, sign): 2 * sample + (r >= 0)
    r = r.contiguous()
    r32 = r if r.dtype == torch.float32 else r.float()            # monotone rounding: same bin order
    r64 = r if r.dtype == torch.float64 else r.double()
    # arithmetic shift: negative values give -2048..-1 (magnitude order), others 0..2047
    idt = torch.int64 if g_n * _NBIN >= 2 ** 31 else torch.int32
    off = (torch.arange(n, dtype=idt, device=dev) * (2 * _NBIN) + _NBIN)[:, None]
    code = (r32.view(torch.int32) >> _SHIFT).to(idt).add_(off).view(-1)   # group * _NBIN + bin
    hist = torch.bincount(code, r64.view(-1), minlength=g_n * _NBIN).view(g_n, _NBIN).abs_()
    cum = hist.cumsum(1)
    total = cum[:, -1]
    share = torch.tensor([p_neg, p], dtype=torch.float64, device=dev).repeat(n)
    budget = share * total
    b = torch.searchsorted(cum, budget[:, None], right=True)[:, 0]   # boundary bin of each group
    active = (share > 0) & (total > 0) & (b < _NBIN)
    below = torch.where(active & (b > 0), cum.gather(1, (b - 1).clamp(min=0)[:, None])[:, 0], 0.0)
    b = torch.where(active, b, -1)
    bins = torch.arange(_NBIN, device=dev)
    # the entries of the boundary bins (bin 0 also holds the zeros: never at the boundary)
    at_b = bins == b[:, None]
    at_b[:, 0] &= hist[:, 0] > 0
    zfix = bool(at_b[:, 0].any())
    res = at_b.view(-1).index_select(0, code).view(n, m)
    if zfix:
        res &= r != 0
    dropped = below
    flat = res.view(-1).nonzero()[:, 0]                            # (K,) row-major
    if flat.numel():
        flat, dropped = _resolve_boundary(flat, r32, r64, m, g_n, below, budget)
    # per (group, bin) scale: 0 below the boundary, else the lambda factor (or 1)
    factor = (_lambda_factor(total, dropped) if rescale else torch.ones_like(total)).to(r.dtype)
    lut = torch.where(bins < b[:, None], 0.0, factor[:, None])
    lut[:, 0] = torch.where(hist[:, 0] > 0, lut[:, 0], factor)    # bin 0 holds the zeros (keep them)
    zfix |= bool((lut[:, 0] == 0).any())
    sc = lut.view(-1).index_select(0, code).view(n, m)
    if zfix:                              # non-zero entries of bin 0 dropped or at the boundary
        sc.masked_fill_(r == 0, 1.0)
    sc.view(-1)[flat] = 0                 # dropped entries of the boundary bins
    keep = sc.bool()
    return keep, (sc.mul_(r) if rescale else None)


class MassPrune(Pruning):
    """PLRP mass pruning: drop the share ``p`` of positive and ``p_neg`` of negative mass.

    Parameters
    ----------
    p : float or dict
        Share in [0, 1) of the positive relevance mass to drop per sample and layer.
        A dict ``{layer spec: p}`` prunes only those layers, each with its own share.
    p_neg : float, optional
        Share of the negative mass (default ``p``: :data:`P_NEG_FACTOR` times ``p``; the
        paper does not settle it, see docs/plrp.md for the measurement that chose it).
    redistribute : {"lambda", "matrix", "none"}
        See the module docstring.
    layers : optional
        Which layers (see :class:`Pruning`); a dict gives per-layer ``p``.
    group : None or "position"
        Select single units or whole positions (see :class:`Pruning`).
    """

    def __init__(self, p, p_neg=None, redistribute="lambda", layers=None, group=None):
        if isinstance(p, dict):
            if layers is not None:
                raise ValueError("give per-layer shares either as p={...} or layers={...}, not both")
            layers, p = p, None
        super().__init__(redistribute, layers, group)
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
        return (f"MassPrune(p={self.p!r}, p_neg={self.p_neg!r}, redistribute={self.redistribute!r}, "
                f"layers={self.layers!r}, group={self.group!r})")

    @property
    def default_value(self):
        return self.p

    def check_value(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= float(value) < 1):
            raise ValueError(f"MassPrune: p must be a number in [0, 1), got {value!r}")

    def _pneg(self, p):
        return p * P_NEG_FACTOR if self.p_neg is None else float(self.p_neg)

    def is_noop(self, value, size):
        return float(value) == 0 and self._pneg(float(value)) == 0

    def keep_mask(self, r, value):
        return self.select(r, value, False)[0]

    def select(self, r, value, rescale):
        # the lambda factors come with the selection
        p = float(value)
        return _mass_prune(r, p, self._pneg(p), rescale=rescale)

    def select_positions(self, pos, neg, value):
        # both signs in one selection: positive sums in the first L columns, negative in the last
        p = float(value)
        L = pos.shape[1]
        keep = _mass_prune(torch.cat([pos, neg], 1), p, self._pneg(p))[0]
        return (keep[:, :L] & (pos > 0)) | (keep[:, L:] & (neg < 0))


class TopK(Pruning):
    """Keep the ``k`` units of largest ``|relevance|`` per sample and pruned layer.

    Parameters
    ----------
    k : int, float or dict
        A count (clamped to the layer size) or a fraction in (0, 1] of the layer's units
        (rounded up, at least two). A dict ``{layer spec: k}`` prunes only those layers.
    redistribute : {"lambda", "matrix", "none"}
        See the module docstring.
    layers : optional
        Which layers (see :class:`Pruning`); a dict gives per-layer ``k``.
    group : None or "position"
        Select single units or whole positions (``k`` then counts positions).
    sign_aware : bool
        The ``k`` largest ``|r|``, except that the positive units keep at least their share
        of the ``k`` slots by relevance mass (at least one when there is positive mass)
        (default). ``False``: the ``k`` largest ``|r|`` whatever their sign, which can keep
        only negative units and lose the positive mass.
    positive_only : bool
        Keep the ``k`` largest positive units and drop every negative one (the evidence for
        the explained output; ``sl.plrp``'s). Two-sided selection kept large negative filters
        on motifs and turned 46 % of the causal motif instances negative on a two-convolution
        CNN (docs/plrp.md). The dropped negative mass is reported as pruned by
        :func:`sparselrp.lrp.conservation`.
    """

    def __init__(self, k, redistribute="lambda", layers=None, group=None, sign_aware=True, positive_only=False):
        if isinstance(k, dict):
            if layers is not None:
                raise ValueError("give per-layer k either as k={...} or layers={...}, not both")
            layers, k = k, None
        super().__init__(redistribute, layers, group)
        self.k = k
        self.sign_aware = bool(sign_aware)
        self.positive_only = bool(positive_only)
        if k is not None:
            self.check_value(k)
        if isinstance(layers, dict):
            for v in layers.values():
                self.check_value(v)

    def __repr__(self):
        return (f"TopK(k={self.k!r}, redistribute={self.redistribute!r}, layers={self.layers!r}, "
                f"group={self.group!r}, sign_aware={self.sign_aware!r}, positive_only={self.positive_only!r})")

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
        """Number of kept units for a layer of ``size`` units: an int ``k`` clamped to the size;
        a fraction rounded up, and at least :data:`TOPK_MIN_KEEP` (so that a share of a small
        dense layer still keeps more than one motif's unit)."""
        if isinstance(value, float):
            return min(size, max(TOPK_MIN_KEEP, math.ceil(value * size - 1e-9)))
        return min(int(value), size)

    def is_noop(self, value, size):
        return self.count(value, size) >= size

    def keep_mask(self, r, value):
        k = self.count(value, r.shape[1])
        if self.positive_only:
            return _topk_positive(r.clamp(min=0), k)
        if self.sign_aware:
            return _topk_signed(r.clamp(min=0), (-r).clamp(min=0), k)
        a = r.abs()
        return _topk_rows(a, torch.full((r.shape[0],), k, dtype=torch.int64, device=r.device))

    def select_positions(self, pos, neg, value):
        k = self.count(value, pos.shape[1])
        if self.positive_only:
            return _topk_positive(pos, k)
        if self.sign_aware:
            return _topk_signed(pos, -neg, k)
        a = pos - neg
        return _topk_rows(a, torch.full((a.shape[0],), k, dtype=torch.int64, device=a.device))


def _topk_rows(a, k):
    """Keep mask ``(N, M)`` of the ``k[n]`` largest entries of each row of ``a`` ``(N, M)``
    (``k`` ``(N,)`` int64, at most ``M``); among equal values at the cut the lower index is
    kept, so the mask does not depend on the order torch.topk returns ties in."""
    kmax = int(k.max()) if k.numel() else 0
    if kmax <= 0:
        return torch.zeros(a.shape, dtype=torch.bool, device=a.device)
    vals = torch.topk(a, kmax, dim=1, largest=True, sorted=True).values
    kth = vals.gather(1, (k - 1).clamp(min=0)[:, None])
    kth = torch.where(k[:, None] > 0, kth, torch.full_like(kth, float("inf")))
    above = a > kth
    tie = a == kth
    need = k[:, None] - torch.count_nonzero(above, dim=1)[:, None]
    if bool((torch.count_nonzero(tie, dim=1)[:, None] <= need).all()):   # no surplus ties at the cut
        return above | tie
    tie_rank = torch.cumsum(tie.to(torch.int32), dim=1)
    return above | (tie & (tie_rank <= need))


def _topk_positive(pos, k):
    """Keep mask ``(N, M)`` of the ``k`` largest entries of ``pos`` ``(N, M)`` (>= 0) that are
    positive (fewer where a row has fewer); ties: lower index first."""
    kp = torch.clamp(torch.count_nonzero(pos, dim=1), max=k)
    return _topk_rows(pos, kp)


def _topk_signed(pos, neg, k):
    """Sign-aware top-k: keep mask ``(N, M)`` from positive magnitudes ``pos`` and negative
    magnitudes ``neg`` (both ``(N, M)``, >= 0).

    The ``k`` largest magnitudes as plain top-k would take them, except that the positive
    side keeps at least its share of the slots by mass (``round(k * P / (P + |N|))``, and at
    least one when there is positive mass): where large negative units would crowd out the
    positive evidence, the smallest negative picks give their slots to the largest positive
    units not yet kept. Each side is capped by its non-zero count (unused slots go to the
    other side); ties: lower index first. At most ``k`` entries (or positions, when an entry
    has both a positive and a negative part) are kept per row.
    """
    P = pos.sum(1, dtype=torch.float64)
    Q = neg.sum(1, dtype=torch.float64)
    npos = torch.count_nonzero(pos, dim=1)
    nneg = torch.count_nonzero(neg, dim=1)
    kk = torch.full((pos.shape[0],), k, dtype=torch.int64, device=pos.device)
    plain = _topk_rows(torch.maximum(pos, neg), kk)
    k_plain = torch.count_nonzero(plain & (pos >= neg) & (pos > 0), dim=1)
    tot = P + Q
    share = torch.where(tot > 0, P / torch.where(tot > 0, tot, 1.0), 0.0)
    floor = torch.maximum(torch.round(share * k).to(torch.int64), (P > 0).to(torch.int64))
    kp = torch.maximum(k_plain, floor).clamp(max=k)
    kp = torch.minimum(kp, npos)
    kn = torch.minimum(k - kp, nneg)
    kp = torch.minimum(k - kn, npos)
    return _topk_rows(pos, kp) | _topk_rows(neg, kn)