"""sparselrp: sparse nucleotide attributions with pruned layer-wise relevance propagation.

The public API (see the README) is re-exported here. Submodules are imported on
first use, so ``import sparselrp`` and the command line start quickly.

>>> import sparselrp as sl
>>> X = sl.one_hot_encode_batch(["ACGTACGT", "TTGCAANN"])
>>> R = sl.lrp(model, X, target=0, pruning=sl.MassPrune(0.5))   # doctest: +SKIP
"""

import importlib

__version__ = "0.1.0"

# The relevance API is imported eagerly: ``sparselrp.lrp`` is both a subpackage
# and the function of the public API, and this binding makes the name the
# function whatever was imported first.
from .lrp import LRP, MassPrune, TopK, lrp  # noqa: E402
from .lrp.plrp import plrp, project  # noqa: E402

# public name -> submodule that defines it (``sl.diagnose`` is the callable
# ``sparselrp.diagnose`` package itself, so ``sl.diagnose(model, X)`` and
# ``sl.diagnose.THRESHOLDS`` both work)
_EXPORTS = {
    # sequences
    "one_hot_encode": "sequence",
    "one_hot_encode_batch": "sequence",
    "decode": "sequence",
    "reverse_complement": "sequence",
    "dinucleotide_shuffle": "sequence",
    # relevance
}

_SUBMODULES = {
    "sequence", "genome", "models", "metrics", "simulate", "motifs", "plot",
    "io", "data", "diagnose", "errors", "cli", "tracks",
}

__all__ = sorted(set(_EXPORTS) | _SUBMODULES | {"lrp", "plrp", "project", "LRP", "TopK", "MassPrune"})


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'sparselrp' has no attribute {name!r}")


def __dir__():
    return __all__
