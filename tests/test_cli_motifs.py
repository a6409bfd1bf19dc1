"""`sparselrp seqlets` and `sparselrp motifs` end to end, and their errors."""

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
    res = CliRunner().invoke(main, [str(a) for a in args])
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
    save_attributions(d / "hyp.npz", H)
    return d, X, R


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


def test_motifs_cli(inputs, tmp_path):
    d, X, R = inputs
    assert run("seqlets", "-a", d / "attr.npz", "-s", d / "ohe.npz", "-o", tmp_path / "s.tsv").exit_code == 0
    res = run("motifs", "-a", d / "attr.npz", "-s", d / "ohe.npz", "--seqlets", tmp_path / "s.tsv",
              "-o", tmp_path / "m.meme", "--json", tmp_path / "m.json", "--hyp", d / "hyp.npz",
              "--jaspar-release", "2024", "--top", "2")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[1].split()[:4] == ["motif", "width", "support", "consensus"]
    assert lines[2].startswith("motif_1") and "MA0139" in lines[2] and "CTCF" in lines[2]
    meme = read_meme(tmp_path / "m.meme")
    motifs, meta = read_motifs_json(tmp_path / "m.json", with_metadata=True)
    assert [n for n, _ in meme] == [m.name for m in motifs]
    assert meta["jaspar_release"] == "JASPAR2024"
    top = motifs[0]
    assert top.hcwm is not None and len(top.matches) == 2 and top.support >= 50
    np.testing.assert_allclose(meme[0][1], top.pwm, atol=1e-5)


def test_motifs_cli_without_seqlets_and_jaspar(inputs, tmp_path):
    d, X, R = inputs
    res = run("motifs", "-a", d / "attr.npz", "-s", d / "ohe.npz", "-o", tmp_path / "m.meme", "--no-jaspar",
              "--json", tmp_path / "m.json")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["motifs"] and all(m["matches"] == [] for m in doc["motifs"])
    assert "jaspar_release" not in doc["metadata"]


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
    bad = tmp_path / "bad.tsv"
    bad.write_text("hello\n")
    _assert_error(run("motifs", "-a", d / "attr.npz", "-s", d / "ohe.npz", "--seqlets", bad,
                      "-o", tmp_path / "m.meme"), "bad.tsv, line 1")
    assert not (tmp_path / "m.meme").exists()
    # seqlets from other (longer) inputs
    big = tmp_path / "big.tsv"
    big.write_text("seqlet_id\tseq\tname\tstart\tend\tscore\tstrand\tchrom\tgenome_start\tgenome_end\n"
                   "0\t999\t.\t0\t5\t1.0\t.\t.\t.\t.\n")
    _assert_error(run("motifs", "-a", d / "attr.npz", "-s", d / "ohe.npz", "--seqlets", big,
                      "-o", tmp_path / "m.meme"), "big.tsv", "sequence 999")
    res = run("motifs", "-a", d / "attr.npz", "-s", d / "ohe.npz", "-o", tmp_path / "m.meme",
              "--jaspar-release", "1999")
    assert res.exit_code == 2 and "JASPAR2026" in res.output + res.stderr
    assert not (tmp_path / "m.meme").exists()


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
