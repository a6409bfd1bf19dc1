"""Determinism of the relevance pass on CPU (issue 9 item 5, issue 18 item 1).

* The same inputs give bit-identical maps on repeated calls and in two separate processes,
  and two CLI runs write identical arrays.
* Batch size does not change the result. This is asserted where it is exact up to the
  rounding of float64: batch sizes 64, 7 and 1 agree to 1e-12 relative in float64 for every
  method and every pruning. (In float32 oneDNN picks convolution kernels by batch size, so
  batch sizes round differently; a tolerance taken from one observed float32 error made the
  old test flaky.)
* float32 is checked against float64 with a bound derived from float32 rounding (see
  :data:`F32_BOUND`), on test data whose pruning selections have no near-tie (see
  :func:`_selection_margin` for the rule), so that float32 and float64 make the same
  selections; the test checks both the precondition and the identical selections.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import sparselrp as sl

#: unit roundoff of float32
U32 = 2.0 ** -24

#: float32 error bound of a map, relative to the sample's largest |R| in float64: the unit
#: roundoff u times a stated growth factor of 1700. Worst-case (linear) growth along the pass
#: in these models: a sum of n terms of one sign errs by at most (n - 1) u relative; the
#: longest sums are lambda's per-sample totals over <= 480 units, and a path has <= 8 layers
#: whose sums have <= 72 terms (a convolution's C x K, at most 8 x 9; the BPNet-like model's
#: average pool: 60) (480 + 8 * 72 = 1056), plus the rules' and lambda's divisions (a few u
#: each: their denominators are sums of one sign, or stabilised by epsilon) -> 1700 u = 1.0e-4.
#: Measured on the test data (every model, pruning and batch size 64/7/1, with
#: torch.set_num_threads 1 and 2, and beside a competing busy core): at most 5.8e-7 (10 u;
#: PLRP-M excluded), 170x below the bound.
F32_BOUND = 1700 * U32

#: PLRP-M ("matrix") renormalises each consumer unit over its survivors, dividing by their
#: share a'/a of the unit's contributions. a' is a sum of both signs (survivors that cancel),
#: and a'/a may be as small as MATRIX_MIN_SHARE (1e-3, below which the unit falls back to
#: lambda), so the rounding of such a unit is amplified by up to 1/(a'/a). Allowed: 10x
#: F32_BOUND (1.0e-3). Measured as above: at most 2.0e-5 (BPNet-like model, batch size 1;
#: 6.1e-7 on the Basset-like one; 2.7e-5 on an earlier data set), 49x below. (The unit-by-unit
#: fall-back decision a'/a >= MATRIX_MIN_SHARE is not observable from a pruning strategy; on
#: the test data the ratio closest to it is 17% away in float64, far beyond float32's rounding.)
F32_BOUND_MATRIX = 10 * F32_BOUND

#: near-tie rule: every pruning selection on the test data has a margin of at least this
#: (relative; see :func:`_selection_margin`), verified in float64 before float32 is compared.
#: float32 moves the relevance a selection sees by at most 2.0e-5 of the row's largest score
#: (measured: PLRP-M on the BPNet-like model; 8.6e-7 otherwise), so a gap of 1e-3 is 25x what
#: float32 could close (2 x 2.0e-5); float32 then makes the same selections as float64.
MARGIN = 1e-3

BATCH_SIZES = (64, 7, 1)

# a small TopK k on the small test models keeps 1 unit of some layers, which the library warns about
pytestmark = pytest.mark.filterwarnings(r"ignore:TopK\(.* keeps 1 of the:UserWarning")


class _Recording:
    """Records the relevance each selection sees and the mask it chose (no module globals
    are patched). ``select`` sees single-unit selections; ``select_positions`` the
    position-grouped ones (``group="position"`` does not go through ``select``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def select(self, r, value, rescale):
        keep, out = super().select(r, value, rescale)
        self.seen.append(("unit", r.clone(), value, keep.clone()))
        return keep, out

    def select_positions(self, pos, neg, value):
        keep = super().select_positions(pos, neg, value)
        self.seen.append(("position", torch.cat([pos, neg], 1), value, keep.clone()))
        return keep


class RecordingTopK(_Recording, sl.TopK):
    pass


class RecordingMassPrune(_Recording, sl.MassPrune):
    pass


def _prunings(record=False):
    """name -> (composite, pruning). A composite ``"plrp:<name>"`` means :func:`sl.plrp` with
    that composite (given explicitly, as is the pruning: the test does not follow plrp's
    defaults)."""
    T, M = (RecordingTopK, RecordingMassPrune) if record else (sl.TopK, sl.MassPrune)
    return {
        "none": ("best-practice", None),
        "topk4": ("best-practice", T(4)),
        "topk0.1": ("best-practice", T(0.1)),
        "mass0.5": ("best-practice", M(0.5)),
        "mass0.3-matrix": ("best-practice", M(0.3, redistribute="matrix")),
        "mass0.5-positions": ("best-practice", M(0.5, layers="positions", group="position")),
        "topk0.1-positions": ("best-practice", T(0.1, layers="positions", group="position")),
        "plrp": ("plrp:epsilon-gamma", M(0.5, layers="positions", group="position")),
    }


PRUNINGS = _prunings()


def _explain(model, X, target, composite, pruning, batch_size):
    if composite.startswith("plrp:"):
        return sl.plrp(model, X, target=target, composite=composite[5:], pruning=pruning, batch_size=batch_size,
                       device="cpu")
    return sl.LRP(model, composite=composite, pruning=pruning, device="cpu").attribute(
        X, target=target, batch_size=batch_size)


def _models():
    torch.manual_seed(0)
    small = sl.models.ZOO["small_cnn"](n_targets=2, seq_len=60, n_filters=8, kernel_size=7, hidden=8)
    basset = sl.models.ZOO["basset"](n_targets=3, seq_len=60, channels=(8, 6, 6), kernel_sizes=(7, 5, 3),
                                     pools=(2, 2, 2), hidden=(10, 10)).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding matters
        for m in basset.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    bpnet = sl.models.ZOO["bpnet"](n_targets=1, seq_len=60, n_filters=8, n_layers=3, conv_kernel=7,
                                   profile_kernel=9)
    return {"small_cnn": small, "basset": basset, "bpnet": bpnet}


def _data(n=14, length=60, seed=0):
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    X[3, :, 10:15] = 0  # an N stretch
    return torch.from_numpy(X)


def _sample(seed, length=60):
    """One random one-hot sequence with an N stretch of 0-5 bp, from its own seed."""
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, length)].T.copy()
    a, w = int(rng.integers(0, length - 5)), int(rng.integers(0, 6))
    x[:, a:a + w] = 0
    return x


