"""Tests of sparselrp.diagnose ("fact or artifact" checks, issue 10), on purpose-made models."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

import sparselrp as sl
from sparselrp.diagnose import CHECKS, THRESHOLDS, Diagnosis, diagnose, receptive_field
from sparselrp.diagnose._common import rowwise_pearson, rowwise_spearman
from sparselrp.diagnose.border import border_figures
from sparselrp.diagnose.ncolumns import zero_columns
from sparselrp.diagnose.strand import seqlet_mask, shuffle_flanks

L = 100


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # tiny tensors: one thread is faster than two on a loaded machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def sim():
    return sl.simulate.simulate(n=160, length=L, motifs=("MA0139",), rules=("MA0139",), seed=1)


def pwm_model(motif, padding=0, pad_detector=False):
    """A planted-motif classifier built from the motif it detects (what training converges to).

    Two filters: the motif's log-odds and its reverse complement, ReLU, global max pool,
    a dense output. With ``pad_detector`` a third filter reads the zero padding of a
    'same' convolution: weights -1 on every base, bias +w, so it is exactly 0 inside the
    sequence (every window sees w bases) and positive only where the window hangs over
    the edge - a model whose decision depends on the sequence ends.
    """
    pwm = torch.as_tensor(motif.pwm, dtype=torch.float32)
    w = pwm.shape[1]
    lo = torch.log2((pwm + 1e-3) / 0.25)
    n_f = 3 if pad_detector else 2
    conv = nn.Conv1d(4, n_f, w, padding=padding)
    lin = nn.Linear(n_f, 1)
    with torch.no_grad():
        conv.weight[0] = lo
        conv.weight[1] = lo.flip(0, 1)
        best = float(lo.max(0).values.sum())
        conv.bias[:2] = -0.5 * best
        lin.weight[:] = 1.0
        lin.bias[:] = -0.3 * best
        if pad_detector:
            conv.weight[2] = -1.0
            conv.bias[2] = float(w)
            lin.weight[0, 2] = 4.0
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(), lin).eval()


def random_like(model, seed=123):
    """The same architecture with PyTorch's default (random) initialisation."""
    import copy

    m = copy.deepcopy(model)
    torch.manual_seed(seed)
    for mod in m.modules():
        if hasattr(mod, "reset_parameters"):
            mod.reset_parameters()
    return m.eval()


# ----------------------------------------------------------------------------- bias

class _BiasNet(nn.Module):
    def __init__(self, out_bias, bias=True):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv1d(4, 4, 5, bias=bias)
        self.fc = nn.Linear(4, 1, bias=bias)
        with torch.no_grad():
            self.conv.weight.copy_(torch.rand(self.conv.weight.shape, generator=g))
            self.fc.weight.copy_(0.1 * torch.rand(self.fc.weight.shape, generator=g))
            if bias:
                self.conv.bias.zero_()
                self.fc.bias.fill_(out_bias)
        self.pool = nn.AdaptiveMaxPool1d(1)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


@pytest.mark.parametrize("composite", ["epsilon", "best-practice"])
def test_bias_carrying_model_is_flagged(sim, composite):
    X = sim.X[:32]
    d = diagnose(_BiasNet(20.0), X, composite=composite, checks=["bias"])
    assert d.flags == ["bias"]
    c = d.check("bias_share")
    assert c.passed is False and c.value > 0.9
    # reference: the output layer's bias keeps b / f of each f = w.h + b (conv bias is zero)
    with torch.no_grad():
        f = _BiasNet(20.0)(X)[:, 0].double().numpy()
    assert c.value == pytest.approx(20.0 * len(f) / np.abs(f).sum(), rel=1e-4)
    assert np.allclose(d.per_sample["bias_share"], 20.0 / f, rtol=1e-4)
    # the conservation gap of the map equals the bias share here, layer by layer
    assert np.allclose(d.per_sample["conservation_gap"], 20.0 / f, rtol=1e-4)
    assert set(c.details["layer_gap"]) == {"conv", "fc"}


