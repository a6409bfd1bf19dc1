"""The LRP engine on whole models: conservation, gradient x input, BatchNorm folding,
functional vs module forms, supported and unsupported operations, targets, batching."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import sparselrp as sl
from sparselrp.errors import UnsupportedOperationError
from sparselrp.lrp import LRP, Composite, Epsilon, Gamma, ZeroRule, ZPlus, conservation, get_composite

from toy_models import TOY_LENGTHS, TOY_MODELS, functional_deepsea, random_onehot

D = torch.float64


def _model(name, **kw):
    return TOY_MODELS[name](**kw).double()


def _grad_x_input(model, X, target):
    x = X.clone().requires_grad_(True)
    out = model(x)
    (g,) = torch.autograd.grad(out[:, target].sum(), x)
    return g * X


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_lrp0_bias_free_equals_gradient_x_input(name):
    model = _model(name, bias=False)
    X = random_onehot(4, TOY_LENGTHS[name], seed=3)
    R = sl.lrp(model, X, target=1, composite="zero")
    ref = _grad_x_input(model, X, 1)
    assert torch.allclose(R, ref, rtol=1e-8, atol=1e-12 * ref.abs().max().item())


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_lrp0_bias_free_conserves_layer_by_layer(name):
    model = _model(name, bias=False)
    X = random_onehot(4, TOY_LENGTHS[name], seed=4)
    info = conservation(model, X, target=0, composite="zero")
    f = info["output"]
    scale = f.abs().clamp(min=1e-30)
    assert torch.allclose(info["input_sum"], f, rtol=1e-8, atol=0)
    for nm, a in info["per_layer_absorbed"].items():
        assert (a.abs() / scale).max() < 1e-8, nm
    if name != "bpnet":   # no skip connections: every layer input carries all relevance
        for nm, s in info["per_layer_sum"].items():
            assert torch.allclose(s, f, rtol=1e-8, atol=0), nm


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_epsilon_loses_only_what_its_stabiliser_absorbs(name):
    """The conservation gap equals the summed per-layer absorption, and at the top layer
    that absorption is exactly f * eps / (f + eps sign f) (bias-free)."""
    model = _model(name, bias=False)
    X = random_onehot(4, TOY_LENGTHS[name], seed=5)
    eps = 1e-3
    info = conservation(model, X, target=0, composite=get_composite("epsilon", epsilon=eps, stabilizer=eps))
    f = info["output"]
    gap = info["gap"]
    assert torch.allclose(gap, info["absorbed"], rtol=1e-8, atol=1e-14)
    top = list(info["per_layer_absorbed"])[-1]   # forward order: the last is the output layer
    sign = torch.where(f >= 0, 1.0, -1.0).to(D)
    expected = f * eps * sign / (f + eps * sign)
    assert torch.allclose(info["per_layer_absorbed"][top], expected, rtol=1e-8, atol=1e-15)
    # measured, not hidden: the relative loss is reported and small but non-zero
    rel = (gap / f).abs()
    assert (rel > 0).any()


def test_batchnorm_folding_keeps_outputs_and_equals_unfolded_explanation():
    model = _model("basset", bn_after_relu=True)
    X = random_onehot(5, TOY_LENGTHS["basset"], seed=6)
    comp = get_composite("zero")
    comp.batchnorm_rule = ZeroRule()   # unfolded BatchNorms default to epsilon; compare LRP-0 to LRP-0
    folded = LRP(model, composite=comp)
    unfolded = LRP(model, composite=comp, fold_batchnorm=False)
    # bn1, bn2, bn3 follow a conv/linear and are folded; bn_extra follows a ReLU
    kinds = [g.kind for g in folded.graph.nodes if g.name.startswith("bn")]
    assert folded.layer_names == ["conv1", "conv2", "bn_extra", "fc1", "fc2"]
    assert "bn1" in unfolded.layer_names
    with torch.no_grad():
        env, _ = folded.engine.forward(X)
        out = folded.engine.output_value(env)
    assert torch.allclose(out, model(X), rtol=1e-5, atol=1e-7)
    assert kinds.count("identity") == 3
    R1 = folded(X, target=2)
    R2 = unfolded(X, target=2)
    assert torch.allclose(R1, R2, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("composite", ["zero", "epsilon", "epsilon-plus", "epsilon-plus-flat", "best-practice",
                                       "epsilon-alpha2-beta1", "epsilon-alpha2-beta1-flat"])
def test_functional_and_module_forms_identical(composite):
    model = _model("deepsea")
    fmodel = functional_deepsea(model)
    X = random_onehot(3, TOY_LENGTHS["deepsea"], seed=7)
    R1 = sl.lrp(model, X, target=2, composite=composite)
    R2 = sl.lrp(fmodel, X, target=2, composite=composite)
    assert torch.equal(R1, R2)


class _KitchenSink(nn.Module):
    """Bias-free: cat, slicing/cropping, F.pad, permute + Linear, avg pool, sum over an axis,
    global max via amax and max(dim).values, scalar scaling, view/reshape, chunk."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.c1 = nn.Conv1d(4, 6, 3, padding=1, bias=False)
        self.c2 = nn.Conv1d(4, 6, 5, padding=2, bias=False)
        self.c3 = nn.Conv1d(12, 8, 3, bias=False)
        self.lin = nn.Linear(8, 5, bias=False)
        self.pool = nn.AvgPool1d(2)
        self.head = nn.Linear(5 + 5 + 4, 3, bias=False)

    def forward(self, x):
        a = F.relu(self.c1(x))
        b = torch.relu(self.c2(x))
        h = torch.cat([a, b], dim=1)[:, :, 2:-2]          # crop
        h = F.pad(h, (1, 1))
        h = F.relu(self.c3(h)) * 0.5
        h = self.pool(h)
        p = F.relu(self.lin(h.permute(0, 2, 1)))           # (N, L', 5)
        g1 = p.amax(dim=1)                                 # (N, 5)
        g2 = p.max(dim=1).values                           # (N, 5)
        s1, s2 = torch.chunk(h, 2, dim=1)
        g3 = (s1 + s2).sum(dim=-1)                         # (N, 4)
        z = torch.cat([g1, g2 * 2.0, g3], dim=1).reshape(x.shape[0], -1)
        return self.head(z)


