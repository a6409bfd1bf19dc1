"""The recommended sparse attributions: :func:`plrp`, and :func:`project`.

:func:`plrp` is pruned LRP with the composite and the pruning that the validation suite
(``benchmarks/validation_suite.py``, table in docs/plrp.md) chose across architectures,
lengths and data sets. :func:`sparselrp.lrp` keeps its own contract (best-practice,
no pruning) and its zennit parity.

Kinds of attribution maps (the field's conventions, tangermeme and TF-MoDISco):

* raw: what the relevance pass gives, ``(N, 4, L)``; under a zB first layer absent bases
  and N columns carry relevance too;
* projected: each position's relevance (the sum over its four rows) placed on the
  observed base, ``(N, 4, L)``, zero on absent bases and N columns (:func:`project`);
* hypothetical: what each of the four bases would receive at each position, ``(N, 4, L)``;
  ``(H * X).sum(1)`` equals the projected map's per-position value.
"""

import warnings

import torch

from .api import LRP
from .pruning import MassPrune, Pruning, TopK

#: composite of :func:`plrp`: zB (0, 1) on the first convolution, gamma 0.25 on the others,
#: epsilon on dense layers (best-practice). In the validation suite it localised motifs better
#: than gamma on the first layer (epsilon-gamma) on every planted model (docs/plrp.md)
RECOMMENDED_COMPOSITE = "best-practice"

#: share of units :func:`plrp` keeps per pruned tensor and sample (positive units only)
RECOMMENDED_K = 0.1

#: where :func:`plrp` prunes: the input of every convolution and dense layer but the first
#: (None); pruning only the convolution stack ("positions") did not help in the suite
RECOMMENDED_LAYERS = None

#: how :func:`plrp` selects: single units (None); keeping whole positions ("position")
#: dropped motif instances in the suite
RECOMMENDED_GROUP = None


def recommended_pruning(p=None, k=None, redistribute="lambda"):
    """The pruning :func:`plrp` uses: the top 10 % positive units of every layer input.

    Parameters
    ----------
    p : float, optional
        Mass pruning instead: drop this share of each pruned tensor's positive and negative
        relevance mass (``MassPrune(p)``); ``0`` prunes nothing.
    k : int or float, optional
        Keep the top ``k`` positive units (a count or a share; default :data:`RECOMMENDED_K`);
        negative units are dropped (``TopK(k, positive_only=True)``).
    redistribute : {"lambda", "matrix", "none"}

    Returns
    -------
    TopK or MassPrune
    """
    if p is not None and k is not None:
        raise ValueError("give either p (mass pruning) or k (top-k), not both")
    if p is not None:
        return MassPrune(p, redistribute=redistribute, layers=RECOMMENDED_LAYERS, group=RECOMMENDED_GROUP)
    return TopK(RECOMMENDED_K if k is None else k, redistribute=redistribute, layers=RECOMMENDED_LAYERS,
                group=RECOMMENDED_GROUP, positive_only=True)


def project(R, X):
    """Projected contributions: each position's summed relevance placed on its observed base.

    Parameters
    ----------
    R : torch.Tensor
        ``(N, 4, L)`` raw attributions. For hypothetical scores ``H`` pass ``H * X``
        (``project(H, X)`` would sum all four bases' scores instead).
    X : torch.Tensor
        ``(N, 4, L)`` one-hot input.

    Returns
    -------
    torch.Tensor
        ``(N, 4, L)``: ``X * R.sum(1)`` per position; absent bases and N columns are zero.
    """
    if R.shape != X.shape or R.ndim != 3:
        raise ValueError(f"project: R {tuple(R.shape)} and X {tuple(X.shape)} must both be (N, 4, L)")
    return X.to(R.dtype) * R.sum(1, keepdim=True)