#: per model, seeds of :func:`_sample` whose selections all have margins >= MARGIN for every
#: pruning here (see :func:`_selection_margin`), found in float64 by :func:`find_tie_free_seeds`
#: (``python tests/test_determinism.py``: the first 9 seeds from 100000 on that pass). The
#: test re-verifies the margins; it does not search. A change to a pruning's selection makes
#: the precondition fail with a message; then run the finder again and paste its output.
TIE_FREE_SEEDS = {
    "small_cnn": (100000, 100001, 100002, 100003, 100004, 100005, 100006, 100007, 100008),
    "basset": (100000, 100012, 100016, 100022, 100023, 100024, 100026, 100034, 100040),
    "bpnet": (100252, 100369, 101055, 101187, 101559, 102101, 102783, 103165, 103740),
}


def _tie_free_data(name):
    return torch.from_numpy(np.stack([_sample(s) for s in TIE_FREE_SEEDS[name]]))


def find_tie_free_seeds(name, count=9, start=100000, chunk=512, stop=400000):
    """The first ``count`` seeds from ``start`` on whose samples pass the margin rule for model
    ``name`` under every pruning (float64, one pass per chunk of candidates)."""
    model, t = _models()[name], _target(name)
    one = torch.from_numpy(_sample(start)[None]).double()
    per_pass = {}
    for pname, (composite, pruning) in _prunings(record=True).items():
        if pruning is not None:
            _explain(model, one, t, composite, pruning, 1)
            per_pass[pname] = len(pruning.seen)
    found = []
    for s0 in range(start, stop, chunk):
        X = torch.from_numpy(np.stack([_sample(s) for s in range(s0, s0 + chunk)])).double()
        worst = torch.full((chunk,), float("inf"), dtype=torch.float64)
        for pname, (composite, pruning) in _prunings(record=True).items():
            if pruning is None:
                continue
            _explain(model, X, t, composite, pruning, chunk)
            for kind, value, r, _ in _selections(pruning, per_pass[pname]):
                worst = torch.minimum(worst, _selection_margin(pruning, kind, r, value)[0])
        found += [s0 + i for i in (worst >= MARGIN).nonzero()[:, 0].tolist()]
        if len(found) >= count:
            return tuple(found[:count])
    raise RuntimeError(f"fewer than {count} tie-free seeds in {start}..{stop} for {name}")


