"""All metrics of an attribution batch in one flat dict (for reports and benchmarks)."""

from .conservation import conservation_error
from .faithfulness import faithfulness
from .localisation import attribution_localisation, auprc, auroc, relevance_mass_accuracy
from .sparsity import gini, zero_share


def summarise(R, mask=None, f=None, model=None, X=None, target=0, **faithfulness_kwargs):
    """Mean of every applicable metric of attributions ``R``.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) (or per-position relevance (N, L)).
    mask : array-like of bool, optional
        Ground truth (N, L) or (L,): adds ``rma``, ``attribution_localisation``,
        ``auroc`` and ``auprc``.
    f : array-like, optional
        Explained outputs (N,): adds ``conservation_error``.
    model : torch.nn.Module, optional
        With ``X`` (N, 4, L): adds ``aopc`` and ``aopc_random`` (see :func:`faithfulness`).
    X : torch.Tensor, optional
        The inputs that were explained.
    target : int, sequence or callable
        Passed to :func:`faithfulness`.
    **faithfulness_kwargs
        Passed to :func:`faithfulness` (steps, step_size, background, ...).

    Returns
    -------
    dict
        str -> float (``n`` and ``n_all_zero`` are ints): always ``n``,
        ``n_all_zero``, ``gini``, ``zero_share``; others as above. Each value is a
        mean over the samples where the metric is defined.
    """
    g = gini(R)
    out = {"n": len(g), "n_all_zero": g.n_all_zero, "gini": g.mean, "zero_share": zero_share(R).mean}
    if mask is not None:
        out["rma"] = relevance_mass_accuracy(R, mask).mean
        out["attribution_localisation"] = attribution_localisation(R, mask).mean
        out["auroc"] = auroc(R, mask).mean
        out["auprc"] = auprc(R, mask).mean
    if f is not None:
        out["conservation_error"] = conservation_error(R, f).mean
    if model is not None:
        if X is None:
            raise ValueError("summarise: faithfulness needs the inputs X as well as the model")
        res = faithfulness(model, X, R, target=target, **faithfulness_kwargs)
        out["aopc"] = res.aopc_mean
        out["aopc_random"] = res.random_aopc_mean
    return out


summarize = summarise
