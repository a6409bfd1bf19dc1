"""bpnet-lite BPNet and ChromBPNet models as one-input modules sparselrp can explain.

bpnet-lite (``pip install bpnet-lite``) models take ``forward(X, X_ctl=None)`` and return
``(y_profile, y_counts)``: profile logits ``(N, S, L')`` (``S`` strands or tracks,
``L' = L - 2 * trimming``) and log total counts ``(N, 1)``. :func:`from_bpnetlite` wraps
one into a module of one input ``X`` ``(N, 4, L)`` and one output ``(N, 1)``:

- ``head="counts"``: the count head, ``y_counts``.
- ``head="profile"``: the weighted-softmax profile score that BPNet, ChromBPNet,
  bpnet-lite and tangermeme explain, over the profile flattened across strands and
  positions ``z`` ``(N, S * L')``::

      score = sum_j softmax(z)_j * (z_j - mean(z))

  with the softmax weights held constant (``.detach()``), as BPNet's and ChromBPNet's own
  DeepLIFT scores do (their stop-gradient). The score is then linear in the logits and
  LRP splits it over the positions in proportion to ``w_j (z_j - mean z)``. Its value
  equals ``bpnetlite.bpnet.ProfileWrapper``'s output.

Control tracks: a BPNet with ``n_control_tracks > 0`` gets all-zero control tracks
(constants of the input's length) unless ``control=`` gives tracks ``(C, L)`` to use for
every sequence. Constants carry no relevance.

ChromBPNet: by default the bias-free accessibility model is explained (what ChromBPNet
attributions are computed on); ``part="bias"`` explains the Tn5 bias model, and
``part="full"`` the whole model on the profile head (its count head ``log(exp(a) + exp(b))``
is not something LRP explains and is refused).

Loading: :func:`load_bpnetlite` reads weights safely, a state dict (``torch.load`` with
``weights_only=True``) or a safetensors file, and infers the architecture from the tensor
shapes. The ``.torch`` files bpnet-lite's own training writes are whole pickled models
(``torch.save(model)``); unpickling them can run code, so they are refused, with the
one-line recipe to turn a trusted one into a state dict.
"""

from pathlib import Path

import torch
from torch import nn

from ..errors import ModelFileError

__all__ = ["from_bpnetlite", "load_bpnetlite", "bpnetlite_config", "BPNetLiteHead", "HEADS"]

HEADS = ("counts", "profile")


def _bpnetlite():
    try:
        import bpnetlite
    except ImportError as exc:
        raise ImportError(f"bpnet-lite is not installed ({exc}); install it with `pip install sparselrp[bpnet]` "
                          f"or `pip install bpnet-lite`") from None
    return bpnetlite


def _is_bpnet(model):
    return type(model).__name__ == "BPNet" and type(model).__module__.startswith("bpnetlite")


def _is_chrombpnet(model):
    return type(model).__name__ == "ChromBPNet" and type(model).__module__.startswith("bpnetlite")


class BPNetLiteHead(nn.Module):
    """One head of a bpnet-lite BPNet as a one-input module ``(N, 4, L) -> (N, 1)``.

    Build it with :func:`from_bpnetlite`.

    Parameters
    ----------
    model : nn.Module
        A bpnet-lite ``BPNet`` (or a ChromBPNet, explained on the profile head).
    head : {"counts", "profile"}
        Which output is explained (see the module docstring).
    control : torch.Tensor, optional
        Control tracks ``(C, L)`` used for every sequence (default all zeros).

    Shapes
    ------
    input ``(N, 4, L)`` -> output ``(N, 1)``.
    """

    def __init__(self, model, head="counts", control=None):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be 'counts' or 'profile', got {head!r}")
        self.model = model
        self.head = head
        self.n_control_tracks = int(getattr(model, "n_control_tracks", 0) or 0)
        if control is not None:
            if self.n_control_tracks == 0:
                raise ValueError("control= was given but the model takes no control tracks (n_control_tracks=0)")
            control = torch.as_tensor(control, dtype=torch.float32)
            if control.ndim == 3 and control.shape[0] == 1:
                control = control[0]
            if control.ndim != 2 or control.shape[0] != self.n_control_tracks:
                raise ValueError(f"control= must have shape (n_control_tracks, L) = ({self.n_control_tracks}, L), "
                                 f"got {tuple(control.shape)}")
            self.register_buffer("control", control.detach().clone()[None])
        else:
            self.control = None

    def forward(self, X):
        """``(N, 4, L)`` -> ``(N, 1)``: the count head, or the weighted-softmax profile score."""
        if self.n_control_tracks == 0:
            out = self.model(X)
        else:
            # constants of the input's batch size and length (torch.fx records them from X)
            ctl = X.new_zeros(X.shape[0], self.n_control_tracks, X.shape[-1])
            if self.control is not None:
                ctl = ctl + self.control
            out = self.model(X, ctl)
        if self.head == "counts":
            return out[1]
        z = out[0].flatten(1)
        w = torch.softmax(z, dim=-1).detach()
        return (w * (z - z.mean(dim=-1, keepdim=True))).sum(dim=-1, keepdim=True)


