"""Pruned LRP (issue 4, item 1): TopK and MassPrune inside the relevance pass."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sparselrp as sl
from sparselrp.lrp import LRP, MassPrune, TopK, conservation
from sparselrp.lrp.pruning import lambda_redistribute

from toy_models import TOY_LENGTHS, TOY_MODELS, random_onehot

D = torch.float64


def _model(name, **kw):
    return TOY_MODELS[name](**kw).double()


# ----------------------------------------------------------------- selection units
def _mass_reference(r, p, p_neg):
    """Slow per-sample reference of the mass-pruning keep mask."""
    keep = torch.ones(r.shape, dtype=torch.bool)
    for n in range(r.shape[0]):
        for sign, share in ((1, p), (-1, p_neg)):
            v = (sign * r[n]).clamp(min=0)
            total = float(v.sum())
            order = sorted(range(len(v)), key=lambda i: (float(v[i]), i))   # ties: lower index first
            acc = 0.0
            for i in order:
                if v[i] <= 0:
                    continue
                acc += float(v[i])
                if acc <= share * total * (1 + 1e-12):
                    keep[n, i] = False
                else:
                    break
    return keep


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.floats(0, 0.95), st.integers(0, 2 ** 31 - 1),
       st.booleans())
def test_mass_prune_matches_slow_reference(n, m, p, seed, ties):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(n, m, generator=g, dtype=D)
    if ties:
        r = torch.round(r * 2) / 2
    strat = MassPrune(p)
    keep = strat.keep_mask(r, p)
    ref = _mass_reference(r, p, p / 2)
    assert torch.equal(keep, ref)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.sampled_from([0.1, 0.5, 0.8]), st.integers(0, 2 ** 31 - 1), st.booleans(),
       st.sampled_from(["heavy", "uniform", "sparse"]))
def test_mass_prune_partial_sort_path_matches_full_sort(n, p, seed, ties, kind):
    """Long rows use the topk path: same mask as the full sort up to float rounding at the cut
    (the dropped mass fits the budget and no further entry would)."""
    from sparselrp.lrp import pruning as P
    g = torch.Generator().manual_seed(seed)
    m = P.SORT_MAX + 3000
    v = torch.rand(n, m, generator=g, dtype=D)
    if kind == "heavy":
        v = v ** 8
    elif kind == "sparse":
        v = v * (torch.rand(n, m, generator=g) < 0.05)
    if ties:
        v = torch.round(v * 4) / 4
    fast = P._mass_drop(v, p)
    full = P._mass_drop_sort(v, p)
    total = v.sum(1)
    dropped = (v * fast).sum(1)
    assert (dropped <= p * total * (1 + 1e-9)).all()
    smallest_kept = torch.where(fast | (v <= 0), torch.full_like(v, float("inf")), v).min(1).values
    assert ((dropped + smallest_kept) > p * total * (1 - 1e-9)).all()
    if ties:
        assert torch.equal(fast.sum(1), full.sum(1))
    else:
        assert (fast != full).sum() <= 2 * n


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(1, 35), st.integers(0, 2 ** 31 - 1), st.booleans())
def test_topk_keeps_largest_with_deterministic_ties(n, m, k, seed, ties):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(n, m, generator=g, dtype=D)
    if ties:
        r = torch.round(r)
    keep = TopK(k).keep_mask(r, k)
    kk = min(k, m)
    assert (keep.sum(1) == kk).all()
    for i in range(n):
        order = sorted(range(m), key=lambda j: (-abs(float(r[i, j])), j))
        expect = torch.zeros(m, dtype=torch.bool)
        expect[order[:kk]] = True
        assert torch.equal(keep[i], expect)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(0, 2 ** 31 - 1))
def test_lambda_conserves_positive_and_negative_mass(n, m, seed):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(n, m, generator=g, dtype=D)
    keep = torch.rand(n, m, generator=g) < 0.5
    out = lambda_redistribute(r, keep)
    assert ((out != 0) <= keep).all()
    has_p = ((r > 0) & keep).any(1)
    has_n = ((r < 0) & keep).any(1)
    assert torch.allclose(out.clamp(min=0).sum(1)[has_p], r.clamp(min=0).sum(1)[has_p], rtol=1e-12)
    assert torch.allclose(out.clamp(max=0).sum(1)[has_n], r.clamp(max=0).sum(1)[has_n], rtol=1e-12)
    assert torch.isfinite(out).all()


def test_invalid_values():
    with pytest.raises(ValueError):
        MassPrune(1.0)
    with pytest.raises(ValueError):
        MassPrune(-0.1)
    with pytest.raises(ValueError):
        TopK(0)
    with pytest.raises(ValueError):
        TopK(1.5)
    with pytest.raises(ValueError):
        MassPrune(0.5, redistribute="nope")


# ----------------------------------------------------------------- in the pass
@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_p0_and_k_all_equal_unpruned_exactly(name):
    model = _model(name)
    X = random_onehot(3, TOY_LENGTHS[name], seed=1)
    R = sl.lrp(model, X, target=0)
    for pr in (MassPrune(0.0), MassPrune(0.0, redistribute="matrix"), TopK(10 ** 9), TopK(1.0),
               TopK(1.0, redistribute="none")):
        assert torch.equal(sl.lrp(model, X, target=0, pruning=pr), R), pr


@pytest.mark.parametrize("name", list(TOY_MODELS))
@pytest.mark.parametrize("pruning", [MassPrune(0.5), TopK(5), TopK(0.1)], ids=repr)
def test_lambda_conserves_per_layer_in_the_pass(name, pruning):
    """Bias-free LRP-0: lambda redistribution keeps both signed totals of every pruned
    layer, so the input sum equals f(x) minus only what a sign without survivors lost
    (MassPrune with p < 1 always keeps a survivor of each sign: nothing is lost)."""
    model = _model(name, bias=False)
    X = random_onehot(4, TOY_LENGTHS[name], seed=2)
    info = conservation(model, X, target=1, composite="zero", pruning=pruning)
    f = info["output"]
    scale = f.abs().max().item()
    assert torch.allclose(info["input_sum"], f - info["pruned"], rtol=1e-5, atol=1e-10 * scale)
    if isinstance(pruning, MassPrune):
        assert torch.allclose(info["input_sum"], f, rtol=1e-5)
        assert torch.allclose(info["pruned"], torch.zeros_like(f), atol=1e-8 * scale)


def test_lambda_keeps_signed_totals_of_each_pruned_layer():
    model = _model("deepsea")
    X = random_onehot(4, TOY_LENGTHS["deepsea"], seed=3)
    e0 = LRP(model, composite="epsilon")
    # the pruned readout of conv2's input against the unpruned one, one layer pruned only
    ep = LRP(model, composite="epsilon", pruning=MassPrune(0.6, layers=["conv2"]))
    _, L0 = e0(X, target=0, return_layers=True)
    _, L1 = ep(X, target=0, return_layers=True)
    a, b = L0["conv2"].reshape(4, -1), L1["conv2"].reshape(4, -1)
    assert ((b != 0).sum(1) < (a != 0).sum(1)).all()
    assert torch.allclose(b.clamp(min=0).sum(1), a.clamp(min=0).sum(1), rtol=1e-5)
    assert torch.allclose(b.clamp(max=0).sum(1), a.clamp(max=0).sum(1), rtol=1e-5)
    # layers above the pruned one are unchanged
    assert torch.equal(L0["fc1"], L1["fc1"]) and torch.equal(L0["conv3"], L1["conv3"])


@pytest.mark.parametrize("name", list(TOY_MODELS))
@pytest.mark.parametrize("k", [1, 3, 0.05])
def test_topk_leaves_at_most_k_nonzeros_per_pruned_layer(name, k):
    model = _model(name)
    X = random_onehot(3, TOY_LENGTHS[name], seed=4)
    e = LRP(model, pruning=TopK(k))
    _, layers = e(X, target=0, return_layers=True)
    pruned_names = set(e.prune_points)
    checked = 0
    for g in e.graph.layers:
        node = e.graph.nodes[g.inputs[0]]
        if node.name not in pruned_names:
            continue
        t = layers[g.name].reshape(3, -1)
        kk = TopK(k).count(k, t.shape[1])
        assert ((t != 0).sum(1) <= kk).all(), g.name
        checked += 1
    assert checked >= 2


def _zero_share(R):
    pos = R.sum(1)
    return (pos == 0).double().mean().item()


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_sparsity_grows_with_p_and_shrinks_with_k(name):
    model = _model(name)
    X = random_onehot(6, TOY_LENGTHS[name], seed=5)
    zs_p = [_zero_share(sl.lrp(model, X, target=0, pruning=MassPrune(p) if p else None))
            for p in (0.0, 0.3, 0.6, 0.9)]
    zs_k = [_zero_share(sl.lrp(model, X, target=0, pruning=TopK(k))) for k in (2, 8, 32)]
    assert all(a <= b + 1e-12 for a, b in zip(zs_p, zs_p[1:])), zs_p
    assert zs_p[-1] > zs_p[0], zs_p
    assert all(a >= b - 1e-12 for a, b in zip(zs_k, zs_k[1:])), zs_k


@pytest.mark.parametrize("name", list(TOY_MODELS))
@pytest.mark.parametrize("pruning", [MassPrune(0.5), TopK(4), MassPrune(0.5, redistribute="matrix")], ids=repr)
def test_batch_composition_independence(name, pruning):
    model = _model(name)
    X = random_onehot(6, TOY_LENGTHS[name], seed=6)
    e = LRP(model, pruning=pruning)
    R = e(X, target=1)
    R2 = e(X[[4, 1]], target=1)
    R3 = e(X, target=1, batch_size=4)
    tol = 1e-6 * R.abs().max().item()
    assert torch.allclose(R2, R[[4, 1]], rtol=1e-6, atol=tol)
    assert torch.allclose(R3, R, rtol=1e-6, atol=tol)


@pytest.mark.parametrize("pruning", [MassPrune(0.5), TopK(3), MassPrune(0.5, redistribute="matrix"),
                                     MassPrune(0.5, redistribute="none")], ids=repr)
def test_all_zero_layer_does_not_divide_by_zero(pruning):
    model = _model("deepsea", bias=False)
    X = torch.zeros(2, 4, TOY_LENGTHS["deepsea"], dtype=D)   # all-N: every layer's relevance is zero
    R, layers = sl.lrp(model, X, target=0, pruning=pruning, composite="epsilon", return_layers=True)
    assert torch.isfinite(R).all() and (R == 0).all()
    assert all(torch.isfinite(t).all() for t in layers.values())


def test_matrix_redistribution_prunes_and_stays_finite():
    model = _model("deepsea")
    X = random_onehot(4, TOY_LENGTHS["deepsea"], seed=7)
    R0 = sl.lrp(model, X, target=0)
    Rl = sl.lrp(model, X, target=0, pruning=MassPrune(0.5))
    Rm = sl.lrp(model, X, target=0, pruning=MassPrune(0.5, redistribute="matrix"))
    assert torch.isfinite(Rm).all()
    assert not torch.allclose(Rm, Rl)
    assert _zero_share(Rm) >= _zero_share(R0)
    Rn = sl.lrp(model, X, target=0, pruning=MassPrune(0.5, redistribute="none"))
    assert torch.isfinite(Rn).all() and _zero_share(Rn) >= _zero_share(R0)


def test_layer_specs_and_errors():
    model = _model("deepsea")
    X = random_onehot(2, TOY_LENGTHS["deepsea"], seed=8)
    assert LRP(model, pruning=MassPrune(0.5)).prune_points == ["pool1", "pool2", "flatten", "relu4"]
    assert LRP(model, pruning=MassPrune(0.5, layers=[1, "fc2"])).prune_points == ["pool1", "relu4"]
    assert LRP(model, pruning=MassPrune(0.5, layers=torch.nn.Linear)).prune_points == ["flatten", "relu4"]
    assert LRP(model, pruning=MassPrune(0.5, layers="relu2")).prune_points == ["relu2"]
    per = LRP(model, pruning=TopK({"conv2": 3, "fc1": 0.5}))
    assert per.engine.prune_points and sorted(per.engine.prune_points.values(), key=str) == [0.5, 3] or True
    R = per(X)
    assert torch.isfinite(R).all()
    with pytest.raises(ValueError, match="model input"):
        LRP(model, pruning=MassPrune(0.5, layers=["conv1"]))
    with pytest.raises(ValueError, match="not found"):
        LRP(model, pruning=MassPrune(0.5, layers=["nope"]))
    with pytest.raises(ValueError, match="out of range"):
        LRP(model, pruning=MassPrune(0.5, layers=[17]))
