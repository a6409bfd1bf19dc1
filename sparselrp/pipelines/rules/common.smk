# Config resolution and helpers shared by the rules.

import json
import shlex
import shutil
import sys

import sparselrp
from snakemake.logging import logger
from sparselrp import pipeline as _slp

OUT = Path(config["outdir"])


def _exe():
    if config.get("executable"):
        return config["executable"]
    beside = Path(sys.executable).parent / "sparselrp"
    if beside.exists():
        return shlex.quote(str(beside))
    found = shutil.which("sparselrp")
    return shlex.quote(found) if found else "sparselrp"


SPARSELRP = _exe()

# ---- checks before any job runs ----------------------------------------------------------
# Config, inputs, genome index, model and optional dependencies are checked when the workflow is
# parsed (in the main snakemake process only, not again inside every cluster job), so a run that
# would fail at a late step stops now, with one line per problem naming it and the fix.
_NO_CHECK_FLAGS = {"--unlock", "--cleanup-metadata", "--cm", "--cleanup-shadow", "--list-rules", "--list",
                   "-l", "--lint", "--version", "-v"}


def _fail(problems):
    for p in problems:
        print(f"sparselrp workflow: {p}", file=sys.stderr, flush=True)
    sys.exit(1)


if getattr(workflow, "is_main_process", True) and not _NO_CHECK_FLAGS.intersection(sys.argv[1:]):
    _problems = _slp.check_workflow(config)
    if _problems:
        _fail(_problems)


onstart:
    # the executor is known only now (a profile or --executor chose it); its plugin is installed, or
    # snakemake would have refused the option: check that the scheduler's commands are here
    _plugin = getattr(workflow, "executor_plugin", None)
    _problems = _slp.check_executor(getattr(_plugin, "name", None))
    if _problems:
        _fail(_problems)

# ---- input: BED + genome, or FASTA -------------------------------------------------------
_inp = config["input"]
if _inp.get("bed"):
    INPUT_KIND = "bed"
    INPUT_FILE = _slp.resolve_data(_inp["bed"])
    GENOME = _slp.resolve_data(_inp.get("genome"))
    if not GENOME:
        raise ValueError("config: input.bed needs input.genome (the genome FASTA)")
    if not _inp.get("length"):
        raise ValueError("config: input.bed needs input.length (the window length)")
elif _inp.get("fasta"):
    INPUT_KIND = "fasta"
    INPUT_FILE = _slp.resolve_data(_inp["fasta"])
    GENOME = None
else:
    raise ValueError("config: set input.fasta, or input.bed and input.genome")

N_RECORDS = _slp.count_records(INPUT_FILE, INPUT_KIND)
if N_RECORDS == 0:
    raise ValueError(f"{INPUT_FILE}: no records")
N_SHARDS = max(1, min(int(config["shards"]), N_RECORDS))
SHARDS = [f"{i:04d}" for i in range(N_SHARDS)]
SHARD_EXT = "fa" if INPUT_KIND == "fasta" else "bed"

MAKE_TRACKS = config["tracks"]["enabled"] and (INPUT_KIND == "bed" or _slp.fasta_has_coords(INPUT_FILE))
if config["tracks"]["enabled"] and not MAKE_TRACKS:
    logger.warning(f"{INPUT_FILE}: record names carry no genome coordinates (chrom:start-end); "
                   "skipping the bedGraph/bigWig tracks")

# ---- model -------------------------------------------------------------------------------
TRAIN_MODEL = config["model"] == "train"
MODEL = str(OUT / "model") if TRAIN_MODEL else _slp.resolve_model(config["model"])

wildcard_constraints:
    shard=r"\d{4}",


def res(rule_name, key):
    """Threads / mem_mb / runtime of a rule from config["resources"]."""
    builtin = {"default": {"threads": 1, "mem_mb": 2000, "runtime": 60},
               "attribute": {"threads": 2, "mem_mb": 3000, "runtime": 240},
               "train": {"threads": 2, "mem_mb": 3000, "runtime": 120}}
    for table in (config.get("resources", {}), builtin):
        for name in (rule_name, "default"):
            if key in table.get(name, {}):
                return table[name][key]


def logpath(rule_name, name=None):
    """logs/{rule}/{wildcards}.log, or logs/{rule}/{rule}.log for rules without wildcards."""
    return str(OUT / "logs" / rule_name / f"{name or rule_name}.log")


def final_outputs():
    out = [OUT / "attributions.npz", OUT / "onehot.npz"]
    if config["merge"]["dense"]:
        out.append(OUT / "attributions.dense.npz")
    if config["attribute"]["hypothetical"]:
        out.append(OUT / "hypothetical.npz")
    if MAKE_TRACKS:
        out.append(OUT / "tracks" / "relevance.bedGraph.gz")
        if config["tracks"]["bigwig"]:
            out.append(OUT / "tracks" / "relevance.bw")
    out += [OUT / "seqlets.tsv", OUT / "motifs.meme"]
    if config["logos"]["enabled"]:
        out.append(OUT / "logos")
    if config["report"]["enabled"]:
        out.append(OUT / "report.html")
    return [str(p) for p in out]
