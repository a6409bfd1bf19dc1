"""Tests of sparselrp.metrics against slow, obviously correct references and hand cases."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparselrp import metrics as M

SETTINGS = settings(max_examples=60, deadline=None)


# ----------------------------------------------------------------------------- references


def ref_gini(c):
    """Mean absolute difference over 2 L sum(c) (the textbook Gini), one row."""
    c = np.abs(np.asarray(c, dtype=np.float64))
    if c.sum() == 0:
        return np.nan
    total = sum(abs(a - b) for a, b in itertools.product(c, c))
    return total / (2 * len(c) * c.sum())


def ref_auroc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return np.nan
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def ref_auprc(scores, labels):
    """Average precision: thresholds at each distinct score, descending, step interpolation."""
    n_pos = sum(labels)
    if n_pos == 0:
        return np.nan
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        sel = [y for s, y in zip(scores, labels) if s >= t]
        tp = sum(sel)
        precision, recall = tp / len(sel), tp / n_pos
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


def per_position(R):
    return np.asarray(R, dtype=np.float64).sum(axis=1)


attr_maps = st.integers(1, 5).flatmap(
    lambda n: st.integers(1, 12).flatmap(
        lambda length: arrays(
            np.float32,
            (n, 4, length),
            elements=st.sampled_from([0.0, 0.0, 0.0, 1.0, -1.0, 0.5, 2.0, -3.25]),
        )
    )
)


def map_and_mask():
    return attr_maps.flatmap(
        lambda R: st.tuples(st.just(R), arrays(np.bool_, (R.shape[0], R.shape[2])))
    )


# ----------------------------------------------------------------------------- sparsity


@SETTINGS
@given(attr_maps)
def test_gini_matches_reference(R):
    res = M.gini(R)
    r = per_position(R)
    expected = np.array([ref_gini(row) for row in r])
    np.testing.assert_allclose(res.values, expected, rtol=1e-9, atol=1e-12)
    defined = ~np.isnan(expected)
    assert res.n_all_zero == int((~defined).sum()) == res.n_undefined
    if defined.any():
        assert res.mean == pytest.approx(expected[defined].mean())
    else:
        assert np.isnan(res.mean)


def test_gini_known_values():
    L = 50
    uniform = np.ones((1, 4, L))
    assert M.gini(uniform).values[0] == pytest.approx(0.0, abs=1e-12)
    one = np.zeros((1, 4, L))
    one[0, 2, 7] = -3.0
    assert M.gini(one).values[0] == pytest.approx(1 - 1 / L)
    assert M.gini(one, normalized=True).values[0] == pytest.approx(1.0)
    # half the positions equal, half zero: G = 1/2
    half = np.zeros((1, 4, L))
    half[0, 0, : L // 2] = 1.0
    assert M.gini(half).values[0] == pytest.approx(0.5)


def test_gini_all_zero_maps_are_excluded_and_counted():
    R = np.zeros((3, 4, 10))
    R[1, 0, 0] = 1.0
    res = M.gini(R)
    assert np.isnan(res.values[0]) and np.isnan(res.values[2])
    assert res.n_all_zero == 2
    assert res.mean == pytest.approx(0.9)


def test_gini_scale_invariant_and_torch_numpy_agree():
    rng = np.random.default_rng(1)
    R = rng.normal(size=(4, 4, 30)).astype(np.float32)
    a = M.gini(R).values
    np.testing.assert_allclose(M.gini(torch.from_numpy(R)).values, a)
    np.testing.assert_allclose(M.gini(R * 7.5).values, a, rtol=1e-6)
    # (N, L) per-position input is the same as (N, 4, L)
    np.testing.assert_allclose(M.gini(R.sum(axis=1)).values, a, rtol=1e-6)


def test_zero_share():
    R = np.zeros((2, 4, 4))
    R[0, 1, 0] = 1.0
    R[0, 2, 1] = 1.0
    R[0, 3, 1] = -1.0  # position 1 sums to exactly zero
    np.testing.assert_allclose(M.zero_share(R).values, [0.75, 1.0])
    np.testing.assert_allclose(M.zero_share(R, level="element").values, [13 / 16, 1.0])
    with pytest.raises(ValueError, match="level"):
        M.zero_share(R, level="base")


def test_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        M.gini(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="mask"):
        M.relevance_mass_accuracy(np.zeros((2, 4, 5)), np.zeros((2, 6), bool))
    with pytest.raises(ValueError, match="0/1"):
        M.auroc(np.zeros((1, 4, 3)), np.array([0.5, 1, 0]))


# ----------------------------------------------------------------------------- localisation


def test_rma_hand_cases():
    r = np.array([[2.0, -5.0, 1.0, 1.0, 0.0]])
    mask = np.array([[True, True, False, False, True]])
    # positive relevance 4, inside the mask 2
    assert M.relevance_mass_accuracy(r, mask).values[0] == pytest.approx(0.5)
    # attribution localisation: (R_in / R_tot) / (S_in / S_tot) = 0.5 / (3 / 5)
    assert M.attribution_localisation(r, mask).values[0] == pytest.approx(0.5 / 0.6)
    # negative-only map: undefined
    res = M.relevance_mass_accuracy(-np.abs(r), mask)
    assert np.isnan(res.values[0]) and res.n_undefined == 1
    # an (L,) mask is broadcast over samples; (N, 4, L) input is summed over rows
    R = np.zeros((2, 4, 5))
    R[:, :, 0] = 0.25  # position 0 sums to 1
    R[1, 3, 2] = 3.0
    res = M.relevance_mass_accuracy(R, mask[0])
    np.testing.assert_allclose(res.values, [1.0, 0.25])
    assert M.attribution_localisation(R, np.zeros(5, bool)).n_undefined == 2


@SETTINGS
@given(map_and_mask())
def test_rma_and_localisation_match_reference(data):
    R, mask = data
    r = per_position(R)
    pos = np.maximum(r, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rma = np.array([pos[i][mask[i]].sum() / pos[i].sum() if pos[i].sum() > 0 else np.nan for i in range(len(r))])
        loc = np.array([rma[i] * r.shape[1] / mask[i].sum() if mask[i].any() else np.nan for i in range(len(r))])
    np.testing.assert_allclose(M.relevance_mass_accuracy(R, mask).values, rma)
    np.testing.assert_allclose(M.attribution_localisation(R, mask).values, loc)


@SETTINGS
@given(map_and_mask())
def test_auroc_auprc_match_reference(data):
    R, mask = data
    r = np.abs(per_position(R))
    roc = np.array([ref_auroc(list(r[i]), list(mask[i])) for i in range(len(r))])
    ap = np.array([ref_auprc(list(r[i]), list(mask[i])) for i in range(len(r))])
    np.testing.assert_allclose(M.auroc(R, mask).values, roc, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(M.auprc(R, mask).values, ap, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(arrays(np.int8, st.tuples(st.integers(1, 4), st.integers(1, 15)), elements=st.integers(-3, 3)))
def test_average_ranks_match_scipy(a):
    from scipy.stats import rankdata

    np.testing.assert_array_equal(M.average_ranks(a), rankdata(a, method="average", axis=1))


def test_auroc_auprc_known_values():
    r = np.array([[0.1, 5.0, 4.0, 0.2, 0.0, 3.0]])
    perfect = np.array([[False, True, True, False, False, True]])
    assert M.auroc(r, perfect).values[0] == 1.0
    assert M.auprc(r, perfect).values[0] == 1.0
    assert M.auroc(r, ~perfect).values[0] == 0.0
    # everything tied: AUROC 1/2, AUPRC = prevalence
    flat = np.ones((1, 6))
    assert M.auroc(flat, perfect).values[0] == 0.5
    assert M.auprc(flat, perfect).values[0] == pytest.approx(0.5)
    # empty / full mask
    assert np.isnan(M.auroc(r, np.zeros((1, 6), bool)).values[0])
    assert np.isnan(M.auroc(r, np.ones((1, 6), bool)).values[0])
    assert np.isnan(M.auprc(r, np.zeros((1, 6), bool)).values[0])
    assert M.auprc(r, np.ones((1, 6), bool)).values[0] == 1.0


def test_against_sklearn_if_installed():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    R = np.round(rng.normal(size=(6, 4, 40)), 1)
    mask = rng.random((6, 40)) < 0.3
    r = np.abs(R.sum(axis=1))
    np.testing.assert_allclose(M.auroc(R, mask).values, [sk.roc_auc_score(m, s) for m, s in zip(mask, r)])
    np.testing.assert_allclose(M.auprc(R, mask).values, [sk.average_precision_score(m, s) for m, s in zip(mask, r)])


# ----------------------------------------------------------------------------- conservation


def test_conservation_error():
    R = np.zeros((3, 4, 5))
    R[:, 0, 0] = [1.0, 2.0, 3.0]
    res = M.conservation_error(torch.from_numpy(R), torch.tensor([1.0, 4.0, 0.0]))
    np.testing.assert_allclose(res.values[:2], [0.0, 0.5])
    assert np.isnan(res.values[2]) and res.n_undefined == 1
    assert M.conservation_error(R, np.array([[1.0], [2.0], [-3.0]])).values[2] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="one output per sample"):
        M.conservation_error(R, np.ones(4))


# ----------------------------------------------------------------------------- faithfulness


def one_hot(n, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    return torch.nn.functional.one_hot(idx, 4).permute(0, 2, 1).float()


def linear_model(length, n_out=2, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * length, n_out, bias=False))
    return model


def hand_curve(W, x, r, per_step, steps, bg):
    """f after deleting the top positions of r (descending, ties by position), linear model."""
    order = sorted(range(len(r)), key=lambda l: (-r[l], l))
    xs = x.clone()
    out = [float((W * xs).sum())]
    for k in range(1, steps + 1):
        for l in order[: min(k * per_step, len(r))]:
            xs[:, l] = bg
        out.append(float((W * xs).sum()))
    return np.array(out)


@pytest.mark.parametrize("background,bg_value", [("zeros", 0.0), ("uniform", 0.25)])
def test_faithfulness_linear_model_by_hand(background, bg_value):
    L, N = 12, 5
    model = linear_model(L)
    X = one_hot(N, L)
    W = model[1].weight[1].detach().reshape(4, L)
    R = X * W  # gradient x input = exact contributions
    res = M.faithfulness(model, X, R, target=1, steps=4, step_size=3, background=background)
    np.testing.assert_array_equal(res.n_deleted, [0, 3, 6, 9, 12])
    r = R.sum(1).numpy()
    for i in range(N):
        expected = hand_curve(W.double(), X[i].double(), r[i], 3, 4, bg_value)
        np.testing.assert_allclose(res.curve[i], expected, rtol=1e-5, atol=1e-5)
        f0 = expected[0]
        np.testing.assert_allclose(res.aopc[i], np.mean(f0 - expected[1:]) / abs(f0), rtol=1e-4)
    # the random curve starts and ends at the same points
    np.testing.assert_allclose(res.random_curve[:, 0], res.curve[:, 0])
    np.testing.assert_allclose(res.random_curve[:, -1], res.curve[:, -1], rtol=1e-5, atol=1e-5)
    if background == "zeros":
        # deleting the largest contributions first drops f at least as fast as any other order
        assert (res.curve[:, 1:] <= res.random_curve[:, 1:] + 1e-5).all()
        assert res.aopc_mean >= res.random_aopc_mean


def test_faithfulness_targets_batching_and_mode():
    L, N = 10, 6
    model = linear_model(L, n_out=3)
    model.train()
    X = one_hot(N, L, seed=2)
    R = torch.randn(N, 4, L, generator=torch.Generator().manual_seed(0))
    a = M.faithfulness(model, X, R, target=2, steps=3, step_size=0.2, batch_size=1000)
    b = M.faithfulness(model, X, R, target=[2] * N, steps=3, step_size=0.2, batch_size=1)
    c = M.faithfulness(model, X, R, target=lambda out: out[:, 2], steps=3, step_size=0.2, batch_size=7)
    for other in (b, c):
        np.testing.assert_allclose(other.curve, a.curve, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(other.random_curve, a.random_curve, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a.n_deleted, [0, 2, 4, 6])
    assert model.training  # mode restored
    # per-sample targets pick per-sample columns
    t = torch.tensor([0, 1, 2, 0, 1, 2])
    d = M.faithfulness(model, X, R, target=t, steps=2, step_size=1)
    with torch.no_grad():
        out = model(X)
    np.testing.assert_allclose(d.curve[:, 0], out[torch.arange(N), t].numpy(), rtol=1e-6)
    # seeded: same random curve twice, a different one for another seed
    e = M.faithfulness(model, X, R, target=2, steps=3, step_size=0.2, random_state=0)
    np.testing.assert_array_equal(e.random_curve, a.random_curve)
    f = M.faithfulness(model, X, R, target=2, steps=3, step_size=0.2, random_state=1)
    assert not np.allclose(f.random_curve, a.random_curve)


@pytest.mark.parametrize("kind", ["mononucleotide", "dinucleotide", "shuffle"])
def test_faithfulness_shuffle_backgrounds_are_column_permutations(kind):
    from sparselrp.metrics.faithfulness import _background

    X = one_hot(4, 30, seed=5)
    bg = _background(kind, X, torch.Generator().manual_seed(0), random_state=3)
    assert bg.shape == X.shape
    for i in range(4):
        cols = sorted(map(tuple, X[i].T.tolist()))
        assert sorted(map(tuple, bg[i].T.tolist())) == cols
    assert not torch.equal(bg, X)
    if kind != "mononucleotide":
        from sparselrp.sequence import dinucleotide_shuffle

        assert torch.equal(bg, dinucleotide_shuffle(X, random_state=3)[:, 0])
    # explicit backgrounds broadcast; a bad one is a clear error
    assert torch.equal(_background(torch.full((4,), 0.5), X, None), torch.full_like(X, 0.5))
    with pytest.raises(ValueError, match="broadcast"):
        _background(torch.zeros(3, 30), X, None)


def test_faithfulness_bad_arguments():
    model = linear_model(8)
    X = one_hot(2, 8)
    R = torch.zeros(2, 4, 8)
    with pytest.raises(ValueError, match="shape"):
        M.faithfulness(model, X, torch.zeros(2, 4, 9))
    with pytest.raises(ValueError, match="background"):
        M.faithfulness(model, X, R, background="dinuc")
    # a model-evaluated run with a shuffled background works end to end
    res = M.faithfulness(model, X, R, background="shuffle", steps=2, step_size=4)
    assert res.curve.shape == (2, 3) and np.isfinite(res.curve).all()
    with pytest.raises(ValueError, match="out of range"):
        M.faithfulness(model, X, R, target=5)
    with pytest.raises(ValueError, match="one index per sample"):
        M.faithfulness(model, X, R, target=[0, 1, 0])
    with pytest.raises(ValueError, match="fraction"):
        M.faithfulness(model, X, R, step_size=1.5)


# ----------------------------------------------------------------------------- summary


def test_summarise():
    L, N = 10, 3
    model = linear_model(L)
    X = one_hot(N, L)
    W = model[1].weight[0].detach().reshape(4, L)
    R = X * W
    mask = np.zeros(L, bool)
    mask[2:5] = True
    with torch.no_grad():
        f = model(X)[:, 0]
    s = M.summarise(R, mask=mask, f=f, model=model, X=X, steps=2)
    assert set(s) == {"n", "n_all_zero", "gini", "zero_share", "rma", "attribution_localisation",
                      "auroc", "auprc", "conservation_error", "aopc", "aopc_random"}
    assert s["n"] == N and s["conservation_error"] < 1e-5
    assert s["gini"] == pytest.approx(M.gini(R).mean)
    assert set(M.summarise(R)) == {"n", "n_all_zero", "gini", "zero_share"}


def test_faithfulness_breaks_ties_at_random_not_left_to_right():
    """A sparse map's zeros tie; deleting them left to right favours or penalises a map by
    where its zeros lie. Ties are broken in a seeded random order (reproducible)."""
    L = 40
    lin = torch.nn.Linear(4 * L, 1, bias=False).double()
    with torch.no_grad():
        w = torch.zeros(4, L, dtype=torch.float64)
        w[0] = torch.arange(L, dtype=torch.float64)        # late positions weigh most
        lin.weight.copy_(w.reshape(1, -1))
    model = torch.nn.Sequential(torch.nn.Flatten(), lin)
    X = torch.zeros(3, 4, L, dtype=torch.float64)
    X[:, 0] = 1.0
    R = torch.zeros_like(X)
    R[:, 0, 0] = 1.0                                        # one relevant position, the rest ties at zero
    kw = dict(target=0, steps=10, step_size=2)
    left = M.faithfulness(model, X, R, ties="position", **kw)
    rand = M.faithfulness(model, X, R, **kw)
    again = M.faithfulness(model, X, R, **kw)
    assert np.array_equal(rand.aopc, again.aopc)
    assert (rand.aopc > left.aopc).all()                   # left to right deletes only the light positions
    assert not np.array_equal(rand.curve[0], rand.curve[1])  # each sample its own random order
    with pytest.raises(ValueError, match="ties"):
        M.faithfulness(model, X, R, ties="stable", **kw)
