"""End to end: the README's main job on the shipped CTCF peaks."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, "-m", "sparselrp.cli", "demo", "-o", str(out), "--quiet"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_demo_prints_absolute_report_path(demo_dir):
    out, proc = demo_dir
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == str((out / "report.html").resolve())
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lower().startswith("<!doctype html>")
    assert 'src="http' not in html


def test_demo_top_motif_is_ctcf(demo_dir):
    """The issue-16 target: the top pattern (most seqlets) matches CTCF, with >= 15 bits over its trimmed columns."""
    out, _ = demo_dir
    from sparselrp.io.motifs_json import read_motifs_json

    motifs = read_motifs_json(out / "motifs.json")
    assert motifs, "no motif discovered"
    top = motifs[0]
    assert top.support == max(m.support for m in motifs) and top.sign == "positive"
    best = top.matches[0]
    assert best["target_name"].upper().startswith("CTCF"), best
    assert best["q"] < 0.01
    assert top.information_content().sum() >= 15, top.information_content()
    assert top.width == top.trim[1] - top.trim[0]


def test_demo_writes_the_files_tfmodisco_and_finemo_read(demo_dir):
    import numpy as np

    from sparselrp.io.modisco import read_modisco_h5
    from sparselrp.io.motifs_json import read_motifs_json
    from sparselrp.io.regions import read_regions

    out, _ = demo_dir
    motifs = read_motifs_json(out / "motifs.json")
    back = {m.name: m for m in read_modisco_h5(out / "modisco_results.h5")}
    assert back.keys() == {m.name for m in motifs}
    for m in motifs:
        np.testing.assert_allclose(back[m.name].pwm, m.pwm, atol=1e-6)
    with np.load(out / "ohe.npz") as a, np.load(out / "hyp.npz") as h:
        X, H = a["arr_0"], h["arr_0"]
    assert X.shape == H.shape == (500, 4, 200)
    assert np.any(H * (1 - X))  # hypothetical: absent bases carry scores too
    regions = read_regions(out / "regions.narrowPeak")
    assert len(regions) == 500 and regions[0][0].startswith("chr")


def test_motifs_cli_on_the_demo_files(demo_dir, tmp_path):
    """The motif step alone on the demo's one-hot / hypothetical pair finds CTCF."""
    out, _ = demo_dir
    proc = subprocess.run(
        [sys.executable, "-m", "sparselrp.cli", "motifs", "-s", str(out / "ohe.npz"), "-a", str(out / "hyp.npz"),
         "-o", str(tmp_path / "m.meme"), "--json", str(tmp_path / "m.json"), "--h5", str(tmp_path / "m.h5")],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    from sparselrp.io.motifs_json import read_motifs_json

    top = read_motifs_json(tmp_path / "m.json")[0]
    assert top.matches[0]["target_name"].upper().startswith("CTCF") and top.matches[0]["q"] < 0.01


def test_demo_model_and_sparsity(demo_dir):
    out, _ = demo_dir
    summary = json.loads((out / "summary.json").read_text())
    s = summary["summary"]
    # the pruned map is sparser than the unpruned one on the same model and data
    assert s["PLRP: share of zero positions"] > s["LRP: share of zero positions"]
    assert s["PLRP: Gini of per-position relevance"] > s["LRP: Gini of per-position relevance"]
    cfg = json.loads((out / "model" / "config.json").read_text())
    assert cfg["metadata"]["test_auroc"] >= 0.9


def test_demo_report_has_trust_section(demo_dir):
    out, _ = demo_dir
    html = (out / "report.html").read_text()
    assert "Trust" in html
    # the section holds the CTCF model's diagnostics, not the "no diagnostics given" placeholder
    assert "No diagnostics given" not in html
    trust = json.loads((out / "trust.json").read_text())
    assert isinstance(trust["flags"], list)
    for check in ("bias", "border", "randomisation"):
        assert f"{check}:" in html, check


def test_demo_reuses_trained_model(demo_dir):
    out, _ = demo_dir
    before = (out / "model" / "model.safetensors").stat().st_mtime_ns
    from sparselrp.demo import run_demo

    run_demo(out, verbose=False)
    assert (out / "model" / "model.safetensors").stat().st_mtime_ns == before
