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
    out, _ = demo_dir
    from sparselrp.io.motifs_json import read_motifs_json

    motifs = read_motifs_json(out / "motifs.json")
    assert motifs, "no motif discovered"
    top = max(motifs, key=lambda m: m.support)
    best = top.matches[0]
    assert best["target_name"].upper().startswith("CTCF"), best
    assert best["q_value"] < 0.05


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