def plrp(model, X, target=0, hypothetical=False, composite=None, pruning=None, p=None, k=None,
         batch_size=256, device=None, strand_average=False, progress=False, return_layers=False,
         strand_pairs=None):
    """Recommended sparse attributions for a genome model (pruned LRP).

    Parameters
    ----------
    model : torch.nn.Module
        Built from supported operations; not modified.
    X : torch.Tensor
        ``(N, 4, L)`` one-hot DNA (rows A, C, G, T), float32 or float64.
    target : int, sequence of N ints, or callable
        As :func:`sparselrp.lrp`.
    hypothetical : bool
        Return hypothetical scores ``(N, 4, L)`` for all four bases instead of the
        projected map (what TF-MoDISco wants beside the one-hot).
    composite : str, Composite or dict, optional
        Default :data:`RECOMMENDED_COMPOSITE`. Flat and w-square first layers have no
        hypothetical scores.
    pruning : TopK, MassPrune, False or None, optional
        Default: :func:`recommended_pruning` (``TopK(0.1, positive_only=True)`` on the input
        of every convolution and dense layer but the first: the top 10 % positive units,
        negative relevance dropped); ``False`` gives plain LRP with the same composite.
    p, k : float, optional
        Shortcuts for ``pruning=recommended_pruning(p=p)`` / ``(k=k)``.
    batch_size, device, strand_average, progress, return_layers, strand_pairs
        As :meth:`sparselrp.LRP.attribute` (``strand_pairs``: which output answers a
        target on the reverse strand, for stranded outputs with ``strand_average``).

    Returns
    -------
    torch.Tensor
        ``(N, 4, L)`` projected contributions (or hypothetical scores), with X's dtype and
        device (with ``return_layers``: ``(R, layers)``).

    Examples
    --------
    >>> R = sl.plrp(model, X, target=0)                        # doctest: +SKIP
    >>> H = sl.plrp(model, X, target=0, hypothetical=True)     # doctest: +SKIP
    >>> bool(torch.allclose((H * X).sum(1), R.sum(1)))         # doctest: +SKIP
    True
    """
    if pruning is None:
        pruning = recommended_pruning(p=p, k=k)
    elif p is not None or k is not None:
        raise ValueError("give either pruning= or the p=/k= shortcuts, not both")
    elif pruning is False:
        pruning = None
    elif not isinstance(pruning, Pruning):
        raise TypeError(f"pruning must be sparselrp.TopK(...), sparselrp.MassPrune(...), False or None, "
                        f"got {pruning!r}")
    _warn_if_setting_collapsed(pruning)
    explainer = LRP(model, composite=RECOMMENDED_COMPOSITE if composite is None else composite, pruning=pruning,
                    device=device)
    out = explainer.attribute(X, target=target, batch_size=batch_size, hypothetical=hypothetical,
                              strand_average=strand_average, progress=progress, return_layers=return_layers,
                              strand_pairs=strand_pairs)
    if hypothetical:
        return out
    if return_layers:
        R, layers = out
        return _project_if_onehot(R, X), layers
    return _project_if_onehot(out, X)


def _warn_if_setting_collapsed(pruning):
    """Warn where the validation suite saw a setting drop causal motif instances on some model
    (docs/plrp.md): a fractional TopK below 0.05, or mass pruning of p >= 0.5."""
    if isinstance(pruning, TopK) and isinstance(pruning.k, float) and pruning.k < 0.05:
        warnings.warn(f"{pruning!r}: in the validation suite a TopK below 0.05 dropped one of two causal motifs "
                      f"in up to 40 % of the sequences (docs/plrp.md); k=0.1 (the default) or more keeps them",
                      UserWarning, stacklevel=3)
    elif isinstance(pruning, MassPrune) and pruning.p is not None and float(pruning.p) >= 0.5:
        warnings.warn(f"{pruning!r}: in the validation suite mass pruning at p >= 0.5 recalled only 45-78 % of "
                      f"the causal motif instances at 200 bp, turning some motifs negative (docs/plrp.md); "
                      f"sl.plrp's default, TopK(0.1, positive_only=True), recalled 91-99 % on the planted models "
                      f"that learned",
                      UserWarning, stacklevel=3)


def _project_if_onehot(R, X):
    if R.ndim == 3 and R.shape[1] == 4:
        return project(R, X)
    return R