def test_many_ops_bias_free_lrp0_equals_gradient_x_input_and_conserves():
    model = _KitchenSink().double().eval()
    X = random_onehot(3, 40, seed=8)
    R = sl.lrp(model, X, target=0, composite="zero")
    ref = _grad_x_input(model, X, 0)
    assert torch.allclose(R, ref, rtol=1e-8, atol=1e-12 * ref.abs().max().item())
    with torch.no_grad():
        f = model(X)[:, 0]
    assert torch.allclose(R.sum((1, 2)), f, rtol=1e-8)


def test_softmax_and_sigmoid_heads_are_explained_on_logits():
    base = _model("deepsea")
    X = random_onehot(3, TOY_LENGTHS["deepsea"], seed=9)
    R = sl.lrp(base, X, target=1)
    for head in (nn.Softmax(dim=1), nn.Sigmoid(), nn.LogSoftmax(dim=-1)):
        m = nn.Sequential(copy.deepcopy(base), head).eval()
        assert torch.equal(sl.lrp(m, X, target=1), R)


def test_maxpool_ties_do_not_duplicate_relevance():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 3, 1, bias=False), nn.ReLU(), nn.MaxPool1d(4), nn.Flatten(),
                          nn.Linear(3 * 5, 2, bias=False)).double().eval()
    with torch.no_grad():
        model[0].weight.abs_()
    X = torch.zeros(2, 4, 20, dtype=D)
    X[:, 0] = 1.0     # all A: every pooling window is a tie
    R, layers = sl.lrp(model, X, target=0, composite="zero", return_layers=True)
    f = model(X)[:, 0].detach()
    assert torch.allclose(R.sum((1, 2)), f, rtol=1e-10)
    # one winner per window: exactly 1 of 4 positions per window carries relevance
    per_pos = R.sum(1).reshape(2, 5, 4)
    assert ((per_pos != 0).sum(-1) <= 1).all()
    assert ((per_pos != 0).sum(-1) == 1).all()


def test_model_is_not_modified():
    model = _model("basset", bn_after_relu=True)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    X = random_onehot(3, TOY_LENGTHS["basset"], seed=10)
    model.eval()
    with torch.no_grad():
        before = model(X)
    model.train()
    sl.lrp(model, X, target=0, pruning=sl.MassPrune(0.5))
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.requires_grad for p in model.parameters())
    assert not model._forward_hooks and not model._forward_pre_hooks
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(X), before)


class _Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3)

    def forward(self, x):
        h = self.conv(x)
        return (h * torch.sigmoid(h)).sum(-1)


class _WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(4, 4, 3), nn.LSTM(4, 4))

    def forward(self, x):
        return self.block(x)


