"""JASPAR loading (offline, pyjaspar) and TOMTOM matching with BH q-values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparselrp.motifs import Motif, benjamini_hochberg, jaspar_releases, load_jaspar, match_jaspar


def test_releases_and_default_is_newest():
    rel = jaspar_releases()
    assert rel == sorted(rel, reverse=True) and all(r.startswith("JASPAR") for r in rel)
    assert load_jaspar() is not load_jaspar()  # a fresh list ...
    assert load_jaspar()[0] is load_jaspar(rel[0])[0]  # ... over one per-process cache


def test_load_jaspar_matrices():
    targets = load_jaspar("JASPAR2024")
    assert len(targets) > 500
    ids = {t[0] for t in targets}
    assert "MA0139.2" in ids
    for tid, name, pwm in targets[:50]:
        assert pwm.ndim == 2 and pwm.shape[0] == 4
        np.testing.assert_allclose(pwm.sum(0), 1.0)
    assert len(load_jaspar(2024)) == len(targets)
    insects = load_jaspar("JASPAR2024", tax_group="insects")
    assert ids.isdisjoint({t[0] for t in insects})


def test_unknown_release():
    with pytest.raises(ValueError, match="unknown JASPAR release 'JASPAR1999'"):
        load_jaspar("JASPAR1999")


def _reference_bh(p):
    t = len(p)
    q = np.empty(t)
    for i in range(t):
        # q_i = min over j with p_j >= p_i of p_j * t / rank_j (rank among sorted p, ties ranked by position)
        order = sorted(range(t), key=lambda k: (p[k], k))
        rank = {k: r + 1 for r, k in enumerate(order)}
        q[i] = min(min(p[j] * t / rank[j] for j in range(t) if rank[j] >= rank[i]), 1.0)
    return q


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1e-9, 0.001, 0.01, 0.04, 0.2, 0.5, 1.0]) | st.floats(0, 1), min_size=1,
                max_size=15))
def test_benjamini_hochberg_reference(p):
    p = np.array(p)
    q = benjamini_hochberg(p)
    np.testing.assert_allclose(q, _reference_bh(p), rtol=1e-12, atol=0)
    assert np.all(q >= p - 1e-15) and np.all(q <= 1)
    q2 = benjamini_hochberg(np.stack([p, p[::-1]]))
    np.testing.assert_allclose(q2[0], q)
    np.testing.assert_allclose(q2[1], q[::-1])


def test_jaspar_matrix_matches_itself_both_orientations():
    targets = load_jaspar()
    tid, name, pwm = next(t for t in targets if t[0].startswith("MA0139"))
    fwd = Motif(name="fwd", pwm=pwm, cwm=pwm)
    rev = Motif(name="rev", pwm=pwm[::-1, ::-1], cwm=pwm)
    match_jaspar([fwd, rev], top=3)
    for m, orient in ((fwd, "+"), (rev, "-")):
        assert len(m.matches) == 3
        best = m.matches[0]
        assert best["target_id"] == tid and best["target_name"] == "CTCF"
        assert best["orientation"] == orient and best["offset"] == 0
        assert best["p_value"] < 1e-10 and best["q_value"] < 1e-7
        ps = [x["p_value"] for x in m.matches]
        assert ps == sorted(ps)
        assert all(x["q_value"] >= x["p_value"] for x in m.matches)


def test_custom_targets_and_errors():
    rng = np.random.default_rng(0)
    targets = [(f"T{i}", f"t{i}", rng.dirichlet(np.ones(4) * 0.3, size=int(rng.integers(6, 15))).T)
               for i in range(40)]
    q = Motif(name="q", pwm=targets[7][2][:, 1:-1], cwm=targets[7][2][:, 1:-1])
    match_jaspar([q], targets=targets, top=1)
    assert q.matches[0]["target_id"] == "T7" and q.matches[0]["offset"] == 1
    padded = np.concatenate([np.full((4, 3), 0.25), targets[7][2]], axis=1)
    p = Motif(name="p", pwm=padded, cwm=padded)
    match_jaspar([p], targets=targets, top=1)
    assert p.matches[0]["target_id"] == "T7" and p.matches[0]["offset"] == -3
    assert match_jaspar([], top=2) == []
    with pytest.raises(ValueError, match="top"):
        match_jaspar([q], top=0)
    with pytest.raises(TypeError, match="Motif"):
        match_jaspar([("x", np.eye(4))])
