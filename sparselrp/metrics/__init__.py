"""Measuring attributions: sparsity, localisation, faithfulness, conservation.

Every metric works on the per-position relevance r_l = sum of the four rows of
an attribution map (N, 4, L) (docs/methods.md section 4), accepts torch tensors or
numpy arrays, and returns per-sample values (N,) with their mean
(:class:`MetricResult`); :func:`summarise` collects the means in a dict.

>>> import numpy as np, sparselrp as sl
>>> R = np.zeros((2, 4, 10)); R[:, 0, 3] = 1.0
>>> round(sl.metrics.gini(R).mean, 3)
0.9
"""

from ._common import MetricResult, position_relevance
from .conservation import conservation_error
from .faithfulness import FaithfulnessResult, faithfulness
from .localisation import attribution_localisation, auprc, auroc, average_ranks, relevance_mass_accuracy
from .sparsity import gini, zero_share
from .summary import summarise, summarize

rma = relevance_mass_accuracy

__all__ = [
    "MetricResult",
    "FaithfulnessResult",
    "position_relevance",
    "gini",
    "zero_share",
    "relevance_mass_accuracy",
    "rma",
    "attribution_localisation",
    "auroc",
    "auprc",
    "average_ranks",
    "faithfulness",
    "conservation_error",
    "summarise",
    "summarize",
]
