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
