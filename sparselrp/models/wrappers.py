"""Wrappers that reduce a multi-head model to one scalar per target for explaining.

A wrapper is an ``nn.Module`` whose output is ``(N, T)``, so ``sl.lrp(wrapper, X,
target=t)`` explains target ``t`` like any classifier. The wrapped model is not
copied or modified.
"""

import torch
from torch import nn

__all__ = ["CountWrapper", "ProfileWrapper"]


class CountWrapper(nn.Module):
    """Explain the count head of a BPNet-like model.

    Parameters
    ----------
    model : nn.Module
        A model with a ``counts(X)`` method returning ``(N, T)`` (e.g.
        :class:`~sparselrp.models.BPNet`); a model without one is called directly.

    Shapes
    ------
    input ``(N, 4, L)`` -> output ``(N, T)``.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, X):
        """``(N, 4, L)`` -> ``(N, T)`` count-head output."""
        if hasattr(self.model, "counts"):
            return self.model.counts(X)
        return self.model(X)


class ProfileWrapper(nn.Module):
    """Reduce the profile head ``(N, T, L')`` of a BPNet-like model to ``(N, T)``.

    Parameters
    ----------
    model : nn.Module
        A model with a ``profile(X)`` method returning per-position logits
        ``(N, T, L')`` (e.g. :class:`~sparselrp.models.BPNet`).
    reduce : {"sum", "mean", "weighted"}, default "sum"
        - ``"sum"`` / ``"mean"``: sum (mean) of the logits over the positions in
          ``window``. Uses only slicing and sums, which every LRP composite explains.
        - ``"weighted"``: BPNet's profile contribution score
          ``sum_l softmax(z)_l.detach() * (z_l - mean(z))``, which is what the
          original BPNet explains; its softmax weights are treated as constants, so it
          needs an engine that accepts multiplication by a constant.
    window : tuple of int (start, end), optional
        Restrict the reduction to output positions ``start:end`` (default: all),
        clipped like Python slicing to the profile length ``L'``.

    Shapes
    ------
    input ``(N, 4, L)`` -> output ``(N, T)``.
    """

    def __init__(self, model, reduce="sum", window=None):
        super().__init__()
        if reduce not in ("sum", "mean", "weighted"):
            raise ValueError(f"reduce must be 'sum', 'mean' or 'weighted', got {reduce!r}")
        if window is not None:
            start, end = (int(v) for v in window)
            if start < 0 or end <= start:
                raise ValueError(f"window must be (start, end) with 0 <= start < end, got {window!r}")
            window = (start, end)
        if not hasattr(model, "profile"):
            raise TypeError(f"{type(model).__name__} has no profile() method to wrap")
        self.model = model
        self.reduce = reduce
        self.window = window

    def forward(self, X):
        """``(N, 4, L)`` -> ``(N, T)``."""
        z = self.model.profile(X)
        if self.window is not None:
            # (no length check here: forward must stay traceable by torch.fx)
            z = z[:, :, self.window[0]:self.window[1]]
        if self.reduce == "sum":
            return z.sum(dim=-1)
        if self.reduce == "mean":
            return z.mean(dim=-1)
        w = torch.softmax(z, dim=-1).detach()
        return (w * (z - z.mean(dim=-1, keepdim=True))).sum(dim=-1)