def _target(name):
    return {"small_cnn": 1, "basset": 2, "bpnet": 0}[name]


def _rel_err(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max()) / max(float(b.abs().max()), 1e-30)


def _rel_err_per_sample(a, b):
    """Largest |a - b| of each sample over the sample's largest |b| (the worst sample)."""
    a, b = a.double().reshape(a.shape[0], -1), b.double().reshape(b.shape[0], -1)
    return float(((a - b).abs().amax(1) / b.abs().amax(1).clamp(min=1e-300)).max())


def _selection_margin(strategy, kind, r, value):
    """Margin of one recorded selection, per row, and the keep mask the rule gives.

    The rule (deterministic, evaluated in float64 on the relevance the selection saw;
    ``P``, ``Q`` are the positive and negative magnitudes: per unit of ``r``, or per
    position its channels' positive sum and negative sum for ``group="position"``):

    * TopK (sign-aware, as :func:`sparselrp.lrp.pruning._topk_signed`): plain top-k of
      ``max(P, Q)``, of which ``k_plain`` are positive; the positive side keeps
      ``kp = max(k_plain, round(k P_tot / (P_tot + Q_tot)), 1 if P_tot > 0)`` (then capped by
      the non-zero counts), the negative side ``k - kp``. Margins: the plain cut (k-th minus
      (k+1)-th of ``max(P, Q)``) and ``|P - Q|`` of the plain picks (which side they count
      for), over the row's largest magnitude; the distance of ``k P_tot / (P_tot + Q_tot)``
      from a half-integer (in slots); on each side, (smallest kept - largest dropped
      magnitude) / the row's largest magnitude.
    * MassPrune: on each side, ascending magnitudes are dropped while their cumulative sum
      is at most ``p`` times the side's total; margins: the distance of the cumulative
      mass at the cut from the budget (either neighbour) / the side's total, and
      (smallest kept - largest dropped magnitude) / the row's largest magnitude.

    The row's margin is the smallest of these. Ties (margin 0) and near-ties (below
    :data:`MARGIN`) make the precondition fail; the data are chosen so none occurs.
    Returns ``(margin (N,), keep (N, M))``.
    """
    r = r.double()
    if kind == "position":
        L = r.shape[1] // 2
        P, Q = r[:, :L], -r[:, L:]
    else:
        P, Q = r.clamp(min=0), (-r).clamp(min=0)
    n, m = P.shape
    scale = torch.maximum(P.amax(1), Q.amax(1)).clamp(min=1e-300)
    margin = torch.full((n,), float("inf"), dtype=torch.float64)
    keep = torch.zeros((n, m), dtype=torch.bool)
    if isinstance(strategy, sl.TopK):
        assert strategy.sign_aware
        k = strategy.count(value, m)
        # plain top-k of the larger magnitude (ties: lower index first)
        a, idx = torch.sort(torch.maximum(P, Q), dim=1, descending=True, stable=True)
        plain = torch.zeros_like(keep).scatter_(1, idx, (torch.arange(m) < k).expand(n, m))
        a = torch.cat([a, torch.zeros_like(a[:, :1])], 1)
        # (a cut among exact zeros is no near-tie: a relevance is 0 in float32 where it is in
        # float64, its unit's activation being 0 in both; a pre-activation within rounding of 0
        # would show as a different float32 selection, which the test checks)
        margin = torch.minimum(margin, torch.where(a[:, k - 1] > 0, (a[:, k - 1] - a[:, k]) / scale, float("inf")))
        picked = plain & ((P > 0) | (Q > 0))
        margin = torch.minimum(margin, torch.where(picked, (P - Q).abs(), float("inf")).amin(1) / scale)
        k_plain = torch.count_nonzero(plain & (P >= Q) & (P > 0), dim=1)
        # the positive side's floor: its rounded share of k by mass, at least one
        Pt, Qt = P.sum(1), Q.sum(1)
        tot = Pt + Qt
        x = torch.where(tot > 0, Pt / torch.where(tot > 0, tot, 1.0), 0.0) * k
        margin = torch.minimum(margin, (x - x.floor() - 0.5).abs())
        npos, nneg = torch.count_nonzero(P, dim=1), torch.count_nonzero(Q, dim=1)
        floor = torch.maximum(torch.round(x).long(), (Pt > 0).long())
        kp = torch.minimum(torch.maximum(k_plain, floor).clamp(max=k), npos)
        kn = torch.minimum(k - kp, nneg)
        kp = torch.minimum(k - kn, npos)
        for S, ks in ((P, kp), (Q, kn)):
            v, idx = torch.sort(S, dim=1, descending=True, stable=True)
            kept = torch.arange(m)[None, :] < ks[:, None]
            keep |= torch.zeros_like(kept).scatter_(1, idx, kept)
            v = torch.cat([v, torch.zeros_like(v[:, :1])], 1)
            gap = (v.gather(1, (ks - 1).clamp(min=0)[:, None]) - v.gather(1, ks[:, None]))[:, 0] / scale
            margin = torch.minimum(margin, torch.where(ks > 0, gap, float("inf")))
        return margin, keep
    p = float(value)
    drops = []
    for S, share in ((P, p), (Q, strategy._pneg(p))):
        v, idx = torch.sort(S, dim=1, stable=True)
        cs = v.cumsum(1)
        total = cs[:, -1]
        budget = share * total
        dropped = (cs <= budget[:, None]) & (v > 0)
        drops.append(torch.zeros_like(dropped).scatter_(1, idx, dropped))
        if share == 0:
            continue
        d = torch.count_nonzero(cs <= budget[:, None], dim=1)        # the cut (zeros included)
        at = d.clamp(max=m - 1)[:, None]
        below = torch.where(d > 0, cs.gather(1, (d - 1).clamp(min=0)[:, None])[:, 0], 0.0)
        mass = torch.minimum(budget - below, cs.gather(1, at)[:, 0] - budget) / torch.where(total > 0, total, 1.0)
        vd = torch.where(d > 0, v.gather(1, (d - 1).clamp(min=0)[:, None])[:, 0], 0.0)
        gap = (v.gather(1, at)[:, 0] - vd) / scale
        margin = torch.minimum(margin, torch.where(total > 0, torch.minimum(mass, gap), float("inf")))
    if kind == "position":
        keep = ((P > 0) & ~drops[0]) | ((Q > 0) & ~drops[1])
    else:
        keep = ~(drops[0] | drops[1])
    return margin, keep


