"""The benchmark scripts run (with --quick) and their shared helpers do what they claim."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import _common as C  # noqa: E402


def test_random_onehot_is_one_hot_and_seeded():
    X = C.random_onehot(5, 300, seed=3)
    assert X.shape == (5, 4, 300) and X.dtype == torch.float32
    assert torch.equal(X.sum(1), torch.ones(5, 300))
    assert torch.equal(X, C.random_onehot(5, 300, seed=3))
    assert not torch.equal(X, C.random_onehot(5, 300, seed=4))
    gc = X[:, 1:3].sum() / (5 * 300)
    assert 0.3 < float(gc) < 0.52


def test_peer_compatible_replaces_adaptive_max_pool_without_changing_outputs():
    torch.manual_seed(0)
    model = C._freeze(C.sl.models.ZOO["small_cnn"]())
    peer = C.peer_compatible(model, 200)
    assert not any(isinstance(m, nn.AdaptiveMaxPool1d) for m in peer.modules())
    assert any(isinstance(m, nn.MaxPool1d) for m in peer.modules())
    assert any(isinstance(m, nn.AdaptiveMaxPool1d) for m in model.modules())  # original untouched
    X = C.random_onehot(7, 200, seed=1)
    with torch.no_grad():
        assert torch.equal(model(X), peer(X))


def test_grad_x_input_of_a_linear_model_is_weight_times_input():
    torch.manual_seed(0)
    model = C._freeze(nn.Sequential(nn.Flatten(), nn.Linear(4 * 30, 3)))
    X = C.random_onehot(6, 30, seed=2)
    R = C.run_grad_x_input(model, X, 2, 4, "cpu")  # two batches
    expected = model[1].weight[2].reshape(4, 30)[None] * X
    torch.testing.assert_close(R, expected)


def test_sparselrp_runner_matches_the_library_call():
    torch.manual_seed(0)
    model = C._freeze(C.sl.models.ZOO["small_cnn"](n_filters=8, hidden=4))
    X = C.random_onehot(5, 60, seed=5)
    R = C._sparselrp(C.MassPrune(0.5))(model, X, 0, 2, "cpu")
    torch.testing.assert_close(R, C.lrp(model, X, target=0, pruning=C.MassPrune(0.5), device="cpu"))


def test_table_is_aligned_markdown():
    text = C.table(["a", "long header"], [[1, 0.5], ["xyz", float("nan")], [12345.6, None]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[1].startswith("|-") and "nan" in lines[3] and "12,346" in lines[4] and "-" in lines[4]


def test_select_methods_rejects_unknown_keys():
    ms = C.methods()
    assert [m.key for m in C.select_methods(ms, "gxi,mass")] == ["gxi", "mass"]
    with pytest.raises(SystemExit, match="unknown method"):
        C.select_methods(ms, "gxi,nope")


def _run(script, *args, timeout=900):
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_speed_script_runs(tmp_path):
    out = _run("speed.py", "--methods", "gxi,lrp,lrp_eg,plrp,mass,captum_dl,zennit", "--scale-methods", "gxi,plrp",
               "--json", str(tmp_path / "speed.json"))
    assert "| grad x input" in out and "sparselrp MassPrune(0.5)" in out
    assert "vs grad x input" in out and ("PASS" in out or "MISS" in out)
    assert "sl.plrp vs its composite unpruned" in out
    assert "scaling on the BPNet-like model" in out
    import json

    res = json.loads((tmp_path / "speed.json").read_text())
    by = {r["key"]: r for r in res["rows"]}
    assert by["gxi"]["seq_per_s"] > 0 and by["mass"]["speed_ratio"] > 0
    if sys.platform.startswith("linux"):
        assert np.isfinite(by["mass"]["mem_mib"])


@pytest.mark.slow
def test_validation_suite_runs(tmp_path):
    out = _run("validation_suite.py", "--archs", "small_cnn", "bpnet", "--lengths", "200", "--methods", "gxi", "lrp",
               "plrp", "topk0.05", "abl_eg", "--json", str(tmp_path / "suite.json"))
    assert "### small_cnn, 200 bp" in out and "### bpnet, 200 bp" in out and "### CTCF peaks" in out
    assert "| sl.plrp (default) |" in out and "AUPRC core" in out and "inst. recall" in out
    assert "## checks (issue 15)" in out and ("PASS" in out or "MISS" in out)
    import json

    res = json.loads((tmp_path / "suite.json").read_text())
    row = res["rows"][0]["results"]["plrp"]
    for metric in ("gini", "rma", "auprc", "auprc_core", "recall", "aopc"):
        mean, lo, hi = row[metric]
        assert lo <= mean + 1e-12 and mean <= hi + 1e-12, (metric, row[metric])   # the interval holds the mean


@pytest.mark.slow
def test_quality_script_runs():
    out = _run("quality.py", "--n-ism", "2")
    assert "### planted motifs" in out and "### real CTCF peaks" in out
    assert "AUPRC" in out and "AOPC" in out
    assert "has the best Gini" in out


@pytest.mark.slow
def test_plrp_vs_lrp_script_runs():
    out = _run("plrp_vs_lrp.py")
    assert "MassPrune(0.5, lambda)" in out and "MassPrune(0.5, matrix)" in out and "TopK(0.05)" in out
    assert "per-layer sparsity" in out
    assert "input Gini" in out and ("PASS" in out or "MISS" in out)
    assert "CTCF kept" in out and "by what each filter's maximum lies on" in out


def test_captum_lrp_runner_agrees_with_sparselrp_epsilon_over_several_batches():
    pytest.importorskip("captum")
    torch.manual_seed(0)
    model = C.peer_compatible(C._freeze(C.sl.models.ZOO["small_cnn"](n_filters=8, hidden=0)), 60)
    X = C.random_onehot(5, 60, seed=0)
    R_captum = C.run_captum_lrp(model, X, 0, 2, "cpu")  # three batches: rules must be re-attached each time
    R = C.lrp(model, X, target=0, composite="epsilon", device="cpu")
    assert float(R.abs().max()) > 0
    torch.testing.assert_close(R_captum, R, rtol=1e-4, atol=1e-5)


def test_motif_kept_counts_instances_left_with_any_nonzero_relevance():
    import plrp_vs_lrp as P

    # three relevant instances: CTCF on rows 0 and 1, SPI1 on row 1
    instances = (torch.tensor([0, 1, 1]), torch.tensor([2, 0, 6]), torch.tensor([5, 3, 9]), ["CTCF", "CTCF", "SPI1"])
    R = torch.zeros(2, 4, 10)
    R[0, 1, 4] = 0.5  # inside row 0's CTCF (positions 2-4)
    R[1, 0, 3] = 1.0  # just past row 1's CTCF (positions 0-2, end exclusive)
    R[1, 2, 7], R[1, 3, 7] = 1.0, -1.0  # cancels in the per-position sum: SPI1 has no relevance
    cols = P.motif_kept(instances)(R)
    assert cols == {"kept_CTCF": 0.5, "kept_SPI1": 0.0}
    R[1, 3, 7] = 0.0
    assert P.motif_kept(instances)(R) == {"kept_CTCF": 0.5, "kept_SPI1": 1.0}


def test_cached_model_reloads_a_non_zoo_model_through_its_template(tmp_path):
    torch.manual_seed(0)
    built = []

    def build():
        built.append(1)
        return C.two_conv_cnn(), dict(trained=False)

    X = C.random_onehot(3, 120, seed=2)
    first, directory, _ = C.cached_model("two_conv_test", build, cache=tmp_path, log=lambda m: None,
                                         template=C.two_conv_cnn)
    again, directory2, meta = C.cached_model("two_conv_test", build, cache=tmp_path, log=lambda m: None,
                                             template=C.two_conv_cnn)
    assert built == [1] and directory2 == directory and meta["trained"] is False
    with torch.no_grad():
        assert torch.equal(first(X), again(X))


def test_instance_table_of_a_set_without_relevant_instances_is_empty():
    import plrp_vs_lrp as P

    class Sim:
        instances = []

    rows, starts, ends, names = P.instance_table(Sim(), torch.tensor([3, 5]))
    assert rows.shape == starts.shape == ends.shape == (0,) and names == []
    assert P.motif_kept((rows, starts, ends, names))(torch.ones(2, 4, 10)) == {}
