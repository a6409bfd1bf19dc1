"""Attribution files: dense ``arr_0`` npz (TF-MoDISco's input) and a sparse COO npz.

Dense form
    ``np.savez_compressed`` with one key ``arr_0``: float32 array (N, 4, L), rows
    A, C, G, T. ``np.load(path)["arr_0"]`` reads it, so does ``modisco motifs -a``.

Sparse form (``format = "coo"``), an npz with four keys:

    ============  ===========================================================
    ``format``    0-d unicode array ``"coo"``
    ``shape``     int64 (3,): (N, 4, L)
    ``indices``   (nnz,) unsigned or signed integers, ascending and unique:
                  flat C-order positions of the non-zero entries,
                  ``n * 4 * L + c * L + l``; uint32 when N * 4 * L < 2**32,
                  else int64
    ``values``    (nnz,) float32, the entries at those positions
    ============  ===========================================================

Everything else is zero. Exact zeros (and -0.0) are not stored; every other
value, NaN included, is.

Both forms may hold a key ``kind``, a 0-d unicode array naming what the map is
(the field's conventions, see :mod:`sparselrp.lrp.plrp`): ``"projected"`` (each
position's relevance on its observed base; what ``sparselrp attribute`` writes by
default), ``"hypothetical"`` (all four bases; TF-MoDISco's ``-a`` input beside the
one-hot) or ``"raw"`` (the relevance pass's own map). Files without the key are of
unknown kind; :func:`attribution_kind` reads it. Dense from sparse::

    d = np.zeros(np.prod(shape), np.float32); d[indices] = values; d = d.reshape(shape)

:func:`load_attributions` reads both forms (it tells them apart by their keys).
Suggested file names: ``attr.npz`` (dense) and ``attr.sparse.npz``; the form
written is chosen by ``sparse=`` alone, never by the name. All writes are
atomic; :func:`merge_attributions` and :class:`AttributionWriter` stream, so
that memory stays bounded by one shard or one batch.
"""

import io
import os
import shutil
import tempfile
import weakref
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._atomic import _check_dir, atomic_path, atomic_savez
from ..errors import InputFormatError

FORMAT = "coo"
_SPARSE_KEYS = ("format", "shape", "indices", "values")
#: what an attribution file may say it holds (key ``kind``)
KINDS = ("projected", "hypothetical", "raw")


def _check_kind(kind):
    if kind is not None and kind not in KINDS:
        raise ValueError(f"attribution kind must be one of {', '.join(KINDS)} (or None), got {kind!r}")
    return kind


def _kind_member(kind):
    return {} if kind is None else {"kind": np.array(kind)}


# ----------------------------------------------------------------------------- helpers


def _as_array(R):
    """(N, 4, L) float32 C-contiguous numpy array from a tensor or array."""
    try:
        import torch

        if isinstance(R, torch.Tensor):
            R = R.detach().to("cpu", torch.float32).numpy()
    except ImportError:  # pragma: no cover
        pass
    a = np.ascontiguousarray(R, dtype=np.float32)
    if a.ndim != 3 or a.shape[1] != 4:
        raise ValueError(f"attributions must have shape (N, 4, L), got {a.shape}")
    return a


def _index_dtype(size):
    return np.dtype(np.uint32) if size < 2**32 else np.dtype(np.int64)


def to_coo(R):
    """Sparse COO form of attributions.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L).

    Returns
    -------
    shape : tuple of int
        (N, 4, L).
    indices : numpy.ndarray
        (nnz,) ascending flat C-order indices (uint32, or int64 for > 2**32 entries).
    values : numpy.ndarray
        (nnz,) float32.
    """
    a = _as_array(R)
    flat = a.reshape(-1)
    idx = np.flatnonzero(flat)
    return a.shape, idx.astype(_index_dtype(flat.size)), flat[idx]


def from_coo(shape, indices, values):
    """Dense float32 numpy array (N, 4, L) from a COO triple (see :func:`to_coo`)."""
    out = np.zeros(int(np.prod(shape)), dtype=np.float32)
    out[np.asarray(indices, dtype=np.int64)] = values
    return out.reshape(tuple(int(s) for s in shape))