def _selections(strategy, per_pass):
    """The selections recorded since the last call, one ``(kind, value, r, keep)`` per pruned
    tensor, with all samples as rows: passes (batches, CPU steps) are recorded one after
    another, each with the same ``per_pass`` pruned tensors in the same order."""
    seen, strategy.seen = strategy.seen, []
    assert per_pass and len(seen) % per_pass == 0, (len(seen), per_pass)
    out = []
    for j in range(per_pass):
        part = seen[j::per_pass]
        assert len({(kind, value, r.shape[1:]) for kind, r, value, _ in part}) == 1
        kind, _, value, _ = part[0]
        out.append((kind, value, torch.cat([r for _, r, _, _ in part]), torch.cat([k for _, _, _, k in part])))
    return out


def _check_margins(where, strategy, sel):
    """The precondition: every recorded float64 selection is the rule's, with margin >= MARGIN."""
    for j, (kind, value, r, keep) in enumerate(sel):
        assert r.dtype == torch.float64
        margin, rule_keep = _selection_margin(strategy, kind, r, value)
        assert torch.equal(rule_keep, keep), (*where, f"pruned tensor {j}", "the library selects otherwise than "
                                              "_selection_margin's rule: update the rule and TIE_FREE_SEEDS")
        i = int(margin.argmin())
        assert float(margin[i]) >= MARGIN, (*where, f"pruned tensor {j}", f"sample {i}",
                                            f"near-tie: margin {float(margin[i]):.2e} < {MARGIN}; if the "
                                            "pruning changed, python tests/test_determinism.py re-picks the seeds")


