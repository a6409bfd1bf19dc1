"""``sparselrp encode``: FASTA or BED + genome to one-hot .npz; every bad input is one stderr line."""

import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from sparselrp import data
from sparselrp.cli import main
from sparselrp.io.onehot import load_onehot
from sparselrp.sequence import decode, one_hot_encode_batch, reverse_complement


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_error(result, out, match):
    """Non-zero exit, one stderr line naming the problem, no traceback, no output file."""
    assert result.exit_code != 0, result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 or err[0].startswith("Usage:"), result.stderr
    assert match in result.stderr, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not os.path.exists(out)
    assert [f for f in os.listdir(os.path.dirname(out)) if f.startswith(".")] == []  # no temp file


def test_encode_ctcf_fasta(tmp_path):
    out = tmp_path / "ohe.npz"
    r = run("encode", data.ctcf_peaks_fasta(), "-o", out)
    assert r.exit_code == 0, r.output
    assert "500 sequences x 200 bp" in r.stderr and r.stdout == ""
    oh = load_onehot(out)
    assert oh.X.shape == (500, 4, 200)
    assert oh.names[0] == "chr11:190037-190237"
    assert (oh.coords["chrom"][0], oh.coords["start"][0], oh.coords["end"][0]) == ("chr11", 190037, 190237)
    text = data.ctcf_peaks_fasta().read_text().splitlines()
    assert decode(oh.X[:2]) == [text[1].upper(), text[3].upper()]


def test_encode_fasta_length_crops_and_moves_coords(tmp_path):
    out = tmp_path / "o.npz"
    r = run("encode", data.ctcf_peaks_fasta(), "-o", out, "--length", 101)
    assert r.exit_code == 0, r.output
    oh = load_onehot(out)
    text = data.ctcf_peaks_fasta().read_text().splitlines()
    assert decode(oh.X[0]) == text[1][49:150].upper()
    assert (oh.coords["start"][0], oh.coords["end"][0]) == (190037 + 49, 190037 + 150)


def test_encode_fasta_without_regions_has_no_coords(tmp_path):
    fa = tmp_path / "x.fa"
    fa.write_text(">a\nACGTN\n>b\nacgtt\n")
    out = tmp_path / "o.npz"
    assert run("encode", fa, "-o", out, "--n-value", "0.25").exit_code == 0
    oh = load_onehot(out)
    assert oh.coords is None and oh.names == ["a", "b"]
    assert np.allclose(oh.X[0, :, 4].numpy(), 0.25)


@pytest.mark.parametrize("crlf", [False, True])
def test_encode_gzip_and_crlf_same_as_plain(tmp_path, crlf):
    text = data.ctcf_peaks_fasta().read_bytes()[:5000].rsplit(b"\n>", 1)[0] + b"\n"
    if crlf:
        text = text.replace(b"\n", b"\r\n")
    plain, gz = tmp_path / "p.fa", tmp_path / "g.fa.gz"
    plain.write_bytes(text)
    gz.write_bytes(gzip.compress(text))
    assert run("encode", plain, "-o", tmp_path / "a.npz").exit_code == 0
    assert run("encode", gz, "-o", tmp_path / "b.npz").exit_code == 0
    a, b = load_onehot(tmp_path / "a.npz"), load_onehot(tmp_path / "b.npz")
    assert a.names == b.names and (a.X == b.X).all() and len(a.names) > 5


def test_encode_bed_gene_minus_strand(tmp_path):
    out = tmp_path / "g.npz"
    r = run("encode", "--bed", data.gene_bed(), "--genome", data.chr17_fasta(), "--length", 1000, "-o", out)
    assert r.exit_code == 0, r.output
    oh = load_onehot(out)
    seq = "".join(data.chr17_fasta().read_text().splitlines()[1:])
    mid = (6010 + 31420) // 2
    assert decode(oh.X[0]) == reverse_complement(seq[mid - 500:mid + 500]).upper()
    assert (oh.coords["chrom"][0], oh.coords["start"][0], oh.coords["end"][0], oh.coords["strand"][0]) == \
        ("chr17", mid - 500, mid + 500, "-")
    assert oh.names == ["uc010vpx.1"]


