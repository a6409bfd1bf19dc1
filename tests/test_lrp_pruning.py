"""Pruned LRP (issue 4, item 1): TopK and MassPrune inside the relevance pass."""

import math

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


def _mass_drop_sort(v, p):
    """Vectorised reference drop mask for non-negative ``v`` (N, M): one full stable sort per
    row (ties: lower index first), cumulative sums in float64; dropped is the longest prefix
    of the positive entries whose sum is at most ``p`` times the row total."""
    vals, idx = torch.sort(v, dim=1, stable=True)
    cs = torch.cumsum(vals, dim=1, dtype=torch.float64)
    drop_sorted = (cs <= p * cs[:, -1:]) & (vals > 0)
    drop = torch.zeros_like(drop_sorted)
    drop.scatter_(1, idx, drop_sorted)
    return drop


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
    ref = _mass_reference(r, p, p)   # default p_neg = p
    assert torch.equal(keep, ref)
    assert torch.equal(MassPrune(p, p_neg=p / 2).keep_mask(r, p), _mass_reference(r, p, p / 2))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.sampled_from([0.1, 0.5, 0.8]), st.integers(0, 2 ** 31 - 1), st.booleans(),
       st.sampled_from(["heavy", "uniform", "sparse"]))
def test_mass_prune_long_row_path_matches_full_sort(n, p, seed, ties, kind):
    """Long rows use the histogram path: same mask as the full sort up to float rounding at
    the cut (the dropped mass fits the budget and no further entry would)."""
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
    fast = ~P._mass_prune(v, p, 0.0)[0]
    full = _mass_drop_sort(v, p)
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
    keep = TopK(k, sign_aware=False).keep_mask(r, k)
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


# ----------------------------------------------------------------- fast mass selection
# The selection (`_mass_prune`: one stable sort for short rows, a mass histogram with exact
# resolution of the boundary bin for long ones) must give the same mask as the definition:
# a full stable sort of each sign with float64 cumulative sums (`_mass_drop_sort`).

def _sorted_reference(r, p, p_neg):
    """Keep mask by the full-sort definition, each sign separately."""
    return ~(_mass_drop_sort(r.clamp(min=0), p) | _mass_drop_sort((-r).clamp(min=0), p_neg))


def _relevance_like(n, m, seed, kind, dtype):
    g = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(n, m, generator=g) < 0.55, 1.0, -1.0).double()
    zero = torch.rand(n, m, generator=g) < 0.5
    if kind == "heavy":      # exponential magnitudes, squared: a heavy tail
        mag = torch.empty(n, m, dtype=D).exponential_(generator=g) ** 2
    elif kind == "ties":     # small integers: many exact ties at the cut
        mag = torch.randint(1, 4, (n, m), generator=g).double()
    elif kind == "clustered":   # all in one histogram bin: the boundary bin is most of the row
        mag = 1 + 1e-3 * torch.rand(n, m, generator=g, dtype=D)
    elif kind == "tiny":     # float32 subnormals next to zeros and normal values
        scale = torch.where(torch.rand(n, m, generator=g) < 0.5, 1e-40, 1.0)
        mag = torch.rand(n, m, generator=g, dtype=D) * scale
    else:
        mag = torch.rand(n, m, generator=g, dtype=D)
    return (sign * mag * ~zero).to(dtype)


@pytest.fixture(params=["sort", "hist"])
def select_path(request, monkeypatch):
    """Run a test with the short-row (full sort) and with the long-row (histogram) selection."""
    from sparselrp.lrp import pruning as P
    monkeypatch.setattr(P, "SORT_MAX", 10 ** 9 if request.param == "sort" else 0)
    return request.param


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["uniform", "heavy", "ties", "clustered", "tiny"])
@pytest.mark.parametrize("p, p_neg", [(0.5, 0.25), (0.0, 0.3), (0.4, 0.0), (0.999, 0.999), (1e-4, 0.9)])
def test_fast_selection_equals_full_sort(select_path, dtype, kind, p, p_neg):
    from sparselrp.lrp import pruning as P
    for n, m, seed in ((3, 1, 0), (2, 7, 1), (4, 300, 2), (3, 5000, 3)):
        r = _relevance_like(n, m, seed, kind, dtype)
        keep, _ = P._mass_prune(r, p, p_neg)
        assert torch.equal(keep, _sorted_reference(r, p, p_neg)), (n, m)
        if kind in ("ties", "tiny"):   # exactly-representable sums: also the slow reference
            if m <= 300:
                assert torch.equal(keep, _mass_reference(r.double(), p, p_neg)), (n, m)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3000), st.floats(0, 0.999), st.floats(0, 0.999),
       st.integers(0, 2 ** 31 - 1), st.sampled_from(["uniform", "heavy", "ties", "clustered", "tiny"]),
       st.sampled_from([torch.float32, torch.float64]), st.booleans())
