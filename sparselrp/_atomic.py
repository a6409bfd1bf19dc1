"""Atomic file writing: write to a temporary file beside the target, then rename.

A run that fails or is interrupted never leaves a half-written output: the
target holds either its complete old content or its complete new content.

Temporaries are hidden files ``.NAME.pPIDhHOST.XXXXXXXX.tmp[.SUFFIX]`` beside
the target ``NAME`` (PID: the writing process, HOST: a hash of its host name).
A failing write removes its temporary and, when the disk is full, raises
:class:`DiskFullError` naming the target. A process killed with SIGKILL cannot
remove its temporary; the next write of the same target on the same host
removes those whose process no longer runs, and never one that a running
writer still uses.
"""

import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
import zlib
from pathlib import Path

__all__ = ["atomic_path", "atomic_open", "atomic_savez", "remove_stale_temporaries", "DiskFullError"]


class DiskFullError(OSError):
    """No space left on the device while writing an output; nothing was written.

    An :class:`OSError` with ``errno`` ``ENOSPC`` whose message names the output.
    """

    def __init__(self, path):
        super().__init__(f"{path}: no space left on device while writing it; nothing was written "
                         f"(free some space, or write to another disk)")
        self.errno = errno.ENOSPC
        self.path = str(path)


def _host_tag():
    return f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFFFFFF:08x}"


def _owner_tag():
    return f"p{os.getpid()}h{_host_tag()}"


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def remove_stale_temporaries(path):
    """Remove temporaries of ``path`` left by writers on this host that no longer run.

    Parameters
    ----------
    path : str or Path
        An output path.

    Returns
    -------
    list of Path
        What was removed.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(r"^\.+" + re.escape(path.name) + r"\.p(\d+)h([0-9a-f]{8})\.")
    host = _host_tag()
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = pattern.match(p.name)
        if m is None or m.group(2) != host or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


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
    remove_stale_temporaries(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_owner_tag()}.", suffix=".tmp" + suffix,
                               dir=path.parent or ".")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates mode 0600; give the output the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and not isinstance(exc, DiskFullError):
            raise DiskFullError(path) from exc
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
