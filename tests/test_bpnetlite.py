"""sl.models.from_bpnetlite / load_bpnetlite against the real bpnet-lite package (the [bpnet] extra)."""

import bpnetlite
import pytest
import torch
from bpnetlite.bpnet import CountWrapper as LiteCountWrapper
from bpnetlite.bpnet import ProfileWrapper as LiteProfileWrapper

import sparselrp as sl
from sparselrp.errors import ModelFileError

L, TRIM = 120, 12


def one_hot(n, length, seed):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    return torch.eye(4)[idx].transpose(1, 2).contiguous()


def bpnet(seed=0, n_outputs=2, n_control_tracks=2, n_layers=3, zero_bias=False, dtype=torch.float32):
    torch.manual_seed(seed)
    model = bpnetlite.BPNet(n_filters=8, n_layers=n_layers, n_outputs=n_outputs, n_control_tracks=n_control_tracks,
                            trimming=TRIM, verbose=False).eval().to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # larger weights than the default init, so the heads vary across sequences
            p.mul_(3.0)
            if zero_bias and name.endswith("bias"):
                p.zero_()
    return model


@pytest.mark.parametrize("head", ["counts", "profile"])
def test_explained_value_is_bpnetlites_own(head):
    """The wrapped output is what bpnet-lite's CountWrapper / ProfileWrapper compute (zero controls)."""
    model = bpnet()
    X = one_hot(4, L, 1)
    ctl = torch.zeros(4, 2, L)
    ours = sl.models.from_bpnetlite(model, head=head)(X)
    theirs = (LiteCountWrapper if head == "counts" else LiteProfileWrapper)(model)(X, ctl)
    assert ours.shape == (4, 1)
    torch.testing.assert_close(ours, theirs.reshape(4, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("head", ["counts", "profile"])
def test_lrp0_is_gradient_times_input_without_biases(head):
    """With no bias terms, LRP-0 on a ReLU network equals gradient x input: checks that every
    node of the captured BPNet (residual adds, crops, the constant control tracks, the
    detached softmax weights of the profile score) is propagated exactly."""
    model = bpnet(zero_bias=True, dtype=torch.float64)
    wrapped = sl.models.from_bpnetlite(model, head=head)
    X = one_hot(3, L, 2).double()
    R = sl.lrp(wrapped, X, target=0, composite="zero", device="cpu")
    Xg = X.clone().requires_grad_(True)
    wrapped(Xg)[:, 0].sum().backward()
    expected = Xg.grad * X
    assert expected.abs().max() > 1e-4
    torch.testing.assert_close(R, expected, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(R.sum((1, 2)), wrapped(X)[:, 0].detach(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("head", ["counts", "profile"])
@pytest.mark.parametrize("pruning", [None, sl.MassPrune(0.5)], ids=["lrp", "plrp"])
def test_conservation(head, pruning):
    """With biases (the trained case): the explained value is the head's output, and what the
    input does not receive is exactly what the layers absorbed (biases, stabilisers) or pruning
    removed."""
    model = bpnet(seed=3)
    wrapped = sl.models.from_bpnetlite(model, head=head)
    X = one_hot(5, L, 4)
    c = sl.lrp.conservation(wrapped, X, target=0, pruning=pruning, device="cpu")
    torch.testing.assert_close(c["output"], wrapped(X)[:, 0].detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c["gap"], c["absorbed"] + c["pruned"], rtol=1e-4, atol=1e-5)
    R = sl.lrp(wrapped, X, target=0, pruning=pruning, device="cpu")
    torch.testing.assert_close(R.sum((1, 2)), c["input_sum"], rtol=1e-5, atol=1e-6)
    assert R.shape == X.shape and bool((R.abs().sum((1, 2)) > 0).all())


def test_stranded_profile_uses_one_softmax_over_both_strands():
    model = bpnet(n_outputs=2)
    X = one_hot(2, L, 5)
    z = model(X, torch.zeros(2, 2, L))[0].reshape(2, -1)
    w = torch.softmax(z, -1)
    expected = (w * (z - z.mean(-1, keepdim=True))).sum(-1)
    got = sl.models.from_bpnetlite(model, head="profile")(X)[:, 0]
    torch.testing.assert_close(got, expected.detach(), rtol=1e-5, atol=1e-6)


def test_given_control_tracks_are_used_for_every_sequence():
    model = bpnet()
    X = one_hot(3, L, 6)
    g = torch.Generator().manual_seed(7)
    ctl = torch.rand(2, L, generator=g) * 5
    wrapped = sl.models.from_bpnetlite(model, head="counts", control=ctl)
    torch.testing.assert_close(wrapped(X), model(X, ctl.expand(3, -1, -1))[1])
    assert not torch.allclose(wrapped(X), sl.models.from_bpnetlite(model, head="counts")(X))
    R = sl.lrp(wrapped, X, device="cpu")
    assert R.shape == X.shape and bool(torch.isfinite(R).all())
    # explicit zero tracks are the default
    zero = sl.models.from_bpnetlite(model, head="counts", control=torch.zeros(2, L))
    torch.testing.assert_close(sl.lrp(zero, X, device="cpu"),
                               sl.lrp(sl.models.from_bpnetlite(model, head="counts"), X, device="cpu"))
    with pytest.raises(ValueError, match=r"\(n_control_tracks, L\) = \(2, L\)"):
        sl.models.from_bpnetlite(model, control=torch.zeros(3, L))


def test_model_without_control_tracks_and_direct_capture():
    model = bpnet(n_control_tracks=0, n_outputs=1)
    X = one_hot(2, L, 8)
    R = sl.lrp(sl.models.from_bpnetlite(model, head="counts"), X, device="cpu")
    # the bare model (forward(X, X_ctl=None)) is captured at X_ctl=None and explained with a callable target
    R2 = sl.lrp(model, X, target=lambda out: out[1][:, 0], device="cpu")
    torch.testing.assert_close(R, R2)


def test_chrombpnet_parts():
    bias = bpnet(seed=10, n_outputs=1, n_control_tracks=0, n_layers=2)
    acc = bpnet(seed=11, n_outputs=1, n_control_tracks=0, n_layers=3)
    chrom = bpnetlite.ChromBPNet(bias, acc).eval()
    X = one_hot(3, L, 9)
    # default: the bias-free accessibility model, as ChromBPNet's attributions use
    m = sl.models.from_bpnetlite(chrom, head="counts")
    torch.testing.assert_close(m(X), acc(X)[1])
    torch.testing.assert_close(sl.models.from_bpnetlite(chrom, head="counts", part="bias")(X), bias(X)[1])
    full = sl.models.from_bpnetlite(chrom, head="profile", part="full")
    torch.testing.assert_close(full(X), LiteProfileWrapper(chrom)(X))
    c = sl.lrp.conservation(full, X, target=0, device="cpu")
    torch.testing.assert_close(c["gap"], c["absorbed"] + c["pruned"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="log\\(exp"):
        sl.models.from_bpnetlite(chrom, head="counts", part="full")


def test_bad_arguments():
    with pytest.raises(ValueError, match="head must be"):
        sl.models.from_bpnetlite(bpnet(), head="shape")
    with pytest.raises(TypeError, match="bpnet-lite BPNet or ChromBPNet"):
        sl.models.from_bpnetlite(sl.models.SmallCNN())


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_load_state_dict_or_safetensors(tmp_path, suffix):
    from safetensors.torch import save_file

    model = bpnet(seed=12)
    path = tmp_path / f"bpnet{suffix}"
    if suffix == ".pt":
        torch.save(model.state_dict(), path)
    else:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    loaded = sl.models.load_bpnetlite(path, trimming=TRIM, device="cpu")
    assert isinstance(loaded, bpnetlite.BPNet) and not loaded.training
    assert (loaded.n_filters, loaded.n_layers, loaded.n_outputs, loaded.n_control_tracks) == (8, 3, 2, 2)
    X, ctl = one_hot(2, L, 13), torch.zeros(2, 2, L)
    for a, b in zip(loaded(X, ctl), model(X, ctl)):
        torch.testing.assert_close(a, b)


def test_load_chrombpnet_state_dict(tmp_path):
    bias = bpnet(seed=14, n_outputs=1, n_control_tracks=0, n_layers=2)
    acc = bpnet(seed=15, n_outputs=1, n_control_tracks=0, n_layers=3)
    chrom = bpnetlite.ChromBPNet(bias, acc).eval()
    torch.save(chrom.state_dict(), tmp_path / "chrombpnet.pt")
    loaded = sl.models.load_bpnetlite(tmp_path / "chrombpnet.pt", trimming=TRIM, bias_trimming=TRIM, device="cpu")
    assert isinstance(loaded, bpnetlite.ChromBPNet)
    X = one_hot(2, L, 16)
    for a, b in zip(loaded(X), chrom(X)):
        torch.testing.assert_close(a, b)


def test_whole_pickled_model_is_refused(tmp_path):
    """bpnet-lite's training writes torch.save(model): never unpickled."""
    torch.save(bpnet(), tmp_path / "bpnet.torch")
    with pytest.raises(ModelFileError) as info:
        sl.models.load_bpnetlite(tmp_path / "bpnet.torch")
    msg = str(info.value)
    assert "whole pickled model" in msg and "state_dict()" in msg and "\n" not in msg


def test_saved_as_own_class_and_loaded_with_allow_classes(tmp_path):
    """A bpnet-lite BPNet goes through sl.models.save / load like any importable class."""
    from sparselrp.models.bpnetlite import bpnetlite_config

    model = bpnet(seed=17)
    config = dict(bpnetlite_config(model.state_dict()), trimming=TRIM, verbose=False)
    sl.models.save(model, tmp_path / "m", config=config)
    with pytest.raises(ModelFileError, match="allow_classes"):
        sl.models.load(tmp_path / "m")
    loaded = sl.models.load(tmp_path / "m", allow_classes=["bpnetlite.bpnet:BPNet"], device="cpu")
    X, ctl = one_hot(2, L, 18), torch.zeros(2, 2, L)
    torch.testing.assert_close(loaded(X, ctl)[1], model(X, ctl)[1])
