"""The greedy clusterer of 0.1 (`discover_motifs`), kept only for comparison in benchmarks/motifs.py
(the motif engine is tfmodisco-lite: tests/test_modisco.py), on synthetic attributions with planted
motifs (and, slow, on real CTCF peaks)."""

from pathlib import Path

import numpy as np
import pytest

from sparselrp.motifs import Motif, Seqlets, discover_motifs, find_seqlets, load_jaspar, match_jaspar

COMP = str.maketrans("ACGT", "TGCA")


def jaspar_pwm(matrix_id):
    for tid, _, pwm in load_jaspar():
        if tid == matrix_id:
            return np.array(pwm)
    raise KeyError(matrix_id)


def consensus(pwm):
    return "".join("ACGT"[i] for i in np.asarray(pwm).argmax(0))


def rc(s):
    return s.translate(COMP)[::-1]


def plant(pwms, n=120, length=100, seed=0, noise=0.03):
    """Random one-hot background, one sampled site per sequence (motif k = i % len(pwms)), random strand.

    Returns X, R, H (hypothetical: the weight track on all four rows), the site table.
    """
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, length))
    weight = np.zeros((n, length))
    sites = []
    for i in range(n):
        k = i % len(pwms)
        pwm = pwms[k]
        w = pwm.shape[1]
        s = int(rng.integers(5, length - w - 5))
        site = np.array([rng.choice(4, p=pwm[:, j]) for j in range(w)])
        ic = (pwm * np.log2(np.where(pwm > 0, pwm, 1) / 0.25)).sum(0)
        minus = bool(rng.random() < 0.5)
        if minus:
            site, ic = 3 - site[::-1], ic[::-1]
        codes[i, s:s + w] = site
        weight[i, s:s + w] = ic
        sites.append((k, s, minus))
    X = np.zeros((n, 4, length), np.float32)
    X[np.arange(n)[:, None], codes, np.arange(length)[None]] = 1
    hit = rng.random((n, length)) < noise
    weight = weight + hit * rng.normal(0, 0.3, (n, length))
    R = (X * weight[:, None, :]).astype(np.float32)
    H = np.repeat(weight[:, None, :], 4, axis=1).astype(np.float32)
    return X, R, H, sites


def matches_consensus(found, planted, min_overlap=8):
    """Whether found (or its reverse complement) lies inside planted with >= min_overlap columns agreeing."""
    best = 0
    for f in (found, rc(found)):
        for off in range(-len(f) + 1, len(planted)):
            agree = sum(1 for j, c in enumerate(f) if 0 <= off + j < len(planted) and planted[off + j] == c)
            best = max(best, agree)
    return best >= min(min_overlap, len(found))


@pytest.fixture(scope="module")
def ctcf():
    return jaspar_pwm("MA0139.2")


def test_planted_ctcf_recovered_and_matched(ctcf):
    X, R, H, sites = plant([ctcf])
    seqlets = find_seqlets(R, X)
    motifs = discover_motifs(seqlets, X, R, H=H)
    assert motifs, "no motif found"
    top = motifs[0]
    assert top.support >= 0.9 * len(sites)
    assert top.width >= 10
    assert matches_consensus(top.consensus(), consensus(ctcf), min_overlap=top.width - 2)
    # pwm columns sum to 1, the hypothetical CWM exists and has the right shape
    np.testing.assert_allclose(top.pwm.sum(0), 1.0)
    ic = top.information_content()
    assert ic[0] >= 0.25 and ic[-1] >= 0.25  # low-information flanks trimmed
    loose = discover_motifs(seqlets, X, R, trim_ic=0.0, trim_threshold=0.0)[0]
    assert loose.width > top.width  # without trimming the extended frame stays
    assert top.hcwm is not None and top.hcwm.shape == top.pwm.shape
    # reverse-complement awareness: both strands of the planted sites ended up in the one motif
    strands = {sites[seqlets.seq[i]][2] for i in top.seqlet_ids}
    assert strands == {True, False}
    match_jaspar(motifs)
    best = top.matches[0]
    assert best["target_id"] == "MA0139.2" and best["target_name"] == "CTCF"
    assert best["p_value"] < 1e-8 and best["q_value"] < 1e-5
    assert set(best) >= {"target_id", "target_name", "p_value", "q_value", "offset", "orientation"}
    assert best["orientation"] in "+-"


def test_member_alignment_reproduces_matrices(ctcf):
    """seqlet_strands / seqlet_offsets locate each member: rebuild PWM, CWM and hCWM with a slow loop."""
    X, R, H, _ = plant([ctcf], n=60, seed=3)
    seqlets = find_seqlets(R, X)
    (top, *_) = discover_motifs(seqlets, X, R, H=H)
    w = top.width
    counts, cwm, hcwm = np.zeros((4, w)), np.zeros((4, w)), np.zeros((4, w))
    L = X.shape[2]
    for sid, strand, off in zip(top.seqlet_ids, top.seqlet_strands, top.seqlet_offsets):
        i = seqlets.seq[sid]
        for j in range(w):
            pos = off + j if strand == "+" else off - j
            if not 0 <= pos < L:
                continue
            for b in range(4):
                bb = b if strand == "+" else 3 - b
                counts[b, j] += X[i, bb, pos]
                cwm[b, j] += R[i, bb, pos]
                hcwm[b, j] += H[i, bb, pos]
    np.testing.assert_allclose(top.pwm, counts / counts.sum(0), atol=1e-9)
    np.testing.assert_allclose(top.cwm, cwm / top.support, atol=1e-6)
    np.testing.assert_allclose(top.hcwm, hcwm / top.support, atol=1e-6)
    # each member site's aligned bases agree with the consensus at most columns
    assert top.support == len(top.seqlet_ids) == len(set(top.seqlet_ids))


