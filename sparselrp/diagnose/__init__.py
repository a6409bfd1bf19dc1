"""Fact or artifact: diagnostics that tell when a relevance map cannot be trusted.

>>> import sparselrp as sl
>>> d = sl.diagnose(model, X, target=0)          # doctest: +SKIP
>>> d.flags                                      # doctest: +SKIP
['bias']
>>> print(d.summary_table())                     # doctest: +SKIP

One module per check: :mod:`.bias`, :mod:`.border`, :mod:`.ncolumns`,
:mod:`.randomisation`, :mod:`.strand`; the thresholds and their reasoning are in
:mod:`.thresholds` (and docs/trust.md).
"""

from ._common import Check
from .border import receptive_field
from .core import CHECKS, Diagnosis, diagnose
from .thresholds import THRESHOLDS

__all__ = ["diagnose", "Diagnosis", "Check", "CHECKS", "THRESHOLDS", "receptive_field"]


# ``sparselrp.diagnose`` is both this package and the function: importing the package
# (e.g. ``from sparselrp.diagnose import Diagnosis``) makes Python bind the *module* to
# the attribute ``sparselrp.diagnose``. Make the module callable so that
# ``sl.diagnose(model, X)`` works either way.
import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return diagnose(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