def test_encode_bed_off_chrom_skip_warns_one_line(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("chr17\t10\t20\nchr17\t5000\t5100\n")
    out = tmp_path / "o.npz"
    r = run("encode", "--bed", bed, "--genome", data.chr17_fasta(), "--length", 200, "-o", out,
            "--off-chrom", "skip")
    assert r.exit_code == 0
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("sparselrp: warning: skipped 1 interval(s)") and len(lines) == 2
    assert load_onehot(out).X.shape == (1, 4, 200)
    r = run("encode", "--bed", bed, "--genome", data.chr17_fasta(), "--length", 200, "-o", out)
    assert load_onehot(out).X.shape == (2, 4, 200) and "warning" not in r.stderr


# ------------------------------------------------------------------ bad inputs

def write(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


FASTA_CASES = [
    ("empty", "", "empty FASTA file"),
    ("noheader", "ACGT\n", "line 1: not a FASTA file: expected a '>' header line"),
    ("invalid", ">a\nACGT\n>b\nACXT\n", "line 3: record 'b': invalid character 'X' at position 2"),
    ("iupac", ">a\nACRT\n", "line 1: record 'a': IUPAC ambiguity code 'R' at position 2"),
    ("mixed", ">a\nACGT\n>b\nACG\n", "line 3: record 'b' has length 3 but the first record 'a' has length 4; "
                                      "pass --length"),
    ("emptyrec", ">a\n>b\nAC\n", "line 1: record 'a' has an empty sequence"),
    ("binary", b"\x00\x01\xff\xfe", "not a text file"),
    ("badgzip", gzip.compress(b">a\nACGT\n" * 100)[:30], "corrupt or truncated gzip"),
]


@pytest.mark.parametrize("name,content,match", FASTA_CASES, ids=[c[0] for c in FASTA_CASES])
def test_encode_bad_fasta(tmp_path, name, content, match):
    fa = write(tmp_path, "in.fa", content)
    out = tmp_path / "out" / "ohe.npz"
    out.parent.mkdir()
    r = run("encode", fa, "-o", out)
    assert_clean_error(r, out, match)
    assert r.stderr.startswith(f"sparselrp: error: {fa}")


def test_iupac_n_option_accepts(tmp_path):
    fa = write(tmp_path, "in.fa", ">a\nACRT\n")
    r = run("encode", fa, "-o", tmp_path / "o.npz", "--iupac", "n")
    assert r.exit_code == 0
    assert decode(load_onehot(tmp_path / "o.npz").X) == ["ACNT"]


def test_mixed_lengths_ok_with_length(tmp_path):
    fa = write(tmp_path, "in.fa", ">a\nACGT\n>b\nACG\n")
    assert run("encode", fa, "-o", tmp_path / "o.npz", "--length", 4).exit_code == 0
    assert decode(load_onehot(tmp_path / "o.npz").X) == ["ACGT", "ACGN"]


BED_CASES = [
    ("missing-cols", "chr17\t100\n", "line 1: expected at least 3 columns"),
    ("negative", "chr17\t100\t200\nchr17\t-1\t50\n", "line 2: negative start coordinate -1"),
    ("reversed", "chr17\t300\t200\n", "line 1: start 300 is greater than end 200"),
    ("unknown-chrom", "# c\nchr17\t1\t5\nchrUn\t100\t200\n", "line 3: chromosome 'chrUn' is not in the genome"),
    ("only-header", "track name=x\n", "no intervals"),
    ("past-the-end", "chr17\t39000\t41000\n", "line 1: interval chr17:39000-41000 ends past the end of chr17"),
]


@pytest.mark.parametrize("name,content,match", BED_CASES, ids=[c[0] for c in BED_CASES])
def test_encode_bad_bed(tmp_path, name, content, match):
    bed = write(tmp_path, "r.bed", content)
    out = tmp_path / "out" / "ohe.npz"
    out.parent.mkdir()
    r = run("encode", "--bed", bed, "--genome", data.chr17_fasta(), "--length", 100, "-o", out)
    assert_clean_error(r, out, match)
    assert str(bed) in r.stderr


def test_encode_bed_all_off_the_end_skipped(tmp_path):
    bed = write(tmp_path, "r.bed", "chr17\t0\t10\n")
    out = tmp_path / "out" / "ohe.npz"
    out.parent.mkdir()
    r = run("encode", "--bed", bed, "--genome", data.chr17_fasta(), "--length", 100, "-o", out,
            "--off-chrom", "skip")
    assert r.exit_code != 0 and "no windows left" in r.stderr and not out.exists()


def test_encode_genome_without_fai(tmp_path, monkeypatch):
    g = tmp_path / "g" / "chr17.fa"
    g.parent.mkdir()
    shutil.copy(data.chr17_fasta(), g)
    out = tmp_path / "o.npz"
    r = run("encode", "--bed", data.gene_bed(), "--genome", g, "--length", 50, "-o", out)
    assert r.exit_code == 0 and (g.parent / "chr17.fa.fai").exists()
    (g.parent / "chr17.fa.fai").unlink()
    out.unlink()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(g.parent) else real_access(p, mode))
    r = run("encode", "--bed", data.gene_bed(), "--genome", g, "--length", 50, "-o", out)
    assert_clean_error(r, out, "samtools faidx")


def test_encode_output_directory_missing(tmp_path):
    out = tmp_path / "nodir" / "o.npz"
    r = run("encode", data.ctcf_peaks_fasta(), "-o", out)
    assert r.exit_code == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,match", [
    ([], "give INPUT.fa"),
    (["x.fa", "--bed", "r.bed"], "not both"),
    (["--bed", "r.bed", "--length", "10"], "--bed needs --genome"),
    (["--bed", "r.bed", "--genome", "g.fa"], "--bed needs --length"),
    (["x.fa", "--genome", "g.fa"], "--genome goes with --bed"),
    (["x.fa", "--n-value", "0.5"], "Invalid value for '--n-value'"),
])
def test_encode_usage_errors(tmp_path, args, match):
    r = run("encode", *args, "-o", tmp_path / "o.npz")
    assert r.exit_code == 2 and match in r.stderr and "Traceback" not in r.stderr


