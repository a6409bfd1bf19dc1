"""MEME minimal motif format (version 4): writer and strict reader.

Format written::

    MEME version 4

    ALPHABET= ACGT

    strands: + -

    Background letter frequencies
    A 0.25 C 0.25 G 0.25 T 0.25

    MOTIF motif_1 CTCF
    letter-probability matrix: alength= 4 w= 15 nsites= 120 E= 0
     0.100000 0.200000 0.300000 0.400000
     ...

The reader accepts what the MEME suite writes in this format (log-odds blocks
and URL lines are skipped); a file whose last motif is not followed by a blank
line, or lacks a trailing newline, still yields that motif. Anything malformed
raises :class:`sparselrp.errors.InputFormatError` naming the file and line.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .._atomic import atomic_open
from ..errors import InputFormatError

__all__ = ["write_meme", "read_meme", "parse_meme"]

_ROW_TOL = 0.02


MEME_TYPES = ("pfm", "cwm", "hcwm")


def _items(motifs, kind="pfm"):
    from ..motifs.motif import Motif

    if kind not in MEME_TYPES:
        raise ValueError(f"kind must be one of {', '.join(MEME_TYPES)}, got {kind!r}")
    out = []
    for i, m in enumerate(motifs):
        nsites = None
        alt = None
        if isinstance(m, Motif):
            name, pwm, nsites = m.name, {"pfm": m.pwm, "cwm": m.cwm, "hcwm": m.hcwm}[kind], m.support
            if pwm is None:
                raise ValueError(f"motif {m.name} has no hypothetical CWM to write")
            if m.matches:
                alt = m.matches[0].get("target_name")
        else:
            try:
                name, pwm = m
            except (TypeError, ValueError):
                raise ValueError(f"motif {i}: expected a Motif or a (name, pwm) pair") from None
        name = str(name)
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"motif {i}: name {name!r} must be non-empty and contain no whitespace")
        pwm = np.asarray(pwm, dtype=np.float64)
        if pwm.ndim != 2 or pwm.shape[0] != 4 or pwm.shape[1] == 0:
            raise ValueError(f"motif {name}: pwm must have shape (4, W) with W >= 1, got {pwm.shape}")
        if not np.all(np.isfinite(pwm)):
            raise ValueError(f"motif {name}: the matrix must be finite")
        if kind == "pfm":
            if np.any(pwm < 0):
                raise ValueError(f"motif {name}: pwm must be non-negative")
            tot = pwm.sum(0, keepdims=True)
            pwm = np.where(tot > 0, pwm / np.where(tot > 0, tot, 1), 0.25)
        if alt is not None:
            alt = re.sub(r"\s+", "_", str(alt)) or None
        out.append((name, alt, pwm, nsites))
    return out


def write_meme(path, motifs, background=None, nsites=None, kind="pfm"):
    """Write motifs in MEME minimal format (version 4), atomically.

    memelite's ``write_meme`` writes ``nsites= 1`` for every motif and no alternate
    names, so this writer is sparselrp's own.

    Parameters
    ----------
    path : str or Path
        Output file.
    motifs : list of Motif or list of (str, array_like (4, W))
        Motifs; a Motif's ``support`` becomes ``nsites`` and the name of its
        best JASPAR match (if any) the MEME alternate name.
    background : array_like, shape (4,), optional
        Background letter frequencies (uniform by default).
    nsites : int, optional
        ``nsites`` for (name, pwm) pairs (default 20, MEME's convention when
        unknown).
    kind : {"pfm", "cwm", "hcwm"}
        Which matrix of each Motif to write: base probabilities (default), or the
        contribution (CWM) or hypothetical contribution (hCWM) matrix written as
        is in the ``letter-probability matrix`` block, as ``modisco meme -t CWM``
        does (such a file is read back with ``read_meme(path, probabilities=False)``).

    Raises
    ------
    ValueError
        A name with whitespace or a matrix not of shape (4, W) with finite,
        non-negative entries.
    """
    items = _items(motifs, kind)
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    if bg.shape != (4,) or not np.all(np.isfinite(bg)) or np.any(bg < 0) or bg.sum() <= 0:
        raise ValueError("background must be 4 non-negative finite frequencies")
    bg = bg / bg.sum()
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies",
             " ".join(f"{b} {v:.6f}" for b, v in zip("ACGT", bg)), ""]
    for name, alt, pwm, ns in items:
        ns = ns if ns is not None else (20 if nsites is None else int(nsites))
        lines.append(f"MOTIF {name}" + (f" {alt}" if alt else ""))
        lines.append(f"letter-probability matrix: alength= 4 w= {pwm.shape[1]} nsites= {ns} E= 0")
        fmt = "{:.6f}" if kind == "pfm" else "{:.6g}"
        lines.extend(" " + " ".join(fmt.format(v) for v in col) for col in pwm.T)
        lines.append("")
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")


_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_KEYVAL = re.compile(r"(\w+)\s*=\s*(\S+)")


def _is_number_row(s):
    parts = s.split()
    return bool(parts) and all(re.fullmatch(_NUM, p) for p in parts)


def parse_meme(text, path="<string>", probabilities=True):
    """Parse MEME minimal-format text; see :func:`read_meme`.

    Returns
    -------
    list of (str, str or None, numpy.ndarray (4, W), int or None)
        ``(name, alternate name, pwm, nsites)``.
    """
    lines = text.splitlines()
    err = lambda msg, i: InputFormatError(msg, path=path, line=i + 1)  # noqa: E731
    i = 0
    n = len(lines)
    # header
    while i < n and not lines[i].strip():
        i += 1
    if i >= n:
        raise InputFormatError("empty file; expected a MEME motif file starting with 'MEME version'", path)
    if not re.match(r"MEME version \d", lines[i].strip()):
        raise err(f"not a MEME file: expected 'MEME version 4', found {lines[i].strip()[:40]!r}", i)
    i += 1
    motifs = []
    current = None  # [name, alt, line of MOTIF]
    names = set()
    while i < n:
        s = lines[i].strip()
        if not s:
            i += 1
            continue
        if s.startswith("ALPHABET"):
            m = re.match(r"ALPHABET\s*=\s*(\S+)", s)
            if not m:
                raise err(f"malformed ALPHABET line {s[:40]!r}", i)
            if m.group(1).upper() not in ("ACGT", "ACGU"):
                raise err(f"unsupported alphabet {m.group(1)[:20]!r}; only DNA (ACGT) motifs are supported", i)
            i += 1
            continue
        if s.startswith("strands:"):
            parts = s.split()[1:]
            if not parts or any(p not in ("+", "-") for p in parts):
                raise err(f"malformed strands line {s[:40]!r}", i)
            i += 1
            continue
        if s.startswith("Background letter frequencies"):
            i += 1
            # frequencies may span lines until the next blank/MOTIF line
            while i < n and lines[i].strip() and not lines[i].strip().startswith("MOTIF"):
                toks = lines[i].split()
                if len(toks) % 2 or not all(re.fullmatch(_NUM, v) for v in toks[1::2]):
                    raise err(f"malformed background frequencies {lines[i].strip()[:40]!r}", i)
                i += 1
            continue
        if s.startswith("MOTIF"):
            if current is not None:
                raise err(f"motif {current[0]!r} (line {current[2] + 1}) has no letter-probability matrix", i)
            toks = s.split()
            if toks[0] != "MOTIF" or len(toks) < 2:
                raise err("MOTIF line without a motif name", i)
            current = [toks[1], toks[2] if len(toks) > 2 else None, i]
            if toks[1] in names:
                raise err(f"duplicate motif name {toks[1]!r}", i)
            names.add(toks[1])
            i += 1
            continue
        if s.startswith("log-odds matrix"):
            i += 1
            while i < n and _is_number_row(lines[i]):
                i += 1
            continue
        if s.startswith("letter-probability matrix"):
            if current is None:
                raise err("letter-probability matrix before any MOTIF line", i)
            opts = dict(_KEYVAL.findall(s.split(":", 1)[1] if ":" in s else ""))
            alength = opts.get("alength", "4")
            if alength != "4":
                raise err(f"alength= {alength[:20]} is not supported (DNA motifs need alength= 4)", i)
            w = opts.get("w")
            if w is not None and not re.fullmatch(r"[0-9]+", w):
                raise err(f"w= {w[:20]!r} is not a non-negative integer", i)
            nsites = opts.get("nsites")
            try:
                nsites = None if nsites is None else int(float(nsites))
            except (ValueError, OverflowError):
                raise err(f"nsites= {nsites[:20]!r} is not a number", i) from None
            start = i
            i += 1
            rows = []
            while i < n and lines[i].strip() and _is_number_row(lines[i]):
                vals = [float(v) for v in lines[i].split()]
                if len(vals) != 4:
                    raise err(f"matrix row has {len(vals)} values, expected 4 (A C G T)", i)
                if not all(math.isfinite(v) for v in vals):
                    raise err("matrix values must be finite numbers", i)
                if probabilities and (min(vals) < 0 or max(vals) > 1 + _ROW_TOL):
                    raise err("matrix values must be probabilities between 0 and 1", i)
                if probabilities and abs(sum(vals) - 1) > _ROW_TOL:
                    raise err(f"matrix row sums to {sum(vals):.4g}, not 1", i)
                rows.append(vals)
                if w is not None and len(rows) == int(w):
                    i += 1
                    break
                i += 1
            if w is not None and len(rows) != int(w):
                raise err(f"motif {current[0]!r} has {len(rows)} matrix rows but w= {w}", i if i < n else start)
            if not rows:
                raise err(f"motif {current[0]!r} has an empty letter-probability matrix", start)
            pwm = np.array(rows, dtype=np.float64).T
            if probabilities:
                pwm = pwm / pwm.sum(0, keepdims=True)
            motifs.append((current[0], current[1], pwm, nsites))
            current = None
            continue
        if s.startswith("URL"):
            i += 1
            continue
        if current is None and not motifs and not s.startswith("MOTIF"):
            # other header lines written by the MEME suite (e.g. 'Background ...' variants, comments)
            i += 1
            continue
        raise err(f"unexpected line {s[:40]!r}", i)
    if current is not None:
        raise err(f"motif {current[0]!r} has no letter-probability matrix", current[2])
    return motifs


def read_meme(path, as_motifs=False, probabilities=True):
    """Read motifs from a MEME minimal-format file.

    Parameters
    ----------
    path : str or Path
        The file (UTF-8 / ASCII text).
    as_motifs : bool
        Return :class:`sparselrp.motifs.Motif` objects (``cwm`` = ``pwm``,
        ``support`` = ``nsites``, no matches) instead of ``(name, pwm)`` pairs.
    probabilities : bool
        Check that every row holds probabilities summing to 1 and renormalise
        (default); False reads any finite values as they are (CWM / hCWM files).

    Returns
    -------
    list of (str, numpy.ndarray (4, W)) or list of Motif
        In file order; probability columns renormalised to sum to 1.

    Raises
    ------
    InputFormatError
        Not a MEME file, undecodable bytes, or a malformed motif (message
        names the file and line).
    FileNotFoundError
        The file does not exist.
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFormatError(f"not a text file (undecodable byte at offset {exc.start})", path, line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputFormatError("not a text file (NUL byte)", path, line)
    parsed = parse_meme(text, path=str(path), probabilities=probabilities)
    if not as_motifs:
        return [(name, pwm) for name, _, pwm, _ in parsed]
    from ..motifs.motif import Motif

    return [Motif(name=name, pwm=pwm, cwm=pwm.copy(), support=nsites or 0)
            for name, _, pwm, nsites in parsed]