class _ControlFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3)

    def forward(self, x):
        h = self.conv(x)
        if h.sum() > 0:
            h = h * 2
        return h.sum(-1)


def test_unsupported_operations_raise_named_errors():
    with pytest.raises(UnsupportedOperationError, match=r"operator\.mul.*node 'mul'"):
        LRP(_Gated())
    with pytest.raises(UnsupportedOperationError, match=r"LSTM.*block\.1"):
        LRP(_WithLSTM())
    with pytest.raises(UnsupportedOperationError, match="torch.fx"):
        LRP(_ControlFlow())
    conv2d = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(UnsupportedOperationError, match="Conv2d"):
        LRP(conv2d)
    circ = nn.Sequential(nn.Conv1d(4, 2, 3, padding=1, padding_mode="circular"))
    with pytest.raises(UnsupportedOperationError, match="circular"):
        LRP(circ)


def test_targets_int_per_sample_and_callable():
    model = _model("deepsea")
    X = random_onehot(4, TOY_LENGTHS["deepsea"], seed=12)
    t = [0, 2, 1, 2]
    R = sl.lrp(model, X, target=t, composite="epsilon")
    for n, ti in enumerate(t):
        assert torch.allclose(R[n:n + 1], sl.lrp(model, X[n:n + 1], target=ti, composite="epsilon"), atol=1e-14)
    R_sum = sl.lrp(model, X, target=lambda out: out[:, 0] + out[:, 2], composite="epsilon")
    R_sep = sl.lrp(model, X, target=0, composite="epsilon") + sl.lrp(model, X, target=2, composite="epsilon")
    assert torch.allclose(R_sum, R_sep, rtol=1e-9, atol=1e-14)
    with pytest.raises(ValueError, match=r"target index 3 out of range.*3 outputs"):
        sl.lrp(model, X, target=3)
    with pytest.raises(ValueError, match="target index 5"):
        sl.lrp(model, X, target=[0, 1, 5, 0])
    with pytest.raises(ValueError, match="4 samples"):
        sl.lrp(model, X, target=[0, 1])


def test_profile_output_needs_callable_and_tuple_outputs():
    model = _model("bpnet", profile=True)
    X = random_onehot(3, TOY_LENGTHS["bpnet"], seed=13)
    with pytest.raises(ValueError, match="callable"):
        sl.lrp(model, X, target=0)
    R = sl.lrp(model, X, target=lambda out: out[0].sum(dim=(1, 2)), composite="zero")
    with torch.no_grad():
        f = model(X)[0].sum(dim=(1, 2))
    assert R.shape == X.shape and torch.isfinite(R).all()
    info = LRP(_model("bpnet", profile=True, bias=False), composite="zero").conservation(
        X, target=lambda out: out[0].sum(dim=(1, 2)))
    assert torch.allclose(info["input_sum"], info["output"], rtol=1e-8)
    assert f.shape == (3,)


