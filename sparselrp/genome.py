"""Genomic inputs: FASTA streaming, BED intervals, windows from an indexed genome.

- :func:`read_fasta` streams ``(name, sequence)`` records (Bio.SeqIO's FASTA
  parser; plain or gzip, recognised by its magic bytes; Windows line endings
  accepted).
- :func:`read_bed` reads BED3/BED6/BED12/narrowPeak into :class:`BedInterval`.
- :func:`extract_windows` cuts fixed-width windows centred on intervals out of
  an indexed genome FASTA (pyfaidx), reverse-complementing minus-strand ones.
- :func:`parse_region_name` reads ``chrom:start-end`` record names.

Coordinates are 0-based and half-open throughout, as in BED.
Malformed files raise :class:`~sparselrp.errors.InputFormatError` naming the
file and the 1-based line.

>>> from sparselrp import data, genome
>>> ivs = genome.read_bed(data.gene_bed())
>>> w = genome.extract_windows(ivs, data.chr17_fasta(), length=1000)
>>> len(w.seqs[0]), str(w.strand[0])
(1000, '-')
"""

import contextlib
import dataclasses
import gzip
import os
import re
import warnings
import zlib
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .errors import InputFormatError
from .sequence import reverse_complement

__all__ = [
    "read_fasta",
    "read_fasta_records",
    "read_bed",
    "BedInterval",
    "Windows",
    "extract_windows",
    "open_genome",
    "parse_region_name",
    "coords_from_names",
]

_GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def _open_binary(path):
    """Open a file for reading bytes, transparently gunzipping gzip (by magic bytes)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, not a file", str(path))
    fh = open(path, "rb")
    try:
        magic = fh.read(2)
        fh.seek(0)
        if magic == _GZIP_MAGIC:
            gz = gzip.GzipFile(fileobj=fh, mode="rb")
            try:
                yield gz
            finally:
                gz.close()
        else:
            yield fh
    finally:
        fh.close()


def _lines(path):
    """Yield ``(line_number, text)`` of a plain or gzip text file, line endings removed.

    Decoding or decompression problems become :class:`InputFormatError`.
    """
    lineno = 0
    with _open_binary(path) as fh:
        try:
            for raw in fh:
                lineno += 1
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputFormatError(
                        f"not a text file (undecodable byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                        path, lineno,
                    ) from None
                yield lineno, text.rstrip("\r\n")
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputFormatError(f"corrupt or truncated gzip file ({exc})", path, lineno + 1) from None


def read_fasta(path):
    """Stream the records of a FASTA file.

    Parameters
    ----------
    path : str or Path
        FASTA file, plain or gzip-compressed (recognised by its magic bytes,
        whatever the suffix). Windows (CRLF) line endings are accepted;
        blank lines are ignored.

    Yields
    ------
    name : str
        The record's identifier (the header up to the first whitespace).
    seq : str
        The sequence, case kept, line breaks removed. Bases are not checked
        here; the encoders check them.

    Raises
    ------
    InputFormatError
        An empty file (no records), text before the first ``>`` header, a
        header without a name, an undecodable or corrupt file. The message
        names the file and line.
    FileNotFoundError
        A missing file.

    Notes
    -----
    :func:`read_fasta_records` yields the header's line number as well, for
    error messages about a record.
    """
    for name, seq, _ in read_fasta_records(path):
        yield name, seq


def read_fasta_records(path):
    """Like :func:`read_fasta`, yielding ``(name, seq, header_line)`` triples."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    header_lines = []

    def checked_lines():
        seen_header = False
        for lineno, text in _lines(path):
            if not text.strip():
                continue
            if text.startswith(">"):
                seen_header = True
                if not text[1:].strip():
                    raise InputFormatError("FASTA header without a name", path, lineno)
                header_lines.append(lineno)
            elif not seen_header:
                raise InputFormatError(
                    f"not a FASTA file: expected a '>' header line, found {text[:20]!r}", path, lineno
                )
            yield text + "\n"
        if not seen_header:
            raise InputFormatError("empty FASTA file (no '>' records)", path)

    for i, (title, seq) in enumerate(SimpleFastaParser(checked_lines())):
        yield title.split(None, 1)[0], seq, header_lines[i]


@dataclasses.dataclass
class BedInterval:
    """One BED line.

    Attributes
    ----------
    chrom : str
    start, end : int
        0-based half-open coordinates.
    name : str or None
        Column 4 (None when absent or ``.``).
    score : float or None
        Column 5 (None when absent or ``.``).
    strand : str
        ``"+"``, ``"-"`` or ``"."`` (``"."`` when absent).
    line : int
        1-based line number in the file.
    path : str or None
        The BED file, for error messages.
    summit : int or None
        narrowPeak summit as an absolute position (start + column 10), when
        the file has exactly 10 columns and column 10 is not -1.
    """

    chrom: str
    start: int
    end: int
    name: str | None = None
    score: float | None = None
    strand: str = "."
    line: int | None = None
    path: str | None = None
    summit: int | None = None


