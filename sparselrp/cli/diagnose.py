"""``sparselrp diagnose``: "fact or artifact" checks of an LRP explanation, as JSON + a table."""

import click

from ._common import main
from .options import COMPOSITE_NAMES, explain_options, load_model, pruning_from_options, resolve_device, \
    resolve_target

_CHECKS = ("bias", "border", "n-columns", "randomisation", "strand")


def _thresholds(items):
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--threshold")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(f"{key.strip()}: {value!r} is not a number", param_hint="--threshold") from None
    return out


def _checks(text):
    names = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in names if c not in _CHECKS]
    if bad or not names:
        raise click.BadParameter(f"unknown check {bad[0]!r}" if bad else "no check named",
                                 param_hint="--checks")
    return names


@main.command("diagnose")
@click.option("-m", "--model", "model_dir", required=True,
              help="Model directory (config.json + model.safetensors), or pretrained:ctcf.")
@click.option("-s", "--sequences", required=True, type=click.Path(dir_okay=False),
              help="One-hot .npz (key arr_0, shape (N, 4, L)) from `sparselrp encode`.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output JSON (flags, checks with values, thresholds and verdicts, per-sample figures).")
@explain_options
@click.option("--n-samples", type=click.IntRange(min=1), default=64,
              help="Diagnose a seeded random subset of this many sequences.")
@click.option("--seed", type=int, default=0, help="Seed of the subset, re-initialisations and shuffles.")
@click.option("--randomisation-composite", "extra", multiple=True, type=click.Choice(COMPOSITE_NAMES),
              help="Also run the randomisation check under this composite, for comparison (repeatable; "
                   "reported, never flagged).")
@click.option("--n-random", type=click.IntRange(min=1), default=2,
              help="Fully re-initialised model copies behind the randomisation sparsity figure.")
@click.option("--checks", "checks_text", default=",".join(_CHECKS),
              help="Comma-separated checks to run.")
@click.option("--threshold", "threshold_items", multiple=True, metavar="KEY=VALUE",
              help="Override a threshold (keys in docs/trust.md), e.g. --threshold bias_share=0.3; repeatable.")
@click.option("--strict", is_flag=True,
              help="Exit with status 3 when any check is flagged (the JSON is written first).")
def diagnose_command(model_dir, sequences, output, target, composite, no_prune, topk, prune_mass, p_neg,
                     prune_layers, prune_group, redistribute, batch_size, device, n_samples, seed, extra, n_random, checks_text, threshold_items, strict):
    """Check whether LRP maps of MODEL on SEQUENCES can be trusted.

    Runs the bias, border, N-column, model-randomisation and strand/flank stability
    checks (docs/trust.md), writes them to the JSON file and prints a table. The
    report command renders the JSON in its trust section.
    """
    import sys

    from ..diagnose import diagnose
    from ..io.onehot import load_onehot

    from ..diagnose.thresholds import resolve

    pruning = pruning_from_options(topk, prune_mass, p_neg, redistribute, no_prune, prune_layers, prune_group)
    target = resolve_target(target, model_dir)
    thresholds = _thresholds(threshold_items)
    checks = _checks(checks_text)
    resolve(thresholds)   # unknown keys fail before any work
    device = resolve_device(device)
    X = load_onehot(sequences).X
    model = load_model(model_dir, device="cpu")
    d = diagnose(model, X, target=target, composite=composite, pruning=pruning, n_samples=n_samples, seed=seed,
                 checks=checks, randomisation_composites=extra, n_random=n_random, thresholds=thresholds,
                 batch_size=batch_size, device=device)
    d.to_json(output)
    click.echo(d.summary_table())
    if strict and d.flags:
        sys.exit(3)
