"""Composites: which rule explains which layer.

A :class:`Composite` assigns a rule to every explained node of a captured graph:

* ``layer`` nodes - Conv1d (``"conv"``), Linear (``"linear"``) and unfolded BatchNorm
  (``"batchnorm"``, always epsilon unless mapped by name);
* ``norm`` nodes - residual adds / sums (``"sum"``) and average pooling (``"avgpool"``).

Matching order: ``name_map`` (module path or fx node name) > ``first_map`` (the first
layer(s), those fed by the input X through shape-only ops) > ``layer_map`` (module type,
e.g. ``torch.nn.Conv1d``, or one of the kind strings above) > the built-in defaults
(sums and average pools: ``Norm()``; unfolded BatchNorm: ``Epsilon()``). Rules are matched
by module type: a 1x1 convolution head gets the convolution rule; functional calls count
as their module type (``F.conv1d`` is a ``torch.nn.Conv1d``).

Named presets (``COMPOSITES``; zennit's names with ``-`` instead of ``_``):

=========================  ============================  ================  ===========
name                       first layer                   convolutions      dense
=========================  ============================  ================  ===========
zero                       LRP-0                         LRP-0             LRP-0
epsilon                    epsilon                       epsilon           epsilon
epsilon-plus               z+                            z+                epsilon
epsilon-plus-flat          flat (conv or dense)          z+                epsilon
epsilon-gamma-box          zB (0, 1) (conv only)         gamma 0.25        epsilon
epsilon-gamma              gamma 0.25                    gamma 0.25        epsilon
epsilon-alpha2-beta1       alpha2-beta1                  alpha2-beta1      epsilon
epsilon-alpha2-beta1-flat  flat (conv or dense)          alpha2-beta1      epsilon
best-practice              zB (0, 1) (conv only)         gamma 0.25        epsilon
=========================  ============================  ================  ===========

``best-practice`` (the default) follows Kohlbrenner et al. 2020: a bounds-aware rule on
the input layer (zB with the one-hot bounds 0 and 1, so absent bases and N columns can
receive relevance), gamma (0.25) on convolutions, epsilon (1e-6) on dense layers; it
equals ``epsilon-gamma-box`` with one-hot bounds. ``zero`` also uses LRP-0 (0/0 := 0) on
sums and average pools. ``epsilon-gamma`` (sparselrp's, not a zennit preset) is
``epsilon-gamma-box`` without the box: the first convolution keeps the gamma rule, which
multiplies by the input, so a mismatching base inside a motif gets its own (often
negative) relevance; it is the composite of :func:`sparselrp.plrp`. Every preset takes zennit's keyword arguments (``epsilon``,
``stabilizer``, ``gamma``, ``low``, ``high``, ``zero_params``).
"""

import torch.nn as nn

from .rules import AlphaBeta, Epsilon, Flat, Gamma, Norm, Rule, ZBox, ZeroRule, ZPlus

_KIND_TYPES = {
    "conv": (nn.Conv1d,),
    "convolution": (nn.Conv1d,),
    "linear": (nn.Linear,),
    "dense": (nn.Linear,),
    "batchnorm": (nn.BatchNorm1d,),
    "sum": (),
    "avgpool": (nn.AvgPool1d, nn.AdaptiveAvgPool1d),
}


class NodeInfo:
    """What a composite sees of a node.

    Attributes
    ----------
    name : str
        Module path (or fx node name of a functional call).
    kind : {"conv", "linear", "batchnorm", "sum", "avgpool"}
    module_type : type or None
        The module class (functional calls: the equivalent module class).
    is_first : bool
        Whether the node is a first layer (fed by X through shape-only ops).
    """

    def __init__(self, name, kind, module_type, is_first, fx_name=None):
        self.name = name
        self.kind = kind
        self.module_type = module_type
        self.is_first = is_first
        self.fx_name = fx_name

    def __repr__(self):
        return f"NodeInfo({self.name!r}, {self.kind!r}, first={self.is_first})"


def _matches(key, info):
    if isinstance(key, str):
        key = key.lower()
        if key not in _KIND_TYPES:
            raise ValueError(f"unknown layer kind {key!r} in a composite map; use a module type or one of "
                             f"{sorted(_KIND_TYPES)}")
        if key in ("sum",):
            return info.kind == "sum"
        if key == "avgpool":
            return info.kind == "avgpool"
        if key == "batchnorm":
            return info.kind == "batchnorm"
        return info.kind == key or (key in ("convolution",) and info.kind == "conv") or \
            (key == "dense" and info.kind == "linear")
    if isinstance(key, type):
        return info.module_type is not None and issubclass(info.module_type, key)
    if isinstance(key, (tuple, list)):
        return any(_matches(k, info) for k in key)
    raise TypeError(f"composite map keys must be module types or kind strings, got {key!r}")


