"""tfmodisco-lite files: the results HDF5 (what Fi-NeMo's ``call-hits`` reads) and the
one-hot / hypothetical npz pair (what ``modisco motifs -s ohe.npz -a hyp.npz`` reads).

The HDF5 is written by tfmodisco-lite's own writer (``modiscolite.io.save_hdf5``) from
patterns rebuilt with tfmodisco-lite's ``TrackSet`` / ``SeqletSet`` out of each motif's
untrimmed seqlet coordinates, so its layout is tfmodisco-lite's::

    attrs: window_size
    pos_patterns/pattern_0/sequence                 (w, 4) base frequencies
                          /contrib_scores           (w, 4) mean contribution (CWM)
                          /hypothetical_contribs    (w, 4) mean hypothetical score (hCWM)
                          /seqlets/n_seqlets        (1,)
                          /seqlets/{start,end,example_idx,is_revcomp}      (n,)
                          /seqlets/{sequence,contrib_scores,hypothetical_contribs}  (n, w, 4)
    neg_patterns/...                                the same for negative patterns

Matrices are untrimmed (length-last, as tfmodisco-lite stores them); readers trim.
"""

from __future__ import annotations

import re

import numpy as np

from .._atomic import atomic_path, atomic_savez
from ..errors import InputFormatError

__all__ = ["write_modisco_h5", "read_modisco_h5", "write_modisco_npz"]

_NAME = re.compile(r"^(pos|neg)_patterns\.pattern_(\d+)$")


def _arrays(X, H):
    from ..motifs.modisco import _as_numpy

    X = _as_numpy(X, "X")
    H = _as_numpy(H, "hypothetical scores")
    if X.shape != H.shape:
        raise ValueError(f"hypothetical scores have shape {H.shape} but X has shape {X.shape}")
    return X, H


def write_modisco_h5(path, motifs, X, H, window_size=None):
    """Write motifs as a tfmodisco-lite results HDF5, atomically.

    Parameters
    ----------
    path : str or Path
        Output ``.h5`` file.
    motifs : list of Motif
        From :func:`sparselrp.motifs.discover` (each needs its ``seqlets`` and
        ``sign``). Positive and negative motifs go to ``pos_patterns`` and
        ``neg_patterns``, as ``pattern_0, pattern_1, ...`` in list order within each
        sign (names like ``pos_patterns.pattern_3`` keep their index when every motif
        of that sign has one).
    X : array_like, shape (N, 4, L)
        The one-hot sequences the motifs were found in.
    H : array_like, shape (N, 4, L)
        The hypothetical scores they were found with.
    window_size : int, optional
        The ``window_size`` attribute (the width of the analysed window around the
        centre, as ``modisco motifs -w``); default ``L``.

    Raises
    ------
    ValueError
        A motif without seqlets, seqlets outside the sequences, or seqlets of unequal
        width within a motif.
    """
    from modiscolite import core
    from modiscolite import io as mio

    from ..motifs.motif import Motif

    X, H = _arrays(X, H)
    n, _, length = X.shape
    one_hot = np.ascontiguousarray(X.transpose(0, 2, 1))
    hyp = np.ascontiguousarray(H.transpose(0, 2, 1))
    track_set = core.TrackSet(one_hot=one_hot, contrib_scores=one_hot * hyp, hypothetical_contribs=hyp)
    groups = {"positive": [], "negative": []}
    for m in motifs:
        if not isinstance(m, Motif):
            raise TypeError(f"write_modisco_h5 expects Motif objects, got {type(m).__name__}")
        if not m.seqlets:
            raise ValueError(f"motif {m.name} has no seqlet coordinates (not from sparselrp.motifs.discover?)")
        widths = {e - s for _, s, e, _ in m.seqlets}
        if len(widths) != 1:
            raise ValueError(f"motif {m.name}: seqlets of unequal widths {sorted(widths)}")
        for seq, s, e, _ in m.seqlets:
            if seq >= n or e > length:
                raise ValueError(f"motif {m.name}: seqlet ({seq}, {s}, {e}) lies outside the {n} sequences of "
                                 f"length {length}")
        seqlets = track_set.create_seqlets([core.Seqlet(example_idx=seq, start=s, end=e, is_revcomp=strand == "-")
                                            for seq, s, e, strand in m.seqlets])
        groups[m.sign].append((m.name, core.SeqletSet(seqlets, track_set=track_set)))
    ordered = {}
    for sign, prefix in (("positive", "pos"), ("negative", "neg")):
        items = groups[sign]
        idx = [(_NAME.match(name), pattern) for name, pattern in items]
        if all(mt is not None and mt.group(1) == prefix for mt, _ in idx) and \
                sorted(int(mt.group(2)) for mt, _ in idx) == list(range(len(idx))):
            items = [p for _, p in sorted(idx, key=lambda t: int(t[0].group(2)))]
        else:
            items = [p for _, p in items]
        ordered[sign] = items or None
    with atomic_path(path, suffix=".h5") as tmp:
        mio.save_hdf5(str(tmp), ordered["positive"], ordered["negative"], int(window_size or length))
        import gc

        gc.collect()  # save_hdf5 leaves its h5py.File to the garbage collector; close it before the rename


