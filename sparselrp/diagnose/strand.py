"""Stability: reverse-complement agreement and flank shuffles.

* Reverse complement: the map of ``rc(x)`` flipped back (``flip`` of the base and length
  axes, so relevance on base A at position l lands on T at position L-1-l, the same
  base pair) is compared with the map of ``x``: Pearson correlation of ``|r|`` per
  sample (mass-weighted, so the positions that carry the map decide it; a rank
  correlation would be dominated by the ranks of the many near-zero positions), median
  over samples. Only a model that predicts both strands alike (trained
  with reverse-complement augmentation, or RC-symmetric by construction) should agree,
  so the check is gated: when the Pearson correlation of ``f_t(x)`` and ``f_t(rc(x))``
  over the samples is below ``strand_output``, the agreement is reported, not flagged.
* Flank shuffle: the top seqlets of each map (:func:`sparselrp.motifs.find_seqlets`,
  the two of largest ``|score|`` per sample) are kept and everything outside them is
  dinucleotide-shuffled (:func:`sparselrp.sequence.dinucleotide_shuffle`; the seqlets
  are masked as N columns so each flank is shuffled on its own, keeping its
  dinucleotide counts). The figure is, per sample with a seqlet, the share of ``|r|``
  inside the seqlets after the shuffle over the share before; median over samples.
"""

import numpy as np
import torch

from ._common import make_check, nanmedian, per_position, rowwise_pearson, to_np


def run_map(explainer, X, target, batch_size):
    """Map and explained output in one pass.

    Returns
    -------
    R : torch.Tensor
        ``(N, 4, L)``.
    f : numpy.ndarray
        ``(N,)`` explained outputs f_t(x).
    """
    try:
        chunks = explainer._run(X, target, batch_size, False, False, False, False)
        R = torch.cat([c["R"] for c in chunks], 0).to(X.device)
        f = np.concatenate([to_np(c["f"]) for c in chunks])
        return R, f
    except (AttributeError, TypeError, KeyError):  # pragma: no cover - engine API changed
        R = explainer.attribute(X, target=target, batch_size=batch_size)
        f = to_np(explainer.conservation(X, target=target, batch_size=batch_size)["output"])
        return R, f


def rc_figures(explainer, X, R, f, target, batch_size):
    """Per-sample reverse-complement agreement.

    Returns
    -------
    dict
        ``agreement`` (N,) Pearson correlation of ``|r|``; ``agreement_signed`` (N,) of ``r``;
        ``output_correlation`` float (Pearson of f(x) and f(rc(x)) over samples);
        ``f_rc`` (N,).
    """
    Xrc = X.flip(1, 2)
    Rrc, frc = run_map(explainer, Xrc, target, batch_size)
    back = Rrc.flip(1, 2)
    r, rb = per_position(R), per_position(back)
    f = np.asarray(f, dtype=np.float64)
    if f.size > 1 and f.std() > 0 and frc.std() > 0:
        oc = float(np.corrcoef(f, frc)[0, 1])
    else:
        oc = float("nan")
    return {"agreement": rowwise_pearson(np.abs(r), np.abs(rb)),
            "agreement_signed": rowwise_pearson(r, rb), "output_correlation": oc, "f_rc": frc}


def seqlet_mask(R, top=2):
    """``(N, L)`` bool mask of the ``top`` seqlets of largest ``|score|`` of each map."""
    from ..motifs import find_seqlets

    Rn = to_np(R)
    n, _, length = Rn.shape
    mask = np.zeros((n, length), dtype=bool)
    if not np.any(Rn):
        return mask
    s = find_seqlets(Rn)
    if len(s.seq) == 0:
        return mask
    order = np.lexsort((-np.abs(s.score), s.seq))           # by sequence, then |score| descending
    seq = s.seq[order]
    first = np.r_[0, np.flatnonzero(np.diff(seq)) + 1]
    rank = np.arange(seq.size) - np.repeat(first, np.diff(np.r_[first, seq.size]))
    keep = order[rank < top]
    pos = np.arange(length)
    win = (pos >= s.start[keep, None]) & (pos < s.end[keep, None])   # (M, L)
    np.logical_or.at(mask, s.seq[keep], win)
    return mask