def from_bpnetlite(model, head="counts", control=None, part="accessibility"):
    """Wrap a bpnet-lite ``BPNet`` or ``ChromBPNet`` into a one-input module for :func:`sparselrp.lrp`.

    Parameters
    ----------
    model : bpnetlite.BPNet or bpnetlite.ChromBPNet
        The model (not copied, not modified; put it in eval mode yourself if it trains).
    head : {"counts", "profile"}
        ``"counts"``: the log-count output ``(N, 1)``. ``"profile"``: the weighted-softmax
        profile score ``sum_j softmax(z)_j.detach() * (z_j - mean z)`` over the profile
        logits flattened across strands and positions (the score tangermeme, bpnet-lite
        and ChromBPNet explain).
    control : torch.Tensor, optional
        Control tracks ``(n_control_tracks, L)`` given to every sequence; default zeros.
    part : {"accessibility", "bias", "full"}
        For a ChromBPNet only: which model to explain. ``"accessibility"`` (default) is
        the bias-free model ChromBPNet's attributions use; ``"full"`` needs
        ``head="profile"``.

    Returns
    -------
    BPNetLiteHead
        ``(N, 4, L) -> (N, 1)``; explain it with ``target=0``.

    Examples
    --------
    >>> import bpnetlite, sparselrp as sl                                 # doctest: +SKIP
    >>> bpnet = bpnetlite.BPNet(n_outputs=2, n_control_tracks=2).eval()   # doctest: +SKIP
    >>> R = sl.lrp(sl.models.from_bpnetlite(bpnet, head="profile"), X)    # doctest: +SKIP
    """
    if head not in HEADS:
        raise ValueError(f"head must be 'counts' or 'profile', got {head!r}")
    if isinstance(model, BPNetLiteHead):
        raise TypeError("the model is already wrapped by from_bpnetlite")
    if _is_chrombpnet(model):
        if part not in ("accessibility", "bias", "full"):
            raise ValueError(f"part must be 'accessibility', 'bias' or 'full', got {part!r}")
        if part == "full":
            if head == "counts":
                raise ValueError("ChromBPNet's full count head is log(exp(accessibility) + exp(bias)), which LRP "
                                 "cannot explain; use part='accessibility' (the bias-free model ChromBPNet "
                                 "attributions use) or head='profile'")
            return BPNetLiteHead(model, head=head, control=control)
        return BPNetLiteHead(getattr(model, part), head=head, control=control)
    if not _is_bpnet(model):
        if not isinstance(model, nn.Module):
            raise TypeError(f"from_bpnetlite needs a bpnet-lite BPNet or ChromBPNet, got {type(model).__name__}")
        if not (hasattr(model, "n_control_tracks") and hasattr(model, "fconv") and hasattr(model, "linear")):
            raise TypeError(f"from_bpnetlite needs a bpnet-lite BPNet or ChromBPNet, got "
                            f"{type(model).__module__}.{type(model).__name__}")
    return BPNetLiteHead(model, head=head, control=control)


