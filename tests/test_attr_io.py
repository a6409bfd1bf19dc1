"""Tests of sparselrp.io.attributions: dense and sparse files, merge, the batch writer."""

import os
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparselrp.errors import InputFormatError
from sparselrp.io.attributions import (
    AttributionWriter,
    attribution_info,
    from_coo,
    load_attributions,
    merge_attributions,
    save_attributions,
    size_ratio,
    to_coo,
)

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

attr_arrays = st.tuples(st.integers(0, 4), st.integers(1, 9)).flatmap(
    lambda s: arrays(
        np.float32,
        (s[0], 4, s[1]),
        elements=st.one_of(st.just(np.float32(0.0)), st.floats(width=32)),
    )
)


def sparse_attr(n=50, length=400, density=0.05, seed=0):
    """One-hot-like sparse attributions: one row per kept position."""
    rng = np.random.default_rng(seed)
    R = np.zeros((n, 4, length), np.float32)
    keep = rng.random((n, length)) < density
    ni, li = np.nonzero(keep)
    R[ni, rng.integers(0, 4, ni.size), li] = rng.normal(size=ni.size)
    return R


def no_temp_files(directory):
    return [p for p in os.listdir(directory) if p.startswith(".")] == []


# ----------------------------------------------------------------------------- round trips


@SETTINGS
@given(attr_arrays)
def test_round_trips_are_exact(tmp_path, R):
    for sparse in (False, True):
        path = tmp_path / ("a.sparse.npz" if sparse else "a.npz")
        save_attributions(path, R, sparse=sparse)
        back = load_attributions(path)
        assert back.dtype == torch.float32 and back.shape == R.shape
        np.testing.assert_array_equal(back.numpy(), R)
        info = attribution_info(path)
        assert info["shape"] == R.shape and info["format"] == ("coo" if sparse else "dense")
        if sparse:
            assert info["nnz"] == np.count_nonzero(R)
    shape, idx, val = to_coo(torch.from_numpy(R))
    np.testing.assert_array_equal(from_coo(shape, idx, val), R)


def test_dense_file_is_plain_arr_0(tmp_path):
    R = torch.randn(3, 4, 7, dtype=torch.float64)
    save_attributions(tmp_path / "a.npz", R)
    with np.load(tmp_path / "a.npz") as npz:
        assert npz.files == ["arr_0"]
        a = npz["arr_0"]
    assert a.shape == (3, 4, 7) and a.dtype == np.float32
    np.testing.assert_array_equal(a, R.float().numpy())
    assert no_temp_files(tmp_path)


def test_sparse_layout_is_documented_coo(tmp_path):
    R = np.zeros((2, 4, 3), np.float32)
    R[1, 2, 0] = 1.5
    R[0, 0, 2] = -2.0
    save_attributions(tmp_path / "s.npz", R, sparse=True)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["format", "indices", "shape", "values"]
        assert str(npz["format"]) == "coo"
        np.testing.assert_array_equal(npz["shape"], [2, 4, 3])
        np.testing.assert_array_equal(npz["indices"], [0 * 12 + 0 * 3 + 2, 1 * 12 + 2 * 3 + 0])
        np.testing.assert_array_equal(npz["values"], np.float32([-2.0, 1.5]))


def test_sparse_smaller_than_dense_for_sparse_input(tmp_path):
    R = sparse_attr(density=0.02)
    save_attributions(tmp_path / "d.npz", R)
    save_attributions(tmp_path / "s.npz", R, sparse=True)
    d, s = os.path.getsize(tmp_path / "d.npz"), os.path.getsize(tmp_path / "s.npz")
    assert s < d
    ratio = size_ratio(R)
    assert ratio["dense_bytes"] == d and ratio["sparse_bytes"] == s
    assert ratio["ratio"] == pytest.approx(d / s) and ratio["nnz"] == np.count_nonzero(R)


# ----------------------------------------------------------------------------- merge


@pytest.mark.parametrize("sparse_out", [False, True])
def test_merge_equals_concatenation(tmp_path, sparse_out):
    shards = [sparse_attr(n, 30, 0.3, seed=n) for n in (3, 0, 5, 1)]
    paths = []
    for i, R in enumerate(shards):
        paths.append(tmp_path / f"shard{i}.npz")
        save_attributions(paths[-1], R, sparse=bool(i % 2))  # mixed forms
    out = tmp_path / "merged.npz"
    assert merge_attributions(paths, out, sparse=sparse_out) == (9, 4, 30)
    expected = np.concatenate(shards)
    np.testing.assert_array_equal(load_attributions(out).numpy(), expected)
    if not sparse_out:
        with np.load(out) as npz:
            np.testing.assert_array_equal(npz["arr_0"], expected)
    assert attribution_info(out)["format"] == ("coo" if sparse_out else "dense")