_INT = re.compile(r"^[+]?\d+$")


def _parse_int(text, what, path, lineno):
    text = text.strip()
    if not _INT.match(text):
        if re.match(r"^-\d+$", text):
            raise InputFormatError(f"negative {what} coordinate {text}", path, lineno)
        raise InputFormatError(f"{what} coordinate {text!r} is not a non-negative integer", path, lineno)
    return int(text)


def read_bed(path):
    """Read intervals from a BED file.

    Accepts BED3, BED6, BED12 and narrowPeak (any number of columns >= 3,
    tab-separated, or whitespace-separated when a line has no tab). Blank
    lines and lines starting with ``track``, ``browser`` or ``#`` are
    skipped, as is a column-header first line (whose start and end columns
    are words). Plain or gzip.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of BedInterval
        In file order (possibly empty).

    Raises
    ------
    InputFormatError
        Fewer than 3 columns, a start or end that is not a non-negative
        integer, start > end, a score that is not a number or ``.``, a strand
        other than ``+``, ``-``, ``.``; naming the file and line.
    """
    out = []
    first_content = True
    for lineno, text in _lines(path):
        stripped = text.strip()
        if not stripped or stripped.startswith(("#", "track", "browser")):
            continue
        fields = text.split("\t") if "\t" in text else text.split()
        fields = [f.strip() for f in fields]
        if len(fields) < 3:
            raise InputFormatError(
                f"expected at least 3 columns (chrom, start, end), got {len(fields)}", path, lineno
            )
        if first_content and not _INT.match(fields[1]) and not _INT.match(fields[2]) \
                and fields[1][:1].isalpha() and fields[2][:1].isalpha():
            first_content = False
            continue  # a column header such as "chrom start end"
        first_content = False
        chrom = fields[0]
        if not chrom:
            raise InputFormatError("empty chromosome name", path, lineno)
        start = _parse_int(fields[1], "start", path, lineno)
        end = _parse_int(fields[2], "end", path, lineno)
        if start > end:
            raise InputFormatError(f"start {start} is greater than end {end}", path, lineno)
        name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else None
        score = None
        if len(fields) > 4 and fields[4] not in ("", "."):
            try:
                score = float(fields[4])
            except ValueError:
                raise InputFormatError(f"score {fields[4]!r} (column 5) is not a number", path, lineno) from None
        strand = "."
        if len(fields) > 5 and fields[5] != "":
            strand = fields[5]
            if strand not in ("+", "-", "."):
                raise InputFormatError(f"strand {strand!r} (column 6) is not '+', '-' or '.'", path, lineno)
        summit = None
        if len(fields) == 10 and re.match(r"^-?\d+$", fields[9]) and int(fields[9]) >= 0:
            summit = start + int(fields[9])
            if summit > end:
                raise InputFormatError(f"narrowPeak summit offset {fields[9]} lies past the peak end", path, lineno)
        out.append(BedInterval(chrom, start, end, name, score, strand, lineno, str(path), summit))
    return out


_REGION = re.compile(r"^(?P<chrom>[^\s:]+):(?P<start>\d[\d,]*)-(?P<end>\d[\d,]*)(?:\((?P<strand>[+-])\))?$")


def parse_region_name(name):
    """Parse a record name of the form ``chrom:start-end``.

    The coordinates are taken as 0-based half-open (BED style, as written by
    ``bedtools getfasta`` and in the shipped CTCF peaks, whose 200 bp records
    are named e.g. ``chr11:190037-190237``). A trailing ``(+)`` or ``(-)``
    strand tag is allowed and ignored; thousands separators are allowed.

    Parameters
    ----------
    name : str

    Returns
    -------
    tuple of (str, int, int) or None
        ``(chrom, start, end)``, or None when the name is not a region or
        start > end.
    """
    m = _REGION.match(name.strip()) if isinstance(name, str) else None
    if m is None:
        return None
    start, end = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
    if start > end:
        return None
    return m["chrom"], start, end