def test_fast_selection_property(n, m, p, p_neg, seed, kind, dtype, hist):
    from sparselrp.lrp import pruning as P
    r = _relevance_like(n, m, seed, kind, dtype)
    old = P.SORT_MAX
    P.SORT_MAX = 0 if hist else 10 ** 9
    try:
        keep, out = P._mass_prune(r, p, p_neg, rescale=True)
    finally:
        P.SORT_MAX = old
    assert torch.equal(keep, _sorted_reference(r, p, p_neg))
    expect = lambda_redistribute(r.double(), keep)
    f32 = dtype == torch.float32     # (float32 subnormals carry fewer significant bits)
    assert torch.allclose(out.double(), expect, rtol=1e-5 if f32 else 1e-12, atol=1e-40 if f32 else 0)


def test_fast_selection_special_rows(select_path):
    from sparselrp.lrp import pruning as P
    for dtype in (torch.float32, torch.float64):
        m = 4000
        r = torch.zeros(5, m, dtype=dtype)
        r[1, 17] = 2.5                          # one positive entry: never dropped
        r[2, 3] = -1.0                          # one negative entry
        r[3, :] = 1.0                           # all equal: the lowest indices go first
        r[4, ::2] = -0.0                        # negative zeros
        r[4, 1] = 1e-42 if dtype == torch.float32 else 1e-310   # one subnormal
        for p, p_neg in ((0.5, 0.25), (0.999, 0.999), (0.0, 0.0), (0.3, 0.0)):
            keep, out = P._mass_prune(r, p, p_neg, rescale=True)
            assert torch.equal(keep, _sorted_reference(r, p, p_neg))
            assert keep[0].all() and keep[1].all() and keep[2].all() and keep[4].all()
            assert keep[3].sum() == m - math.floor(p * m + 1e-9)
            assert keep[3, -1] and (keep[3, :-1].int().diff() >= 0).all()   # a prefix is dropped
            assert torch.allclose(out, lambda_redistribute(r, keep))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["heavy", "ties"])
def test_fast_selection_long_rows(dtype, kind):
    """Rows of more than 100k entries (the histogram path)."""
    from sparselrp.lrp import pruning as P
    r = _relevance_like(2, 120_000, 11, kind, dtype)
    assert r.shape[1] > P.SORT_MAX
    for p in (0.5, 0.9):
        keep, out = P._mass_prune(r, p, p / 2, rescale=True)
        assert torch.equal(keep, _sorted_reference(r, p, p / 2))
        assert torch.allclose(out, lambda_redistribute(r, keep), rtol=1e-5, atol=0)
        # one row at a time gives the same
        assert torch.equal(P._mass_prune(r[1:], p, p / 2)[0], keep[1:])


@pytest.mark.parametrize("redistribute", ["lambda", "none", "matrix"])
def test_mass_prune_apply_on_long_rows(redistribute):
    """`MassPrune.apply` (the selection's own lambda factors) equals the generic
    keep-mask-then-redistribute path."""
    r = _relevance_like(3, 20_000, 12, "heavy", torch.float32).reshape(3, 40, 500)
    pr = MassPrune(0.5, redistribute=redistribute)
    out, keep = pr.apply(r, 0.5)
    flat = r.reshape(3, -1)
    ref_keep = pr.keep_mask(flat, 0.5)
    assert torch.equal(keep.reshape(3, -1), ref_keep)
    assert torch.equal(ref_keep, _sorted_reference(flat, 0.5, 0.5))   # default p_neg = p
    expect = lambda_redistribute(flat, ref_keep) if redistribute == "lambda" else flat * ref_keep
    assert out.shape == r.shape
    assert torch.allclose(out.reshape(3, -1), expect, rtol=1e-5, atol=0)
    assert ((out != 0) <= keep).all()


