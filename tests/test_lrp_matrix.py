"""PLRP-M ("matrix" redistribution): relevance is conserved through the re-propagated
steps, including units whose inputs were all pruned (the lambda fall-back)."""

import pytest
import torch

from sparselrp.lrp import LRP, MassPrune, TopK, conservation

from toy_models import TOY_LENGTHS, TOY_MODELS, random_onehot


@pytest.mark.parametrize("name", list(TOY_MODELS))
@pytest.mark.parametrize("pruning", [MassPrune(0.5, redistribute="matrix"), MassPrune(0.9, redistribute="matrix"),
                                     TopK(3, redistribute="matrix")], ids=repr)
def test_matrix_conserves_with_lrp0_on_bias_free_models(name, pruning):
    """Bias-free LRP-0 conserves exactly, so every re-propagated step must too: each upper
    unit hands its whole relevance to surviving inputs, and a unit with no surviving input
    hands its relevance to the survivors as lambda would (it used to be dropped)."""
    model = TOY_MODELS[name](bias=False).double()
    X = random_onehot(6, TOY_LENGTHS[name], seed=5)
    info = conservation(model, X, target=1, composite="zero", pruning=pruning)
    f = info["output"]
    tol = dict(rtol=1e-8, atol=1e-12 * f.abs().max().item())
    # what is lost can only be a sign with no survivor at some layer (possible with TopK's
    # few kept units), and the diagnostics account for it
    assert torch.allclose(info["input_sum"], f - info["pruned"], **tol)
    if isinstance(pruning, MassPrune):   # p < 1 keeps a survivor of each sign: nothing lost
        assert torch.allclose(info["input_sum"], f, **tol)


def test_matrix_fallback_case_occurs_and_is_conserved(monkeypatch):
    """The residual toy model has upper units whose inputs are all pruned at p = 0.9 (the
    fall-back path is exercised), and the per-layer readout keeps the output's total at
    every pruned layer."""
    import sparselrp.lrp.propagate as propagate

    model = TOY_MODELS["bpnet"](bias=False).double()
    X = random_onehot(4, TOY_LENGTHS["bpnet"], seed=1)
    seen = []
    orig = propagate.Engine._matrix

    def spy(self, g, R, keep, env, pending):
        x = env[g.index]
        for c, _, _ in pending:
            W = c.layer.params(x.dtype, x.device)[0]
            seen.append(int((c.layer.forward((x * keep).abs(), W.abs(), None) == 0).sum()))
        return orig(self, g, R, keep, env, pending)

    monkeypatch.setattr(propagate.Engine, "_matrix", spy)
    e = LRP(model, composite="zero", pruning=MassPrune(0.9, redistribute="matrix"))
    R, layers = e.attribute(X, target=0, return_layers=True)
    assert max(seen) > 0
    f = model(X)[:, 0].detach()
    for name, Rl in layers.items():
        torch.testing.assert_close(Rl.reshape(4, -1).sum(1), f, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(R.sum((1, 2)), f, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", list(TOY_MODELS))
@pytest.mark.parametrize("composite", ["best-practice", "epsilon-gamma", "epsilon-plus"])
def test_matrix_keeps_each_pruned_layers_total_with_biases(name, composite):
    """PLRP-M renormalises each consumer unit's own contributions over the survivors and
    never re-evaluates the bias: pruning changes no layer's total, with biases and any rule
    (it used to lose or amplify 4-93 % there)."""
    model = TOY_MODELS[name]().double()
    X = random_onehot(5, TOY_LENGTHS[name], seed=9)
    for pruning in (MassPrune(0.7, redistribute="matrix"),
                    MassPrune(0.7, redistribute="matrix", layers="positions", group="position"),
                    TopK(0.1, redistribute="matrix")):
        info = conservation(model, X, target=0, composite=composite, pruning=pruning)
        scale = info["output"].abs().max().item()
        assert info["per_layer_pruned"], pruning
        for layer, lost in info["per_layer_pruned"].items():
            assert float(lost.abs().max()) <= 1e-9 * scale, (pruning, layer, lost)


def test_matrix_renormalises_over_the_survivors_slow_reference():
    """One dense consumer layer under LRP-0, pruned input relevance: each unit's relevance
    goes to the surviving inputs in proportion to their contributions z_ij, scaled so that
    the unit hands down what it handed down before."""
    torch.manual_seed(0)
    lin1 = torch.nn.Linear(6, 5).double()
    lin2 = torch.nn.Linear(5, 3).double()
    model = torch.nn.Sequential(lin1, torch.nn.ReLU(), lin2).eval()
    x = torch.rand(1, 6, dtype=torch.float64)
    pr = TopK(2, redistribute="matrix", layers=["2"], sign_aware=False)
    R, layers = LRP(model, composite="zero", pruning=pr).attribute(x, target=0, return_layers=True)
    with torch.no_grad():
        a = torch.relu(lin1(x))[0]                 # input of lin2 (5,)
        f = lin2(a)
    W, b = lin2.weight.detach(), lin2.bias.detach()
    Rj = torch.zeros(3, dtype=torch.float64)
    Rj[0] = f[0]
    z_ij = a[None, :] * W                          # (3, 5)
    zj = z_ij.sum(1) + b
    R_in = (z_ij / zj[:, None] * Rj[:, None]).sum(0)
    keep = torch.zeros(5, dtype=torch.bool)
    keep[torch.argsort(-R_in.abs(), stable=True)[:2]] = True
    ref = torch.zeros(5, dtype=torch.float64)
    for j in range(3):
        handed = (z_ij[j] / zj[j] * Rj[j]).sum()
        kept = z_ij[j] * keep
        if Rj[j] != 0:
            ref += kept / kept.sum() * handed
    assert torch.allclose(layers["2"][0], ref, rtol=1e-10, atol=1e-14)
