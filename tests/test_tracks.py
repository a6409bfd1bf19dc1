"""bedGraph / bigWig export of per-position relevance in genome coordinates."""

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparselrp import tracks

pyBigWig = pytest.importorskip("pyBigWig")


def _reference(R, coords, reduce="sum", sizes=None):
    """Slow, obviously correct: loop over windows and positions, accumulate in a dict."""
    R = np.asarray(R, dtype=np.float64)
    acc, cnt = {}, {}
    n, _, L = R.shape
    for i in range(n):
        c, s, e = coords["chrom"][i], int(coords["start"][i]), int(coords["end"][i])
        minus = coords.get("strand") is not None and coords["strand"][i] == "-"
        for l in range(L):
            g = e - 1 - l if minus else s + l
            if g < 0 or (sizes is not None and g >= sizes[c]):
                continue
            acc[(c, g)] = acc.get((c, g), 0.0) + R[i, :, l].sum()
            cnt[(c, g)] = cnt.get((c, g), 0) + 1
    if reduce == "mean":
        acc = {k: v / cnt[k] for k, v in acc.items()}
    return {k: v for k, v in acc.items() if v != 0}


def _flatten(blocks):
    out = {}
    prev = None
    for c, pos, val in blocks:
        assert np.all(np.diff(pos) > 0)
        if prev is not None and prev[0] == c:
            assert pos[0] > prev[1], "blocks of one chromosome must come in increasing order"
        prev = (c, pos[-1])
        for p, v in zip(pos.tolist(), val.tolist()):
            assert (c, p) not in out
            out[(c, p)] = v
    return out


def _random_windows(rng, n, L, chroms=("chr1", "chr2", "chr10"), span=60, sparse=True):
    chrom = rng.choice(list(chroms), size=n)
    start = rng.integers(-3, span, size=n)
    strand = rng.choice(["+", "-", "."], size=n)
    R = rng.normal(size=(n, 4, L)).astype(np.float32)
    if sparse:
        R *= rng.random((n, 4, L)) < 0.3
    coords = {"chrom": chrom, "start": start, "end": start + L, "strand": strand}
    return R, coords


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 25), L=st.integers(1, 17),
       chunk=st.integers(1, 9), reduce=st.sampled_from(["sum", "mean"]))
def test_genome_track_matches_reference(seed, n, L, chunk, reduce):
    rng = np.random.default_rng(seed)
    R, coords = _random_windows(rng, n, L)
    sizes = {"chr1": 50, "chr2": 70, "chr10": 65}
    got = _flatten(tracks.genome_track(R, coords, reduce=reduce, chrom_sizes=sizes, chunk_size=chunk))
    ref = _reference(R, coords, reduce=reduce, sizes=sizes)
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-9)


def test_chromosome_order_follows_sizes_or_natural_order():
    rng = np.random.default_rng(0)
    R, coords = _random_windows(rng, 30, 5, sparse=False)
    order = [c for c, _, _ in tracks.genome_track(R, coords, chunk_size=4)]
    assert list(dict.fromkeys(order)) == ["chr1", "chr2", "chr10"]
    sizes = {"chr10": 100, "chr2": 100, "chr1": 100}
    order = [c for c, _, _ in tracks.genome_track(R, coords, chrom_sizes=sizes, chunk_size=4)]
    assert list(dict.fromkeys(order)) == ["chr10", "chr2", "chr1"]


def test_minus_strand_runs_backwards():
    R = np.zeros((2, 4, 4), np.float32)
    R[0, 0] = [1, 2, 3, 4]
    R[1, 2] = [10, 20, 30, 40]
    coords = {"chrom": ["chrA", "chrB"], "start": [100, 100], "end": [104, 104], "strand": ["+", "-"]}
    got = _flatten(tracks.genome_track(R, coords))
    assert [got[("chrA", p)] for p in range(100, 104)] == [1, 2, 3, 4]
    assert [got[("chrB", p)] for p in range(100, 104)] == [40, 30, 20, 10]