# ----------------------------------------------------------------- sign-aware and grouped selection
def _signed_topk_reference(r, k):
    """Slow reference of sign-aware TopK for one row: the positive side gets as many slots as
    plain |r| top-k gives it, but at least its rounded share of k by mass (and one when there
    is positive mass), capped by each side's non-zero count; then the largest of each side
    (ties: lower index first)."""
    vals = r.tolist()
    pos = [(float(v), i) for i, v in enumerate(vals) if v > 0]
    neg = [(-float(v), i) for i, v in enumerate(vals) if v < 0]
    P, Q = sum(v for v, _ in pos), sum(v for v, _ in neg)
    plain = sorted(range(len(vals)), key=lambda i: (-abs(vals[i]), i))[:k]
    k_plain = sum(1 for i in plain if vals[i] > 0)
    share = round(k * P / (P + Q)) if P + Q > 0 else 0
    kp = min(max(k_plain, share, 1 if P > 0 else 0), k, len(pos))
    kn = min(k - kp, len(neg))
    kp = min(k - kn, len(pos))
    keep = torch.zeros(len(r), dtype=torch.bool)
    for side, kk in ((pos, kp), (neg, kn)):
        for _, i in sorted(side, key=lambda t: (-t[0], t[1]))[:kk]:
            keep[i] = True
    return keep


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(1, 35), st.integers(0, 2 ** 31 - 1), st.booleans(),
       st.floats(-2, 2))
def test_sign_aware_topk_matches_slow_reference(n, m, k, seed, ties, shift):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(n, m, generator=g, dtype=D) + shift
    if ties:
        r = torch.round(r)
    keep = TopK(k).keep_mask(r, k)
    for i in range(n):
        assert torch.equal(keep[i], _signed_topk_reference(r[i], min(k, m))), (r[i], k)
    assert (keep.sum(1) <= min(k, m)).all()


def test_sign_aware_topk_keeps_the_positive_mass_that_plain_topk_loses():
    # many large negative units, fewer small positive ones: |r| top-k keeps only negatives
    r = torch.tensor([[-5.0, -4.0, -3.0, 1.0, 0.9, 0.8, 0.7, -2.0, 0.6, 0.5]], dtype=D)
    plain = TopK(3, sign_aware=False).keep_mask(r, 3)
    aware = TopK(3).keep_mask(r, 3)
    assert not bool((r[plain] > 0).any())
    assert bool((r[aware] > 0).any()) and int(aware.sum()) == 3


def _grouped_reference(strat, R, value):
    """Slow reference of position-grouped selection: per-position positive and negative sums,
    the strategy's own selection on them, a position kept when either side keeps it."""
    N, C, L = R.shape
    keep = torch.zeros(N, C, L, dtype=torch.bool)
    for n in range(N):
        pos = R[n].clamp(min=0).sum(0)
        neg = R[n].clamp(max=0).sum(0)
        if isinstance(strat, MassPrune):
            kp = _mass_reference(pos[None], float(value), 0.0)[0] & (pos > 0)
            kn = _mass_reference(neg[None], 0.0, strat._pneg(float(value)))[0] & (neg < 0)
            kpos = kp | kn
        else:
            kpos = _grouped_topk_ref(pos, neg, strat.count(value, L))
        keep[n] = kpos[None, :].expand(C, L)
    return keep


def _grouped_topk_ref(pos, neg, k):
    P, Q = float(pos.sum()), float(-neg.sum())
    npos, nneg = int((pos > 0).sum()), int((neg < 0).sum())
    mag = torch.maximum(pos, -neg)
    plain = sorted(range(len(pos)), key=lambda i: (-float(mag[i]), i))[:k]
    k_plain = sum(1 for i in plain if pos[i] > 0 and pos[i] >= -neg[i])
    share = round(k * P / (P + Q)) if P + Q > 0 else 0
    kp = min(max(k_plain, share, 1 if P > 0 else 0), k, npos)
    kn = min(k - kp, nneg)
    kp = min(k - kn, npos)
    keep = torch.zeros(len(pos), dtype=torch.bool)
    for vals, kk in ((pos, kp), (-neg, kn)):
        order = sorted(range(len(vals)), key=lambda i: (-float(vals[i]), i))
        for i in order[:kk]:
            keep[i] = True
    return keep


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 5), st.integers(2, 25), st.integers(0, 2 ** 31 - 1),
       st.sampled_from(["mass", "topk"]))
