"""Seqlets: contiguous runs of relevant positions in (sparse) attribution maps.

A seqlet is a window ``[start, end)`` of one sequence whose per-position
relevance ``r_l = R[:, l].sum()`` (summed over the four rows) stands out.
Finding them is vectorised: a run-length pass over the boolean mask of relevant
positions (``numpy.diff`` of the padded mask), a merge of runs separated by
short gaps, flanks, and a score filter; no Python loop over positions or
sequences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Seqlets", "find_seqlets", "default_threshold", "seqlet_table"]


@dataclass
class Seqlets:
    """A table of seqlets, one row per seqlet (column arrays of equal length M).

    Attributes
    ----------
    seq : numpy.ndarray of int64, shape (M,)
        Index of the sequence (row of X / R) the seqlet lies in.
    start, end : numpy.ndarray of int64, shape (M,)
        0-based half-open window coordinates in that sequence (flanks included).
    score : numpy.ndarray of float64, shape (M,)
        Sum of per-position relevance over ``[start, end)``.
    strand : numpy.ndarray of str, shape (M,)
        Genome strand of the window (``"+"``/``"-"``) when coordinates were
        given, otherwise ``"."``.
    name : numpy.ndarray of str, shape (M,), or None
        Sequence names.
    chrom : numpy.ndarray of str, shape (M,), or None
        Chromosome, when genome coordinates were given.
    genome_start, genome_end : numpy.ndarray of int64, shape (M,), or None
        0-based half-open genome coordinates of the seqlet; for a ``"-"``
        window (sequence reverse-complemented) window position ``l`` maps to
        ``window_end - 1 - l``.
    threshold : float
        The per-position relevance threshold that was used (NaN if unknown).
    """

    seq: np.ndarray
    start: np.ndarray
    end: np.ndarray
    score: np.ndarray
    strand: np.ndarray
    name: np.ndarray | None = None
    chrom: np.ndarray | None = None
    genome_start: np.ndarray | None = None
    genome_end: np.ndarray | None = None
    threshold: float = float("nan")

    _COLUMNS = ("seq", "start", "end", "score", "strand", "name", "chrom", "genome_start", "genome_end")

    def __post_init__(self):
        self.seq = np.asarray(self.seq, dtype=np.int64).reshape(-1)
        self.start = np.asarray(self.start, dtype=np.int64).reshape(-1)
        self.end = np.asarray(self.end, dtype=np.int64).reshape(-1)
        self.score = np.asarray(self.score, dtype=np.float64).reshape(-1)
        m = len(self.seq)
        if self.strand is None:
            self.strand = np.full(m, ".")
        self.strand = np.asarray(self.strand, dtype=str).reshape(-1)
        for col in ("name", "chrom"):
            v = getattr(self, col)
            if v is not None:
                setattr(self, col, np.asarray(v, dtype=str).reshape(-1))
        for col in ("genome_start", "genome_end"):
            v = getattr(self, col)
            if v is not None:
                setattr(self, col, np.asarray(v, dtype=np.int64).reshape(-1))
        for col in self._COLUMNS:
            v = getattr(self, col)
            if v is not None and len(v) != m:
                raise ValueError(f"Seqlets column {col!r} has {len(v)} rows, expected {m}")
        if np.any(self.end < self.start):
            raise ValueError("Seqlets: end < start")

    def __len__(self):
        return len(self.seq)

    @property
    def length(self):
        """Seqlet lengths ``end - start``, shape (M,)."""
        return self.end - self.start

    @property
    def has_genome_coords(self):
        """Whether genome coordinates are present."""
        return self.chrom is not None and self.genome_start is not None

    def __getitem__(self, idx):
        """Rows selected by an integer array, a boolean mask or a slice (a new table)."""
        if isinstance(idx, (int, np.integer)):
            idx = [idx]
        kw = {}
        for col in self._COLUMNS:
            v = getattr(self, col)
            kw[col] = None if v is None else v[idx]
        return Seqlets(threshold=self.threshold, **kw)

    def to_records(self):
        """List of dicts, one per seqlet (``seqlet_id`` is the row index)."""
        out = []
        for i in range(len(self)):
            rec = {"seqlet_id": i}
            for col in self._COLUMNS:
                v = getattr(self, col)
                rec[col] = None if v is None else v[i].item()
            out.append(rec)
        return out

    @classmethod
    def empty(cls):
        """A table with no rows."""
        z = np.zeros(0, dtype=np.int64)
        return cls(seq=z, start=z, end=z, score=np.zeros(0), strand=np.zeros(0, dtype=str))


def _to_numpy(a, name):
    if a is None:
        return None
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 3 or a.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4, L), got {tuple(a.shape)}")
    if not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
        raise ValueError(f"{name} must be numeric")
    return a


def default_threshold(r, mass=0.8):
    """The data-driven per-position threshold used when none is given.

    The smallest value ``t`` such that the positions with ``|r_l| >= t`` hold
    ``mass`` (default 80 %) of the total absolute relevance of the whole set;
    the exact zeros of sparse maps never count.

    Parameters
    ----------
    r : numpy.ndarray, shape (N, L)
        Per-position relevance.
    mass : float
        Share of the absolute relevance mass the kept positions must hold.

    Returns
    -------
    float
        The threshold (``inf`` when every entry is zero).
    """
    if not 0 < mass <= 1:
        raise ValueError(f"mass must be in (0, 1], got {mass}")
    a = np.abs(np.asarray(r, dtype=np.float64)).ravel()
    a = a[a > 0]
    if a.size == 0:
        return float("inf")
    a = np.sort(a)[::-1]
    cum = np.cumsum(a)
    k = int(np.searchsorted(cum, mass * cum[-1] * (1 - 1e-12)))
    return float(a[min(k, a.size - 1)])


def _runs(mask):
    """Start/end of True runs of each row of a (N, L) bool mask, ordered by row then start."""
    n, length = mask.shape
    padded = np.zeros((n, length + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    rs, starts = np.nonzero(d == 1)
    re, ends = np.nonzero(d == -1)
    # np.nonzero orders by row then column, and each row has as many starts as ends
    return rs, starts, ends


def _check_coords(coords, n):
    required = ("chrom", "start", "end", "strand")
    if not isinstance(coords, dict) or any(k not in coords for k in required):
        raise ValueError(f"coords must be a dict with keys {', '.join(required)}")
    chrom = np.asarray(coords["chrom"], dtype=str).reshape(-1)
    cs = np.asarray(coords["start"], dtype=np.int64).reshape(-1)
    ce = np.asarray(coords["end"], dtype=np.int64).reshape(-1)
    strand = np.asarray(coords["strand"], dtype=str).reshape(-1)
    for k, v in zip(required, (chrom, cs, ce, strand)):
        if len(v) != n:
            raise ValueError(f"coords[{k!r}] has {len(v)} entries for {n} sequences")
    bad = ~np.isin(strand, ["+", "-", "."])
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"coords['strand'][{i}] is {strand[i]!r}; expected '+', '-' or '.'")
    return chrom, cs, ce, strand


def find_seqlets(R, X=None, threshold=None, merge_gap=4, flank=5, min_length=4, min_score=None,
                 sign="both", mass=0.8, coords=None, names=None):
    """Find seqlets (contiguous relevant runs) in attribution maps.

    Parameters
    ----------
    R : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        Attributions (typically sparse: most entries exactly zero).
    X : numpy.ndarray or torch.Tensor, shape (N, 4, L), optional
        One-hot sequences; only checked for a matching shape (kept for API
        symmetry with :func:`discover_motifs`).
    threshold : float, optional
        A position is relevant when ``|r_l| > threshold`` (``r_l > threshold``
        for ``sign="positive"``, ``r_l < -threshold`` for ``"negative"``), with
        ``r_l`` the sum of the four rows. Default: data-driven, see
        :func:`default_threshold` (positions holding ``mass`` of the total
        absolute relevance), and never below 0 so exact zeros are never relevant.
    merge_gap : int
        Runs separated by at most this many non-relevant positions are merged.
    flank : int
        Positions added on each side of a merged run (clipped at the borders).
    min_length : int
        Minimum length of a merged run before flanks are added.
    min_score : float, optional
        Minimum ``|score|`` of a seqlet (score = summed relevance over the
        seqlet, flanks included). Default: no score filter.
    sign : {"both", "positive", "negative"}
        Which relevance to call relevant.
    mass : float
        Mass share for the default threshold.
    coords : dict, optional
        Genome coordinates of each sequence window: ``chrom``, ``start``, ``end``
        (0-based half-open) and ``strand`` arrays of length N; for ``"-"`` the
        sequence was reverse-complemented, so position ``l`` is genome
        ``end - 1 - l``.
    names : sequence of str, optional
        Sequence names (length N).

    Returns
    -------
    Seqlets
        Ordered by sequence, then start.
    """
    R = _to_numpy(R, "R")
    n, _, length = R.shape
    if X is not None:
        X = _to_numpy(X, "X")
        if X.shape != R.shape:
            raise ValueError(f"X has shape {X.shape} but R has shape {R.shape}")
    if sign not in ("both", "positive", "negative"):
        raise ValueError(f"sign must be 'both', 'positive' or 'negative', got {sign!r}")
    for nm, v in (("merge_gap", merge_gap), ("flank", flank), ("min_length", min_length)):
        if int(v) != v or v < 0:
            raise ValueError(f"{nm} must be a non-negative integer, got {v}")
    r = R.astype(np.float64, copy=False).sum(axis=1)  # (N, L)
    if not np.all(np.isfinite(r)):
        bad = np.argwhere(~np.isfinite(r))[0]
        raise ValueError(f"attributions contain NaN or Inf (sequence {bad[0]}, position {bad[1]})")
    if threshold is None:
        src = r if sign == "both" else (np.clip(r, 0, None) if sign == "positive" else np.clip(-r, 0, None))
        threshold = default_threshold(src, mass)
    threshold = max(float(threshold), 0.0)
    if sign == "both":
        mask = np.abs(r) > threshold
    elif sign == "positive":
        mask = r > threshold
    else:
        mask = r < -threshold
    if names is not None:
        names = np.asarray(list(names), dtype=str)
        if len(names) != n:
            raise ValueError(f"names has {len(names)} entries for {n} sequences")
    if coords is not None:
        coords = _check_coords(coords, n)

    rows, starts, ends = _runs(mask)
    if rows.size:
        # merge runs of the same row separated by gaps of at most merge_gap
        new = np.ones(rows.size, dtype=bool)
        new[1:] = (rows[1:] != rows[:-1]) | (starts[1:] - ends[:-1] > merge_gap)
        first = np.flatnonzero(new)
        last = np.r_[first[1:] - 1, rows.size - 1]
        rows, starts, ends = rows[first], starts[first], ends[last]
        keep = (ends - starts) >= max(int(min_length), 1)
        rows, starts, ends = rows[keep], starts[keep], ends[keep]
        starts = np.maximum(starts - int(flank), 0)
        ends = np.minimum(ends + int(flank), length)
    cs = np.zeros((n, length + 1))
    np.cumsum(r, axis=1, out=cs[:, 1:])
    score = cs[rows, ends] - cs[rows, starts]
    if min_score is not None:
        keep = np.abs(score) >= float(min_score)
        rows, starts, ends, score = rows[keep], starts[keep], ends[keep], score[keep]

    return _table(rows, starts, ends, score, names, coords, threshold)


def _table(rows, starts, ends, score, names, coords, threshold):
    kw = {}
    if names is not None:
        kw["name"] = names[rows]
    strand = np.full(rows.size, ".")
    if coords is not None:
        chrom, cstart, cend, cstrand = coords
        strand = cstrand[rows]
        minus = strand == "-"
        gstart = np.where(minus, cend[rows] - ends, cstart[rows] + starts)
        gend = np.where(minus, cend[rows] - starts, cstart[rows] + ends)
        kw.update(chrom=chrom[rows], genome_start=gstart, genome_end=gend)
    return Seqlets(seq=rows, start=starts, end=ends, score=score, strand=strand, threshold=threshold, **kw)


def seqlet_table(seq, start, end, score, n, coords=None, names=None, threshold=float("nan")):
    """A :class:`Seqlets` table from seqlet coordinates, with names and genome coordinates.

    Parameters
    ----------
    seq, start, end : array_like of int, shape (M,)
        Sequence index and 0-based half-open window coordinates of each seqlet.
    score : array_like of float, shape (M,)
    n : int
        Number of sequences (for checking ``names`` and ``coords``).
    coords, names
        As for :func:`find_seqlets`.
    threshold : float
        Recorded on the table.

    Returns
    -------
    Seqlets
    """
    rows = np.asarray(seq, dtype=np.int64).reshape(-1)
    if names is not None:
        names = np.asarray(list(names), dtype=str)
        if len(names) != n:
            raise ValueError(f"names has {len(names)} entries for {n} sequences")
    if coords is not None:
        coords = _check_coords(coords, n)
    return _table(rows, np.asarray(start, dtype=np.int64).reshape(-1), np.asarray(end, dtype=np.int64).reshape(-1),
                  np.asarray(score, dtype=np.float64).reshape(-1), names, coords, threshold)
