"""sparselrp.sequence: encode/decode, reverse complement, padding, dinucleotide shuffle."""

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sparselrp as sl
from sparselrp.sequence import (
    decode,
    dinucleotide_shuffle,
    one_hot_encode,
    one_hot_encode_batch,
    reverse_complement,
)

BASES = "ACGTNacgtn"
dna = st.text(alphabet=BASES, min_size=0, max_size=200)
COMP = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def naive_onehot(seq, n_value=0.0):
    """Per-base reference implementation."""
    X = np.zeros((4, len(seq)), dtype=np.float32)
    for i, c in enumerate(seq.upper()):
        if c == "N":
            X[:, i] = n_value
        else:
            X["ACGT".index(c), i] = 1.0
    return X


def dinucs(s):
    return Counter(s[i:i + 2] for i in range(len(s) - 1))


# ---------------------------------------------------------------- encoding

def test_public_names():
    assert sl.one_hot_encode is one_hot_encode
    assert sl.one_hot_encode_batch is one_hot_encode_batch
    assert sl.decode is decode and sl.reverse_complement is reverse_complement
    assert sl.dinucleotide_shuffle is dinucleotide_shuffle


def test_encode_basic():
    X = one_hot_encode("ACGTN")
    assert X.dtype == torch.float32 and X.shape == (4, 5)
    assert torch.equal(X, torch.tensor([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]],
                                       dtype=torch.float32))


@settings(max_examples=100, deadline=None)
@given(dna, st.sampled_from([0.0, 0.25]))
def test_encode_matches_naive(seq, n_value):
    X = one_hot_encode(seq, n_value=n_value)
    np.testing.assert_array_equal(X.numpy(), naive_onehot(seq, n_value))


@settings(max_examples=100, deadline=None)
@given(dna)
def test_encode_decode_roundtrip(seq):
    assert decode(one_hot_encode(seq)) == seq.upper()
    assert decode(one_hot_encode(seq, n_value=0.25)) == seq.upper()  # uniform column -> N
    assert decode(one_hot_encode_batch([seq, seq[::-1]])) == [seq.upper(), seq[::-1].upper()]


@settings(max_examples=100, deadline=None)
@given(dna)
def test_reverse_complement_involution(seq):
    X = one_hot_encode(seq)
    assert torch.equal(reverse_complement(reverse_complement(X)), X)
    assert decode(reverse_complement(X)) == "".join(COMP[c] for c in reversed(seq.upper()))
    assert reverse_complement(reverse_complement(seq)) == seq
    assert decode(one_hot_encode(reverse_complement(seq))) == decode(reverse_complement(X))
    B = one_hot_encode_batch([seq, seq])
    assert torch.equal(reverse_complement(B)[1], reverse_complement(X))
    np.testing.assert_array_equal(reverse_complement(B.numpy()), reverse_complement(B).numpy())


def test_reverse_complement_string_keeps_case_and_iupac():
    assert reverse_complement("AcgTNRy") == "rYNAcgT"
    with pytest.raises(ValueError, match=r"'X' at position 2"):
        reverse_complement("ACXT")


def test_dtype_option():
    assert one_hot_encode("ACGT", dtype=torch.float64).dtype == torch.float64
    assert one_hot_encode_batch(["AC"], dtype=torch.float16).dtype == torch.float16
    Xb = one_hot_encode_batch(["ACGTTGCA"], dtype=torch.bfloat16)
    assert decode(Xb) == ["ACGTTGCA"]
    S = dinucleotide_shuffle(Xb, random_state=0)
    assert S.dtype == torch.bfloat16 and decode(S[0])[0][0] == "A"


@pytest.mark.parametrize("seq,char,pos", [("ACGTX", "X", 4), ("AC GT", " ", 2), ("U", "U", 0),
                                          ("ACG\u00e9T", "\u00e9", 3), ("acg-t", "-", 3)])
def test_invalid_character_named_with_position(seq, char, pos):
    with pytest.raises(ValueError, match=rf"invalid character {char!r} at position {pos}"):
        one_hot_encode(seq)


@pytest.mark.parametrize("code", list("RYSWKMBDHVrykmbdhv"))
def test_iupac_error_and_as_n(code):
    seq = "AC" + code + "T"
    with pytest.raises(ValueError, match=rf"IUPAC ambiguity code {code!r} at position 2"):
        one_hot_encode(seq)
    X = one_hot_encode(seq, iupac="n")
    np.testing.assert_array_equal(X.numpy(), naive_onehot("ACNT"))
    X = one_hot_encode(seq, iupac="n", n_value=0.25)
    assert torch.all(X[:, 2] == 0.25)


def test_bad_options():
    with pytest.raises(ValueError, match="iupac"):
        one_hot_encode("A", iupac="x")
    with pytest.raises(ValueError, match="n_value"):
        one_hot_encode("A", n_value="x")
    with pytest.raises(TypeError):
        one_hot_encode(5)
    with pytest.raises(TypeError):
        one_hot_encode_batch("ACGT")
    with pytest.raises(ValueError, match="length"):
        one_hot_encode_batch(["A"], length=-1)


def test_batch_mismatched_lengths_names_sequence():
    with pytest.raises(ValueError, match=r"sequence 2 has length 3 but sequence 0 has length 4"):
        one_hot_encode_batch(["ACGT", "ACGT", "ACG", "A"])


