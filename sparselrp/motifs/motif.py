"""The :class:`Motif` record shared by discovery, JASPAR matching, I/O and plots."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Motif", "information_content"]


def information_content(pwm, background=None):
    """Information content of each column of a probability matrix, in bits.

    Parameters
    ----------
    pwm : array_like, shape (4, W)
        Base probabilities, rows A, C, G, T; columns are normalised first
        (an all-zero column counts as uniform).
    background : array_like, shape (4,), optional
        Background base frequencies; uniform (0.25 each) by default.

    Returns
    -------
    numpy.ndarray, shape (W,)
        Relative entropy of each column against the background (0 to 2 bits for
        a uniform background); ``0 log 0`` is taken as 0.
    """
    p = np.asarray(pwm, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != 4:
        raise ValueError(f"pwm must have shape (4, W), got {p.shape}")
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    total = p.sum(axis=0, keepdims=True)
    p = np.where(total > 0, p / np.where(total > 0, total, 1.0), 0.25)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / bg[:, None]), 0.0)
    return terms.sum(axis=0)


def _as_matrix(value, name, width=None, allow_none=False):
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} is required")
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != 4:
        raise ValueError(f"{name} must have shape (4, W), got {arr.shape}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} has width {arr.shape[1]}, expected {width} (the PWM's width)")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


@dataclass
class Motif:
    """A motif discovered from seqlets (or read from a file).

    Attributes
    ----------
    name : str
        Identifier, e.g. ``"motif_1"``.
    pwm : numpy.ndarray, shape (4, W)
        Base frequencies of the aligned seqlets, rows A, C, G, T; each column
        sums to 1.
    cwm : numpy.ndarray, shape (4, W)
        Mean contribution (attribution) of the aligned seqlets.
    hcwm : numpy.ndarray, shape (4, W), or None
        Mean hypothetical contribution, where hypothetical scores were given.
    support : int
        Number of seqlets in the motif.
    seqlet_ids : list of int
        Row indices (``seqlet_id``) of the member seqlets in the seqlet table.
    matches : list of dict
        Database matches, best first; keys ``target_id``, ``target_name``,
        ``p_value``, ``q_value``, ``offset``, ``orientation`` (``"+"``/``"-"``).
    seqlet_strands : list of str
        Orientation of each member seqlet relative to the motif (``"+"`` or
        ``"-"``, same order as ``seqlet_ids``); may be empty.
    seqlet_offsets : list of int
        Window position (0-based, in the seqlet's sequence) of the motif's first
        column for each member: for ``"+"`` members the motif occupies
        ``[offset, offset + W)``; for ``"-"`` members column ``j`` sits at
        ``offset - j`` on the reverse strand. May be empty.
    sign : str
        ``"positive"`` (a pattern of positive contributions: the bases raise the
        explained output) or ``"negative"`` (they lower it).
    seqlets : list of (int, int, int, str)
        The pattern's seqlets as tfmodisco-lite aligned them: ``(sequence index,
        start, end, strand)`` with 0-based half-open window coordinates of the
        *untrimmed* pattern (``end - start`` equals the untrimmed width) and
        strand ``"-"`` where the seqlet is read reverse-complemented. May be empty.
    trim : (int, int) or None
        Columns ``[lo, hi)`` of the untrimmed pattern that :attr:`pwm`, :attr:`cwm`
        and :attr:`hcwm` keep (None: not trimmed, or unknown).
    """

    name: str
    pwm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray | None = None
    support: int = 0
    seqlet_ids: list = field(default_factory=list)
    matches: list = field(default_factory=list)
    seqlet_strands: list = field(default_factory=list)
    seqlet_offsets: list = field(default_factory=list)
    sign: str = "positive"
    seqlets: list = field(default_factory=list)
    trim: tuple | None = None

    def __post_init__(self):
        self.name = str(self.name)
        self.pwm = _as_matrix(self.pwm, "pwm")
        self.cwm = _as_matrix(self.cwm, "cwm", self.pwm.shape[1])
        self.hcwm = _as_matrix(self.hcwm, "hcwm", self.pwm.shape[1], allow_none=True)
        self.support = int(self.support)
        self.seqlet_ids = [int(i) for i in self.seqlet_ids]
        self.seqlet_strands = [str(s) for s in self.seqlet_strands]
        self.seqlet_offsets = [int(o) for o in self.seqlet_offsets]
        self.matches = [dict(m) for m in self.matches]
        if self.sign not in ("positive", "negative"):
            raise ValueError(f"sign must be 'positive' or 'negative', got {self.sign!r}")
        seqlets = []
        for s in self.seqlets:
            try:
                seq, start, end, strand = s
                seq, start, end, strand = int(seq), int(start), int(end), str(strand)
            except (TypeError, ValueError):
                raise ValueError(f"a seqlet must be (sequence, start, end, strand), got {s!r}") from None
            if seq < 0 or start < 0 or end < start or strand not in ("+", "-"):
                raise ValueError(f"invalid seqlet {s!r}: need sequence >= 0, 0 <= start <= end, strand '+' or '-'")
            seqlets.append((seq, start, end, strand))
        self.seqlets = seqlets
        if self.trim is not None:
            try:
                lo, hi = (int(v) for v in self.trim)
            except (TypeError, ValueError):
                raise ValueError(f"trim must be (lo, hi), got {self.trim!r}") from None
            if not 0 <= lo < hi or hi - lo != self.pwm.shape[1]:
                raise ValueError(f"trim {self.trim!r} does not span the PWM's {self.pwm.shape[1]} columns")
            self.trim = (lo, hi)

    @property
    def width(self):
        """Number of columns W."""
        return self.pwm.shape[1]

    def information_content(self, background=None):
        """Information content of each PWM column in bits.

        Returns
        -------
        numpy.ndarray, shape (W,)
        """
        return information_content(self.pwm, background)

    def consensus(self):
        """Most frequent base of each column, as a string of length W."""
        return "".join(np.array(list("ACGT"))[self.pwm.argmax(axis=0)])

    @property
    def n_seqlets(self):
        """Number of seqlets (``len(seqlets)`` when they are listed, else :attr:`support`)."""
        return len(self.seqlets) if self.seqlets else self.support

    @property
    def best_match(self):
        """The first (best) entry of :attr:`matches`, or None."""
        return self.matches[0] if self.matches else None

    def to_dict(self):
        """A JSON-ready dict holding every field (matrices as nested lists)."""
        return {
            "name": self.name,
            "pwm": self.pwm.tolist(),
            "cwm": self.cwm.tolist(),
            "hcwm": None if self.hcwm is None else self.hcwm.tolist(),
            "support": self.support,
            "seqlet_ids": list(self.seqlet_ids),
            "matches": [_jsonable(m) for m in self.matches],
            "seqlet_strands": list(self.seqlet_strands),
            "seqlet_offsets": list(self.seqlet_offsets),
            "sign": self.sign,
            "seqlets": [list(s) for s in self.seqlets],
            "trim": None if self.trim is None else list(self.trim),
        }

    @classmethod
    def from_dict(cls, d):
        """Build a Motif from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If a required key is missing or a matrix has the wrong shape.
        """
        if not isinstance(d, dict):
            raise ValueError(f"a motif must be a JSON object, got {type(d).__name__}")
        missing = [k for k in ("name", "pwm", "cwm") if k not in d]
        if missing:
            raise ValueError(f"motif is missing key(s) {', '.join(missing)}")
        matches = d.get("matches") or []
        if not isinstance(matches, list) or not all(isinstance(m, dict) for m in matches):
            raise ValueError("motif 'matches' must be a list of objects")
        for key in ("seqlet_ids", "seqlet_strands", "seqlet_offsets", "seqlets"):
            if not isinstance(d.get(key) or [], list):
                raise ValueError(f"motif '{key}' must be a list")
        try:
            return cls(
                name=d["name"],
                pwm=d["pwm"],
                cwm=d["cwm"],
                hcwm=d.get("hcwm"),
                support=d.get("support", 0),
                seqlet_ids=d.get("seqlet_ids") or [],
                matches=matches,
                seqlet_strands=d.get("seqlet_strands") or [],
                seqlet_offsets=d.get("seqlet_offsets") or [],
                sign=d.get("sign") or "positive",
                seqlets=d.get("seqlets") or [],
                trim=d.get("trim"),
            )
        except (TypeError, OverflowError) as exc:
            raise ValueError(f"motif {d.get('name')!r}: {exc}") from None


def _jsonable(m):
    out = {}
    for k, v in m.items():
        if isinstance(v, np.generic):
            v = v.item()
        out[str(k)] = v
    return out
