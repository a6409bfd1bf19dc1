"""Own model classes: sl.models.save(config=) / load(allow_classes=), and explained through the CLI."""

import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from own_nets import StrandedNet, TwoConvNet
from torch import nn

import sparselrp as sl
from sparselrp.cli import main
from sparselrp.errors import ModelFileError

L = 40
SPEC = "own_nets:TwoConvNet"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_hot(n, seed, length=L):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()


def one_line_error(r, *words):
    assert r.exit_code != 0
    err = r.stderr.strip()
    assert err.startswith("sparselrp: error:") and "\n" not in err and "Traceback" not in r.output, r.output
    for w in words:
        assert w in err, err
    return err


@pytest.fixture
def net():
    torch.manual_seed(0)
    return TwoConvNet(n_filters=5, n_targets=3, kernel_size=7).eval()


@pytest.fixture
def saved(net, tmp_path):
    sl.models.save(net, tmp_path / "own", config={"n_filters": 5, "n_targets": 3, "kernel_size": 7},
                   metadata={"tasks": ["a", "b", "c"]})
    np.savez_compressed(tmp_path / "ohe.npz", arr_0=one_hot(6, 1))
    return tmp_path


def test_config_records_class_and_kwargs(saved):
    config = json.loads((saved / "own" / "config.json").read_text())
    assert config["architecture"] is None
    assert config["class"] == SPEC
    assert config["kwargs"] == {"n_filters": 5, "n_targets": 3, "kernel_size": 7}


def test_load_imports_only_allowed_classes(net, saved):
    with pytest.raises(ModelFileError) as info:
        sl.models.load(saved / "own")
    msg = str(info.value)
    assert SPEC in msg and "allow_classes" in msg and "--model-class" in msg and "\n" not in msg
    X = torch.from_numpy(one_hot(3, 2))
    for kwargs in ({"allow_classes": [SPEC]}, {"allow_classes": [TwoConvNet]}, {"trusted": True},
                   {"model": TwoConvNet(n_filters=5, n_targets=3, kernel_size=7)}):
        loaded = sl.models.load(saved / "own", device="cpu", **kwargs)
        assert type(loaded) is TwoConvNet and not loaded.training
        assert torch.equal(loaded(X), net(X))
        assert loaded.sparselrp_config["metadata"]["tasks"] == ["a", "b", "c"]


def test_zoo_class_recorded_by_path_needs_no_permission(tmp_path):
    model = sl.models.SmallCNN(n_filters=4, seq_len=L, hidden=3)
    sl.models.save(model, tmp_path / "z")
    cfg = json.loads((tmp_path / "z" / "config.json").read_text())
    assert cfg["class"] == "sparselrp.models.zoo:SmallCNN"
    cfg["architecture"] = None
    (tmp_path / "z" / "config.json").write_text(json.dumps(cfg))
    loaded = sl.models.load(tmp_path / "z", device="cpu")
    assert isinstance(loaded, sl.models.SmallCNN) and loaded.config["n_filters"] == 4


def _edit_class(saved, spec):
    p = saved / "own" / "config.json"
    cfg = json.loads(p.read_text())
    cfg["class"] = spec
    p.write_text(json.dumps(cfg))


def test_unimportable_module_is_named(saved):
    _edit_class(saved, "no_such_lab_pkg.nets:Net")
    with pytest.raises(ModelFileError, match=r"cannot import module 'no_such_lab_pkg.nets'.*PYTHONPATH") as info:
        sl.models.load(saved / "own", allow_classes=["no_such_lab_pkg.nets:Net"])
    assert "\n" not in str(info.value)


def test_a_class_that_is_not_a_module_is_never_called(saved, monkeypatch):
    import subprocess

    called = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: called.append(a))
    _edit_class(saved, "subprocess:Popen")
    with pytest.raises(ModelFileError, match="not a torch.nn.Module class"):
        sl.models.load(saved / "own", allow_classes=["subprocess:Popen"])
    with pytest.raises(ModelFileError, match="not a sparselrp zoo class"):
        sl.models.load(saved / "own")
    assert called == []
    _edit_class(saved, "os.path:join; rm")
    with pytest.raises(ModelFileError, match="not a class name"):
        sl.models.load(saved / "own", trusted=True)


