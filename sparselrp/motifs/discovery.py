"""Motif discovery from seqlets: greedy, reverse-complement aware clustering.

The method (documented, deliberately simple and deterministic):

1. Each seqlet's contribution matrix is ``R`` restricted to the seqlet
   (``(4, length)``, zero outside it).
2. The highest-scoring unassigned seqlet seeds a cluster. Its matrix is the
   query ``Q``.
3. ``Q`` and its reverse complement are cross-correlated with every unassigned
   seqlet at every offset (a ``torch`` 1-D convolution); the similarity of an
   offset is the cosine between ``Q`` and the seqlet's window there, with
   ``Q``'s full norm in the denominator (so partial overlaps are penalised).
   Each seqlet keeps its best offset and orientation.
4. Seqlets with similarity >= ``similarity`` are aligned at their best offset
   and orientation; their contributions are averaged over ``Q``'s columns
   extended by ``extend`` on each side (taken from the whole sequence, so the
   motif can grow past the seed), and the mean is trimmed to the span of
   columns whose absolute contribution is at least ``trim_threshold`` times the
   largest. That is the new ``Q``; steps 3-4 run ``n_iter`` times.
5. A cluster with at least ``min_support`` seqlets and at least
   ``min_width`` columns above the trim threshold becomes a motif and its
   seqlets leave the pool; otherwise only the seed leaves. Repeat from 2
   until the pool is empty, ``max_motifs`` motifs exist, or ``patience``
   seeds in a row found nothing.
6. Motifs whose CWMs are similar (cosine >= ``merge_similarity`` at the best
   offset and orientation) are merged and re-aligned.

Each motif gets a PWM (base frequencies of the aligned windows of ``X``), a
CWM (mean of ``R``) and, with ``H``, a hypothetical CWM (mean of ``H``), all on
the trimmed columns; finally flank columns of the PWM with less than
``trim_ic`` bits of information are trimmed as well. Motifs are sorted by support (ties: larger total
contribution first) and named ``motif_1``, ``motif_2``, ...
"""

from __future__ import annotations

import numpy as np
import torch

from .motif import Motif, information_content
from .seqlets import Seqlets

__all__ = ["discover_motifs"]


def _as_array(a, name, shape=None):
    if a is None:
        return None
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 3 or a.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4, L), got {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape} (the shape of X)")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf")
    return a


def _gather(At, seq, anchor, direction, cols):
    """Aligned windows: (m, 4, F) from At (N, L, 4) at anchor + direction * cols."""
    length = At.shape[1]
    pos = anchor[:, None] + direction[:, None] * cols[None, :]
    valid = (pos >= 0) & (pos < length)
    vals = At[seq[:, None], np.clip(pos, 0, length - 1)] * valid[..., None]
    rc = direction < 0
    vals[rc] = vals[rc][..., ::-1]  # complement: A<->T, C<->G
    return vals.transpose(0, 2, 1)


class _Scanner:
    """Cosine cross-correlation of a query matrix against seqlet matrices."""

    def __init__(self, S, starts):
        S = np.asarray(S, dtype=np.float64)
        top = np.abs(S).max() if S.size else 0.0
        S = S / top if top > 0 else S  # cosines are scale-free; keep float32 well inside its range
        self.S = torch.from_numpy(np.ascontiguousarray(S, dtype=np.float32))  # (M, 4, Lmax)
        self.sq = (self.S ** 2).sum(1, keepdim=True)  # (M, 1, Lmax)
        self.starts = starts

    def scan(self, Q, idx):
        """Best similarity, anchor (window position of Q column 0) and direction per seqlet."""
        Q = np.asarray(Q, dtype=np.float64)
        w = Q.shape[1]
        qn = float(np.sqrt((Q ** 2).sum()))
        Q = (Q / qn if qn > 0 else Q).astype(np.float32)
        S = self.S[idx]
        sq = self.sq[idx]
        kern = torch.from_numpy(np.stack([Q, Q[::-1, ::-1].copy()]))  # (2, 4, w)
        dots = torch.nn.functional.conv1d(S, kern, padding=w - 1)  # (m, 2, Lmax + w - 1)
        win = torch.nn.functional.conv1d(sq, torch.ones(1, 1, w, dtype=torch.float32), padding=w - 1)
        cos = dots / (torch.sqrt(win.clamp(min=0)) + 1e-12)
        flat = cos.reshape(len(idx), -1)
        best = torch.argmax(flat, dim=1)
        sim = flat[torch.arange(len(idx)), best].numpy()
        best = best.numpy()
        orient, k = np.divmod(best, cos.shape[2])
        offset = k - (w - 1)  # seqlet-local position of the window's first column
        direction = np.where(orient == 0, 1, -1)
        anchor = self.starts[idx] + np.where(orient == 0, offset, offset + w - 1)
        return sim, anchor, direction


