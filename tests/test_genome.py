"""sparselrp.genome and sparselrp.data: FASTA, BED, windows from the shipped chr17 fragment."""

import gzip
import os
import shutil
import warnings

import numpy as np
import pytest

from sparselrp import data
from sparselrp.errors import InputFormatError
from sparselrp.genome import (
    BedInterval,
    coords_from_names,
    extract_windows,
    open_genome,
    parse_region_name,
    read_bed,
    read_fasta,
)

COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def chr17_text():
    """The chr17 fragment's sequence, read by hand from the FASTA text."""
    lines = data.chr17_fasta().read_text().splitlines()
    assert lines[0] == ">chr17"
    return "".join(lines[1:])


def rc_by_hand(s):
    return s.translate(COMP)[::-1]


@pytest.fixture
def genome_copy(tmp_path):
    """The chr17 fragment in a writable directory, without an index."""
    p = tmp_path / "chr17.fa"
    shutil.copy(data.chr17_fasta(), p)
    return p


# ---------------------------------------------------------------- shipped data

def test_shipped_files_and_licences():
    names = data.files()
    for f in ["ctcf_gm12878_top500_w200.fa", "ctcf_gm12878_top500_w200.bed", "chr17_hg19_part.fa",
              "chr17_hg19_part.fa.fai", "gene.bed12", "LICENSE.gimmemotifs", "LICENSE.pyfaidx", "README.md"]:
        assert f in names
        assert data.path(f).is_file()
    readme = data.path("README.md").read_text()
    assert "MIT" in readme and "BSD-3-Clause" in readme
    assert data.ctcf_peaks_fasta().name.endswith(".fa") and data.ctcf_peaks_bed().suffix == ".bed"
    assert data.gene_bed().name == "gene.bed12" and data.chr17_fasta().name == "chr17_hg19_part.fa"
    with pytest.raises(FileNotFoundError, match="available"):
        data.path("nope.fa")
    with pytest.raises(FileNotFoundError):
        data.path("../genome.py")


def test_shipped_fai_matches_fasta(tmp_path):
    p = tmp_path / "x.fa"
    shutil.copy(data.chr17_fasta(), p)
    open_genome(p)  # builds a fresh index
    assert (tmp_path / "x.fa.fai").read_text() == data.path("chr17_hg19_part.fa.fai").read_text()


# ---------------------------------------------------------------- FASTA

def test_read_fasta_ctcf_peaks():
    recs = list(read_fasta(data.ctcf_peaks_fasta()))
    assert len(recs) == 500
    assert all(len(s) == 200 for _, s in recs)
    text = data.ctcf_peaks_fasta().read_text().splitlines()
    assert recs[0] == (text[0][1:], text[1])
    assert recs[-1] == (text[-2][1:], text[-1])
    assert any(c.islower() for c in recs[0][1])  # soft-masking kept


def test_ctcf_names_are_the_bed_regions():
    recs = list(read_fasta(data.ctcf_peaks_fasta()))
    bed = read_bed(data.ctcf_peaks_bed())
    assert [parse_region_name(n) for n, _ in recs] == [(b.chrom, b.start, b.end) for b in bed]


def test_parse_region_name():
    assert parse_region_name("chr1:100-300") == ("chr1", 100, 300)
    assert parse_region_name("chrX:1,000-2,000(-)") == ("chrX", 1000, 2000)
    for bad in ["chr1", "chr1:300-100", "chr1:a-b", "chr1:100-", "", "chr 1:1-2"]:
        assert parse_region_name(bad) is None


def test_coords_from_names():
    c = coords_from_names(["chr1:100-110", "chr2:5-8(-)"])
    assert list(c["chrom"]) == ["chr1", "chr2"] and list(c["start"]) == [100, 5]
    assert list(c["end"]) == [110, 8] and list(c["strand"]) == [".", "-"]
    assert coords_from_names(["chr1:100-110", "x"]) is None and coords_from_names([]) is None
    # windows after centred crop (10 -> 5: drop 2 left) and pad (3 -> 5 or 6: one N left)
    c = coords_from_names(["chr1:100-110", "chr2:5-8"], [10, 3], length=5)
    assert list(c["start"]) == [102, 4] and list(c["end"]) == [107, 9]
    c = coords_from_names(["chr2:5-8"], [3], length=6)
    assert (c["start"][0], c["end"][0]) == (4, 10)
    # a record whose length disagrees with its region is centred on the region
    c = coords_from_names(["chr1:100-110"], [4], length=4)
    assert (c["start"][0], c["end"][0]) == (103, 107)
    with pytest.raises(ValueError):
        coords_from_names(["chr1:1-2"], length=3)