def coords_from_names(names, seq_lengths=None, length=None):
    """Genome coordinates of FASTA records named ``chrom:start-end``.

    Parameters
    ----------
    names : sequence of str
        ``N`` record names.
    seq_lengths : sequence of int, optional
        ``N`` record lengths, needed with ``length``.
    length : int, optional
        The length the records were padded / cropped to (centred, as
        :func:`~sparselrp.sequence.one_hot_encode_batch` does); the returned
        coordinates are then those of the encoded windows. A record whose
        length differs from its region's is centred on the region instead.

    Returns
    -------
    dict or None
        ``chrom`` ``(N,)`` str, ``start``, ``end`` ``(N,)`` int64 (0-based
        half-open), ``strand`` ``(N,)`` str (``"+"``/``"-"`` from a trailing
        ``(+)``/``(-)`` tag, else ``"."``); None unless every name parses.
    """
    regions = [parse_region_name(nm) for nm in names]
    if not regions or any(r is None for r in regions):
        return None
    start = np.array([r[1] for r in regions], dtype=np.int64)
    end = np.array([r[2] for r in regions], dtype=np.int64)
    if length is not None:
        if seq_lengths is None:
            raise ValueError("coords_from_names needs seq_lengths together with length")
        lens = np.asarray(seq_lengths, dtype=np.int64)
        offset = np.where(lens >= length, (lens - length) // 2, -((length - lens) // 2))
        same = end - start == lens
        mid = (start + end) // 2
        start = np.where(same, start + offset, mid - length // 2)
        end = start + length
    return {
        "chrom": np.array([r[0] for r in regions], dtype=str),
        "start": start,
        "end": end,
        "strand": np.array([nm.strip()[-2] if nm.strip().endswith(("(+)", "(-)")) else "." for nm in names],
                           dtype=str),
    }


@dataclasses.dataclass
class Windows:
    """Fixed-width genome windows, one per kept interval.

    Attributes
    ----------
    seqs : list of str
        ``N`` sequences of the window length (soft-masking kept; N where a
        window runs off its chromosome and ``off_chrom="pad"``); minus-strand
        windows are reverse complemented.
    names : list of str
        The interval's name, or ``chrom:start-end`` of the interval.
    chrom : numpy.ndarray
        ``(N,)`` str.
    start, end : numpy.ndarray
        ``(N,)`` int64, the window's genome coordinates (0-based half-open;
        may reach past the chromosome when padded).
    strand : numpy.ndarray
        ``(N,)`` str, ``"+"``, ``"-"`` or ``"."``.
    index : numpy.ndarray
        ``(N,)`` int64, position of each window's interval in the input list.
    """

    seqs: list
    names: list
    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray
    strand: np.ndarray
    index: np.ndarray

    def __len__(self):
        return len(self.seqs)

    def coords(self):
        """The coordinate arrays as a dict (``chrom``, ``start``, ``end``, ``strand``)."""
        return {"chrom": self.chrom, "start": self.start, "end": self.end, "strand": self.strand}


def _index_hint(path):
    return (
        f"index it with `samtools faidx {path}` or "
        f"`python -c 'import pyfaidx; pyfaidx.Faidx(\"{path}\")'` where you can write, "
        "or copy the FASTA to a writable directory"
    )


def open_genome(path):
    """Open an indexed genome FASTA with pyfaidx.

    A missing ``.fai`` index is built beside the FASTA (atomically) when its
    directory is writable; otherwise the error says how to build it. An
    index older than the FASTA is rebuilt when possible and otherwise used
    with pyfaidx's warning.

    Parameters
    ----------
    path : str or Path
        Plain or bgzip-compressed FASTA.

    Returns
    -------
    pyfaidx.Fasta
        Opened with ``as_raw=True`` (slices are plain str, case kept).

    Raises
    ------
    FileNotFoundError
        The FASTA does not exist.
    InputFormatError
        No index and a read-only directory, or a FASTA pyfaidx cannot index
        (plain gzip instead of bgzip, unequal line lengths, duplicate names).
    """
    import pyfaidx

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "genome FASTA not found", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, not a genome FASTA", str(path))
    fai = Path(str(path) + ".fai")
    writable = os.access(path.parent if str(path.parent) else ".", os.W_OK)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC and not str(path).lower().endswith((".gz", ".bgz")):
        raise InputFormatError(
            "genome FASTA is gzip-compressed but its name does not end in .gz; "
            "rename it, or decompress it (or recompress it with bgzip)", path)
    if not fai.exists():
        if not writable:
            raise InputFormatError(f"genome FASTA has no index ({fai.name}) and its directory is not writable; "
                                   + _index_hint(path), path)
        _build_index(path, fai)
    elif writable and fai.stat().st_mtime < path.stat().st_mtime:
        _build_index(path, fai)  # stale index
    try:
        return pyfaidx.Fasta(str(path), as_raw=True, rebuild=False, build_index=False)
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as exc:
        raise InputFormatError(f"cannot index genome FASTA: {str(exc).splitlines()[0]}", path) from None


def _build_index(path, fai):
    import pyfaidx

    if _magic_is_gzip(path) and not _is_bgzf(path):
        raise InputFormatError(
            "genome FASTA is plain gzip; pyfaidx needs bgzip (`gunzip` it, or recompress it with `bgzip`)", path)
    try:
        with atomic_path(fai) as tmp:
            tmp.unlink()
            pyfaidx.Faidx(str(path), indexname=str(tmp), build_index=True).close()
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat) as exc:
        raise InputFormatError(f"cannot index genome FASTA: {str(exc).splitlines()[0]}", path) from None
    except ValueError as exc:  # e.g. duplicate record names
        raise InputFormatError(f"cannot index genome FASTA: {str(exc).splitlines()[0]}", path) from None


def _magic_is_gzip(path):
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _is_bgzf(path):
    with open(path, "rb") as fh:
        head = fh.read(18)
    # BGZF: gzip with FEXTRA and a 'BC' subfield
    return len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC"


def extract_windows(intervals, genome, length, off_chrom="pad", center="middle"):
    """Cut windows of fixed width centred on intervals out of a genome.

    Parameters
    ----------
    intervals : list of BedInterval
        E.g. from :func:`read_bed`.
    genome : str, Path or pyfaidx.Fasta
        Indexed genome FASTA (see :func:`open_genome` for the index policy).
    length : int
        Window width ``L``. The window of an interval ``[s, e)`` starts at
        ``(s + e) // 2 - L // 2``.
    off_chrom : {"pad", "skip"}
        A window that runs off a chromosome end is padded with N (``"pad"``)
        or dropped with one warning that counts them (``"skip"``).
    center : {"middle", "summit"}
        Centre on the interval's middle, or on a narrowPeak summit where the
        interval has one (``(summit, summit + 1)`` is centred then).

    Returns
    -------
    Windows
        One window per kept interval, in input order.

    Raises
    ------
    InputFormatError
        A chromosome the genome does not have, or an interval that itself
        ends past its chromosome's end (a sign of the wrong genome build),
        naming the BED file and line.
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive integer, not {length!r}")
    if off_chrom not in ("pad", "skip"):
        raise ValueError(f"off_chrom must be 'pad' or 'skip', not {off_chrom!r}")
    if center not in ("middle", "summit"):
        raise ValueError(f"center must be 'middle' or 'summit', not {center!r}")
    length = int(length)
    fasta = genome if hasattr(genome, "faidx") else open_genome(genome)
    chrom_len = {name: rec.rlen for name, rec in fasta.faidx.index.items()}
    gname = getattr(fasta, "filename", str(genome))
    seqs, names, chroms, starts, ends, strands, index = [], [], [], [], [], [], []
    skipped = []
    for i, iv in enumerate(intervals):
        if iv.chrom not in chrom_len:
            known = ", ".join(list(chrom_len)[:5]) + (", ..." if len(chrom_len) > 5 else "")
            raise InputFormatError(
                f"chromosome {iv.chrom!r} is not in the genome {gname} (it has {known})",
                iv.path or "BED", iv.line,
            )
        if iv.end > chrom_len[iv.chrom]:
            raise InputFormatError(
                f"interval {iv.chrom}:{iv.start}-{iv.end} ends past the end of {iv.chrom} "
                f"({chrom_len[iv.chrom]} bp) in the genome {gname}; is it the right genome build?",
                iv.path or "BED", iv.line,
            )
        if center == "summit" and iv.summit is not None:
            mid = iv.summit
        else:
            mid = (iv.start + iv.end) // 2
        ws = mid - length // 2
        we = ws + length
        clen = chrom_len[iv.chrom]
        if ws < 0 or we > clen:
            if off_chrom == "skip":
                skipped.append(iv)
                continue
        lo, hi = max(ws, 0), min(we, clen)
        s = fasta[iv.chrom][lo:hi] if hi > lo else ""
        s = "N" * (lo - ws) + s + "N" * (we - max(hi, lo))
        if iv.strand == "-":
            try:
                s = reverse_complement(s)
            except ValueError as exc:
                raise InputFormatError(f"window {iv.chrom}:{ws}-{we} of genome {gname}: {exc}",
                                       iv.path or "BED", iv.line) from None
        seqs.append(s)
        names.append(iv.name if iv.name else f"{iv.chrom}:{iv.start}-{iv.end}")
        chroms.append(iv.chrom)
        starts.append(ws)
        ends.append(we)
        strands.append(iv.strand)
        index.append(i)
    if skipped:
        iv = skipped[0]
        where = f"{iv.path}, line {iv.line}" if iv.path else f"interval {iv.chrom}:{iv.start}-{iv.end}"
        warnings.warn(
            f"skipped {len(skipped)} interval(s) whose {length} bp window runs off a chromosome end "
            f"(first: {where})", stacklevel=2,
        )
    return Windows(
        seqs=seqs,
        names=names,
        chrom=np.array(chroms, dtype=str),
        start=np.array(starts, dtype=np.int64),
        end=np.array(ends, dtype=np.int64),
        strand=np.array(strands, dtype=str),
        index=np.array(index, dtype=np.int64),
    )
