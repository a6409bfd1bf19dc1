"""``sparselrp data-path`` / ``sparselrp model-path``: files shipped in the package."""

import click

from ._common import main


@main.command("data-path")
@click.argument("name")
def data_path_command(name):
    """Print the path of packaged data NAME (e.g. ctcf_peaks_fasta, chr17_fasta, gene_bed).

    NAME may carry the "package:" prefix the pipeline config uses.
    """
    from ..pipeline import PACKAGE_PREFIX, resolve_data

    click.echo(resolve_data(name if name.startswith(PACKAGE_PREFIX) else PACKAGE_PREFIX + name))


@main.command("model-path")
@click.argument("name", default="ctcf")
def model_path_command(name):
    """Print the directory of the shipped pretrained model NAME (e.g. ctcf)."""
    from ..pipeline import PACKAGE_PREFIX, resolve_model

    click.echo(resolve_model(name if name.startswith(PACKAGE_PREFIX) else PACKAGE_PREFIX + name))
