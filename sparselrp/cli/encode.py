"""``sparselrp encode``: FASTA, or BED + genome, to a one-hot ``.npz`` (N, 4, L)."""

import warnings

import click

from ._common import main


def _encode_records(path, records, length, n_value, iupac):
    """One-hot of FASTA records with errors that name the file, record and header line."""
    from ..errors import InputFormatError
    from ..sequence import one_hot_encode_batch

    if not records:
        raise InputFormatError("no FASTA records", path)
    seqs = [r[1] for r in records]
    for name, seq, line in records:
        if not seq:
            raise InputFormatError(f"record {name!r} has an empty sequence", path, line)
    if length is None:
        L0 = len(seqs[0])
        for name, seq, line in records:
            if len(seq) != L0:
                raise InputFormatError(
                    f"record {name!r} has length {len(seq)} but the first record {records[0][0]!r} has "
                    f"length {L0}; pass --length to pad or crop all sequences (centred) to one length",
                    path, line,
                )
    try:
        return one_hot_encode_batch(seqs, length=length, n_value=n_value, iupac=iupac)
    except ValueError as exc:
        msg = str(exc)
        # "sequence I: ..." -> name the record and its header line
        head, _, rest = msg.partition(": ")
        if head.startswith("sequence ") and head[9:].isdigit():
            name, _, line = records[int(head[9:])]
            raise InputFormatError(f"record {name!r}: {rest}", path, line) from None
        raise


@main.command("encode")
@click.argument("input_fasta", metavar="[INPUT.fa]", required=False,
                type=click.Path(dir_okay=False))
@click.option("--bed", type=click.Path(dir_okay=False), default=None,
              help="BED file of regions (BED3/6/12 or narrowPeak) instead of a FASTA; needs --genome and --length.")
@click.option("--genome", type=click.Path(dir_okay=False), default=None,
              help="Genome FASTA for --bed (indexed with .fai; the index is built when missing and the "
                   "directory is writable).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output .npz: one-hot (N, 4, L) float32 under 'arr_0', sequence names under 'names', "
                   "and chrom/start/end/strand when the coordinates are known.")
@click.option("--length", type=click.IntRange(min=1), default=None,
              help="Window length: pad (with N) or crop each sequence, centred. Required with --bed; "
                   "without it all FASTA records must have the same length.")
@click.option("--n-value", type=click.Choice(["0", "0.25"]), default="0",
              help="Value of the four rows at an N (0: all-zero column).")
@click.option("--iupac", type=click.Choice(["error", "n"]), default="error",
              help="Other IUPAC codes (R, Y, S, W, K, M, B, D, H, V): an error, or treat them as N.")
@click.option("--off-chrom", type=click.Choice(["pad", "skip"]), default="pad",
              help="--bed windows that run off a chromosome end: pad with N, or skip them (with a warning).")
@click.option("--center", type=click.Choice(["middle", "summit"]), default="middle",
              help="--bed windows centred on the interval's middle, or on the narrowPeak summit (column 10).")
def encode_command(input_fasta, bed, genome, output, length, n_value, iupac, off_chrom, center):
    """One-hot encode sequences from INPUT.fa (plain or gzip), or regions from --bed of --genome.

    FASTA records named chrom:start-end (as bedtools getfasta writes them) also store their
    coordinates. Prints a one-line summary to stderr.
    """
    from ..errors import InputFormatError
    from ..io.onehot import save_onehot

    n_value = float(n_value)
    if input_fasta is not None and bed is not None:
        raise click.UsageError("give either INPUT.fa or --bed, not both")
    if input_fasta is None and bed is None:
        raise click.UsageError("give INPUT.fa, or --bed with --genome and --length")
    if bed is not None:
        if genome is None:
            raise click.UsageError("--bed needs --genome")
        if length is None:
            raise click.UsageError("--bed needs --length (the window width)")
    elif genome is not None:
        raise click.UsageError("--genome goes with --bed, not with INPUT.fa")

    if bed is not None:
        from ..genome import extract_windows, open_genome, read_bed
        from ..sequence import one_hot_encode_batch

        intervals = read_bed(bed)
        if not intervals:
            raise InputFormatError("no intervals (only headers, comments or blank lines)", bed)
        fasta = open_genome(genome)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            windows = extract_windows(intervals, fasta, length, off_chrom=off_chrom, center=center)
        for w in caught:
            click.echo(f"sparselrp: warning: {w.message}", err=True)
        if not windows.seqs:
            raise InputFormatError(f"no windows left: every {length} bp window runs off its chromosome", bed)
        try:
            X = one_hot_encode_batch(windows.seqs, n_value=n_value, iupac=iupac)
        except ValueError as exc:
            head, _, rest = str(exc).partition(": ")
            if head.startswith("sequence ") and head[9:].isdigit():
                iv = intervals[int(windows.index[int(head[9:])])]
                raise InputFormatError(
                    f"window {windows.chrom[int(head[9:])]}:{windows.start[int(head[9:])]}-"
                    f"{windows.end[int(head[9:])]} of {genome}: {rest}", bed, iv.line) from None
            raise
        names, coords, source = windows.names, windows.coords(), bed
    else:
        from ..genome import coords_from_names, read_fasta_records

        records = list(read_fasta_records(input_fasta))
        X = _encode_records(input_fasta, records, length, n_value, iupac)
        names = [r[0] for r in records]
        coords = coords_from_names(names, [len(r[1]) for r in records], length)
        source = input_fasta
    save_onehot(output, X, names=names, coords=coords)
    N, _, L = X.shape
    extra = " with coordinates" if coords is not None else ""
    click.echo(f"sparselrp encode: {N} sequences x {L} bp from {source} -> {output}{extra}", err=True)
