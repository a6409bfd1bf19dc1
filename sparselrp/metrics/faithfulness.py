"""Faithfulness by deletion: most relevant positions first, against a random order."""

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ._common import position_relevance, to_numpy


@dataclass(frozen=True)
class FaithfulnessResult:
    """Deletion curves and AOPC of :func:`faithfulness`.

    With K steps, N samples and L positions:

    Attributes
    ----------
    n_deleted : numpy.ndarray
        (K + 1,) int, positions deleted before each model evaluation (0 first).
    curve : numpy.ndarray
        (N, K + 1) float64, model output f_t after each step, deleting the most
        relevant positions first; ``curve[:, 0]`` is f_t(x).
    random_curve : numpy.ndarray
        (N, K + 1) float64, the same for a random deletion order (averaged over
        ``n_random`` orders).
    aopc : numpy.ndarray
        (N,) float64, area over the perturbation curve,
        mean_{k=1..K} (f_t(x) - f_t(x_k)) / |f_t(x)|; NaN where f_t(x) = 0.
    random_aopc : numpy.ndarray
        (N,) float64, the same for the random order.
    aopc_mean, random_aopc_mean : float
        Means over the samples where the AOPC is defined.
    n_undefined : int
        Samples with f_t(x) = 0, left out of the means.
    """

    n_deleted: np.ndarray = field(repr=False)
    curve: np.ndarray = field(repr=False)
    random_curve: np.ndarray = field(repr=False)
    aopc: np.ndarray = field(repr=False)
    random_aopc: np.ndarray = field(repr=False)
    aopc_mean: float
    random_aopc_mean: float
    n_undefined: int


def _model_device(model, X):
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return X.device


def _select(output, target, rows):
    """Reduce a model output (B, ...) to one value per row; ``rows`` (B,) are sample indices."""
    if callable(target):
        y = target(output)
        if not isinstance(y, torch.Tensor) or y.shape != (output.shape[0],):
            got = tuple(y.shape) if hasattr(y, "shape") else type(y).__name__
            raise ValueError(f"target callable must return a tensor of shape ({output.shape[0]},), got {got}")
        return y
    if output.ndim == 1:
        output = output[:, None]
    if output.ndim != 2:
        raise ValueError(
            f"the model output has shape {tuple(output.shape)}; pass target as a callable that "
            "reduces it to one value per sample"
        )
    if isinstance(target, torch.Tensor):
        idx = target.to(output.device)[rows]
    else:
        idx = torch.full((output.shape[0],), int(target), device=output.device, dtype=torch.long)
    if (idx < 0).any() or (idx >= output.shape[1]).any():
        raise ValueError(f"target index out of range for a model with {output.shape[1]} outputs")
    return output.gather(1, idx[:, None])[:, 0]


def _background(background, X, generator, random_state=0):
    if isinstance(background, str):
        if background == "zeros":
            return torch.zeros((1, 1, 1), dtype=X.dtype, device=X.device).expand_as(X)
        if background == "uniform":
            return torch.full((1, 1, 1), 0.25, dtype=X.dtype, device=X.device).expand_as(X)
        if background in ("shuffle", "dinucleotide"):
            from ..sequence import dinucleotide_shuffle

            return dinucleotide_shuffle(X.cpu(), n=1, random_state=int(random_state))[:, 0].to(X.device, X.dtype)
        if background == "mononucleotide":
            # mononucleotide shuffle: a random permutation of each sample's own columns
            keys = torch.rand(X.shape[0], X.shape[2], generator=generator).to(X.device)
            perm = keys.argsort(dim=1)
            return X.gather(2, perm[:, None, :].expand_as(X))
        raise ValueError(
            "background must be 'zeros', 'uniform', 'shuffle' (= 'dinucleotide'), 'mononucleotide' "
            f"or an array, got {background!r}"
        )
    bg = torch.as_tensor(to_numpy(background, "background") if not isinstance(background, torch.Tensor) else background)
    bg = bg.to(device=X.device, dtype=X.dtype)
    if bg.ndim == 1:
        bg = bg[None, :, None]
    elif bg.ndim == 2:
        bg = bg[None]
    try:
        return bg.expand_as(X)
    except RuntimeError as exc:
        raise ValueError(
            f"background of shape {tuple(bg.shape)} does not broadcast to X's shape {tuple(X.shape)}"
        ) from exc


