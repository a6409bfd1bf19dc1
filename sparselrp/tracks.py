"""Genome-browser tracks of per-position relevance: bedGraph and bigWig.

A window's attribution map (4, L) becomes one value per position, the sum of
its four rows (see docs/methods.md, section 1), placed at the genome coordinate the
position came from. Windows from the minus strand were reverse-complemented
when they were encoded, so their position ``l`` lies at ``end - 1 - l``;
plus-strand (or unstranded) windows put ``l`` at ``start + l``. Where windows
overlap, their values at a genome position are summed (``reduce="sum"``) or
averaged over the windows covering it (``reduce="mean"``).

Windows are visited in genome order a chunk at a time, so the extra memory is
set by ``chunk_size`` and not by the number of windows. Positions whose value is
exactly zero are left out (sparse attributions give sparse tracks), and runs of
adjacent positions with equal values become one interval.

>>> import sparselrp as sl
>>> sl.tracks.write_bedgraph("relevance.bedGraph", R, coords)         # doctest: +SKIP
>>> sl.tracks.write_bigwig("relevance.bw", R, coords, chrom_sizes="genome.fa")  # doctest: +SKIP
"""

import gzip
import re
from pathlib import Path

import numpy as np

from ._atomic import atomic_open, atomic_path
from .errors import InputFormatError

__all__ = [
    "position_relevance",
    "position_relevance_file",
    "window_positions",
    "genome_track",
    "write_bedgraph",
    "write_bigwig",
    "read_bedgraph",
    "read_chrom_sizes",
]


def _as_numpy(R):
    if hasattr(R, "detach"):  # torch tensor
        R = R.detach().cpu().numpy()
    return np.asarray(R)


def position_relevance(R):
    """Per-position relevance: the sum of the four rows of each window.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions of shape (N, 4, L), or already per-position of shape (N, L).

    Returns
    -------
    numpy.ndarray
        Shape (N, L), float64.
    """
    R = _as_numpy(R)
    if R.ndim == 3:
        if R.shape[1] != 4:
            raise ValueError(f"attributions must have shape (N, 4, L), got {R.shape}")
        return R.sum(axis=1, dtype=np.float64)
    if R.ndim == 2:
        return R.astype(np.float64, copy=False)
    raise ValueError(f"attributions must have shape (N, 4, L) or (N, L), got {R.shape}")


def position_relevance_file(path, batch_size=4096):
    """Per-position relevance (N, L) of an attribution file, read block by block.

    Dense files (``arr_0``) are read ``batch_size`` windows at a time, sparse
    COO files ``batch_size * 4 * L`` entries at a time, so memory holds the
    (N, L) result and one block, never the (N, 4, L) map.

    Parameters
    ----------
    path : str or Path
        Attributions as :mod:`sparselrp.io.attributions` writes them (dense or sparse).
    batch_size : int
        Windows per block.

    Returns
    -------
    numpy.ndarray
        Shape (N, L), float32: the sum of the four rows of each window.
    """
    import zipfile

    from .io.npz_stream import iter_npz_rows, npz_member_info

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: attribution file does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] for n in zf.namelist()}
    except zipfile.BadZipFile:
        raise InputFormatError("not an .npz attribution file", path) from None
    if "arr_0" in members:
        shape, _ = npz_member_info(path, "arr_0")
        if len(shape) != 3 or shape[1] != 4:
            raise InputFormatError(f"'arr_0' has shape {shape}, expected attributions (N, 4, L)", path)
        out = np.empty((shape[0], shape[2]), np.float32)
        lo = 0
        for block in iter_npz_rows(path, "arr_0", batch_size=batch_size):
            out[lo:lo + len(block)] = block.sum(axis=1, dtype=np.float64)
            lo += len(block)
        return out
    if {"shape", "indices", "values"} <= members and len(npz_member_info(path, "indices")[0]) == 1:
        with np.load(path, allow_pickle=False) as z:
            shape = tuple(int(s) for s in z["shape"])
        if len(shape) != 3 or shape[1] != 4:
            raise InputFormatError(f"'shape' is {list(shape)}, expected (N, 4, L)", path)
        n, _, length = shape
        out = np.zeros(n * length, np.float64)
        step = max(1, batch_size) * 4 * length
        for idx, val in zip(iter_npz_rows(path, "indices", batch_size=step),
                            iter_npz_rows(path, "values", batch_size=step)):
            idx = idx.astype(np.int64, copy=False)
            if idx.size == 0:
                continue
            if idx.min() < 0 or idx.max() >= n * 4 * length:
                raise InputFormatError(f"'indices' out of range for shape {shape}", path)
            key = (idx // (4 * length)) * length + idx % length
            k0 = int(key.min())
            out[k0:int(key.max()) + 1] += np.bincount(key - k0, weights=val.astype(np.float64))
        return out.reshape(n, length).astype(np.float32)
    from .io.attributions import load_attributions  # any other accepted layout

    return position_relevance(load_attributions(path)).astype(np.float32)


def _strand_minus(strand, n):
    if strand is None:
        return np.zeros(n, dtype=bool)
    strand = np.asarray(strand).astype(str)
    if strand.shape != (n,):
        raise ValueError(f"strand must have shape ({n},), got {strand.shape}")
    bad = ~np.isin(strand, ["+", "-", "."])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"window {i}: strand must be '+', '-' or '.', got {strand[i]!r}")
    return strand == "-"


