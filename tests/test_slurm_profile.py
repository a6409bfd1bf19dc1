"""The shipped SLURM profile, run for real through snakemake-executor-plugin-slurm against fake SLURM commands.

tests/fake_slurm/ holds small stand-ins for sbatch, sacct, squeue, scancel, sinfo and srun that run each job on
this machine in the background and keep their records under $FAKE_SLURM_DIR (see _fake_slurm.py). The workflow
copied out of the package runs with `--profile profiles/slurm` exactly as a user would on a login node; the test
then checks the outputs against one unsharded `sparselrp attribute` run and every sbatch call against the rule
resources declared by the profile and the config.
"""

import importlib.util
import json
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparselrp import pipeline as slp

from pipeline_helpers import ATTR_ARGS, SNAKEMAKE, VENV_BIN, assert_rel_close, load_attr, run_sparselrp

HERE = Path(__file__).resolve().parent
FAKE_SLURM = HERE / "fake_slurm"
HAVE_PLUGIN = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None
HAVE_JOBSTEP = importlib.util.find_spec("snakemake_executor_plugin_slurm_jobstep") is not None

pytestmark = [
    pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed"),
    pytest.mark.skipif(not (HAVE_PLUGIN and HAVE_JOBSTEP),
                       reason="snakemake-executor-plugin-slurm (and its -jobstep plugin) is not importable; "
                              "pip install 'sparselrp[pipeline]'"),
]

N_RECORDS = 24
N_SHARDS = 2
# what the user config declares; `params` declares no resources, so it gets the profile's default-resources
RESOURCES = {"default": {"threads": 1, "mem_mb": 1800, "runtime": 30},
             "attribute": {"threads": 2, "mem_mb": 3000, "runtime": 240},
             "encode": {"threads": 1, "mem_mb": 1500, "runtime": 7}}


def _env(state):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    env.update(PATH=os.pathsep.join([str(FAKE_SLURM), str(VENV_BIN), os.environ.get("PATH", "")]),
               FAKE_SLURM_DIR=str(state),
               # the profile's partition is not the cluster default: sbatch must be given -p main
               FAKE_SLURM_PARTITIONS="debug*,main")
    return env


def _fake_jobs(state):
    jobs = []
    for p in sorted((state / "jobs").glob("*.json"), key=lambda p: int(p.stem)):
        rec = json.loads(p.read_text())
        rec["state"] = (state / "jobs" / f"{p.stem}.state").read_text()
        jobs.append(rec)
    return jobs


def _cancel_leftovers(state, env):
    """scancel every fake job still pending or running (after a failed or timed-out run)."""
    if not (state / "jobs").is_dir():
        return
    ids = [str(j["id"]) for j in _fake_jobs(state) if j["state"] in ("PENDING", "RUNNING")]
    if ids:
        subprocess.run([str(FAKE_SLURM / "scancel"), *ids], env=env, capture_output=True, timeout=60)


