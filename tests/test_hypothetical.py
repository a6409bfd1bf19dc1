"""Hypothetical scores (issue 15 item 3) against a slow per-position, per-base reference,
for every first-layer rule that has them; zB included, flat and w-square refused."""

import pytest
import torch
import torch.nn as nn

import sparselrp as sl
from sparselrp.lrp import AlphaBeta, Composite, Epsilon, Flat, Gamma, WSquare, ZBox, ZeroRule, ZPlus

from test_lrp_rules import _dense_matrix, _seed
from toy_models import TOY_LENGTHS, TOY_MODELS, random_onehot

D = torch.float64
L = 11


def _stab(d, eps):
    return d + eps * torch.where(d >= 0, 1.0, -1.0).to(D)


def _hyp_reference(rule, A, b, x, R):
    """H (4, L) for one sample: the relevance position k would receive with base ``bb``
    observed there, every unit's denominator kept as computed for the actual input ``x``.

    A (J, 4L) layer matrix, b (J,) bias per output, x (4L,) one-hot, R (J,) output relevance.
    """
    Ap, An = A.clamp(min=0), A.clamp(max=0)
    bp, bn = b.clamp(min=0), b.clamp(max=0)
    z = A @ x + b
    eps = rule.stabilizer
    H = torch.zeros(4, L, dtype=D)
    for k in range(L):
        for bb in range(4):
            i = bb * L + k                       # flat index of (base bb, position k)
            rows = [r * L + k for r in range(4)]  # the four entries of position k
            if isinstance(rule, ZeroRule):
                d = z
                s = torch.where(d != 0, R / torch.where(d != 0, d, 1.0), 0.0)
                H[bb, k] = (A[:, i] * s).sum()
            elif isinstance(rule, Epsilon):
                H[bb, k] = (A[:, i] * R / _stab(z, eps)).sum()
            elif isinstance(rule, AlphaBeta):
                dp = Ap @ x + bp
                dn = An @ x + bn
                H[bb, k] = (rule.alpha * Ap[:, i] * R / _stab(dp, eps) - rule.beta * An[:, i] * R / _stab(dn, eps)).sum()
            elif isinstance(rule, ZPlus):
                H[bb, k] = (Ap[:, i] * R / _stab(Ap @ x + bp, eps)).sum()
            elif isinstance(rule, Gamma):
                g = rule.gamma
                Wpos, Wneg = A + g * Ap, A + g * An
                dpos = Wpos @ x + b + g * bp
                dneg = Wneg @ x + b + g * bn
                hp = Wpos[:, i] * R / _stab(dpos, eps)
                hn = Wneg[:, i] * R / _stab(dneg, eps)
                H[bb, k] = torch.where(z > 0, hp, torch.where(z < 0, hn, 0.0)).sum()
            elif isinstance(rule, ZBox):
                c_obs = A[:, i] - sum(rule.low * Ap[:, r] + rule.high * An[:, r] for r in rows)
                d = A @ x - (rule.low * Ap).sum(1) - (rule.high * An).sum(1)
                H[bb, k] = (c_obs * R / _stab(d, eps)).sum()
            else:
                raise AssertionError(rule)
    return H


CONVS = {
    "valid": lambda: nn.Conv1d(4, 5, 3),
    "same_dilated": lambda: nn.Conv1d(4, 6, 4, dilation=2, padding="same"),
}
RULES = [ZeroRule(), Epsilon(), Epsilon(0.3), ZPlus(), AlphaBeta(), AlphaBeta(1, 0), Gamma(), Gamma(1.0),
         ZBox(0.0, 1.0)]