def _as_pairs(mapping):
    if mapping is None:
        return []
    if isinstance(mapping, dict):
        return list(mapping.items())
    return list(mapping)


class Composite:
    """A rule assignment by module name, first layer and module type.

    Parameters
    ----------
    layer_map : dict or list of (key, Rule)
        Keys: module types (``torch.nn.Conv1d``), tuples of them, or kind strings
        ``"conv"``, ``"linear"``, ``"batchnorm"``, ``"sum"``, ``"avgpool"``.
    first_map : dict or list of (key, Rule), optional
        As ``layer_map``, applied to the first layer(s) only.
    name_map : dict {str: Rule} or list of (names, Rule), optional
        By module path or fx node name; names win over everything else.
    sum_rule : Rule, optional
        Default for sums and average pools (``Norm()``).
    batchnorm_rule : Rule, optional
        Default for BatchNorms that cannot be folded (``Epsilon()``).
    name : str, optional
        A label.
    """

    def __init__(self, layer_map=None, first_map=None, name_map=None, sum_rule=None, batchnorm_rule=None,
                 name="custom"):
        self.layer_map = _as_pairs(layer_map)
        self.first_map = _as_pairs(first_map)
        self.name_map = []
        for names, rule in _as_pairs(name_map):
            names = (names,) if isinstance(names, str) else tuple(names)
            self.name_map.append((names, rule))
        self.sum_rule = Norm() if sum_rule is None else sum_rule
        self.batchnorm_rule = Epsilon() if batchnorm_rule is None else batchnorm_rule
        self.name = name
        for _, r in self.layer_map + self.first_map + self.name_map:
            if not isinstance(r, Rule):
                raise TypeError(f"composite rules must be Rule instances (e.g. sparselrp.lrp.Gamma()), got {r!r}")

    def __repr__(self):
        return f"Composite({self.name!r})"

    def rule_for(self, info):
        """The rule for a node (``None``: plain gradient, used for nothing here).

        Parameters
        ----------
        info : NodeInfo

        Returns
        -------
        Rule
        """
        for names, rule in self.name_map:
            if info.name in names or (info.fx_name is not None and info.fx_name in names):
                return rule
        if info.is_first:
            for key, rule in self.first_map:
                if _matches(key, info):
                    return rule
        for key, rule in self.layer_map:
            if _matches(key, info):
                return rule
        if info.kind in ("sum", "avgpool"):
            return self.sum_rule
        if info.kind == "batchnorm":
            return self.batchnorm_rule
        raise ValueError(f"composite {self.name!r} has no rule for {info.kind} layer '{info.name}'")

    def with_names(self, name_map):
        """A copy with extra name-matched rules (they take precedence)."""
        c = Composite(self.layer_map, self.first_map, None, self.sum_rule, self.batchnorm_rule, self.name)
        c.name_map = [((n,) if isinstance(n, str) else tuple(n), r) for n, r in _as_pairs(name_map)] + self.name_map
        return c


def zero(zero_params=None, **_):
    """LRP-0 everywhere (sums included), no stabiliser, 0/0 := 0."""
    r = ZeroRule(zero_params=zero_params)
    return Composite({"conv": r, "linear": r}, sum_rule=Norm(stabilizer=0.0), name="zero")


def epsilon(epsilon=1e-6, stabilizer=1e-6, zero_params=None, **_):
    """Epsilon on every convolution and dense layer (the first included)."""
    r = Epsilon(epsilon, zero_params=zero_params)
    return Composite({"conv": r, "linear": r}, sum_rule=Norm(stabilizer), name="epsilon")


def epsilon_plus(epsilon=1e-6, stabilizer=1e-6, zero_params=None, **_):
    """z+ on convolutions, epsilon on dense layers (zennit EpsilonPlus)."""
    return Composite({"conv": ZPlus(stabilizer, zero_params), "linear": Epsilon(epsilon, zero_params)},
                     sum_rule=Norm(stabilizer), name="epsilon-plus")


def epsilon_plus_flat(epsilon=1e-6, stabilizer=1e-6, zero_params=None, **_):
    """Flat on the first (conv or dense) layer, z+ on convolutions, epsilon on dense layers."""
    return Composite({"conv": ZPlus(stabilizer, zero_params), "linear": Epsilon(epsilon, zero_params)},
                     first_map={("conv", "linear"): Flat(stabilizer, zero_params)},
                     sum_rule=Norm(stabilizer), name="epsilon-plus-flat")


def epsilon_gamma_box(low=0.0, high=1.0, epsilon=1e-6, gamma=0.25, stabilizer=1e-6, zero_params=None, **_):
    """zB on the first convolution, gamma on convolutions, epsilon on dense layers
    (zennit EpsilonGammaBox; one-hot bounds 0 and 1 by default)."""
    return Composite({"conv": Gamma(gamma, stabilizer, zero_params), "linear": Epsilon(epsilon, zero_params)},
                     first_map={"conv": ZBox(low, high, stabilizer, zero_params)},
                     sum_rule=Norm(stabilizer), name="epsilon-gamma-box")


