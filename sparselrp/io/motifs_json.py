"""Motifs as JSON (every field of :class:`sparselrp.motifs.Motif`, matches included).

Layout::

    {"format": "sparselrp-motifs", "version": 1, "motifs": [Motif.to_dict(), ...]}
"""

from __future__ import annotations

import json

from .._atomic import atomic_open
from ..errors import InputFormatError
from .jsonfile import finite_json, read_json

__all__ = ["write_motifs_json", "read_motifs_json"]

FORMAT = "sparselrp-motifs"
VERSION = 1


def write_motifs_json(path, motifs, metadata=None):
    """Write motifs to a JSON file, atomically.

    Parameters
    ----------
    path : str or Path
        Output file.
    motifs : list of Motif
    metadata : dict, optional
        Extra JSON-serialisable information stored under ``"metadata"``.
    """
    from ..motifs.motif import Motif

    for m in motifs:
        if not isinstance(m, Motif):
            raise TypeError(f"write_motifs_json expects Motif objects, got {type(m).__name__}")
    doc = {"format": FORMAT, "version": VERSION, "motifs": [m.to_dict() for m in motifs]}
    if metadata:
        doc["metadata"] = metadata
    text = json.dumps(finite_json(doc), indent=1, allow_nan=False)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def read_motifs_json(path, with_metadata=False):
    """Read motifs written by :func:`write_motifs_json`.

    Parameters
    ----------
    path : str or Path
    with_metadata : bool
        Also return the ``metadata`` dict.

    Returns
    -------
    list of Motif, or (list of Motif, dict) with ``with_metadata``

    Raises
    ------
    InputFormatError
        Not valid JSON, not a sparselrp motifs file, or a malformed motif.
    """
    from ..motifs.motif import Motif

    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("motifs"), list):
        raise InputFormatError(f"not a sparselrp motifs file (expected an object with \"format\": \"{FORMAT}\" "
                               "and a \"motifs\" list)", path)
    motifs = []
    for i, d in enumerate(doc["motifs"]):
        try:
            motifs.append(Motif.from_dict(d))
        except (ValueError, TypeError) as exc:
            raise InputFormatError(f"motif {i}: {exc}", path) from None
    if with_metadata:
        meta = doc.get("metadata") or {}
        return motifs, meta if isinstance(meta, dict) else {}
    return motifs
