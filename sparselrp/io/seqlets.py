"""Seqlet tables: TSV (all columns; writer and strict reader) and BED6 (writer).

TSV columns, tab-separated, one header line::

    seqlet_id  seq  name  start  end  score  strand  chrom  genome_start  genome_end

``name``, ``chrom``, ``genome_start``, ``genome_end`` are ``.`` when unknown.
``start``/``end`` are 0-based half-open window coordinates in sequence ``seq``.

BED6: ``chrom start end name score strand`` with genome coordinates when the
table has them, otherwise the sequence name (or ``seq<i>``) and window
coordinates. The BED ``name`` is ``seqlet_<id>``; the BED ``score`` is
``|score|`` scaled to 0-1000 by the table's largest ``|score|`` (an integer, as
the BED format requires; the TSV keeps the raw relevance).
"""

from __future__ import annotations

import re

import numpy as np

from .._atomic import atomic_open
from ..errors import InputFormatError

__all__ = ["write_seqlets_tsv", "write_seqlets_bed", "read_seqlets_tsv", "TSV_COLUMNS"]

TSV_COLUMNS = ("seqlet_id", "seq", "name", "start", "end", "score", "strand", "chrom", "genome_start", "genome_end")


def _check_field(v, what):
    if any(c in v for c in "\t\n\r") or v == "":
        raise ValueError(f"{what} {v!r} cannot be written to a tab-separated file")
    return v


def write_seqlets_tsv(path, seqlets):
    """Write a seqlet table with all columns, atomically.

    Parameters
    ----------
    path : str or Path
    seqlets : Seqlets
    """
    m = len(seqlets)
    names = seqlets.name if seqlets.name is not None else np.full(m, ".")
    chrom = seqlets.chrom if seqlets.chrom is not None else np.full(m, ".")
    gs = seqlets.genome_start if seqlets.genome_start is not None else None
    ge = seqlets.genome_end if seqlets.genome_end is not None else None
    lines = ["\t".join(TSV_COLUMNS)]
    for i in range(m):
        lines.append("\t".join([
            str(i), str(int(seqlets.seq[i])), _check_field(str(names[i]), "sequence name"),
            str(int(seqlets.start[i])), str(int(seqlets.end[i])), repr(float(seqlets.score[i])),
            _check_field(str(seqlets.strand[i]), "strand"), _check_field(str(chrom[i]), "chromosome"),
            "." if gs is None else str(int(gs[i])), "." if ge is None else str(int(ge[i])),
        ]))
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")


def write_seqlets_bed(path, seqlets):
    """Write seqlets as BED6, atomically (see the module docstring for the columns).

    Parameters
    ----------
    path : str or Path
    seqlets : Seqlets
    """
    m = len(seqlets)
    if seqlets.has_genome_coords:
        chrom, start, end = seqlets.chrom, seqlets.genome_start, seqlets.genome_end
    else:
        chrom = seqlets.name if seqlets.name is not None else np.array([f"seq{i}" for i in seqlets.seq])
        start, end = seqlets.start, seqlets.end
    a = np.abs(seqlets.score)
    top = a.max() if m else 0.0
    bed_score = np.rint(1000 * a / top).astype(int) if top > 0 else np.zeros(m, dtype=int)
    lines = []
    for i in range(m):
        lines.append(f"{_check_field(str(chrom[i]), 'chromosome')}\t{int(start[i])}\t{int(end[i])}\t"
                     f"seqlet_{i}\t{bed_score[i]}\t{seqlets.strand[i]}")
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(line + "\n" for line in lines))


def _int(v, col, path, line, allow_dot=False):
    if allow_dot and v == ".":
        return None
    if not re.fullmatch(r"-?[0-9]{1,18}", v):
        raise InputFormatError(f"column {col!r}: {v[:30]!r} is not an integer", path, line)
    return int(v)


def read_seqlets_tsv(path):
    """Read a seqlet table written by :func:`write_seqlets_tsv`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Seqlets
        Rows in file order (``seqlet_id`` must be 0, 1, 2, ... so that motif
        ``seqlet_ids`` keep pointing at the same rows).

    Raises
    ------
    InputFormatError
        Wrong header, wrong number of columns, a non-numeric or out-of-range
        value (the message names the file, line and column).
    """
    from ..motifs.seqlets import Seqlets

    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFormatError(f"not a text file (undecodable byte at offset {exc.start})", path, line) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise InputFormatError("empty file; expected a seqlet table with a header line", path)
    header = lines[0].rstrip("\r").split("\t")
    if tuple(header) != TSV_COLUMNS:
        raise InputFormatError("not a seqlet table: the header must be " + " ".join(TSV_COLUMNS), path, 1)
    cols = {c: [] for c in TSV_COLUMNS}
    for k, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            raise InputFormatError("empty line inside the table", path, k)
        f = line.split("\t")
        if len(f) != len(TSV_COLUMNS):
            raise InputFormatError(f"{len(f)} columns, expected {len(TSV_COLUMNS)}", path, k)
        sid = _int(f[0], "seqlet_id", path, k)
        if sid != k - 2:
            raise InputFormatError(f"seqlet_id {sid} out of order (expected {k - 2})", path, k)
        seq = _int(f[1], "seq", path, k)
        start = _int(f[3], "start", path, k)
        end = _int(f[4], "end", path, k)
        if seq < 0 or start < 0 or end < start:
            raise InputFormatError(f"invalid seqlet (seq {seq}, start {start}, end {end}): need seq >= 0 "
                                   "and 0 <= start <= end", path, k)
        try:
            score = float(f[5])
        except ValueError:
            raise InputFormatError(f"column 'score': {f[5][:30]!r} is not a number", path, k) from None
        if not np.isfinite(score):
            raise InputFormatError(f"column 'score': {f[5][:30]!r} is not finite", path, k)
        if f[6] not in ("+", "-", "."):
            raise InputFormatError(f"column 'strand': {f[6][:30]!r} is not '+', '-' or '.'", path, k)
        gs = _int(f[8], "genome_start", path, k, allow_dot=True)
        ge = _int(f[9], "genome_end", path, k, allow_dot=True)
        if (gs is None) != (ge is None) or (gs is None) != (f[7] == "."):
            raise InputFormatError("chrom, genome_start and genome_end must be all given or all '.'", path, k)
        if gs is not None and (gs < 0 or ge < gs):
            raise InputFormatError(f"invalid genome coordinates {gs}-{ge}", path, k)
        for c, v in zip(TSV_COLUMNS, (sid, seq, f[2], start, end, score, f[6], f[7], gs, ge)):
            cols[c].append(v)
    m = len(cols["seq"])
    has_names = m > 0 and any(v != "." for v in cols["name"])
    has_coords = m > 0 and all(v is not None for v in cols["genome_start"])
    if m and not has_coords and any(v is not None for v in cols["genome_start"]):
        raise InputFormatError("genome coordinates must be given for all seqlets or none", path)
    return Seqlets(
        seq=np.array(cols["seq"], dtype=np.int64), start=np.array(cols["start"], dtype=np.int64),
        end=np.array(cols["end"], dtype=np.int64), score=np.array(cols["score"], dtype=np.float64),
        strand=np.array(cols["strand"], dtype=str) if m else np.zeros(0, dtype=str),
        name=np.array(cols["name"], dtype=str) if has_names else None,
        chrom=np.array(cols["chrom"], dtype=str) if has_coords else None,
        genome_start=np.array(cols["genome_start"], dtype=np.int64) if has_coords else None,
        genome_end=np.array(cols["genome_end"], dtype=np.int64) if has_coords else None,
    )
