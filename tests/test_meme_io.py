"""MEME minimal format: round trip, last motif without a trailing blank line, errors; motifs JSON."""

import numpy as np
import pytest

from sparselrp.errors import InputFormatError
from sparselrp.io.meme import read_meme, write_meme
from sparselrp.io.motifs_json import read_motifs_json, write_motifs_json
from sparselrp.motifs import Motif


def _random_pwms(rng, n=3):
    out = []
    for i in range(n):
        w = rng.integers(1, 20)
        p = rng.dirichlet(np.ones(4) * 0.5, size=w).T
        out.append((f"m{i}", p))
    return out


def test_round_trip_pairs(tmp_path):
    rng = np.random.default_rng(0)
    motifs = _random_pwms(rng, 5)
    write_meme(tmp_path / "a.meme", motifs)
    back = read_meme(tmp_path / "a.meme")
    assert [n for n, _ in back] == [n for n, _ in motifs]
    for (_, p), (_, q) in zip(motifs, back):
        assert q.shape == p.shape
        np.testing.assert_allclose(q, p, atol=2e-6)
        np.testing.assert_allclose(q.sum(0), 1.0, atol=1e-12)


def test_round_trip_motif_objects(tmp_path):
    rng = np.random.default_rng(1)
    pwm = rng.dirichlet(np.ones(4), size=8).T
    m = Motif(name="motif_1", pwm=pwm, cwm=pwm * 0.1, support=42,
              matches=[{"target_id": "MA0139.2", "target_name": "CTCF", "p_value": 1e-9, "q_value": 1e-7,
                        "offset": 0, "orientation": "+"}])
    write_meme(tmp_path / "m.meme", [m])
    text = (tmp_path / "m.meme").read_text()
    assert text.startswith("MEME version 4\n")
    assert "MOTIF motif_1 CTCF\n" in text and "nsites= 42" in text and "alength= 4 w= 8" in text
    (back,) = read_meme(tmp_path / "m.meme", as_motifs=True)
    assert back.name == "motif_1" and back.support == 42
    np.testing.assert_allclose(back.pwm, pwm, atol=2e-6)


def test_empty_motif_list_round_trip(tmp_path):
    write_meme(tmp_path / "e.meme", [])
    assert read_meme(tmp_path / "e.meme") == []


HEADER = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"
M1 = "MOTIF one\nletter-probability matrix: alength= 4 w= 2 nsites= 5 E= 0\n 1 0 0 0\n 0 0.5 0.5 0\n"
M2 = "MOTIF two alt\nletter-probability matrix: alength= 4 w= 3\n 0.1 0.2 0.3 0.4\n 0 0 0 1\n 0.25 0.25 0.25 0.25"


@pytest.mark.parametrize("tail", ["", "\n", "\n\n", "   \n"])
def test_last_motif_without_blank_line(tmp_path, tail):
    p = tmp_path / "x.meme"
    p.write_text(HEADER + M1 + "\n" + M2 + tail)
    got = read_meme(p)
    assert [n for n, _ in got] == ["one", "two"]
    np.testing.assert_allclose(got[1][1][:, 1], [0, 0, 0, 1])


def test_last_motif_without_w_and_no_newline(tmp_path):
    p = tmp_path / "x.meme"
    p.write_text(HEADER + M1.replace(" w= 2 nsites= 5 E= 0", "") .rstrip("\n"))
    ((name, pwm),) = read_meme(p)
    assert name == "one" and pwm.shape == (4, 2)


def test_windows_line_endings_and_log_odds_block(tmp_path):
    lo = "MOTIF lo\nlog-odds matrix: alength= 4 w= 2\n 1.9 -3.3 -3.3 -3.3\n -3.3 0.9 0.9 -3.3\n\n" \
         "letter-probability matrix: alength= 4 w= 2\n 1 0 0 0\n 0 0.5 0.5 0\nURL http://example.org\n"
    p = tmp_path / "x.meme"
    p.write_bytes((HEADER + lo).replace("\n", "\r\n").encode())
    ((name, pwm),) = read_meme(p)
    assert name == "lo" and pwm.shape == (4, 2)


def test_reads_jaspar_style_meme_from_memelite(tmp_path):
    # memelite's own writer/reader agree with ours on a file we write
    from memelite.io import read_meme as ml_read

    rng = np.random.default_rng(3)
    motifs = _random_pwms(rng, 3)
    write_meme(tmp_path / "a.meme", motifs)
    theirs = ml_read(str(tmp_path / "a.meme"))
    assert len(theirs) == 3
    for (n, p), (k, v) in zip(motifs, theirs.items()):
        assert k.split()[0] == n
        np.testing.assert_allclose(np.asarray(v), p, atol=2e-6)


