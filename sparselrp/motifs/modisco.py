"""Motif discovery with tfmodisco-lite, fed with sparselrp's hypothetical scores.

:func:`discover` runs tfmodisco-lite (PyPI ``modisco-lite``, import ``modiscolite``)
on one-hot sequences and hypothetical scores ``(N, 4, L)``: seqlet calling, Leiden
clustering of the seqlets, pattern aggregation and polishing are tfmodisco-lite's own.
On maps with many exact zeros (pruned LRP) one step of it, the seqlet
null, behaves differently, and sparselrp offers an alternative for it:

tfmodisco-lite sums the contributions over sliding windows and estimates a Laplace
null from the windowed sums around their mode; a window passes when the isotonic
fit of the real sums against that null says it is a true positive at the target FDR,
within bounds of 3 % to 20 % of all windows. On a pruned map a large share of windows
sums to exactly zero, the mode is 0 and the positive half of the null collapses onto
it (its largest sample is about 1e-6). Every non-zero window then "passes" the FDR
test, and the threshold is set by the bounds alone: at most 20 % of all windows, the
same level on both signs. With ``null="nonzero"`` the Laplace null and the FDR
thresholds are estimated from the windows whose sum is not exactly zero (a zero window
carries no evidence either way and is never a seqlet); the bounds stay a share of all
windows. Measured (docs/motifs.md): on moderately sparse maps (position-grouped
MassPrune(0.5), 10 % zero windows) the non-zero null keeps weak negative windows out
(1 negative seqlet instead of 401, no spurious negative patterns); on the sparsest maps
(sl.plrp's TopK(0.05), 68 % zero windows) nearly every non-zero window is a motif, the
null is fitted to motifs, and it lost a causal motif that the default found. The
default is therefore tfmodisco-lite's own null (``null="all"``, ``extract_seqlets``
unchanged); on a dense map both give the same seqlets.

The patterns become :class:`~sparselrp.motifs.Motif` objects: PWM (base frequencies
of the aligned seqlets), CWM (mean contribution) and hCWM (mean hypothetical score),
trimmed to the columns whose summed absolute CWM reaches ``trim_threshold`` (0.3)
of the largest, as tfmodisco-lite's report and Fi-NeMo trim; the untrimmed seqlet
coordinates and the trim range stay on the motif, so the tfmodisco-lite HDF5
(:func:`sparselrp.io.modisco.write_modisco_h5`) can be written from it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .motif import Motif
from .seqlets import _to_numpy

__all__ = ["discover", "call_seqlets", "is_projected", "precompile", "TooFewSeqletsError", "DEFAULTS"]

#: Defaults of :func:`discover`: those of ``modisco motifs`` (tfmodisco-lite 3.0's command
#: line); ``max_seqlets``, which the command line requires, is TFMoDISco's default.
DEFAULTS = {
    "window": 20, "flank": 5, "fdr": 0.05, "null": "all", "max_seqlets": 20000, "n_leiden": 2,
    "trim_size": 30, "initial_flank": 10, "final_flank": 0, "min_metacluster_size": 100,
    "min_support": 20, "min_passing_windows_frac": 0.03, "max_passing_windows_frac": 0.2,
    "trim_threshold": 0.3,
}


class TooFewSeqletsError(ValueError):
    """Raised when neither sign has enough seqlets for tfmodisco-lite to cluster."""


def _as_numpy(a, name):
    a = _to_numpy(a, name).astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf")
    return a


def is_projected(X, A):
    """Whether ``A`` is a projected map: zero on every absent base (and on N columns).

    Parameters
    ----------
    X : array_like, shape (N, 4, L)
        One-hot sequences.
    A : array_like, shape (N, 4, L)
        Attributions.

    Returns
    -------
    bool
        True when no absent base carries a value; hypothetical scores give every
        base a value where the map is non-zero.
    """
    X = _as_numpy(X, "X")
    A = _as_numpy(A, "attributions")
    return bool(np.any(A != 0)) and not bool(np.any((A != 0) & (X == 0)))


def call_seqlets(contrib, window=20, flank=5, fdr=0.05, null="all", min_passing_windows_frac=0.03,
                 max_passing_windows_frac=0.2, weak_threshold_for_counting_sign=0.8):
    """tfmodisco-lite's seqlet calling, optionally with the null estimated from non-zero windows.

    Parameters
    ----------
    contrib : numpy.ndarray, shape (N, L)
        Per-position contributions (the projected map summed over the four rows).
    window : int
        Seqlet core width (``sliding_window_size``).
    flank : int
        Positions added on each side of a core.
    fdr : float
        Target false discovery rate of a passing window.
    null : {"all", "nonzero"}
        Estimate the Laplace null from all windows (default: tfmodisco-lite's
        ``extract_seqlets`` unchanged), or the null and the FDR thresholds from the
        windows whose sum is not exactly zero (see the module docstring for when
        each is better).
    min_passing_windows_frac, max_passing_windows_frac : float
        Bounds on the share of all windows that pass.
    weak_threshold_for_counting_sign : float
        As in tfmodisco-lite: sets the level that splits seqlets by sign.

    Returns
    -------
    seqlets : list of modiscolite.core.Seqlet
        Coordinates only (``end - start = window + 2 * flank``), forward strand.
    threshold : float
        |sum of a core| above which a seqlet counts as positive or negative.
    info : dict
        ``pos_threshold``, ``neg_threshold``, ``zero_window_share``, ``passing_share``.
    """
    from modiscolite import extract_seqlets as es

    if null not in ("nonzero", "all"):
        raise ValueError(f"null must be 'nonzero' or 'all', got {null!r}")
    tracks = np.asarray(contrib, dtype=np.float64)
    if tracks.ndim != 2:
        raise ValueError(f"contrib must have shape (N, L), got {tracks.shape}")
    if tracks.shape[1] < window + 2 * flank:
        raise ValueError(f"sequences of length {tracks.shape[1]} are shorter than one seqlet "
                         f"(window {window} + 2 x flank {flank})")
    smoothed = es._smooth(tracks, window)
    zero_share = float((smoothed == 0).mean())
    info = {"zero_window_share": zero_share}
    if null == "all" and bool((smoothed > 0).any()) and bool((smoothed < 0).any()):
        seqlets, threshold = es.extract_seqlets(
            attribution_scores=tracks, window_size=window, flank=flank, suppress=int(0.5 * window) + flank,
            target_fdr=fdr, min_passing_windows_frac=min_passing_windows_frac,
            max_passing_windows_frac=max_passing_windows_frac,
            weak_threshold_for_counting_sign=weak_threshold_for_counting_sign)
        info.update(pos_threshold=float("nan"), neg_threshold=float("nan"))
        return seqlets, float(threshold), info

    # the null from the non-zero windows, or (null="all" on a map with windows of one sign only,
    # e.g. sl.plrp's positive-only maps, where tfmodisco-lite's own call fails) from all windows
    values = smoothed.ravel()
    if null == "nonzero":
        values = values[values != 0]
    if values.size < 10:
        return [], float("inf"), dict(info, pos_threshold=float("inf"), neg_threshold=float("-inf"),
                                      passing_share=0.0)
    if values.size > 1_000_000:  # tfmodisco-lite's cap, with its seed
        values = np.random.RandomState(1234).choice(values, size=1_000_000, replace=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        pos_null, neg_null = es._laplacian_null(values[None, :], window, 10000)
    pos_values, neg_values = es._split(values)
    pos_thr = (es._isotonic_thresholds(pos_values, pos_null, increasing=True, target_fdr=fdr)
               if pos_values.size and pos_null.size else float("inf"))
    neg_thr = (es._isotonic_thresholds(neg_values, neg_null, increasing=False, target_fdr=fdr)
               if neg_values.size and neg_null.size else float("-inf"))
    # the bounds on the share of passing windows stay tfmodisco-lite's: a share of all windows
    every = smoothed.ravel()
    if every.size > 1_000_000:
        every = np.random.RandomState(1234).choice(every, size=1_000_000, replace=False)
    pos_thr, neg_thr = es._refine_thresholds(every, pos_thr, neg_thr, min_passing_windows_frac,
                                             max_passing_windows_frac)
    distribution = np.sort(np.abs(values))
    passing = (smoothed >= pos_thr) | (smoothed <= neg_thr)
    passing &= smoothed != 0
    score = np.where(passing, np.abs(smoothed), -np.inf)
    score[:, :flank] = -np.inf
    score[:, -flank:] = -np.inf
    seqlets = es._iterative_extract_seqlets(score_track=score, window_size=window, flank=flank,
                                            suppress=int(0.5 * window) + flank)
    frac = [np.searchsorted(distribution, abs(t)) / distribution.size if np.isfinite(t) else 1.0
            for t in (pos_thr, neg_thr)]
    weak = min(min(frac) - 0.0001, weak_threshold_for_counting_sign)
    threshold = float(distribution[min(max(int(weak * distribution.size), 0), distribution.size - 1)])
    info.update(pos_threshold=float(pos_thr), neg_threshold=float(neg_thr),
                passing_share=float(passing.mean()))
    return seqlets, threshold, info


def _trim_range(cwm, trim_threshold):
    score = np.abs(cwm).sum(0)
    if score.max() <= 0:
        return 0, cwm.shape[1]
    keep = np.flatnonzero(score >= trim_threshold * score.max())
    return int(keep[0]), int(keep[-1]) + 1


def _to_motif(pattern, sign, index, trim_threshold):
    ppm = np.asarray(pattern.sequence, dtype=np.float64).T
    cwm = np.asarray(pattern.contrib_scores, dtype=np.float64).T
    hcwm = np.asarray(pattern.hypothetical_contribs, dtype=np.float64).T
    lo, hi = _trim_range(cwm, trim_threshold)
    pwm = ppm[:, lo:hi]
    tot = pwm.sum(0, keepdims=True)
    pwm = np.where(tot > 0, pwm / np.where(tot > 0, tot, 1.0), 0.25)
    seqlets = [(int(s.example_idx), int(s.start), int(s.end), "-" if s.is_revcomp else "+")
               for s in pattern.seqlets]
    prefix = "pos" if sign == "positive" else "neg"
    return Motif(name=f"{prefix}_patterns.pattern_{index}", pwm=pwm, cwm=cwm[:, lo:hi], hcwm=hcwm[:, lo:hi],
                 support=len(seqlets), sign=sign, seqlets=seqlets, trim=(lo, hi))


def discover(X, attributions, *, coords=None, names=None, window=20, flank=5, fdr=0.05, null="all", max_seqlets=20000, n_leiden=2,
             trim_size=30, initial_flank=10, final_flank=0, min_metacluster_size=100, min_support=20,
             min_passing_windows_frac=0.03, max_passing_windows_frac=0.2, trim_threshold=0.3,
             allow_projected=True, return_details=False, verbose=False, progress=False):
    """Discover motifs with tfmodisco-lite from one-hot sequences and hypothetical scores.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        One-hot sequences, rows A, C, G, T.
    attributions : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        Hypothetical scores (``sl.plrp(model, X, hypothetical=True)``): what each
        base would contribute at each position; the contributions are ``X *
        attributions``. A projected map (zero on every absent base) is accepted
        with a warning: the hCWMs then equal the CWMs, and the seqlet similarities
        see only the observed bases, so patterns are told apart less well.
    coords, names : optional
        Genome coordinates and names of the sequences (as for
        :func:`~sparselrp.motifs.find_seqlets`); only used for the seqlet table of
        ``return_details``.
    window, flank, fdr, null, min_passing_windows_frac, max_passing_windows_frac
        Seqlet calling; see :func:`call_seqlets` (``null="nonzero"`` is the
        alternative for sparse maps described in the module docstring).
    max_seqlets : int
        Most seqlets per sign passed to clustering (in the order they were called).
    n_leiden : int
        Leiden clusterings with different seeds (``modisco motifs -l``).
    trim_size, initial_flank, final_flank : int
        tfmodisco-lite's ``trim_to_window_size``, ``initial_flank_to_add``,
        ``final_flank_to_add``.
    min_metacluster_size : int
        A sign needs more seqlets than this to be clustered.
    min_support : int
        Smallest number of seqlets of a pattern (``final_min_cluster_size``).
    trim_threshold : float
        Motif matrices keep the columns whose summed |CWM| is at least this share
        of the largest column's (the outermost such columns and all between).
    allow_projected : bool
        False: a projected map raises ValueError instead of a warning.
    return_details : bool
        Also return a dict: ``n_seqlets`` (called, per sign), thresholds, the share of
        zero windows, the called seqlets (a :class:`~sparselrp.motifs.Seqlets` table;
        ``score`` is the sum of the seqlet's core) and the seconds each step took.
    verbose : bool
        tfmodisco-lite's progress messages.
    progress : bool or str
        Report the seqlets clustered, one sign at a time
        (:func:`sparselrp.progress.progress_bar`: ``True`` for a bar on a terminal
        and log lines otherwise).

    Returns
    -------
    list of Motif
        Positive and negative patterns together, best first by seqlet support;
        named as in tfmodisco-lite's HDF5 (``pos_patterns.pattern_0``, ...). Each has
        ``pwm``, ``cwm``, ``hcwm`` (trimmed, (4, w)), ``support``, ``sign``,
        ``seqlets`` (sequence index, start, end, strand of the untrimmed pattern)
        and ``trim``. With ``return_details``: ``(motifs, details)``.

    Raises
    ------
    ValueError
        Shapes that disagree, non-finite values, or a projected map with
        ``allow_projected=False``.
    TooFewSeqletsError
        Neither sign has more than ``min_metacluster_size`` seqlets.

    Notes
    -----
    Deterministic: tfmodisco-lite seeds its null sampling and Leiden runs.
    """
    from modiscolite import core, precompile, tfmodisco

    from .seqlets import seqlet_table

    t0 = time.perf_counter()
    # tfmodisco-lite compiles its numba kernels in forked children, into numba's disk cache, while
    # the run goes on (a no-op where forking is unsafe: the kernels then compile on first call)
    precompile.start()
    X = _as_numpy(X, "X")
    H = _as_numpy(attributions, "attributions")
    if H.shape != X.shape:
        raise ValueError(f"attributions have shape {H.shape} but X has shape {X.shape}; they must come from "
                         "the same sequences")
    if is_projected(X, H):
        msg = ("the attributions are projected (zero on every absent base), not hypothetical scores: the "
               "hCWMs will equal the CWMs and tfmodisco-lite compares seqlets on the observed bases only; "
               "use sl.plrp(model, X, hypothetical=True) (sparselrp attribute --hypothetical)")
        if not allow_projected:
            raise ValueError(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    one_hot = np.ascontiguousarray(X.transpose(0, 2, 1))
    hyp = np.ascontiguousarray(H.transpose(0, 2, 1))
    contrib = one_hot * hyp
    track_set = core.TrackSet(one_hot=one_hot, contrib_scores=contrib, hypothetical_contribs=hyp)

    t1 = time.perf_counter()
    called, threshold, info = call_seqlets(contrib.sum(axis=2), window=window, flank=flank, fdr=fdr, null=null,
                                           min_passing_windows_frac=min_passing_windows_frac,
                                           max_passing_windows_frac=max_passing_windows_frac)
    seqlets = track_set.create_seqlets(called)
    pos, neg = [], []
    core_sums = []
    for s in seqlets:
        f = int(0.5 * (len(s) - window))
        total = float(np.sum(s.contrib_scores[f:len(s) - f]))
        core_sums.append(total)
        if total > threshold:
            pos.append(s)
        elif total < -threshold:
            neg.append(s)
    t2 = time.perf_counter()
    if len(pos) <= min_metacluster_size and len(neg) <= min_metacluster_size:
        raise TooFewSeqletsError(
            f"too few seqlets for tfmodisco-lite: {len(pos)} positive and {len(neg)} negative from {X.shape[0]} "
            f"sequences; each sign needs more than min_metacluster_size={min_metacluster_size} (give more "
            "sequences or lower it)")
    options = dict(track_set=track_set, n_leiden_runs=n_leiden, trim_to_window_size=trim_size,
                   initial_flank_to_add=initial_flank, final_flank_to_add=final_flank,
                   final_min_cluster_size=min_support)
    from ..progress import progress_bar

    todo = sum(len(g[:max_seqlets]) for g in (pos, neg) if len(g) > min_metacluster_size)
    bar = progress_bar(progress, total=todo, desc="motifs", unit="seqlet")
    motifs = []
    for sign, group, track_sign in (("positive", pos, 1), ("negative", neg, -1)):
        if len(group) <= min_metacluster_size:
            continue
        if verbose:
            print(f"tfmodisco-lite: {len(group[:max_seqlets])} {sign} seqlets", flush=True)
        patterns = tfmodisco.seqlets_to_patterns(seqlets=group[:max_seqlets], track_signs=track_sign, **options)
        patterns = sorted(patterns or [], key=lambda p: -len(p.seqlets))
        motifs += [_to_motif(p, sign, i, trim_threshold) for i, p in enumerate(patterns)]
        bar.update(len(group[:max_seqlets]))
    bar.close()
    motifs.sort(key=lambda m: -m.support)  # stable: positive first on ties
    t3 = time.perf_counter()
    if not return_details:
        return motifs
    n = len(seqlets)
    table = seqlet_table([s.example_idx for s in seqlets], [s.start for s in seqlets], [s.end for s in seqlets],
                         core_sums, X.shape[0], coords=coords, names=names, threshold=threshold)
    details = {
        "engine": "tfmodisco-lite", "null": null, "n_seqlets": {"positive": len(pos), "negative": len(neg)},
        "n_called": n, "sign_threshold": threshold, **info, "seqlets": table,
        "seconds": {"prepare": t1 - t0, "seqlets": t2 - t1, "patterns": t3 - t2},
        "options": dict(window=window, flank=flank, fdr=fdr, null=null, max_seqlets=max_seqlets, n_leiden=n_leiden,
                        trim_size=trim_size, initial_flank=initial_flank, final_flank=final_flank,
                        min_metacluster_size=min_metacluster_size, min_support=min_support,
                        trim_threshold=trim_threshold),
    }
    return motifs, details


def precompile():
    """Run :func:`discover` once on a small synthetic set so that tfmodisco-lite's numba kernels
    are compiled into numba's disk cache (30-60 s in a fresh environment), not during the first
    real run. Called by ``make venv`` through :func:`sparselrp.motifs.jaspar.precompile`.
    """
    rng = np.random.default_rng(0)
    n, length, w = 240, 120, 12
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    pwm = rng.dirichlet(np.full(4, 0.3), size=w).T
    H = (rng.random((n, 1, length)) < 0.1) * rng.normal(0, 0.2, (n, 4, length))
    for i in range(n):
        s = int(rng.integers(25, length - w - 25))
        site = np.array([rng.choice(4, p=pwm[:, j]) for j in range(w)])
        X[i, :, s:s + w] = np.eye(4, dtype=np.float32)[site].T
        H[i, :, s:s + w] += np.log2(pwm / 0.25) - np.log2(pwm / 0.25).mean(0)
    try:
        discover(X, H.astype(np.float32))
    except TooFewSeqletsError:  # pragma: no cover - the kernels it reached are compiled all the same
        pass
