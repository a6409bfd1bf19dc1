"""Click options shared by the subcommands that explain a model."""

import click

COMPOSITE_NAMES = [
    "best-practice", "epsilon-gamma", "zero", "epsilon", "epsilon-plus", "epsilon-plus-flat", "epsilon-gamma-box",
    "epsilon-alpha2-beta1", "epsilon-alpha2-beta1-flat",
]


def explain_options(f):
    """Add --target, --composite, --no-prune/--topk/--prune-mass (+ --p-neg, --prune-layers,
    --prune-group, --redistribute), --batch-size, --device. The defaults are ``sl.plrp``'s."""
    opts = [
        click.option("--target", default="0", show_default=True,
                     help="Output column to explain: an index or a task name from the model's config "
                          "(`attribute` also takes several, e.g. 0,2 or ctcf,rad21, or all)."),
        click.option("--composite", type=click.Choice(COMPOSITE_NAMES), default="best-practice",
                     show_default=True, help="Which LRP rule goes where (zennit's names; best-practice is "
                                             "sl.plrp's and sl.lrp's)."),
        click.option("--no-prune", is_flag=True, help="Plain LRP: no pruning (default: sl.plrp's pruning, "
                                                      "--topk 0.1 on every layer input but the first)."),
        click.option("--topk", default=None,
                     help="Top-k pruning: keep the K largest positive units (positions with --prune-group "
                          "position) per pruned tensor and sample (an int), or a fraction in (0, 1]; negative "
                          "relevance is dropped (default 0.1 unless --prune-mass or --no-prune)."),
        click.option("--prune-mass", type=float, default=None,
                     help="PLRP mass pruning instead: drop the share P in [0, 1) of each pruned tensor's "
                          "positive relevance."),
        click.option("--p-neg", type=float, default=None,
                     help="Share of negative relevance mass to drop with --prune-mass (default P)."),
        click.option("--prune-layers", type=click.Choice(["all", "positions"]), default="all",
                     show_default=True, help="all: the input of every convolution and dense layer but the "
                                             "first (sl.plrp); positions: the convolution stack's "
                                             "position-resolved tensors only."),
        click.option("--prune-group", type=click.Choice(["unit", "position"]), default="unit",
                     show_default=True, help="Keep or drop each unit on its own (sl.plrp), or the channels of "
                                             "a position together."),
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
    """Build the pruning object from CLI values: ``sl.plrp``'s (the top 10 % positive units of
    every layer input) unless --topk/--prune-mass say otherwise; None with --no-prune."""
    from ..lrp import MassPrune, TopK
    from ..lrp.plrp import RECOMMENDED_K

    if no_prune:
        if topk is not None or prune_mass is not None or p_neg is not None:
            raise click.UsageError("--no-prune excludes --topk, --prune-mass and --p-neg")
        return None
    if topk is not None and prune_mass is not None:
        raise click.UsageError("give either --topk or --prune-mass, not both")
    layers = None if prune_layers == "all" else prune_layers
    group = None if prune_group == "unit" else prune_group
    if p_neg is not None and prune_mass is None:
        raise click.UsageError("--p-neg needs --prune-mass")
    if prune_mass is None:
        try:
            k = RECOMMENDED_K if topk is None else float(topk) if any(c in str(topk) for c in ".eE") else int(topk)
        except ValueError:
            raise click.BadParameter(f"{topk!r} is neither an int nor a fraction", param_hint="--topk") from None
        try:
            return TopK(k, redistribute=redistribute, layers=layers, group=group, positive_only=True)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--topk") from None
    try:
        return MassPrune(prune_mass, p_neg=p_neg, redistribute=redistribute, layers=layers, group=group)
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


def model_options(f):
    """Add -m/--model, --model-class, --weights, --config and --head."""
    opts = [
        click.option("-m", "--model", "model_dir", default=None,
                     help="Model directory (config.json + model.safetensors, from `sparselrp train` or "
                          "sl.models.save), or pretrained:ctcf. A directory whose config names a class outside "
                          "the zoo also needs --model-class naming that class."),
        click.option("--model-class", default=None, metavar="PKG.MODULE:CLASS",
                     help="Your model class (imported: only classes you trust). With -m: allows the class "
                          "the directory's config names. With --weights: the class to build."),
        click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Weights saved elsewhere (.safetensors, or a torch state dict .pt read with "
                          "weights_only=True), loaded into --model-class built with --config."),
        click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="JSON of --model-class's constructor arguments (a plain object, or a sparselrp "
                          "config.json); default: no arguments."),
        click.option("--head", type=click.Choice(["counts", "profile"]), default=None,
                     help="For profile models (bpnet-lite BPNet/ChromBPNet, the zoo's bpnet): explain the count "
                          "head or the weighted-softmax profile score (default counts)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def load_model(model_dir, device=None, model_class=None, weights=None, config_path=None, head=None):
    """Load the model the CLI options name, ready to explain (one input, one output).

    ``model_dir`` is a model directory or ``pretrained:NAME``; or ``weights`` (with
    ``model_class`` and optionally ``config_path``) is a weights file. A bpnet-lite
    model is wrapped with :func:`sparselrp.models.from_bpnetlite` on ``head``; the
    zoo's BPNet is explained on its counts or weighted-softmax profile score.
    """
    from pathlib import Path

    from .. import models
    from ..errors import ModelFileError

    if (model_dir is None) == (weights is None):
        raise click.UsageError("give either -m/--model (a model directory) or --weights with --model-class")
    if weights is not None:
        if model_class is None:
            raise click.UsageError("--weights needs --model-class PKG.MODULE:CLASS (the class to build)")
        model = models.load(weights, device=device, model_class=model_class,
                            kwargs=config_path if config_path is not None else {})
    else:
        if config_path is not None:
            raise click.UsageError("--config goes with --weights (a model directory has its own config.json)")
        if str(model_dir).startswith("pretrained:"):
            try:
                model = models.pretrained(str(model_dir).split(":", 1)[1], device=device)
            except KeyError as exc:
                raise ModelFileError(str(exc.args[0]) if exc.args else str(exc)) from None
        elif Path(model_dir).is_file():
            raise ModelFileError(f"{model_dir}: --model must be a model directory (config.json + model.safetensors, "
                                 f"as `sparselrp train` or sl.models.save write it) or pretrained:NAME, not a "
                                 f"file; for a weights file use --weights with --model-class")
        else:
            model = models.load(model_dir, device=device,
                                allow_classes=None if model_class is None else [model_class])
    return apply_head(model, head)


def apply_head(model, head):
    """Wrap a profile model to explain ``head`` (None: the model as it is, counts for bpnet-lite)."""
    from .. import models
    from ..models.bpnetlite import _is_bpnet, _is_chrombpnet

    cfg = getattr(model, "sparselrp_config", None)
    if _is_bpnet(model) or _is_chrombpnet(model):
        wrapped = models.from_bpnetlite(model, head=head or "counts")
    elif isinstance(model, models.BPNet):
        if head in (None, "counts"):
            return model
        wrapped = models.ProfileWrapper(model, reduce="weighted")
    elif head is not None:
        raise click.BadParameter(f"{type(model).__name__} has no count and profile heads; --head is for bpnet-lite "
                                 f"BPNet/ChromBPNet models and the zoo's bpnet", param_hint="--head")
    else:
        return model
    if cfg is not None:
        wrapped.sparselrp_config = cfg
    return wrapped.eval()


def _model_tasks(model, model_dir):
    cfg = getattr(model, "sparselrp_config", None) or {}
    tasks = (cfg.get("metadata") or {}).get("tasks") or cfg.get("tasks")
    if not tasks and model_dir is not None and not str(model_dir).startswith("pretrained:"):
        from ..models import read_config

        try:
            c = read_config(model_dir)
            tasks = (c.get("metadata") or {}).get("tasks") or c.get("tasks")
        except Exception:  # noqa: BLE001 - the load itself reports a bad config
            tasks = None
    return list(tasks) if tasks else None


def _n_outputs(model, length):
    import torch

    from ..attribute import _model_device

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 4, length, device=_model_device(model)))
    finally:
        model.train(was)
    if isinstance(out, (tuple, list)) or out.ndim > 2:
        raise click.BadParameter("--target all needs a model with one (N, K) output; for a profile model "
                                 "choose --head", param_hint="--target")
    return 1 if out.ndim == 1 else int(out.shape[1])


