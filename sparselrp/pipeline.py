"""Helpers of the Snakemake workflow that ships with sparselrp.

The workflow itself (``Snakefile``, ``rules/*.smk``, ``config.yaml`` and its
schema, executor profiles) is package data under ``sparselrp/pipelines/``;
:func:`workflow_dir` finds it and :func:`copy_workflow` copies it to a folder
of the user's (``sparselrp pipeline --copy DIR``). The functions here are what
the Snakefile calls at parse time: resolving ``package:NAME`` config values to
files inside the installed package, counting the records of an input, and
naming shards. :func:`shard_file` splits a BED or FASTA file into contiguous,
deterministic shards (``sparselrp shard``).
"""

import gzip
import importlib
import shutil
from pathlib import Path

from ._atomic import atomic_open
from .errors import InputFormatError

__all__ = [
    "workflow_dir",
    "snakefile",
    "copy_workflow",
    "resolve_data",
    "resolve_model",
    "DATA",
    "detect_format",
    "count_records",
    "shard_bounds",
    "shard_name",
    "shard_file",
]

PACKAGE_PREFIX = "package:"

#: ``package:NAME`` data names -> function of :mod:`sparselrp.data` returning the path.
DATA = {
    "ctcf_peaks_fasta": "ctcf_peaks_fasta",
    "ctcf_peaks_bed": "ctcf_peaks_bed",
    "chr17_fasta": "chr17_fasta",
    "gene_bed": "gene_bed",
}

_FASTA_EXT = (".fa", ".fasta", ".fna", ".fas")
_BED_EXT = (".bed",)


def workflow_dir():
    """Folder of the packaged Snakemake workflow (``sparselrp/pipelines``)."""
    return Path(__file__).resolve().parent / "pipelines"


def snakefile():
    """Path of the packaged ``Snakefile`` (what ``pipelines/Snakefile`` includes)."""
    return workflow_dir() / "Snakefile"


