"""Matching motifs against JASPAR, offline (the pyjaspar package ships the databases).

Similarity p-values come from memelite's TOMTOM implementation (the "complete
score" of Gupta et al. 2007: Euclidean distance between probability columns,
p-values from the per-column score distributions against all target columns,
both orientations of each target). q-values are Benjamini-Hochberg over each
query's p-values against all targets, as TOMTOM reports them.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from .motif import Motif

__all__ = ["load_jaspar", "load_meme_db", "match_jaspar", "jaspar_releases", "benjamini_hochberg", "tomtom_pvalues",
           "precompile"]


def jaspar_releases():
    """JASPAR releases shipped with pyjaspar, newest first (e.g. ``["JASPAR2026", ...]``)."""
    from pyjaspar import jaspardb

    return list(jaspardb().get_releases())


def _resolve_release(release):
    releases = jaspar_releases()
    if release is None:
        return releases[0]
    rel = str(release)
    if rel.isdigit():
        rel = f"JASPAR{rel}"
    if rel not in releases:
        raise ValueError(f"unknown JASPAR release {release!r}; shipped: {', '.join(releases)}")
    return rel


@functools.lru_cache(maxsize=16)
def _load(release, collection, tax_group, all_versions):
    from pyjaspar import jaspardb

    db = jaspardb(release=release)
    kw = {"collection": collection, "all_versions": all_versions}
    if tax_group is not None:
        kw["tax_group"] = [tax_group] if isinstance(tax_group, str) else list(tax_group)
    out = []
    for m in db.fetch_motifs(**kw):
        counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)
        tot = counts.sum(0, keepdims=True)
        if counts.size == 0 or np.any(tot <= 0):
            continue
        pwm = counts / tot
        pwm.setflags(write=False)
        out.append((m.matrix_id, m.name, pwm))
    return tuple(out)


def load_jaspar(release=None, collection="CORE", tax_group="vertebrates", all_versions=False):
    """Load JASPAR matrices from the database shipped with pyjaspar (cached per process).

    Parameters
    ----------
    release : str or int, optional
        ``"JASPAR2024"`` or ``2024``; default the newest shipped release.
    collection : str
        JASPAR collection, e.g. ``"CORE"``.
    tax_group : str or sequence of str or None
        Taxonomic group(s), e.g. ``"vertebrates"``; None for all.
    all_versions : bool
        Include older versions of each matrix.

    Returns
    -------
    list of (str, str, numpy.ndarray)
        ``(matrix_id, name, pwm)`` with ``pwm`` of shape (4, W), rows A, C, G, T,
        columns summing to 1 (read-only arrays shared by the cache).
    """
    rel = _resolve_release(release)
    tg = tax_group if tax_group is None or isinstance(tax_group, str) else tuple(tax_group)
    targets = list(_load(rel, collection, tg, bool(all_versions)))
    if not targets:
        raise ValueError(f"no JASPAR matrices for release {rel}, collection {collection!r}, "
                         f"tax_group {tax_group!r}")
    return targets


def benjamini_hochberg(p):
    """Benjamini-Hochberg q-values of the p-values along the last axis.

    Parameters
    ----------
    p : array_like, shape (..., T)

    Returns
    -------
    numpy.ndarray, shape (..., T)
        ``q_i = min_{j: p_j >= p_i} p_j * T / rank_j``, capped at 1.
    """
    p = np.asarray(p, dtype=np.float64)
    t = p.shape[-1]
    if t == 0:
        return p.copy()
    order = np.argsort(p, axis=-1, kind="stable")
    ps = np.take_along_axis(p, order, axis=-1)
    q = ps * t / np.arange(1, t + 1)
    q = np.minimum.accumulate(q[..., ::-1], axis=-1)[..., ::-1]
    q = np.minimum(q, 1.0)
    out = np.empty_like(q)
    np.put_along_axis(out, order, q, axis=-1)
    return out


def _query_matrix(m):
    if isinstance(m, Motif):
        return m.pwm
    if isinstance(m, tuple) and len(m) == 2:
        return np.asarray(m[1], dtype=np.float64)
    return np.asarray(m, dtype=np.float64)


def tomtom_pvalues(queries, targets):
    """TOMTOM comparison of query PWMs with target PWMs (memelite).

    Parameters
    ----------
    queries : list of numpy.ndarray, each (4, Wq)
    targets : list of numpy.ndarray, each (4, Wt)

    Returns
    -------
    p, score, offset, overlap, strand : numpy.ndarray, each (len(queries), len(targets))
        As returned by :func:`memelite.tomtom.tomtom` (strand 0 = target as
        given, 1 = its reverse complement).
    """
    from memelite.tomtom import tomtom

    Qs = [np.ascontiguousarray(q, dtype=np.float64) for q in queries]
    Ts = [np.ascontiguousarray(t, dtype=np.float64) for t in targets]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, score, offset, overlap, strand = tomtom(Qs, Ts)
    return p, score, offset, overlap, strand


def load_meme_db(path):
    """Target matrices from a MEME database file (HOCOMOCO, Vierstra, ...).

    Parameters
    ----------
    path : str or Path
        A MEME minimal-format file of probability matrices.

    Returns
    -------
    list of (str, str, numpy.ndarray)
        ``(motif id, alternate name or id, pwm (4, W))`` in file order.

    Raises
    ------
    InputFormatError
        An unreadable or malformed file (the message names file and line), or
        one without motifs.
    """
    from ..errors import InputFormatError
    from ..io.meme import parse_meme, read_meme

    read_meme(path)  # the strict checks: undecodable bytes, NUL, malformed blocks
    with open(path, encoding="utf-8-sig") as fh:
        parsed = parse_meme(fh.read(), path=str(path))
    if not parsed:
        raise InputFormatError("the MEME database holds no motifs", path)
    return [(name, alt or name, pwm) for name, alt, pwm, _ in parsed]


def match_jaspar(motifs, release=None, collection="CORE", tax_group="vertebrates", top=5, targets=None,
                 meme_db=None, jaspar=True):
    """Compare motifs with JASPAR (and other MEME databases) and fill each motif's ``matches``.

    Parameters
    ----------
    motifs : list of Motif
        Query motifs (their PWMs are compared).
    release, collection, tax_group
        Which JASPAR matrices; see :func:`load_jaspar`.
    top : int
        Number of matches kept per motif (sorted by p-value).
    targets : list of (id, name, pwm), optional
        Compare with these matrices instead of JASPAR.
    meme_db : str or Path or list of them, optional
        MEME database files (HOCOMOCO, Vierstra, ...) to compare with besides
        JASPAR; q-values are over all targets together.
    jaspar : bool
        False: compare with ``meme_db`` (or ``targets``) only.

    Returns
    -------
    list of Motif
        The same objects, with ``matches`` set to dicts with keys
        ``target_id``, ``target_name``, ``p`` and ``q`` (also as ``p_value`` and
        ``q_value``), ``database`` (``"JASPAR2026"``, a MEME file's name, or
        ``"targets"``), ``offset``
        (the column of the target, in the given orientation, aligned with the
        motif's first column; negative when the motif starts before the
        target), ``orientation`` (``"+"`` target as stored, ``"-"`` its reverse
        complement), ``score`` (TOMTOM's score) and ``overlap`` (aligned columns).
    """
    motifs = list(motifs)
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if not motifs:
        return motifs
    for m in motifs:
        if not isinstance(m, Motif):
            raise TypeError(f"match_jaspar expects Motif objects, got {type(m).__name__}")
    sources = []
    if targets is not None:
        sources = [("targets", t) for t in targets]
    elif jaspar:
        rel = _resolve_release(release)
        sources = [(rel, t) for t in load_jaspar(rel, collection=collection, tax_group=tax_group)]
    if meme_db is not None:
        from pathlib import Path

        for db in [meme_db] if isinstance(meme_db, (str, Path)) else list(meme_db):
            sources += [(Path(db).name, t) for t in load_meme_db(db)]
    targets = [t for _, t in sources]
    if not targets:
        raise ValueError("no target matrices to compare with")
    queries = []
    for m in motifs:
        q = np.asarray(m.pwm, dtype=np.float64)
        if q.shape[1] == 0 or not np.any(q):
            q = np.full((4, max(q.shape[1], 1)), 0.25)
        queries.append(q)
    p, score, offset, overlap, strand = tomtom_pvalues(queries, [t[2] for t in targets])
    p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
    q = benjamini_hochberg(p)
    for i, m in enumerate(motifs):
        order = np.lexsort((np.arange(p.shape[1]), -score[i], p[i]))[:top]
        m.matches = [
            {
                "target_id": str(targets[j][0]),
                "target_name": str(targets[j][1]),
                "p": float(p[i, j]),
                "q": float(q[i, j]),
                "database": sources[j][0],
                "p_value": float(p[i, j]),
                "q_value": float(q[i, j]),
                "offset": int(offset[i, j]),
                "orientation": "-" if int(strand[i, j]) == 1 else "+",
                "score": float(score[i, j]),
                "overlap": int(overlap[i, j]),
            }
            for j in order
        ]
    return motifs


def precompile(modisco=True):
    """Run one tiny TOMTOM comparison (and one tiny tfmodisco-lite run) so numba compiles and caches
    memelite's (and tfmodisco-lite's) kernels.

    The first comparison in a fresh environment compiles for 30 s to a few
    minutes; numba caches the result on disk, so later processes start at
    once. Calling this while setting up an environment moves that cost out of
    the first real run.

    Parameters
    ----------
    modisco : bool
        Also warm tfmodisco-lite (:func:`sparselrp.motifs.modisco.precompile`).
    """
    if modisco:
        from .modisco import precompile as modisco_precompile

        modisco_precompile()  # first: tfmodisco-lite forks its compiling children only from a single thread
    rng = np.random.default_rng(0)
    targets = [rng.dirichlet(np.ones(4), size=6).T for _ in range(30)]
    tomtom_pvalues([targets[0][:, 1:5]], targets)
