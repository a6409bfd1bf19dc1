"""Helpers of the Snakemake workflow that ships with sparselrp.

The workflow itself (``Snakefile``, ``rules/*.smk``, ``config.yaml`` and its
schema, executor profiles) is package data under ``sparselrp/pipelines/``;
:func:`workflow_dir` finds it and :func:`copy_workflow` copies it to a folder
of the user's (``sparselrp pipeline --copy DIR``). The functions here are what
the Snakefile calls at parse time: resolving ``package:NAME`` config values to
files inside the installed package, counting the records of an input, and
naming shards. :func:`shard_file` splits a BED or FASTA file into contiguous,
deterministic shards (``sparselrp shard``). :func:`check_workflow` checks a
config, its inputs, the model and the optional dependencies before any job
runs (the Snakefile calls it at parse time; ``sparselrp pipeline --check``
calls it by hand, together with :func:`check_executor` for a profile).
"""

import gzip
import importlib
import os
import re
import shutil
import zlib
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
    "check_workflow",
    "check_executor",
    "fasta_has_coords",
    "profile_executor",
    "EXECUTOR_PLUGINS",
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


# ---------------------------------------------------------------------------------------------
# checks before any job runs
# ---------------------------------------------------------------------------------------------

#: executor name -> (module of its Snakemake plugin, pip package, commands it calls)
EXECUTOR_PLUGINS = {
    "slurm": ("snakemake_executor_plugin_slurm", "snakemake-executor-plugin-slurm", ("sbatch", "sacct", "sinfo")),
    "lsf": ("snakemake_executor_plugin_lsf", "snakemake-executor-plugin-lsf", ("bsub", "bjobs")),
    "cluster-generic": ("snakemake_executor_plugin_cluster_generic", "snakemake-executor-plugin-cluster-generic",
                        ()),
    "kubernetes": ("snakemake_executor_plugin_kubernetes", "snakemake-executor-plugin-kubernetes", ()),
    "googlebatch": ("snakemake_executor_plugin_googlebatch", "snakemake-executor-plugin-googlebatch", ()),
}


def _first_line(exc):
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    filename = getattr(exc, "filename", None)
    if isinstance(exc, OSError) and filename and str(filename) not in line:
        line = f"{filename}: {line}"
    return line


def _split_options(text):
    import shlex

    try:
        return shlex.split(str(text))
    except ValueError:
        return str(text).split()