def test_fake_slurm_commands(tmp_path):
    """The fake commands themselves: ids, states in the plugin's formats, partitions, scancel, srun."""
    state = tmp_path / "state"
    env = _env(state)

    def run(*cmd, **kw):
        return subprocess.run([str(FAKE_SLURM / cmd[0]), *cmd[1:]], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, **kw)

    ok = run("sbatch", "--parsable", "--job-name", "run1", "--output", str(tmp_path / "%j.log"), "-p", "main",
             "-t", "5", "--mem", "100", "--ntasks=1", "--cpus-per-task=3", "-D", str(tmp_path),
             "--wrap=srun -n1 --cpu-bind=q --cpus-per-task=3 --nodes=1 sh -c 'echo $SLURM_JOB_ID $SLURM_CPUS_PER_TASK'")
    bad = run("sbatch", "--parsable", "--job-name", "run1", "--wrap", "exit 3")  # default partition: debug
    slow = run("sbatch", "--parsable", "--job-name", "run2", "-p", "main", "--wrap", "sleep 60")
    assert (ok.returncode, bad.returncode, slow.returncode) == (0, 0, 0), ok.stderr + bad.stderr + slow.stderr
    ids = [int(r.stdout.strip()) for r in (ok, bad, slow)]
    assert ids == sorted(set(ids))
    refused = run("sbatch", "-p", "gpu", "--wrap", "true")
    assert refused.returncode == 1 and "invalid partition" in refused.stderr
    assert run("sbatch", "--bogus", "--wrap", "true").returncode == 1
    try:
        query = ["-X", "--parsable2", "--clusters", "all", "--noheader", "--format=JobIdRaw,State",
                 "--starttime", "2020-01-01T00:00", "--endtime", "now", "--name", "run1"]
        deadline = time.time() + 60
        while time.time() < deadline:
            got = dict(line.split("|") for line in run("sacct", *query).stdout.split())
            if set(got.values()) <= {"COMPLETED", "FAILED"} and len(got) == 2:
                break
            time.sleep(0.2)
        assert got == {str(ids[0]): "COMPLETED", str(ids[1]): "FAILED"}  # run2 is filtered out by --name
        assert (tmp_path / f"{ids[0]}.log").read_text().split() == [str(ids[0]), "3"]
        assert json.loads((state / "jobs" / f"{ids[1]}.json").read_text())["partition"] == "debug"
        step = json.loads((state / "steps" / f"{ids[0]}.0.json").read_text())
        assert step["options"] == ["-n1", "--cpu-bind=q", "--cpus-per-task=3", "--nodes=1"]
        assert step["command"][:2] == ["sh", "-c"]
        sq = run("squeue", "--format=%i|%T", "--states=all", "--noheader", "--name", "run2").stdout.split()
        assert sq in ([f"{ids[2]}|RUNNING"], [f"{ids[2]}|PENDING"])
        assert run("sacct", "-nu", "me", "-o", "Account%256").stdout == ""  # no account to guess
        assert run("sinfo", "-o", "%P").stdout.split() == ["PARTITION", "debug*", "main"]
        assert run("srun", "true").returncode == 1  # srun outside an allocation
    finally:
        assert run("scancel", str(ids[2])).returncode == 0
    deadline = time.time() + 30
    while not (state / "jobs" / f"{ids[2]}.exit").exists() and time.time() < deadline:
        time.sleep(0.1)
    sq = run("squeue", "--format=%i|%T", "--states=all", "--noheader", "--name", "run2").stdout.split()
    assert sq == [f"{ids[2]}|CANCELLED"]
    assert run("squeue", "--format=%i|%T", "--noheader").stdout == ""  # no job pending or running


def _parse_comment(comment):
    m = re.fullmatch(r"rule_(.+?)(?:_wildcards_(.*))?", comment)
    return m.group(1), m.group(2) or ""


