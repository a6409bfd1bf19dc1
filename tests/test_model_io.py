"""Safe model files: save/load round trips, config validation, refusing unsafe pickles."""

import json
import os
import pickle

import pytest
import torch
from torch import nn

import sparselrp as sl
from sparselrp.errors import ModelFileError
from sparselrp.models import ZOO, load, save

from test_models import SMALL, random_one_hot


def _perturb_batchnorm(model, seed=0):
    """Give BatchNorm layers non-trivial running statistics (so they are tested)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.num_batches_tracked.fill_(7)
    return model


@pytest.mark.parametrize("name", sorted(ZOO))
def test_round_trip_identical_outputs(name, tmp_path):
    torch.manual_seed(0)
    model = _perturb_batchnorm(ZOO[name](**SMALL[name])).eval()
    save(model, tmp_path / "m", metadata={"tasks": ["a", "b", "c"][: SMALL[name]["n_targets"]]})
    assert sorted(os.listdir(tmp_path / "m")) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["architecture"] == name
    assert config["kwargs"] == json.loads(json.dumps(model.config))
    assert config["seq_len"] == model.seq_len
    assert config["sparselrp_version"] == sl.__version__
    loaded = load(tmp_path / "m", device="cpu")
    assert type(loaded) is type(model) and not loaded.training
    X = random_one_hot(4, model.seq_len, seed=1)
    with torch.no_grad():
        assert torch.equal(model(X), loaded(X))
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert loaded.sparselrp_config["metadata"]["tasks"] == config["metadata"]["tasks"]


def test_default_bpnet_round_trip(tmp_path):
    torch.manual_seed(0)
    model = ZOO["bpnet"]().eval()
    save(model, tmp_path / "bp")
    loaded = load(tmp_path / "bp", device="cpu")
    X = random_one_hot(2, 1000)
    with torch.no_grad():
        assert torch.equal(model.profile(X), loaded.profile(X))


def test_state_dict_pt_file(tmp_path):
    torch.manual_seed(0)
    model = ZOO["small_cnn"]().eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    X = random_one_hot(3, 200)
    by_arch = load(tmp_path / "w.pt", architecture="small_cnn", device="cpu")
    by_instance = load(tmp_path / "w.pt", model=sl.models.SmallCNN(), device="cpu")
    # a checkpoint dict with the weights under "state_dict"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    by_ckpt = load(tmp_path / "ckpt.pt", architecture="small_cnn", device="cpu")
    with torch.no_grad():
        for m in (by_arch, by_instance, by_ckpt):
            assert torch.equal(m(X), model(X))
    # a directory holding config.json + model.pt instead of safetensors
    save(model, tmp_path / "d")
    (tmp_path / "d" / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "d" / "model.pt")
    with torch.no_grad():
        assert torch.equal(load(tmp_path / "d", device="cpu")(X), model(X))


class _Payload:
    """Unpickling this object would create a file: code execution."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"body.0.weight": _Payload(str(marker))}, fh)
    # sanity check: plain pickle really would run the payload
    with open(evil, "rb") as fh:
        pickle.load(fh).get("body.0.weight").close()
    assert marker.exists()
    marker.unlink()

    with pytest.raises(ModelFileError, match="refused to load") as info:
        load(evil, architecture="small_cnn", device="cpu")
    assert str(evil) in str(info.value)
    assert not marker.exists()
    # also as torch.save'd zip archive and inside a model directory
    evil_zip = tmp_path / "evil_zip.pt"
    torch.save({"x": _Payload(str(marker))}, evil_zip)
    assert not marker.exists()
    with pytest.raises(ModelFileError, match="refused to load"):
        load(evil_zip, architecture="small_cnn", device="cpu")
    assert not marker.exists()
    save(sl.models.SmallCNN(), tmp_path / "d")
    (tmp_path / "d" / "model.safetensors").unlink()
    (tmp_path / "d" / "model.pt").write_bytes(evil.read_bytes())
    with pytest.raises(ModelFileError, match="refused to load"):
        load(tmp_path / "d", device="cpu")
    assert not marker.exists()


def _write_config(directory, **changes):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))
    return path


def test_unknown_architecture(tmp_path):
    save(sl.models.SmallCNN(), tmp_path / "m")
    path = _write_config(tmp_path / "m", architecture="transformer9000")
    with pytest.raises(ModelFileError, match="unknown architecture 'transformer9000'") as info:
        load(tmp_path / "m")
    assert str(path) in str(info.value)


def test_bad_kwargs(tmp_path):
    save(sl.models.SmallCNN(), tmp_path / "m")
    path = _write_config(tmp_path / "m", kwargs={"n_filters": 8, "n_heads": 4})
    with pytest.raises(ModelFileError, match="n_heads") as info:
        load(tmp_path / "m")
    assert str(path) in str(info.value)
    _write_config(tmp_path / "m", kwargs={"pool": "median"})
    with pytest.raises(ModelFileError, match="cannot build"):
        load(tmp_path / "m")