@pytest.mark.parametrize("text, msg", [
    ("", "empty file"),
    ("MOTIF x\n", "line 1: not a MEME file"),
    (HEADER + "MOTIF a\nMOTIF b\n", r"line 11: motif 'a' \(line 10\) has no"),
    (HEADER + "MOTIF a\n", "line 10: motif 'a' has no letter-probability matrix"),
    (HEADER + "MOTIF a\nletter-probability matrix: alength= 4 w= 3\n 1 0 0 0\n", "motif 'a' has 1 matrix rows but w= 3"),
    (HEADER + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n 1 0 0\n", "line 12: matrix row has 3 values"),
    (HEADER + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n 0.5 0 0 0\n", "line 12: matrix row sums"),
    (HEADER + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n -1 1 0 1\n", "line 12: matrix values"),
    (HEADER + "MOTIF a\nletter-probability matrix: alength= 20 w= 1\n", "line 11: alength= 20"),
    (HEADER + "MOTIF a\nletter-probability matrix: alength= 4\n\n", "empty letter-probability"),
    (HEADER + "letter-probability matrix: alength= 4 w= 1\n 1 0 0 0\n", "line 10: letter-probability matrix before"),
    ("MEME version 4\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n", "line 2: unsupported alphabet"),
    (HEADER + M1 + "\nMOTIF one\nletter-probability matrix:\n 1 0 0 0\n", "duplicate motif name"),
    (HEADER + M1 + "\ngarbage here\n", "line 15: unexpected line"),
])
def test_malformed(tmp_path, text, msg):
    p = tmp_path / "bad.meme"
    p.write_text(text)
    with pytest.raises(InputFormatError, match=msg) as exc:
        read_meme(p)
    assert str(exc.value).startswith(str(p))


def test_binary_file(tmp_path):
    p = tmp_path / "bin.meme"
    p.write_bytes(b"MEME version 4\n\xff\xfe\x00")
    with pytest.raises(InputFormatError, match="line 2: not a text file"):
        read_meme(p)


def test_writer_rejects_bad_matrices(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_meme(tmp_path / "a.meme", [("a", np.ones((3, 2)))])
    with pytest.raises(ValueError, match="whitespace"):
        write_meme(tmp_path / "a.meme", [("a b", np.ones((4, 2)))])
    with pytest.raises(ValueError, match="finite"):
        write_meme(tmp_path / "a.meme", [("a", np.full((4, 2), np.nan))])
    assert not (tmp_path / "a.meme").exists()


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "a.meme"
    write_meme(p, [("old", np.eye(4))])
    old = p.read_text()

    import sparselrp._atomic as atomic

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", boom)
    with pytest.raises(OSError, match="(?i)no space left"):
        write_meme(p, [("new", np.eye(4))])
    assert p.read_text() == old
    assert [f.name for f in tmp_path.iterdir()] == ["a.meme"]


def _motif(rng, name, hcwm=True, matches=True):
    pwm = rng.dirichlet(np.ones(4), size=6).T
    return Motif(name=name, pwm=pwm, cwm=rng.normal(size=(4, 6)), hcwm=rng.normal(size=(4, 6)) if hcwm else None,
                 support=7, seqlet_ids=[3, 1, 4], seqlet_strands=["+", "-", "+"], seqlet_offsets=[10, 20, 5],
                 matches=[{"target_id": "MA0139.2", "target_name": "CTCF", "p_value": 1e-10, "q_value": 2e-8,
                           "offset": -1, "orientation": "-"}] if matches else [])


def test_motifs_json_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    motifs = [_motif(rng, "motif_1"), _motif(rng, "motif_2", hcwm=False, matches=False)]
    write_motifs_json(tmp_path / "m.json", motifs, metadata={"release": "JASPAR2026"})
    back, meta = read_motifs_json(tmp_path / "m.json", with_metadata=True)
    assert meta == {"release": "JASPAR2026"}
    for a, b in zip(motifs, back):
        assert a.name == b.name and a.support == b.support and a.seqlet_ids == b.seqlet_ids
        assert a.seqlet_strands == b.seqlet_strands and a.seqlet_offsets == b.seqlet_offsets
        assert a.matches == b.matches
        np.testing.assert_array_equal(a.pwm, b.pwm)
        np.testing.assert_array_equal(a.cwm, b.cwm)
        assert (a.hcwm is None) == (b.hcwm is None)
        if a.hcwm is not None:
            np.testing.assert_array_equal(a.hcwm, b.hcwm)


@pytest.mark.parametrize("text, msg", [
    ("{", "line 1: invalid JSON"),
    ("[]", "not a sparselrp motifs file"),
    ('{"format": "sparselrp-motifs", "version": 1, "motifs": [{"name": "a"}]}', "motif 0: motif is missing"),
    ('{"format": "sparselrp-motifs", "version": 1, "motifs": [{"name": "a", "pwm": [[1]], "cwm": [[1]]}]}',
     "motif 0: pwm must have shape"),
])
def test_motifs_json_errors(tmp_path, text, msg):
    p = tmp_path / "m.json"
    p.write_text(text)
    with pytest.raises(InputFormatError, match=msg):
        read_motifs_json(p)


def test_motif_information_content():
    pwm = np.array([[1, 0.25, 0.5], [0, 0.25, 0.5], [0, 0.25, 0], [0, 0.25, 0]])
    m = Motif(name="x", pwm=pwm, cwm=pwm)
    np.testing.assert_allclose(m.information_content(), [2.0, 0.0, 1.0])
    assert m.consensus() == "AAA" and m.width == 3
    with pytest.raises(ValueError, match="width"):
        Motif(name="x", pwm=pwm, cwm=np.ones((4, 2)))