def test_bedgraph_round_trip_and_runs(tmp_path):
    rng = np.random.default_rng(1)
    R, coords = _random_windows(rng, 40, 12, span=100)
    out = tmp_path / "r.bedGraph.gz"
    n = tracks.write_bedgraph(out, R, coords, chunk_size=7, track_line="track type=bedGraph name=x")
    with gzip.open(out, "rt") as fh:
        assert fh.readline().startswith("track type=bedGraph")
    back = tracks.read_bedgraph(out)
    assert sum(len(v[0]) for v in back.values()) == n
    ref = _reference(R, coords)
    got = {}
    for c, (s, e, v) in back.items():
        assert np.all(e > s) and np.all(s[1:] >= e[:-1])  # sorted, non-overlapping
        for a, b, x in zip(s, e, v):
            for p in range(a, b):
                got[(c, p)] = x
    ref = {k: v for k, v in ref.items() if k[1] >= 0}
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k] == pytest.approx(ref[k], rel=1e-7, abs=1e-7)


def test_equal_neighbours_become_one_interval(tmp_path):
    R = np.zeros((1, 4, 6), np.float32)
    R[0, 1] = [0, 2, 2, 2, 0, 5]
    coords = {"chrom": ["chr1"], "start": [10], "end": [16]}
    tracks.write_bedgraph(tmp_path / "x.bedGraph", R, coords)
    lines = (tmp_path / "x.bedGraph").read_text().splitlines()
    assert lines == ["chr1\t11\t14\t2", "chr1\t15\t16\t5"]


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_bigwig_round_trip_both_strands(tmp_path, reduce):
    rng = np.random.default_rng(2)
    R, coords = _random_windows(rng, 50, 20, span=200)
    sizes = {"chr1": 230, "chr2": 210, "chr10": 500}
    out = tmp_path / "r.bw"
    tracks.write_bigwig(out, R, coords, chrom_sizes=sizes, reduce=reduce, chunk_size=8)
    ref = _reference(R, coords, reduce=reduce, sizes=sizes)
    bw = pyBigWig.open(str(out))
    try:
        assert bw.chroms() == sizes
        for c, size in sizes.items():
            vals = np.nan_to_num(np.asarray(bw.values(c, 0, size)), nan=0.0)
            want = np.zeros(size)
            for (cc, p), v in ref.items():
                if cc == c:
                    want[p] = v
            np.testing.assert_allclose(vals, want, rtol=1e-6, atol=1e-5)
    finally:
        bw.close()


def test_bigwig_sizes_inferred_and_from_fasta(tmp_path):
    R = np.ones((2, 4, 3), np.float32)
    coords = {"chrom": ["chr2", "chr1"], "start": [5, 0], "end": [8, 3]}
    tracks.write_bigwig(tmp_path / "a.bw", R, coords)
    bw = pyBigWig.open(str(tmp_path / "a.bw"))
    assert bw.chroms() == {"chr1": 3, "chr2": 8}
    assert bw.values("chr2", 5, 8) == [4.0, 4.0, 4.0]
    bw.close()
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1 desc\nACGTA\nCG\n>chr2\n" + "A" * 20 + "\n")
    assert tracks.read_chrom_sizes(fa) == {"chr1": 7, "chr2": 20}
    cs = tmp_path / "g.sizes"
    cs.write_text("chr2\t20\nchr1\t7\n")
    assert tracks.read_chrom_sizes(cs) == {"chr2": 20, "chr1": 7}
    tracks.write_bigwig(tmp_path / "b.bw", R, coords, chrom_sizes=fa)
    bw = pyBigWig.open(str(tmp_path / "b.bw"))
    assert bw.chroms() == {"chr1": 7, "chr2": 20}
    bw.close()


