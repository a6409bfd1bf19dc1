"""Issue 18: the workflow checks config, inputs, genome index, model and optional dependencies before any job.

Each problem is one line naming what is wrong and how to fix it. The end-to-end tests make a module
unimportable inside the snakemake subprocess with a ``sitecustomize`` shim on PYTHONPATH (nothing is
uninstalled) and check that no job ran: no ``results/`` folder, no log, no shard.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sparselrp import pipeline as slp
from sparselrp.cli import main

from pipeline_helpers import SNAKEMAKE, VENV_BIN

CTCF_MODEL = slp.resolve_model("package:ctcf")

# Hides the modules named in SPARSELRP_TEST_BLOCK from imports and from pkgutil (how snakemake finds plugins).
SHIM = textwrap.dedent(
    """
    import os, pkgutil, sys
    _blocked = set(filter(None, os.environ.get("SPARSELRP_TEST_BLOCK", "").split(",")))

    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in _blocked:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by a test)", name=name)
            return None

    sys.meta_path.insert(0, _Block())
    _iter_modules = pkgutil.iter_modules

    def iter_modules(path=None, prefix=""):
        for m in _iter_modules(path, prefix):
            if m.name.rpartition(".")[2] not in _blocked:
                yield m

    pkgutil.iter_modules = iter_modules
    """
)


def config(**overrides):
    """A validated config: the packaged defaults with ``overrides`` (two levels deep)."""
    from sparselrp.cli.pipeline import load_config

    cfg = load_config()
    for k, v in overrides.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


def bed_inputs(tmp_path):
    genome = tmp_path / "genome" / "g.fa"
    genome.parent.mkdir()
    genome.write_text(">chrA\n" + "ACGT" * 50 + "\n")
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t0\t100\tr0\t0\t+\nchrA\t50\t150\tr1\t0\t-\n")
    return bed, genome


# ----------------------------------------------------------------------------- check_workflow


def test_default_config_passes():
    assert slp.check_workflow(config()) == []


def test_missing_input_files_are_named(tmp_path):
    probs = slp.check_workflow(config(input={"fasta": str(tmp_path / "nope.fa")}))
    assert probs == [f"input.fasta: {tmp_path / 'nope.fa'} does not exist; give the path of a FASTA file (plain or .gz)"]
    bed, genome = bed_inputs(tmp_path)
    probs = slp.check_workflow(config(input={"bed": str(bed), "genome": str(tmp_path / "hg.fa"), "length": 100}))
    assert len(probs) == 1 and probs[0].startswith(f"input.genome: {tmp_path / 'hg.fa'} does not exist")
    probs = slp.check_workflow(config(input={"bed": str(bed), "genome": None, "length": None}))
    assert probs == ["input.bed needs input.genome: set it to the genome FASTA the regions refer to",
                     "input.bed needs input.length: set the window length in bp, e.g. 1000"]
    probs = slp.check_workflow(config(input={"fasta": "package:nope"}))
    assert len(probs) == 1 and probs[0].startswith("input.fasta: unknown packaged data 'package:nope'")


def test_genome_index_is_built_once_or_its_absence_explained(tmp_path, monkeypatch):
    bed, genome = bed_inputs(tmp_path)
    cfg = config(input={"bed": str(bed), "genome": str(genome), "length": 100})
    fai = Path(str(genome) + ".fai")
    # a read-only genome folder without an index: named, with how to build the index (root ignores
    # permission bits, so the check is driven through os.access)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if (str(p) == str(genome.parent) and mode == os.W_OK)
                        else real_access(p, mode))
    probs = slp.check_workflow(cfg)
    assert len(probs) == 1, probs
    assert probs[0].startswith(f"input.genome: {genome}: genome FASTA has no index (g.fa.fai)") and "samtools faidx" in probs[0]
    assert not fai.exists()
    monkeypatch.undo()
    # writable: the index is built here, once, before the encode jobs would race to build it
    assert slp.check_workflow(cfg) == []
    assert fai.read_text().split("\t")[:2] == ["chrA", "200"]
    # an unreadable (corrupt) index is one line too
    fai.write_text("chrA\tnot-a-number\n")
    os.utime(fai, (time.time() + 10, time.time() + 10))  # newer than the FASTA: not rebuilt
    probs = slp.check_workflow(cfg)
    assert len(probs) == 1 and probs[0].startswith("input.genome: ") and "\n" not in probs[0], probs


def test_model_that_does_not_load_is_named(tmp_path):
    probs = slp.check_workflow(config(model=str(tmp_path / "nomodel")))
    assert probs == [f"model: {tmp_path / 'nomodel'} does not exist; give a directory written by `sparselrp train` "
                     "or sparselrp.models.save, package:NAME, or train"]
    broken = tmp_path / "broken"
    shutil.copytree(CTCF_MODEL, broken)
    (broken / "config.json").write_text("{ not json")
    probs = slp.check_workflow(config(model=str(broken)))
    assert len(probs) == 1 and probs[0].startswith(f"model: cannot load {broken}: ") and "\n" not in probs[0]
    weights = next(p for p in broken.iterdir() if p.suffix == ".safetensors")
    shutil.copy(Path(CTCF_MODEL) / "config.json", broken / "config.json")
    weights.write_bytes(weights.read_bytes()[:100])  # truncated weights
    probs = slp.check_workflow(config(model=str(broken)))
    assert len(probs) == 1 and probs[0].startswith(f"model: cannot load {broken}: "), probs
    assert slp.check_workflow(config(model="train")) == []  # trained by the workflow's first rule


def test_model_of_an_own_class_loads_when_attribute_extra_allows_it(tmp_path, monkeypatch):
    """The check loads the model as the attribute rule will: with the --model-class of attribute.extra."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "own_model_mod.py").write_text("from sparselrp.models.zoo import SmallCNN as Net\n")
    monkeypatch.syspath_prepend(str(pkg))
    model = tmp_path / "own"
    shutil.copytree(CTCF_MODEL, model)
    cfg = json.loads((model / "config.json").read_text())
    cfg.pop("architecture", None)
    cfg["class"] = "own_model_mod:Net"
    (model / "config.json").write_text(json.dumps(cfg))
    probs = slp.check_workflow(config(model=str(model)))
    assert len(probs) == 1 and probs[0].startswith(f"model: cannot load {model}: ") and "own_model_mod:Net" in probs[0]
    assert "not a sparselrp zoo class" in probs[0] and "\n" not in probs[0]
    assert slp.check_workflow(config(model=str(model), attribute={"extra": "--model-class own_model_mod:Net"})) == []
    assert slp.check_workflow(config(model=str(model), attribute={"extra": "--model-class=own_model_mod:Net"})) == []