def test_merge_many_rows_streams_in_blocks(tmp_path):
    # more rows than one streaming block (256) in a dense shard
    R = sparse_attr(600, 20, 0.2, seed=9)
    save_attributions(tmp_path / "a.npz", R)
    save_attributions(tmp_path / "b.npz", R[:10], sparse=True)
    merge_attributions([tmp_path / "a.npz", tmp_path / "b.npz"], tmp_path / "m.npz", sparse=True)
    merge_attributions([tmp_path / "m.npz"], tmp_path / "d.npz")
    np.testing.assert_array_equal(load_attributions(tmp_path / "d.npz").numpy(), np.concatenate([R, R[:10]]))


def test_merge_rejects_mismatched_lengths(tmp_path):
    save_attributions(tmp_path / "a.npz", np.zeros((1, 4, 5)))
    save_attributions(tmp_path / "b.npz", np.zeros((1, 4, 6)), sparse=True)
    with pytest.raises(InputFormatError, match="b.npz.*length 6"):
        merge_attributions([tmp_path / "a.npz", tmp_path / "b.npz"], tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    with pytest.raises(ValueError, match="no input"):
        merge_attributions([], tmp_path / "m.npz")


# ----------------------------------------------------------------------------- writer


@pytest.mark.parametrize("sparse", [True, False])
def test_writer_round_trip(tmp_path, sparse):
    R = sparse_attr(23, 40, 0.1)
    with AttributionWriter(tmp_path / "w.npz", sparse=sparse, dense_path=tmp_path / "wd.npz") as w:
        for start in range(0, 23, 5):
            w.append(torch.from_numpy(R[start : start + 5]))
        assert not (tmp_path / "w.npz").exists()  # nothing before close
    np.testing.assert_array_equal(load_attributions(tmp_path / "w.npz").numpy(), R)
    assert attribution_info(tmp_path / "w.npz")["format"] == ("coo" if sparse else "dense")
    with np.load(tmp_path / "wd.npz") as npz:
        np.testing.assert_array_equal(npz["arr_0"], R)
    assert w.n == 23 and w.nnz == np.count_nonzero(R)
    assert no_temp_files(tmp_path)


def test_interrupted_writer_leaves_no_file(tmp_path):
    R = sparse_attr(4, 10, 0.5)
    with pytest.raises(KeyboardInterrupt):
        with AttributionWriter(tmp_path / "w.npz", dense_path=tmp_path / "wd.npz") as w:
            w.append(R)
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
    w2 = AttributionWriter(tmp_path / "x.npz")
    w2.append(R)
    w2.abort()
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="closed"):
        w2.append(R)


def test_writer_errors_and_empty(tmp_path):
    w = AttributionWriter(tmp_path / "w.npz")
    w.append(np.zeros((2, 4, 8)))
    with pytest.raises(ValueError, match="L = 9"):
        w.append(np.zeros((2, 4, 9)))
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        w.append(np.zeros((2, 8)))
    w.abort()
    with pytest.raises(ValueError, match="no batch"):
        AttributionWriter(tmp_path / "e.npz").close()
    assert not (tmp_path / "e.npz").exists()
    AttributionWriter(tmp_path / "e.npz", length=7).close()
    assert load_attributions(tmp_path / "e.npz").shape == (0, 4, 7)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AttributionWriter(tmp_path / "missing" / "w.npz")
    assert no_temp_files(tmp_path)