def copy_workflow(dest, overwrite=False):
    """Copy the packaged workflow into ``dest`` so that it runs from there.

    Parameters
    ----------
    dest : str or Path
        Target folder (created if missing).
    overwrite : bool
        Replace files that already exist there; otherwise an existing file
        raises ``FileExistsError`` and nothing is copied.

    Returns
    -------
    list of Path
        The files written.
    """
    src = workflow_dir()
    dest = Path(dest)
    files = [p for p in sorted(src.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    targets = [dest / p.relative_to(src) for p in files]
    if not overwrite:
        clash = [t for t in targets if t.exists()]
        if clash:
            raise FileExistsError(f"{clash[0]}: already exists (use --force to overwrite)")
    for p, t in zip(files, targets):
        t.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, t)
    return targets


def _package_name(spec):
    if isinstance(spec, str) and spec.startswith(PACKAGE_PREFIX):
        return spec[len(PACKAGE_PREFIX):].strip()
    return None


def resolve_data(spec):
    """Turn a config value into a file path: ``package:NAME`` or a path.

    Parameters
    ----------
    spec : str or None
        ``package:ctcf_peaks_fasta``, ``package:chr17_fasta``, ... (see
        :data:`DATA`), or an ordinary path (returned as given).

    Returns
    -------
    str or None
    """
    name = _package_name(spec)
    if name is None:
        return None if spec is None else str(spec)
    if name not in DATA:
        raise ValueError(f"unknown packaged data {spec!r}; available: "
                         + ", ".join(PACKAGE_PREFIX + k for k in sorted(DATA)))
    data = importlib.import_module("sparselrp.data")
    func = getattr(data, DATA[name], None)
    if func is None:
        raise ValueError(f"packaged data {spec!r} is not available in this sparselrp installation")
    return str(func())


def resolve_model(spec):
    """Turn a config value into a model directory: ``package:NAME`` or a path.

    Parameters
    ----------
    spec : str
        ``package:ctcf`` (a pretrained model shipped in the package, see
        ``sparselrp.models.PRETRAINED``) or a directory written by
        ``sparselrp.models.save``.

    Returns
    -------
    str
    """
    name = _package_name(spec)
    if name is None:
        return str(spec)
    mod = importlib.import_module("sparselrp.models.pretrained")
    try:
        return str(mod.pretrained_path(name))
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None


def _open_text(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def detect_format(path):
    """``"fasta"`` or ``"bed"`` from the file name, else from the first data line."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(_FASTA_EXT):
        return "fasta"
    if name.endswith(_BED_EXT):
        return "bed"
    with _open_text(path) as fh:
        for line in fh:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            return "fasta" if line.startswith(">") else "bed"
    raise InputFormatError("empty file: cannot tell FASTA from BED", path)


def _is_bed_header(line):
    return not line.strip() or line.startswith(("#", "track ", "track\t", "browser ", "browser\t"))


def count_records(path, fmt=None):
    """Number of records (FASTA entries or BED regions) in a file, streaming it once."""
    fmt = fmt or detect_format(path)
    n = 0
    with _open_text(path) as fh:
        if fmt == "fasta":
            for line in fh:
                n += line.startswith(">")
        else:
            for line in fh:
                n += not _is_bed_header(line)
    return n


def shard_bounds(n_records, n_shards):
    """Record ranges of contiguous shards: shard ``i`` holds ``[bounds[i], bounds[i+1])``.

    Sizes differ by at most one, and concatenating the shards in order gives the
    input back, so merged shard outputs keep the input's order.

    Returns
    -------
    list of int
        ``n_shards + 1`` increasing offsets from 0 to ``n_records``.
    """
    if n_shards < 1:
        raise ValueError(f"the number of shards must be >= 1, got {n_shards}")
    return [(i * n_records) // n_shards for i in range(n_shards + 1)]


def shard_name(index, fmt):
    """File name of shard ``index``: ``shard-0003.fa`` / ``shard-0003.bed``."""
    return f"shard-{index:04d}.{'fa' if fmt == 'fasta' else 'bed'}"


def shard_file(path, n_shards, outdir, fmt=None):
    """Split a BED or FASTA (plain or ``.gz``) into ``n_shards`` contiguous shards.

    Deterministic: shard ``i`` holds records ``[i*n // n_shards, (i+1)*n // n_shards)``
    in file order (see :func:`shard_bounds`), written as
    ``outdir/shard-0000.fa`` ... (:func:`shard_name`), each atomically. BED
    header lines (``#``, ``track``, ``browser``) are dropped; with more shards
    than records, the extra shards are empty files.

    Parameters
    ----------
    path : str or Path
        Input FASTA or BED.
    n_shards : int
    outdir : str or Path
        Folder for the shards (created if missing).
    fmt : {"fasta", "bed"}, optional
        Default: from the file name or content (:func:`detect_format`).

    Returns
    -------
    list of Path
        The shard files, in order.
    """
    fmt = fmt or detect_format(path)
    if fmt not in ("fasta", "bed"):
        raise ValueError(f"format must be 'fasta' or 'bed', got {fmt!r}")
    n = count_records(path, fmt)
    bounds = shard_bounds(n, n_shards)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [outdir / shard_name(i, fmt) for i in range(n_shards)]
    with _open_text(path) as fh:
        lines = iter(fh)
        pending = None  # a FASTA header already read that starts the next record
        rec = 0
        lineno = 0
        for i, out in enumerate(paths):
            with atomic_open(out, "w") as dst:
                stop = bounds[i + 1]
                if fmt == "bed":
                    while rec < stop:
                        line = next(lines)
                        lineno += 1
                        if _is_bed_header(line):
                            continue
                        dst.write(line if line.endswith("\n") else line + "\n")
                        rec += 1
                else:
                    while rec < stop:
                        if pending is None:
                            for line in lines:
                                lineno += 1
                                if line.startswith(">"):
                                    pending = line
                                    break
                                if line.strip():
                                    raise InputFormatError("sequence data before the first '>' header",
                                                           path, lineno)
                        dst.write(pending if pending.endswith("\n") else pending + "\n")
                        pending = None
                        rec += 1
                        for line in lines:
                            lineno += 1
                            if line.startswith(">"):
                                pending = line
                                break
                            dst.write(line if line.endswith("\n") else line + "\n")
    return paths
