"""LRP rules for linear layers (Conv1d, Linear, affine BatchNorm) and sum-like operations.

Names, parameters and defaults follow zennit 0.5.1 so a result can be checked against it.
Every rule redistributes the relevance ``R`` (shape of the layer output, ``(N, C_out, L_out)``
or ``(N, ..., F_out)``) of one layer over its input ``x`` (``(N, C_in, L_in)`` or
``(N, ..., F_in)``). For a layer ``z_j = sum_i x_i w_ij + b_j``:

============  ===============================================================================
rule          R_i
============  ===============================================================================
ZeroRule      sum_j z_ij / z_j R_j (LRP-0; 0/0 := 0)
Epsilon       sum_j z_ij / (z_j + eps sign(z_j)) R_j (sign(0) := +1)
ZPlus         alpha-beta with alpha 1, beta 0 (b^+ in the denominator)
AlphaBeta     sum_j (alpha z_ij^+ / z_j^+ - beta z_ij^- / z_j^-) R_j; alpha - beta = 1
Gamma         sign-aware gamma (zennit): positive outputs use w + g w^+ (b + g b^+),
              negative outputs use w + g w^- (b + g b^-)
ZBox          (x_i w_ij - l_i w_ij^+ - h_i w_ij^-) / sum_i'(...) (biases cancel as in zennit)
Flat          1 / (number of inputs feeding j)
WSquare       w_ij^2 / (sum_i' w_i'j^2 + b_j^2)
Norm          Epsilon with unmodified parameters and ``stabilizer`` (sums, average pools)
Pass          relevance passes unchanged (element-wise layers)
============  ===============================================================================

The positive/negative parts of the *input* are treated as in zennit (``x^+ = max(x, 0)``
with the "positive" weights, ``x^- = min(x, 0)`` with the "negative" ones); when the input
has no negative entry (ReLU outputs, one-hot DNA) the negative terms are skipped.

A rule object is stateless apart from its parameters: per-layer modified weights are
precomputed once per :class:`~sparselrp.lrp.LRP` object (:meth:`Rule.prepare`).
"""

import torch


def _sign1(d):
    """sign with sign(0) := +1, as zennit's stabilizer."""
    return torch.where(d >= 0, 1.0, -1.0).to(d.dtype)


def _zero_params(zero_params):
    if zero_params is None:
        return ()
    if isinstance(zero_params, str):
        return (zero_params,)
    return tuple(zero_params)


class Rule:
    """Base class of the layer rules.

    Subclasses implement :meth:`prepare` (modified weights, computed once per layer) and
    :meth:`relevance`.
    """

    #: whether the rule's input relevance has the form ``x * multiplier``
    multiplies_input = True
    #: whether the rule defines hypothetical scores (what each of the four bases would
    #: receive at a position): the multipliers for rules that multiply by the input, the
    #: bound-corrected transposed map for zB; not for Flat and WSquare
    has_hypothetical = True

    def __init__(self, stabilizer=1e-6, zero_params=None):
        self.stabilizer = float(stabilizer)
        self.zero_params = _zero_params(zero_params)

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self):
        return {"stabilizer": self.stabilizer}

    # -- helpers ---------------------------------------------------------------------
    def _bias(self, b):
        if b is None or "bias" in self.zero_params:
            return None
        return b

    def _weight(self, W):
        if "weight" in self.zero_params:
            return torch.zeros_like(W)
        return W

    def divide(self, R, d):
        """``R / stab(d)`` with zennit's stabiliser ``d + eps sign(d)``; for eps = 0 the
        division is safe (0/0 := 0 and R/0 := 0)."""
        eps = self.stabilizer
        if eps == 0:
            return torch.where(d == 0, 0.0, R / torch.where(d == 0, 1.0, d))
        # d + eps * sign(d) with sign(0) = +1 (adding 0.0 turns -0.0 into +0.0)
        return R / (d + torch.copysign(torch.tensor(eps, dtype=d.dtype, device=d.device), d + 0.0))

    def prepare(self, W, b):
        """Precompute modified parameters for one layer.

        Parameters
        ----------
        W : torch.Tensor
            Weight, ``(C_out, C_in / groups, K)`` for convolutions, ``(F_out, F_in)`` for
            dense layers, ``(C,)`` for affine (BatchNorm) layers.
        b : torch.Tensor or None
            Bias ``(C_out,)``.

        Returns
        -------
        dict
            Named tensors used by :meth:`relevance`.
        """
        return {"W": self._weight(W), "b": self._bias(b), "recompute": bool(self.zero_params)}

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        """Redistribute ``R`` over the layer input.

        Parameters
        ----------
        layer : LayerOp
            The layer (provides ``forward(x, W, b)`` and ``transpose(s, W, x_shape)``).
        P : dict
            Output of :meth:`prepare` for this layer.
        x : torch.Tensor
            Layer input, ``(N, C_in, L_in)`` or ``(N, ..., F_in)``.
        z : torch.Tensor or None
            Layer output with the original parameters (``None``: recompute).
        R : torch.Tensor
            Relevance of the output, shape of ``z``.
        want_multiplier : bool
            Also return ``M`` with ``R_in = x * M`` (hypothetical scores).

        Returns
        -------
        torch.Tensor or (torch.Tensor, torch.Tensor)
            ``R_in`` with the shape of ``x`` (and ``M``).
        """
        raise NotImplementedError