def test_missing_pybigwig_is_named_with_the_install_command(monkeypatch):
    real = slp._importable
    monkeypatch.setattr(slp, "_importable", lambda m: False if m == "pyBigWig" else real(m))
    want = ("tracks.bigwig: the bigWig track needs pyBigWig, which is not installed: pip install pyBigWig "
            "(or pip install 'sparselrp[pipeline]'), or set tracks.bigwig: false")
    assert slp.check_workflow(config()) == [want]
    assert slp.check_workflow(config(tracks={"bigwig": False})) == []
    assert slp.check_workflow(config(tracks={"enabled": False})) == []


def test_pybigwig_not_needed_where_no_tracks_are_made(tmp_path, monkeypatch):
    """A FASTA whose record names carry no coordinates gets no tracks (the workflow skips them with a warning)."""
    real = slp._importable
    monkeypatch.setattr(slp, "_importable", lambda m: False if m == "pyBigWig" else real(m))
    plain = tmp_path / "plain.fa"
    plain.write_text(">seq1 a peak\nACGT\n>seq2\nACGT\n")
    assert not slp.fasta_has_coords(plain)
    assert slp.check_workflow(config(input={"fasta": str(plain)})) == []
    coords = tmp_path / "coords.fa.gz"
    import gzip

    with gzip.open(coords, "wt") as fh:
        fh.write(">chr1:100-104(+)\nACGT\n")
    assert slp.fasta_has_coords(coords)
    assert len(slp.check_workflow(config(input={"fasta": str(coords)}))) == 1
    broken = tmp_path / "broken.fa.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"garbage!" * 10)  # gzip header, bad data
    probs = slp.check_workflow(config(input={"fasta": str(broken)}))
    assert len(probs) == 1 and probs[0].startswith(f"input.fasta: cannot read {broken}: ") and "\n" not in probs[0]