class Local(nn.Module):
    pass


def test_save_refuses_configs_load_could_not_use(net, tmp_path):
    with pytest.raises(ValueError, match="tensors differ"):
        sl.models.save(net, tmp_path / "m", config={"n_filters": 4, "n_targets": 3, "kernel_size": 7})
    with pytest.raises(ValueError, match="does not take|fails"):
        sl.models.save(net, tmp_path / "m", config={"width": 5})
    with pytest.raises(TypeError, match="JSON"):
        sl.models.save(net, tmp_path / "m", config={"n_filters": object()})

    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)

    with pytest.raises(ValueError, match="inside a function"):
        sl.models.save(Inner(), tmp_path / "m", config={})
    Main = type("Main", (nn.Module,), {"__module__": "__main__"})
    with pytest.raises(ValueError, match="__main__"):
        sl.models.save(Main(), tmp_path / "m", config={})
    assert not (tmp_path / "m" / "config.json").exists()
    # without config the weights are saved; load then needs model=
    sl.models.save(net, tmp_path / "w")
    with pytest.raises(ModelFileError, match="saved without config=.*pass model="):
        sl.models.load(tmp_path / "w", trusted=True)


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_pickle_renamed_safetensors_is_refused(net, tmp_path, zipfile):
    p = tmp_path / "w.safetensors"
    torch.save(net.state_dict(), p, _use_new_zipfile_serialization=zipfile)
    with pytest.raises(ModelFileError) as info:
        sl.models.load(p, model_class=SPEC, kwargs={"n_filters": 5, "n_targets": 3, "kernel_size": 7})
    msg = str(info.value)
    assert "renamed to .safetensors" in msg and "refused" in msg and "\n" not in msg
    # and on the command line, one line
    np.savez_compressed(tmp_path / "ohe.npz", arr_0=one_hot(2, 3))
    r = run("attribute", "--model-class", SPEC, "--weights", p, "-s", tmp_path / "ohe.npz", "-o", tmp_path / "a.npz")
    one_line_error(r, "renamed to .safetensors")
    assert not (tmp_path / "a.npz").exists()


def test_pickle_payload_never_runs(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("payload ran",))

    p = tmp_path / "w.pt"
    p.write_bytes(pickle.dumps({"w": Payload()}))
    with pytest.raises(ModelFileError, match="refused"):
        sl.models.load(p, model_class=SPEC)


# ---------------------------------------------------------------- through the CLI


def test_cli_explains_an_own_class_directory_like_plrp_in_python(net, saved):
    X = torch.from_numpy(np.load(saved / "ohe.npz")["arr_0"])
    r = run("attribute", "-m", saved / "own", "-s", saved / "ohe.npz", "-o", saved / "a.npz", "--target", "b")
    one_line_error(r, "--model-class own_nets:TwoConvNet")
    r = run("attribute", "-m", saved / "own", "--model-class", SPEC, "-s", saved / "ohe.npz", "-o", saved / "a.npz",
            "--target", "b")
    assert r.exit_code == 0, r.output
    expected = sl.plrp(net, X, target=1, device="cpu")
    np.testing.assert_allclose(np.load(saved / "a.npz")["arr_0"], expected.numpy(), rtol=1e-5, atol=1e-7)
    assert (expected == 0).float().mean() > 0.5   # a sparse map, not a trivially equal zero one
    assert expected.abs().sum() > 0
    # plain LRP, raw map
    r = run("attribute", "-m", saved / "own", "--model-class", SPEC, "-s", saved / "ohe.npz", "-o", saved / "l.npz",
            "--target", "2", "--no-prune", "--composite", "best-practice", "--raw")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(saved / "l.npz")["arr_0"], sl.lrp(net, X, target=2, device="cpu").numpy(),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_cli_weights_saved_elsewhere(net, saved, fmt):
    from safetensors.torch import save_file

    X = torch.from_numpy(np.load(saved / "ohe.npz")["arr_0"])
    w = saved / f"weights.{fmt}"
    if fmt == "pt":
        torch.save(net.state_dict(), w)
    else:
        save_file(net.state_dict(), str(w))
    (saved / "args.json").write_text(json.dumps({"n_filters": 5, "n_targets": 3, "kernel_size": 7}))
    r = run("attribute", "--model-class", SPEC, "--weights", w, "--config", saved / "args.json",
            "-s", saved / "ohe.npz", "-o", saved / "a.npz", "--target", "0")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(saved / "a.npz")["arr_0"], sl.plrp(net, X, target=0, device="cpu").numpy(),
                               rtol=1e-5, atol=1e-7)
    # wrong constructor arguments: the tensors are named
    (saved / "bad.json").write_text(json.dumps({"n_filters": 4, "n_targets": 3, "kernel_size": 7}))
    r = run("attribute", "--model-class", SPEC, "--weights", w, "--config", saved / "bad.json",
            "-s", saved / "ohe.npz", "-o", saved / "a2.npz")
    one_line_error(r, "weights do not match", "conv1.weight")