def window_positions(start, length, strand=None):
    """Genome coordinate (0-based) of every position of every window.

    Parameters
    ----------
    start : array_like of int
        Shape (N,): 0-based start of each window.
    length : int
        Window length L.
    strand : array_like of str, optional
        Shape (N,): ``"+"``, ``"-"`` or ``"."``; ``"-"`` windows run backwards.

    Returns
    -------
    numpy.ndarray
        Shape (N, L), int64: position ``l`` of window ``i`` lies at ``[i, l]``.
    """
    start = np.asarray(start, dtype=np.int64)
    minus = _strand_minus(strand, start.shape[0])
    offs = np.arange(length, dtype=np.int64)
    pos = start[:, None] + np.where(minus[:, None], length - 1 - offs[None, :], offs[None, :])
    return pos


def _natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def _coords_arrays(coords, n, length):
    if coords is None:
        raise ValueError("the windows have no genome coordinates (encode from a BED, or from a FASTA "
                         "whose record names look like chr1:100-300)")
    try:
        chrom = np.asarray(coords["chrom"]).astype(str)
        start = np.asarray(coords["start"], dtype=np.int64)
        end = np.asarray(coords["end"], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"coordinates lack the field {exc.args[0]!r} (need chrom, start, end)") from None
    strand = coords.get("strand") if hasattr(coords, "get") else None
    for name, arr in (("chrom", chrom), ("start", start), ("end", end)):
        if arr.shape != (n,):
            raise ValueError(f"coordinate {name!r} has shape {arr.shape}, expected ({n},) (one per window)")
    width = end - start
    bad = width != length
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"window {i} ({chrom[i]}:{start[i]}-{end[i]}) spans {width[i]} bp but the "
                         f"attributions have length {length}")
    if strand is not None:
        strand = np.asarray(strand).astype(str)
        if strand.shape != (n,):
            raise ValueError(f"coordinate 'strand' has shape {strand.shape}, expected ({n},)")
    return chrom, start, end, strand


def _aggregate(pos, val, cnt):
    """Sum values and counts of equal positions; return sorted unique positions."""
    if pos.size == 0:
        return pos, val, cnt
    upos, inv = np.unique(pos, return_inverse=True)
    return upos, np.bincount(inv, weights=val, minlength=upos.size), np.bincount(
        inv, weights=cnt, minlength=upos.size)