def test_batch_bad_base_names_sequence_and_position():
    with pytest.raises(ValueError, match=r"sequence 1: invalid character 'X' at position 3"):
        one_hot_encode_batch(["ACGT", "ACGX"])
    with pytest.raises(ValueError, match=r"sequence 1: IUPAC ambiguity code 'R' at position 0"):
        one_hot_encode_batch(["ACGT", "RCGT"])
    with pytest.raises(ValueError, match=r"sequence 0: invalid character"):
        one_hot_encode_batch(["\u00e9"])


def test_batch_empty():
    assert one_hot_encode_batch([]).shape == (0, 4, 0)
    assert one_hot_encode_batch([], length=7).shape == (0, 4, 7)


def centred_reference(seq, L):
    """Pad with N / crop, centred, extra base on the right."""
    if len(seq) >= L:
        a = (len(seq) - L) // 2
        return seq[a:a + L]
    left = (L - len(seq)) // 2
    return "N" * left + seq + "N" * (L - len(seq) - left)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="ACGTN", max_size=30), min_size=1, max_size=6), st.integers(0, 40),
       st.sampled_from([0.0, 0.25]))
def test_batch_pad_crop_centred(seqs, L, n_value):
    X = one_hot_encode_batch(seqs, length=L, n_value=n_value)
    assert X.shape == (len(seqs), 4, L)
    expect = np.stack([naive_onehot(centred_reference(s, L), n_value) for s in seqs])
    np.testing.assert_array_equal(X.numpy(), expect)


def test_decode_shapes_and_ties():
    X = torch.tensor([[0.9, 0, 0.5], [0.1, 0, 0.5], [0, 0, 0], [0, 0, 0]])
    assert decode(X) == "ANN"
    assert decode(X[None]) == ["ANN"]
    assert decode(np.zeros((2, 4, 3))) == ["NNN", "NNN"]
    X[0, 0] = float("nan")
    assert decode(X)[0] == "N"
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        decode(torch.zeros(3, 5, 2))


# ---------------------------------------------------------------- shuffle

shuffle_seq = st.text(alphabet="ACGTN", min_size=0, max_size=80).filter(lambda s: s.count("N") < len(s) // 4 + 1)


@settings(max_examples=80, deadline=None)
@given(st.lists(shuffle_seq, min_size=1, max_size=4).map(lambda ss: [s.ljust(max(map(len, ss)), "A") for s in ss]),
       st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_shuffle_preserves_dinucleotides(seqs, n, seed):
    X = one_hot_encode_batch(seqs)
    S = dinucleotide_shuffle(X, n=n, random_state=seed)
    assert S.shape == (len(seqs), n, 4, X.shape[-1]) and S.dtype == X.dtype
    for i, s in enumerate(seqs):
        for j in range(n):
            t = decode(S[i, j])
            assert dinucs(t) == dinucs(s)
            assert Counter(t) == Counter(s)
            if s:
                assert t[0] == s[0] and t[-1] == s[-1]
            assert [k for k, c in enumerate(t) if c == "N"] == [k for k, c in enumerate(s) if c == "N"]


def test_shuffle_seeded_and_actually_shuffles():
    rng = np.random.default_rng(5)
    seqs = ["".join(rng.choice(list("ACGT"), 300)) for _ in range(8)]
    X = one_hot_encode_batch(seqs)
    a = dinucleotide_shuffle(X, n=2, random_state=42)
    b = dinucleotide_shuffle(X, n=2, random_state=42)
    c = dinucleotide_shuffle(X, n=2, random_state=43)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a[:, 0], a[:, 1])
    assert all(decode(a[i, 0]) != seqs[i] for i in range(8))
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    assert torch.equal(dinucleotide_shuffle(X, random_state=g1), dinucleotide_shuffle(X, random_state=g2))


def test_shuffle_single_and_numpy_and_n_columns_kept():
    X = one_hot_encode("ACGTTGCANNACGGTACA", n_value=0.25)
    S = dinucleotide_shuffle(X, n=4, random_state=0)
    assert S.shape == (4, 4, 18)
    assert torch.all(S[:, :, 8:10] == 0.25)  # N columns copied unchanged, in place
    Sn = dinucleotide_shuffle(X.numpy(), n=4, random_state=0)
    assert isinstance(Sn, np.ndarray)
    np.testing.assert_array_equal(Sn, S.numpy())


def test_shuffle_uniform_over_small_sequence():
    """All Euler walks of a short sequence are reachable, about equally often."""
    s = "ACGACTAGCA"
    S = dinucleotide_shuffle(one_hot_encode(s), n=6000, random_state=1)
    counts = Counter(decode(S))
    # brute force: every arrangement with the same first base and dinucleotide counts
    from itertools import permutations
    target = dinucs(s)
    walks = {s[0] + "".join(p) for p in set(permutations(s[1:])) if dinucs(s[0] + "".join(p)) == target}
    assert set(counts) == walks
    expected = 6000 / len(walks)
    assert all(abs(c - expected) < 5 * np.sqrt(expected) for c in counts.values())


def test_shuffle_pathological_runs_fast_enough_to_finish():
    s = "A" * 300 + "C" * 300 + "G" * 300 + "T" + "AC" * 200
    S = dinucleotide_shuffle(one_hot_encode(s), n=3, random_state=0)
    for t in decode(S):
        assert dinucs(t) == dinucs(s)


def test_shuffle_bad_args():
    with pytest.raises(ValueError, match="n must be"):
        dinucleotide_shuffle(one_hot_encode("ACGT"), n=0)
    with pytest.raises(ValueError, match="shape"):
        dinucleotide_shuffle(torch.zeros(2, 3, 4))
    with pytest.raises(TypeError):
        dinucleotide_shuffle(one_hot_encode("ACGT"), random_state="x")