class Epsilon(Rule):
    """LRP-epsilon: ``R_i = sum_j z_ij / (z_j + eps sign(z_j)) R_j`` (bias in ``z_j``).

    Parameters
    ----------
    epsilon : float
        Stabiliser added with the sign of the denominator (zennit default 1e-6).
    zero_params : list of str, optional
        Parameter names (``"bias"``) treated as zero.
    """

    def __init__(self, epsilon=1e-6, zero_params=None):
        super().__init__(stabilizer=epsilon, zero_params=zero_params)

    @property
    def epsilon(self):
        return self.stabilizer

    def _params(self):
        return {"epsilon": self.stabilizer}

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        W, b = P["W"], P["b"]
        if z is None or P["recompute"]:
            z = layer.forward(x, W, b)
        s = self.divide(R, z)
        M = layer.transpose(s, W, x.shape)
        out = x * M
        return (out, M) if want_multiplier else out


class ZeroRule(Epsilon):
    """LRP-0: ``R_i = sum_j z_ij / z_j R_j``, no stabiliser, 0/0 := 0."""

    def __init__(self, zero_params=None):
        super().__init__(epsilon=0.0, zero_params=zero_params)

    def _params(self):
        return {}


class Norm(Epsilon):
    """Split in proportion to the input contributions with unmodified parameters
    (zennit's ``Norm``; used for sums, residual adds and average pooling).

    Parameters
    ----------
    stabilizer : float
        Stabiliser of the denominator (default 1e-6); 0 gives 0/0 := 0.
    """

    def __init__(self, stabilizer=1e-6):
        super().__init__(epsilon=stabilizer)

    def _params(self):
        return {"stabilizer": self.stabilizer}


class Pass(Rule):
    """Relevance passes through unchanged (element-wise layers such as activations)."""

    multiplies_input = False
    has_hypothetical = False

    def __init__(self):
        super().__init__(stabilizer=0.0)

    def _params(self):
        return {}

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        if tuple(x.shape) != tuple(R.shape):
            raise ValueError(
                f"the Pass rule only applies to element-wise layers; layer '{layer.name}' changes "
                f"the shape {tuple(x.shape)} -> {tuple(R.shape)}")
        if want_multiplier:
            raise ValueError("hypothetical scores are not defined for the Pass rule")
        return R


class ZPlus(Rule):
    """LRP-z+ (alpha 1, beta 0): positive contributions only; ``b^+`` in the denominator.

    Parameters
    ----------
    stabilizer : float
        Stabiliser (default 1e-6).
    zero_params : list of str, optional
        Parameter names treated as zero.
    """

    def prepare(self, W, b):
        W = self._weight(W)
        b = self._bias(b)
        Wp = W.clamp(min=0)
        bp = None if b is None else b.clamp(min=0)
        # for x >= 0 the denominator w^+ x + b^+ is >= 0, so its stabilised form is
        # w^+ x + (b^+ + eps): the stabiliser rides on the bias (sign(0) := +1 as zennit)
        beps = (torch.zeros(W.shape[0], dtype=W.dtype, device=W.device) if bp is None else bp) + self.stabilizer
        return {"Wp": Wp, "Wn": W.clamp(max=0), "bp": bp, "bp_eps": beps}

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        Wp, Wn = P["Wp"], P["Wn"]
        has_neg = bool((x < 0).any())
        if not has_neg and self.stabilizer > 0:
            s = R / layer.forward(x, Wp, P["bp_eps"])
            Mp = layer.transpose(s, Wp, x.shape)
            out = x * Mp
            return (out, Mp) if want_multiplier else out
        xp = x.clamp(min=0) if has_neg else x
        d = layer.forward(xp, Wp, P["bp"])
        if has_neg:
            xn = x.clamp(max=0)
            d = d + layer.forward(xn, Wn, None)
        s = self.divide(R, d)
        Mp = layer.transpose(s, Wp, x.shape)
        if not has_neg:
            out = x * Mp
            return (out, Mp) if want_multiplier else out
        Mn = layer.transpose(s, Wn, x.shape)
        out = xp * Mp + xn * Mn
        if want_multiplier:
            return out, torch.where(x < 0, Mn, Mp)
        return out