def test_missing_input_file(tmp_path):
    r = run("encode", tmp_path / "nope.fa", "-o", tmp_path / "o.npz")
    assert r.exit_code == 1 and "nope.fa" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_subprocess_error_exit_and_debug(tmp_path):
    """The installed entry point: one stderr line and exit 1; --debug shows the traceback."""
    fa = write(tmp_path, "in.fa", ">a\nACGT\n>b\nACG\n")
    out = tmp_path / "o.npz"
    args = ["encode", str(fa), "-o", str(out)]
    code = "import sys; from sparselrp.cli import main; sys.exit(main())"
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        f"sparselrp: error: {fa}, line 3: record 'b' has length 3 but the first record 'a' has length 4; "
        "pass --length to pad or crop all sequences (centred) to one length"]
    assert not out.exists()
    p = subprocess.run([sys.executable, "-c", code, "--debug", *args], capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" in p.stderr


def test_encoded_equals_library(tmp_path):
    fa = write(tmp_path, "in.fa", ">a\nACGTNacgtn\n>b\nTTTTGGGGCC\n")
    run("encode", fa, "-o", tmp_path / "o.npz")
    assert (load_onehot(tmp_path / "o.npz").X == one_hot_encode_batch(["ACGTNacgtn", "TTTTGGGGCC"])).all()