def epsilon_gamma(epsilon=1e-6, gamma=0.25, stabilizer=1e-6, zero_params=None, **_):
    """Gamma on every convolution (the first included), epsilon on dense layers."""
    return Composite({"conv": Gamma(gamma, stabilizer, zero_params), "linear": Epsilon(epsilon, zero_params)},
                     sum_rule=Norm(stabilizer), name="epsilon-gamma")


def epsilon_alpha2_beta1(epsilon=1e-6, stabilizer=1e-6, zero_params=None, **_):
    """alpha2-beta1 on convolutions, epsilon on dense layers (zennit EpsilonAlpha2Beta1)."""
    return Composite({"conv": AlphaBeta(2.0, 1.0, stabilizer, zero_params), "linear": Epsilon(epsilon, zero_params)},
                     sum_rule=Norm(stabilizer), name="epsilon-alpha2-beta1")


def epsilon_alpha2_beta1_flat(epsilon=1e-6, stabilizer=1e-6, zero_params=None, **_):
    """Flat on the first layer, alpha2-beta1 on convolutions, epsilon on dense layers."""
    return Composite({"conv": AlphaBeta(2.0, 1.0, stabilizer, zero_params), "linear": Epsilon(epsilon, zero_params)},
                     first_map={("conv", "linear"): Flat(stabilizer, zero_params)},
                     sum_rule=Norm(stabilizer), name="epsilon-alpha2-beta1-flat")


def best_practice(low=0.0, high=1.0, epsilon=1e-6, gamma=0.25, stabilizer=1e-6, zero_params=None, **_):
    """Kohlbrenner et al. (2020) for one-hot DNA: zB (0, 1) on the input layer, gamma 0.25
    on convolutions, epsilon on dense layers."""
    c = epsilon_gamma_box(low, high, epsilon, gamma, stabilizer, zero_params)
    c.name = "best-practice"
    return c


#: name -> factory (keyword arguments as zennit's composites)
COMPOSITES = {
    "zero": zero,
    "epsilon": epsilon,
    "epsilon-plus": epsilon_plus,
    "epsilon-plus-flat": epsilon_plus_flat,
    "epsilon-gamma-box": epsilon_gamma_box,
    "epsilon-gamma": epsilon_gamma,
    "epsilon-alpha2-beta1": epsilon_alpha2_beta1,
    "epsilon-alpha2-beta1-flat": epsilon_alpha2_beta1_flat,
    "best-practice": best_practice,
}


def get_composite(composite="best-practice", **kwargs):
    """Resolve a composite name, object or custom map.

    Parameters
    ----------
    composite : str, Composite or dict
        A name of :data:`COMPOSITES` (``_`` and ``-`` both accepted), a :class:`Composite`,
        or a dict mapping module types / kind strings / module names to rules (names that
        are not kind strings are matched as module paths; unmapped layers use
        ``best-practice``).
    **kwargs
        Passed to a named composite's factory (e.g. ``epsilon=0.1``).

    Returns
    -------
    Composite
    """
    if isinstance(composite, Composite):
        return composite
    if composite is None:
        composite = "best-practice"
    if isinstance(composite, str):
        key = composite.strip().lower().replace("_", "-")
        if key not in COMPOSITES:
            raise ValueError(f"unknown composite {composite!r}; choose one of {', '.join(COMPOSITES)}")
        return COMPOSITES[key](**kwargs)
    if isinstance(composite, dict):
        base = best_practice(**kwargs)
        layer_map, name_map = [], []
        for k, r in composite.items():
            if isinstance(k, str) and k.lower() not in _KIND_TYPES:
                name_map.append((k, r))
            else:
                layer_map.append((k, r))
        c = Composite(layer_map + base.layer_map, base.first_map, name_map, base.sum_rule, base.batchnorm_rule,
                      name="custom")
        # explicit type maps override the first-layer preset for those types
        if layer_map:
            c.first_map = [(k, r) for k, r in base.first_map
                           if not any(_key_overlap(k, k2) for k2, _ in layer_map)]
        return c
    raise TypeError(f"composite must be a name, a Composite or a dict, got {type(composite).__name__}")


def _key_overlap(a, b):
    def norm(k):
        if isinstance(k, (tuple, list)):
            return set().union(*(norm(x) for x in k))
        if isinstance(k, str):
            return {t for t in _KIND_TYPES.get(k.lower(), ())} | {k.lower()}
        return {k}
    A, B = norm(a), norm(b)
    conv = {nn.Conv1d, "conv", "convolution"}
    lin = {nn.Linear, "linear", "dense"}
    return bool(A & B) or (bool(A & conv) and bool(B & conv)) or (bool(A & lin) and bool(B & lin))
