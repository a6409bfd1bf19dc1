"""`sparselrp attribute --target` with several targets or `all`, and `--head` for profile models."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import sparselrp as sl
from sparselrp.cli import main

L, N = 48, 7
TASKS = ["ctcf", "rad21", "yy1"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def arr(path):
    return np.load(path)["arr_0"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("targets")
    torch.manual_seed(0)
    model = sl.models.SmallCNN(n_targets=3, seq_len=L, n_filters=6, kernel_size=7, hidden=5).eval()
    sl.models.save(model, d / "multi", metadata={"tasks": TASKS})
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (N, L))].transpose(0, 2, 1).copy()
    np.savez_compressed(d / "ohe.npz", arr_0=X)
    return {"d": d, "model": model, "X": X}


def test_target_all_equals_the_per_target_runs(env):
    d = env["d"]
    common = ["-m", d / "multi", "-s", d / "ohe.npz", "--batch-size", "3"]
    r = run("attribute", *common, "-o", d / "all.npz", "--target", "all", "--stats", d / "all.json",
            "--hypothetical", d / "hyp.npz")
    assert r.exit_code == 0, r.output
    for i, task in enumerate(TASKS):
        assert f"-> {d / f'all.{task}.npz'}" in r.stderr
        one = d / f"one_{task}.npz"
        r1 = run("attribute", *common, "-o", one, "--target", task, "--stats", d / f"one_{task}.json",
                 "--hypothetical", d / f"hyp_{task}.npz")
        assert r1.exit_code == 0, r1.output
        np.testing.assert_array_equal(arr(d / f"all.{task}.npz"), arr(one))
        np.testing.assert_array_equal(arr(d / f"hyp.{task}.npz"), arr(d / f"hyp_{task}.npz"))
        s_all = json.loads((d / f"all.{task}.json").read_text())
        s_one = json.loads((d / f"one_{task}.json").read_text())
        assert s_all["target"] == s_one["target"] == i
        assert s_all["mean_explained_output"] == pytest.approx(s_one["mean_explained_output"])
    # and each equals sl.plrp in Python
    X = torch.from_numpy(env["X"])
    np.testing.assert_allclose(arr(d / "all.rad21.npz"), sl.plrp(env["model"], X, target=1, device="cpu").numpy(),
                               rtol=1e-5, atol=1e-7)
    assert not np.array_equal(arr(d / "all.ctcf.npz"), arr(d / "all.rad21.npz"))
    assert not (d / "all.npz").exists()


def test_several_targets_by_index_or_name_and_a_template(env, tmp_path):
    d = env["d"]
    r = run("attribute", "-m", d / "multi", "-s", d / "ohe.npz", "-o", tmp_path / "attr_{target}.npz",
            "--target", "2,ctcf", "--no-prune")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attr_ctcf.npz", "attr_yy1.npz"]
    X = torch.from_numpy(env["X"])
    np.testing.assert_allclose(arr(tmp_path / "attr_yy1.npz"),
                               sl.plrp(env["model"], X, target=2, pruning=False, device="cpu").numpy(),
                               rtol=1e-5, atol=1e-7)


def test_one_forward_pass_per_batch_for_all_targets(env, tmp_path, monkeypatch):
    from sparselrp.lrp.propagate import Engine

    calls = []
    original = Engine.forward

    def counting(self, X):
        calls.append(X.shape[0])
        return original(self, X)

    monkeypatch.setattr(Engine, "forward", counting)
    d = env["d"]
    common = ["-m", d / "multi", "-s", d / "ohe.npz", "--batch-size", "3"]
    assert run("attribute", *common, "-o", tmp_path / "one.npz", "--target", "0").exit_code == 0
    single = list(calls)
    calls.clear()
    assert run("attribute", *common, "-o", tmp_path / "all.npz", "--target", "all").exit_code == 0
    assert calls == single and sum(calls) >= N


def test_target_errors(env, tmp_path):
    d = env["d"]
    common = ["attribute", "-m", d / "multi", "-s", d / "ohe.npz", "-o", tmp_path / "a.npz"]
    for spec, words in [("all,0", "cannot be combined"), ("ctcf,0", "names a target twice"),
                        ("nfkb", "the model's tasks: ctcf, rad21, yy1")]:
        r = run(*common, "--target", spec)
        assert r.exit_code == 2 and words in r.output, r.output
    r = run(*common, "--target", "0,5")
    assert r.exit_code == 1 and "out of range" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_zoo_bpnet_heads(tmp_path):
    torch.manual_seed(1)
    bpnet = sl.models.BPNet(n_targets=2, n_filters=6, n_layers=2, conv_kernel=5, profile_kernel=7).eval()
    sl.models.save(bpnet, tmp_path / "bp")
    rng = np.random.default_rng(2)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (4, 60))].transpose(0, 2, 1).copy()
    np.savez_compressed(tmp_path / "ohe.npz", arr_0=X)
    r = run("attribute", "-m", tmp_path / "bp", "-s", tmp_path / "ohe.npz", "-o", tmp_path / "p.npz",
            "--head", "profile", "--target", "all")
    assert r.exit_code == 0, r.output
    Xt = torch.from_numpy(X)
    wrapped = sl.models.ProfileWrapper(bpnet, reduce="weighted")
    for t in (0, 1):
        np.testing.assert_allclose(arr(tmp_path / f"p.{t}.npz"), sl.plrp(wrapped, Xt, target=t, device="cpu").numpy(),
                                   rtol=1e-5, atol=1e-7)
    r = run("attribute", "-m", tmp_path / "bp", "-s", tmp_path / "ohe.npz", "-o", tmp_path / "c.npz",
            "--head", "counts", "--target", "1")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(arr(tmp_path / "c.npz"), sl.plrp(bpnet, Xt, target=1, device="cpu").numpy(),
                               rtol=1e-5, atol=1e-7)


def test_bpnetlite_model_through_the_cli(tmp_path):
    import bpnetlite  # installed by `make` (the [bpnet] extra)

    from sparselrp.models.bpnetlite import bpnetlite_config

    torch.manual_seed(3)
    model = bpnetlite.BPNet(n_filters=6, n_layers=2, n_outputs=2, n_control_tracks=2, trimming=8,
                            verbose=False).eval()
    torch.save(model.state_dict(), tmp_path / "bpnet.pt")
    (tmp_path / "args.json").write_text(json.dumps(dict(bpnetlite_config(model.state_dict()), trimming=8,
                                                        verbose=False)))
    rng = np.random.default_rng(4)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 80))].transpose(0, 2, 1).copy()
    np.savez_compressed(tmp_path / "ohe.npz", arr_0=X)
    for head in ("counts", "profile"):
        r = run("attribute", "--model-class", "bpnetlite.bpnet:BPNet", "--weights", tmp_path / "bpnet.pt",
                "--config", tmp_path / "args.json", "--head", head, "-s", tmp_path / "ohe.npz",
                "-o", tmp_path / f"{head}.npz")
        assert r.exit_code == 0, r.output
        expected = sl.plrp(sl.models.from_bpnetlite(model, head=head), torch.from_numpy(X), device="cpu")
        np.testing.assert_allclose(arr(tmp_path / f"{head}.npz"), expected.numpy(), rtol=1e-5, atol=1e-7)
