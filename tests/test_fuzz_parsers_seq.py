"""Fuzzing: arbitrary bytes into the FASTA and BED readers, the one-hot loader and the encoders.

Only the documented error types may escape: InputFormatError from the file readers,
ValueError from the encoders (InputFormatError is a ValueError too).
"""

import gzip
import os
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparselrp.errors import InputFormatError
from sparselrp.genome import parse_region_name, read_bed, read_fasta
from sparselrp.io.onehot import load_onehot
from sparselrp.sequence import decode, dinucleotide_shuffle, one_hot_encode, one_hot_encode_batch

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# bytes that look a bit like the formats, so the fuzzer reaches deep paths, plus anything at all
fasta_like = st.lists(
    st.one_of(st.sampled_from([b">", b">chr1:1-5", b"\n", b"\r\n", b" ", b"\t", b"ACGT", b"acgtn", b"N", b"R",
                               b"\x00", b"\xff", b"\xc3\xa9", b";", b"-"]),
              st.binary(max_size=8)),
    max_size=30,
).map(b"".join)
bed_like = st.lists(
    st.one_of(st.sampled_from([b"chr17", b"\t", b" ", b"\n", b"\r\n", b"0", b"100", b"-5", b"1e3", b"+", b"-",
                               b".", b"track", b"#", b"browser", b"nan", b"\xff", b"99999999999999999999"]),
              st.binary(max_size=6)),
    max_size=40,
).map(b"".join)


def _with_file(raw, suffix, fn, gz=False):
    fd, path = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(gzip.compress(raw) if gz else raw)
        return fn(path)
    finally:
        os.unlink(path)


@SETTINGS
@given(st.one_of(fasta_like, st.binary(max_size=200)), st.booleans())
def test_read_fasta_only_input_format_error(raw, gz):
    try:
        recs = _with_file(raw, ".fa", lambda p: list(read_fasta(p)), gz=gz)
    except InputFormatError:
        return
    assert recs, "a file without records must raise"
    for name, seq in recs:
        assert isinstance(name, str) and name and isinstance(seq, str)
        assert "\n" not in seq and "\r" not in seq


@SETTINGS
@given(st.one_of(bed_like, st.binary(max_size=200)), st.booleans())
def test_read_bed_only_input_format_error(raw, gz):
    try:
        ivs = _with_file(raw, ".bed", read_bed, gz=gz)
    except InputFormatError:
        return
    for iv in ivs:
        assert 0 <= iv.start <= iv.end and iv.strand in "+-." and iv.chrom


@SETTINGS
@given(st.binary(max_size=300))
def test_load_onehot_only_input_format_error(raw):
    try:
        _with_file(raw, ".npz", load_onehot)
    except InputFormatError:
        pass


@SETTINGS
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60), st.text(alphabet="ACGTNacgtnRYx", max_size=60)),
       st.sampled_from(["error", "n"]))
def test_one_hot_encode_only_value_error(seq, iupac):
    try:
        X = one_hot_encode(seq, iupac=iupac)
    except ValueError as exc:
        assert "position" in str(exc)
        return
    assert X.shape == (4, len(seq)) and torch.all(X.sum(0) <= 1)


@SETTINGS
@given(st.lists(st.one_of(st.text(max_size=20), st.text(alphabet="ACGTN", max_size=20)), max_size=5),
       st.one_of(st.none(), st.integers(0, 30)))
def test_one_hot_encode_batch_only_value_error(seqs, length):
    try:
        X = one_hot_encode_batch(seqs, length=length)
    except ValueError as exc:
        assert "sequence" in str(exc)
        return
    assert X.shape[0] == len(seqs)


@SETTINGS
@given(st.text(max_size=40))
def test_parse_region_name_never_raises(name):
    r = parse_region_name(name)
    assert r is None or (r[1] <= r[2] and f"{r[0]}:" in name)


@SETTINGS
@given(st.integers(1, 3), st.integers(0, 12), st.integers(0, 2**31))
def test_decode_and_shuffle_arbitrary_arrays(n, L, seed):
    rng = np.random.default_rng(seed)
    A = rng.choice([0.0, 1.0, 0.25, -1.0, np.nan], size=(n, 4, L))
    assert [len(s) for s in decode(A)] == [L] * n
    S = dinucleotide_shuffle(A, random_state=seed)
    assert S.shape == (n, 1, 4, L)
    keep = ~((np.isin(A, [0.0, 1.0]).all(1)) & (A.sum(1) == 1))  # non-one-hot columns stay put
    np.testing.assert_array_equal(np.isnan(S[:, 0]), np.isnan(A))
    for i in range(n):
        np.testing.assert_array_equal(np.nan_to_num(S[i, 0][:, keep[i]], nan=9), np.nan_to_num(A[i][:, keep[i]], nan=9))


@pytest.mark.parametrize("obj", [None, 3, 3.5, ["A"]])
def test_encoder_type_errors_are_type_errors(obj):
    with pytest.raises(TypeError):
        one_hot_encode(obj)
