"""Atomic file writing: write to a temporary file beside the target, then rename.

A run that fails or is interrupted never leaves a half-written output: the
target holds either its complete old content or its complete new content.
"""

import contextlib
import os
import tempfile
from pathlib import Path


def _check_dir(path):
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise FileNotFoundError(f"{path}: output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{path}: output directory {parent} is not writable")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or Path
        The final output path.
    suffix : str, optional
        Suffix of the temporary file (some writers, e.g. ``np.savez``, append
        their own suffix unless the name already ends with it). Defaults to the
        suffix of ``path``.
    """
    path = Path(path)
    _check_dir(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent or ".")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates mode 0600; give the output the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open a temporary file for writing; rename it onto ``path`` when closed cleanly.

    Parameters
    ----------
    path : str or Path
        The final output path.
    mode : str
        ``"w"`` (text) or ``"wb"`` (binary).
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``, ``newline``).
    """
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def atomic_savez(path, compressed=True, **arrays):
    """Save arrays to ``path`` (``.npz``) atomically.

    Parameters
    ----------
    path : str or Path
        Output ``.npz`` path.
    compressed : bool
        Use ``np.savez_compressed``.
    **arrays
        Named arrays, e.g. ``arr_0=X``.
    """
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_open(path, "wb") as fh:
        save(fh, **arrays)