def resolve_targets(spec, model, model_dir, length):
    """``--target`` of ``sparselrp attribute``: one or several indices / task names, or ``all``.

    Parameters
    ----------
    spec : str
        ``"0"``, ``"ctcf"``, ``"0,2"``, ``"ctcf,rad21"`` or ``"all"``.
    model : nn.Module
        The loaded model (its outputs are counted for ``all``).
    model_dir : str or None
    length : int
        Input length (to count the outputs with one probe).

    Returns
    -------
    int or dict
        One index (a one-target run, outputs named as given), or ``{label: index}``
        (labels are task names where the model has them, else indices).
    """
    tasks = _model_tasks(model, model_dir)
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    if not parts:
        raise click.BadParameter("no target given", param_hint="--target")
    if parts == ["all"]:
        n = _n_outputs(model, length)
        idx = list(range(n))
    else:
        if "all" in parts:
            raise click.BadParameter("'all' cannot be combined with other targets", param_hint="--target")
        idx = []
        for p in parts:
            try:
                idx.append(int(p))
                continue
            except ValueError:
                pass
            if tasks and p in tasks:
                idx.append(tasks.index(p))
            else:
                known = f" (the model's tasks: {', '.join(map(str, tasks))})" if tasks else ""
                raise click.BadParameter(f"{p!r} is not an output index or task name{known}", param_hint="--target")
        if len(set(idx)) != len(idx):
            raise click.BadParameter(f"{spec!r} names a target twice", param_hint="--target")
        if len(idx) == 1:
            return idx[0]
    labels = [str(tasks[i]) if tasks and 0 <= i < len(tasks) else str(i) for i in idx]
    if len(set(labels)) != len(labels):
        labels = [str(i) for i in idx]
    return dict(zip(labels, idx))


def parse_strand_pairs(value):
    """``--strand-pairs 1,0`` -> ``[1, 0]`` (None when not given)."""
    if value is None:
        return None
    try:
        pairs = [int(v) for v in str(value).split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give comma-separated output indices, e.g. 1,0",
                                 param_hint="--strand-pairs") from None
    from ..lrp.targets import normalize_strand_pairs

    try:
        normalize_strand_pairs(pairs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--strand-pairs") from None
    return pairs
