"""What is explained: the output relevance the pass starts from.

* ``int`` t: ``R_out[:, t] = f_t(x)`` (the explained logit's own value), zero elsewhere;
  the output must be ``(N, K)`` (or ``(N,)``, explained as one column).
* a sequence / tensor of ``N`` ints: one index per sample.
* a callable ``target(output) -> (N,)``: one scalar per sample, explained as a linear
  head: ``R_out = output * d target / d output`` (exact for linear reductions such as a
  sum over a profile; the explained value is ``target(output)``). Tuple outputs and
  outputs with more than two dimensions (profiles) need a callable.
"""

import numbers

import torch


def normalize_target(target, n):
    """Validate ``target`` for ``n`` samples.

    Returns
    -------
    int, torch.Tensor (N,) of int64, or callable
    """
    if callable(target) and not isinstance(target, torch.Tensor):
        return target
    if isinstance(target, bool):
        raise ValueError(f"target must be an int, N ints or a callable, got {target!r}")
    if isinstance(target, numbers.Integral):
        return int(target)
    if isinstance(target, torch.Tensor) and target.ndim == 0:
        return int(target.item())
    try:
        t = torch.as_tensor(target)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"target must be an int, a sequence of N ints or a callable, got {type(target).__name__}") from exc
    if t.is_floating_point() or t.is_complex() or t.ndim != 1:
        raise ValueError(f"target must be an int, a sequence of N ints or a callable; got a tensor of shape "
                         f"{tuple(t.shape)} and dtype {t.dtype}")
    if t.shape[0] != n:
        raise ValueError(f"target has {t.shape[0]} indices but X has {n} samples")
    return t.to(torch.int64)


def _check_finite(out):
    for o in (out if isinstance(out, (tuple, list)) else [out]):
        if isinstance(o, torch.Tensor) and o.is_floating_point() and not bool(torch.isfinite(o).all()):
            raise ValueError("the model output contains NaN or Inf values; cannot explain it")


def output_relevance(out, target):
    """Initial relevance for one batch.

    Parameters
    ----------
    out : torch.Tensor or tuple
        Model output (logits) for the batch, ``(N, K)``, ``(N,)`` or any structure for a
        callable target.
    target : int, torch.Tensor (N,), or callable
        From :func:`normalize_target` (tensor targets already sliced to the batch).

    Returns
    -------
    R_out : same structure as ``out``
    f : torch.Tensor
        ``(N,)`` explained values ``f_t(x)``.
    """
    _check_finite(out)
    if callable(target) and not isinstance(target, torch.Tensor):
        with torch.enable_grad():
            flat = list(out) if isinstance(out, (tuple, list)) else [out]
            leaves = [o.detach().requires_grad_(True) for o in flat]
            arg = type(out)(leaves) if isinstance(out, (tuple, list)) else leaves[0]
            y = target(arg)
            if not isinstance(y, torch.Tensor):
                raise ValueError("a callable target must return a tensor of one scalar per sample")
            n = leaves[0].shape[0]
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.shape != (n,):
                raise ValueError(f"a callable target must return shape (N,) = ({n},), got {tuple(y.shape)}")
            grads = torch.autograd.grad(y.sum(), leaves, allow_unused=True)
        R = [o.detach() * g if g is not None else torch.zeros_like(o) for o, g in zip(leaves, grads)]
        R = type(out)(R) if isinstance(out, (tuple, list)) else R[0]
        return R, y.detach()
    if isinstance(out, (tuple, list)):
        raise ValueError(f"the model returns {len(out)} outputs; give a callable target that reduces them "
                         f"to one scalar per sample (e.g. target=lambda out: out[1][:, 0])")
    if out.ndim > 2:
        raise ValueError(f"the model output has shape {tuple(out.shape)} (more than two dimensions, e.g. a "
                         f"profile); give a callable target reducing it to one scalar per sample, e.g. "
                         f"target=lambda out: out.sum(dim=(1, 2))")
    squeeze = out.ndim == 1
    o = out.unsqueeze(1) if squeeze else out
    n, k = o.shape
    if isinstance(target, int):
        if not 0 <= target < k:
            raise ValueError(f"target index {target} out of range: the model has {k} outputs (0..{k - 1})")
        idx = torch.full((n,), target, dtype=torch.int64, device=o.device)
    else:
        idx = target.to(o.device)
        bad = (idx < 0) | (idx >= k)
        if bool(bad.any()):
            first = int(idx[bad][0])
            raise ValueError(f"target index {first} out of range: the model has {k} outputs (0..{k - 1})")
    f = o.gather(1, idx[:, None])[:, 0]
    R = torch.zeros_like(o).scatter_(1, idx[:, None], f[:, None])
    return (R[:, 0] if squeeze else R), f


def normalize_strand_pairs(strand_pairs):
    """Validate ``strand_pairs``: which output of the reverse strand answers each target.

    Parameters
    ----------
    strand_pairs : sequence of int, dict {int: int}, or None
        ``strand_pairs[t]`` is the output index that, on the reverse-complement input,
        measures what output ``t`` measures on the forward input. For a model with
        outputs ``(plus strand, minus strand)`` that is ``[1, 0]``; for unstranded
        outputs it is the identity (the default, ``None``). A sequence must be a
        permutation of ``0..K-1``; a dict lists only the targets that change.

    Returns
    -------
    dict {int: int} or None
    """
    if strand_pairs is None:
        return None
    if isinstance(strand_pairs, dict):
        items = list(strand_pairs.items())
        full = False
    else:
        try:
            values = [v for v in strand_pairs]
        except TypeError:
            raise ValueError(f"strand_pairs must be a sequence of output indices or a dict, got "
                             f"{type(strand_pairs).__name__}") from None
        items = list(enumerate(values))
        full = True
    out = {}
    for k, v in items:
        if isinstance(k, bool) or isinstance(v, bool) or not isinstance(k, numbers.Integral) \
                or not isinstance(v, numbers.Integral) or k < 0 or v < 0:
            raise ValueError(f"strand_pairs must map output indices to output indices (ints >= 0), got {k!r}: {v!r}")
        out[int(k)] = int(v)
    if len(set(out.values())) != len(out):
        raise ValueError(f"strand_pairs maps two targets to the same reverse-strand output: {strand_pairs!r}")
    if full and sorted(out.values()) != list(range(len(out))):
        raise ValueError(f"strand_pairs must be a permutation of 0..{len(out) - 1}, got {list(strand_pairs)!r}")
    return out


def reverse_strand_target(target, strand_pairs):
    """The target to explain on the reverse-complement input.

    Parameters
    ----------
    target : int, torch.Tensor (N,) of int64, or callable
        As returned by :func:`normalize_target`.
    strand_pairs : dict {int: int} or None
        From :func:`normalize_strand_pairs`; indices it does not list map to themselves.

    Returns
    -------
    The mapped target (the same object when ``strand_pairs`` is None).
    """
    if strand_pairs is None:
        return target
    if callable(target) and not isinstance(target, torch.Tensor):
        raise ValueError("strand_pairs maps output indices; a callable target must pick the reverse strand's "
                         "output itself (give strand_pairs=None)")
    if isinstance(target, int):
        return strand_pairs.get(target, target)
    t = torch.as_tensor(target)
    mapped = t.clone()
    for k, v in strand_pairs.items():
        mapped[t == k] = v
    return mapped
