"""Property-based fuzzing: the MEME, seqlet-TSV and motifs-JSON readers raise only InputFormatError."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparselrp.errors import InputFormatError
from sparselrp.io.meme import read_meme, write_meme
from sparselrp.io.motifs_json import read_motifs_json
from sparselrp.io.seqlets import TSV_COLUMNS, read_seqlets_tsv

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

MEME_TOKENS = ["MEME version 4", "ALPHABET= ACGT", "ALPHABET= XYZ", "strands: + -", "strands: x",
               "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", "MOTIF", "MOTIF m1", "MOTIF m2 alt",
               "letter-probability matrix: alength= 4 w= 2 nsites= 3 E= 0", "letter-probability matrix:",
               "letter-probability matrix: alength= 4 w= 999999999999999999999", "log-odds matrix: alength= 4 w= 1",
               " 0.25 0.25 0.25 0.25", " 1 0 0 0", " 1e999 0 0 0", " nan 0 0 1", " 0 0 1", " -0 1 0 0", "URL x",
               "", "\r", "\t", "nsites= inf", "w= ²"]
TSV_TOKENS = ["\t".join(TSV_COLUMNS), "0", "1", "-1", ".", "+", "-", "chr1", "1e5", "nan", "inf", "x", "",
              "99999999999999999999999", "--5", "１"]


def _check(reader, path, data):
    path.write_bytes(data)
    try:
        reader(path)
    except InputFormatError:
        pass


@SETTINGS
@given(data=st.binary(max_size=400))
def test_meme_arbitrary_bytes(tmp_path, data):
    _check(read_meme, tmp_path / "f.meme", data)


@SETTINGS
@given(lines=st.lists(st.one_of(st.sampled_from(MEME_TOKENS), st.text(max_size=20)), max_size=25),
       sep=st.sampled_from(["\n", "\r\n", "\r"]))
def test_meme_structured_text(tmp_path, lines, sep):
    _check(read_meme, tmp_path / "f.meme", sep.join(["MEME version 4"] + lines).encode("utf-8", "surrogatepass"))


@SETTINGS
@given(pwms=st.lists(st.integers(1, 8), min_size=0, max_size=4), seed=st.integers(0, 1000),
       cut=st.integers(0, 2000))
def test_meme_truncated_valid_files(tmp_path, pwms, seed, cut):
    """Any prefix of a valid file parses or raises InputFormatError; the full file round-trips."""
    rng = np.random.default_rng(seed)
    motifs = [(f"m{i}", rng.dirichlet(np.ones(4), size=w).T) for i, w in enumerate(pwms)]
    p = tmp_path / "full.meme"
    write_meme(p, motifs)
    raw = p.read_bytes()
    assert len(read_meme(p)) == len(motifs)
    _check(read_meme, tmp_path / "cut.meme", raw[:cut])


@SETTINGS
@given(data=st.binary(max_size=400))
def test_seqlets_tsv_arbitrary_bytes(tmp_path, data):
    _check(read_seqlets_tsv, tmp_path / "f.tsv", data)


@SETTINGS
@given(rows=st.lists(st.lists(st.one_of(st.sampled_from(TSV_TOKENS), st.text(max_size=8)), max_size=11),
                     max_size=6))
def test_seqlets_tsv_structured_text(tmp_path, rows):
    text = "\t".join(TSV_COLUMNS) + "\n" + "\n".join("\t".join(r) for r in rows)
    _check(read_seqlets_tsv, tmp_path / "f.tsv", text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(data=st.one_of(st.binary(max_size=300),
                      st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=5),
                                   lambda c: st.lists(c, max_size=4) | st.dictionaries(
                                       st.sampled_from(["format", "motifs", "name", "pwm", "cwm", "hcwm", "matches",
                                                        "support", "seqlet_ids"]), c, max_size=5),
                                   max_leaves=20).map(lambda d: __import__("json").dumps(
                                       {"format": "sparselrp-motifs", "motifs": [d]}).encode())))
def test_motifs_json_arbitrary(tmp_path, data):
    _check(read_motifs_json, tmp_path / "m.json", data)