def test_cli_model_option_errors(saved):
    base = ["-s", saved / "ohe.npz", "-o", saved / "a.npz"]
    r = run("attribute", "--model-class", "no_such_lab_pkg.nets:Net", "--weights", saved / "own" / "model.safetensors",
            *base)
    one_line_error(r, "cannot import module 'no_such_lab_pkg.nets'")
    r = run("attribute", "--weights", saved / "own" / "model.safetensors", *base)
    assert r.exit_code == 2 and "--model-class" in r.output
    r = run("attribute", *base)
    assert r.exit_code == 2 and "-m/--model" in r.output
    r = run("attribute", "-m", saved / "own", "--model-class", SPEC, "--head", "profile", *base)
    assert r.exit_code == 2 and "has no count and profile heads" in r.output


def test_cli_strand_pairs_on_a_stranded_own_class(tmp_path):
    model = StrandedNet(seed=1).eval()
    sl.models.save(model, tmp_path / "s", config={"n_filters": 4, "kernel_size": 7, "seed": 1})
    np.savez_compressed(tmp_path / "ohe.npz", arr_0=one_hot(5, 4, length=50))
    base = ["attribute", "-m", tmp_path / "s", "--model-class", "own_nets:StrandedNet", "-s", tmp_path / "ohe.npz",
            "--no-prune", "--target", "0"]
    assert run(*base, "-o", tmp_path / "fwd.npz").exit_code == 0
    r = run(*base, "-o", tmp_path / "paired.npz", "--strand-average", "--strand-pairs", "1,0")
    assert r.exit_code == 0, r.output
    assert run(*base, "-o", tmp_path / "unpaired.npz", "--strand-average").exit_code == 0
    fwd, paired, unpaired = (np.load(tmp_path / f"{k}.npz")["arr_0"] for k in ("fwd", "paired", "unpaired"))
    np.testing.assert_allclose(paired, fwd, rtol=1e-4, atol=1e-6)
    assert np.abs(unpaired - fwd).max() > 1e-3
    r = run(*base, "-o", tmp_path / "x.npz", "--strand-pairs", "1,0")
    assert r.exit_code == 2 and "--strand-average" in r.output
    r = run(*base, "-o", tmp_path / "x.npz", "--strand-average", "--strand-pairs", "0,0")
    assert r.exit_code == 2 and "same reverse-strand output" in r.output


def test_safetensors_whose_header_length_looks_like_a_pickle_opcode(tmp_path):
    """A real safetensors file whose 8-byte header length starts with 0x80 0x02 (a pickle's first
    bytes) is still read: the layout check comes first."""
    from safetensors.torch import save_file

    p = tmp_path / "w.safetensors"
    for k in range(2000):
        save_file({"w": torch.arange(3.0)}, str(p), metadata={"pad": "a" * k})
        head = p.read_bytes()[:2]
        if head[0] == 0x80 and 2 <= head[1] <= 5:
            break
    else:
        pytest.fail("no header length of that form found")
    assert torch.equal(sl.models.load_state_dict(p)["w"], torch.arange(3.0))
