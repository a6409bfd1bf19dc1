"""`sparselrp seqlets` and `sparselrp motifs` (tfmodisco-lite) end to end, and their errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sparselrp.cli import main
from sparselrp.io.attributions import save_attributions
from sparselrp.io.meme import read_meme
from sparselrp.io.motifs_json import read_motifs_json
from sparselrp.io.onehot import save_onehot
from sparselrp.io.seqlets import read_seqlets_tsv
from test_discovery import jaspar_pwm, plant


def run(*args):
    # progress log lines appear only when a run outlasts the interval (timing-dependent): off here
    res = CliRunner().invoke(main, [str(a) for a in args], env={"SPARSELRP_PROGRESS": "off"})
    return res


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, R, H, sites = plant([jaspar_pwm("MA0139.2")], n=60, seed=7)
    n, _, L = X.shape
    coords = {"chrom": ["chr1"] * n, "start": [1000 * i for i in range(n)],
              "end": [1000 * i + L for i in range(n)], "strand": ["+", "-"] * (n // 2)}
    save_onehot(d / "ohe.npz", X, names=[f"peak{i}" for i in range(n)], coords=coords)
    save_attributions(d / "attr.npz", R)
    save_attributions(d / "attr.sparse.npz", R, sparse=True)
    return d, X, R


@pytest.fixture(scope="module")
def modisco_inputs(tmp_path_factory):
    """Planted CTCF (positive) and GATA1 (negative) sites with oracle hypothetical scores."""
    from test_modisco import plant_hypothetical

    d = tmp_path_factory.mktemp("modisco_cli")
    X, H, sites = plant_hypothetical([(jaspar_pwm("MA0139.2"), 160, 1.0), (jaspar_pwm("MA0035.5"), 150, -2.0)],
                                     seed=3, noise=0.1)
    n, _, L = X.shape
    coords = {"chrom": ["chr1"] * n, "start": [1000 * i for i in range(n)],
              "end": [1000 * i + L for i in range(n)], "strand": ["+", "-"] * (n // 2)}
    save_onehot(d / "ohe.npz", X, names=[f"peak{i}" for i in range(n)], coords=coords)
    save_attributions(d / "hyp.npz", H)
    save_attributions(d / "proj.npz", X * H)
    return d, X, H


def test_seqlets_cli(inputs, tmp_path):
    d, X, R = inputs
    res = run("seqlets", "-a", d / "attr.sparse.npz", "-s", d / "ohe.npz", "-o", tmp_path / "s.tsv",
              "--bed", tmp_path / "s.bed")
    assert res.exit_code == 0, res.output
    assert "seqlets in" in res.output
    s = read_seqlets_tsv(tmp_path / "s.tsv")
    assert len(s) >= 60 and s.has_genome_coords and s.name[0].startswith("peak")
    bed = [line.split("\t") for line in (tmp_path / "s.bed").read_text().splitlines()]
    assert len(bed) == len(s)
    for k, row in enumerate(bed):
        i = s.seq[k]
        assert row[0] == "chr1" and row[5] == ("+" if i % 2 == 0 else "-")
        assert 1000 * i <= int(row[1]) < int(row[2]) <= 1000 * i + X.shape[2]
    # dense and sparse attribution files give the same table
    res = run("seqlets", "-a", d / "attr.npz", "-s", d / "ohe.npz", "-o", tmp_path / "d.tsv")
    assert res.exit_code == 0
    assert (tmp_path / "d.tsv").read_text() == (tmp_path / "s.tsv").read_text()


@pytest.mark.slow
def test_motifs_cli_writes_every_file(modisco_inputs, tmp_path):
    from sparselrp.io.modisco import read_modisco_h5
    from sparselrp.io.regions import read_regions

    d, X, H = modisco_inputs
    o = tmp_path
    res = run("motifs", "-a", d / "hyp.npz", "-s", d / "ohe.npz", "-o", o / "m.meme", "--json", o / "m.json",
              "--h5", o / "m.h5", "--modisco-npz", o / "pair", "--regions", o / "r.narrowPeak",
              "--seqlets-out", o / "s.tsv", "--jaspar-release", "2024", "--top", "3")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[1].split()[:6] == ["pattern", "sign", "width", "seqlets", "bits", "consensus"]
    assert lines[2].startswith("pos_patterns.pattern_0") and "CTCF" in lines[2]
    assert any(ln.startswith("neg_patterns.pattern_0") and "GATA" in ln for ln in lines)
    meme = read_meme(o / "m.meme")
    motifs, meta = read_motifs_json(o / "m.json", with_metadata=True)
    assert [n for n, _ in meme] == [m.name for m in motifs]
    assert meta["jaspar_release"] == "JASPAR2024" and meta["engine"] == "tfmodisco-lite"
    top = motifs[0]
    assert top.sign == "positive" and top.hcwm is not None and len(top.matches) == 3
    np.testing.assert_allclose(meme[0][1], top.pwm, atol=1e-5)
    back = {m.name: m for m in read_modisco_h5(o / "m.h5")}
    assert back.keys() == {m.name for m in motifs}
    for m in motifs:
        assert back[m.name].seqlets == m.seqlets and back[m.name].trim == m.trim
    with np.load(o / "pair" / "ohe.npz") as z:
        np.testing.assert_array_equal(z["arr_0"], X)
    with np.load(o / "pair" / "hyp.npz") as z:
        np.testing.assert_allclose(z["arr_0"], H)
    regions = read_regions(o / "r.narrowPeak")
    assert len(regions) == X.shape[0] and regions[3] == ("chr1", 3000, 3000 + X.shape[2], "peak3", "-")
    s = read_seqlets_tsv(o / "s.tsv")
    assert s.has_genome_coords and len(s) > 200
    # CWM MEME: the contribution matrices as they are
    res = run("motifs", "-a", d / "hyp.npz", "-s", d / "ohe.npz", "-o", o / "cwm.meme", "--meme-type", "cwm",
              "--no-jaspar")
    assert res.exit_code == 0, res.output
    cwm = read_meme(o / "cwm.meme", probabilities=False)
    np.testing.assert_allclose(cwm[0][1], top.cwm, rtol=1e-4, atol=1e-6)


def _assert_error(res, *fragments):
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("sparselrp: error: ") and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.output
    for f in fragments:
        assert f in res.stderr, res.stderr


def test_cli_errors(inputs, tmp_path):
    d, X, R = inputs
    out = tmp_path / "s.tsv"
    _assert_error(run("seqlets", "-a", tmp_path / "missing.npz", "-s", d / "ohe.npz", "-o", out), "missing.npz")
    save_attributions(tmp_path / "short.npz", R[:5])
    _assert_error(run("seqlets", "-a", tmp_path / "short.npz", "-s", d / "ohe.npz", "-o", out),
                  "short.npz", "shape")
    _assert_error(run("seqlets", "-a", d / "attr.npz", "-s", d / "ohe.npz", "-o", tmp_path / "no" / "s.tsv"),
                  "does not exist")
    assert not out.exists()


def test_motifs_cli_errors(inputs, modisco_inputs, tmp_path):
    """Bad input gets one line and exit 1, and no output file: shapes that disagree, projected scores,
    too few seqlets, an unreadable MEME database, an unknown JASPAR release."""
    d, X, R = inputs
    m, _, H = modisco_inputs
    meme = tmp_path / "m.meme"
    save_attributions(tmp_path / "short.npz", H[:5])
    _assert_error(run("motifs", "-a", tmp_path / "short.npz", "-s", m / "ohe.npz", "-o", meme), "short.npz", "shape")
    _assert_error(run("motifs", "-a", m / "proj.npz", "-s", m / "ohe.npz", "-o", meme), "proj.npz", "projected",
                  "--hypothetical")
    save_attributions(tmp_path / "few.npz", np.repeat(R.sum(1, keepdims=True), 4, axis=1))  # 60 sequences
    _assert_error(run("motifs", "-a", tmp_path / "few.npz", "-s", d / "ohe.npz", "-o", meme), "too few seqlets")
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n 0.5 0.5 0.5 0.5\n")
    _assert_error(run("motifs", "-a", m / "hyp.npz", "-s", m / "ohe.npz", "-o", meme, "--meme-db", bad),
                  "bad.meme, line 5")
    _assert_error(run("motifs", "-a", m / "hyp.npz", "-s", m / "ohe.npz", "-o", meme, "--meme-db",
                      tmp_path / "none.meme"), "none.meme")
    res = run("motifs", "-a", m / "hyp.npz", "-s", m / "ohe.npz", "-o", meme, "--jaspar-release", "1999")
    assert res.exit_code == 2 and "JASPAR2026" in res.output + res.stderr
    res = run("motifs", "-a", m / "hyp.npz", "-s", m / "ohe.npz", "-o", m / "hyp.npz")
    assert res.exit_code == 2 and "is an input" in res.output + res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.meme", "few.npz", "short.npz"]


def test_bed_derived_coordinates_both_strands(tmp_path):
    """encode --bed (both strands) -> seqlets --bed: each seqlet's genome interval holds its window bases."""
    import shutil

    from sparselrp.data import chr17_fasta

    genome = tmp_path / "g.fa"
    shutil.copy(chr17_fasta(), genome)
    seq = "".join(line.strip() for line in genome.read_text().splitlines()[1:]).upper()
    bed = tmp_path / "r.bed"
    bed.write_text("chr17\t1000\t1100\tp1\t0\t+\nchr17\t5000\t5100\tm1\t0\t-\nchr17\t9000\t9080\tm2\t0\t-\n")
    assert run("encode", "--bed", bed, "--genome", genome, "--length", 60, "-o", tmp_path / "ohe.npz").exit_code == 0
    from sparselrp.io.onehot import load_onehot

    oh = load_onehot(tmp_path / "ohe.npz")
    X = oh.X.numpy()
    w = np.zeros(X.shape[2])
    w[12:21] = 1.0  # window positions 12..20 relevant (plus a separate run 40..45)
    w[40:46] = 2.0
    save_attributions(tmp_path / "attr.npz", X * w[None, None, :])
    res = run("seqlets", "-a", tmp_path / "attr.npz", "-s", tmp_path / "ohe.npz", "-o", tmp_path / "s.tsv",
              "--bed", tmp_path / "s.bed", "--threshold", 0.5, "--flank", 2, "--merge-gap", 1, "--min-length", 3)
    assert res.exit_code == 0, res.output
    s = read_seqlets_tsv(tmp_path / "s.tsv")
    assert len(s) == 6 and sorted(set(s.strand.tolist())) == ["+", "-"]
    bedrows = [line.split("\t") for line in (tmp_path / "s.bed").read_text().splitlines()]
    comp = str.maketrans("ACGTN", "TGCAN")
    for k, row in enumerate(bedrows):
        i = s.seq[k]
        window = "".join("ACGT"[j] for j in X[i].argmax(0)[s.start[k]:s.end[k]])
        gseq = seq[int(row[1]):int(row[2])]
        expect = gseq if row[5] == "+" else gseq.translate(comp)[::-1]
        assert window == expect, (k, row)
        assert (int(row[1]), int(row[2])) == (s.genome_start[k], s.genome_end[k])
        ws, we = int(oh.coords["start"][i]), int(oh.coords["end"][i])
        if row[5] == "+":
            assert int(row[1]) == ws + s.start[k]
        else:
            assert int(row[2]) == we - s.start[k]