@pytest.mark.slow
def test_slurm_profile_runs_workflow(tmp_path):
    work = tmp_path
    state = work / "fake_slurm_state"
    slp.copy_workflow(work / "wf")
    # a few of the shipped CTCF peaks (record names carry hg19 coordinates, so tracks are made too)
    src = slp.resolve_data("package:ctcf_peaks_fasta")
    text = Path(src).read_text()
    records = [">" + r for r in text.split(">")[1:]][:N_RECORDS]
    fasta = work / "peaks.fa"
    fasta.write_text("".join(records))
    cfg = work / "my.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"fasta": str(fasta)}, "shards": N_SHARDS, "merge": {"dense": True},
                                   "attribute": {"batch_size": 128, "device": "cpu"}, "resources": RESOURCES,
                                   # 24 peaks give tfmodisco-lite fewer seqlets than its default
                                   # min_metacluster_size (100) asks for; this test is about SLURM routing
                                   "motifs": {"extra": "--min-metacluster-size 5 --min-support 3"}}))
    profile = work / "wf" / "profiles" / "slurm"
    prof = yaml.safe_load((profile / "config.yaml").read_text())
    env = _env(state)
    # The plugin waits init-seconds-before-status-checks (default 40 s) before its first sacct query and again
    # after every wave of finished jobs; 1 s keeps this test short. Nothing else is overridden.
    cmd = [SNAKEMAKE, "-s", str(work / "wf" / "Snakefile"), "--profile", str(profile), "--configfile", str(cfg),
           "--slurm-init-seconds-before-status-checks", "1"]
    try:
        res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    finally:
        _cancel_leftovers(state, env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    results = work / "results"
    assert (results / "report.html").stat().st_size > 1000
    for rel in ["attributions.npz", "attributions.dense.npz", "onehot.npz", "seqlets.tsv", "motifs.meme",
                "params.json", "tracks/relevance.bedGraph.gz", "tracks/relevance.bw"]:
        assert (results / rel).is_file(), rel

    # the same data through one unsharded encode + attribute
    model = run_sparselrp("model-path", "ctcf").stdout.strip()
    run_sparselrp("encode", fasta, "-o", work / "single_ohe.npz")
    run_sparselrp("attribute", "-m", model, "-s", work / "single_ohe.npz", "-o", work / "single_attr.npz", *ATTR_ARGS)
    single = load_attr(work / "single_attr.npz")
    assert single.shape == (N_RECORDS, 4, 200) and np.count_nonzero(single) > 0
    assert_rel_close(load_attr(results / "attributions.npz"), single)
    with np.load(results / "attributions.dense.npz") as d:
        assert_rel_close(d["arr_0"], single)

    # one sbatch per rule instance, each with the resources the config (or the profile's defaults) declare
    jobs = _fake_jobs(state)
    assert jobs and all(j["state"] == "COMPLETED" for j in jobs), [(j["id"], j["state"]) for j in jobs]
    shards = [f"{i:04d}" for i in range(N_SHARDS)]
    want = Counter([("shard", ""), ("merge_onehot", ""), ("merge_attributions", ""), ("merge_dense", ""),
                    ("merge_hypothetical", ""), ("tracks", ""), ("seqlets", ""), ("motifs", ""), ("logos", ""), ("params", ""), ("report", "")]
                   + [(r, s) for r in ("encode", "attribute") for s in shards])
    got = Counter(_parse_comment(j["options"]["comment"]) for j in jobs)
    assert got == want
    run_names = {j["name"] for j in jobs}
    assert len(run_names) == 1  # one snakemake run id as the job name, what sacct --name filters on
    defaults = prof["default-resources"]
    for j in jobs:
        rule, _ = _parse_comment(j["options"]["comment"])
        if rule == "params":  # declares no resources: the profile's default-resources
            want_res = {"threads": 1, "mem_mb": defaults["mem_mb"], "runtime": defaults["runtime"]}
        else:
            want_res = RESOURCES.get(rule, RESOURCES["default"])
        opts = j["options"]
        assert opts["mem"] == str(want_res["mem_mb"]), (rule, j["argv"])
        assert opts["cpus-per-task"] == str(want_res["threads"]), (rule, j["argv"])
        assert opts["time"] == str(want_res["runtime"]), (rule, j["argv"])  # minutes
        assert j["partition"] == defaults["slurm_partition"] and "-p" in j["argv"], (rule, j["argv"])
        assert opts["ntasks"] == "1" and "parsable" in j["flags"]
        assert Path(opts["chdir"]).resolve() == work.resolve()
        # inside the job, the jobstep plugin ran the rule as one srun step with the job's CPUs
        steps = [json.loads(p.read_text()) for p in (state / "steps").glob(f"{j['id']}.*.json")]
        assert len(steps) == 1, (rule, steps)
        assert f"--cpus-per-task={want_res['threads']}" in steps[0]["options"]