def _trim(cwm, trim_threshold):
    """(lo, hi, n): the span of columns at or above the threshold and how many columns are."""
    imp = np.abs(cwm).sum(0)
    if imp.max() <= 0:
        return 0, cwm.shape[1], 0
    keep = np.flatnonzero(imp >= trim_threshold * imp.max())
    return int(keep[0]), int(keep[-1]) + 1, int(keep.size)


def _crop(seqlets, R, max_length):
    """Starts and lengths of seqlets cropped to the max_length window with the most |r|."""
    starts, lens = seqlets.start.copy(), seqlets.length.copy()
    long_ = np.flatnonzero(lens > max_length)
    if long_.size:
        a = np.abs(R.sum(1, dtype=np.float64))
        cs = np.zeros((a.shape[0], a.shape[1] + 1))
        np.cumsum(a, axis=1, out=cs[:, 1:])
        for k in long_:  # a loop over (few) long seqlets, not over positions
            i, s0, e0 = seqlets.seq[k], seqlets.start[k], seqlets.end[k]
            cand = np.arange(s0, e0 - max_length + 1)
            best = cand[np.argmax(cs[i, cand + max_length] - cs[i, cand])]
            starts[k], lens[k] = best, max_length
    return starts, lens


def _refine(scanner, Rt, seq, Q, idx, similarity, extend, trim_threshold, n_iter, min_support=1, min_width=1):
    """Steps 3-4 of the method; returns (members, anchors, directions, Q); no members on failure."""
    members = np.zeros(0, dtype=np.int64)
    anchor = direction = np.zeros(0, dtype=np.int64)
    for _ in range(n_iter):
        sim, anc, dirn = scanner.scan(Q, idx)
        sel = sim >= similarity
        if sel.sum() < min_support:
            members = idx[sel]
            break
        members, anchor, direction = idx[sel], anc[sel], dirn[sel]
        cols = np.arange(-extend, Q.shape[1] + extend)
        C = _gather(Rt, seq[members], anchor, direction, cols).astype(np.float64)
        cwm = C.mean(0)
        lo, hi, n_imp = _trim(cwm, trim_threshold)
        if n_imp < min_width:  # aligned spikes, not a motif
            return idx[:0], anchor[:0], direction[:0], Q
        Q = cwm[:, lo:hi]
        anchor = anchor + direction * (lo - extend)
    return members, anchor, direction, Q


