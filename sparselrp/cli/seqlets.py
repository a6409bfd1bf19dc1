"""``sparselrp seqlets``: call seqlets from attributions; write TSV (and BED)."""

import click

from ._common import main


def load_inputs(attr, ohe):
    """(R numpy (N,4,L), OneHot) with matching shapes; errors name the files."""
    from ..errors import InputFormatError
    from ..io.attributions import load_attributions
    from ..io.onehot import load_onehot

    R = load_attributions(attr).numpy()
    oh = load_onehot(ohe)
    if tuple(R.shape) != tuple(oh.X.shape):
        raise InputFormatError(f"attributions have shape {tuple(R.shape)} but the one-hot file {ohe} has shape "
                               f"{tuple(oh.X.shape)}; they must come from the same sequences", attr)
    return R, oh


@main.command("seqlets")
@click.option("-a", "--attributions", "attr", required=True, type=click.Path(dir_okay=False),
              help="Attributions .npz (N, 4, L), dense ('arr_0') or sparse.")
@click.option("-s", "--sequences", "ohe", required=True, type=click.Path(dir_okay=False),
              help="One-hot .npz from 'sparselrp encode' (names and genome coordinates are taken from it).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output seqlet table (TSV, all columns).")
@click.option("--bed", type=click.Path(dir_okay=False), default=None,
              help="Also write BED6 (genome coordinates when the one-hot file has them).")
@click.option("--threshold", type=float, default=None,
              help="Per-position relevance threshold on |r| (sum of the four rows). "
                   "Default: data-driven, the level above which positions hold --mass of the total |r|.")
@click.option("--mass", type=click.FloatRange(0, 1, min_open=True), default=0.8, show_default=True,
              help="Share of the total |relevance| the relevant positions hold (default threshold).")
@click.option("--merge-gap", type=click.IntRange(min=0), default=4, show_default=True,
              help="Merge runs separated by at most this many positions.")
@click.option("--flank", type=click.IntRange(min=0), default=5, show_default=True,
              help="Positions added on each side of a seqlet (clipped at the window borders).")
@click.option("--min-length", type=click.IntRange(min=0), default=4, show_default=True,
              help="Minimum length of a relevant run (before flanks).")
@click.option("--min-score", type=float, default=None, help="Minimum |score| (summed relevance) of a seqlet.")
@click.option("--sign", type=click.Choice(["both", "positive", "negative"]), default="both", show_default=True,
              help="Which relevance counts as relevant.")
def seqlets_cmd(attr, ohe, output, bed, threshold, mass, merge_gap, flank, min_length, min_score, sign):
    """Find seqlets (contiguous relevant runs) in attributions; write them as TSV (and BED)."""
    from ..io.seqlets import write_seqlets_bed, write_seqlets_tsv
    from ..motifs.seqlets import find_seqlets

    R, oh = load_inputs(attr, ohe)
    s = find_seqlets(R, threshold=threshold, merge_gap=merge_gap, flank=flank, min_length=min_length,
                     min_score=min_score, sign=sign, mass=mass, coords=oh.coords, names=oh.names)
    write_seqlets_tsv(output, s)
    if bed:
        write_seqlets_bed(bed, s)
    n_seq = len(set(s.seq.tolist()))
    click.echo(f"{len(s)} seqlets in {n_seq} of {R.shape[0]} sequences (threshold {s.threshold:.4g})"
               f" -> {output}" + (f", {bed}" if bed else ""))
