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
    import numpy as np

    from ..io.npz_stream import npz_member_info
    from ..io.onehot import COORD_KEYS
    from ..tracks import position_relevance_file, read_chrom_sizes, write_bedgraph, write_bigwig

    if bedgraph is None and bigwig is None:
        raise click.UsageError("give --bedgraph and/or --bigwig")
    # only the coordinates of the one-hot file are needed: do not load its (N, 4, L) array
    shape, _ = npz_member_info(sequences, "arr_0")
    with np.load(sequences, allow_pickle=False) as z:
        if not {"chrom", "start", "end"} <= set(z.files):
            raise ValueError(f"{sequences}: the windows have no genome coordinates (encode from a BED, or from "
                             "a FASTA whose record names look like chr1:100-300)")
        coords = {k: z[k] for k in COORD_KEYS if k in z.files}
    P = position_relevance_file(attributions)  # (N, L), read block by block
    if P.shape != (shape[0], shape[-1]):
        raise ValueError(f"{attributions}: {P.shape[0]} windows of length {P.shape[1]} do not match the "
                         f"{shape[0]} sequences of length {shape[-1]} in {sequences}")
    sizes = read_chrom_sizes(chrom_sizes) if chrom_sizes else None
    if bedgraph:
        n = write_bedgraph(bedgraph, P, coords, reduce=reduce, chrom_sizes=sizes, keep_zeros=keep_zeros,
                           track_line=f'track type=bedGraph name="{name}" description="sparselrp relevance"')
        click.echo(f"{bedgraph}: {n} intervals", err=True)
    if bigwig:
        n = write_bigwig(bigwig, P, coords, chrom_sizes=sizes, reduce=reduce, keep_zeros=keep_zeros)
        click.echo(f"{bigwig}: {n} intervals", err=True)