def test_position_grouped_selection_matches_slow_reference(n, c, length, seed, kind):
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(n, c, length, generator=g, dtype=D) * (torch.rand(n, c, length, generator=g) < 0.7)
    strat = MassPrune(0.5, group="position") if kind == "mass" else TopK(0.3, group="position")
    value = 0.5 if kind == "mass" else 0.3
    out, keep = strat.apply(R, value)
    ref = _grouped_reference(strat, R, value)
    if keep is None:                       # nothing to prune (e.g. k keeps every position)
        assert strat.is_noop(value, length) and torch.equal(out, R)
        return
    assert torch.equal(keep, ref)
    # channels of a position go together, and lambda keeps each sign's total
    assert bool((keep == keep[:, :1, :]).all())
    has_p = ((R > 0) & keep).reshape(n, -1).any(1)
    assert torch.allclose(out.clamp(min=0).reshape(n, -1).sum(1)[has_p],
                          R.clamp(min=0).reshape(n, -1).sum(1)[has_p], rtol=1e-12)


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_positions_layers_prune_the_convolution_stack_only(name):
    model = _model(name)
    e = LRP(model, pruning=MassPrune(0.5, layers="positions", group="position"))
    nodes = {g.name: g for g in e.graph.nodes}
    assert e.prune_points
    for nm in e.prune_points:
        g = nodes[nm]
        consumers = [c for c in e.graph.layers if c.inputs[0] == g.index]
        assert g.kind == "layer" and g.layer.kind == "conv" or any(c.layer.kind == "conv" for c in consumers), nm


def test_positions_layers_warn_when_there_is_no_convolution():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 1)).double()
    X = random_onehot(2, 10, seed=1)
    with pytest.warns(UserWarning, match="nothing is pruned"):
        R = sl.lrp(model, X, target=0, pruning=MassPrune(0.5, layers="positions"))
    assert torch.allclose(R, sl.lrp(model, X, target=0))


def test_topk_that_keeps_one_unit_warns_once():
    model = _model("deepsea")
    X = random_onehot(3, TOY_LENGTHS["deepsea"], seed=2)
    e = LRP(model, pruning=TopK(1))
    with pytest.warns(UserWarning, match="keeps 1 of the") as rec:
        e(X, target=0, batch_size=1)
    assert len(rec) == len(e.prune_points)          # once per pruned tensor, not per batch
    import warnings as _w
    with _w.catch_warnings():
        _w.simplefilter("error")
        LRP(model, pruning=TopK(4))(X, target=0)    # enough units kept: silent


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(1, 35), st.integers(0, 2 ** 31 - 1), st.booleans())
def test_positive_only_topk_keeps_the_largest_positive_units(n, m, k, seed, ties):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(n, m, generator=g, dtype=D)
    if ties:
        r = torch.round(r)
    keep = TopK(k, positive_only=True).keep_mask(r, k)
    for i in range(n):
        pos = [j for j in sorted(range(m), key=lambda j: (-float(r[i, j]), j)) if r[i, j] > 0][:min(k, m)]
        expect = torch.zeros(m, dtype=torch.bool)
        expect[pos] = True
        assert torch.equal(keep[i], expect)


def test_positive_only_topk_in_the_pass_keeps_no_negative_unit_and_reports_the_dropped_mass():
    model = _model("deepsea")
    X = random_onehot(4, TOY_LENGTHS["deepsea"], seed=3)
    pr = TopK(0.2, positive_only=True)
    e = LRP(model, pruning=pr)
    _, layers = e(X, target=0, return_layers=True)
    pruned = set(e.prune_points)
    for g in e.graph.layers:
        if e.graph.nodes[g.inputs[0]].name in pruned:
            assert not bool((layers[g.name] < 0).any()), g.name
    info = conservation(model, X, target=0, pruning=pr)
    assert torch.allclose(info["gap"], info["absorbed"] + info["pruned"], atol=1e-10)
    assert bool((info["pruned"] != 0).any())
