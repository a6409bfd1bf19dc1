"""``sparselrp diagnose``: "fact or artifact" checks of an LRP explanation, as JSON + a table."""

import click

from ._common import main

_COMPOSITES = ["zero", "epsilon", "epsilon-plus", "epsilon-plus-flat", "epsilon-gamma-box",
               "epsilon-alpha2-beta1", "epsilon-alpha2-beta1-flat", "best-practice"]
_CHECKS = ("bias", "border", "n-columns", "randomisation", "strand")


def _pruning(topk, prune_mass):
    from ..lrp import MassPrune, TopK

    if topk is not None and prune_mass is not None:
        raise click.UsageError("give --topk or --prune-mass, not both")
    if topk is not None:
        if topk <= 0:
            raise click.BadParameter(f"must be > 0, got {topk:g}", param_hint="--topk")
        if topk >= 1:
            if topk != int(topk):
                raise click.BadParameter(f"a count must be a whole number, got {topk:g}", param_hint="--topk")
            return TopK(int(topk))
        return TopK(float(topk))
    if prune_mass is not None:
        if not 0 <= prune_mass <= 1:
            raise click.BadParameter(f"must be in [0, 1], got {prune_mass:g}", param_hint="--prune-mass")
        return MassPrune(float(prune_mass))
    return None


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
@click.option("-m", "--model", "model_dir", required=True, type=click.Path(),
              help="Model directory (config.json + weights, as `sparselrp train` or sparselrp.models.save "
                   "writes it).")
@click.option("-s", "--sequences", required=True, type=click.Path(dir_okay=False),
              help="One-hot sequences .npz (N, 4, L) under 'arr_0' (as `sparselrp encode` writes).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output JSON (flags, checks with values, thresholds and verdicts, per-sample figures).")
@click.option("--target", type=click.IntRange(min=0), default=0, help="Output column to explain.")
@click.option("--composite", type=click.Choice(_COMPOSITES), default="best-practice",
              help="Composite of the maps being diagnosed.")
@click.option("--topk", type=float, default=None,
              help="Top-k pruning of the maps: keep K units per layer and sample (K >= 1), or a fraction "
                   "(0 < K < 1).")
@click.option("--prune-mass", type=float, default=None,
              help="Mass pruning (PLRP) of the maps: drop the share P of each layer's relevance mass.")
@click.option("--n-samples", type=click.IntRange(min=1), default=64,
              help="Diagnose a seeded random subset of this many sequences.")
@click.option("--seed", type=int, default=0, help="Seed of the subset, re-initialisations and shuffles.")
@click.option("--randomisation-composite", "extra", multiple=True, type=click.Choice(_COMPOSITES),
              help="Also run the randomisation check under this composite, for comparison (repeatable; "
                   "reported, never flagged).")
@click.option("--n-random", type=click.IntRange(min=1), default=2,
              help="Fully re-initialised model copies behind the randomisation sparsity figure.")
@click.option("--checks", "checks_text", default=",".join(_CHECKS),
              help="Comma-separated checks to run.")
@click.option("--threshold", "threshold_items", multiple=True, metavar="KEY=VALUE",
              help="Override a threshold (keys: see docs/trust.md), e.g. --threshold bias_share=0.3; "
                   "repeatable.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, help="Sequences per LRP pass.")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--strict", is_flag=True,
              help="Exit with status 3 when any check is flagged (the JSON is written first).")
def diagnose_command(model_dir, sequences, output, target, composite, topk, prune_mass, n_samples, seed,
                     extra, n_random, checks_text, threshold_items, batch_size, device, strict):
    """Check whether LRP maps of MODEL on SEQUENCES can be trusted.

    Runs the bias, border, N-column, model-randomisation and strand/flank stability
    checks (docs/trust.md), writes them to the JSON file and prints a table. The
    report command renders the JSON in its trust section.
    """
    import sys

    from ..diagnose import diagnose
    from ..io.onehot import load_onehot
    from ..models import load

    pruning = _pruning(topk, prune_mass)
    thresholds = _thresholds(threshold_items)
    checks = _checks(checks_text)
    from ..diagnose.thresholds import resolve

    resolve(thresholds)   # unknown keys fail before any work
    model = load(model_dir, device="cpu")
    X = load_onehot(sequences).X
    d = diagnose(model, X, target=target, composite=composite, pruning=pruning, n_samples=n_samples, seed=seed,
                 checks=checks, randomisation_composites=extra, n_random=n_random, thresholds=thresholds,
                 batch_size=batch_size, device=device)
    d.to_json(output)
    click.echo(d.summary_table())
    if strict and d.flags:
        sys.exit(3)
