"""Pretrained models shipped with sparselrp (small; package data)."""

from pathlib import Path

__all__ = ["PRETRAINED", "pretrained", "pretrained_path"]

_HERE = Path(__file__).resolve().parent

#: Pretrained model name -> (directory inside this package, description).
PRETRAINED = {
    "ctcf": ("ctcf_small_cnn",
             "SmallCNN trained on the 500 strongest GM12878 CTCF ChIP-seq peaks (200 bp, hg19) against "
             "dinucleotide-shuffled peaks (sparselrp.models.train_ctcf_model(seed=0))"),
}
_ALIASES = {"ctcf_small_cnn": "ctcf"}


def pretrained_path(name="ctcf"):
    """Directory of a shipped pretrained model (``config.json`` + ``model.safetensors``)."""
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in PRETRAINED:
        raise KeyError(f"unknown pretrained model {name!r}; available: {', '.join(sorted(PRETRAINED))}")
    return _HERE / PRETRAINED[key][0]


def pretrained(name="ctcf", device=None):
    """Load a shipped pretrained model.

    Parameters
    ----------
    name : str, default "ctcf"
        ``"ctcf"``: :class:`~sparselrp.models.SmallCNN`, input ``(N, 4, 200)``, output
        ``(N, 1)`` logit of "CTCF peak vs dinucleotide-shuffled peak". Its training
        metrics are in ``model.sparselrp_config["metadata"]``.
    device : str or torch.device, optional
        Default CUDA when available, else CPU.

    Returns
    -------
    nn.Module
        The model in eval mode.
    """
    from ..io import load

    return load(pretrained_path(name), device=device)