def test_read_fasta_header_with_leading_space(tmp_path):
    p = write_fasta(tmp_path / "s.fa", "> s desc\nAC\n")
    assert list(read_fasta(p)) == [("s", "AC")]


def write_fasta(path, text, newline="\n", compress=False):
    raw = text.replace("\n", newline).encode()
    if compress:
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


FASTA = ">s1 first record\nACGTac\ngtNN\n\n>s2\nTTTT\nCCCCAA\n"
EXPECT = [("s1", "ACGTacgtNN"), ("s2", "TTTTCCCCAA")]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("compress,name", [(False, "x.fa"), (True, "x.fa.gz"), (True, "x.fa"), (False, "x.fa.gz")])
def test_read_fasta_plain_gzip_crlf(tmp_path, newline, compress, name):
    p = write_fasta(tmp_path / name, FASTA, newline, compress)
    assert list(read_fasta(p)) == EXPECT


@pytest.mark.parametrize("text,match,line", [
    ("", "empty FASTA file", None),
    ("\n\n  \n", "empty FASTA file", None),
    ("ACGT\nACGT\n", "expected a '>' header line", 1),
    ("\nACGT\n>s\nAC\n", "expected a '>' header line", 2),
    (">s\nAC\n>\nAC\n", "header without a name", 3),
    (">  \t\nAC\n", "header without a name", 1),
])
def test_read_fasta_errors(tmp_path, text, match, line):
    p = write_fasta(tmp_path / "bad.fa", text)
    with pytest.raises(InputFormatError, match=match) as exc:
        list(read_fasta(p))
    assert str(exc.value).startswith(str(p))
    assert exc.value.line == line
    if line:
        assert f"line {line}:" in str(exc.value)


def test_read_fasta_binary_and_corrupt_gzip(tmp_path):
    p = tmp_path / "bin.fa"
    p.write_bytes(b">s\nAC\xff\xfeGT\n")
    with pytest.raises(InputFormatError, match=r"line 2: not a text file"):
        list(read_fasta(p))
    good = gzip.compress(FASTA.encode())
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputFormatError, match="gzip"):
        list(read_fasta(p))
    with pytest.raises(FileNotFoundError):
        list(read_fasta(tmp_path / "missing.fa"))


# ---------------------------------------------------------------- BED

def test_read_bed_gene_bed12():
    (iv,) = read_bed(data.gene_bed())
    assert (iv.chrom, iv.start, iv.end, iv.name, iv.score, iv.strand, iv.line) == \
        ("chr17", 6010, 31420, "uc010vpx.1", 0.0, "-", 1)


def test_read_bed_formats_and_skipped_lines(tmp_path):
    p = tmp_path / "x.bed"
    p.write_text(
        "track name=peaks\nbrowser position chr17:1-100\n# comment\n\n"
        "chr17\t10\t20\n"
        "chr17\t30\t40\tpeak2\t5.5\t+\n"
        "chr17\t50\t90\tp3\t100\t.\t3.1\t-1\t2.2\t15\n"  # narrowPeak
        "chr17 100 110 spaces 0 -\r\n"
    )
    ivs = read_bed(p)
    assert [(i.chrom, i.start, i.end, i.name, i.score, i.strand, i.line) for i in ivs] == [
        ("chr17", 10, 20, None, None, ".", 5),
        ("chr17", 30, 40, "peak2", 5.5, "+", 6),
        ("chr17", 50, 90, "p3", 100.0, ".", 7),
        ("chr17", 100, 110, "spaces", 0.0, "-", 8),
    ]
    assert ivs[2].summit == 65 and ivs[0].summit is None


def test_read_bed_gzip(tmp_path):
    p = tmp_path / "x.bed.gz"
    p.write_bytes(gzip.compress(data.gene_bed().read_bytes()))
    assert read_bed(p)[0].start == 6010 and read_bed(p)[0].path == str(p)


def test_read_bed_column_header_skipped(tmp_path):
    p = tmp_path / "h.bed"
    p.write_text("chrom\tstart\tend\nchr17\t1\t5\n")
    assert [(i.start, i.line) for i in read_bed(p)] == [(1, 2)]