class AlphaBeta(Rule):
    """LRP-alpha-beta: ``sum_j (alpha z_ij^+ / z_j^+ - beta z_ij^- / z_j^-) R_j``.

    Parameters
    ----------
    alpha, beta : float
        Non-negative, ``alpha - beta == 1`` (defaults 2 and 1, as zennit).
    stabilizer : float
        Stabiliser (default 1e-6).
    zero_params : list of str, optional
        Parameter names treated as zero.
    """

    def __init__(self, alpha=2.0, beta=1.0, stabilizer=1e-6, zero_params=None):
        if alpha < 0 or beta < 0:
            raise ValueError("AlphaBeta: alpha and beta must both be non-negative")
        if (alpha - beta) != 1.0:
            raise ValueError(f"AlphaBeta: alpha - beta must equal 1 (got alpha={alpha}, beta={beta})")
        super().__init__(stabilizer=stabilizer, zero_params=zero_params)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def _params(self):
        return {"alpha": self.alpha, "beta": self.beta, "stabilizer": self.stabilizer}

    def prepare(self, W, b):
        W = self._weight(W)
        b = self._bias(b)
        return {"Wp": W.clamp(min=0), "Wn": W.clamp(max=0),
                "bp": None if b is None else b.clamp(min=0),
                "bn": None if b is None else b.clamp(max=0)}

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        Wp, Wn = P["Wp"], P["Wn"]
        has_neg = bool((x < 0).any())
        xp = x.clamp(min=0) if has_neg else x
        xn = x.clamp(max=0) if has_neg else None
        dpos = layer.forward(xp, Wp, P["bp"])
        if has_neg:
            dpos = dpos + layer.forward(xn, Wn, None)
        sp = self.divide(R, dpos)
        Mp = self.alpha * layer.transpose(sp, Wp, x.shape)
        Mn = self.alpha * layer.transpose(sp, Wn, x.shape) if has_neg else None
        if self.beta != 0:
            dneg = layer.forward(xp, Wn, P["bn"])
            if has_neg:
                dneg = dneg + layer.forward(xn, Wp, None)
            sn = self.divide(R, dneg)
            Mp = Mp - self.beta * layer.transpose(sn, Wn, x.shape)
            if has_neg:
                Mn = Mn - self.beta * layer.transpose(sn, Wp, x.shape)
        if not has_neg:
            out = x * Mp
            return (out, Mp) if want_multiplier else out
        out = xp * Mp + xn * Mn
        if want_multiplier:
            return out, torch.where(x < 0, Mn, Mp)
        return out


