"""Seqlet calling: reference implementation, genome coordinates on both strands, I/O."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparselrp.errors import InputFormatError
from sparselrp.io.seqlets import read_seqlets_tsv, write_seqlets_bed, write_seqlets_tsv
from sparselrp.motifs import Seqlets, default_threshold, find_seqlets

COMP = str.maketrans("ACGT", "TGCA")


def onehot(seqs):
    idx = np.array([["ACGT".index(c) for c in s] for s in seqs])
    X = np.zeros((len(seqs), 4, idx.shape[1]), np.float32)
    X[np.arange(len(seqs))[:, None], idx, np.arange(idx.shape[1])[None]] = 1
    return X


def reference_seqlets(r, threshold, merge_gap, flank, min_length, min_score):
    """Obviously-correct, slow reference: loops over sequences and positions."""
    out = []
    n, length = r.shape
    for i in range(n):
        runs = []
        l = 0
        while l < length:
            if abs(r[i, l]) > threshold:
                s = l
                while l < length and abs(r[i, l]) > threshold:
                    l += 1
                runs.append([s, l])
            else:
                l += 1
        merged = []
        for s, e in runs:
            if merged and s - merged[-1][1] <= merge_gap:
                merged[-1][1] = e
            else:
                merged.append([s, e])
        for s, e in merged:
            if e - s < max(min_length, 1):
                continue
            s2, e2 = max(0, s - flank), min(length, e + flank)
            score = sum(r[i, s2:e2])
            if min_score is not None and abs(score) < min_score:
                continue
            out.append((i, s2, e2, score))
    return out


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 4),
    length=st.integers(1, 40),
    merge_gap=st.integers(0, 4),
    flank=st.integers(0, 4),
    min_length=st.integers(0, 4),
    min_score=st.one_of(st.none(), st.floats(0, 3)),
)
def test_matches_reference(data, n, length, merge_gap, flank, min_length, min_score):
    vals = data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.5, -0.7, 1.0, 2.0, 0.05]),
                              min_size=n * length, max_size=n * length))
    r = np.array(vals).reshape(n, length)
    rows = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n * length, max_size=n * length))).reshape(n, length)
    R = np.zeros((n, 4, length))
    R[np.arange(n)[:, None], rows, np.arange(length)[None]] = r
    got = find_seqlets(R, threshold=0.1, merge_gap=merge_gap, flank=flank, min_length=min_length,
                       min_score=min_score)
    ref = reference_seqlets(r, 0.1, merge_gap, flank, min_length, min_score)
    assert len(got) == len(ref)
    for k, (i, s, e, score) in enumerate(ref):
        assert (got.seq[k], got.start[k], got.end[k]) == (i, s, e)
        assert got.score[k] == pytest.approx(score, abs=1e-9)
    assert np.all(got.strand == ".")


def test_simple_runs_merge_and_flanks():
    r = np.zeros((1, 30))
    r[0, [5, 6, 7, 10, 11]] = 1.0  # gap of 2 -> merged with merge_gap >= 2
    r[0, 20:24] = -1.0
    R = np.zeros((1, 4, 30))
    R[:, 0] = r
    s = find_seqlets(R, threshold=0.5, merge_gap=2, flank=2, min_length=3)
    assert list(zip(s.start, s.end)) == [(3, 14), (18, 26)]
    assert s.score.tolist() == pytest.approx([5.0, -4.0])
    pos = find_seqlets(R, threshold=0.5, merge_gap=2, flank=2, min_length=3, sign="positive")
    assert list(zip(pos.start, pos.end)) == [(3, 14)]
    neg = find_seqlets(R, threshold=0.5, merge_gap=2, flank=2, min_length=3, sign="negative")
    assert list(zip(neg.start, neg.end)) == [(18, 26)]
    # no merging with gap 1: runs 5-8 (len 3) and 10-12 (len 2 < min_length)
    s1 = find_seqlets(R, threshold=0.5, merge_gap=1, flank=0, min_length=3)
    assert list(zip(s1.start, s1.end)) == [(5, 8), (20, 24)]


def test_flanks_clipped_at_borders():
    R = np.zeros((2, 4, 10))
    R[0, 1, 0:3] = 1
    R[1, 2, 8:10] = 1
    s = find_seqlets(R, threshold=0.1, flank=5, min_length=1)
    assert list(zip(s.seq, s.start, s.end)) == [(0, 0, 8), (1, 3, 10)]


def test_default_threshold_mass():
    r = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])
    # total 10; 80 % needs 4+3+2 = 9 >= 8 -> threshold 2
    assert default_threshold(r, 0.8) == 2.0
    assert default_threshold(r, 0.7) == 3.0
    assert default_threshold(np.zeros((2, 3))) == np.inf
    R = np.zeros((1, 4, 5))
    R[0, 0] = r[0]
    s = find_seqlets(R, merge_gap=0, flank=0, min_length=1)
    # positions strictly above the threshold 2: 0 and 1
    assert s.threshold == 2.0 and list(zip(s.start, s.end)) == [(0, 2)]


def test_all_zero_and_torch_input():
    import torch

    s = find_seqlets(torch.zeros(3, 4, 20))
    assert len(s) == 0 and s.seq.dtype == np.int64


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        find_seqlets(np.zeros((2, 3, 5)))
    R = np.zeros((1, 4, 5))
    R[0, 0, 2] = np.nan
    with pytest.raises(ValueError, match="position 2"):
        find_seqlets(R)
    with pytest.raises(ValueError, match="sign"):
        find_seqlets(np.zeros((1, 4, 5)), sign="up")
    with pytest.raises(ValueError, match="names"):
        find_seqlets(np.zeros((2, 4, 5)), names=["a"])


def _genome_setup():
    rng = np.random.default_rng(1)
    genome = "".join(rng.choice(list("ACGT"), 300))
    kmer_pos = [(40, 52), (150, 162), (220, 231), (100, 110)]
    windows = [(20, 80, "+"), (130, 190, "-"), (200, 260, "-"), (90, 130, "+")]
    seqs, R = [], []
    for (ws, we, strand), (ks, ke) in zip(windows, kmer_pos):
        s = genome[ws:we]
        rel = np.zeros(we - ws)
        rel[ks - ws:ke - ws] = 1.0  # relevance on genome positions ks..ke-1
        if strand == "-":
            s = s.translate(COMP)[::-1]
            rel = rel[::-1]
        seqs.append(s)
        R.append(rel)
    L = max(len(s) for s in seqs)
    seqs = [s + "A" * (L - len(s)) for s in seqs]
    X = onehot(seqs)
    R = np.stack([np.pad(r, (0, L - len(r))) for r in R])[:, None, :] * X
    coords = {"chrom": ["chrZ"] * 4, "start": [w[0] for w in windows], "end": [w[1] for w in windows],
              "strand": [w[2] for w in windows]}
    return genome, kmer_pos, windows, seqs, X, R, coords


def test_genome_coordinates_both_strands():
    genome, kmer_pos, windows, seqs, X, R, coords = _genome_setup()
    s = find_seqlets(R, X, threshold=0.5, flank=0, min_length=1, coords=coords,
                     names=[f"w{i}" for i in range(4)])
    assert len(s) == 4
    assert s.strand.tolist() == ["+", "-", "-", "+"]
    assert s.chrom.tolist() == ["chrZ"] * 4
    for k in range(4):
        i = s.seq[k]
        assert (s.genome_start[k], s.genome_end[k]) == kmer_pos[i]
        window_seq = seqs[i][s.start[k]:s.end[k]]
        gseq = genome[s.genome_start[k]:s.genome_end[k]]
        expected = gseq if s.strand[k] == "+" else gseq.translate(COMP)[::-1]
        assert window_seq == expected
    # with flanks: still consistent and inside the windows
    s2 = find_seqlets(R, X, threshold=0.5, flank=3, min_length=1, coords=coords)
    for k in range(len(s2)):
        i = s2.seq[k]
        ws, we, strand = windows[i]
        assert ws <= s2.genome_start[k] < s2.genome_end[k] <= we
        gseq = genome[s2.genome_start[k]:s2.genome_end[k]]
        expected = gseq if strand == "+" else gseq.translate(COMP)[::-1]
        assert seqs[i][s2.start[k]:s2.end[k]] == expected


def test_bed_uses_genome_coordinates(tmp_path):
    genome, kmer_pos, windows, seqs, X, R, coords = _genome_setup()
    s = find_seqlets(R, X, threshold=0.5, flank=0, min_length=1, coords=coords)
    write_seqlets_bed(tmp_path / "s.bed", s)
    rows = [line.split("\t") for line in (tmp_path / "s.bed").read_text().splitlines()]
    assert len(rows) == 4 and all(len(r) == 6 for r in rows)
    for k, r in enumerate(rows):
        assert r[0] == "chrZ" and (int(r[1]), int(r[2])) == kmer_pos[s.seq[k]]
        assert r[3] == f"seqlet_{k}" and 0 <= int(r[4]) <= 1000 and r[5] == s.strand[k]
    # without coordinates: sequence names and window coordinates
    s_nc = find_seqlets(R, X, threshold=0.5, flank=0, min_length=1, names=["a", "b", "c", "d"])
    write_seqlets_bed(tmp_path / "n.bed", s_nc)
    rows = [line.split("\t") for line in (tmp_path / "n.bed").read_text().splitlines()]
    assert [r[0] for r in rows] == ["a", "b", "c", "d"]
    assert [(int(r[1]), int(r[2])) for r in rows] == list(zip(s_nc.start.tolist(), s_nc.end.tolist()))
    assert [r[5] for r in rows] == ["."] * 4


def _assert_same(a, b):
    for col in Seqlets._COLUMNS:
        va, vb = getattr(a, col), getattr(b, col)
        if va is None or vb is None:
            assert va is None and vb is None, col
        else:
            np.testing.assert_array_equal(va, vb, err_msg=col)


def test_tsv_round_trip(tmp_path):
    genome, kmer_pos, windows, seqs, X, R, coords = _genome_setup()
    R = R * np.linspace(0.3, 1.7, R.shape[-1])  # non-trivial float scores
    for kw in ({}, {"coords": coords, "names": ["a", "b", "c", "d"]}):
        s = find_seqlets(R, X, threshold=0.1, flank=2, min_length=1, **kw)
        write_seqlets_tsv(tmp_path / "s.tsv", s)
        _assert_same(s, read_seqlets_tsv(tmp_path / "s.tsv"))
    empty = Seqlets.empty()
    write_seqlets_tsv(tmp_path / "e.tsv", empty)
    assert len(read_seqlets_tsv(tmp_path / "e.tsv")) == 0


def test_tsv_reader_errors(tmp_path):
    header = "seqlet_id\tseq\tname\tstart\tend\tscore\tstrand\tchrom\tgenome_start\tgenome_end\n"
    cases = {
        "": "empty file",
        "a\tb\n": "line 1: not a seqlet table",
        header + "0\t0\t.\t1\t5\t0.5\t.\t.\t.\n": "line 2: 9 columns",
        header + "0\t0\t.\tx\t5\t0.5\t.\t.\t.\t.\n": "line 2: column 'start'",
        header + "0\t0\t.\t6\t5\t0.5\t.\t.\t.\t.\n": "line 2: invalid seqlet",
        header + "0\t0\t.\t1\t5\tnan\t.\t.\t.\t.\n": "line 2: column 'score'",
        header + "0\t0\t.\t1\t5\t1\t?\t.\t.\t.\n": "line 2: column 'strand'",
        header + "0\t0\t.\t1\t5\t1\t+\tchr1\t.\t.\n": "line 2: chrom, genome_start",
        header + "0\t0\t.\t1\t5\t1\t.\t.\t.\t.\n5\t0\t.\t1\t5\t1\t.\t.\t.\t.\n": "line 3: seqlet_id 5",
    }
    for k, (text, msg) in enumerate(cases.items()):
        p = tmp_path / f"bad{k}.tsv"
        p.write_text(text)
        with pytest.raises(InputFormatError, match=msg) as exc:
            read_seqlets_tsv(p)
        assert str(p) in str(exc.value)


def test_writers_atomic_on_missing_dir(tmp_path):
    s = Seqlets.empty()
    with pytest.raises(FileNotFoundError):
        write_seqlets_tsv(tmp_path / "missing" / "s.tsv", s)
    assert not (tmp_path / "missing").exists()


def test_subset_indexing():
    R = np.zeros((3, 4, 20))
    R[:, 0, 5:10] = 1
    s = find_seqlets(R, threshold=0.5, flank=0)
    sub = s[np.array([2, 0])]
    assert sub.seq.tolist() == [2, 0] and len(s[s.seq > 0]) == 2