def faithfulness(
    model,
    X,
    R,
    target=0,
    steps=20,
    step_size=0.01,
    background="zeros",
    random_state=0,
    n_random=1,
    batch_size=256,
    device=None,
    progress=False,
    ties="random",
):
    """Deletion faithfulness: delete the most relevant positions first and watch f_t drop.

    Positions are ranked per sample by decreasing signed relevance r_l (sum of the
    four rows of ``R``; ties in a seeded random order by default, so that the many
    exact zeros of a sparse map are not deleted left to right, which would make AOPC
    of sparse and dense maps incomparable). At step k = 1..K the
    first min(k * s, L) positions of that order are replaced by the background
    column and the model output f_t is recorded. The area over the perturbation
    curve, normalised by the unperturbed output, is

        AOPC = 1/K * sum_{k=1..K} (f_t(x) - f_t(x_k)) / |f_t(x)|

    (large = the positions called relevant matter to the model). The same is
    computed for a random deletion order as a baseline. All perturbed inputs are
    evaluated in batches of ``batch_size`` (sample, step) pairs; the model runs in
    eval mode under ``torch.no_grad`` and its mode is restored afterwards.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, 4, L) to outputs (B, C) or (B,) (or anything ``target`` reduces).
    X : torch.Tensor or numpy.ndarray
        One-hot inputs (N, 4, L).
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) (or per-position relevance (N, L)).
    target : int, sequence of int, torch.Tensor or callable
        Output column, one column per sample (N,), or a callable mapping the model
        output (B, ...) to a tensor (B,).
    steps : int
        Number of deletion steps K (>= 1).
    step_size : int or float
        Positions deleted per step: an int count, or a float in (0, 1] as a
        fraction of L (rounded up, at least 1). Default 1 % of L.
    background : {"zeros", "uniform", "shuffle", "dinucleotide", "mononucleotide"} or array-like
        The replacement column: all zeros (an N base), 0.25 everywhere, the column
        at the same position of a dinucleotide shuffle of the sample ("shuffle" and
        "dinucleotide", :func:`sparselrp.sequence.dinucleotide_shuffle`, seeded by
        ``random_state``) or of a mononucleotide shuffle (a random permutation of the
        sample's columns), or explicit values of shape (N, 4, L), (4, L) or (4,).
    random_state : int
        Seed of the random deletion orders and of the shuffle.
    n_random : int
        Number of random orders averaged in the baseline (>= 1).
    batch_size : int
        Perturbed sequences per model call.
    device : str or torch.device, optional
        Where to run; default the model's device.
    progress : bool
        Show a tqdm progress bar.
    ties : {"random", "position"}
        How positions of equal relevance are ordered: a random order seeded by
        ``random_state`` (default), or left to right (the order before 0.2).

    Returns
    -------
    FaithfulnessResult
    """
    if ties not in ("random", "position"):
        raise ValueError(f"ties must be 'random' or 'position', got {ties!r}")
    X = torch.as_tensor(to_numpy(X, "X")) if not isinstance(X, torch.Tensor) else X.detach()
    if X.ndim != 3:
        raise ValueError(f"X: expected one-hot inputs of shape (N, 4, L), got {tuple(X.shape)}")
    if not X.is_floating_point():
        X = X.float()
    r = position_relevance(R)
    n, _, length = X.shape
    if r.shape != (n, length):
        raise ValueError(f"R: shape does not match X {tuple(X.shape)}")
    if int(steps) < 1 or int(n_random) < 1 or int(batch_size) < 1:
        raise ValueError("steps, n_random and batch_size must be >= 1")
    steps, n_random, batch_size = int(steps), int(n_random), int(batch_size)
    if isinstance(step_size, float):
        if not 0 < step_size <= 1:
            raise ValueError(f"a float step_size is a fraction of L in (0, 1], got {step_size}")
        per_step = max(1, math.ceil(step_size * length - 1e-9))
    else:
        per_step = int(step_size)
        if per_step < 1:
            raise ValueError(f"step_size must be >= 1 position, got {step_size}")
    n_deleted = np.minimum(np.arange(steps + 1) * per_step, length)

    dev = torch.device(device) if device is not None else _model_device(model, X)
    X = X.to(dev)
    if not callable(target) and not isinstance(target, (int, np.integer)):
        target = torch.as_tensor(to_numpy(target, "target")).long()
        target = int(target) if target.ndim == 0 else target.reshape(-1)
    if isinstance(target, torch.Tensor) and target.shape != (n,):
        raise ValueError(f"target: expected an int or one index per sample ({n},), got shape {tuple(target.shape)}")

    # deletion rank of every position, per order: (1 + n_random, N, L)
    gen = torch.Generator().manual_seed(int(random_state))
    if ties == "random":
        # a random permutation first, then a stable sort: equal values keep the random order
        perm = np.random.default_rng(int(random_state)).random((n, length)).argsort(axis=1)
        order = np.take_along_axis(perm, np.argsort(-np.take_along_axis(r, perm, axis=1), axis=1, kind="stable"),
                                   axis=1)
    else:
        order = np.argsort(-r, axis=1, kind="stable")
    orders = [torch.as_tensor(order)]
    for _ in range(n_random):
        orders.append(torch.rand(n, length, generator=gen).argsort(dim=1))
    orders = torch.stack(orders)
    ranks = torch.empty_like(orders)
    ranks.scatter_(2, orders, torch.arange(length).expand_as(orders).contiguous())
    ranks = ranks.to(dev)
    bg = _background(background, X, gen, random_state)
    nd = torch.as_tensor(n_deleted, device=dev)

    n_orders = 1 + n_random
    # jobs: (order, step, sample); step 0 (the unperturbed input) only once
    o0 = torch.zeros(n, dtype=torch.long)
    k0 = torch.zeros(n, dtype=torch.long)
    s0 = torch.arange(n)
    oo, kk, ss = torch.meshgrid(
        torch.arange(n_orders), torch.arange(1, steps + 1), torch.arange(n), indexing="ij"
    )
    jobs_o = torch.cat([o0, oo.reshape(-1)]).to(dev)
    jobs_k = torch.cat([k0, kk.reshape(-1)]).to(dev)
    jobs_s = torch.cat([s0, ss.reshape(-1)]).to(dev)
    out = torch.empty(jobs_o.shape[0], dtype=torch.float64, device=dev)

    starts = range(0, jobs_o.shape[0], batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="faithfulness", unit="batch")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in starts:
                o, k, s = (j[start : start + batch_size] for j in (jobs_o, jobs_k, jobs_s))
                deleted = ranks[o, s] < nd[k][:, None]  # (B, L)
                xb = torch.where(deleted[:, None, :], bg[s], X[s])
                out[start : start + batch_size] = _select(model(xb), target, s).double()
    finally:
        model.train(was_training)

    out = out.cpu().numpy()
    f0 = out[:n]
    rest = out[n:].reshape(n_orders, steps, n)
    curves = np.concatenate([np.broadcast_to(f0, (n_orders, 1, n)), rest], axis=1)  # (O, K+1, N)
    curve = curves[0].T.copy()
    random_curve = curves[1:].mean(axis=0).T.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(f0 != 0, np.abs(f0), np.nan)
        aopc = (f0[:, None] - curve[:, 1:]).mean(axis=1) / scale
        random_aopc = (f0[:, None] - random_curve[:, 1:]).mean(axis=1) / scale
    defined = f0 != 0
    return FaithfulnessResult(
        n_deleted=n_deleted,
        curve=curve,
        random_curve=random_curve,
        aopc=aopc,
        random_aopc=random_aopc,
        aopc_mean=float(aopc[defined].mean()) if defined.any() else float("nan"),
        random_aopc_mean=float(random_aopc[defined].mean()) if defined.any() else float("nan"),
        n_undefined=int((~defined).sum()),
    )