def test_malformed_config(tmp_path):
    save(sl.models.SmallCNN(), tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="config.json"):
        load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="JSON object"):
        load(tmp_path / "m")
    with pytest.raises(ModelFileError, match="no such"):
        load(tmp_path / "missing")


def test_mismatched_weights_name_the_tensors(tmp_path):
    save(sl.models.SmallCNN(n_filters=16), tmp_path / "m")
    _write_config(tmp_path / "m", kwargs={"n_filters": 32})
    with pytest.raises(ModelFileError, match="shape mismatch") as info:
        load(tmp_path / "m")
    assert "body.0.weight" in str(info.value) and "model.safetensors" in str(info.value)
    save(sl.models.SmallCNN(hidden=0), tmp_path / "h")
    with pytest.raises(ModelFileError, match="missing tensors: .*body.4.weight") as info:
        load(tmp_path / "h" / "model.safetensors", architecture="small_cnn")
    with pytest.raises(ModelFileError, match="unexpected tensors"):
        load(tmp_path / "m" / "model.safetensors", model=sl.models.SmallCNN(n_filters=16, hidden=0))


def test_corrupt_weights(tmp_path):
    save(sl.models.SmallCNN(), tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(ModelFileError, match="safetensors"):
        load(tmp_path / "m")
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="bad.pt"):
        load(tmp_path / "bad.pt", architecture="small_cnn")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(ModelFileError, match="state dict"):
        load(tmp_path / "list.pt", architecture="small_cnn")


class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 5)
        self.fc = nn.Linear(3, 2)

    def forward(self, X):
        return self.fc(self.conv(X).amax(-1))


def test_user_module(tmp_path):
    torch.manual_seed(0)
    net = UserNet().eval()
    save(net, tmp_path / "u", metadata={"note": "mine"})
    config = json.loads((tmp_path / "u" / "config.json").read_text())
    assert config["architecture"] is None and config["class"].endswith("UserNet")
    with pytest.raises(ModelFileError, match="pass model="):
        load(tmp_path / "u")
    loaded = load(tmp_path / "u", model=UserNet(), device="cpu")
    X = random_one_hot(2, 30)
    assert torch.equal(loaded(X), net(X))
    # a bare weights file with no config beside it needs model= or architecture=
    (tmp_path / "bare").mkdir()
    torch.save(net.state_dict(), tmp_path / "bare" / "w.pt")
    with pytest.raises(ModelFileError, match="architecture="):
        load(tmp_path / "bare" / "w.pt")
    assert torch.equal(load(tmp_path / "bare" / "w.pt", model=UserNet())(X), net(X))


def test_save_errors(tmp_path):
    with pytest.raises(TypeError):
        save("not a model", tmp_path / "x")
    with pytest.raises(FileNotFoundError):
        save(sl.models.SmallCNN(), tmp_path / "no" / "such" / "dir")
    with pytest.raises(TypeError, match="JSON"):
        save(sl.models.SmallCNN(), tmp_path / "m", metadata={"x": object()})
    # nothing half-written
    assert not (tmp_path / "m" / "config.json").exists()


def test_save_overwrites_atomically(tmp_path):
    save(sl.models.SmallCNN(n_filters=4), tmp_path / "m")
    save(sl.models.SmallCNN(n_filters=8), tmp_path / "m")
    assert load(tmp_path / "m").config["n_filters"] == 8
    assert sorted(os.listdir(tmp_path / "m")) == ["config.json", "model.safetensors"]


def test_pretrained_ctcf_model():
    from sparselrp.models.pretrained import pretrained_path
    from sparselrp.models.train import auroc

    directory = pretrained_path("ctcf")
    assert sum(p.stat().st_size for p in directory.iterdir()) < 1_000_000
    model = sl.models.pretrained("ctcf", device="cpu")
    assert isinstance(model, sl.models.SmallCNN) and model.seq_len == 200
    meta = model.sparselrp_config["metadata"]
    assert meta["tasks"] == ["CTCF"] and meta["test_auroc"] >= 0.9
    seqs = [s for _, s in sl.genome.read_fasta(sl.data.ctcf_peaks_fasta())]
    X = sl.one_hot_encode_batch(seqs, iupac="n")
    shuffled = sl.dinucleotide_shuffle(X, n=1, random_state=123)[:, 0]
    with torch.no_grad():
        scores = torch.cat([model(X), model(shuffled)])[:, 0]
    labels = [1] * len(X) + [0] * len(X)
    assert auroc(labels, scores.numpy()) >= 0.9
    with pytest.raises(KeyError, match="unknown pretrained"):
        sl.models.pretrained("nope")
