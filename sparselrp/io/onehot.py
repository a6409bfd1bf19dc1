"""One-hot sequence files (``.npz``), as ``sparselrp encode`` writes them.

Layout (all arrays, no pickled objects):

- ``arr_0``: ``(N, 4, L)`` float32 one-hot, rows A, C, G, T (what
  ``modisco motifs -s ohe.npz`` reads);
- ``names``: ``(N,)`` str, the sequence names;
- when the genome coordinates are known: ``chrom`` ``(N,)`` str, ``start``
  and ``end`` ``(N,)`` int64 (0-based half-open), ``strand`` ``(N,)`` str.
"""

import dataclasses
import zipfile
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_savez
from ..errors import InputFormatError

__all__ = ["save_onehot", "load_onehot", "OneHot", "COORD_KEYS"]

#: Keys of the optional coordinate arrays.
COORD_KEYS = ("chrom", "start", "end", "strand")


@dataclasses.dataclass
class OneHot:
    """A loaded one-hot file.

    Attributes
    ----------
    X : torch.Tensor
        ``(N, 4, L)`` float32.
    names : list of str
        ``N`` names (``"0"``, ``"1"``, ... when the file has none).
    coords : dict or None
        ``chrom``, ``start``, ``end``, ``strand`` arrays of shape ``(N,)``,
        or None when the file has no coordinates.
    """

    X: torch.Tensor
    names: list
    coords: dict | None = None

    def __len__(self):
        return self.X.shape[0]


def _as_array(X):
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != 4:
        raise ValueError(f"one-hot must have shape (N, 4, L), got {X.shape}")
    return X.astype(np.float32, copy=False)


def save_onehot(path, X, names=None, coords=None):
    """Write one-hot sequences to an ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or Path
        Output file (``np.savez_compressed``; written to a temporary file
        beside it and renamed, so a failed run leaves no partial file).
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)``, stored as float32 under ``arr_0``.
    names : sequence of str, optional
        ``N`` names (default ``"0"`` ... ``"N-1"``).
    coords : dict, optional
        ``chrom``, ``start``, ``end`` and optionally ``strand`` (default
        ``"."``), each of length ``N``.

    Raises
    ------
    ValueError
        Wrong shapes or lengths.
    FileNotFoundError, PermissionError
        Missing or read-only output directory.
    """
    A = _as_array(X)
    n = A.shape[0]
    names = [str(i) for i in range(n)] if names is None else [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} sequences")
    arrays = {"arr_0": A, "names": np.array(names, dtype=str).reshape(n)}
    if coords is not None:
        missing = [k for k in ("chrom", "start", "end") if k not in coords]
        if missing:
            raise ValueError(f"coords lack {', '.join(missing)}")
        strand = coords.get("strand")
        arrays["chrom"] = np.asarray(coords["chrom"], dtype=str).reshape(-1)
        arrays["start"] = np.asarray(coords["start"], dtype=np.int64).reshape(-1)
        arrays["end"] = np.asarray(coords["end"], dtype=np.int64).reshape(-1)
        arrays["strand"] = (np.full(n, ".", dtype=str) if strand is None
                            else np.asarray(strand, dtype=str).reshape(-1))
        for k in COORD_KEYS:
            if arrays[k].shape[0] != n:
                raise ValueError(f"coords[{k!r}] has {arrays[k].shape[0]} entries for {n} sequences")
    atomic_savez(path, compressed=True, **arrays)


def load_onehot(path):
    """Read a one-hot ``.npz`` file (never unpickles).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    OneHot
        ``X`` ``(N, 4, L)`` float32 tensor, ``names``, ``coords``.

    Raises
    ------
    FileNotFoundError
        Missing file.
    InputFormatError
        Not an ``.npz`` archive, no ``arr_0``, a shape other than
        ``(N, 4, L)``, object arrays, or names/coordinates of the wrong length.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "one-hot file not found", str(path))
    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):
            raise InputFormatError("is a single .npy array, expected an .npz archive with key 'arr_0'", path)
        with z:
            if "arr_0" not in z.files:
                raise InputFormatError(
                    f"no 'arr_0' array (keys: {', '.join(z.files) or 'none'}); expected one-hot (N, 4, L)", path)
            A = z["arr_0"]
            names = z["names"] if "names" in z.files else None
            coords = {k: z[k] for k in COORD_KEYS if k in z.files}
    except InputFormatError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFormatError(f"not a readable .npz one-hot file ({msg})", path) from None
    if A.ndim != 3 or A.shape[1] != 4:
        raise InputFormatError(f"'arr_0' has shape {A.shape}, expected (N, 4, L)", path)
    if not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)
            or A.dtype == bool):
        raise InputFormatError(f"'arr_0' has dtype {A.dtype}, expected numbers", path)
    n = A.shape[0]
    if names is None:
        names = [str(i) for i in range(n)]
    else:
        if names.ndim != 1 or names.shape[0] != n:
            raise InputFormatError(f"'names' has shape {names.shape}, expected ({n},)", path)
        names = [str(s) for s in names.tolist()]
    if coords:
        missing = [k for k in ("chrom", "start", "end") if k not in coords]
        if missing:
            raise InputFormatError(f"coordinates incomplete: no {', '.join(missing)}", path)
        for k, v in coords.items():
            if v.ndim != 1 or v.shape[0] != n:
                raise InputFormatError(f"{k!r} has shape {v.shape}, expected ({n},)", path)
        try:
            coords = {
                "chrom": coords["chrom"].astype(str),
                "start": coords["start"].astype(np.int64),
                "end": coords["end"].astype(np.int64),
                "strand": coords["strand"].astype(str) if "strand" in coords else np.full(n, ".", dtype=str),
            }
        except (ValueError, TypeError) as exc:
            raise InputFormatError(f"bad coordinate arrays ({exc})", path) from None
    else:
        coords = None
    return OneHot(X=torch.from_numpy(np.ascontiguousarray(A, dtype=np.float32)), names=names, coords=coords)