def bpnetlite_config(state):
    """Constructor arguments of the bpnet-lite ``BPNet`` that a state dict belongs to.

    Parameters
    ----------
    state : dict of str -> torch.Tensor
        A ``BPNet`` state dict (``iconv``, ``rconvs.*``, ``fconv``, ``linear``).

    Returns
    -------
    dict
        ``n_filters``, ``n_layers``, ``n_outputs``, ``n_control_tracks``,
        ``profile_output_bias``, ``count_output_bias`` (``trimming`` is not stored in
        the weights: bpnet-lite's default for ``n_layers`` applies unless given).

    Raises
    ------
    ModelFileError
        The tensors are not those of a bpnet-lite BPNet.
    """
    needed = ("iconv.weight", "fconv.weight", "linear.weight")
    missing = [k for k in needed if k not in state]
    if missing:
        raise ModelFileError(f"not a bpnet-lite BPNet state dict: missing {', '.join(missing)}")
    n_filters = int(state["iconv.weight"].shape[0])
    layers = sorted({int(k.split(".")[1]) for k in state if k.startswith("rconvs.") and k.endswith(".weight")})
    if layers != list(range(len(layers))):
        raise ModelFileError(f"not a bpnet-lite BPNet state dict: residual layers {layers}")
    n_outputs = int(state["fconv.weight"].shape[0])
    n_control = int(state["fconv.weight"].shape[1]) - n_filters
    if n_control < 0:
        raise ModelFileError("not a bpnet-lite BPNet state dict: fconv has fewer input channels than iconv filters")
    return {"n_filters": n_filters, "n_layers": len(layers), "n_outputs": n_outputs, "n_control_tracks": n_control,
            "profile_output_bias": "fconv.bias" in state, "count_output_bias": "linear.bias" in state}


def _build_bpnet(state, trimming, where):
    bpnetlite = _bpnetlite()
    try:
        cfg = bpnetlite_config(state)
    except ModelFileError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    if trimming is not None:
        cfg["trimming"] = int(trimming)
    model = bpnetlite.BPNet(verbose=False, **cfg)
    return model


def load_bpnetlite(path, trimming=None, bias_trimming=None, device=None):
    """Load a bpnet-lite BPNet or ChromBPNet from a state dict or safetensors file, safely.

    Parameters
    ----------
    path : str or Path
        ``.safetensors`` or a torch state-dict file (``torch.save(model.state_dict(), p)``;
        read with ``torch.load(weights_only=True)``). A ChromBPNet state dict (keys
        ``bias.*`` and ``accessibility.*``) gives a ChromBPNet.
    trimming, bias_trimming : int, optional
        ``trimming`` of the (accessibility) BPNet and of ChromBPNet's bias model; not
        stored in the weights, default bpnet-lite's ``47 + sum(2**i)`` for the model's
        number of layers.
    device : str or torch.device, optional
        Default CUDA when available.

    Returns
    -------
    bpnetlite.BPNet or bpnetlite.ChromBPNet
        In eval mode.

    Raises
    ------
    ModelFileError
        A whole pickled model (bpnet-lite's ``.torch`` files from ``torch.save(model)``:
        refused, because unpickling can run code), an unreadable file, or tensors that
        are not a BPNet's.
    """
    from .io import _apply_state_dict, _resolve_device, load_state_dict

    path = Path(path)
    try:
        state = load_state_dict(path)
    except ModelFileError as exc:
        if "refused to load" in str(exc):
            raise ModelFileError(
                f"{path}: refused: this is a whole pickled model (bpnet-lite's training saves torch.save(model)), "
                f"and unpickling it can run code. Where you trust the file, save its weights once: "
                f"torch.save(torch.load('{path.name}', weights_only=False).state_dict(), 'bpnet.pt')") from None
        raise
    bpnetlite = _bpnetlite()
    if any(k.startswith("accessibility.") for k in state) and any(k.startswith("bias.") for k in state):
        acc = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("accessibility.")}
        bias = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("bias.")}
        acc_model = _build_bpnet(acc, trimming, path)
        bias_model = _build_bpnet(bias, bias_trimming, path)
        model = bpnetlite.ChromBPNet(bias_model, acc_model)
    else:
        model = _build_bpnet(state, trimming, path)
    _apply_state_dict(model, state, path)
    return model.to(_resolve_device(device)).eval()
