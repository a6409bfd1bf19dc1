"""Composites agree with zennit 0.5.1 on the toy models (float64).

Alignment notes: zennit needs its SequentialMergeBatchNorm canonizer for BatchNorm, and
its merge leaves the BatchNorm as x / sqrt(1 + eps) instead of the identity, so the
BatchNorm eps is set to 0 for the comparison; zennit only sees module-form residual sums
(``zennit.layer.Sum`` on stacked branches) and module-form pooling.
"""

import copy

import pytest
import torch

import sparselrp as sl
import sparselrp.lrp.rules as _r
from toy_models import TOY_LENGTHS, BassetLike, BPNetLike, DeepSEALike, random_onehot
from zennit_ref import import_zennit, zennit_lrp

zennit = import_zennit()
zc = zennit.composites


def _canon():
    return [zennit.canonizers.SequentialMergeBatchNorm()]


PAIRS = {
    "epsilon-plus": lambda: zc.EpsilonPlus(canonizers=_canon()),
    "epsilon-gamma-box": lambda: zc.EpsilonGammaBox(low=0.0, high=1.0, canonizers=_canon()),
    "best-practice": lambda: zc.EpsilonGammaBox(low=0.0, high=1.0, canonizers=_canon()),
    "epsilon-alpha2-beta1": lambda: zc.EpsilonAlpha2Beta1(canonizers=_canon()),
    "epsilon-plus-flat": lambda: zc.EpsilonPlusFlat(canonizers=_canon()),
    "epsilon-alpha2-beta1-flat": lambda: zc.EpsilonAlpha2Beta1Flat(canonizers=_canon()),
}


def _models():
    basset = BassetLike().double().eval()
    for m in basset.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.eps = 0.0
    return {
        "deepsea": DeepSEALike().double().eval(),
        "basset": basset,
        "bpnet": BPNetLike(sum_module=zennit.layer.Sum, pool_module=True).double().eval(),
    }


MODELS = _models()


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("composite", list(PAIRS))
def test_composite_agrees_with_zennit(model_name, composite):
    model = MODELS[model_name]
    X = random_onehot(3, TOY_LENGTHS[model_name], seed=21, n_frac=0.05)
    ours = sl.lrp(model, X, target=1, composite=composite)
    ref = zennit_lrp(copy.deepcopy(model), X, 1, PAIRS[composite]())
    scale = ref.abs().max().item()
    assert scale > 0
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-9 * scale), (ours - ref).abs().max().item() / scale


def test_residual_functional_add_equals_zennit_sum_form():
    """Our functional ``a + b`` / ``x.mean(-1)`` model equals zennit on the module-form twin."""
    fmodel = BPNetLike().double().eval()
    zmodel = MODELS["bpnet"]
    X = random_onehot(3, TOY_LENGTHS["bpnet"], seed=22)
    ours = sl.lrp(fmodel, X, target=0, composite="epsilon-gamma-box")
    ref = zennit_lrp(copy.deepcopy(zmodel), X, 0, PAIRS["epsilon-gamma-box"]())
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-9 * ref.abs().max().item())


@pytest.mark.parametrize("ours,theirs", [
    (lambda: _r.Gamma(zero_params=["bias"]), lambda: zennit.rules.Gamma(zero_params=["bias"])),
    (lambda: _r.ZPlus(zero_params=["bias"]), lambda: zennit.rules.ZPlus(zero_params=["bias"])),
    (lambda: _r.AlphaBeta(zero_params=["bias"]), lambda: zennit.rules.AlphaBeta(zero_params=["bias"])),
    (lambda: _r.Epsilon(0.01, zero_params=["bias"]), lambda: zennit.rules.Epsilon(0.01, zero_params=["bias"])),
    (lambda: _r.WSquare(), lambda: zennit.rules.WSquare()),
], ids=["gamma", "zplus", "alphabeta", "epsilon", "wsquare"])
def test_rule_options_agree_with_zennit(ours, theirs):
    from sparselrp.lrp import Composite, Epsilon
    model = MODELS["deepsea"]
    X = random_onehot(3, TOY_LENGTHS["deepsea"], seed=23)
    R = sl.lrp(model, X, target=0, composite=Composite({"conv": ours(), "linear": Epsilon()}))
    comp = zennit.composites.LayerMapComposite([
        (torch.nn.Conv1d, theirs()), (torch.nn.Linear, zennit.rules.Epsilon()), (torch.nn.ReLU, zennit.rules.Pass())])
    ref = zennit_lrp(copy.deepcopy(model), X, 0, comp)
    assert torch.allclose(R, ref, rtol=1e-6, atol=1e-9 * ref.abs().max().item())
