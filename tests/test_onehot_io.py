"""sparselrp.io.onehot: one-hot .npz files (arr_0 + names + coordinates)."""

import zipfile

import numpy as np
import pytest
import torch

from sparselrp.errors import InputFormatError
from sparselrp.io.onehot import load_onehot, save_onehot
from sparselrp.sequence import one_hot_encode_batch


def test_roundtrip_with_coords(tmp_path):
    X = one_hot_encode_batch(["ACGTN", "TTGCA", "nnacg"])
    coords = {"chrom": ["chr1", "chr2", "chrX"], "start": [0, 10, 20], "end": [5, 15, 25], "strand": ["+", "-", "."]}
    p = tmp_path / "ohe.npz"
    save_onehot(p, X, names=["a", "b", "c"], coords=coords)
    with np.load(p, allow_pickle=False) as z:  # the modisco layout, readable without pickle
        assert z["arr_0"].dtype == np.float32 and z["arr_0"].shape == (3, 4, 5)
        assert set(z.files) == {"arr_0", "names", "chrom", "start", "end", "strand"}
    oh = load_onehot(p)
    assert torch.equal(oh.X, X) and oh.X.dtype == torch.float32
    assert oh.names == ["a", "b", "c"] and len(oh) == 3
    assert list(oh.coords["chrom"]) == coords["chrom"]
    assert list(oh.coords["start"]) == [0, 10, 20] and oh.coords["start"].dtype == np.int64
    assert list(oh.coords["end"]) == [5, 15, 25] and list(oh.coords["strand"]) == ["+", "-", "."]


def test_roundtrip_defaults_and_numpy_input(tmp_path):
    X = np.eye(4, dtype=np.float64)[None].repeat(2, axis=0)
    p = tmp_path / "o.npz"
    save_onehot(p, X)
    oh = load_onehot(p)
    assert oh.names == ["0", "1"] and oh.coords is None
    np.testing.assert_array_equal(oh.X.numpy(), X.astype(np.float32))
    # strand defaults to "." when not given
    save_onehot(p, X, coords={"chrom": ["c", "c"], "start": [0, 4], "end": [4, 8]})
    assert list(load_onehot(p).coords["strand"]) == [".", "."]


def test_save_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        save_onehot(tmp_path / "x.npz", np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="names"):
        save_onehot(tmp_path / "x.npz", np.zeros((2, 4, 3)), names=["a"])
    with pytest.raises(ValueError, match="coords"):
        save_onehot(tmp_path / "x.npz", np.zeros((2, 4, 3)), coords={"chrom": ["a", "b"]})
    with pytest.raises(ValueError, match="entries"):
        save_onehot(tmp_path / "x.npz", np.zeros((2, 4, 3)),
                    coords={"chrom": ["a", "b"], "start": [0], "end": [1, 2]})
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_save_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_onehot(tmp_path / "nodir" / "x.npz", np.zeros((1, 4, 2)))


@pytest.mark.parametrize("kind,match", [
    ("no_arr0", "no 'arr_0' array"),
    ("shape", r"shape \(2, 5, 3\), expected \(N, 4, L\)"),
    ("ndim", r"shape \(4, 3\)"),
    ("text", "not a readable .npz"),
    ("pickle", "not a readable .npz"),
    ("npy", "single .npy"),
    ("names", "'names' has shape"),
    ("coords", "coordinates incomplete"),
    ("strings", "dtype"),
])
def test_load_errors(tmp_path, kind, match):
    p = tmp_path / "bad.npz"
    if kind == "no_arr0":
        np.savez(p, x=np.zeros((1, 4, 2)))
    elif kind == "shape":
        np.savez(p, arr_0=np.zeros((2, 5, 3)))
    elif kind == "ndim":
        np.savez(p, arr_0=np.zeros((4, 3)))
    elif kind == "text":
        p.write_text("hello")
    elif kind == "pickle":
        np.savez(p, arr_0=np.array([{"a": 1}], dtype=object))
    elif kind == "npy":
        with open(p, "wb") as fh:
            np.save(fh, np.zeros((1, 4, 2)))
    elif kind == "names":
        np.savez(p, arr_0=np.zeros((2, 4, 3)), names=np.array(["a"]))
    elif kind == "coords":
        np.savez(p, arr_0=np.zeros((2, 4, 3)), chrom=np.array(["a", "b"]))
    elif kind == "strings":
        np.savez(p, arr_0=np.full((1, 4, 2), "x"))
    with pytest.raises(InputFormatError, match=match) as exc:
        load_onehot(p)
    assert str(exc.value).startswith(str(p))


def test_load_truncated_and_missing(tmp_path):
    p = tmp_path / "t.npz"
    save_onehot(p, np.zeros((50, 4, 100)))
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputFormatError):
        load_onehot(p)
    with pytest.raises(FileNotFoundError):
        load_onehot(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(tmp_path / "t.npz") is False