def read_modisco_h5(path, trim_threshold=0.3):
    """Read a tfmodisco-lite results HDF5 into Motif objects.

    Parameters
    ----------
    path : str or Path
    trim_threshold : float
        Trim each pattern to the columns whose summed |CWM| reaches this share of
        the largest (tfmodisco-lite's report and Fi-NeMo use 0.3).

    Returns
    -------
    list of Motif
        ``pos_patterns`` then ``neg_patterns``, each by pattern index; names
        ``pos_patterns.pattern_0`` etc.

    Raises
    ------
    InputFormatError
        Not an HDF5 file, or a pattern lacks a dataset.
    """
    import h5py

    from ..motifs.modisco import _trim_range
    from ..motifs.motif import Motif

    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        if not __import__("os").path.exists(path):
            raise FileNotFoundError(f"{path}: no such file") from None
        raise InputFormatError(f"not an HDF5 file ({str(exc).splitlines()[0][:80]})", path) from None
    motifs = []
    with fh:
        for group, sign in (("pos_patterns", "positive"), ("neg_patterns", "negative")):
            if group not in fh:
                continue
            try:
                names = sorted(fh[group], key=lambda k: int(k.rsplit("_", 1)[-1]) if k.rsplit("_", 1)[-1].isdigit()
                               else 0)
            except (TypeError, AttributeError, ValueError, OSError):
                raise InputFormatError(f"{group} is not a group of patterns; not a tfmodisco-lite results file",
                                       path) from None
            for name in names:
                try:
                    g = fh[group][name]
                    ppm = np.asarray(g["sequence"][:], dtype=np.float64).T
                    cwm = np.asarray(g["contrib_scores"][:], dtype=np.float64).T
                    hcwm = np.asarray(g["hypothetical_contribs"][:], dtype=np.float64).T
                    sq = g["seqlets"]
                    seqlets = list(zip(sq["example_idx"][:].tolist(), sq["start"][:].tolist(), sq["end"][:].tolist(),
                                       ["-" if r else "+" for r in sq["is_revcomp"][:].tolist()]))
                except KeyError as exc:
                    raise InputFormatError(f"{group}/{name} lacks {exc.args[0] if exc.args else 'a dataset'}; "
                                           "not a tfmodisco-lite results file", path) from None
                except (ValueError, TypeError, IndexError, AttributeError, OSError) as exc:
                    why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise InputFormatError(f"{group}/{name} is unreadable ({why}); not a tfmodisco-lite results file",
                                           path) from None
                if ppm.ndim != 2 or ppm.shape[0] != 4 or ppm.shape[1] < 1 or cwm.shape != ppm.shape \
                        or hcwm.shape != ppm.shape:
                    raise InputFormatError(f"{group}/{name}: sequence, contrib_scores and hypothetical_contribs must "
                                           "be (width, 4) arrays of one shape; not a tfmodisco-lite results file",
                                           path)
                lo, hi = _trim_range(cwm, trim_threshold)
                pwm = ppm[:, lo:hi]
                tot = pwm.sum(0, keepdims=True)
                pwm = np.where(tot > 0, pwm / np.where(tot > 0, tot, 1.0), 0.25)
                motifs.append(Motif(name=f"{group}.{name}", pwm=pwm, cwm=cwm[:, lo:hi], hcwm=hcwm[:, lo:hi],
                                    support=len(seqlets), sign=sign, seqlets=seqlets, trim=(lo, hi)))
    return motifs


def write_modisco_npz(ohe_path, hyp_path, X, H):
    """Write the one-hot / hypothetical pair that ``modisco motifs -s OHE -a HYP`` reads, atomically.

    Parameters
    ----------
    ohe_path, hyp_path : str or Path
        ``.npz`` files; each holds one array ``arr_0`` of shape ``(N, 4, L)``, float32
        (``np.savez_compressed``).
    X : array_like, shape (N, 4, L)
        One-hot sequences.
    H : array_like, shape (N, 4, L)
        Hypothetical scores.
    """
    X, H = _arrays(X, H)
    atomic_savez(ohe_path, arr_0=X)
    atomic_savez(hyp_path, arr_0=H)
