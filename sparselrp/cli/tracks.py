"""``sparselrp tracks``: per-position relevance as bedGraph / bigWig in genome coordinates."""

import click

from ._common import main


@main.command("tracks")
@click.option("-a", "--attributions", type=click.Path(dir_okay=False), required=True,
              help="Attributions (.npz, sparse or dense), (N, 4, L).")
@click.option("-s", "--sequences", type=click.Path(dir_okay=False), required=True,
              help="One-hot .npz with the windows' genome coordinates (from `sparselrp encode`).")
@click.option("--bedgraph", type=click.Path(dir_okay=False), default=None,
              help="bedGraph output (.gz to compress).")
@click.option("--bigwig", type=click.Path(dir_okay=False), default=None, help="bigWig output.")
@click.option("--chrom-sizes", type=click.Path(dir_okay=False), default=None,
              help="Chromosome sizes: a chrom.sizes file, a .fai index or the genome FASTA. "
                   "Default: each chromosome ends at its last window.")
@click.option("--reduce", type=click.Choice(["sum", "mean"]), default="sum",
              help="How overlapping windows combine at a genome position.")
@click.option("--keep-zeros", is_flag=True, help="Also write positions whose relevance is exactly zero.")
@click.option("--name", default="sparselrp", help="Track name in the bedGraph track line.")
def tracks_command(attributions, sequences, bedgraph, bigwig, chrom_sizes, reduce, keep_zeros, name):
    """Write per-position relevance (sum of the four rows) as genome-browser tracks.

    Minus-strand windows are placed backwards (position l at end - 1 - l).
    Positions outside a chromosome (windows padded past its ends) are dropped.
    """
    from ..io.attributions import load_attributions
    from ..io.onehot import load_onehot
    from ..tracks import read_chrom_sizes, write_bedgraph, write_bigwig

    if bedgraph is None and bigwig is None:
        raise click.UsageError("give --bedgraph and/or --bigwig")
    ohe = load_onehot(sequences)
    if ohe.coords is None:
        raise ValueError(f"{sequences}: the windows have no genome coordinates (encode from a BED, or from "
                         "a FASTA whose record names look like chr1:100-300)")
    R = load_attributions(attributions)
    if R.shape[0] != ohe.X.shape[0] or R.shape[-1] != ohe.X.shape[-1]:
        raise ValueError(f"{attributions}: shape {tuple(R.shape)} does not match the sequences "
                         f"{tuple(ohe.X.shape)} of {sequences}")
    ohe.X = None  # only the coordinates are needed from here on
    sizes = read_chrom_sizes(chrom_sizes) if chrom_sizes else None
    if bedgraph:
        n = write_bedgraph(bedgraph, R, ohe.coords, reduce=reduce, chrom_sizes=sizes, keep_zeros=keep_zeros,
                           track_line=f'track type=bedGraph name="{name}" description="sparselrp relevance"')
        click.echo(f"{bedgraph}: {n} intervals", err=True)
    if bigwig:
        n = write_bigwig(bigwig, R, ohe.coords, chrom_sizes=sizes, reduce=reduce, keep_zeros=keep_zeros)
        click.echo(f"{bigwig}: {n} intervals", err=True)