@pytest.mark.parametrize("name", ["small_cnn", "basset", pytest.param("bpnet", marks=pytest.mark.slow)])
def test_batch_size_does_not_change_the_result(name):
    """Batch sizes 64, 7 and 1: float64 agrees to 1e-12; float32 is within its rounding bound of float64.

    For every pruning (and none), on the model's :func:`_tie_free_data`:

    1. float64 at batch sizes 7 and 1 equals float64 at 64 to 1e-12 relative per sample, with
       the same selections.
    2. Precondition (deterministic, float64): every selection has margin >= MARGIN (rule in
       :func:`_selection_margin`), and the rule reproduces the library's mask.
    3. float32 at batch sizes 64, 7 and 1 makes the same selections as float64 and is within
       F32_BOUND (F32_BOUND_MATRIX for PLRP-M) of float64, relative to each sample's largest
       |R|. float32 batch sizes therefore agree to twice that, without a tolerance of their own.
    """
    X32 = _tie_free_data(name)
    X64 = X32.double()
    n = X32.shape[0]
    model = _models()[name]
    t = _target(name)
    ref = sl.lrp(model, X32, target=t, batch_size=64, device="cpu")  # the functional form once
    assert float(ref.abs().sum()) > 0
    for pname, (composite, pruning) in _prunings(record=True).items():
        where = (name, pname)
        R64 = {64: _explain(model, X64, t, composite, pruning, 64)}
        assert float(R64[64].abs().sum()) > 0
        per_pass = 0
        if pruning is not None:
            per_pass = len(pruning.seen)       # one pass: all samples in one batch and one CPU step
            assert per_pass > 0 and all(r.shape[0] == n for _, r, _, _ in pruning.seen), where
            S64 = _selections(pruning, per_pass)
            _check_margins(where, pruning, S64)
        for bs in BATCH_SIZES[1:]:
            R = _explain(model, X64, t, composite, pruning, bs)
            assert R.shape == X64.shape and R.dtype == torch.float64
            err = _rel_err_per_sample(R, R64[64])
            assert err <= 1e-12, (*where, "float64", bs, err)
            if pruning is not None:
                S = _selections(pruning, per_pass)
                assert all(torch.equal(a[3], b[3]) for a, b in zip(S, S64)), (*where, "float64 selections", bs)
        bound = F32_BOUND_MATRIX if pruning is not None and pruning.redistribute == "matrix" else F32_BOUND
        for bs in BATCH_SIZES:
            R = _explain(model, X32, t, composite, pruning, bs)
            assert R.shape == X32.shape and R.dtype == torch.float32
            if pruning is not None:
                S = _selections(pruning, per_pass)
                assert len(S) == len(S64)
                for j, (a, b) in enumerate(zip(S, S64)):
                    assert torch.equal(a[3], b[3]), (*where, bs, f"pruned tensor {j}: float32 selects otherwise")
            err = _rel_err_per_sample(R, R64[64])
            assert err <= bound, (*where, "float32 vs float64", bs, f"{err:.2e} > {bound:.2e}")
            if bs == 64 and pruning is None:
                assert torch.equal(R, ref)