# ----------------------------------------------------------------------------- bad files


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"x": np.zeros((1, 4, 3))}, "expected key 'arr_0'"),
        ({"arr_0": np.zeros((2, 5))}, r"shape \(2, 5\), expected attributions \(N, 4, L\)"),
        ({"arr_0": np.zeros((2, 7, 4))}, r"looks like \(N, L, 4\)"),
        ({"arr_0": np.array(["a"])}, "shape"),
        ({"format": np.array("coo"), "shape": np.array([1, 4, 3])}, "lacks key.*'indices'"),
        ({"format": np.array("csr"), "shape": np.array([1, 4, 3]), "indices": np.zeros(0, int),
          "values": np.zeros(0, np.float32)}, "unknown sparse format"),
        ({"format": np.array("coo"), "shape": np.array([1, 3, 3]), "indices": np.zeros(0, int),
          "values": np.zeros(0, np.float32)}, r"'shape' is \[1, 3, 3\]"),
        ({"format": np.array("coo"), "shape": np.array([1, 4, 3]), "indices": np.array([12]),
          "values": np.ones(1, np.float32)}, "out of range"),
        ({"format": np.array("coo"), "shape": np.array([1, 4, 3]), "indices": np.array([1, 1]),
          "values": np.ones(2, np.float32)}, "duplicates"),
        ({"format": np.array("coo"), "shape": np.array([1, 4, 3]), "indices": np.array([1, 2]),
          "values": np.ones(3, np.float32)}, "same length"),
    ],
)
def test_bad_files_name_the_file(tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputFormatError, match=message) as info:
        load_attributions(path)
    assert str(info.value).startswith(f"{path}: ")
    if message not in ("out of range", "duplicates"):  # attribution_info reads headers only
        with pytest.raises(InputFormatError):
            attribution_info(path)


def test_unreadable_files(tmp_path):
    text = tmp_path / "attr.npz"
    text.write_text("not a zip\n")
    with pytest.raises(InputFormatError, match=f"^{text}: not a readable .npz"):
        load_attributions(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_attributions(tmp_path / "nope.npz")
    obj = tmp_path / "obj.npz"
    np.savez(obj, arr_0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputFormatError, match="refusing to unpickle"):
        load_attributions(obj)


def test_unsorted_sparse_indices_and_coordinate_form(tmp_path):
    R = np.zeros((2, 4, 3), np.float32)
    R[1, 2, 0], R[0, 0, 2] = 1.5, -2.0
    flat = np.ravel_multi_index(np.nonzero(R), R.shape)
    p = write_npz(tmp_path / "u.npz", format=np.array("coo"), shape=np.array(R.shape), indices=flat[::-1],
                  values=R[np.nonzero(R)][::-1])
    np.testing.assert_array_equal(load_attributions(p).numpy(), R)
    p = write_npz(tmp_path / "c.npz", format=np.array("coo"), shape=np.array(R.shape),
                  indices=np.stack(np.nonzero(R), axis=1), values=R[np.nonzero(R)])
    np.testing.assert_array_equal(load_attributions(p).numpy(), R)
    assert zipfile.is_zipfile(p)


# ----------------------------------------------------------------------------- kinds (issue 15 item 4)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", ["projected", "hypothetical", "raw", None])
def test_kind_round_trips_in_both_forms(tmp_path, sparse, kind):
    from sparselrp.io.attributions import attribution_info, attribution_kind

    R = torch.zeros(3, 4, 9)
    R[0, 1, 2], R[2, 3, 8] = 1.5, -0.25
    p = save_attributions(tmp_path / "a.npz", R, sparse=sparse, kind=kind)
    assert attribution_kind(p) == kind
    assert attribution_info(p)["kind"] == kind
    assert torch.equal(load_attributions(p), R)
    if not sparse:   # still what `modisco motifs -a` reads
        assert np.array_equal(np.load(p)["arr_0"], R.numpy())
    with AttributionWriter(tmp_path / "w.npz", sparse=sparse, dense_path=tmp_path / "wd.npz", kind=kind) as w:
        w.append(R[:2])
        w.append(R[2:])
    assert attribution_kind(tmp_path / "w.npz") == attribution_kind(tmp_path / "wd.npz") == kind
    merged = tmp_path / "m.npz"
    merge_attributions([p, tmp_path / "w.npz"], merged, sparse=not sparse)
    assert attribution_kind(merged) == kind
    assert torch.equal(load_attributions(merged), torch.cat([R, R]))


def test_merge_refuses_mixed_kinds_and_bad_kinds_are_named(tmp_path):
    from sparselrp.io.attributions import attribution_kind

    R = torch.ones(1, 4, 5)
    a = save_attributions(tmp_path / "a.npz", R, kind="projected")
    b = save_attributions(tmp_path / "b.npz", R, kind="hypothetical")
    with pytest.raises(InputFormatError, match="different kinds"):
        merge_attributions([a, b], tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    with pytest.raises(ValueError, match="attribution kind"):
        save_attributions(tmp_path / "c.npz", R, kind="contributions")
    np.savez(tmp_path / "d.npz", arr_0=R.numpy(), kind=np.array("weird"))
    with pytest.raises(InputFormatError, match="d.npz.*kind"):
        attribution_kind(tmp_path / "d.npz")
