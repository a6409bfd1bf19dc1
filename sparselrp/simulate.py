"""Planted-motif data sets with ground truth.

JASPAR motifs (from the ``pyjaspar`` package, offline) are sampled base by base
from their position probability matrices and planted at recorded positions into
background sequences: i.i.d. bases with a given GC content, or dinucleotide
shuffles of real sequences. Each task's label is a rule over which motifs a
sequence holds, written with AND / OR (AND binds tighter), e.g. ``"CTCF"``,
``"CTCF AND GATA1"``, ``"CTCF AND GATA1 OR SPI1"``. Motifs that a rule does not
need are planted as decoys at the same rate in positives and negatives, and a
partial AND clause appears in negatives too, so a model must learn the grammar.

The ground truth is the set of *label-relevant* instances: those of a motif in a
satisfied clause of a task whose label is 1. ``mask`` marks their positions.

>>> import sparselrp as sl
>>> sim = sl.simulate.simulate(n=200, length=200, seed=0)      # doctest: +SKIP
>>> sim.X.shape, sim.y.shape, sim.mask.shape                   # doctest: +SKIP
(torch.Size([200, 4, 200]), torch.Size([200, 1]), torch.Size([200, 200]))
>>> sim.save("sim_dir")                                         # doctest: +SKIP
"""

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ._atomic import atomic_open, atomic_savez
from .errors import InputFormatError

__all__ = [
    "DEFAULT_MOTIFS",
    "Motif",
    "PlantedInstance",
    "Simulation",
    "jaspar_motifs",
    "simulate",
    "save_simulation",
    "load_simulation",
]

#: Default motifs: CTCF, GATA1, SPI1 (JASPAR base ids; the newest version in the release is used).
DEFAULT_MOTIFS = ("MA0139", "MA0035", "MA0080")


@dataclass
class Motif:
    """A motif as a position probability matrix.

    Attributes
    ----------
    id : str
        E.g. ``"MA0139.2"``.
    name : str
        E.g. ``"CTCF"``.
    pwm : numpy.ndarray
        ``(4, w)`` probabilities, rows A, C, G, T, columns summing to 1.
    """

    id: str
    name: str
    pwm: np.ndarray

    @property
    def width(self):
        """Motif length ``w``."""
        return self.pwm.shape[1]


class PlantedInstance(NamedTuple):
    """One planted motif instance (0-based, end-exclusive coordinates)."""

    seq: int
    motif_id: str
    motif_name: str
    start: int
    end: int
    strand: str
    relevant: bool


@dataclass
class Simulation:
    """A planted-motif data set.

    Attributes
    ----------
    X : torch.Tensor
        ``(N, 4, L)`` float32 one-hot sequences.
    y : torch.Tensor
        ``(N, T)`` float32 labels (0/1), one column per rule.
    mask : torch.Tensor
        ``(N, L)`` bool: positions covered by label-relevant instances of any task.
    task_mask : torch.Tensor
        ``(N, T, L)`` bool: the same per task.
    instances : list of PlantedInstance
        Every planted instance (relevant or not), ordered by sequence then start.
    motifs : list of Motif
        The motifs used.
    tasks : list of str
        The rule of each task (label column).
    params : dict
        The arguments that made the set (JSON-serialisable), seed included.
    """

    X: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    task_mask: torch.Tensor
    instances: list
    motifs: list
    tasks: list
    params: dict = field(default_factory=dict)

    def save(self, directory):
        """Write the set to ``directory``; see :func:`save_simulation`."""
        return save_simulation(self, directory)


# ----------------------------------------------------------------------------- motifs

