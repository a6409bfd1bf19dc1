"""Read one array of an ``.npz`` file in row blocks without loading all of it.

``np.load`` decompresses a whole member of a compressed ``.npz`` at once; a
genome-scale one-hot shard (N, 4, L) can be larger than memory. This reader
parses the ``.npy`` header of the member and decodes ``batch_size`` rows at a
time from the zip stream, so peak memory is set by the batch.
"""

import struct
import zipfile
import zlib

import numpy as np

from ..errors import InputFormatError


def npz_member_info(path, key="arr_0"):
    """Shape and dtype of ``key`` in the ``.npz`` at ``path`` without reading its data.

    Returns
    -------
    shape : tuple of int
    dtype : numpy.dtype
    """
    with _open_member(path, key) as fh:
        shape, _, dtype = _read_header(fh, path, key)
    return shape, dtype


def iter_npz_rows(path, key="arr_0", batch_size=256):
    """Yield consecutive blocks of rows of array ``key`` stored in an ``.npz``.

    Parameters
    ----------
    path : str or Path
        An ``.npz`` file (compressed or not).
    key : str
        Member name, ``arr_0`` by default.
    batch_size : int
        Rows (first-axis entries) per block.

    Yields
    ------
    numpy.ndarray
        Blocks of shape (b, *shape[1:]) with b <= batch_size, in file order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with _open_member(path, key) as fh:
        shape, fortran, dtype = _read_header(fh, path, key)
        if fortran and len(shape) > 1:
            raise InputFormatError(f"array {key!r} is stored in Fortran order; re-save it in C order", path)
        n = shape[0] if shape else 1
        row_items = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        row_bytes = row_items * dtype.itemsize
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            try:
                buf = fh.read(rows * row_bytes)
            except _CORRUPT as exc:
                raise InputFormatError(f"array {key!r} is corrupt ({_why(exc)}); re-create the file", path) from None
            if len(buf) != rows * row_bytes:
                raise InputFormatError(f"array {key!r} is truncated; re-create the file", path)
            yield np.frombuffer(buf, dtype=dtype).reshape((rows,) + tuple(shape[1:])).copy()


# what a damaged zip member raises while it is read: bad CRC, a broken deflate stream, a cut-off file
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, OSError)


def _why(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _open_member(path, key):
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputFormatError("not an .npz file (or a damaged one); re-create it", path) from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except _CORRUPT as exc:
        raise InputFormatError(f"not a readable .npz file ({_why(exc)}); re-create it", path) from None
    name = key + ".npy"
    if name not in zf.namelist():
        zf.close()
        raise InputFormatError(f"no array {key!r} in file (has: {', '.join(n[:-4] for n in zf.namelist())})", path)
    try:
        member = zf.open(name)
    except _CORRUPT as exc:
        zf.close()
        raise InputFormatError(f"array {key!r} is corrupt ({_why(exc)}); re-create the file", path) from None

    class _Closing:
        def __enter__(self):
            return member

        def __exit__(self, *exc):
            member.close()
            zf.close()

    return _Closing()


def _read_header(fh, path, key):
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except ValueError as exc:
        raise InputFormatError(f"array {key!r} has an unreadable header ({_why(exc)})", path) from None
    except _CORRUPT as exc:
        raise InputFormatError(f"array {key!r} is corrupt ({_why(exc)}); re-create the file", path) from None
    if dtype.hasobject:
        raise InputFormatError(f"array {key!r} holds Python objects; refusing to unpickle", path)
    return tuple(shape), fortran, dtype
