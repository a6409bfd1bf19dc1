"""The model zoo: construction defaults, shapes, heads and wrappers."""

import pytest
import torch
from torch import nn

import sparselrp as sl
from sparselrp.models import ZOO, BPNet, CountWrapper, ProfileWrapper, SmallCNN, get_architecture

# Small configurations for quick forward passes (the defaults are tested separately).
SMALL = {
    "deepsea": dict(n_targets=3, seq_len=120, channels=(8, 8, 8), kernel_size=5, pool=2, hidden=16),
    "basset": dict(n_targets=3, seq_len=120, channels=(8, 8, 8), kernel_sizes=(7, 5, 3), pools=(2, 2, 2),
                   hidden=(16, 16)),
    "bpnet": dict(n_targets=2, seq_len=100, n_filters=8, n_layers=3, trim=5),
    "small_cnn": dict(n_targets=2, seq_len=60, n_filters=8),
}


def random_one_hot(n, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    return torch.nn.functional.one_hot(idx, 4).permute(0, 2, 1).float()


def test_zoo_names_and_public_access():
    assert set(ZOO) == {"deepsea", "basset", "bpnet", "small_cnn"}
    assert sl.models.ZOO is ZOO
    assert get_architecture("Small-CNN") is SmallCNN
    with pytest.raises(KeyError, match="unknown architecture"):
        get_architecture("resnet")


@pytest.mark.parametrize("name", sorted(ZOO))
def test_default_build_and_output_shape(name):
    torch.manual_seed(0)
    model = ZOO[name]().eval()
    assert isinstance(model.seq_len, int) and model.seq_len > 0
    assert model.arch == name
    X = random_one_hot(2, model.seq_len)
    with torch.no_grad():
        y = model(X)
    assert y.shape == (2, model.config["n_targets"])
    assert torch.isfinite(y).all()
    # the recorded config rebuilds an identical architecture
    clone = ZOO[name](**model.config)
    assert [(k, v.shape) for k, v in clone.state_dict().items()] == \
           [(k, v.shape) for k, v in model.state_dict().items()]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_small_configs(name):
    model = ZOO[name](**SMALL[name]).eval()
    X = random_one_hot(5, model.seq_len)
    assert model(X).shape == (5, SMALL[name]["n_targets"])


def test_documented_defaults():
    assert SmallCNN().seq_len == 200 and SmallCNN().n_targets == 1
    assert ZOO["deepsea"]().config["n_targets"] == 919
    assert ZOO["basset"]().seq_len == 600
    assert BPNet().seq_len == 1000
    basset = ZOO["basset"]()
    assert any(isinstance(m, nn.BatchNorm1d) for m in basset.modules())
    assert isinstance(SmallCNN().body[0], nn.Conv1d) and SmallCNN().body[0].kernel_size == (19,)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="too short"):
        ZOO["deepsea"](seq_len=30)
    with pytest.raises(ValueError, match="odd"):
        BPNet(conv_kernel=20)
    with pytest.raises(ValueError, match="pool"):
        SmallCNN(pool="median")
    with pytest.raises(ValueError, match="n_targets"):
        SmallCNN(n_targets=0)


def test_bpnet_heads_and_wrappers():
    torch.manual_seed(1)
    model = BPNet(**SMALL["bpnet"]).eval()
    X = random_one_hot(3, 100)
    profile, counts = model.profile_and_counts(X)
    assert profile.shape == (3, 2, 90)          # cropped by trim=5 at each end
    assert torch.equal(counts, model(X))
    assert torch.equal(CountWrapper(model)(X), counts)
    assert torch.allclose(ProfileWrapper(model, "sum")(X), profile.sum(-1), atol=1e-5)
    assert torch.allclose(ProfileWrapper(model, "mean", window=(10, 20))(X), profile[:, :, 10:20].mean(-1),
                          atol=1e-6)
    # weighted: sum softmax(z) * (z - mean z), computed by hand
    w = torch.softmax(profile, -1)
    expected = (w * (profile - profile.mean(-1, keepdim=True))).sum(-1)
    assert torch.allclose(ProfileWrapper(model, "weighted")(X), expected, atol=1e-5)
    with pytest.raises(TypeError, match="profile"):
        ProfileWrapper(SmallCNN())
    with pytest.raises(ValueError, match="window"):
        ProfileWrapper(model, window=(5, 2))


def test_bpnet_count_head_is_mean_of_cropped_trunk():
    torch.manual_seed(2)
    model = BPNet(**SMALL["bpnet"]).eval()
    X = random_one_hot(2, 100)
    trunk = model.trunk(X)
    assert trunk.shape == (2, 8, 90)
    expected = trunk.mean(-1) @ model.linear.weight.T + model.linear.bias
    assert torch.allclose(model(X), expected, atol=1e-5)


def test_small_cnn_any_length_and_translation_invariance():
    # global max pooling: shifting a sequence inside N padding does not change the output
    torch.manual_seed(3)
    model = SmallCNN(hidden=0, dropout=0.0).eval()
    X = random_one_hot(1, 50)
    # (padding >= kernel_size - 1 on both sides, so both see the same set of windows)
    padded_a = torch.cat([torch.zeros(1, 4, 20), X, torch.zeros(1, 4, 40)], -1)
    padded_b = torch.cat([torch.zeros(1, 4, 40), X, torch.zeros(1, 4, 20)], -1)
    assert torch.allclose(model(padded_a), model(padded_b), atol=1e-6)