def _to_probabilities(counts, pseudocount):
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != 4 or counts.shape[1] < 1:
        raise ValueError(f"a motif matrix must have shape (4, w), got {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("a motif matrix must hold finite non-negative values")
    counts = counts + pseudocount * counts.sum(axis=0, keepdims=True).clip(min=1e-12)
    return counts / counts.sum(axis=0, keepdims=True)


def jaspar_motifs(motifs=DEFAULT_MOTIFS, release=None, pseudocount=0.001):
    """Fetch motifs from the JASPAR database shipped with ``pyjaspar``.

    Parameters
    ----------
    motifs : iterable
        Each a JASPAR id with or without version (``"MA0139"``, ``"MA0139.1"``), a
        TF name (``"CTCF"``; the matrix with the smallest id of that name), a
        :class:`Motif`, or a ``(4, w)`` array of counts or probabilities.
    release : str, optional
        JASPAR release (``"JASPAR2024"``, ...); default the newest shipped.
    pseudocount : float
        Added to each column as a share of its total, so no base has probability 0.

    Returns
    -------
    list of Motif
    """
    db = None
    out = []
    for i, spec in enumerate(motifs):
        if isinstance(spec, Motif):
            out.append(spec)
            continue
        if not isinstance(spec, str):
            out.append(Motif(f"motif{i}", f"motif{i}", _to_probabilities(spec, pseudocount)))
            continue
        if db is None:
            from pyjaspar import jaspardb

            db = jaspardb(release=release) if release else jaspardb()
        if re.fullmatch(r"[A-Z]{2}\d{4}(\.\d+)?", spec.strip().upper()):
            m = db.fetch_motif_by_id(spec.strip().upper())
            if m is None:
                raise ValueError(f"JASPAR motif {spec!r} not found in {db.release}")
        else:
            found = db.fetch_motifs_by_name(spec.strip())
            if not found:
                raise ValueError(f"no JASPAR motif named {spec!r} in {db.release}")
            m = min(found, key=lambda x: (x.base_id, -int(x.version)))
        counts = np.array([m.counts[b] for b in "ACGT"], dtype=np.float64)
        out.append(Motif(m.matrix_id, m.name, _to_probabilities(counts, pseudocount)))
    if not out:
        raise ValueError("at least one motif is needed")
    return out


def _sample_motif(pwm, k, rng):
    """``k`` sequences sampled from ``pwm`` (4, w): one-hot ``(k, 4, w)``."""
    cum = np.cumsum(pwm, axis=0)                       # (4, w)
    cum[-1] = 1.0
    u = rng.random((k, 1, pwm.shape[1]))
    idx = (u > cum[None]).sum(axis=1)                  # (k, w) in 0..3
    return (idx[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)


# ----------------------------------------------------------------------------- rules

def _motif_lookup(motifs):
    table = {}
    for j, m in enumerate(motifs):
        for key in {m.id, m.id.split(".")[0], m.name}:
            table.setdefault(key.upper(), set()).add(j)
    return table


def _parse_rule(rule, motifs):
    """``"A AND B OR C"`` -> list of clauses, each a sorted list of motif indices."""
    if not isinstance(rule, str) or not rule.strip():
        raise ValueError(f"a rule must be a non-empty string, got {rule!r}")
    table = _motif_lookup(motifs)
    clauses = []
    for part in re.split(r"\s+OR\s+|\s*\|\s*", rule.strip(), flags=re.IGNORECASE):
        clause = set()
        for token in re.split(r"\s+AND\s+|\s*&\s*", part.strip(), flags=re.IGNORECASE):
            token = token.strip().strip("()")
            hits = table.get(token.upper())
            if not token or not hits:
                known = ", ".join(f"{m.id} ({m.name})" for m in motifs)
                raise ValueError(f"rule {rule!r}: {token!r} is not one of the motifs: {known}")
            if len(hits) > 1:
                raise ValueError(f"rule {rule!r}: {token!r} names several motifs; use their ids")
            clause |= hits
        clauses.append(sorted(clause))
    return clauses


def _evaluate(clauses, present):
    """Label and per-motif relevance for presence matrix ``present`` (N, M) bool."""
    sat = np.stack([present[:, c].all(axis=1) for c in clauses], axis=1)   # (N, C)
    label = sat.any(axis=1)
    relevant = np.zeros_like(present)
    for k, c in enumerate(clauses):
        relevant[:, c] |= sat[:, k:k + 1]
    return label, relevant


# ----------------------------------------------------------------------------- backgrounds

def _random_background(n, length, gc, rng):
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    idx = (rng.random((n, 1, length)) > np.cumsum(p)[None, :, None]).sum(axis=1)
    idx = np.minimum(idx, 3)
    return (idx[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)


def _shuffled_background(background, n, length, rng):
    from .sequence import dinucleotide_shuffle, one_hot_encode_batch

    if isinstance(background, (str, Path)):
        from .genome import read_fasta

        seqs = [s for _, s in read_fasta(background)]
        if not seqs:
            raise InputFormatError("no sequences in the background FASTA", path=background)
        background = seqs
    if isinstance(background, (list, tuple)):
        background = one_hot_encode_batch(background, length=length, iupac="n")
    B = background.detach().cpu().numpy() if isinstance(background, torch.Tensor) else np.asarray(background)
    if B.ndim != 3 or B.shape[1] != 4:
        raise ValueError(f"background must be one-hot (M, 4, L), got shape {B.shape}")
    if B.shape[2] < length:
        raise ValueError(f"background sequences have length {B.shape[2]} < length={length}")
    off = (B.shape[2] - length) // 2
    B = B[:, :, off:off + length].astype(np.float32)
    pick = rng.integers(0, B.shape[0], size=n)
    return dinucleotide_shuffle(B[pick], n=1, random_state=rng)[:, 0]


# ----------------------------------------------------------------------------- placement

def _place(widths, order_block, length, spacing, rng, seq_index, max_tries=200):
    """Non-overlapping starts for motifs of ``widths``.

    ``order_block`` lists (in order) the motif slots placed as one block with
    gaps drawn from ``spacing``; the rest go to random free positions.
    """
    starts = [None] * len(widths)
    taken = np.zeros(length, dtype=bool)
    if order_block:
        gaps = [int(rng.integers(spacing[0], spacing[1] + 1)) for _ in order_block[1:]]
        span = sum(widths[j] for j in order_block) + sum(gaps)
        if span > length:
            raise ValueError(f"sequence {seq_index}: a motif block of {span} bp does not fit in length={length}")
        pos = int(rng.integers(0, length - span + 1))
        for k, j in enumerate(order_block):
            starts[j] = pos
            taken[pos:pos + widths[j]] = True
            pos += widths[j] + (gaps[k] if k < len(gaps) else 0)
    for j, w in enumerate(widths):
        if starts[j] is not None:
            continue
        for _ in range(max_tries):
            s = int(rng.integers(0, length - w + 1))
            if not taken[s:s + w].any():
                break
        else:
            raise ValueError(f"sequence {seq_index}: no room to plant {len(widths)} motifs without overlap "
                             f"in length={length}; use longer sequences or fewer motifs")
        starts[j] = s
        taken[s:s + w] = True
    return starts


# ----------------------------------------------------------------------------- main entry

def simulate(n=1000, length=200, motifs=DEFAULT_MOTIFS, rules=None, p_present=0.5, balance=True,
             background="random", gc=0.41, orientation="both", spacing=None, release=None, seed=0):
    """Make a planted-motif data set.

    Parameters
    ----------
    n : int, default 1000
        Number of sequences ``N``.
    length : int, default 200
        Sequence length ``L``.
    motifs : iterable, default ``DEFAULT_MOTIFS`` (CTCF MA0139, GATA1 MA0035, SPI1 MA0080)
        Motifs to plant (see :func:`jaspar_motifs`); those no rule names are decoys.
    rules : str or iterable of str, optional
        One rule per task, over motif ids or names with AND / OR (AND binds
        tighter; ``&`` and ``|`` also work). Default: one task, "holds the first
        motif" (with the default motifs: CTCF; GATA1 and SPI1 are decoys).
    p_present : float, default 0.5
        Probability that a sequence holds a given motif (one instance each).
    balance : bool, default True
        Draw exactly half positives for the first task (presence sets are sampled
        conditional on its label); other tasks follow from the sampled sets.
    background : "random", or sequences / FASTA path / (M, 4, L') one-hot
        "random": i.i.d. bases with GC content ``gc``. Otherwise: randomly chosen
        real sequences (centre ``L`` bp), each dinucleotide-shuffled.
    gc : float, default 0.41
        GC content of the random background (the human genome average).
    orientation : {"both", "forward"}, default "both"
        "both": each instance on a random strand (minus = reverse complement).
    spacing : tuple (min_gap, max_gap), optional
        If given, the motifs of a satisfied AND clause are planted as one block in
        the rule's order with gaps drawn uniformly from ``[min_gap, max_gap]`` bp.
        Otherwise every instance goes to a random non-overlapping position.
    release : str, optional
        JASPAR release (default: the newest shipped with pyjaspar).
    seed : int, default 0
        Seed; the same seed (and arguments) gives the same data set.

    Returns
    -------
    Simulation
        ``X`` (N, 4, L), ``y`` (N, T), ``mask`` (N, L), ``task_mask`` (N, T, L),
        ``instances``, ``motifs``, ``tasks``, ``params``.

    Notes
    -----
    Sampling and planting are vectorised over sequences; only the choice of free
    positions loops over sequences in Python.
    """
    for name, value in (("n", n), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 <= p_present <= 1:
        raise ValueError(f"p_present must be in [0, 1], got {p_present}")
    if not 0 <= gc <= 1:
        raise ValueError(f"gc must be in [0, 1], got {gc}")
    if orientation not in ("both", "forward"):
        raise ValueError(f"orientation must be 'both' or 'forward', got {orientation!r}")
    if spacing is not None:
        spacing = (int(spacing[0]), int(spacing[1]))
        if spacing[0] < 0 or spacing[1] < spacing[0]:
            raise ValueError(f"spacing must be (min_gap, max_gap) with 0 <= min_gap <= max_gap, got {spacing}")
    n, length = int(n), int(length)
    rng = np.random.default_rng(seed)
    motif_list = jaspar_motifs(motifs, release=release)
    if rules is None:
        rules = (motif_list[0].id,)
    if isinstance(rules, str):
        rules = (rules,)
    rules = list(rules)
    if not rules:
        raise ValueError("at least one rule (task) is needed")
    M = len(motif_list)
    widths = [m.width for m in motif_list]
    if max(widths) > length:
        raise ValueError(f"motif of width {max(widths)} does not fit in length={length}")
    parsed = [_parse_rule(r, motif_list) for r in rules]
    T = len(rules)

    # which motifs each sequence holds
    present = rng.random((n, M)) < p_present
    if balance:
        want = np.zeros(n, dtype=bool)
        want[rng.permutation(n)[: n // 2]] = True
        for _ in range(10000):
            label, _ = _evaluate(parsed[0], present)
            redo = label != want
            if not redo.any():
                break
            present[redo] = rng.random((int(redo.sum()), M)) < p_present
        else:
            raise ValueError(f"cannot balance rule {rules[0]!r} with p_present={p_present}")
    labels, relevant = np.zeros((n, T), dtype=bool), np.zeros((n, T, M), dtype=bool)
    for t, clauses in enumerate(parsed):
        lab, rel = _evaluate(clauses, present)
        labels[:, t] = lab
        relevant[:, t] = rel & lab[:, None]

    # background
    if isinstance(background, str) and background == "random":
        X = _random_background(n, length, gc, rng)
        bg_desc = {"background": "random", "gc": gc}
    else:
        X = _shuffled_background(background, n, length, rng)
        bg_desc = {"background": str(background) if isinstance(background, (str, Path)) else "shuffled sequences"}
    X = np.array(X, dtype=np.float32, copy=True)

    # positions (block placement for one satisfied AND clause per sequence, if spacing)
    starts = np.full((n, M), -1, dtype=np.int64)
    for i in range(n):
        slots = np.flatnonzero(present[i])
        if slots.size == 0:
            continue
        block = []
        if spacing is not None:
            for clauses in parsed:
                sat = [c for c in clauses if len(c) > 1 and present[i, c].all()]
                if sat:
                    block = sat[0]
                    break
        local = _place([widths[j] for j in slots], [int(np.flatnonzero(slots == j)[0]) for j in block],
                       length, spacing, rng, i)
        starts[i, slots] = local
    strands = np.where(rng.random((n, M)) < 0.5, "-", "+") if orientation == "both" else np.full((n, M), "+")

    # sample and plant, vectorised per motif
    mask_t = np.zeros((n, T, length), dtype=bool)
    for j, m in enumerate(motif_list):
        rows = np.flatnonzero(present[:, j])
        if rows.size == 0:
            continue
        seqs = _sample_motif(m.pwm, rows.size, rng)                  # (k, 4, w)
        minus = strands[rows, j] == "-"
        seqs[minus] = seqs[minus][:, ::-1, ::-1]
        cols = starts[rows, j][:, None] + np.arange(m.width)[None]   # (k, w)
        X[rows[:, None], :, cols] = seqs.transpose(0, 2, 1)
        for t in range(T):
            rel_rows = rows[relevant[rows, t, j]]
            if rel_rows.size:
                rc = starts[rel_rows, j][:, None] + np.arange(m.width)[None]
                mask_t[rel_rows[:, None], t, rc] = True

    rel_any = relevant.any(axis=1)                                    # (n, M)
    inst_seq, inst_motif = np.nonzero(present)
    order = np.lexsort((starts[inst_seq, inst_motif], inst_seq))
    instances = [
        PlantedInstance(int(i), motif_list[j].id, motif_list[j].name, int(starts[i, j]),
                        int(starts[i, j] + widths[j]), str(strands[i, j]), bool(rel_any[i, j]))
        for i, j in zip(inst_seq[order], inst_motif[order])
    ]
    params = dict(n=n, length=length, motifs=[m.id for m in motif_list], rules=rules, p_present=p_present,
                  balance=balance, orientation=orientation, spacing=list(spacing) if spacing else None,
                  release=release, seed=seed if seed is None or isinstance(seed, int) else str(seed), **bg_desc)
    return Simulation(
        X=torch.from_numpy(X),
        y=torch.from_numpy(labels.astype(np.float32)),
        mask=torch.from_numpy(mask_t.any(axis=1)),
        task_mask=torch.from_numpy(mask_t),
        instances=instances,
        motifs=motif_list,
        tasks=rules,
        params=params,
    )


# ----------------------------------------------------------------------------- files

_INSTANCE_COLUMNS = list(PlantedInstance._fields)


def save_simulation(sim, directory):
    """Write a :class:`Simulation` to ``directory`` (created if missing), atomically per file.

    Files
    -----
    ``ohe.npz``
        ``arr_0``: X ``(N, 4, L)`` float32 (what TF-MoDISco's ``-s`` reads).
    ``labels.npz``
        ``arr_0``: y ``(N, T)`` float32.
    ``mask.npz``
        ``arr_0``: mask ``(N, L)`` bool; ``task_mask``: ``(N, T, L)`` bool.
    ``instances.tsv``
        One row per planted instance: seq, motif_id, motif_name, start, end (0-based,
        end-exclusive), strand, relevant (1/0).
    ``simulation.json``
        Parameters, task rules and the motif matrices.

    Returns
    -------
    Path
        The directory.
    """
    directory = Path(directory)
    if not directory.parent.exists():
        raise FileNotFoundError(f"{directory}: parent directory {directory.parent} does not exist")
    directory.mkdir(exist_ok=True)
    atomic_savez(directory / "ohe.npz", arr_0=sim.X.numpy())
    atomic_savez(directory / "labels.npz", arr_0=sim.y.numpy())
    atomic_savez(directory / "mask.npz", arr_0=sim.mask.numpy(), task_mask=sim.task_mask.numpy())
    with atomic_open(directory / "instances.tsv", "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(_INSTANCE_COLUMNS)
        for inst in sim.instances:
            writer.writerow([*inst[:-1], int(inst.relevant)])
    meta = {
        "params": sim.params,
        "tasks": list(sim.tasks),
        "motifs": [{"id": m.id, "name": m.name, "pwm": np.round(m.pwm, 8).tolist()} for m in sim.motifs],
        "files": {"X": "ohe.npz", "y": "labels.npz", "mask": "mask.npz", "instances": "instances.tsv"},
    }
    with atomic_open(directory / "simulation.json", "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    return directory


def load_simulation(directory):
    """Read a set written by :func:`save_simulation` back into a :class:`Simulation`."""
    directory = Path(directory)
    meta_path = directory / "simulation.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: not a simulation directory (simulation.json missing)") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(f"invalid JSON ({exc})", path=meta_path) from None
    with np.load(directory / "ohe.npz") as f:
        X = torch.from_numpy(f["arr_0"])
    with np.load(directory / "labels.npz") as f:
        y = torch.from_numpy(f["arr_0"])
    with np.load(directory / "mask.npz") as f:
        mask, task_mask = torch.from_numpy(f["arr_0"]), torch.from_numpy(f["task_mask"])
    instances = []
    path = directory / "instances.tsv"
    with open(path, newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header != _INSTANCE_COLUMNS:
            raise InputFormatError(f"expected header {_INSTANCE_COLUMNS}, got {header}", path=path, line=1)
        for lineno, row in enumerate(reader, start=2):
            try:
                instances.append(PlantedInstance(int(row[0]), row[1], row[2], int(row[3]), int(row[4]), row[5],
                                                 bool(int(row[6]))))
            except (ValueError, IndexError):
                raise InputFormatError(f"malformed instance row {row!r}", path=path, line=lineno) from None
    motifs = [Motif(m["id"], m["name"], np.asarray(m["pwm"], dtype=np.float64)) for m in meta["motifs"]]
    return Simulation(X=X, y=y, mask=mask, task_mask=task_mask, instances=instances, motifs=motifs,
                      tasks=meta["tasks"], params=meta["params"])
