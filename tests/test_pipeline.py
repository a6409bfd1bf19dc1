"""The Snakemake workflow and its helpers: shard, merge, packaged workflow, end-to-end runs."""

import gzip
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sparselrp import pipeline as slp
from sparselrp.cli import main
from sparselrp.cli.merge import concat_npz

from pipeline_helpers import ATTR_ARGS, SNAKEMAKE, VENV_BIN, assert_rel_close, load_attr, run_sparselrp

ROOT = Path(__file__).resolve().parents[1]
CHR17_FA = slp.resolve_data("package:chr17_fasta")  # the shipped 40 kb of hg19 chr17


# ---------------------------------------------------------------------------------------------
# shard
# ---------------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 500), k=st.integers(1, 40))
def test_shard_bounds_partition(n, k):
    b = slp.shard_bounds(n, k)
    assert len(b) == k + 1 and b[0] == 0 and b[-1] == n
    sizes = np.diff(b)
    assert np.all(sizes >= 0) and sizes.max() - sizes.min() <= 1


def _fasta_records(text):
    recs, cur = [], None
    for line in text.splitlines():
        if line.startswith(">"):
            cur = [line]
            recs.append(cur)
        elif cur is not None:
            cur.append(line)
    return ["\n".join(r) for r in recs]


@settings(max_examples=40, deadline=None)
@given(seqs=st.lists(st.text("ACGTN", min_size=0, max_size=130), min_size=1, max_size=30),
       k=st.integers(1, 12), gz=st.booleans())
def test_shard_fasta_round_trip(tmp_path_factory, seqs, k, gz):
    tmp = tmp_path_factory.mktemp("shard")
    text = "".join(f">r{i} desc\n" + "".join(s[j:j + 60] + "\n" for j in range(0, len(s), 60))
                   for i, s in enumerate(seqs))
    src = tmp / ("in.fa.gz" if gz else "in.fa")
    if gz:
        with gzip.open(src, "wt") as fh:
            fh.write(text)
    else:
        src.write_text(text)
    paths = slp.shard_file(src, k, tmp / "out")
    assert [p.name for p in paths] == [f"shard-{i:04d}.fa" for i in range(k)]
    parts = [_fasta_records(p.read_text()) for p in paths]
    assert sum(parts, []) == _fasta_records(text)
    bounds = slp.shard_bounds(len(seqs), k)
    assert [len(p) for p in parts] == list(np.diff(bounds))
    # deterministic
    again = slp.shard_file(src, k, tmp / "again")
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]