def test_repeated_calls_in_one_process_are_bit_identical():
    X = _data()
    for name, model in _models().items():
        for pruning in (None, sl.MassPrune(0.5), sl.TopK(0.1)):
            a = sl.lrp(model, X, target=_target(name), pruning=pruning, device="cpu")
            b = sl.lrp(model, X, target=_target(name), pruning=pruning, device="cpu")
            assert torch.equal(a, b), (name, pruning)
        a = sl.plrp(model, X, target=_target(name), device="cpu")
        assert torch.equal(a, sl.plrp(model, X, target=_target(name), device="cpu")), (name, "plrp")


_SCRIPT = r"""
import hashlib, json, sys
sys.path.insert(0, {tests!r})
import torch
import sparselrp as sl
from test_determinism import PRUNINGS, _data, _explain, _models, _target

torch.manual_seed(123)
X = _data()
digests = {{}}
for name, model in _models().items():
    for pname, (composite, pruning) in PRUNINGS.items():
        R = _explain(model, X, _target(name), composite, pruning, 7)
        digests[f"{{name}}/{{pname}}"] = hashlib.sha256(R.numpy().tobytes()).hexdigest()
print(json.dumps(digests))
"""


@pytest.mark.slow
def test_bit_identical_across_processes():
    """Two separate Python processes with the same seed give byte-identical attribution arrays."""
    script = _SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert outs[0] == outs[1]
    assert len(outs[0]) == 3 * len(PRUNINGS)
    # and the same as this process computes
    import hashlib

    torch.manual_seed(123)
    X = _data()
    model = _models()["basset"]
    R = sl.lrp(model, X, target=_target("basset"), pruning=PRUNINGS["mass0.5"][1], batch_size=7, device="cpu")
    assert hashlib.sha256(R.numpy().tobytes()).hexdigest() == outs[0]["basset/mass0.5"]


def test_cli_attribute_twice_gives_identical_arrays(tmp_path):
    """Two `sparselrp attribute` runs on the same files write bit-identical maps (pruned LRP, sparse form too)."""
    from click.testing import CliRunner

    from sparselrp.cli import main
    from sparselrp.io.attributions import load_attributions

    sl.models.save(_models()["small_cnn"], tmp_path / "model")
    np.savez(tmp_path / "ohe.npz", arr_0=_data().numpy())
    outs = []
    for i, bs in enumerate((3, 64)):
        out = tmp_path / f"a{i}.npz"
        r = CliRunner().invoke(main, ["attribute", "-m", str(tmp_path / "model"), "-s", str(tmp_path / "ohe.npz"),
                                      "-o", str(out), "--prune-mass", "0.5", "--sparse", "--batch-size", str(bs)])
        assert r.exit_code == 0, r.output
        outs.append(np.asarray(load_attributions(out)))
    assert outs[0].shape == (14, 4, 60) and np.abs(outs[0]).sum() > 0
    assert _rel_err(torch.from_numpy(outs[0]), torch.from_numpy(outs[1])) <= 1e-6
    r = CliRunner().invoke(main, ["attribute", "-m", str(tmp_path / "model"), "-s", str(tmp_path / "ohe.npz"),
                                  "-o", str(tmp_path / "again.npz"), "--prune-mass", "0.5", "--batch-size", "3"])
    assert r.exit_code == 0, r.output
    again = np.load(tmp_path / "again.npz")["arr_0"]
    assert again.tobytes() == outs[0].astype(np.float32).tobytes()


if __name__ == "__main__":
    # prints TIE_FREE_SEEDS for the library's current pruning (see there)
    torch.set_num_threads(1)
    print("TIE_FREE_SEEDS = {")
    for _name in ("small_cnn", "basset", "bpnet"):
        print(f"    {_name!r}: {find_tie_free_seeds(_name)},", flush=True)
    print("}")