@pytest.mark.parametrize("line,match", [
    ("chr17\t10", "expected at least 3 columns"),
    ("chr17", "expected at least 3 columns"),
    ("chr17\t-5\t10", "negative start coordinate -5"),
    ("chr17\t5\t-10", "negative end coordinate -10"),
    ("chr17\t50\t10", "start 50 is greater than end 10"),
    ("chr17\t1.5\t10", "start coordinate '1.5' is not a non-negative integer"),
    ("chr17\tx\t10", "start coordinate 'x'"),
    ("chr17\t1\t10\tn\tbad", "score 'bad'"),
    ("chr17\t1\t10\tn\t0\t*", "strand '\\*'"),
    ("\t1\t10", "empty chromosome"),
])
def test_read_bed_errors_name_file_and_line(tmp_path, line, match):
    p = tmp_path / "bad.bed"
    p.write_text("# header\nchr17\t1\t2\n" + line + "\n")
    with pytest.raises(InputFormatError, match=match) as exc:
        read_bed(p)
    assert str(exc.value).startswith(f"{p}, line 3: ")


# ---------------------------------------------------------------- windows

def test_windows_match_slices_by_hand(tmp_path):
    seq = chr17_text()
    assert len(seq) == 40000
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(40):
        s = int(rng.integers(600, 39000))
        lines.append(f"chr17\t{s}\t{s + int(rng.integers(0, 300))}")
    p = tmp_path / "r.bed"
    p.write_text("\n".join(lines) + "\n")
    ivs = read_bed(p)
    for L in (100, 501, 1):
        w = extract_windows(ivs, data.chr17_fasta(), L)
        assert len(w) == 40
        for k, iv in enumerate(ivs):
            mid = (iv.start + iv.end) // 2
            a = mid - L // 2
            assert (w.start[k], w.end[k]) == (a, a + L)
            assert w.seqs[k] == seq[a:a + L]
            assert w.chrom[k] == "chr17" and w.strand[k] == "."
            assert w.names[k] == f"chr17:{iv.start}-{iv.end}"
        assert list(w.index) == list(range(40))


def test_minus_strand_gene_is_reverse_complemented():
    seq = chr17_text()
    (iv,) = read_bed(data.gene_bed())
    w = extract_windows([iv], data.chr17_fasta(), 1000)
    mid = (6010 + 31420) // 2
    plus = seq[mid - 500:mid + 500]
    assert w.seqs[0] == rc_by_hand(plus)
    assert w.strand[0] == "-" and w.names == ["uc010vpx.1"]
    assert (w.start[0], w.end[0]) == (mid - 500, mid + 500)
    # the same interval on '+' gives the forward slice
    fwd = extract_windows([BedInterval("chr17", 6010, 31420, strand="+")], data.chr17_fasta(), 1000)
    assert fwd.seqs[0] == plus


def test_off_chromosome_end_pad_and_skip(tmp_path):
    seq = chr17_text()
    p = tmp_path / "edge.bed"
    p.write_text("chr17\t10\t20\nchr17\t1000\t1100\nchr17\t39990\t40000\t.\t0\t-\n")
    ivs = read_bed(p)
    w = extract_windows(ivs, data.chr17_fasta(), 100)
    assert w.seqs[0] == "N" * 35 + seq[:65]
    assert (w.start[0], w.end[0]) == (-35, 65)
    assert w.seqs[1] == seq[1000:1100]
    assert w.seqs[2] == rc_by_hand(seq[39945:40000] + "N" * 45)
    with pytest.warns(UserWarning, match=r"skipped 2 interval\(s\).*line 1"):
        w = extract_windows(ivs, data.chr17_fasta(), 100, off_chrom="skip")
    assert w.seqs == [seq[1000:1100]] and list(w.index) == [1]
    # a window wider than the chromosome is padded on both sides
    w = extract_windows([BedInterval("chr17", 20000, 20100)], data.chr17_fasta(), 50000)
    assert (w.start[0], w.end[0]) == (-4950, 45050)
    assert w.seqs[0] == "N" * 4950 + seq + "N" * 5050


def test_unknown_chromosome_names_bed_file_and_line(tmp_path):
    p = tmp_path / "u.bed"
    p.write_text("chr17\t10\t20\nchr5\t10\t20\n")
    with pytest.raises(InputFormatError, match=r"line 2: chromosome 'chr5' is not in the genome") as exc:
        extract_windows(read_bed(p), data.chr17_fasta(), 100)
    assert str(exc.value).startswith(str(p))