def test_two_planted_motifs(ctcf):
    gata = jaspar_pwm("MA0035.5") if any(t[0] == "MA0035.5" for t in load_jaspar()) else None
    if gata is None:
        gata = next(p for tid, name, p in load_jaspar() if name == "GATA1")
    X, R, H, sites = plant([ctcf, gata], n=160, seed=1)
    seqlets = find_seqlets(R, X)
    motifs = match_jaspar(discover_motifs(seqlets, X, R))
    assert len(motifs) >= 2
    names = [m.matches[0]["target_name"].upper() for m in motifs[:2]]
    assert any("CTCF" in n for n in names) and any("GATA" in n for n in names), names
    for m in motifs[:2]:
        kinds = {sites[seqlets.seq[i]][0] for i in m.seqlet_ids}
        assert len(kinds) == 1  # clusters do not mix the two motifs
    assert motifs[0].support >= motifs[1].support
    assert [m.name for m in motifs] == [f"motif_{i + 1}" for i in range(len(motifs))]


def test_negative_relevance_kept_apart(ctcf):
    X, R, _, _ = plant([ctcf], n=40, seed=2, noise=0)
    R2 = np.concatenate([R, -R])
    X2 = np.concatenate([X, X])
    seqlets = find_seqlets(R2, X2)
    motifs = discover_motifs(seqlets, X2, R2)
    assert len(motifs) == 2
    for m in motifs:
        signs = {np.sign(seqlets.score[i]) for i in m.seqlet_ids}
        assert len(signs) == 1


def test_min_support_and_empty():
    X = np.zeros((2, 4, 30), np.float32)
    X[:, 0] = 1
    assert discover_motifs(Seqlets.empty(), X, X) == []
    R = X.copy()
    seqlets = find_seqlets(R, X, threshold=0.5)
    assert discover_motifs(seqlets, X, R, min_support=5) == []
    motifs = discover_motifs(seqlets, X, R, min_support=1)
    assert sum(m.support for m in motifs) == len(seqlets)


def test_deterministic(ctcf):
    X, R, _, _ = plant([ctcf], n=50, seed=4)
    s = find_seqlets(R, X)
    a, b = discover_motifs(s, X, R), discover_motifs(s, X, R)
    assert [m.seqlet_ids for m in a] == [m.seqlet_ids for m in b]
    for m1, m2 in zip(a, b):
        np.testing.assert_array_equal(m1.cwm, m2.cwm)


def test_bad_input():
    X = np.zeros((2, 4, 30), np.float32)
    with pytest.raises(TypeError, match="Seqlets"):
        discover_motifs([1, 2], X, X)
    with pytest.raises(ValueError, match="shape"):
        discover_motifs(Seqlets.empty(), X, np.zeros((2, 4, 31)))
    s = Seqlets(seq=[5], start=[0], end=[4], score=[1.0], strand=["."])
    with pytest.raises(ValueError, match="sequence 5"):
        discover_motifs(s, X, X)


def _read_fasta(path):
    seqs = []
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            seqs.append("")
        else:
            seqs[-1] += line.strip().upper()
    return seqs


@pytest.mark.slow
def test_real_ctcf_peaks(ctcf):
    """CTCF ChIP-seq peaks with relevance = CTCF log-odds match track: discovery finds CTCF."""
    from numpy.lib.stride_tricks import sliding_window_view

    from sparselrp.data import ctcf_peaks_fasta

    path = ctcf_peaks_fasta()
    seqs = _read_fasta(path)
    codes = np.array([["ACGTN".index(c) for c in s] for s in seqs])
    n, L = codes.shape
    X = np.zeros((n, 5, L), np.float32)
    X[np.arange(n)[:, None], codes, np.arange(L)[None]] = 1
    X = X[:, :4]
    lo = np.log2((ctcf * 0.97 + 0.0075) / 0.25)
    w = lo.shape[1]
    V = sliding_window_view(X, w, axis=2)
    score = np.maximum(np.einsum("nckw,cw->nk", V, lo), np.einsum("nckw,cw->nk", V, lo[::-1, ::-1]))
    gain = np.clip(score - 8.0, 0, None)
    track = np.max(np.stack([np.pad(gain, ((0, 0), (j, L - gain.shape[1] - j))) for j in range(w)]), axis=0)
    R = X * track[:, None, :]
    seqlets = find_seqlets(R, X)
    motifs = match_jaspar(discover_motifs(seqlets, X, R))
    assert motifs[0].support > 200
    assert "CTCF" in motifs[0].matches[0]["target_name"].upper()


def test_pure_noise_gives_no_motif():
    """Heavy-tailed relevance on random sequences: isolated spikes must not become motifs."""
    rng = np.random.default_rng(11)
    n, length = 150, 200
    X = np.zeros((n, 4, length), np.float32)
    X[np.arange(n)[:, None], rng.integers(0, 4, (n, length)), np.arange(length)[None]] = 1
    R = X * rng.standard_t(2, (n, 1, length)).astype(np.float32)
    seqlets = find_seqlets(R, X)
    assert len(seqlets) > 100
    assert discover_motifs(seqlets, X, R) == []


def test_long_seqlets_are_cropped(ctcf):
    """A planted site inside a very long seqlet (dense map) is still found."""
    X, R, _, _ = plant([ctcf], n=60, seed=5, noise=0)
    R = R + 0.05 * X  # every position weakly relevant: one seqlet per sequence spanning it
    seqlets = find_seqlets(R, X, threshold=0.01)
    assert np.all(seqlets.length == X.shape[2])
    motifs = discover_motifs(seqlets, X, R, max_length=40)
    assert motifs and motifs[0].support >= 50
    assert matches_consensus(motifs[0].consensus(), consensus(ctcf), min_overlap=10)