def test_bias_free_model_passes(sim):
    d = diagnose(_BiasNet(0.0, bias=False), sim.X[:32], composite="epsilon", checks=["bias"])
    assert d.flags == []
    c = d.check("bias_share")
    assert c.passed is True and abs(c.value) < 1e-4
    assert np.nanmax(np.abs(d.per_sample["conservation_gap"])) < 1e-4


# ----------------------------------------------------------------------------- border

def _edge_data(sim):
    # sequences holding the motif well inside: any border relevance is an artifact
    return sim.X[sim.y[:, 0] == 1][:48]


def test_border_artifact_model_is_flagged(sim):
    motif = sim.motifs[0]
    w = motif.width
    m = pwm_model(motif, padding="same", pad_detector=True)
    X = _edge_data(sim)
    with torch.no_grad():   # the padding filter is silent inside and fires at the ends
        act = torch.relu(m[0](X))[:, 2]
    assert float(act[:, w // 2 + 1:-(w // 2 + 1)].abs().max()) == 0.0 and float(act[:, 0].min()) > 0
    d = diagnose(m, X, composite="epsilon", checks=["border"])
    assert "border" in d.flags
    c = d.check("border_ratio")
    assert c.details["receptive_field"] == w and c.details["half_width"] == w // 2
    assert c.value > THRESHOLDS["border_ratio"]["value"]


def test_border_signal_planted_at_the_edge_is_flagged(sim):
    """The motif planted half off the sequence start of a 'same'-padded model: the map sits at the edge."""
    motif = sim.motifs[0]
    w = motif.width
    X = sim.X[sim.y[:, 0] == 0][:32].clone()              # no motif inside
    consensus = torch.zeros(4, w)
    consensus[torch.as_tensor(motif.pwm.argmax(0)), torch.arange(w)] = 1
    X[:, :, : w - w // 2] = consensus[:, w // 2:]          # the motif's second half at position 0
    d = diagnose(pwm_model(motif, padding="same"), X, composite="epsilon", checks=["border"])
    assert d.flags == ["border"]


def test_border_clean_model_passes(sim):
    m = pwm_model(sim.motifs[0], padding="same")
    d = diagnose(m, _edge_data(sim), composite="epsilon", checks=["border"])
    assert "border" not in d.flags
    assert d.check("border_ratio").value < 1.0


def test_border_share_matches_loop():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(5, 4, 30))
    R[2] = 0
    fig = border_figures(R, 4)
    for n in range(5):
        a = np.abs(R[n].sum(0))
        ref = (a[:4].sum() + a[-4:].sum()) / a.sum() if a.sum() > 0 else np.nan
        assert (np.isnan(ref) and np.isnan(fig["share"][n])) or fig["share"][n] == pytest.approx(ref)
    assert fig["uniform"] == pytest.approx(8 / 30)


class _LocalNet(nn.Module):
    """A purely local trunk (no global pooling): its output units have a finite receptive field."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 3, 5)
        self.pool = nn.AvgPool1d(2)
        self.c2 = nn.Conv1d(3, 3, 3, dilation=2, padding=2)
        self.c3 = nn.Conv1d(3, 2, 3, stride=2)
        self.mp = nn.AvgPool1d(3, stride=1)
        for c in (self.c1, self.c2, self.c3):
            with torch.no_grad():
                c.weight.uniform_(0.1, 1.0)
                c.bias.zero_()

    def forward(self, x):
        h = self.pool(self.c1(x))
        h = h + self.c2(h)          # residual branch
        return self.mp(self.c3(h))


def _probe_rf(model, L=80):
    """Receptive field by a gradient probe: the input span one central output unit sees."""
    x = torch.rand(1, 4, L, requires_grad=True)
    out = model(x)
    out[0, :, out.shape[-1] // 2].sum().backward()
    nz = np.flatnonzero(x.grad.abs().sum(1)[0].numpy() > 0)
    return int(nz[-1] - nz[0] + 1)


def test_receptive_field_matches_gradient_probe():
    m = _LocalNet()
    assert receptive_field(sl.LRP(m).graph) == _probe_rf(m)
    small = sl.models.SmallCNN(kernel_size=19)
    assert receptive_field(sl.LRP(small).graph) == 19
    ds = sl.models.DeepSEA(n_targets=2, seq_len=200, channels=(4, 4, 4), kernel_size=5, pool=2, hidden=4)
    assert receptive_field(sl.LRP(ds).graph) == 1 + 4 + 1 + 4 * 2 + 2 * 1 + 4 * 4


# ----------------------------------------------------------------------------- N columns

def test_zero_columns_masks():
    X = sl.one_hot_encode_batch(["NNACGNTANN", "ACGTACGTAC", "NNNNNNNNNN"])
    interior, padded = zero_columns(X)
    assert interior[0].tolist() == [c == "N" for c in "..ACGNTA.."]
    assert padded[0].tolist() == [True, True] + [False] * 6 + [True, True]
    assert not interior[1].any() and not padded[1].any()
    assert padded[2].all() and not interior[2].any()


def test_quarter_valued_n_columns_count_and_get_relevance(sim):
    X = _with_ns(sim.X[:24])
    X[:, :, 40:44] = 0.25            # n_value=0.25 encoding of the interior N run
    interior, padded = zero_columns(X)
    assert interior[:, 40:44].all() and interior.sum() == 24 * 4 and padded.sum() == 24 * 5
    m = nn.Sequential(nn.Conv1d(4, 3, 5), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(3, 1))
    with torch.no_grad():              # every window contributes positively
        for p in m.parameters():
            p.uniform_(0.1, 1.0)
    d = diagnose(m.eval(), X, composite="epsilon", checks=["n-columns"])
    c = d.check("n_column_share")
    assert c.value > 0 and "0.25" in c.verdict


def _with_ns(X):
    X = X.clone()
    X[:, :, :5] = 0          # padding at the start
    X[:, :, 40:44] = 0       # an interior run of N
    return X


def test_n_columns_multiplying_rule_gives_zero(sim):
    X = _with_ns(sim.X[:24])
    d = diagnose(pwm_model(sim.motifs[0]), X, composite="epsilon", checks=["n-columns"])
    c = d.check("n_column_share")
    assert c.passed is True and c.value == 0.0
    assert c.details["rule_multiplies_input"] is True and "Epsilon" in c.verdict
    assert c.details["n_columns"] == 24 * 4 and c.details["padded_columns"] == 24 * 5
    share = d.per_sample["absent_base_share"]
    assert np.isfinite(share).sum() >= 8 and np.all(share[np.isfinite(share)] == 0)


@pytest.mark.parametrize("composite, rule", [("best-practice", "ZBox"), ("epsilon-plus-flat", "Flat")])
def test_n_columns_input_blind_rule_is_reported(sim, composite, rule):
    X = _with_ns(sim.X[:24])
    R = sl.lrp(pwm_model(sim.motifs[0]), X, composite=composite)
    d = diagnose(pwm_model(sim.motifs[0]), X, composite=composite, checks=["n-columns"])
    c = d.check("n_column_share")
    a = R.sum(1).abs().double()
    zero = (X.abs().sum(1) == 0)
    ref = float(np.nanmean(((a * zero).sum(1) / a.sum(1)).numpy()))
    assert c.value == pytest.approx(ref, rel=1e-6) and c.value > 0
    assert rule in c.details["first_layer_rules"]["0"] and c.details["rule_multiplies_input"] is False
    assert c.passed is (ref <= THRESHOLDS["n_column_share"]["value"])
    assert "n-columns" in diagnose(pwm_model(sim.motifs[0]), X, composite=composite, checks=["n-columns"],
                                   thresholds={"n_column_share": ref / 2}).flags


# ----------------------------------------------------------------------------- randomisation

@pytest.fixture(scope="module")
def trained():
    """A SmallCNN trained on planted CTCF motifs with reverse-complement augmentation (a few s of Adam)."""
    big = sl.simulate.simulate(n=400, length=L, motifs=("MA0139",), rules=("MA0139",), seed=2)
    X, y = big.X[:300], big.y[:300]
    X, y = torch.cat([X, X.flip(1, 2)]), torch.cat([y, y])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = sl.models.SmallCNN(seq_len=L, n_filters=8, kernel_size=15, hidden=0, dropout=0.0)
        opt = torch.optim.Adam(m.parameters(), lr=0.03)
        for _ in range(40):
            opt.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(m(X), y).backward()
            opt.step()
    m.eval()
    with torch.no_grad():
        assert sl.models.auroc(big.y[300:, 0].numpy(), m(big.X[300:])[:, 0].numpy()) > 0.9
    return m, big.X[300:364]


def test_randomisation_trained_model_passes_random_weights_flagged(trained):
    m, X = trained
    good = diagnose(m, X, composite="epsilon", checks=["randomisation"])
    bad = diagnose(random_like(m), X, composite="epsilon", checks=["randomisation"])
    assert good.flags == [] and all(c.passed for c in good.checks)
    assert bad.flags == ["randomisation"]
    assert bad.check("randomisation: sparsity gain (epsilon)").passed is False
    # the cascade goes from the output down, one stage per explained layer
    assert good.info["randomisation"]["epsilon"]["stages"] == ["body.5", "body.0"]
    assert good.check("randomisation: similarity (epsilon)").value < THRESHOLDS["randomisation_similarity"]["value"]


def test_trained_rc_augmented_model_is_strand_stable(trained):
    m, X = trained
    d = diagnose(m, X, composite="epsilon", checks=["strand"])
    assert d.flags == []
    assert d.check("strand_agreement").passed is True
    assert d.check("flank_retention").passed is True


def test_randomisation_extra_composites_reported_not_flagged(sim):
    m = random_like(pwm_model(sim.motifs[0]))
    d = diagnose(m, sim.X[:32], composite="epsilon", checks=["randomisation"],
                 randomisation_composites=("epsilon-plus", "epsilon", "epsilon-plus"))
    names = [c.name for c in d.checks]
    assert names == ["randomisation: similarity (epsilon)", "randomisation: sparsity gain (epsilon)",
                     "randomisation: similarity (epsilon-plus)", "randomisation: sparsity gain (epsilon-plus)"]
    extra = d.check("randomisation: similarity (epsilon-plus)")
    assert extra.counts is False and "Sixt et al., ICML 2020" in extra.verdict
    assert "Sixt" not in d.check("randomisation: similarity (epsilon)").verdict


def test_randomisation_similarity_is_one_without_learnt_dependence():
    """A map that ignores the weights (flat rule everywhere) survives randomisation: flagged."""
    from sparselrp.lrp import Flat

    m = nn.Sequential(nn.Conv1d(4, 3, 5), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 96, 1)).eval()
    X = sl.one_hot_encode_batch(["".join(np.random.default_rng(i).choice(list("ACGT"), 100)) for i in range(8)])
    d = diagnose(m, X, composite={nn.Conv1d: Flat(), nn.Linear: Flat()}, checks=["randomisation"])
    c = d.check("randomisation: similarity (custom)")
    assert c.value == pytest.approx(1.0) and c.passed is False and "randomisation" in d.flags


# ----------------------------------------------------------------------------- strand

class _RCSymmetric(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + self.inner(x.flip(1, 2))


def test_strand_symmetric_model_agrees(sim):
    m = _RCSymmetric(random_like(pwm_model(sim.motifs[0]), seed=5))
    d = diagnose(m, sim.X[:32], composite="epsilon", checks=["strand"])
    c = d.check("strand_agreement")
    assert c.passed is True and c.value > 0.999
    assert c.details["output_correlation"] > 0.999


def test_strand_gate_for_strand_specific_model(sim):
    # forward filter only: the model does not predict both strands alike
    m = pwm_model(sim.motifs[0])
    with torch.no_grad():
        m[0].weight[1] = 0
        m[0].bias[1] = -100
    d = diagnose(m, sim.X[:64], composite="epsilon", checks=["strand"])
    c = d.check("strand_agreement")
    assert c.passed is None and "Not checked" in c.verdict and "strand" not in d.flags


def test_strand_flags_disagreeing_maps(sim):
    d = diagnose(_RCSymmetric(pwm_model(sim.motifs[0])), sim.X[:32], composite="epsilon", checks=["strand"],
                 thresholds={"strand_agreement": 1.01})
    assert d.flags == ["strand"]


def test_flank_shuffle_keeps_seqlets_and_dinucleotides(sim):
    X = sim.X[:16]
    R = sl.lrp(pwm_model(sim.motifs[0]), X, composite="epsilon")
    mask = seqlet_mask(R)
    assert mask.any(axis=1).sum() >= 8
    Xs = shuffle_flanks(X, mask, seed=0)
    m = torch.as_tensor(mask)[:, None, :].expand_as(X)
    assert torch.equal(Xs[m], X[m])                               # seqlets untouched
    assert torch.equal(Xs.sum(2), X.sum(2))                       # base composition kept
    assert not torch.equal(Xs, X)
    d = diagnose(pwm_model(sim.motifs[0]), X, composite="epsilon", checks=["strand"])
    c = d.check("flank_retention")
    assert c.passed is True and c.value > 0.8


def test_seqlet_mask_keeps_top_seqlets_per_sample():
    R = np.zeros((2, 4, 80))
    R[0, 0, 30:36] = 4.5        # found second
    R[0, 0, 5:11] = 5.0         # highest score
    R[1, 2, 50:56] = 5.0
    R[1, 1, 0:40] = 1.0         # a weak tail below find_seqlets' default threshold
    one, two = seqlet_mask(R, top=1), seqlet_mask(R, top=2)
    assert one[0, 7] and not one[0, 32] and two[0, 7] and two[0, 32]
    assert two[1, 52] and two[1].sum() == one[1].sum()
    assert not two[0, 60:].any()


# ----------------------------------------------------------------------------- statistics

@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12), st.integers(0, 10_000), st.booleans())
def test_rowwise_spearman_matches_scipy(length, seed, ties):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(3, length))
    b = rng.normal(size=(3, length))
    if ties:
        a = np.round(a)
        b[:, : length // 2] = 0
    got = rowwise_spearman(a, b)
    for i in range(3):
        if np.ptp(a[i]) == 0 or np.ptp(b[i]) == 0:
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(spearmanr(a[i], b[i])[0], abs=1e-9)
    assert np.allclose(rowwise_pearson(a, a)[np.ptp(a, 1) > 0], 1.0)


# ----------------------------------------------------------------------------- object, JSON, report

@pytest.fixture(scope="module")
def full(sim):
    return diagnose(pwm_model(sim.motifs[0]), sim.X[:48], composite="epsilon", n_samples=40, seed=3)


def test_full_run_structure(full, sim):
    assert isinstance(full, Diagnosis)
    assert {c.family for c in full.checks} == set(CHECKS)
    assert set(full.flags) <= set(CHECKS)
    idx = full.info["sample_indices"]
    assert len(idx) == 40 and np.all(np.diff(idx) > 0)
    for k, v in full.per_sample.items():
        assert np.asarray(v).shape == (40,), k
    again = diagnose(pwm_model(sim.motifs[0]), sim.X[:48], composite="epsilon", n_samples=40, seed=3)
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(full.to_dict(), sort_keys=True)


def test_to_dict_and_report(full, tmp_path):
    d = full.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["flags"] == full.flags
    rep = full.to_report()
    assert set(rep) >= {"flags", "checks"}
    for c in rep["checks"]:
        assert set(c) == {"name", "value", "threshold", "passed", "verdict"}
        assert c["value"] is None or math.isfinite(c["value"])
    from sparselrp.plot.report import render_report

    html = render_report(trust=rep)
    for c in rep["checks"]:
        assert c["name"] in html
    full.to_json(tmp_path / "trust.json")
    assert json.loads((tmp_path / "trust.json").read_text())["checks"][0]["name"] == full.checks[0].name
    table = full.summary_table()
    assert all(c.name in table for c in full.checks) and "flags:" in table


def test_model_and_rng_untouched(sim):
    m = pwm_model(sim.motifs[0])
    before = {k: v.clone() for k, v in m.state_dict().items()}
    torch.manual_seed(42)
    state = torch.get_rng_state()
    diagnose(m, sim.X[:16], composite="epsilon")
    assert torch.equal(torch.get_rng_state(), state)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k])


def test_pruned_maps(sim):
    d = diagnose(pwm_model(sim.motifs[0]), sim.X[:24], composite="epsilon", pruning=sl.TopK(4))
    assert d.info["pruning"].startswith("TopK")
    assert {c.family for c in d.checks} == set(CHECKS)


def test_bad_arguments(sim):
    m = pwm_model(sim.motifs[0])
    with pytest.raises(ValueError, match="unknown threshold 'nope'"):
        diagnose(m, sim.X[:4], thresholds={"nope": 1})
    with pytest.raises(ValueError, match="unknown check 'colour'"):
        diagnose(m, sim.X[:4], checks=["colour"])
    with pytest.raises(ValueError, match=r"shape \(N, 4, L\)"):
        diagnose(m, sim.X[:4, :3])
    with pytest.raises(ValueError, match="n_samples"):
        diagnose(m, sim.X[:4], n_samples=0)


def test_sl_diagnose_is_callable_after_submodule_import(sim):
    import sparselrp.diagnose.core  # noqa: F401 - binds the package as sl.diagnose

    d = sl.diagnose(pwm_model(sim.motifs[0]), sim.X[:8], composite="epsilon", checks=["bias"])
    assert isinstance(d, Diagnosis)


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def files(sim, tmp_path):
    from sparselrp.io.onehot import save_onehot

    model = sl.models.SmallCNN(seq_len=L, n_filters=4, kernel_size=9, hidden=0, dropout=0.0)
    sl.models.save(model, tmp_path / "model")
    save_onehot(tmp_path / "ohe.npz", sim.X[:20])
    return tmp_path


def test_cli_writes_json_and_table(files):
    from sparselrp.cli import main

    out = files / "trust.json"
    r = CliRunner().invoke(main, ["diagnose", "-m", str(files / "model"), "-s", str(files / "ohe.npz"),
                                  "-o", str(out), "--composite", "epsilon", "--n-samples", "12",
                                  "--topk", "4", "--threshold", "bias_share=0.9"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["info"]["n_samples"] == 12 and d["info"]["pruning"].startswith("TopK")
    assert d["info"]["thresholds"]["bias_share"] == 0.9
    assert "flags:" in r.output and "bias: share absorbed" in r.output
    strict = CliRunner().invoke(main, ["diagnose", "-m", str(files / "model"), "-s", str(files / "ohe.npz"),
                                       "-o", str(out), "--checks", "bias", "--threshold", "bias_share=-1",
                                       "--strict"])
    assert strict.exit_code == 3


@pytest.mark.parametrize("args, code, text", [
    (["-s", "missing.npz"], 1, "missing.npz"),
    (["--topk", "4", "--prune-mass", "0.5"], 2, "not both"),
    (["--threshold", "nope=1"], 1, "unknown threshold 'nope'"),
    (["--checks", "bias,colour"], 2, "unknown check 'colour'"),
])
def test_cli_bad_input(files, args, code, text):
    from sparselrp.cli import main

    base = {"-m": str(files / "model"), "-s": str(files / "ohe.npz"), "-o": str(files / "t.json")}
    argv = ["diagnose"]
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    r = CliRunner().invoke(main, argv + [a if a != "missing.npz" else str(files / a) for a in args])
    assert r.exit_code == code, r.output
    assert text in r.output
    if code == 1:
        assert r.output.strip().startswith("sparselrp: error:") and "Traceback" not in r.output
    assert not (files / "t.json").exists()


class _FunctionalNet(nn.Module):
    """Layers as functional calls on raw parameters: nothing to re-initialise by module."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.rand(3, 4, 5, generator=g))
        self.v = nn.Parameter(torch.rand(1, 3, generator=g))

    def forward(self, x):
        h = torch.relu(nn.functional.conv1d(x, self.w))
        return nn.functional.linear(h.amax(-1), self.v)


def test_degenerate_inputs_give_na_not_errors(sim):
    dead = pwm_model(sim.motifs[0])
    with torch.no_grad():
        dead[0].bias.fill_(-1000.0)        # no filter ever fires: every map is zero
    d = diagnose(dead, sim.X[:16], composite="epsilon")
    for key in ("border_ratio", "n_column_share", "strand_agreement", "flank_retention"):
        assert d.check(key).passed is None, key
    assert d.check("bias_share").passed is False          # the output is all bias
    assert set(d.flags) <= {"bias"}
    json.dumps(d.to_dict(), allow_nan=False)
    f = diagnose(_FunctionalNet(), sim.X[:16], composite="epsilon", checks=["randomisation"])
    assert all(c.passed is None for c in f.checks) and "functional" in f.checks[0].verdict
    assert f.flags == []


def test_report_figures(full):
    rep = full.to_report(figures=True)
    assert set(rep["figures"]) == {"Cascading randomisation", "Per-sample figures"}
    assert all(v.startswith("data:image/png;base64,") for v in rep["figures"].values())
    json.dumps(rep, allow_nan=False)
    from sparselrp.plot.report import render_report

    assert render_report(trust=rep).count("data:image/png;base64,") >= 2


def test_per_sample_target_is_subsampled_with_X(sim):
    """Two outputs; a per-sample target list follows the diagnosed subset."""
    two = nn.Sequential(nn.Conv1d(4, 3, 7), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(3, 2)).eval()
    X = sim.X[:30]
    target = [i % 2 for i in range(30)]
    d = diagnose(two, X, target=target, composite="epsilon", n_samples=10, seed=1, checks=["bias"])
    idx = d.info["sample_indices"]
    with torch.no_grad():
        out = two(X)
    ref = out[torch.as_tensor(idx), torch.as_tensor([target[i] for i in idx])].double().numpy()
    assert np.allclose(d.per_sample["output"], ref, rtol=1e-5, atol=1e-6)
    d2 = diagnose(two, X, target=torch.as_tensor(target), composite="epsilon", n_samples=10, seed=1, checks=["bias"])
    assert np.array_equal(d2.per_sample["output"], d.per_sample["output"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ACGTN", min_size=12, max_size=12), min_size=1, max_size=6),
       st.integers(1, 3), st.integers(0, 1000))
def test_zero_columns_and_border_properties(seqs, h, seed):
    X = sl.one_hot_encode_batch(seqs)
    interior, padded = zero_columns(X)
    for n, s in enumerate(seqs):           # loop reference
        stripped = s.strip("N")
        lead = len(s) - len(s.lstrip("N"))
        for i, ch in enumerate(s):
            is_pad = ch == "N" and (i < lead or i >= lead + len(stripped))
            assert padded[n, i] == is_pad
            assert interior[n, i] == (ch == "N" and not is_pad)
    R = np.random.default_rng(seed).normal(size=(len(seqs), 4, 12))
    a, b = border_figures(R, h), border_figures(-3.0 * R[:, :, ::-1], h)
    assert np.allclose(a["share"], b["share"])          # mirror- and scale-invariant
    assert np.all((a["share"] >= 0) & (a["share"] <= 1))
