"""tfmodisco-lite as the motif engine: planted motifs recovered with their sign, the seqlet null on
sparse maps, motif matrices against their seqlets, and the files (HDF5, npz pair, regions, MEME)."""

import warnings

import numpy as np
import pytest

from sparselrp.motifs import Motif, TooFewSeqletsError, call_seqlets, discover, is_projected, match_jaspar
from test_discovery import jaspar_pwm


def plant_hypothetical(specs, length=160, seed=0, noise=0.0):
    """Oracle hypothetical scores for planted sites: zero except at each site, where every base gets
    its centred log-odds under the site's PWM (times +1 or -1, the sign of the spec).

    specs: list of (pwm, n sequences, sign). One site per sequence, random strand and position.
    Returns X (N, 4, L), H (N, 4, L) float32, sites [(seq, start, width, strand, spec index)].
    """
    rng = np.random.default_rng(seed)
    n = sum(k for _, k, _ in specs)
    codes = rng.integers(0, 4, (n, length))
    H = np.zeros((n, 4, length), np.float32)
    sites, i = [], 0
    for si, (pwm, k, sign) in enumerate(specs):
        w = pwm.shape[1]
        lo = np.log2(np.clip(pwm, 1e-3, None) / 0.25)
        lo = lo - lo.mean(0, keepdims=True)
        for _ in range(k):
            s = int(rng.integers(2, length - w - 2))
            site = np.array([rng.choice(4, p=pwm[:, j]) for j in range(w)])
            h = lo
            strand = "-" if rng.random() < 0.5 else "+"
            if strand == "-":
                site, h = 3 - site[::-1], lo[::-1, ::-1]
            codes[i, s:s + w] = site
            H[i, :, s:s + w] = sign * h
            sites.append((i, s, w, strand, si))
            i += 1
    X = np.zeros((n, 4, length), np.float32)
    X[np.arange(n)[:, None], codes, np.arange(length)[None]] = 1
    if noise:
        H += (rng.random((n, 1, length)) < noise) * rng.normal(0, 0.3, (n, 4, length)).astype(np.float32)
    return X, H, sites