@pytest.mark.parametrize("conv", list(CONVS))
@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_hypothetical_matches_slow_reference(conv, rule):
    torch.manual_seed(_seed("hyp", conv, rule))
    layer = CONVS[conv]().double()
    with torch.no_grad():
        layer.bias.normal_(0, 0.5)
    x = random_onehot(2, L, seed=_seed(conv, rule) % 1000, n_frac=0.1).double()
    model = nn.Sequential(layer).eval()
    with torch.no_grad():
        out = model(x)
        C = torch.randn_like(out[0])
    comp = Composite(layer_map={nn.Conv1d: rule})
    H = sl.lrp(model, x, target=lambda o: (o * C).reshape(o.shape[0], -1).sum(1), composite=comp,
               hypothetical=True)
    A = _dense_matrix(layer, (4, L))
    b = layer.bias.detach()[:, None].expand(tuple(out.shape[1:])).reshape(-1)
    for n in range(x.shape[0]):
        ref = _hyp_reference(rule, A, b, x[n].reshape(-1), (out[n] * C).reshape(-1))
        scale = float(ref.abs().max().clamp(min=1e-12))
        assert torch.allclose(H[n], ref, rtol=1e-6, atol=1e-6 * scale), (n, (H[n] - ref).abs().max())


@pytest.mark.parametrize("name", list(TOY_MODELS))
@pytest.mark.parametrize("pruning", [None, sl.MassPrune(0.4)], ids=repr)
def test_zbox_hypothetical_at_the_observed_base_is_the_position_relevance(name, pruning):
    """Under best-practice (zB first layer) the score at the observed base is the column's
    summed relevance of the raw map, on every non-N position; pruning does not change that."""
    model = TOY_MODELS[name]().double().eval()
    X = random_onehot(3, TOY_LENGTHS[name], seed=21, n_frac=0.05)
    R = sl.lrp(model, X, target=0, pruning=pruning)
    H = sl.lrp(model, X, target=0, pruning=pruning, hypothetical=True)
    observed = X.sum(1) > 0
    assert bool((~observed).any())                        # the N columns are there ...
    gap = ((H * X).sum(1) - R.sum(1))[observed]
    assert float(gap.abs().max()) <= 1e-9 * float(R.abs().max())
    assert float((R.sum(1)[~observed]).abs().max()) > 0   # ... and zB gives them relevance that H * X cannot hold
    # H contrasts the bases: within a position they differ
    assert float((H.max(1).values - H.min(1).values).abs().max()) > 0


@pytest.mark.parametrize("rule", [Flat(), WSquare()], ids=repr)
def test_flat_and_wsquare_refuse_clearly(rule):
    model = TOY_MODELS["deepsea"]().double().eval()
    X = random_onehot(2, TOY_LENGTHS["deepsea"], seed=3)
    comp = Composite(layer_map={nn.Conv1d: Gamma(), nn.Linear: Epsilon()}, first_map={nn.Conv1d: rule})
    with pytest.raises(ValueError, match=f"not defined for {type(rule).__name__} on the first layer"):
        sl.lrp(model, X, target=0, composite=comp, hypothetical=True)


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_plrp_hypothetical_and_projected_agree(name):
    """``sl.plrp``: projected map on observed bases only; ``(H * X).sum(1)`` is its per-position value."""
    model = TOY_MODELS[name]().double().eval()
    X = random_onehot(3, TOY_LENGTHS[name], seed=22, n_frac=0.05)
    R = sl.plrp(model, X, target=0)
    H = sl.plrp(model, X, target=0, hypothetical=True)
    assert R.shape == H.shape == X.shape
    assert bool((R[X == 0] == 0).all())                   # projected: nothing on absent bases or N columns
    assert torch.allclose((H * X).sum(1), R.sum(1), rtol=1e-9, atol=1e-12 * float(R.abs().max()))
    assert torch.equal(sl.project(R, X), R)


def test_plrp_warns_where_the_suite_saw_a_setting_drop_instances():
    model = TOY_MODELS["deepsea"]().double().eval()
    X = random_onehot(2, TOY_LENGTHS["deepsea"], seed=4)
    with pytest.warns(UserWarning, match="TopK below 0.05"):
        sl.plrp(model, X, k=0.01)
    with pytest.warns(UserWarning, match="p >= 0.5"):
        sl.plrp(model, X, p=0.5)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sl.plrp(model, X)                  # the default and milder settings are silent
        sl.plrp(model, X, p=0.3)
        sl.plrp(model, X, k=0.2)