def _option(args, name):
    """The value of ``name VALUE`` or ``name=VALUE`` in a list of command-line words (last one wins)."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


def _importable(module):
    """Whether ``module`` can be imported here (a broken install counts as missing)."""
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - ImportError, or an extension that fails to load
        return False
    return True


def _readable(path):
    path = Path(path)
    return path.is_file() and os.access(path, os.R_OK)


_COORD_NAME = re.compile(r"^>\S+:\d+-\d+(\(\s*[+-.]\s*\))?(\s|$)")


def fasta_has_coords(path):
    """Whether the first record name of a FASTA (plain or ``.gz``) reads ``chrom:start-end`` (genome coordinates).

    Such names give the encoded windows genome coordinates, which the bedGraph/bigWig tracks need.
    """
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith(">"):
                return _COORD_NAME.match(line) is not None
    return False


def _readable_file(spec, value, what, problems):
    path = Path(value)
    if not path.exists():
        problems.append(f"{spec}: {value} does not exist; give the path of {what}")
        return False
    if path.is_dir():
        problems.append(f"{spec}: {value} is a directory; give the path of {what}")
        return False
    if not os.access(path, os.R_OK):
        problems.append(f"{spec}: {value} is not readable; fix its permissions")
        return False
    return True


def check_workflow(config, load_model=True, index_genome=True):
    """Check a workflow config, its inputs, the model and the optional dependencies.

    Run by the Snakefile when it is parsed, before Snakemake schedules any job,
    so that a run that would fail late (at the tracks step, say) stops at once.

    Checks that the input FASTA or BED exists and is readable; that a BED input
    has a genome FASTA and a window length, and that the genome has a readable
    ``.fai`` index (built here once when missing, so the encode jobs do not race
    to build it); that ``tracks.chrom_sizes`` exists; that the model directory
    loads (``model: train`` excepted); that pyBigWig imports when bigWig tracks
    are asked for; that ``attribute.topk`` and ``attribute.prune_mass`` are not
    both set; that the ``executable`` given runs.

    Parameters
    ----------
    config : dict
        The workflow config after schema validation (defaults filled in).
    load_model : bool
        Load the model on the CPU (the real check); ``False`` only checks that
        the directory exists.
    index_genome : bool
        Open the genome with pyfaidx (building a missing index); ``False``
        only checks that the FASTA exists.

    Returns
    -------
    list of str
        One line per problem, each naming what is wrong and how to fix it; empty
        when all is well.
    """
    problems = []
    inp = config.get("input") or {}
    kind = None
    if inp.get("bed"):
        kind = "bed"
        try:
            bed = resolve_data(inp["bed"])
        except ValueError as exc:
            problems.append(f"input.bed: {exc}")
            bed = None
        if bed:
            _readable_file("input.bed", bed, "a BED file of regions", problems)
        if not inp.get("genome"):
            problems.append("input.bed needs input.genome: set it to the genome FASTA the regions refer to")
        else:
            try:
                genome = resolve_data(inp["genome"])
            except ValueError as exc:
                problems.append(f"input.genome: {exc}")
                genome = None
            if genome and _readable_file("input.genome", genome, "the genome FASTA", problems) and index_genome:
                from .genome import open_genome

                try:
                    open_genome(genome).close()
                except Exception as exc:  # noqa: BLE001 - any failure is reported as one line
                    problems.append(f"input.genome: {_first_line(exc)}")
        if not inp.get("length"):
            problems.append("input.bed needs input.length: set the window length in bp, e.g. 1000")
    elif inp.get("fasta"):
        kind = "fasta"
        try:
            fasta = resolve_data(inp["fasta"])
        except ValueError as exc:
            problems.append(f"input.fasta: {exc}")
            fasta = None
        if fasta:
            _readable_file("input.fasta", fasta, "a FASTA file (plain or .gz)", problems)
    else:
        problems.append("input: set input.fasta, or input.bed and input.genome")

    tracks = config.get("tracks") or {}
    # tracks need genome coordinates: a BED input, or FASTA record names chrom:start-end (else skipped)
    makes_tracks = kind == "bed"
    if kind == "fasta" and fasta is not None and _readable(fasta):
        try:
            makes_tracks = fasta_has_coords(fasta)
        except (OSError, EOFError, UnicodeDecodeError, ValueError, zlib.error) as exc:  # a damaged .gz, binary
            problems.append(f"input.fasta: cannot read {fasta}: {_first_line(exc)}")
    if tracks.get("chrom_sizes"):
        try:
            cs = resolve_data(tracks["chrom_sizes"])
        except ValueError as exc:
            problems.append(f"tracks.chrom_sizes: {exc}")
        else:
            _readable_file("tracks.chrom_sizes", cs, "a chrom.sizes, .fai or FASTA file", problems)
    if makes_tracks and tracks.get("enabled", True) and tracks.get("bigwig", True) and not _importable("pyBigWig"):
        problems.append("tracks.bigwig: the bigWig track needs pyBigWig, which is not installed: "
                        "pip install pyBigWig (or pip install 'sparselrp[pipeline]'), or set tracks.bigwig: false")

    model = config.get("model")
    if model and model != "train":
        try:
            model_dir = resolve_model(model)
        except ValueError as exc:
            problems.append(f"model: {exc}")
        else:
            if not Path(model_dir).exists():
                problems.append(f"model: {model_dir} does not exist; give a directory written by `sparselrp train` "
                                f"or sparselrp.models.save, package:NAME, or train")
            elif load_model:
                from .cli.options import load_model as _load

                # as the attribute rule will: its extra options may allow the model's own class, or pick a head
                extra = _split_options((config.get("attribute") or {}).get("extra") or "")
                try:
                    _load(model_dir, device="cpu", model_class=_option(extra, "--model-class"),
                          head=_option(extra, "--head"))
                except Exception as exc:  # noqa: BLE001 - any failure is reported as one line
                    problems.append(f"model: cannot load {model_dir}: {_first_line(exc)}")

    attr = config.get("attribute") or {}
    if attr.get("topk") is not None and attr.get("prune_mass") is not None:
        problems.append("attribute.topk and attribute.prune_mass exclude each other: set one of them to null")

    exe = config.get("executable")
    if exe:
        first = (_split_options(exe) or [str(exe)])[0]
        if shutil.which(first) is None:
            problems.append(f"executable: {first} is not an executable command; install sparselrp there, "
                            f"or set executable: null to use the one beside this Python")
    return problems


def profile_executor(profile):
    """The ``executor`` a Snakemake profile folder (or its ``config.yaml``) names; ``None`` when none."""
    import yaml

    path = Path(profile)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such profile file")
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    value = data.get("executor") if isinstance(data, dict) else None
    return None if value in (None, "local", "dryrun", "touch") else str(value)


def check_executor(executor, commands=True):
    """Check that the Snakemake executor plugin ``executor`` is installed (and its commands on PATH).

    Parameters
    ----------
    executor : str or None
        ``"slurm"``, ``"lsf"``, ... (``None`` or ``"local"``: nothing to check).
    commands : bool
        Also check that the scheduler's commands (``sbatch``, ``sacct``, ``sinfo``
        for SLURM) are on PATH, i.e. that this runs where jobs can be submitted.

    Returns
    -------
    list of str
        One line per problem.
    """
    if executor in (None, "local", "dryrun", "touch"):
        return []
    module, package, tools = EXECUTOR_PLUGINS.get(
        executor, (f"snakemake_executor_plugin_{executor.replace('-', '_')}", f"snakemake-executor-plugin-{executor}",
                   ()))
    if not _importable(module):
        return [f"executor {executor}: the Snakemake executor plugin is not installed: pip install {package}"]
    missing = [t for t in tools if commands and shutil.which(t) is None]
    if missing:
        return [f"executor {executor}: {', '.join(missing)} not found on PATH; run snakemake where "
                f"{executor.upper() if executor in ('slurm', 'lsf') else executor} jobs can be submitted "
                f"(a cluster login node)"]
    return []