def shuffle_flanks(X, mask, seed):
    """Dinucleotide-shuffle ``X`` ``(N, 4, L)`` outside ``mask`` ``(N, L)``; seqlets stay."""
    from ..sequence import dinucleotide_shuffle

    m = torch.as_tensor(mask, device=X.device)[:, None, :]
    Xm = torch.where(m, torch.zeros_like(X), X)
    S = dinucleotide_shuffle(Xm.cpu(), n=1, random_state=seed)
    S = torch.as_tensor(np.asarray(S), dtype=X.dtype)[:, 0].to(X.device)
    return torch.where(m, X, S)


def flank_figures(explainer, X, R, target, batch_size, seed, top=2):
    """Per-sample relevance retention in the top seqlets after a flank shuffle.

    Returns
    -------
    dict
        ``retention`` (N,) (NaN for samples without a seqlet or with an all-zero map);
        ``share_before``, ``share_after`` (N,); ``mask`` (N, L).
    """
    mask = seqlet_mask(R, top=top)
    Xs = shuffle_flanks(X, mask, seed)
    R2, _ = run_map(explainer, Xs, target, batch_size)
    a, b = np.abs(per_position(R)), np.abs(per_position(R2))
    has = mask.any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = np.where(a.sum(1) > 0, (a * mask).sum(1) / a.sum(1), np.nan)
        after = np.where(b.sum(1) > 0, (b * mask).sum(1) / b.sum(1), np.nan)
        ret = np.where(has & (before > 0), after / before, np.nan)
    return {"retention": ret, "share_before": before, "share_after": after, "mask": mask}


def strand_checks(rc, flank, thresholds):
    """The two "strand" checks (reverse complement, flank shuffle)."""
    checks = []
    if rc is not None:
        v = nanmedian(rc["agreement"])
        oc = rc["output_correlation"]
        gate = thresholds["strand_output"]
        details = {"output_correlation": oc, "output_gate": gate,
                   "median_signed_agreement": nanmedian(rc["agreement_signed"])}
        c = make_check(
            "strand", "reverse-complement agreement", "strand_agreement", v, thresholds,
            ok_text=f"The map of the reverse complement, flipped back, agrees with the map ("
                    f"correlation {v:.2f}).",
            bad_text=f"The map of the reverse complement, flipped back, disagrees with the map ("
                     f"correlation {v:.2f}) although the model predicts both strands alike (r = {oc:.2f}): "
                     f"the explanation depends on the strand it is read from.",
            na_text="The agreement is undefined (constant maps).", details=details)
        if not (np.isfinite(oc) and oc >= gate):
            c.passed = None
            c.verdict = (f"Not checked: the model does not predict both strands alike (correlation of "
                         f"f(x) and f(rc(x)) {oc:.2f} < {gate:g}; it was probably trained without "
                         f"reverse-complement augmentation), so the maps need not agree (agreement "
                         f"{v:.2f}).")
        checks.append(c)
    if flank is not None:
        v = nanmedian(flank["retention"])
        n_with = int(np.isfinite(flank["retention"]).sum())
        details = {"samples_with_seqlets": n_with,
                   "median_share_before": nanmedian(flank["share_before"]),
                   "median_share_after": nanmedian(flank["share_after"])}
        checks.append(make_check(
            "strand", "flank-shuffle retention", "flank_retention", v, thresholds,
            ok_text=f"Shuffling the flanks around the top seqlets keeps {100 * v:.0f} % of their relevance "
                    f"(median of {n_with} samples): the map explains the seqlets themselves.",
            bad_text=f"Shuffling only the flanks around the top seqlets keeps {100 * v:.0f} % of their "
                     f"relevance (median of {n_with} samples): the seqlets' relevance depends on their "
                     f"context, and the map is not stable.",
            na_text="No seqlet found in the maps; the flank shuffle was not run.", details=details))
    return checks