def test_other_config_problems(tmp_path):
    probs = slp.check_workflow(config(attribute={"topk": 8, "prune_mass": 0.5},
                                      tracks={"chrom_sizes": str(tmp_path / "hg.sizes")},
                                      executable=str(tmp_path / "bin" / "sparselrp")))
    assert probs == [
        f"tracks.chrom_sizes: {tmp_path / 'hg.sizes'} does not exist; give the path of a chrom.sizes, .fai or "
        "FASTA file",
        "attribute.topk and attribute.prune_mass exclude each other: set one of them to null",
        f"executable: {tmp_path / 'bin' / 'sparselrp'} is not an executable command; install sparselrp there, "
        "or set executable: null to use the one beside this Python",
    ]


# ----------------------------------------------------------------------------- executor plugins


def test_executor_plugin_and_scheduler_commands(monkeypatch, tmp_path):
    assert slp.check_executor(None) == [] and slp.check_executor("local") == []
    real = slp._importable
    monkeypatch.setattr(slp, "_importable",
                        lambda m: False if m == "snakemake_executor_plugin_slurm" else real(m))
    assert slp.check_executor("slurm") == [
        "executor slurm: the Snakemake executor plugin is not installed: pip install snakemake-executor-plugin-slurm"]
    monkeypatch.setattr(slp, "_importable", lambda m: True)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    assert slp.check_executor("slurm") == [
        "executor slurm: sbatch, sacct, sinfo not found on PATH; run snakemake where SLURM jobs can be submitted "
        "(a cluster login node)"]
    fake = Path(__file__).resolve().parent / "fake_slurm"
    monkeypatch.setenv("PATH", str(fake))
    assert slp.check_executor("slurm") == []
    assert slp.profile_executor(slp.workflow_dir() / "profiles" / "slurm") == "slurm"
    assert slp.profile_executor(slp.workflow_dir() / "profiles" / "local") is None


def test_check_cli_names_each_problem_on_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["pipeline", "--check"])
    assert r.exit_code == 0 and r.stderr.strip() == "workflow checks passed", r.output
    real = slp._importable
    monkeypatch.setattr(slp, "_importable",
                        lambda m: False if m in ("pyBigWig", "snakemake_executor_plugin_slurm") else real(m))
    cfg = tmp_path / "my.yaml"
    cfg.write_text(yaml.safe_dump({"model": "nomodel", "shards": 2}))
    r = CliRunner().invoke(main, ["pipeline", "--check", "--configfile", str(cfg), "--profile",
                                  str(slp.workflow_dir() / "profiles" / "slurm")])
    assert r.exit_code == 1 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert [ln.split(":")[1].strip() for ln in lines] == ["tracks.bigwig", "model", "executor slurm"], lines
    assert all(ln.startswith("sparselrp workflow: ") for ln in lines)
    assert "pip install pyBigWig" in lines[0] and "pip install snakemake-executor-plugin-slurm" in lines[2]
    # a config that fails the schema is one clear line naming the key
    cfg.write_text(yaml.safe_dump({"shards": 0}))
    r = CliRunner().invoke(main, ["pipeline", "--check", "--configfile", str(cfg)])
    assert r.exit_code == 1 and r.stderr.strip().splitlines() == [
        "sparselrp: error: shards: 0 is less than the minimum of 1"]