def _tensor(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _open_npz(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: attribution file does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise InputFormatError(f"not a readable .npz attribution file ({exc})", path) from exc


def _get(npz, key, path):
    try:
        return npz[key]
    except ValueError as exc:  # object arrays refused with allow_pickle=False
        raise InputFormatError(f"key {key!r} holds Python objects; refusing to unpickle", path) from exc
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise InputFormatError(f"key {key!r} is unreadable ({exc})", path) from exc


def _check_dense(a, path):
    if a.ndim != 3 or a.shape[1] != 4:
        hint = ""
        if a.ndim == 3 and a.shape[2] == 4:
            hint = " (this looks like (N, L, 4): transpose it with a.transpose(0, 2, 1))"
        raise InputFormatError(f"'arr_0' has shape {a.shape}, expected attributions (N, 4, L){hint}", path)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise InputFormatError(f"'arr_0' has dtype {a.dtype}, expected real numbers", path)


def _check_sparse(npz, path):
    """Validate a sparse npz; return (shape, indices int64, values float32)."""
    missing = [k for k in _SPARSE_KEYS if k not in npz.files]
    if missing:
        raise InputFormatError(f"sparse attribution file lacks key(s) {', '.join(map(repr, missing))}", path)
    fmt = _get(npz, "format", path)
    if fmt.shape != () or str(fmt) != FORMAT:
        found = (repr(str(fmt)) if fmt.shape == () and fmt.dtype.kind == "U"
                 else f"a {fmt.dtype} array of shape {fmt.shape}")
        raise InputFormatError(f"unknown sparse format {found}; expected {FORMAT!r}", path)
    shape = _get(npz, "shape", path)
    if shape.shape != (3,) or not np.issubdtype(shape.dtype, np.integer) or (shape < 0).any() or shape[1] != 4:
        raise InputFormatError(f"'shape' is {shape.tolist()}, expected (N, 4, L)", path)
    shape = tuple(int(s) for s in shape)
    idx = _get(npz, "indices", path)
    val = _get(npz, "values", path)
    if not np.issubdtype(idx.dtype, np.integer):
        raise InputFormatError(f"'indices' has dtype {idx.dtype}, expected integers", path)
    if idx.ndim == 2 and idx.shape[1] == 3:  # (nnz, 3) coordinates are accepted too
        if ((idx < 0) | (idx >= np.array(shape))).any():
            raise InputFormatError("'indices' has coordinates outside 'shape'", path)
        idx = np.ravel_multi_index(tuple(idx.T), shape)
    if idx.ndim != 1 or val.ndim != 1 or idx.shape != val.shape:
        raise InputFormatError(
            f"'indices' {idx.shape} and 'values' {val.shape} must be 1-D arrays of the same length", path
        )
    if not np.issubdtype(val.dtype, np.floating):
        raise InputFormatError(f"'values' has dtype {val.dtype}, expected floats", path)
    idx = idx.astype(np.int64, copy=False)
    size = int(np.prod(shape))
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise InputFormatError(f"'indices' out of range for shape {shape}", path)
    val = val.astype(np.float32, copy=False)
    if idx.size > 1 and not (np.diff(idx) > 0).all():
        order = np.argsort(idx, kind="stable")
        idx, val = idx[order], val[order]
        if (np.diff(idx) == 0).any():
            raise InputFormatError("'indices' has duplicates", path)
    return shape, idx, val


# ----------------------------------------------------------------------------- read / write


def save_attributions(path, R, sparse=False, kind=None):
    """Write attributions to an ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or Path
        Output file (conventionally ``attr.npz`` dense, ``attr.sparse.npz`` sparse).
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L); stored as float32.
    sparse : bool
        False: dense ``arr_0`` (N, 4, L) float32, readable by
        ``np.load(path)["arr_0"]`` and TF-MoDISco. True: the COO layout of the
        module docstring.
    kind : {"projected", "hypothetical", "raw"}, optional
        Stored under the key ``kind`` (see the module docstring).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    extra = _kind_member(_check_kind(kind))
    if sparse:
        shape, idx, val = to_coo(R)
        atomic_savez(path, format=np.array(FORMAT), shape=np.asarray(shape, np.int64), indices=idx, values=val,
                     **extra)
    else:
        atomic_savez(path, arr_0=_as_array(R), **extra)
    return Path(path)


def attribution_kind(path):
    """What an attribution file says it holds.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str or None
        ``"projected"``, ``"hypothetical"`` or ``"raw"``; None for a file without the key
        (written before sparselrp 0.2, or by another tool).

    Raises
    ------
    InputFormatError
        The key is there but holds something else.
    """
    with _open_npz(path) as npz:
        if "kind" not in npz.files:
            return None
        k = _get(npz, "kind", path)
    if k.shape != () or k.dtype.kind != "U" or str(k) not in KINDS:
        found = repr(str(k)) if k.shape == () and k.dtype.kind == "U" else f"a {k.dtype} array of shape {k.shape}"
        raise InputFormatError(f"key 'kind' must be one of {', '.join(KINDS)}, found {found}", path)
    return str(k)


def load_attributions(path):
    """Read attributions written dense or sparse.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` with key ``arr_0`` (dense) or the sparse COO keys.

    Returns
    -------
    torch.Tensor
        (N, 4, L) float32 on the CPU.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InputFormatError
        Not an npz, neither form's keys, a wrong shape or inconsistent sparse arrays;
        the message starts with the file name.
    """
    with _open_npz(path) as npz:
        if "format" in npz.files:
            shape, idx, val = _check_sparse(npz, path)
            return _tensor(from_coo(shape, idx, val))
        if "arr_0" in npz.files:
            a = _get(npz, "arr_0", path)
            _check_dense(a, path)
            return _tensor(a)
        keys = ", ".join(npz.files) or "none"
        raise InputFormatError(
            f"no attributions: expected key 'arr_0' (dense) or keys {', '.join(_SPARSE_KEYS)} (sparse); "
            f"found keys: {keys}",
            path,
        )


def _member_header(path, key):
    """(shape, dtype) of member ``key`` of an npz without reading its data."""
    from .npz_stream import npz_member_info

    return npz_member_info(path, key)


def attribution_info(path):
    """Form, shape and stored entries of an attribution file, reading headers only.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``format`` ("dense" or "coo"), ``shape`` (N, 4, L), ``nnz`` (stored
        non-zeros; None for dense files, which would need a full read), ``bytes``
        (file size), ``kind`` (see :func:`attribution_kind`).
    """
    with _open_npz(path) as npz:
        files = list(npz.files)
        if "format" in files:
            if any(k not in files for k in _SPARSE_KEYS):
                _check_sparse(npz, path)  # raises the precise error
            fmt, shape = _get(npz, "format", path), _get(npz, "shape", path)
            bad = fmt.shape != () or str(fmt) != FORMAT or shape.shape != (3,)
            bad = bad or not np.issubdtype(shape.dtype, np.integer) or (shape < 0).any() or shape[1] != 4
            if bad:
                _check_sparse(npz, path)  # raises the precise error
        elif "arr_0" not in files:
            load_attributions(path)  # raises the precise error
    if "format" in files:
        vshape, _ = _member_header(path, "values")
        ishape, _ = _member_header(path, "indices")
        if len(vshape) != 1 or ishape[:1] != vshape:
            raise InputFormatError(
                f"'indices' {ishape} and 'values' {vshape} must be 1-D arrays of the same length", path
            )
        return {"format": FORMAT, "shape": tuple(int(v) for v in shape), "nnz": int(vshape[0]),
                "bytes": os.path.getsize(path), "kind": attribution_kind(path)}
    shape, dtype = _member_header(path, "arr_0")
    if len(shape) != 3 or shape[1] != 4:
        raise InputFormatError(f"'arr_0' has shape {shape}, expected attributions (N, 4, L)", path)
    return {"format": "dense", "shape": tuple(shape), "nnz": None, "bytes": os.path.getsize(path),
            "kind": attribution_kind(path)}


def size_ratio(R):
    """Bytes of the dense and the sparse file form of ``R``.

    Both forms are written (compressed, as :func:`save_attributions` does) to
    memory and measured.

    Parameters
    ----------
    R : torch.Tensor or numpy.ndarray
        Attributions (N, 4, L).

    Returns
    -------
    dict
        ``dense_bytes``, ``sparse_bytes``, ``ratio`` = dense / sparse (> 1: the
        sparse form is smaller), ``nnz`` and ``density`` = nnz / (N * 4 * L).
    """
    a = _as_array(R)
    shape, idx, val = to_coo(a)
    dense, sparse = io.BytesIO(), io.BytesIO()
    np.savez_compressed(dense, arr_0=a)
    np.savez_compressed(sparse, format=np.array(FORMAT), shape=np.asarray(shape, np.int64), indices=idx, values=val)
    d, s = dense.getbuffer().nbytes, sparse.getbuffer().nbytes
    return {"dense_bytes": d, "sparse_bytes": s, "ratio": d / s, "nnz": int(idx.size),
            "density": idx.size / a.size if a.size else 0.0}


# ----------------------------------------------------------------------------- streaming


def _write_member(zf, name, shape, dtype, chunks):
    """Write one ``.npy`` member to an open zip from an iterable of array chunks."""
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    expected = int(np.prod(shape)) * dtype.itemsize
    written = 0
    with zf.open(name + ".npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for chunk in chunks:
            c = np.ascontiguousarray(chunk, dtype=dtype).reshape(-1)
            if c.size:
                fh.write(c.view(np.uint8).data)
            written += c.nbytes
    if written != expected:  # pragma: no cover - internal consistency
        raise RuntimeError(f"internal error: wrote {written} bytes for {name}, expected {expected}")


class _Part:
    """One block of samples (a shard file or a spilled batch) with lazy access."""

    def __init__(self, n, length, kind, path=None, idx_path=None, val_path=None, nnz=None, content=None):
        self.n, self.length, self.kind, self.path = n, length, kind, path
        self.idx_path, self.val_path, self._nnz = idx_path, val_path, nnz
        self.content = content   # what the map is: projected / hypothetical / raw / None

    @classmethod
    def from_file(cls, path):
        info = attribution_info(path)
        n, _, length = info["shape"]
        return cls(n, length, info["format"], path=path, nnz=info["nnz"], content=info["kind"])

    def nnz(self):
        if self._nnz is None:
            self._nnz = int(sum(np.count_nonzero(d) for d in self.dense_blocks()))
        return self._nnz

    def coo(self):
        """Local (int64 flat indices, float32 values)."""
        if self.kind == "batch":
            return np.load(self.idx_path).astype(np.int64), np.load(self.val_path)
        if self.kind == FORMAT:
            with _open_npz(self.path) as npz:
                _, idx, val = _check_sparse(npz, self.path)
            return idx, val
        idx_parts, val_parts, offset = [], [], 0
        for d in self.dense_blocks():
            flat = d.reshape(-1)
            i = np.flatnonzero(flat)
            idx_parts.append(i + offset)
            val_parts.append(flat[i])
            offset += flat.size
        if not idx_parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(idx_parts), np.concatenate(val_parts)

    def dense_blocks(self, rows=256):
        """Yield float32 (b, 4, L) blocks of this part in order."""
        if self.kind == "dense":
            from .npz_stream import iter_npz_rows

            for block in iter_npz_rows(self.path, "arr_0", batch_size=rows):
                yield np.asarray(block, dtype=np.float32)
            return
        idx, val = self.coo()  # ascending
        row = 4 * self.length
        for start in range(0, self.n, rows):
            stop = min(start + rows, self.n)
            lo, hi = np.searchsorted(idx, [start * row, stop * row])
            yield from_coo((stop - start, 4, self.length), idx[lo:hi] - start * row, val[lo:hi])


def _counted(blocks, desc, total, progress):
    """Yield ``blocks`` and report the rows they hold (:mod:`sparselrp.progress`)."""
    from ..progress import progress_bar

    with progress_bar(progress, total=total, desc=desc, unit="rows") as bar:
        for b in blocks:
            yield b
            bar.update(b[1] if isinstance(b, tuple) else len(b))


def _write_parts(out, parts, length, sparse, progress=False, kind=None):
    """Stream ``parts`` (in order) into one attribution file at ``out``, atomically."""
    n_total = sum(p.n for p in parts)
    shape = (n_total, 4, length)
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            if kind is not None:
                _write_member(zf, "kind", (), np.dtype(f"<U{len(kind)}"), [np.array(kind)])
            if not sparse:
                _write_member(zf, "arr_0", shape, np.float32,
                              _counted((b for p in parts for b in p.dense_blocks()), "merge", n_total, progress))
            else:
                idt = _index_dtype(int(np.prod(shape)))
                nnz = sum(p.nnz() for p in parts)
                _write_member(zf, "format", (), np.dtype("<U3"), [np.array(FORMAT)])
                _write_member(zf, "shape", (3,), np.int64, [np.asarray(shape, np.int64)])
                offsets = np.cumsum([0] + [p.n * 4 * length for p in parts])

                def indices():
                    for p, off in zip(parts, offsets):
                        yield p.coo()[0] + off

                def rows(chunks):  # progress counts the rows of each part, not its entries
                    for p, c in zip(parts, chunks):
                        yield c, p.n

                def chunks(pairs):
                    for c, _ in pairs:
                        yield c

                _write_member(zf, "indices", (nnz,), idt,
                              chunks(_counted(rows(indices()), "merge indices", n_total, progress)))
                _write_member(zf, "values", (nnz,), np.float32,
                              chunks(_counted(rows(p.coo()[1] for p in parts), "merge values", n_total, progress)))
    return shape


def merge_attributions(paths, out, sparse=False, progress=False):
    """Concatenate attribution files (dense or sparse, mixed) along N into ``out``.

    Streams: at most one shard (for sparse output) or a block of 256 dense rows
    (for dense output from dense shards) is in memory at a time. Written atomically.

    Parameters
    ----------
    paths : sequence of str or Path
        Shards in order; all with the same L.
    out : str or Path
        Output file.
    sparse : bool
        Write the sparse COO form instead of dense ``arr_0``.
    progress : bool or str
        Report rows written (:func:`sparselrp.progress.progress_bar`).

    Returns
    -------
    tuple of int
        The shape (N_total, 4, L) written.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("merge_attributions: no input files")
    parts = [_Part.from_file(p) for p in paths]
    length = parts[0].length
    kinds = {p.content for p in parts}
    if len(kinds) > 1:
        named = ", ".join(f"{p.path}: {p.content or 'no kind'}" for p in parts)
        raise InputFormatError(f"shards hold different kinds of attributions ({named}); merge like with like",
                               parts[0].path)
    for p in parts[1:]:
        if p.length != length:
            raise InputFormatError(
                f"sequence length {p.length} differs from {length} in {paths[0]}; shards must share L", p.path
            )
    return _write_parts(out, parts, length, sparse, progress=progress, kind=kinds.pop())


class AttributionWriter:
    """Write attributions batch by batch; the file(s) appear complete at close.

    Each :meth:`append` converts the batch to COO and spills it to a temporary
    directory beside ``path``; :meth:`close` streams the spilled batches into the
    output (and into the optional dense file), atomically. Peak memory is one
    batch (plus, for dense output, its densified copy). If the writer is left
    through an exception (``with`` block) or :meth:`abort` is called, the
    temporary files are removed and no output is written.

    Parameters
    ----------
    path : str or Path
        Main output file.
    sparse : bool
        Write ``path`` in the sparse COO form (default) or dense.
    dense_path : str or Path, optional
        Also write a dense ``arr_0`` file here (e.g. for TF-MoDISco).
    length : int, optional
        L, needed only to write an empty file when no batch was appended.
    kind : {"projected", "hypothetical", "raw"}, optional
        Stored under the key ``kind`` in every file written.

    Examples
    --------
    >>> with AttributionWriter("attr.sparse.npz", dense_path="attr.npz") as w:  # doctest: +SKIP
    ...     for X in batches:
    ...         w.append(sl.lrp(model, X, pruning=sl.MassPrune(0.5)))
    """

    def __init__(self, path, sparse=True, dense_path=None, length=None, kind=None):
        self.kind = _check_kind(kind)
        self.path = Path(path)
        self.sparse = bool(sparse)
        self.dense_path = None if dense_path is None else Path(dense_path)
        self.length = length
        self.n = 0
        self.nnz = 0
        self._parts = []
        self.closed = False
        _check_dir(self.path)
        if self.dense_path is not None:
            _check_dir(self.dense_path)
        self._tmpdir = tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".parts", dir=self.path.parent)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmpdir, True)

    def append(self, R):
        """Add a batch of attributions (b, 4, L) (tensor on any device, or array)."""
        if self.closed:
            raise ValueError(f"{self.path}: writer is closed")
        a = _as_array(R)
        if self.length is None:
            self.length = a.shape[2]
        elif a.shape[2] != self.length:
            raise ValueError(f"{self.path}: batch has length L = {a.shape[2]}, expected {self.length}")
        flat = a.reshape(-1)
        idx = np.flatnonzero(flat)
        k = len(self._parts)
        idx_path = os.path.join(self._tmpdir, f"{k:08d}.idx.npy")
        val_path = os.path.join(self._tmpdir, f"{k:08d}.val.npy")
        np.save(idx_path, idx.astype(np.int64))
        np.save(val_path, flat[idx])
        self._parts.append(_Part(a.shape[0], self.length, "batch", idx_path=idx_path, val_path=val_path,
                                 nnz=int(idx.size)))
        self.n += a.shape[0]
        self.nnz += int(idx.size)

    def close(self):
        """Write the output file(s) and remove the temporary files.

        Returns
        -------
        tuple of int
            The shape (N, 4, L) written.
        """
        if self.closed:
            raise ValueError(f"{self.path}: writer is already closed")
        try:
            if self.length is None:
                raise ValueError(f"{self.path}: no batch appended and no length= given; nothing to write")
            if self.dense_path is not None:
                _write_parts(self.dense_path, self._parts, self.length, sparse=False, kind=self.kind)
            shape = _write_parts(self.path, self._parts, self.length, sparse=self.sparse, kind=self.kind)
        finally:
            self.closed = True
            self._cleanup()
        return shape

    def abort(self):
        """Discard everything appended; write nothing."""
        self.closed = True
        self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        elif not self.closed:
            self.close()
        return False