class Gamma(Rule):
    """Generalised LRP-gamma as zennit 0.5.1 applies it (sign-aware).

    For outputs with ``z_j > 0`` the contributions are ``x^+ (w + g w^+) + x^- (w + g w^-)``
    with ``b + g b^+`` in the denominator; for ``z_j < 0`` they are
    ``x^+ (w + g w^-) + x^- (w + g w^+)`` with ``b + g b^-``; ``z_j == 0`` passes nothing.

    Parameters
    ----------
    gamma : float
        Weight of the added positive (negative) parts (default 0.25).
    stabilizer : float
        Stabiliser (default 1e-6).
    zero_params : list of str, optional
        Parameter names treated as zero.
    """

    def __init__(self, gamma=0.25, stabilizer=1e-6, zero_params=None):
        super().__init__(stabilizer=stabilizer, zero_params=zero_params)
        self.gamma = float(gamma)

    def _params(self):
        return {"gamma": self.gamma, "stabilizer": self.stabilizer}

    def prepare(self, W, b):
        W_orig, b0 = W, b
        W = self._weight(W)
        b = self._bias(b)
        g = self.gamma
        Wgp = W + g * W.clamp(min=0)
        Wgn = W + g * W.clamp(max=0)
        P = {"Wgp": Wgp, "Wgn": Wgn,
             "bgp": None if b is None else b + g * b.clamp(min=0),
             "bgn": None if b is None else b + g * b.clamp(max=0),
             "W_orig": W_orig, "Wp": W.clamp(min=0), "b_orig": b0,
             "bp": None if b is None else b.clamp(min=0)}
        if g > 0:
            base = torch.zeros(W.shape[0], dtype=W.dtype, device=W.device) if b is None else b.clamp(min=0)
            P["bp_fast"] = base + self.stabilizer / g
        return P

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        Wgp, Wgn = P["Wgp"], P["Wgn"]
        if z is None:
            z = layer.forward(x, P["W_orig"], P["b_orig"])
        has_neg = bool((x < 0).any())
        if not has_neg and not self.zero_params and self.gamma > 0 and self.stabilizer > 0:
            # fast path for x >= 0 (one extra forward): with zpb = w^+ x + b^+,
            #   z > 0: denominator z + g * zpb           = (w + g w^+) x + b + g b^+
            #   z < 0: denominator z + g * (z - zpb)     = (w + g w^-) x + b + g b^-
            # The denominator is > 0 where z > 0 and < 0 where z < 0, so zennit's stabiliser
            # (+eps resp. -eps) is folded in by adding eps / gamma to zpb's bias.
            zpb = layer.forward(x, P["Wp"], P["bp_fast"])
            pos = z > 0
            d = torch.add(z, torch.where(pos, zpb, z - zpb), alpha=self.gamma)
            s = R / d
            neg = z < 0
            if bool((R != 0).logical_and_(neg).any()):
                sp = s * pos
                sn = s * neg
                M = layer.transpose2(sp, Wgp, sn, Wgn, x.shape, cache=P)
            else:
                # no relevance reaches a negative output (the usual case when a ReLU
                # follows, which zeroes those units' relevance): one transposed map
                M = layer.transpose(torch.where(pos, s, 0.0), Wgp, x.shape)
            out = x * M
            return (out, M) if want_multiplier else out
        xp = x.clamp(min=0)
        xn = x.clamp(max=0)
        dpos = layer.forward(xp, Wgp, P["bgp"]) + layer.forward(xn, Wgn, None)
        dneg = layer.forward(xp, Wgn, P["bgn"]) + layer.forward(xn, Wgp, None)
        sp = torch.where(z > 0, self.divide(R, dpos), 0.0)
        sn = torch.where(z < 0, self.divide(R, dneg), 0.0)
        Mp = layer.transpose2(sp, Wgp, sn, Wgn, x.shape)
        Mn = layer.transpose2(sp, Wgn, sn, Wgp, x.shape)
        out = xp * Mp + xn * Mn
        if want_multiplier:
            return out, torch.where(x < 0, Mn, Mp)
        return out