def genome_track(R, coords, reduce="sum", chrom_sizes=None, chunk_size=4096, keep_zeros=False):
    """Per-position relevance in genome coordinates, chromosome by chromosome.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) or per-position relevance (N, L). Anything that
        supports fancy indexing on the first axis works (e.g. a memory map).
    coords : dict of array_like
        ``chrom`` (N,), ``start`` (N,), ``end`` (N,) and optionally ``strand``
        (N,) of each window, 0-based half-open; ``end - start`` must equal L.
    reduce : {"sum", "mean"}
        How overlapping windows combine at a position.
    chrom_sizes : dict of str to int, optional
        Positions at or beyond a chromosome's size (windows padded past its
        end) are dropped, as are negative positions. Chromosomes are emitted in
        this dict's order; without it in natural order (chr2 before chr10).
    chunk_size : int
        Windows processed at a time.
    keep_zeros : bool
        Also emit positions whose value is exactly zero.

    Yields
    ------
    chrom : str
    positions : numpy.ndarray
        Shape (M,), int64, strictly increasing 0-based positions.
    values : numpy.ndarray
        Shape (M,), float64.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    shape = tuple(R.shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"attributions must have shape (N, 4, L) or (N, L), got {shape}")
    n, length = shape[0], shape[-1]
    chrom, start, _, strand = _coords_arrays(coords, n, length)

    names = list(dict.fromkeys(chrom.tolist()))
    if chrom_sizes is not None:
        missing = [c for c in names if c not in chrom_sizes]
        if missing:
            raise ValueError(f"chromosome {missing[0]!r} is not in the chromosome sizes")
        rank = {c: i for i, c in enumerate(chrom_sizes)}
    else:
        rank = {c: i for i, c in enumerate(sorted(names, key=_natural_key))}
    chrom_rank = np.array([rank[c] for c in chrom.tolist()], dtype=np.int64) if n else np.zeros(0, np.int64)
    order = np.lexsort((start, chrom_rank))

    def emit(c, pos, val, cnt):
        if reduce == "mean":
            val = val / cnt
        keep = pos >= 0
        if chrom_sizes is not None:
            keep &= pos < int(chrom_sizes[c])
        if not keep_zeros:
            keep &= val != 0
        return c, pos[keep], val[keep]

    carry = None  # (chrom, pos, val, cnt) of positions later windows may still reach
    for lo in range(0, n, chunk_size):
        idx = order[lo:lo + chunk_size]
        # a chunk may span chromosomes: split it so that each piece is one chromosome
        cuts = np.flatnonzero(chrom_rank[idx[1:]] != chrom_rank[idx[:-1]]) + 1
        nxt = lo
        for piece in np.split(idx, cuts):
            c = chrom[piece[0]]
            nxt += len(piece)  # rank (in genome order) of the next window
            sidx = np.sort(piece)  # increasing indices suit memory maps and lazy arrays
            r = position_relevance(R[sidx])
            pos = window_positions(start[sidx], length, None if strand is None else strand[sidx])
            pos, val, cnt = pos.ravel(), r.ravel(), np.ones(pos.size)
            if carry is not None:
                if carry[0] == c:
                    pos = np.concatenate([carry[1], pos])
                    val = np.concatenate([carry[2], val])
                    cnt = np.concatenate([carry[3], cnt])
                else:
                    out = emit(*carry)
                    if out[1].size:
                        yield out
                carry = None
            pos, val, cnt = _aggregate(pos, val, cnt)
            if nxt < n and chrom[order[nxt]] == c:
                # windows still to come start at or after the next window's start
                fin = pos < start[order[nxt]]
                out = emit(c, pos[fin], val[fin], cnt[fin])
                carry = (c, pos[~fin], val[~fin], cnt[~fin])
            else:
                out = emit(c, pos, val, cnt)
            if out[1].size:
                yield out
    if carry is not None:
        out = emit(*carry)
        if out[1].size:
            yield out


def _runs(pos, val):
    """Merge adjacent positions with equal values: (starts, ends, values)."""
    if pos.size == 0:
        return pos, pos, val
    brk = np.ones(pos.size, dtype=bool)
    brk[1:] = (pos[1:] != pos[:-1] + 1) | (val[1:] != val[:-1])
    first = np.flatnonzero(brk)
    last = np.append(first[1:], pos.size) - 1
    return pos[first], pos[last] + 1, val[first]


def _track_blocks(R, coords, reduce, chrom_sizes, chunk_size, keep_zeros, dtype):
    for c, pos, val in genome_track(R, coords, reduce=reduce, chrom_sizes=chrom_sizes,
                                    chunk_size=chunk_size, keep_zeros=keep_zeros):
        val = val.astype(dtype)
        s, e, v = _runs(pos, val)
        yield c, s, e, v


def write_bedgraph(path, R, coords, reduce="sum", chrom_sizes=None, chunk_size=4096, keep_zeros=False,
                   track_line=None):
    """Write per-position relevance as a bedGraph file (atomically).

    Parameters
    ----------
    path : str or Path
        Output file; ``.gz`` compresses it.
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) or per-position relevance (N, L).
    coords : dict of array_like
        ``chrom``, ``start``, ``end`` (and ``strand``) of the N windows.
    reduce, chrom_sizes, chunk_size, keep_zeros
        See :func:`genome_track`. ``chrom_sizes`` may also be a path (see
        :func:`read_chrom_sizes`).
    track_line : str, optional
        A ``track type=bedGraph ...`` header line to write first.

    Returns
    -------
    int
        Number of intervals written.
    """
    path = Path(path)
    if isinstance(chrom_sizes, (str, Path)):
        chrom_sizes = read_chrom_sizes(chrom_sizes)
    n_written = 0
    with atomic_path(path) as tmp:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(tmp, "wt") as fh:
            if track_line:
                fh.write(track_line.rstrip("\n") + "\n")
            for c, s, e, v in _track_blocks(R, coords, reduce, chrom_sizes, chunk_size, keep_zeros, np.float64):
                lines = [f"{c}\t{a}\t{b}\t{x:.9g}\n" for a, b, x in zip(s.tolist(), e.tolist(), v.tolist())]
                fh.write("".join(lines))
                n_written += len(lines)
    return n_written


def write_bigwig(path, R, coords, chrom_sizes=None, reduce="sum", chunk_size=4096, keep_zeros=False):
    """Write per-position relevance as a bigWig file with pyBigWig (atomically).

    Parameters
    ----------
    path : str or Path
        Output ``.bw`` / ``.bigWig`` file.
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L) or per-position relevance (N, L).
    coords : dict of array_like
        ``chrom``, ``start``, ``end`` (and ``strand``) of the N windows.
    chrom_sizes : dict of str to int, or str or Path, optional
        Chromosome sizes for the bigWig header, or a file to read them from
        (see :func:`read_chrom_sizes`). Without it, each chromosome's size is
        taken as the end of its last window, which genome browsers accept but
        which is smaller than the real chromosome.
    reduce, chunk_size, keep_zeros
        See :func:`genome_track`.

    Returns
    -------
    int
        Number of intervals written.
    """
    try:
        import pyBigWig
    except ImportError as exc:  # pragma: no cover - pyBigWig is in the pipeline extra
        raise ImportError("bigWig output needs pyBigWig: pip install 'sparselrp[pipeline]'") from exc
    if isinstance(chrom_sizes, (str, Path)):
        chrom_sizes = read_chrom_sizes(chrom_sizes)
    shape = tuple(R.shape)
    n, length = shape[0], shape[-1]
    if chrom_sizes is None:
        chrom, start, end, _ = _coords_arrays(coords, n, length)
        sizes = {}
        for c in sorted(set(chrom.tolist()), key=_natural_key):
            sizes[c] = max(int(end[chrom == c].max()), 1)
        chrom_sizes = sizes
    n_written = 0
    with atomic_path(path, suffix=".bw") as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        if bw is None:  # pragma: no cover
            raise OSError(f"{path}: pyBigWig could not open the file for writing")
        try:
            bw.addHeader([(str(c), int(s)) for c, s in chrom_sizes.items()])
            for c, s, e, v in _track_blocks(R, coords, reduce, chrom_sizes, chunk_size, keep_zeros, np.float32):
                bw.addEntries([c] * len(s), s, ends=e, values=v.astype(np.float64))
                n_written += len(s)
        finally:
            bw.close()
    return n_written


def read_bedgraph(path):
    """Read a bedGraph file.

    Returns
    -------
    dict of str to tuple of numpy.ndarray
        Chromosome -> (starts, ends, values), int64, int64, float64, in file order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    out = {}
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("track", "browser", "#")):
                continue
            f = line.split()
            if len(f) < 4:
                raise InputFormatError(f"expected 4 columns (chrom start end value), got {len(f)}", path, lineno)
            try:
                s, e, v = int(f[1]), int(f[2]), float(f[3])
            except ValueError:
                raise InputFormatError("start/end must be integers and value a number", path, lineno) from None
            out.setdefault(f[0], ([], [], []))
            out[f[0]][0].append(s)
            out[f[0]][1].append(e)
            out[f[0]][2].append(v)
    return {c: (np.array(a, np.int64), np.array(b, np.int64), np.array(v, np.float64)) for c, (a, b, v) in out.items()}


def read_chrom_sizes(path):
    """Chromosome sizes from a ``chrom.sizes`` file, a ``.fai`` index or a FASTA.

    A FASTA (plain or ``.gz``) is read with its ``.fai`` beside it when there is
    one, else streamed once (no index is written next to it).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict of str to int
        In file order.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        first = fh.readline()
    if first.startswith(">"):
        fai = Path(str(path) + ".fai")
        if fai.exists() and path.suffix != ".gz":
            return read_chrom_sizes(fai)
        return _fasta_sizes(path, opener)
    sizes = {}
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.split("\t") if "\t" in line else line.split()
            try:
                sizes[f[0]] = int(f[1])
            except (IndexError, ValueError):
                raise InputFormatError("expected 'name<TAB>size'", path, lineno) from None
    return sizes


def _fasta_sizes(path, opener):
    sizes = {}
    name = None
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                name = line[1:].split()[0] if line[1:].strip() else ""
                sizes[name] = 0
            elif name is not None:
                sizes[name] += len(line.strip())
    return sizes