def test_torch_input_and_errors():
    torch = pytest.importorskip("torch")
    R = torch.ones(1, 4, 3)
    got = _flatten(tracks.genome_track(R, {"chrom": ["c"], "start": [0], "end": [3]}))
    assert got == {("c", 0): 4.0, ("c", 1): 4.0, ("c", 2): 4.0}
    with pytest.raises(ValueError, match="spans 5 bp"):
        list(tracks.genome_track(R, {"chrom": ["c"], "start": [0], "end": [5]}))
    with pytest.raises(ValueError, match="no genome coordinates"):
        list(tracks.genome_track(R, None))
    with pytest.raises(ValueError, match="strand"):
        list(tracks.genome_track(R, {"chrom": ["c"], "start": [0], "end": [3], "strand": ["x"]}))
    with pytest.raises(ValueError, match="not in the chromosome sizes"):
        list(tracks.genome_track(R, {"chrom": ["c"], "start": [0], "end": [3]}, chrom_sizes={"d": 3}))


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError):
        tracks.write_bedgraph(tmp_path / "x.bedGraph", np.ones((1, 4, 3)), {"chrom": ["c"], "start": [0], "end": [9]})
    assert list(tmp_path.iterdir()) == []


def test_tracks_cli_round_trip(tmp_path):
    from click.testing import CliRunner

    from sparselrp.cli import main
    from sparselrp.io.attributions import save_attributions
    from sparselrp.io.onehot import save_onehot

    rng = np.random.default_rng(3)
    R, coords = _random_windows(rng, 12, 10, chroms=("chr1", "chr2"), span=40)
    coords["start"] = np.abs(coords["start"])
    coords["end"] = coords["start"] + 10
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (12, 10))].transpose(0, 2, 1)
    save_onehot(tmp_path / "ohe.npz", X, coords=coords)
    save_attributions(tmp_path / "attr.npz", R, sparse=True)
    (tmp_path / "g.sizes").write_text("chr1\t60\nchr2\t70\n")
    args = ["tracks", "-a", str(tmp_path / "attr.npz"), "-s", str(tmp_path / "ohe.npz"), "--bedgraph",
            str(tmp_path / "t.bedGraph"), "--bigwig", str(tmp_path / "t.bw"), "--chrom-sizes", str(tmp_path / "g.sizes")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    ref = _reference(R, coords)
    bw = pyBigWig.open(str(tmp_path / "t.bw"))
    try:
        assert bw.chroms() == {"chr1": 60, "chr2": 70}
        for (c, p), v in ref.items():
            assert bw.values(c, p, p + 1)[0] == pytest.approx(v, rel=1e-6, abs=1e-6)
        n_bw = sum(len(bw.intervals(c) or ()) for c in ("chr1", "chr2"))
    finally:
        bw.close()
    bg = tracks.read_bedgraph(tmp_path / "t.bedGraph")
    assert sum(len(v[0]) for v in bg.values()) == n_bw
    # no coordinates: one clear error, no output
    save_onehot(tmp_path / "plain.npz", X)
    res = CliRunner().invoke(main, ["tracks", "-a", str(tmp_path / "attr.npz"), "-s", str(tmp_path / "plain.npz"),
                                    "--bedgraph", str(tmp_path / "u.bedGraph")])
    assert res.exit_code == 1 and "no genome coordinates" in res.output
    assert not (tmp_path / "u.bedGraph").exists()


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("batch", [1, 3, 100])
def test_position_relevance_file_streams_both_forms(tmp_path, sparse, batch):
    from sparselrp.io.attributions import save_attributions

    rng = np.random.default_rng(4)
    R = rng.normal(size=(11, 4, 13)).astype(np.float32) * (rng.random((11, 4, 13)) < 0.3)
    R[5] = 0  # an all-zero window
    save_attributions(tmp_path / "a.npz", R, sparse=sparse)
    got = tracks.position_relevance_file(tmp_path / "a.npz", batch_size=batch)
    assert got.shape == (11, 13) and got.dtype == np.float32
    np.testing.assert_allclose(got, R.sum(1, dtype=np.float64), rtol=1e-6, atol=1e-7)
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        tracks.position_relevance_file(tmp_path / "bad.npz")