def test_nan_input_and_nan_output_raise():
    model = _model("deepsea")
    X = random_onehot(2, TOY_LENGTHS["deepsea"], seed=14)
    Xn = X.clone()
    Xn[0, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        sl.lrp(model, Xn)
    bad = copy.deepcopy(model)
    with torch.no_grad():
        bad.fc2.bias[0] = float("inf")
    with pytest.raises(ValueError, match="model output contains NaN or Inf"):
        sl.lrp(bad, X)


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_results_independent_of_batch_size(name):
    model = _model(name)
    X = random_onehot(7, TOY_LENGTHS[name], seed=15)
    e = LRP(model)
    R1 = e(X, target=1, batch_size=7)
    R2 = e(X, target=1, batch_size=2)
    assert torch.allclose(R1, R2, rtol=1e-6, atol=1e-6 * R1.abs().max().item())


def test_dtype_and_device_preserved_float32():
    model = TOY_MODELS["deepsea"]()
    X = random_onehot(3, TOY_LENGTHS["deepsea"], dtype=torch.float32)
    R = sl.lrp(model, X, target=0, device="cpu")
    assert R.dtype == torch.float32 and R.device == X.device and R.shape == X.shape
    R64 = sl.lrp(model, X.double(), target=0, device="cpu")
    assert R64.dtype == torch.float64
    assert torch.allclose(R.double(), R64, rtol=1e-3, atol=1e-5 * R64.abs().max().item())


@pytest.mark.parametrize("composite", ["zero", "epsilon", "epsilon-plus", "epsilon-alpha2-beta1",
                                       {"conv": Gamma(0.5)}])
def test_hypothetical_times_input_equals_map(composite):
    model = _model("bpnet")
    X = random_onehot(3, TOY_LENGTHS["bpnet"], seed=16, n_frac=0.1)
    e = LRP(model, composite=composite)
    R = e(X, target=0)
    H = e(X, target=0, hypothetical=True)
    assert H.shape == X.shape
    assert torch.allclose(H * X, R, rtol=1e-10, atol=1e-15)
    # absent bases get scores too
    assert (H[X == 0] != 0).any()


@pytest.mark.parametrize("composite", ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"])
def test_hypothetical_undefined_for_non_multiplicative_first_rules(composite):
    model = _model("deepsea")
    X = random_onehot(2, TOY_LENGTHS["deepsea"])
    with pytest.raises(ValueError, match="hypothetical"):
        sl.lrp(model, X, composite=composite, hypothetical=True)


def test_strand_average():
    model = _model("basset")
    X = random_onehot(3, TOY_LENGTHS["basset"], seed=17)
    e = LRP(model)
    R = e(X, target=1, strand_average=True)
    ref = 0.5 * (e(X, target=1) + e(X.flip(1, 2), target=1).flip(1, 2))
    assert torch.allclose(R, ref, atol=1e-15)


def test_return_layers_readout():
    model = _model("deepsea")
    X = random_onehot(3, TOY_LENGTHS["deepsea"], seed=18)
    e = LRP(model)
    R, layers = e(X, target=0, return_layers=True)
    assert list(layers) == e.layer_names == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    assert torch.equal(layers["conv1"], R)
    assert layers["conv2"].shape == (3, 8, 31)
    assert layers["fc2"].shape == (3, 10)


def test_custom_maps_by_type_and_name():
    model = _model("deepsea")
    X = random_onehot(2, TOY_LENGTHS["deepsea"], seed=19)
    e = LRP(model, composite={nn.Conv1d: ZPlus(), "fc1": Epsilon(0.5), "linear": Epsilon()})
    assert isinstance(e.rules["conv1"], ZPlus)
    assert e.rules["fc1"].epsilon == 0.5
    assert e.rules["fc2"].epsilon == 1e-6
    assert torch.allclose(e(X), sl.lrp(model, X, composite=Composite(
        {nn.Conv1d: ZPlus(), nn.Linear: Epsilon()}, name_map={"fc1": Epsilon(0.5)})))
    with pytest.raises(ValueError, match="unknown composite"):
        sl.lrp(model, X, composite="nonsense")


@pytest.mark.parametrize("length, layer", [(10, "body.0"), (150, "body")])
def test_input_length_the_model_cannot_take_names_shape_and_layer(length, layer):
    """A wrong L gives a ValueError naming the input shape and the failing layer, not torch's bare error."""
    import sparselrp as sl

    model = sl.models.ZOO["deepsea"](seq_len=200) if layer == "body" else sl.models.ZOO["small_cnn"]()
    with pytest.raises(ValueError, match=rf"cannot take input of shape \(2, 4, {length}\).*failed at '{layer}"):
        sl.lrp(model, torch.zeros(2, 4, length))


@pytest.mark.parametrize("name", sorted(TOY_MODELS))
def test_cpu_steps_do_not_change_results(name, monkeypatch, capsys):
    """On CPU a batch is explained in memory-bounded steps; the step size (down to one
    sample) changes neither the map nor the per-layer readout, and the progress bar
    counts sequences."""
    import sparselrp.lrp.api as api

    model = _model(name).double()
    X = random_onehot(7, TOY_LENGTHS[name], seed=31).double()
    e = LRP(model, pruning=sl.MassPrune(0.5))
    R_big, layers_big = e.attribute(X, target=0, return_layers=True)
    assert e._cpu_chunk(X, X.dtype) >= 7
    monkeypatch.setattr(api, "CPU_CHUNK_BYTES", 1)
    e2 = LRP(model, pruning=sl.MassPrune(0.5))
    assert e2._cpu_chunk(X, X.dtype) == 1
    R_small, layers_small = e2.attribute(X, target=0, return_layers=True, progress=True)
    assert "7/7" in capsys.readouterr().err
    torch.testing.assert_close(R_small, R_big, rtol=1e-12, atol=1e-12)
    for k in layers_big:
        torch.testing.assert_close(layers_small[k], layers_big[k], rtol=1e-12, atol=1e-12)