# ----------------------------------------------------------------------------- snakemake, end to end


def _snakemake_env(tmp_path, block):
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SHIM)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")])),
               SPARSELRP_TEST_BLOCK=block)
    return env


@pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed")
def test_shim_really_hides_pybigwig(tmp_path):
    env = _snakemake_env(tmp_path, "pyBigWig")
    p = subprocess.run([sys.executable, "-c", "import pyBigWig"], env=env, capture_output=True, text=True)
    assert p.returncode == 1 and "hidden by a test" in p.stderr
    p = subprocess.run([sys.executable, "-c", "import pyBigWig"], env=_snakemake_env(tmp_path, ""),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


@pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed")
def test_workflow_without_pybigwig_stops_before_any_job(tmp_path):
    """The default workflow (bigWig tracks on) with pyBigWig unimportable: one line, exit 1, within
    seconds, and nothing ran - no shard, no encode, no attribute, no log."""
    slp.copy_workflow(tmp_path / "wf")
    t0 = time.monotonic()
    p = subprocess.run([SNAKEMAKE, "-s", str(tmp_path / "wf" / "Snakefile"), "-c", "2"], cwd=tmp_path,
                       env=_snakemake_env(tmp_path, "pyBigWig"), capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - t0
    assert p.returncode == 1, p.stdout + p.stderr
    lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    assert lines == ["sparselrp workflow: tracks.bigwig: the bigWig track needs pyBigWig, which is not installed: "
                     "pip install pyBigWig (or pip install 'sparselrp[pipeline]'), or set tracks.bigwig: false"]
    assert not (tmp_path / "results").exists()  # no job wrote anything, not even a log
    assert elapsed < 60, elapsed  # generous: parsing the workflow takes a few seconds
    # without the bigWig track the same environment plans the whole run
    cfg = tmp_path / "nobw.yaml"
    cfg.write_text(yaml.safe_dump({"tracks": {"bigwig": False}}))
    p = subprocess.run([SNAKEMAKE, "-s", str(tmp_path / "wf" / "Snakefile"), "-c", "2", "-n", "--configfile",
                        str(cfg)], cwd=tmp_path, env=_snakemake_env(tmp_path, "pyBigWig"), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0 and "attribute" in p.stdout, p.stdout + p.stderr


@pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed")
def test_slurm_executor_without_scheduler_commands_stops_before_submitting(tmp_path):
    """Through the real SLURM executor plugin, on a machine without sbatch: one line, no job submitted."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    slp.copy_workflow(tmp_path / "wf")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"tracks": {"bigwig": False}}))
    env = dict(os.environ, PATH=os.pathsep.join(["/usr/bin", "/bin"]))  # the venv's sparselrp is found beside python
    p = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(tmp_path / "wf" / "Snakefile"), "--executor",
                        "slurm", "-j", "1", "--default-resources", "slurm_partition=main", "--configfile", str(cfg)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stdout + p.stderr
    ours = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("sparselrp workflow:")]
    assert ours == ["sparselrp workflow: executor slurm: sbatch, sacct, sinfo not found on PATH; run snakemake "
                    "where SLURM jobs can be submitted (a cluster login node)"]
    assert not (tmp_path / "results").exists()


@pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed")
def test_profile_without_its_plugin_is_named_by_check(tmp_path):
    """snakemake itself refuses `--profile profiles/slurm` before it reads the workflow when the plugin is
    missing; `sparselrp pipeline --check --profile` names the package to install."""
    env = _snakemake_env(tmp_path, "snakemake_executor_plugin_slurm")
    prof = slp.workflow_dir() / "profiles" / "slurm"
    p = subprocess.run([str(VENV_BIN / "sparselrp"), "pipeline", "--check", "--profile", str(prof)], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        "sparselrp workflow: executor slurm: the Snakemake executor plugin is not installed: "
        "pip install snakemake-executor-plugin-slurm"]
    assert p.stdout == ""
