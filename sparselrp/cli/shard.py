"""``sparselrp shard``: split a BED or FASTA into N contiguous shards."""

import click

from ._common import main


@main.command("shard")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("-n", "--n-shards", type=click.IntRange(min=1), required=True, help="Number of shards.")
@click.option("-o", "--outdir", type=click.Path(file_okay=False), required=True,
              help="Folder for the shards (shard-0000.fa / shard-0000.bed, ...); created if missing.")
@click.option("--format", "fmt", type=click.Choice(["auto", "fasta", "bed"]), default="auto",
              help="Input format; auto: from the file name or its first line.")
def shard_command(input_path, n_shards, outdir, fmt):
    """Split INPUT (FASTA or BED, plain or .gz) into N shards.

    Shard i holds records [i*n/N, (i+1)*n/N) in file order, so the shards are
    deterministic and their outputs, merged in order, follow the input's order.
    With more shards than records the extra shards are empty files. Prints the
    shard paths, one a line.
    """
    from ..pipeline import shard_file

    paths = shard_file(input_path, n_shards, outdir, fmt=None if fmt == "auto" else fmt)
    for p in paths:
        click.echo(str(p))
