"""The regions of a one-hot file as BED6 or narrowPeak, one row per npz row.

Row ``i`` of the file is sequence ``i`` of the one-hot (and attribution) npz, so a
tool that pairs a peaks file with the npz pair by row (tfmodisco-lite's
``seqlet-bed`` / ``seqlet-fasta``, Fi-NeMo's ``extract-regions-modisco-fmt``) finds the
right window: rows dropped at encoding are not in it. Columns::

    chrom  start  end  name  score  strand                                  (BED6)
    chrom  start  end  name  score  strand  signal  p  q  summit            (narrowPeak)

``start``/``end`` are the genome window of the sequence (0-based, half open) when the
one-hot file has coordinates; otherwise ``chrom`` is the sequence name and the window
is ``0..L``. ``score`` is 0, ``signal``/``p``/``q`` are ``-1`` (unknown, as the
narrowPeak format allows) and ``summit`` is ``L // 2``, so that ``start + summit -
L // 2 == start``: the window is centred on the summit, as Fi-NeMo and tfmodisco-lite
centre theirs.
"""

from __future__ import annotations

import numpy as np

from .._atomic import atomic_open

__all__ = ["write_regions", "read_regions"]


def _field(v, what):
    v = str(v)
    if not v or any(c.isspace() for c in v):
        raise ValueError(f"{what} {v!r} cannot be written to a BED file (empty or containing whitespace)")
    return v


def write_regions(path, n, length, names=None, coords=None, fmt=None):
    """Write one BED6 or narrowPeak row per sequence, atomically.

    Parameters
    ----------
    path : str or Path
        Output file; ``fmt`` None picks narrowPeak for a name ending in
        ``.narrowPeak`` (any case, optionally ``.gz``-less), else BED6.
    n : int
        Number of sequences (rows of the npz).
    length : int
        Sequence length L.
    names : sequence of str, optional
        Sequence names (default ``seq0``, ``seq1``, ...).
    coords : dict, optional
        ``chrom``, ``start``, ``end`` and optionally ``strand`` arrays of length n
        (as :func:`sparselrp.io.onehot.load_onehot` gives them).
    fmt : {"bed", "narrowpeak"}, optional

    Raises
    ------
    ValueError
        Arrays of the wrong length, or a name with whitespace.
    """
    if fmt is None:
        fmt = "narrowpeak" if str(path).lower().endswith(".narrowpeak") else "bed"
    fmt = fmt.lower()
    if fmt not in ("bed", "narrowpeak"):
        raise ValueError(f"fmt must be 'bed' or 'narrowpeak', got {fmt!r}")
    names = [f"seq{i}" for i in range(n)] if names is None else [str(v) for v in names]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} sequences")
    if coords is not None:
        chrom = np.asarray(coords["chrom"], dtype=str)
        start = np.asarray(coords["start"], dtype=np.int64)
        end = np.asarray(coords["end"], dtype=np.int64)
        strand = np.asarray(coords.get("strand", np.full(n, ".")), dtype=str)
        for k, v in (("chrom", chrom), ("start", start), ("end", end), ("strand", strand)):
            if len(v) != n:
                raise ValueError(f"coords[{k!r}] has {len(v)} entries for {n} sequences")
    else:
        chrom, start, end, strand = names, np.zeros(n, np.int64), np.full(n, length, np.int64), np.full(n, ".")
    lines = []
    for i in range(n):
        row = [_field(chrom[i], "chromosome"), str(int(start[i])), str(int(end[i])), _field(names[i], "name"), "0",
               strand[i] if strand[i] in ("+", "-") else "."]
        if fmt == "narrowpeak":
            row += ["-1", "-1", "-1", str(int(length) // 2)]
        lines.append("\t".join(row))
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("".join(line + "\n" for line in lines))


def read_regions(path):
    """Read a regions file written by :func:`write_regions` (BED6 or narrowPeak).

    Returns
    -------
    list of tuple
        ``(chrom, start, end, name, strand)`` per row, in file order.
    """
    from ..errors import InputFormatError

    out = []
    k = 0
    try:
        with open(path, encoding="utf-8") as fh:
            for k, line in enumerate(fh, 1):
                f = line.rstrip("\n").split("\t")
                if len(f) not in (6, 10):
                    raise InputFormatError(f"{len(f)} columns, expected 6 (BED6) or 10 (narrowPeak)", path, k)
                try:
                    out.append((f[0], int(f[1]), int(f[2]), f[3], f[5]))
                except ValueError:
                    raise InputFormatError("start/end are not integers", path, k) from None
    except UnicodeDecodeError:
        raise InputFormatError("not UTF-8 text; expected a BED6 or narrowPeak file", path, k + 1) from None
    return out
