"""Click options shared by the subcommands that explain a model."""

import click

COMPOSITE_NAMES = [
    "epsilon-gamma", "best-practice", "zero", "epsilon", "epsilon-plus", "epsilon-plus-flat", "epsilon-gamma-box",
    "epsilon-alpha2-beta1", "epsilon-alpha2-beta1-flat",
]


def explain_options(f):
    """Add --target, --composite, --no-prune/--topk/--prune-mass (+ --p-neg, --prune-layers,
    --prune-group, --redistribute), --batch-size, --device. The defaults are ``sl.plrp``'s."""
    opts = [
        click.option("--target", default="0", show_default=True,
                     help="Output column to explain (index, or a task name from the model's config)."),
        click.option("--composite", type=click.Choice(COMPOSITE_NAMES), default="epsilon-gamma",
                     show_default=True, help="Which LRP rule goes where (zennit's names; epsilon-gamma is "
                                             "sl.plrp's, best-practice sl.lrp's)."),
        click.option("--no-prune", is_flag=True, help="Plain LRP: no pruning (default: sl.plrp's pruning, "
                                                      "--prune-mass 0.5 on positions of the convolution stack)."),
        click.option("--topk", default=None,
                     help="Top-k pruning: keep K units (positions with --prune-group position) per pruned "
                          "tensor and sample (an int), or a fraction in (0, 1]."),
        click.option("--prune-mass", type=float, default=None,
                     help="PLRP mass pruning: drop the share P in [0, 1) of each pruned tensor's positive "
                          "relevance (default 0.5 unless --topk or --no-prune)."),
        click.option("--p-neg", type=float, default=None,
                     help="Share of negative relevance mass to drop with --prune-mass (default P)."),
        click.option("--prune-layers", type=click.Choice(["positions", "all"]), default="positions",
                     show_default=True, help="positions: the convolution stack's position-resolved tensors "
                                             "(sl.plrp); all: the input of every convolution and dense layer."),
        click.option("--prune-group", type=click.Choice(["position", "unit"]), default="position",
                     show_default=True, help="Keep or drop the channels of a position together, or each unit "
                                             "on its own."),
        click.option("--redistribute", type=click.Choice(["lambda", "matrix", "none"]), default="lambda",
                     show_default=True, help="How pruned relevance is given back to the survivors."),
        click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
                     help="Sequences explained at once (sets peak memory)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Where to compute; auto picks CUDA when present."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def pruning_from_options(topk, prune_mass, p_neg, redistribute, no_prune=False, prune_layers="positions",
                         prune_group="position"):
    """Build the pruning object from CLI values: ``sl.plrp``'s (position-grouped MassPrune(0.5)
    of the convolution stack) unless --topk/--prune-mass say otherwise; None with --no-prune."""
    from ..lrp import MassPrune, TopK
    from ..lrp.plrp import RECOMMENDED_P

    if no_prune:
        if topk is not None or prune_mass is not None or p_neg is not None:
            raise click.UsageError("--no-prune excludes --topk, --prune-mass and --p-neg")
        return None
    if topk is not None and prune_mass is not None:
        raise click.UsageError("give either --topk or --prune-mass, not both")
    layers = None if prune_layers == "all" else prune_layers
    group = None if prune_group == "unit" else prune_group
    if topk is not None:
        try:
            k = float(topk) if any(c in str(topk) for c in ".eE") else int(topk)
        except ValueError:
            raise click.BadParameter(f"{topk!r} is neither an int nor a fraction", param_hint="--topk") from None
        if p_neg is not None:
            raise click.UsageError("--p-neg needs --prune-mass")
        try:
            return TopK(k, redistribute=redistribute, layers=layers, group=group)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--topk") from None
    try:
        return MassPrune(RECOMMENDED_P if prune_mass is None else prune_mass, p_neg=p_neg, redistribute=redistribute,
                         layers=layers, group=group)
    except ValueError as exc:
        hint = "--p-neg" if "p_neg" in str(exc) else "--prune-mass"
        raise click.BadParameter(str(exc), param_hint=hint) from None


def resolve_target(target, model_dir=None):
    """An output index from an int string or a task name recorded in the model's config."""
    try:
        return int(target)
    except ValueError:
        pass
    tasks = None
    if model_dir is not None:
        from ..models import read_config

        try:
            cfg = read_config(model_dir)
            tasks = (cfg.get("metadata") or {}).get("tasks") or cfg.get("tasks")
        except Exception:  # noqa: BLE001 - the load itself reports a bad config
            tasks = None
    if tasks and target in tasks:
        return list(tasks).index(target)
    known = f" (the model's tasks: {', '.join(map(str, tasks))})" if tasks else ""
    raise click.BadParameter(f"{target!r} is not an output index or task name{known}", param_hint="--target")


def resolve_device(device):
    """None for auto; a clear usage error when CUDA is asked for but absent."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter("CUDA is not available here (torch.cuda.is_available() is False); "
                                     "use --device cpu or auto", param_hint="--device")
    return None if device == "auto" else device


def load_model(model_dir, device=None):
    """Load a model directory, or a packaged model given as ``pretrained:NAME``."""
    from pathlib import Path

    from .. import models
    from ..errors import ModelFileError

    if str(model_dir).startswith("pretrained:"):
        try:
            return models.pretrained(str(model_dir).split(":", 1)[1], device=device)
        except KeyError as exc:
            raise ModelFileError(str(exc.args[0]) if exc.args else str(exc)) from None
    if Path(model_dir).is_file():
        raise ModelFileError(f"{model_dir}: --model must be a model directory (config.json + model.safetensors, "
                             f"as `sparselrp train` or sl.models.save write it) or pretrained:NAME, not a file")
    return models.load(model_dir, device=device)
