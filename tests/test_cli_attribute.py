"""``sparselrp attribute`` end to end: a saved zoo model, a one-hot file from ``sparselrp encode``.

Every output is compared with :func:`sparselrp.plrp` (the default) or :func:`sparselrp.lrp`
on the same data (1e-6).
"""

import json
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import sparselrp as sl
from sparselrp.attribute import attribute_file
from sparselrp.cli import main
from sparselrp.io.attributions import attribution_kind, load_attributions

N, L = 7, 50


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 2-task SmallCNN saved with sl.models.save and a one-hot file made by `sparselrp encode`."""
    d = tmp_path_factory.mktemp("attr")
    torch.manual_seed(0)
    model = sl.models.ZOO["small_cnn"](n_targets=2, seq_len=L, n_filters=8, kernel_size=5, hidden=8)
    sl.models.save(model, d / "model", metadata={"tasks": ["ctcf", "rad21"]})
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), L)) for _ in range(N)]
    seqs[3] = seqs[3][:10] + "NNNN" + seqs[3][14:]
    (d / "s.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    r = run("encode", d / "s.fa", "-o", d / "ohe.npz")
    assert r.exit_code == 0, r.output
    X = torch.from_numpy(np.load(d / "ohe.npz")["arr_0"])
    assert X.shape == (N, 4, L)
    loaded = sl.models.load(d / "model", device="cpu")
    return {"dir": d, "model_dir": d / "model", "ohe": d / "ohe.npz", "X": X, "model": loaded}


def _load(path):
    a = np.load(path)["arr_0"]
    assert a.dtype == np.float32 and a.shape == (N, 4, L)
    return torch.from_numpy(a)


def _close(a, b, tol=1e-6):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    scale = max(float(b.abs().max()), 1e-12)
    assert float((a - b).abs().max()) <= tol * scale, float((a - b).abs().max()) / scale


def test_dense_default_equals_plrp(setup, tmp_path):
    out = tmp_path / "attr.npz"
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out)
    assert r.exit_code == 0, r.output
    assert f"explained {N} sequences of length {L}" in r.stderr
    R = _load(out)
    _close(R, sl.plrp(setup["model"], setup["X"], target=0))
    assert float(R.abs().sum()) > 0
    assert attribution_kind(out) == "projected"
    assert bool((R[setup["X"] == 0] == 0).all())   # projected: nothing on absent bases or N columns
    assert sorted(os.listdir(tmp_path)) == ["attr.npz"]  # no temporaries left


def test_no_prune_raw_best_practice_equals_lrp(setup, tmp_path):
    out, proj = tmp_path / "raw.npz", tmp_path / "proj.npz"
    for path, extra in ((out, ["--raw"]), (proj, [])):
        r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", path, "--no-prune",
                "--composite", "best-practice", *extra)
        assert r.exit_code == 0, r.output
    R = sl.lrp(setup["model"], setup["X"], target=0)
    _close(_load(out), R)
    assert attribution_kind(out) == "raw"
    # the projected file holds each position's summed relevance on its observed base
    _close(_load(proj), sl.project(R, setup["X"]))
    assert float((R[setup["X"] == 0]).abs().sum()) > 0 and bool((_load(proj)[setup["X"] == 0] == 0).all())


def test_target_task_name_and_composite(setup, tmp_path):
    out = tmp_path / "a.npz"
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, "--target", "rad21",
            "--composite", "epsilon-plus", "--no-prune")
    assert r.exit_code == 0, r.output
    expect = sl.lrp(setup["model"], setup["X"], target=1, composite="epsilon-plus")
    _close(_load(out), expect)
    other = sl.lrp(setup["model"], setup["X"], target=0, composite="epsilon-plus")
    assert float((expect - other).abs().max()) > 1e-4  # the task name really selected output 1


_POS = dict(layers="positions", group="position")


@pytest.mark.parametrize("opt,pruning", [
    ((), sl.TopK(0.1, positive_only=True)),
    (("--topk", "3"), sl.TopK(3, positive_only=True)),
    (("--topk", "0.25"), sl.TopK(0.25, positive_only=True)),
    (("--prune-mass", "0.5"), sl.MassPrune(0.5)),
    (("--prune-mass", "0.3", "--redistribute", "matrix"), sl.MassPrune(0.3, redistribute="matrix")),
    (("--prune-mass", "0.3", "--p-neg", "0.1"), sl.MassPrune(0.3, p_neg=0.1)),
    (("--topk", "4", "--prune-layers", "positions", "--prune-group", "position"),
     sl.TopK(4, positive_only=True, **_POS)),
    (("--prune-mass", "0.4", "--prune-group", "position"), sl.MassPrune(0.4, group="position")),
])
def test_pruning_options_equal_plrp(setup, tmp_path, opt, pruning):
    out = tmp_path / "a.npz"
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, *opt, "--batch-size", 3)
    assert r.exit_code == 0, r.output
    _close(_load(out), sl.plrp(setup["model"], setup["X"], target=0, pruning=pruning))


def test_no_prune_excludes_pruning_options(setup, tmp_path):
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", tmp_path / "a.npz", "--no-prune",
            "--topk", "3")
    assert r.exit_code != 0 and "--no-prune excludes" in r.output


def test_sparse_with_dense_copy(setup, tmp_path):
    out, dense = tmp_path / "a.sparse.npz", tmp_path / "a.dense.npz"
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, "--sparse", "--dense", dense,
            "--topk", "2")
    assert r.exit_code == 0, r.output
    with np.load(out) as z:
        assert "arr_0" not in z.files and {"indices", "values", "shape"} <= set(z.files)
    S = load_attributions(out)
    D = _load(dense)
    assert torch.equal(torch.as_tensor(S), D)
    _close(D, sl.plrp(setup["model"], setup["X"], target=0, k=2))   # --topk: sl.plrp's positive-only top-k
    assert attribution_kind(out) == attribution_kind(dense) == "projected"
    assert float((D == 0).float().mean()) > 0.5  # pruned maps are sparse


def test_hypothetical_with_epsilon(setup, tmp_path):
    out, hyp = tmp_path / "a.npz", tmp_path / "h.npz"
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, "--hypothetical", hyp,
            "--composite", "epsilon", "--no-prune")
    assert r.exit_code == 0, r.output
    R, H = _load(out), _load(hyp)
    X = setup["X"]
    _close(H, sl.lrp(setup["model"], X, target=0, composite="epsilon", hypothetical=True))
    _close(H * X, R)  # the hypothetical scores at the observed base are the map itself
    assert float((H * (1 - X)).abs().sum()) > 0  # and they say something about the other bases


def test_hypothetical_by_default_and_with_best_practice(setup, tmp_path):
    X = setup["X"]
    for extra, expect in (([], sl.plrp(setup["model"], X, target=0, hypothetical=True)),
                          (["--composite", "best-practice", "--no-prune"],
                           sl.lrp(setup["model"], X, target=0, hypothetical=True))):
        out, hyp = tmp_path / "a.npz", tmp_path / "h.npz"
        r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, "--hypothetical", hyp, *extra)
        assert r.exit_code == 0, r.output
        H, R = _load(hyp), _load(out)
        _close(H, expect)
        assert attribution_kind(hyp) == "hypothetical"
        _close((H * X).sum(1), R.sum(1))   # the score at the observed base is the projected map


def test_hypothetical_with_a_flat_first_layer_is_a_clear_error(setup, tmp_path):
    out, hyp = tmp_path / "a.npz", tmp_path / "h.npz"
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, "--hypothetical", hyp,
            "--composite", "epsilon-plus-flat")
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sparselrp: error: "), r.stderr
    assert "hypothetical" in lines[0] and "not defined for Flat" in lines[0]
    assert "Traceback" not in r.output
    assert os.listdir(tmp_path) == []  # neither output nor temporaries


def test_strand_average_and_batch_size(setup, tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for out, bs in ((a, 1), (b, 64)):
        r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, "--strand-average",
                "--batch-size", bs)
        assert r.exit_code == 0, r.output
    _close(_load(a), _load(b))
    _close(_load(a), sl.plrp(setup["model"], setup["X"], target=0, strand_average=True))


def test_stats_json(setup, tmp_path):
    out, stats = tmp_path / "a.npz", tmp_path / "stats.json"
    r = run("attribute", "-m", setup["model_dir"], "-s", setup["ohe"], "-o", out, "--stats", stats,
            "--target", "1", "--composite", "epsilon", "--batch-size", 3, "--no-prune")
    assert r.exit_code == 0, r.output
    s = json.loads(stats.read_text())
    R = _load(out).double()
    X = setup["X"]
    with torch.no_grad():
        f = setup["model"](X)[:, 1].double()  # the explained logit f_t(x)
    rsum = R.sum((1, 2))
    assert s["n"] == N and s["length"] == L and s["target"] == 1 and s["composite"] == "epsilon"
    assert s["mean_explained_output"] == pytest.approx(float(f.mean()), rel=1e-5, abs=1e-7)
    assert s["mean_relevance_sum"] == pytest.approx(float(rsum.mean()), rel=1e-5, abs=1e-7)
    nz = f.abs() > 0
    err = ((rsum - f).abs()[nz] / f.abs()[nz])
    assert s["mean_conservation_error"] == pytest.approx(float(err.mean()), rel=1e-4)
    assert s["max_conservation_error"] == pytest.approx(float(err.max()), rel=1e-4)
    assert s["input_zero_share"] == pytest.approx(float((R.sum(1) == 0).double().mean()))
    assert list(s["layers"]) == sl.LRP(setup["model"], composite="epsilon").layer_names
    for v in s["layers"].values():
        assert 0.0 <= v["zero_share"] <= 1.0 and v["units"] > 0


def test_stats_conservation_is_exact_for_lrp0_without_biases(tmp_path):
    """With LRP-0 and no biases relevance is conserved: the stats must report ~0 error."""
    torch.manual_seed(1)
    model = sl.models.ZOO["small_cnn"](n_targets=1, seq_len=30, n_filters=4, kernel_size=5, hidden=4,
                                       dropout=0.0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    X = sl.one_hot_encode_batch(["".join(np.random.default_rng(i).choice(list("ACGT"), 30)) for i in range(5)])
    np.savez(tmp_path / "x.npz", arr_0=X.numpy())
    s = attribute_file(model, tmp_path / "x.npz", tmp_path / "a.npz", composite="zero",
                       stats_path=tmp_path / "s.json")
    assert s["mean_conservation_error"] is not None and s["mean_conservation_error"] < 1e-5
    assert json.loads((tmp_path / "s.json").read_text())["mean_conservation_error"] < 1e-5


def test_library_attribute_file_matches_lrp_and_returns_summary(setup, tmp_path):
    s = attribute_file(setup["model"], setup["ohe"], tmp_path / "a.npz", target=1, batch_size=4,
                       pruning=sl.MassPrune(0.4))
    assert s["n"] == N and "layers" not in s
    R = sl.lrp(setup["model"], setup["X"], target=1, pruning=sl.MassPrune(0.4))
    _close(_load(tmp_path / "a.npz"), sl.project(R, setup["X"]))
    attribute_file(setup["model"], setup["ohe"], tmp_path / "r.npz", target=1, pruning=sl.MassPrune(0.4), kind="raw")
    _close(_load(tmp_path / "r.npz"), R)


def test_help_shows_defaults():
    r = run("attribute", "--help")
    assert r.exit_code == 0
    for word in ("--topk", "--prune-mass", "--no-prune", "--raw", "--hypothetical", "--stats", "best-practice",
                 "default: best-practice", "default: 256"):
        assert word in r.output
