"""Every zoo model is explained by sl.lrp, with conservation checked.

On a bias-free copy (biases and BatchNorm shifts set to zero) the LRP-0 composite
"zero" conserves relevance exactly (sum of input relevance = explained output) and,
for these ReLU networks, equals gradient x input. With biases, the epsilon
composite's conservation gap is exactly the relevance the layers absorb.
"""

import copy

import pytest
import torch
from torch import nn

import sparselrp as sl
from sparselrp.models import ZOO, BPNet, CountWrapper, ProfileWrapper

from test_models import SMALL, random_one_hot

lrp_module = pytest.importorskip("sparselrp.lrp")


def bias_free(model, seed=0):
    """A float64 copy with zero biases and BatchNorm layers that only scale."""
    g = torch.Generator().manual_seed(seed)
    model = copy.deepcopy(model).double().eval()
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)) and m.bias is not None:
            m.bias.data.zero_()
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.zero_()
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g, dtype=torch.float64) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g, dtype=torch.float64) + 0.5)
            m.bias.data.zero_()
    return model


def grad_x_input(model, X, target):
    X = X.clone().requires_grad_(True)
    model(X)[:, target].sum().backward()
    return (X.grad * X).detach()


def build(name, seed=0):
    torch.manual_seed(seed)
    return ZOO[name](**SMALL[name]).eval()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zero_rule_conserves_on_bias_free_model(name):
    model = bias_free(build(name))
    X = random_one_hot(6, model.seq_len, seed=1).double()
    for target in range(min(2, model.n_targets)):
        R = sl.lrp(model, X, target=target, composite="zero", device="cpu")
        assert R.shape == X.shape and R.dtype == X.dtype
        with torch.no_grad():
            out = model(X)[:, target]
        assert torch.allclose(R.sum(dim=(1, 2)), out, rtol=1e-8, atol=1e-9)
        # only observed bases carry relevance (LRP-0 multiplies by the input)
        assert torch.all(R[X == 0] == 0)
        assert torch.allclose(R, grad_x_input(model, X, target), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_epsilon_gap_is_absorbed_relevance(name):
    torch.manual_seed(0)
    model = build(name).double()
    X = random_one_hot(4, model.seq_len, seed=2).double()
    c = lrp_module.conservation(model, X, target=0, composite="epsilon", device="cpu")
    with torch.no_grad():
        out = model(X)[:, 0]
    assert torch.allclose(c["output"], out, rtol=1e-8)
    assert torch.allclose(c["gap"], c["absorbed"] + c["pruned"], atol=1e-6)
    R = sl.lrp(model, X, target=0, composite="epsilon", device="cpu")
    assert torch.allclose(R.sum(dim=(1, 2)), c["input_sum"], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_default_composite_runs(name):
    model = build(name)
    X = random_one_hot(3, model.seq_len, seed=3)
    R = sl.lrp(model, X, target=0, device="cpu")
    assert R.shape == X.shape and torch.isfinite(R).all()
    R = sl.lrp(model, X, target=0, pruning=sl.TopK(8), device="cpu")
    assert R.shape == X.shape and torch.isfinite(R).all()


@pytest.mark.parametrize("wrapper", [CountWrapper, lambda m: ProfileWrapper(m, "sum"),
                                     lambda m: ProfileWrapper(m, "mean", window=(10, 30))])
def test_bpnet_wrappers_conserve(wrapper):
    model = bias_free(BPNet(**SMALL["bpnet"]))
    wrapped = wrapper(model)
    X = random_one_hot(4, model.seq_len, seed=4).double()
    for target in (0, 1):
        R = sl.lrp(wrapped, X, target=target, composite="zero", device="cpu")
        with torch.no_grad():
            out = wrapped(X)[:, target]
        assert torch.allclose(R.sum(dim=(1, 2)), out, rtol=1e-8, atol=1e-9)
        assert torch.allclose(R, grad_x_input(wrapped, X, target), rtol=1e-7, atol=1e-10)


def test_pretrained_ctcf_model_is_explained():
    model = sl.models.pretrained("ctcf", device="cpu")
    X = random_one_hot(4, 200, seed=5)
    c = lrp_module.conservation(model, X, target=0, composite="epsilon", device="cpu")
    assert torch.allclose(c["gap"], c["absorbed"] + c["pruned"], atol=1e-4)
    R = sl.lrp(model, X, target=0, device="cpu")
    assert R.shape == X.shape