class ZBox(Rule):
    """LRP-zB (bounded input): ``(x_i w_ij - l_i w_ij^+ - h_i w_ij^-) / sum_i'(...)``.

    Parameters
    ----------
    low, high : float or torch.Tensor
        Lowest and highest possible input values, broadcastable to one sample's input
        (e.g. ``(4, 1)``); for one-hot DNA 0 and 1 (the defaults here).
    stabilizer : float
        Stabiliser (default 1e-6).
    zero_params : list of str, optional
        Parameter names treated as zero.
    """

    multiplies_input = False

    def __init__(self, low=0.0, high=1.0, stabilizer=1e-6, zero_params=None):
        super().__init__(stabilizer=stabilizer, zero_params=zero_params)
        self.low = low
        self.high = high

    def _params(self):
        return {"low": self.low, "high": self.high, "stabilizer": self.stabilizer}

    def prepare(self, W, b):
        Wm = self._weight(W)
        return {"W": Wm, "Wp": Wm.clamp(min=0), "Wn": Wm.clamp(max=0), "b": b,
                "recompute": bool(self.zero_params)}

    def _bound(self, v, x):
        if isinstance(v, torch.Tensor):
            return v.to(device=x.device, dtype=x.dtype).expand(x.shape)
        return torch.full_like(x, float(v))

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        W, Wp, Wn = P["W"], P["Wp"], P["Wn"]
        lo = self._bound(self.low, x)
        hi = self._bound(self.high, x)
        use_lo = bool((lo != 0).any())
        use_hi = bool((hi != 0).any())
        if z is not None and not P["recompute"]:
            d = z if P["b"] is None else z - layer.expand_bias(P["b"], z)
        else:
            d = layer.forward(x, W, None)
        # bound terms do not depend on the input values: computed on one sample when the
        # bounds are the same for every sample, and cached by shape
        for use, which, bound, Wb in ((use_lo, "low", lo, Wp), (use_hi, "high", hi, Wn)):
            if not use:
                continue
            key = (which, tuple(x.shape[1:]), x.dtype, str(x.device))
            if self._batch_independent(bound):
                cache = P.setdefault("_cache", {})
                if key not in cache:
                    cache[key] = layer.forward(bound[:1], Wb, None)
                d = d - cache[key]
            else:
                d = d - layer.forward(bound, Wb, None)
        s = self.divide(R, d)
        M = layer.transpose(s, W, x.shape)
        bound_terms = None
        if use_lo:
            bound_terms = lo * layer.transpose(s, Wp, x.shape)
        if use_hi:
            t = hi * layer.transpose(s, Wn, x.shape)
            bound_terms = t if bound_terms is None else bound_terms + t
        out = x * M if bound_terms is None else x * M - bound_terms
        if not want_multiplier:
            return out
        # hypothetical score of base b at a position: the relevance that position would get
        # with base b observed, (W^T s)_b minus the bound terms of all four rows (they do
        # not depend on which base is observed). At the observed base of a one-hot column it
        # equals the column's summed relevance.
        if x.ndim < 3:
            raise ValueError("hypothetical zB scores need a position axis: input (N, 4, L)")
        H = M if bound_terms is None else M - bound_terms.sum(1, keepdim=True)
        return out, H

    def _batch_independent(self, bound):
        return not (isinstance(self.low, torch.Tensor) and self.low.ndim == bound.ndim and self.low.shape[0] > 1) \
            and not (isinstance(self.high, torch.Tensor) and self.high.ndim == bound.ndim and self.high.shape[0] > 1)


class WSquare(Rule):
    """LRP-w^2: ``w_ij^2 / (sum_i' w_i'j^2 + b_j^2)``; ignores the input values.

    Parameters
    ----------
    stabilizer : float
        Stabiliser (default 1e-6).
    zero_params : list of str, optional
        Parameter names treated as zero.
    """

    multiplies_input = False
    has_hypothetical = False

    def prepare(self, W, b):
        W = self._weight(W)
        b = self._bias(b)
        return {"W2": W ** 2, "b2": None if b is None else b ** 2}

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        if want_multiplier:
            raise ValueError("hypothetical scores are not defined for the WSquare rule "
                             "(it does not multiply by the input)")
        d = layer.forward(torch.ones_like(x), P["W2"], P["b2"])
        return layer.transpose(self.divide(R, d), P["W2"], x.shape)


class Flat(Rule):
    """LRP-flat: every input feeding an output gets an equal share (bias ignored).

    Parameters
    ----------
    stabilizer : float
        Stabiliser (default 1e-6).
    zero_params : list of str, optional
        Accepted for zennit compatibility (the bias is always ignored).
    """

    multiplies_input = False
    has_hypothetical = False

    def prepare(self, W, b):
        return {"W1": torch.ones_like(W)}

    def relevance(self, layer, P, x, z, R, want_multiplier=False):
        if want_multiplier:
            raise ValueError("hypothetical scores are not defined for the Flat rule "
                             "(it does not multiply by the input)")
        d = layer.forward(torch.ones_like(x), P["W1"], None)
        return layer.transpose(self.divide(R, d), P["W1"], x.shape)


#: rule name -> class (for CLI/config use)
RULES = {
    "zero": ZeroRule, "epsilon": Epsilon, "gamma": Gamma, "zplus": ZPlus,
    "alphabeta": AlphaBeta, "zbox": ZBox, "flat": Flat, "wsquare": WSquare,
    "pass": Pass, "norm": Norm,
}
