"""Layer-wise relevance propagation and pruned LRP for convolutional genome models.

>>> import sparselrp as sl
>>> R = sl.lrp(model, X, target=0)                                  # doctest: +SKIP
>>> R = sl.lrp(model, X, target=0, pruning=sl.MassPrune(0.5))       # doctest: +SKIP
>>> explainer = sl.LRP(model, composite="epsilon-plus")             # doctest: +SKIP
>>> R, layers = explainer.attribute(X, target=1, return_layers=True)  # doctest: +SKIP

Modules: :mod:`.graph` (capture and canonization), :mod:`.rules`, :mod:`.composites`,
:mod:`.propagate` (the pass), :mod:`.pruning`, :mod:`.targets`, :mod:`.api`, :mod:`.plrp`
(the recommended sparse attributions).
"""

from .api import LRP, conservation, lrp
from .plrp import plrp, project, recommended_pruning
from .composites import COMPOSITES, Composite, get_composite
from .pruning import MassPrune, Pruning, TopK
from .rules import AlphaBeta, Epsilon, Flat, Gamma, Norm, Pass, Rule, WSquare, ZBox, ZeroRule, ZPlus

__all__ = [
    "lrp", "plrp", "project", "recommended_pruning", "LRP", "conservation", "TopK", "MassPrune", "Pruning",
    "Epsilon", "Gamma", "ZPlus", "AlphaBeta", "ZBox", "Flat", "WSquare", "Pass", "Norm", "ZeroRule", "Rule",
    "COMPOSITES", "Composite", "get_composite",
]


# ``sparselrp.lrp`` is both this subpackage and the function. Python binds the attribute
# ``sparselrp.lrp`` to the subpackage on import while the package's lazy export may bind it
# to the function, so the two must be the same object: the subpackage is made callable
# (``sl.lrp(model, X, ...)`` runs :func:`sparselrp.lrp.api.lrp`) and its own ``lrp``
# attribute is the subpackage too (``from sparselrp.lrp import lrp`` gives the callable).
import sys as _sys
import types as _types

from . import api as _api


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return _api.lrp(*args, **kwargs)


_CallableModule.__call__.__doc__ = _api.lrp.__doc__
_sys.modules[__name__].__class__ = _CallableModule
lrp = _sys.modules[__name__]