def test_shard_bed_cli_skips_headers(tmp_path):
    lines = [f"chr1\t{i * 10}\t{i * 10 + 5}\tn{i}\t0\t{'+-'[i % 2]}" for i in range(11)]
    src = tmp_path / "r.bed"
    src.write_text("track name=x\n# comment\n" + "\n".join(lines[:5]) + "\n\n" + "\n".join(lines[5:]))
    res = CliRunner().invoke(main, ["shard", str(src), "-n", "3", "-o", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    outs = [Path(p) for p in res.output.split()]
    got = [ln for p in outs for ln in p.read_text().splitlines()]
    assert got == lines
    assert [len(p.read_text().splitlines()) for p in outs] == [3, 4, 4]
    assert slp.count_records(src) == 11 and slp.detect_format(src) == "bed"


def test_shard_errors(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n>r1\nACGT\n")
    res = CliRunner().invoke(main, ["shard", str(bad), "-n", "2", "-o", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "bad.fa, line 1" in res.output and "before the first" in res.output
    res = CliRunner().invoke(main, ["shard", str(tmp_path / "missing.bed"), "-n", "2", "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "missing.bed" in res.output
    res = CliRunner().invoke(main, ["shard", str(bad), "-n", "0", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------

def test_concat_npz_streams_and_matches_numpy(tmp_path):
    rng = np.random.default_rng(0)
    parts, names = [], []
    for i, n in enumerate([3, 0, 5, 1]):
        X = rng.integers(0, 2, size=(n, 4, 7)).astype(np.float32)
        nm = np.array([f"chr{i}:{j}-{j + 7 * (i + 1)}" for j in range(n)], dtype=f"<U{8 + i}")
        p = tmp_path / f"p{i}.npz"
        np.savez_compressed(p, arr_0=X, names=nm, start=np.arange(n, dtype=np.int64) + 10 * i,
                            alphabet=np.array(list("ACGT")))
        parts.append((X, nm))
        names.append(p)
    shape = concat_npz(names, tmp_path / "m.npz", batch_size=2)
    assert shape == (9, 4, 7)
    with np.load(tmp_path / "m.npz") as m:
        np.testing.assert_array_equal(m["arr_0"], np.concatenate([x for x, _ in parts]))
        assert m["names"].tolist() == sum((nm.tolist() for _, nm in parts), [])
        assert m["start"].tolist() == [0, 1, 2, 20, 21, 22, 23, 24, 30]
        assert m["alphabet"].tolist() == list("ACGT")


def test_concat_npz_rejects_mismatch(tmp_path):
    np.savez(tmp_path / "a.npz", arr_0=np.zeros((2, 4, 5)))
    np.savez(tmp_path / "b.npz", arr_0=np.zeros((2, 4, 6)))
    with pytest.raises(ValueError, match="b.npz"):
        concat_npz([tmp_path / "a.npz", tmp_path / "b.npz"], tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    res = CliRunner().invoke(main, ["merge", "--kind", "onehot", str(tmp_path / "a.npz"),
                                    str(tmp_path / "b.npz"), "-o", str(tmp_path / "m.npz")])
    assert res.exit_code == 1 and "sparselrp: error:" in res.output and "b.npz" in res.output


def test_merge_attributions_cli_sparse_and_dense(tmp_path):
    io_attr = pytest.importorskip("sparselrp.io.attributions")
    rng = np.random.default_rng(1)
    Rs = []
    for i, n in enumerate([4, 3]):
        R = rng.normal(size=(n, 4, 9)).astype(np.float32) * (rng.random((n, 4, 9)) < 0.2)
        io_attr.save_attributions(tmp_path / f"a{i}.npz", R, sparse=True)
        Rs.append(R)
    ins = [str(tmp_path / "a0.npz"), str(tmp_path / "a1.npz")]
    for flag in ("--sparse", "--dense"):
        out = tmp_path / f"m{flag}.npz"
        res = CliRunner().invoke(main, ["merge", *ins, "-o", str(out), flag])
        assert res.exit_code == 0, res.output
        np.testing.assert_array_equal(io_attr.load_attributions(out).numpy(), np.concatenate(Rs))
    with np.load(tmp_path / "m--dense.npz") as d:  # what TF-MoDISco reads
        assert list(d.keys()) == ["arr_0"] and d["arr_0"].shape == (7, 4, 9)


# ---------------------------------------------------------------------------------------------
# packaged workflow
# ---------------------------------------------------------------------------------------------

def test_packaged_workflow_files_and_root_mirror():
    wf = slp.workflow_dir()
    for rel in ["Snakefile", "config.yaml", "config.schema.yaml", "README.md", "profiles/local/config.yaml",
                "profiles/slurm/config.yaml", "rules/common.smk", "rules/extract.smk", "rules/attribute.smk",
                "rules/tracks.smk", "rules/motifs.smk", "rules/report.smk"]:
        assert (wf / rel).is_file(), rel
    # pipelines/ at the repository root mirrors the packaged files (its Snakefile includes the packaged one)
    root = ROOT / "pipelines"
    if root.is_dir():
        for rel in ["config.yaml", "config.schema.yaml", "README.md", "profiles/local/config.yaml",
                    "profiles/slurm/config.yaml"]:
            assert (root / rel).read_bytes() == (wf / rel).read_bytes(), f"pipelines/{rel} differs from the package"
        assert "sparselrp.pipeline.snakefile()" in (root / "Snakefile").read_text()


def test_default_config_is_valid_and_complete():
    jsonschema = pytest.importorskip("jsonschema")
    wf = slp.workflow_dir()
    schema = yaml.safe_load((wf / "config.schema.yaml").read_text())
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    jsonschema.validate(cfg, schema)
    # every documented key has a schema default equal to config.yaml's value
    for key, sub in schema["properties"].items():
        assert key in cfg, key
        if sub.get("type") == "object" and "properties" in sub:
            for k2, s2 in sub["properties"].items():
                assert cfg[key][k2] == s2["default"], f"{key}.{k2}"
        else:
            assert cfg[key] == sub["default"], key
    bad = dict(cfg, shards=0)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = dict(cfg, attribute=dict(cfg["attribute"], composite="nope"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed")
def test_profiles_use_snakemake_options():
    """Every key of the shipped profiles is a snakemake command-line option (the SLURM profile is not run
    here: its executor plugin is not a dependency)."""
    helptext = subprocess.run([SNAKEMAKE, "--help"], capture_output=True, text=True, timeout=120).stdout
    for name in ("local", "slurm"):
        prof = yaml.safe_load((slp.workflow_dir() / "profiles" / name / "config.yaml").read_text())
        assert prof
        for key in prof:
            assert f"--{key}" in helptext, f"profiles/{name}: unknown option {key}"
    slurm = yaml.safe_load((slp.workflow_dir() / "profiles" / "slurm" / "config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["rerun-incomplete"] is True
    assert {"mem_mb", "runtime", "slurm_partition"} <= set(slurm["default-resources"])


def test_copy_workflow_cli(tmp_path):
    res = CliRunner().invoke(main, ["pipeline", "--copy", str(tmp_path / "wf")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "wf" / "Snakefile").read_bytes() == (slp.workflow_dir() / "Snakefile").read_bytes()
    assert (tmp_path / "wf" / "profiles" / "slurm" / "config.yaml").is_file()
    res = CliRunner().invoke(main, ["pipeline", "--copy", str(tmp_path / "wf")])
    assert res.exit_code == 1 and "already exists" in res.output
    res = CliRunner().invoke(main, ["pipeline", "--copy", str(tmp_path / "wf"), "--force"])
    assert res.exit_code == 0
    res = CliRunner().invoke(main, ["pipeline"])
    assert res.output.strip() == str(slp.workflow_dir())


def test_resolve_package_values():
    assert slp.resolve_data("some/file.fa") == "some/file.fa"
    assert slp.resolve_data(None) is None
    with pytest.raises(ValueError, match="unknown packaged data"):
        slp.resolve_data("package:nope")
    with pytest.raises(ValueError, match="unknown pretrained model"):
        slp.resolve_model("package:nope")
    assert slp.resolve_model("dir/model") == "dir/model"
    p = Path(slp.resolve_model("package:ctcf"))
    assert p.parts[-3:-1] == ("models", "pretrained")


def test_data_and_model_path_cli():
    res = CliRunner().invoke(main, ["data-path", "ctcf_peaks_fasta"])
    assert res.exit_code == 0, res.output
    fa = Path(res.output.strip())
    assert fa.is_file() and slp.count_records(fa) == 500 and slp.detect_format(fa) == "fasta"
    res = CliRunner().invoke(main, ["data-path", "package:chr17_fasta"])
    assert res.exit_code == 0 and Path(res.output.strip()).is_file()
    res = CliRunner().invoke(main, ["model-path", "ctcf"])
    assert res.exit_code == 0 and (Path(res.output.strip()) / "config.json").is_file()
    res = CliRunner().invoke(main, ["data-path", "nope"])
    assert res.exit_code == 1 and "unknown packaged data" in res.output


def _write_config(path, **cfg):
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed")
def test_dry_run_plans_every_step(tmp_path):
    """Parse the workflow, validate the config and plan jobs without running any."""
    import shutil

    model = tmp_path / "model"  # the workflow loads the model before it plans any job
    shutil.copytree(slp.resolve_model("package:ctcf"), model)
    bed = tmp_path / "w.bed"
    bed.write_text("".join(f"chr17\t{i * 100}\t{i * 100 + 300}\tw{i}\t0\t{'+-'[i % 2]}\n" for i in range(7)))
    cfg = _write_config(tmp_path / "c.yaml", input={"bed": str(bed), "genome": str(CHR17_FA), "length": 300},
                        model=str(model), shards=3, merge={"dense": True},
                        attribute={"hypothetical": True, "topk": 16, "prune_mass": None})
    res = subprocess.run([SNAKEMAKE, "-s", str(slp.snakefile()), "-c", "2", "-n", "-p", "--configfile", str(cfg)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts["encode"] == 3 and counts["attribute"] == 3
    for rule in ["shard", "merge_onehot", "merge_attributions", "merge_dense", "merge_hypothetical", "tracks",
                 "seqlets", "motifs", "logos", "params", "report"]:
        assert counts.get(rule) == 1, rule
    assert "--topk 16" in out and "--bed results/shards/shard-0002.bed" in out
    assert "logs/attribute/0001.log" in out
    # a bad config stops before any job with the schema's message
    bad = _write_config(tmp_path / "bad.yaml", shards=0)
    res = subprocess.run([SNAKEMAKE, "-s", str(slp.snakefile()), "-c", "1", "-n", "--configfile", str(bad)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "shards" in res.stdout + res.stderr


# ---------------------------------------------------------------------------------------------
# end-to-end on the shipped real data (slow)
# ---------------------------------------------------------------------------------------------


def _snakemake(workdir, snakefile, *args, check=True):
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    res = subprocess.run([SNAKEMAKE, "-s", str(snakefile), *map(str, args)], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=900)
    if check:
        assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
    return res


def _ctcf_config(path, **extra):
    cfg = {"shards": 3, "merge": {"dense": True}, "attribute": {"batch_size": 128, "device": "cpu"}}
    cfg.update(extra)
    return _write_config(path, **cfg)


def _outputs_signature(results):
    """Comparable content of a run's outputs (npz as arrays; gzip and bigWig decoded; no logs)."""
    import pyBigWig

    sig = {}
    for p in sorted(results.rglob("*")):
        rel = p.relative_to(results).as_posix()
        if not p.is_file() or rel.startswith("logs/") or "/." in "/" + rel or rel == "report.html":
            continue
        if p.suffix == ".npz":
            with np.load(p) as z:
                sig[rel] = {k: z[k] for k in z.files}
        elif p.suffix == ".gz":
            sig[rel] = gzip.decompress(p.read_bytes())
        elif p.suffix == ".bw":
            bw = pyBigWig.open(str(p))
            sig[rel] = (bw.chroms(), {c: bw.intervals(c) for c in bw.chroms()})
            bw.close()
        else:
            sig[rel] = p.read_bytes()
    return sig


def _assert_same_outputs(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert a[k].keys() == b[k].keys(), k
            for key in a[k]:
                np.testing.assert_array_equal(a[k][key], b[k][key], err_msg=f"{k}:{key}")
        else:
            assert a[k] == b[k], k


@pytest.fixture(scope="module")
def ctcf_run(tmp_path_factory):
    """The packaged workflow, copied to a fresh folder, on the shipped CTCF peaks (defaults: package data
    and the shipped pretrained model), 3 shards, dense npz requested."""
    if SNAKEMAKE is None:
        pytest.skip("snakemake is not installed")
    work = tmp_path_factory.mktemp("ctcf_run")
    slp.copy_workflow(work / "wf")
    cfg = _ctcf_config(work / "my.yaml")
    _snakemake(work, work / "wf" / "Snakefile", "-c", "2", "--configfile", cfg)
    return work, cfg


@pytest.mark.slow
def test_pipeline_ctcf_fasta_equals_unsharded_run(ctcf_run):
    work, _ = ctcf_run
    res = work / "results"
    assert (res / "report.html").stat().st_size > 1000
    for rel in ["attributions.npz", "attributions.dense.npz", "onehot.npz", "seqlets.tsv", "seqlets.bed",
                "motifs.meme", "motifs.json", "params.json", "tracks/relevance.bedGraph.gz", "tracks/relevance.bw"]:
        assert (res / rel).is_file(), rel
    assert (res / "logs" / "attribute" / "0002.log").is_file()
    # the same data and model through one unsharded encode + attribute
    fasta = run_sparselrp("data-path", "ctcf_peaks_fasta").stdout.strip()
    model = run_sparselrp("model-path", "ctcf").stdout.strip()
    run_sparselrp("encode", fasta, "-o", work / "single_ohe.npz")
    run_sparselrp("attribute", "-m", model, "-s", work / "single_ohe.npz", "-o", work / "single_attr.npz", *ATTR_ARGS)
    with np.load(work / "single_ohe.npz") as a, np.load(res / "onehot.npz") as b:
        np.testing.assert_array_equal(a["arr_0"], b["arr_0"])
    single = load_attr(work / "single_attr.npz")
    assert single.shape == (500, 4, 200) and np.count_nonzero(single) > 0
    assert_rel_close(load_attr(res / "attributions.npz"), single)
    with np.load(res / "attributions.dense.npz") as d:  # TF-MoDISco's input: arr_0 (and what kind of map it is)
        assert "arr_0" in d.files and set(d.files) <= {"arr_0", "kind"}
        assert_rel_close(d["arr_0"], single)


@pytest.mark.slow
def test_pipeline_resumes_after_kill(ctcf_run, tmp_path):
    """SIGKILL snakemake and its jobs once the first attribute shard exists; --rerun-incomplete then
    finishes with the same outputs as the uninterrupted run."""
    clean, cfg = ctcf_run
    slp.copy_workflow(tmp_path / "wf")
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    # same cores as the clean run: a job's thread count can change the last bits of float sums
    proc = subprocess.Popen([SNAKEMAKE, "-s", str(tmp_path / "wf" / "Snakefile"), "-c", "2", "--configfile", str(cfg)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    first = tmp_path / "results" / "attr" / "shard-0000.npz"
    try:
        deadline = time.time() + 600
        while not first.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.exists(), "the first attribute shard never appeared"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "results" / "report.html").exists()
    assert not (tmp_path / "results" / "attributions.npz").exists()
    _snakemake(tmp_path, tmp_path / "wf" / "Snakefile", "--unlock", "-c", "1", "--configfile", cfg)
    _snakemake(tmp_path, tmp_path / "wf" / "Snakefile", "-c", "2", "--rerun-incomplete", "--configfile", cfg)
    assert (tmp_path / "results" / "report.html").is_file()
    _assert_same_outputs(_outputs_signature(tmp_path / "results"), _outputs_signature(clean / "results"))


@pytest.mark.slow
@pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake is not installed")
def test_pipeline_bed_genome_windows_with_tracks(tmp_path):
    """BED + genome extraction: 200 bp windows over the shipped chr17 fragment, both strands, through the
    repository's pipelines/Snakefile; bigWig in genome coordinates equals the per-position sums."""
    import pyBigWig

    from sparselrp.io.onehot import load_onehot

    genome = run_sparselrp("data-path", "chr17_fasta").stdout.strip()
    bed = tmp_path / "windows.bed"
    bed.write_text("".join(f"chr17\t{s}\t{s + 200}\tw{i}\t0\t{'+-'[i % 2]}\n"
                           for i, s in enumerate(range(0, 40000 - 200 + 1, 250))))
    # 160 windows give tfmodisco-lite fewer seqlets than its default min_metacluster_size (100) asks for
    cfg = _write_config(tmp_path / "bed.yaml", input={"bed": str(bed), "genome": "package:chr17_fasta", "length": 200},
                        shards=2, attribute={"device": "cpu"}, motifs={"extra": "--min-metacluster-size 10"})
    root_snakefile = ROOT / "pipelines" / "Snakefile"
    snakefile = root_snakefile if root_snakefile.exists() else slp.snakefile()
    _snakemake(tmp_path, snakefile, "-c", "2", "--configfile", cfg)
    res = tmp_path / "results"
    assert (res / "report.html").is_file()
    ohe = load_onehot(res / "onehot.npz")
    R = load_attr(res / "attributions.npz")
    assert R.shape == (160, 4, 200)
    # one unsharded run gives the same attributions
    run_sparselrp("encode", "--bed", bed, "--genome", genome, "--length", "200", "-o", tmp_path / "s_ohe.npz")
    run_sparselrp("attribute", "-m", run_sparselrp("model-path", "ctcf").stdout.strip(), "-s", tmp_path / "s_ohe.npz",
               "-o", tmp_path / "s_attr.npz", *ATTR_ARGS)
    assert_rel_close(R, load_attr(tmp_path / "s_attr.npz"))
    # bigWig: per-position sums at genome coordinates (minus-strand windows run backwards)
    want = np.zeros(40000)
    strand = np.asarray(ohe.coords["strand"]).astype(str)
    for i, s in enumerate(np.asarray(ohe.coords["start"])):
        r = R[i].sum(0)
        want[s:s + 200] += r[::-1] if strand[i] == "-" else r
    bw = pyBigWig.open(str(res / "tracks" / "relevance.bw"))
    try:
        assert bw.chroms() == {"chr17": 40000}
        got = np.nan_to_num(np.asarray(bw.values("chr17", 0, 40000)))
    finally:
        bw.close()
    assert np.count_nonzero(want) > 100
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