@pytest.fixture(scope="module")
def planted():
    ctcf, gata = jaspar_pwm("MA0139.2"), jaspar_pwm("MA0035.5")
    X, H, sites = plant_hypothetical([(ctcf, 160, 1.0), (gata, 150, -2.0)], seed=3, noise=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hypothetical scores: no projected-map warning
        motifs, details = discover(X, H, return_details=True)
    return X, H, sites, motifs, details


def test_planted_motifs_recovered_with_their_sign(planted):
    X, H, sites, motifs, details = planted
    assert details["n_seqlets"]["positive"] > 100 and details["n_seqlets"]["negative"] > 100
    assert [m.support for m in motifs] == sorted((m.support for m in motifs), reverse=True)
    pos = [m for m in motifs if m.sign == "positive"]
    neg = [m for m in motifs if m.sign == "negative"]
    assert pos and neg
    match_jaspar(motifs, release=2024)
    top_pos, top_neg = pos[0], neg[0]
    assert top_pos.name == "pos_patterns.pattern_0" and top_neg.name == "neg_patterns.pattern_0"
    assert top_pos.matches[0]["target_name"].upper() == "CTCF" and top_pos.matches[0]["q"] < 0.01
    assert top_neg.matches[0]["target_name"].upper().startswith("GATA") and top_neg.matches[0]["q"] < 0.01
    assert top_pos.cwm.sum() > 0 > top_neg.cwm.sum()
    assert top_pos.information_content().sum() > 15
    assert top_pos.support >= 60 and top_neg.support >= 50  # of 160 and 150 planted sites (73 and 69 here)


def test_motif_matrices_are_the_means_of_their_seqlets(planted):
    """PWM = base frequencies, CWM = mean of X * H, hCWM = mean of H over the motif's seqlets, cut to
    its trim range and oriented by strand (what the HDF5 and Fi-NeMo rely on)."""
    X, H, _, motifs, _ = planted
    C = X * H
    for m in motifs:
        lo, hi = m.trim
        assert len(m.seqlets) == m.support and len({e - s for _, s, e, _ in m.seqlets}) == 1
        xs, cs, hs = [], [], []
        for seq, s, e, strand in m.seqlets:
            win = [A[seq, :, s:e] for A in (X, C, H)]
            if strand == "-":
                win = [w[::-1, ::-1] for w in win]
            xs.append(win[0][:, lo:hi])
            cs.append(win[1][:, lo:hi])
            hs.append(win[2][:, lo:hi])
        np.testing.assert_allclose(m.pwm, np.mean(xs, 0), atol=1e-6)
        np.testing.assert_allclose(m.cwm, np.mean(cs, 0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(m.hcwm, np.mean(hs, 0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(m.pwm.sum(0), 1.0)
        score = np.abs(m.cwm).sum(0)
        assert score[0] >= 0.3 * score.max() and score[-1] >= 0.3 * score.max()


def test_nonzero_null_on_sparse_maps():
    """A map with many exact zeros: tfmodisco-lite's own null collapses onto the zero mode, so its
    threshold is the cap of 20 % of all windows and weak noise windows of both signs pass; the null
    from non-zero windows keeps the threshold above the noise. On a dense map both give the same
    seqlets."""
    ctcf = jaspar_pwm("MA0139.2")
    X, H, sites = plant_hypothetical([(ctcf, 150, 1.0)], length=400, seed=5)
    contrib = (X * H).sum(1)
    rng = np.random.default_rng(0)
    sparse = contrib + (rng.random(contrib.shape) < 0.05) * rng.normal(0, 0.1, contrib.shape)
    site_of = {i: (s, s + w) for i, s, w, _, _ in sites}

    def on_site(seqlets):
        return np.mean([s.start < site_of[s.example_idx][1] and site_of[s.example_idx][0] < s.end
                        for s in seqlets])

    s_all, _, _ = call_seqlets(sparse, null="all")
    s_nz, _, info = call_seqlets(sparse, null="nonzero")
    assert info["zero_window_share"] > 0.3
    assert on_site(s_nz) > 0.95 and len(s_nz) >= 140
    assert on_site(s_all) < 0.6 and len(s_all) > 2 * len(s_nz)  # noise windows pass under the collapsed null
    dense = contrib + rng.normal(0, 0.05, contrib.shape)
    a, ta, _ = call_seqlets(dense, null="all")
    b, tb, _ = call_seqlets(dense, null="nonzero")
    assert [(s.example_idx, s.start, s.end) for s in a] == [(s.example_idx, s.start, s.end) for s in b]
    assert ta == pytest.approx(tb)


def test_projected_maps_and_bad_input():
    ctcf = jaspar_pwm("MA0139.2")
    X, H, _ = plant_hypothetical([(ctcf, 20, 1.0)], seed=1)
    P = X * H
    assert is_projected(X, P) and not is_projected(X, H)
    with pytest.raises(ValueError, match="projected"):
        discover(X, P, allow_projected=False)
    with pytest.warns(UserWarning, match="hCWMs will equal the CWMs"):
        with pytest.raises(TooFewSeqletsError):
            discover(X, P)
    with pytest.raises(TooFewSeqletsError, match="too few seqlets.*min_metacluster_size=100"):
        discover(X, H)
    with pytest.raises(ValueError, match="same sequences"):
        discover(X, H[:5])
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        discover(X[:, :3], H[:, :3])
    bad = H.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        discover(X, bad)


# ----------------------------------------------------------------------------- files


def test_modisco_h5_round_trip_and_layout(planted, tmp_path):
    import h5py

    from sparselrp.io.modisco import read_modisco_h5, write_modisco_h5

    X, H, _, motifs, _ = planted
    path = tmp_path / "modisco_results.h5"
    write_modisco_h5(path, motifs, X, H)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modisco_results.h5"]
    back = read_modisco_h5(path)
    order = sorted(motifs, key=lambda m: (m.sign != "positive", int(m.name.rsplit("_", 1)[1])))
    assert [m.name for m in back] == [m.name for m in order]
    for a, b in zip(order, back):
        assert (a.sign, a.support, a.trim, a.seqlets) == (b.sign, b.support, b.trim, b.seqlets)
        for k in ("pwm", "cwm", "hcwm"):
            np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-6, atol=1e-7)
    # the layout tfmodisco-lite's save_hdf5 writes, which Fi-NeMo's loaders read
    with h5py.File(path) as f:
        assert f.attrs["window_size"] == X.shape[2]
        assert set(f) == {"pos_patterns", "neg_patterns"}
        g = f["pos_patterns/pattern_0"]
        w = a_width = g["sequence"].shape[0]
        assert {k for k in g} >= {"sequence", "contrib_scores", "hypothetical_contribs", "seqlets"}
        assert g["contrib_scores"].shape == g["hypothetical_contribs"].shape == (a_width, 4)
        s = g["seqlets"]
        n = int(s["n_seqlets"][0])
        assert set(s) == {"n_seqlets", "start", "end", "example_idx", "is_revcomp", "sequence", "contrib_scores",
                          "hypothetical_contribs"}
        assert s["start"].shape == (n,) and s["sequence"].shape == (n, w, 4)
        np.testing.assert_allclose(g["sequence"][:], s["sequence"][:].mean(0), atol=1e-6)


def test_finemo_reads_the_h5_and_regions(planted, tmp_path):
    data_io = pytest.importorskip("finemo.data_io", reason="Fi-NeMo (PyPI finemo) is not installed")
    from sparselrp.io.modisco import write_modisco_h5, write_modisco_npz
    from sparselrp.io.regions import write_regions

    X, H, _, motifs, _ = planted
    n, _, length = X.shape
    write_modisco_h5(tmp_path / "m.h5", motifs, X, H)
    write_modisco_npz(tmp_path / "ohe.npz", tmp_path / "hyp.npz", X, H)
    write_regions(tmp_path / "r.narrowPeak", n, length,
                  coords={"chrom": ["chr1"] * n, "start": np.arange(n) * 1000, "end": np.arange(n) * 1000 + length})
    mdf, cwms, masks, names = data_io.load_modisco_motifs(str(tmp_path / "m.h5"), None, None, 0.3, "cwm", None,
                                                          None, None, 0.7, False)
    assert sorted(names) == sorted(m.name for m in motifs)
    peaks = data_io.load_peaks(str(tmp_path / "r.narrowPeak"), None, length // 2)
    assert peaks["peak_region_start"].to_list() == list(range(0, 1000 * n, 1000))
    seqs, contribs = data_io.load_regions_from_modisco_fmt([str(tmp_path / "hyp.npz")], str(tmp_path / "ohe.npz"),
                                                           length // 2)
    assert seqs.shape == (n, 4, length)


def test_npz_pair_and_regions_round_trip(tmp_path):
    from sparselrp.io.modisco import write_modisco_npz
    from sparselrp.io.regions import read_regions, write_regions

    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 30))].transpose(0, 2, 1)
    H = rng.normal(size=X.shape)
    write_modisco_npz(tmp_path / "ohe.npz", tmp_path / "hyp.npz", X, H)
    for name, A in (("ohe.npz", X), ("hyp.npz", H)):
        z = np.load(tmp_path / name)
        assert z.files == ["arr_0"] and z["arr_0"].dtype == np.float32
        np.testing.assert_allclose(z["arr_0"], A, rtol=1e-6)
    coords = {"chrom": ["chr2", "chr2", "chrX"], "start": [10, 500, 7], "end": [40, 530, 37],
              "strand": ["+", "-", "."]}
    write_regions(tmp_path / "r.narrowPeak", 3, 30, names=["a", "b", "c"], coords=coords)
    write_regions(tmp_path / "r.bed", 3, 30, names=["a", "b", "c"])
    rows = (tmp_path / "r.narrowPeak").read_text().splitlines()
    assert [r.split("\t")[9] for r in rows] == ["15"] * 3  # summit: start + summit - L // 2 == start
    assert read_regions(tmp_path / "r.narrowPeak") == [("chr2", 10, 40, "a", "+"), ("chr2", 500, 530, "b", "-"),
                                                       ("chrX", 7, 37, "c", ".")]
    assert read_regions(tmp_path / "r.bed") == [(n, 0, 30, n, ".") for n in "abc"]
    with pytest.raises(ValueError, match="whitespace"):
        write_regions(tmp_path / "x.bed", 1, 30, names=["a b"])
    assert not (tmp_path / "x.bed").exists()


def test_meme_types_round_trip(tmp_path):
    from sparselrp.errors import InputFormatError
    from sparselrp.io.meme import read_meme, write_meme

    rng = np.random.default_rng(2)
    pwm = rng.dirichlet(np.ones(4), size=7).T
    m = Motif("pos_patterns.pattern_0", pwm=pwm, cwm=pwm - 0.3, hcwm=-(pwm ** 2), support=42)
    for kind, mat in (("pfm", m.pwm), ("cwm", m.cwm), ("hcwm", m.hcwm)):
        write_meme(tmp_path / f"{kind}.meme", [m], kind=kind)
        ((name, back),) = read_meme(tmp_path / f"{kind}.meme", probabilities=kind == "pfm")
        assert name == m.name
        np.testing.assert_allclose(back, mat, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputFormatError, match="probabilities"):
        read_meme(tmp_path / "cwm.meme")
    with pytest.raises(ValueError, match="kind"):
        write_meme(tmp_path / "x.meme", [m], kind="ppm")


def test_match_against_another_meme_database(tmp_path):
    from sparselrp.errors import InputFormatError
    from sparselrp.io.meme import write_meme

    ctcf = jaspar_pwm("MA0139.2")
    gata = jaspar_pwm("MA0035.5")
    db = tmp_path / "other.meme"
    write_meme(db, [("MYCTCF", ctcf), ("MYGATA", gata)])
    q = Motif("q", pwm=ctcf[:, 2:16], cwm=ctcf[:, 2:16])
    match_jaspar([q], meme_db=db, jaspar=False)
    assert q.matches[0]["target_id"] == "MYCTCF" and q.matches[0]["database"] == "other.meme"
    assert {m["target_id"] for m in q.matches} == {"MYCTCF", "MYGATA"}
    match_jaspar([q], meme_db=db, release=2024, top=50)
    dbs = {m["database"] for m in q.matches}
    assert dbs == {"JASPAR2024", "other.meme"}
    assert q.matches[0]["target_name"].upper() in ("CTCF", "MYCTCF")
    assert all(m["p"] == m["p_value"] and m["q"] == m["q_value"] for m in q.matches)
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n 0.5 0.5 0.5 0.5\n")
    with pytest.raises(InputFormatError, match="bad.meme.*line 5"):
        match_jaspar([q], meme_db=bad)


def test_motif_json_round_trip_keeps_sign_seqlets_trim(tmp_path):
    from sparselrp.io.motifs_json import read_motifs_json, write_motifs_json

    pwm = np.full((4, 3), 0.25)
    m = Motif("neg_patterns.pattern_0", pwm=pwm, cwm=-pwm, hcwm=-pwm, support=2, sign="negative",
              seqlets=[(0, 5, 15, "+"), (3, 1, 11, "-")], trim=(2, 5),
              matches=[{"target_id": "MA1", "target_name": "X", "p": 1e-3, "q": 0.1, "p_value": 1e-3,
                        "q_value": 0.1}])
    write_motifs_json(tmp_path / "m.json", [m])
    (b,) = read_motifs_json(tmp_path / "m.json")
    assert (b.sign, b.seqlets, b.trim, b.matches) == (m.sign, m.seqlets, m.trim, m.matches)
    with pytest.raises(ValueError, match="strand"):
        Motif("x", pwm=pwm, cwm=pwm, seqlets=[(0, 1, 2, "?")])
    with pytest.raises(ValueError, match="sign"):
        Motif("x", pwm=pwm, cwm=pwm, sign="up")
    with pytest.raises(ValueError, match="trim"):
        Motif("x", pwm=pwm, cwm=pwm, trim=(0, 5))


def test_seqlets_on_a_map_with_windows_of_one_sign_only():
    """sl.plrp's maps keep positive evidence only, and tfmodisco-lite's own seqlet call fails
    without negative windows (its isotonic fit gets no weight): the null is then estimated by
    sparselrp from all windows, and the planted sites are still called."""
    ctcf = jaspar_pwm("MA0139.2")
    X, H, sites = plant_hypothetical([(ctcf, 150, 1.0)], length=400, seed=6)
    contrib = np.clip((X * H).sum(1), 0, None)
    rng = np.random.default_rng(1)
    contrib = contrib + (rng.random(contrib.shape) < 0.05) * np.abs(rng.normal(0, 0.1, contrib.shape))
    assert (contrib >= 0).all()
    site_of = {i: (s, s + w) for i, s, w, _, _ in sites}
    seqlets, threshold, info = call_seqlets(contrib, null="all")
    assert len(seqlets) >= 140 and np.isfinite(threshold) and info["neg_threshold"] == float("-inf")
    assert np.mean([s.start < site_of[s.example_idx][1] and site_of[s.example_idx][0] < s.end
                    for s in seqlets]) > 0.9