def test_interval_past_chromosome_end_is_an_error(tmp_path):
    p = tmp_path / "u.bed"
    p.write_text("chr17\t10\t20\nchr17\t39990\t40001\n")
    with pytest.raises(InputFormatError, match=r"line 2: interval chr17:39990-40001 ends past the end of chr17 "
                                               r"\(40000 bp\)"):
        extract_windows(read_bed(p), data.chr17_fasta(), 10, off_chrom="skip")


def test_extract_windows_bad_args():
    ivs = read_bed(data.gene_bed())
    with pytest.raises(ValueError, match="length"):
        extract_windows(ivs, data.chr17_fasta(), 0)
    with pytest.raises(ValueError, match="off_chrom"):
        extract_windows(ivs, data.chr17_fasta(), 10, off_chrom="wrap")


def test_summit_centring(tmp_path):
    seq = chr17_text()
    p = tmp_path / "n.narrowPeak"
    p.write_text("chr17\t1000\t2000\tp\t0\t.\t1\t-1\t1\t100\n")
    w = extract_windows(read_bed(p), data.chr17_fasta(), 20, center="summit")
    assert w.seqs[0] == seq[1090:1110]


# ---------------------------------------------------------------- genome index

def test_missing_fai_is_built(genome_copy):
    fai = genome_copy.with_name("chr17.fa.fai")
    assert not fai.exists()
    w = extract_windows(read_bed(data.gene_bed()), genome_copy, 100)
    assert fai.exists()
    assert w.seqs == extract_windows(read_bed(data.gene_bed()), data.chr17_fasta(), 100).seqs
    assert [f.name for f in genome_copy.parent.iterdir() if f.name.startswith(".")] == []


def test_missing_fai_read_only_directory_says_how(genome_copy, monkeypatch):
    # root ignores permission bits, so the read-only case is driven through os.access
    real_access = os.access
    ro = str(genome_copy.parent)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == ro else real_access(p, mode))
    with pytest.raises(InputFormatError, match=r"no index .*samtools faidx"):
        open_genome(genome_copy)
    assert not genome_copy.with_name("chr17.fa.fai").exists()


def test_stale_fai_is_rebuilt(genome_copy):
    open_genome(genome_copy)
    fai = genome_copy.with_name("chr17.fa.fai")
    fai.write_text("chr17\t5\t7\t40000\t40001\n")
    os.utime(fai, (1, 1))
    assert open_genome(genome_copy)["chr17"][0:10] == chr17_text()[:10]


def test_genome_crlf_and_bgzip(tmp_path):
    from Bio import bgzf

    seq = chr17_text()
    body = "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60))
    crlf = tmp_path / "crlf.fa"
    crlf.write_bytes((">chr17\n" + body + "\n").replace("\n", "\r\n").encode())
    assert open_genome(crlf)["chr17"][12345:12400] == seq[12345:12400]
    bgz = tmp_path / "g.fa.gz"
    with bgzf.BgzfWriter(str(bgz), "wb") as fh:
        fh.write((">chr17\n" + body + "\n").encode())
    assert open_genome(bgz)["chr17"][100:160] == seq[100:160]


@pytest.mark.parametrize("kind,match", [
    ("gzip", "plain gzip; pyfaidx needs bgzip"),
    ("gzip-noext", "gzip-compressed but its name does not end in .gz"),
    ("uneven", "cannot index genome FASTA"),
    ("dup", "cannot index genome FASTA: Duplicate"),
])
def test_bad_genomes(tmp_path, kind, match):
    text = ">chr1\nACGT\nACGT\n"
    if kind == "gzip":
        p = tmp_path / "g.fa.gz"
        p.write_bytes(gzip.compress(text.encode()))
    elif kind == "gzip-noext":
        p = tmp_path / "g.fa"
        p.write_bytes(gzip.compress(text.encode()))
    elif kind == "uneven":
        p = tmp_path / "g.fa"
        p.write_text(">chr1\nACGT\nACGTAA\nA\n")
    else:
        p = tmp_path / "g.fa"
        p.write_text(">chr1\nACGT\n>chr1\nACGT\n")
    with pytest.raises(InputFormatError, match=match):
        open_genome(p)
    assert not (tmp_path / (p.name + ".fai")).exists()


def test_missing_genome():
    with pytest.raises(FileNotFoundError):
        open_genome("/nonexistent/genome.fa")


def test_no_warnings_on_shipped_genome():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extract_windows(read_bed(data.gene_bed()), data.chr17_fasta(), 10)