def discover_motifs(seqlets, X, R, H=None, similarity=0.6, min_support=5, max_motifs=20, n_iter=3,
                    extend=5, trim_threshold=0.2, trim_ic=0.25, min_width=3, merge_similarity=0.8, patience=20, max_length=50,
                    max_seqlets=5000, progress=False):
    """Discover motifs by aligning and clustering seqlets (reverse-complement aware).

    Parameters
    ----------
    seqlets : Seqlets
        From :func:`sparselrp.motifs.find_seqlets` (``seqlet_id`` = row index).
    X : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        One-hot sequences, rows A, C, G, T.
    R : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        Attributions the seqlets were called on.
    H : numpy.ndarray or torch.Tensor, shape (N, 4, L), optional
        Hypothetical contributions; gives each motif a hypothetical CWM.
    similarity : float
        Cosine similarity (-1 to 1) a seqlet needs to join a cluster.
    min_support : int
        Minimum number of seqlets of a motif.
    max_motifs : int
        Stop after this many motifs (before merging).
    n_iter : int
        Align/average/trim rounds per cluster.
    extend : int
        Columns added on each side before trimming in each round.
    trim_threshold : float
        Keep the span of columns whose absolute contribution is at least this
        share of the largest column's.
    trim_ic : float
        Finally, flank columns of the PWM with less information content than
        this (bits) are trimmed (inner columns stay).
    min_width : int
        A cluster whose CWM has fewer columns at or above ``trim_threshold``
        is not a motif (on noisy maps, isolated relevance spikes align with
        anything).
    merge_similarity : float
        Motifs at least this similar are merged (set > 1 to disable).
    patience : int or None
        Stop after this many consecutive seeds that found no motif (seeds come
        in decreasing ``|score|``, so what is left is weaker); None: never.
        Bounds the run time on noisy maps with many seqlets.
    max_length : int
        Seqlets longer than this are cropped, for clustering, to the window of
        this length holding the most absolute relevance (bounds memory and
        time on dense maps where runs merge into long stretches).
    max_seqlets : int or None
        Cluster at most this many seqlets (the highest ``|score|``); None: all.
    progress : bool or str
        Report progress over seqlets assigned (:func:`sparselrp.progress.progress_bar`:
        ``True`` for a bar on a terminal and log lines otherwise).

    Returns
    -------
    list of Motif
        Sorted by support, largest first; ``seqlet_ids``, ``seqlet_strands``
        and ``seqlet_offsets`` locate every member (see :class:`Motif`).

    Notes
    -----
    See the module docstring for the method; it is deterministic (no random
    numbers).
    """
    if not isinstance(seqlets, Seqlets):
        raise TypeError(f"seqlets must be a Seqlets table, got {type(seqlets).__name__}")
    X = _as_array(X, "X")
    R = _as_array(R, "R", X.shape)
    H = _as_array(H, "H", X.shape)
    if not 0 <= trim_threshold <= 1:
        raise ValueError(f"trim_threshold must be in [0, 1], got {trim_threshold}")
    if min_support < 1:
        raise ValueError(f"min_support must be >= 1, got {min_support}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    n, _, length = X.shape
    if len(seqlets) == 0:
        return []
    seq = seqlets.seq
    if seq.min() < 0 or seq.max() >= n:
        raise ValueError(f"seqlets refer to sequence {int(seq.max())}, but X has {n} sequences")
    if seqlets.start.min() < 0 or seqlets.end.max() > length:
        raise ValueError(f"seqlets extend beyond the sequence length {length}")

    Rt = np.ascontiguousarray(R.transpose(0, 2, 1))  # (N, L, 4)
    starts, lens = _crop(seqlets, R, max_length)
    lmax = max(int(lens.max()), 1)
    cols = np.arange(lmax)
    pos = starts[:, None] + cols[None, :]
    valid = cols[None, :] < lens[:, None]
    S = (Rt[seq[:, None], np.clip(pos, 0, length - 1)] * valid[..., None]).transpose(0, 2, 1)  # (M, 4, Lmax)
    scanner = _Scanner(S, starts)

    available = lens > 0
    available &= np.abs(S).sum((1, 2)) > 0
    if max_seqlets is not None and available.sum() > max_seqlets:
        rank = np.argsort(-np.abs(seqlets.score), kind="stable")
        keep = np.zeros_like(available)
        keep[rank[available[rank]][:max_seqlets]] = True
        available &= keep
    order = np.argsort(-np.abs(seqlets.score), kind="stable")
    clusters = []
    failed = 0
    from ..progress import progress_bar

    bar = progress_bar(progress, total=int(available.sum()), desc="motifs", unit="seqlet")
    while available.any() and len(clusters) < max_motifs:
        s = order[available[order]][0]
        Q = S[s, :, : lens[s]].astype(np.float64)
        idx = np.flatnonzero(available)
        members, anchor, direction, Q = _refine(scanner, Rt, seq, Q, idx, similarity, extend,
                                                trim_threshold, n_iter, min_support, min_width)
        if len(members) < min_support:
            available[s] = False
            if bar is not None:
                bar.update(1)
            failed += 1
            if patience is not None and failed >= patience:
                break
            continue
        failed = 0
        available[members] = False
        if s in members or available[s]:
            available[s] = False
        clusters.append([members, anchor, direction, Q])
        if bar is not None:
            bar.update(len(members))
    if bar is not None:
        bar.close()

    clusters = _merge(clusters, scanner, Rt, seq, similarity, extend, trim_threshold, n_iter,
                      merge_similarity)

    Xt = np.ascontiguousarray(X.transpose(0, 2, 1))
    Ht = None if H is None else np.ascontiguousarray(H.transpose(0, 2, 1))
    motifs = []
    for members, anchor, direction, Q in clusters:
        cols = np.arange(Q.shape[1])
        counts = _gather(Xt, seq[members], anchor, direction, cols).astype(np.float64).sum(0)
        tot = counts.sum(0, keepdims=True)
        pwm = np.where(tot > 0, counts / np.where(tot > 0, tot, 1), 0.25)
        informative = np.flatnonzero(information_content(pwm) >= trim_ic)
        if informative.size:  # drop low-information flank columns
            lo, hi = int(informative[0]), int(informative[-1]) + 1
            pwm = pwm[:, lo:hi]
            anchor = anchor + direction * lo
            cols = np.arange(hi - lo)
        cwm = _gather(Rt, seq[members], anchor, direction, cols).astype(np.float64).mean(0)
        hcwm = None
        if Ht is not None:
            hcwm = _gather(Ht, seq[members], anchor, direction, cols).astype(np.float64).mean(0)
        o = np.argsort(members, kind="stable")
        motifs.append(Motif(name="", pwm=pwm, cwm=cwm, hcwm=hcwm, support=len(members),
                            seqlet_ids=members[o].tolist(),
                            seqlet_strands=np.where(direction[o] > 0, "+", "-").tolist(),
                            seqlet_offsets=anchor[o].tolist()))
    motifs.sort(key=lambda m: (-m.support, -float(np.abs(m.cwm).sum())))
    for i, m in enumerate(motifs, 1):
        m.name = f"motif_{i}"
    return motifs


def _pair_similarity(A, B):
    """Best cosine of A against B (both orientations, any offset), symmetrised by max."""
    best = -1.0
    for P, T in ((A, B), (B, A)):
        sc = _Scanner(T[None], np.zeros(1, dtype=np.int64))
        sim, _, _ = sc.scan(P, np.array([0]))
        best = max(best, float(sim[0]))
    return best


def _merge(clusters, scanner, Rt, seq, similarity, extend, trim_threshold, n_iter, merge_similarity):
    if merge_similarity > 1 or len(clusters) < 2:
        return clusters
    changed = True
    while changed:
        changed = False
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                if _pair_similarity(clusters[i][3], clusters[j][3]) < merge_similarity:
                    continue
                big, small = (i, j) if len(clusters[i][0]) >= len(clusters[j][0]) else (j, i)
                idx = np.union1d(clusters[big][0], clusters[small][0])
                # re-align every member of both to the larger motif; all of them stay members
                Q = clusters[big][3]
                for _ in range(max(n_iter, 1)):
                    _, anchor, direction = scanner.scan(Q, idx)
                    cols = np.arange(-extend, Q.shape[1] + extend)
                    cwm = _gather(Rt, seq[idx], anchor, direction, cols).astype(np.float64).mean(0)
                    lo, hi, _ = _trim(cwm, trim_threshold)
                    Q = cwm[:, lo:hi]
                    anchor = anchor + direction * (lo - extend)
                clusters[i] = [idx, anchor, direction, Q]
                del clusters[j]
                changed = True
                break
            if changed:
                break
    return clusters
