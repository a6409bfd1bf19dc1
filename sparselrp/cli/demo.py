"""``sparselrp demo``: the whole workflow on the shipped CTCF peaks."""

import click

from ._common import main, progress_enabled


@main.command("demo")
@click.option("-o", "--outdir", default="sparselrp_demo", show_default=True, type=click.Path(file_okay=False),
              help="Output folder (a model trained by an earlier run there is reused).")
@click.option("--seed", default=0, show_default=True, help="Seed of training, shuffles and diagnostics.")
@click.option("--retrain", is_flag=True, help="Train a new model even if the output folder has one.")
@click.option("--top", default=10, show_default=True, help="Peaks shown with their logos in the report.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the report's path.")
def demo(outdir, seed, retrain, top, quiet):
    """Train, explain with pruned LRP, find motifs, match JASPAR, write report.html.

    Runs on the 500 strongest CTCF ChIP-seq peaks of GM12878 shipped with the
    package, in a few minutes on 2 CPU cores, and prints the report's absolute path.
    """
    from ..demo import run_demo

    path = run_demo(outdir, seed=seed, verbose=not quiet, progress=progress_enabled() and not quiet,
                    retrain=retrain, top=top)
    click.echo(str(path))
