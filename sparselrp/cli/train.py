"""``sparselrp train``: train a zoo model on FASTA or BED input."""

import json

import click

from ._common import main, progress_enabled


def _arch_kwargs(value):
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object, e.g. '{\"n_filters\": 32}'")
    return parsed


@main.command("train")
@click.option("--positives", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="FASTA of positive sequences (plain or .gz); repeat for one task per file.")
@click.option("--negatives", type=click.Path(exists=True, dir_okay=False), default=None,
              help="FASTA of negative sequences.")
@click.option("--shuffles", type=click.IntRange(min=0), default=None,
              help="Dinucleotide shuffles of each positive to use as negatives. [default: 1 without --negatives]")
@click.option("--bed", type=click.Path(exists=True, dir_okay=False), default=None,
              help="BED regions (instead of --positives); split by chromosome.")
@click.option("--genome", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Genome FASTA for --bed (indexed or indexable by pyfaidx).")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Labels for --bed: TSV, one row per region, 0/1 per task (optional header of task names), "
                   "or .npy/.npz (N, T). Without it every region is a positive.")
@click.option("--arch", default="small_cnn", show_default=True,
              help="Architecture: small_cnn, deepsea, basset or bpnet.")
@click.option("--arch-kwargs", default=None, help="JSON object of extra constructor arguments.")
@click.option("--length", type=click.IntRange(min=1), default=None,
              help="Window length; sequences are centre-cropped/padded. [default: FASTA length or the "
                   "architecture's]")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output model directory (config.json, model.safetensors, metrics.json).")
@click.option("--epochs", default=20, type=click.IntRange(min=1), help="Maximum epochs.")
@click.option("--patience", default=3, type=click.IntRange(min=1),
              help="Stop after this many epochs without a validation AUROC gain.")
@click.option("--seed", default=0, type=int, help="Random seed (same seed, same model).")
@click.option("--batch-size", default=64, type=click.IntRange(min=1), help="Batch size.")
@click.option("--lr", default=1e-3, type=click.FloatRange(min=0, min_open=True), help="Adam learning rate.")
@click.option("--weight-decay", default=0.0, type=click.FloatRange(min=0), help="Adam weight decay.")
@click.option("--val-fraction", default=0.2, type=click.FloatRange(0, 1), help="Validation share.")
@click.option("--test-fraction", default=0.1, type=click.FloatRange(0, 1), help="Held-out test share.")
@click.option("--val-chrom", "val_chroms", multiple=True, help="Validation chromosome for --bed (repeatable).")
@click.option("--test-chrom", "test_chroms", multiple=True, help="Test chromosome for --bed (repeatable).")
@click.option("--task-name", "task_names", multiple=True, help="Task names (one per task).")
@click.option("--no-rc", is_flag=True, help="Turn off reverse-complement augmentation.")
@click.option("--device", default=None, help="cpu or cuda. [default: cuda when available]")
@click.option("--threads", default=1, type=click.IntRange(min=0),
              help="CPU threads for training (0: torch's default).")
def train_command(positives, negatives, shuffles, bed, genome, labels, arch, arch_kwargs, length, out_dir, epochs,
                  patience, seed, batch_size, lr, weight_decay, val_fraction, test_fraction, val_chroms,
                  test_chroms, task_names, no_rc, device, threads):
    """Train a classifier: positives vs negatives or shuffles, or BED + genome + labels.

    Writes a model directory loadable with sparselrp.models.load() and
    metrics.json (per-epoch losses and validation AUROC, best epoch, held-out AUROC).
    """
    from ..models.train import train

    if bool(positives) == bool(bed):
        raise click.UsageError("give either --positives or --bed (with --genome)")
    if bed and not genome:
        raise click.UsageError("--bed needs --genome")
    result = train(
        positives=(list(positives) if len(positives) > 1 else positives[0]) if positives else None,
        negatives=negatives, shuffles=shuffles, bed=bed, genome=genome, labels=labels, arch=arch,
        arch_kwargs=_arch_kwargs(arch_kwargs), length=length, out_dir=out_dir, epochs=epochs, patience=patience,
        seed=seed, batch_size=batch_size, lr=lr, weight_decay=weight_decay, val_fraction=val_fraction,
        test_fraction=test_fraction, val_chroms=list(val_chroms) or None, test_chroms=list(test_chroms) or None,
        rc_augment=not no_rc, device=device, progress=progress_enabled(), task_names=list(task_names) or None,
        num_threads=threads or None,
    )
    m = result.metrics

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    click.echo(f"trained {m['settings']['arch']} on {m['n_train']} sequences ({m['n_val']} validation, "
               f"{m['n_test']} test): best epoch {m['best_epoch']}, validation AUROC {fmt(m['best_val_auroc'])}, "
               f"held-out AUROC {fmt(m['test_auroc'])}, {m['seconds']:.1f} s")
    click.echo(f"model written to {result.directory}")
