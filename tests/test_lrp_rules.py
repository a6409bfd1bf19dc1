"""Each LRP rule on random Conv1d / Linear layers against a slow explicit matrix-form
reference (z_ij written out), float64."""

import zlib

import pytest
import torch
import torch.nn as nn

import sparselrp as sl
from sparselrp.lrp import AlphaBeta, Composite, Epsilon, Flat, Gamma, WSquare, ZBox, ZeroRule, ZPlus

D = torch.float64


def _dense_matrix(layer, in_shape):
    """Explicit matrix A (out_flat, in_flat) of the bias-free layer, from basis vectors."""
    n_in = int(torch.tensor(in_shape).prod())
    eye = torch.eye(n_in, dtype=D).reshape((n_in,) + tuple(in_shape))
    with torch.no_grad():
        bias = layer.bias
        layer.bias = None
        out = layer(eye)
        layer.bias = bias
    return out.reshape(n_in, -1).T.clone()


def _reference(rule, A, A1, b, x, R):
    """Slow explicit reference for one sample: A (J, I), A1 0/1 connectivity, b (J,),
    x (I,), R (J,) -> R_in (I,)."""
    J, I = A.shape
    z_ij = x[None, :] * A             # (J, I)
    xp, xn = x.clamp(min=0)[None, :], x.clamp(max=0)[None, :]
    Ap, An = A.clamp(min=0), A.clamp(max=0)
    bp, bn = b.clamp(min=0), b.clamp(max=0)

    def stab(d, eps):
        sign = torch.where(d >= 0, 1.0, -1.0).to(D)
        return d + eps * sign

    out = torch.zeros(I, dtype=D)
    if isinstance(rule, ZeroRule):
        zj = z_ij.sum(1) + b
        for j in range(J):
            if zj[j] != 0:
                out += z_ij[j] / zj[j] * R[j]
        return out
    if isinstance(rule, Epsilon):
        zj = z_ij.sum(1) + b
        return (z_ij / stab(zj, rule.epsilon)[:, None] * R[:, None]).sum(0)
    if isinstance(rule, ZPlus):
        c = xp * Ap + xn * An
        d = c.sum(1) + bp
        return (c / stab(d, rule.stabilizer)[:, None] * R[:, None]).sum(0)
    if isinstance(rule, AlphaBeta):
        cp = xp * Ap + xn * An
        cn = xp * An + xn * Ap
        dp = cp.sum(1) + bp
        dn = cn.sum(1) + bn
        return (rule.alpha * cp / stab(dp, rule.stabilizer)[:, None] * R[:, None]
                - rule.beta * cn / stab(dn, rule.stabilizer)[:, None] * R[:, None]).sum(0)
    if isinstance(rule, Gamma):
        g = rule.gamma
        zj = z_ij.sum(1) + b
        out = torch.zeros(I, dtype=D)
        for j in range(J):
            if zj[j] > 0:
                c = xp[0] * (A[j] + g * Ap[j]) + xn[0] * (A[j] + g * An[j])
                d = c.sum() + b[j] + g * bp[j]
            elif zj[j] < 0:
                c = xp[0] * (A[j] + g * An[j]) + xn[0] * (A[j] + g * Ap[j])
                d = c.sum() + b[j] + g * bn[j]
            else:
                continue
            out += c / stab(d, rule.stabilizer) * R[j]
        return out
    if isinstance(rule, ZBox):
        c = x[None, :] * A - rule.low * Ap - rule.high * An
        d = c.sum(1)
        return (c / stab(d, rule.stabilizer)[:, None] * R[:, None]).sum(0)
    if isinstance(rule, Flat):
        c = A1
        d = c.sum(1)
        return (c / stab(d, rule.stabilizer)[:, None] * R[:, None]).sum(0)
    if isinstance(rule, WSquare):
        c = A ** 2
        d = c.sum(1) + b ** 2
        return (c / stab(d, rule.stabilizer)[:, None] * R[:, None]).sum(0)
    raise AssertionError(rule)


RULES = [
    ZeroRule(), Epsilon(), Epsilon(0.3), ZPlus(), AlphaBeta(), AlphaBeta(1, 0), AlphaBeta(3, 2), Gamma(),
    Gamma(1.0), ZBox(0.0, 1.0), ZBox(-0.5, 2.0), Flat(), WSquare(),
]

LAYERS = {
    "conv_valid": lambda: nn.Conv1d(3, 4, 3),
    "conv_same_dil": lambda: nn.Conv1d(3, 4, 4, dilation=2, padding="same"),
    "conv_stride_groups": lambda: nn.Conv1d(4, 6, 4, stride=2, padding=1, groups=2),
    "linear": lambda: nn.Linear(7, 5),
}
IN_SHAPES = {"conv_valid": (3, 9), "conv_same_dil": (3, 9), "conv_stride_groups": (4, 10), "linear": (7,)}


def _seed(*parts):
    """A seed fixed across processes (``hash`` of a str is salted per process)."""
    return zlib.crc32(repr(parts).encode())


def _layer_matrices(layer_name, layer, in_shape, out_shape):
    """The layer as a dense matrix ``A`` (outputs x inputs), its connectivity ``A1`` (1 where
    an input reaches an output) and the bias per flattened output."""
    A = _dense_matrix(layer, in_shape)
    ones_layer = LAYERS[layer_name]().double()
    with torch.no_grad():
        ones_layer.load_state_dict(layer.state_dict())
        ones_layer.weight.fill_(1.0)
    A1 = (_dense_matrix(ones_layer, in_shape) != 0).double()
    b = layer.bias.detach()
    if layer_name != "linear":
        b = b[:, None].expand(tuple(out_shape)).reshape(-1)
    return A, A1, b


@pytest.mark.parametrize("layer_name", list(LAYERS))
@pytest.mark.parametrize("rule", RULES, ids=repr)
@pytest.mark.parametrize("signed_input", [False, True], ids=["x>=0", "x signed"])
def test_rule_matches_matrix_reference(layer_name, rule, signed_input):
    torch.manual_seed(_seed(layer_name, rule, signed_input))
    layer = LAYERS[layer_name]().double()
    with torch.no_grad():
        layer.bias.normal_(0, 0.5)
    in_shape = IN_SHAPES[layer_name]
    N = 2
    x = torch.randn((N,) + in_shape, dtype=D)
    if not signed_input:
        x = x.clamp(min=0) + (torch.rand_like(x) < 0.3) * 0.0
    model = nn.Sequential(layer).eval()
    with torch.no_grad():
        C = torch.randn_like(model(x[:1])[0])
    comp = Composite(layer_map={(nn.Conv1d, nn.Linear): rule})
    R = sl.lrp(model, x, target=lambda out: (out * C).reshape(out.shape[0], -1).sum(1), composite=comp)
    assert R.shape == x.shape and R.dtype == x.dtype

    with torch.no_grad():
        out = model(x)
    A, A1, b = _layer_matrices(layer_name, layer, in_shape, out.shape[1:])
    for n in range(N):
        Rj = (out[n] * C).reshape(-1)
        ref = _reference(rule, A, A1, b, x[n].reshape(-1), Rj).reshape(in_shape)
        scale = ref.abs().max().clamp(min=1e-12).item()
        assert torch.allclose(R[n], ref, rtol=1e-5, atol=1e-5 * float(scale)), (n, (R[n] - ref).abs().max())


def test_alphabeta_requires_alpha_minus_beta_one():
    with pytest.raises(ValueError, match="alpha - beta"):
        AlphaBeta(2, 2)
    with pytest.raises(ValueError):
        AlphaBeta(-1, -2)


def test_zero_rule_zero_denominator_gives_zero_not_nan():
    layer = nn.Linear(3, 2, bias=False).double()
    model = nn.Sequential(layer)
    x = torch.zeros(2, 3, dtype=D)
    R = sl.lrp(model, x, target=0, composite="zero")
    assert torch.isfinite(R).all() and (R == 0).all()


def test_rule_defaults_match_zennit():
    assert Epsilon().epsilon == 1e-6
    assert Gamma().gamma == 0.25 and Gamma().stabilizer == 1e-6
    ab = AlphaBeta()
    assert (ab.alpha, ab.beta) == (2.0, 1.0)
    assert ZPlus().stabilizer == 1e-6


@pytest.mark.parametrize("layer_name", list(LAYERS))
@pytest.mark.parametrize("rule", [Gamma(), Gamma(1.0), Epsilon(), ZPlus()], ids=repr)
def test_rule_after_relu_matches_matrix_reference(layer_name, rule):
    """A ReLU after the layer zeroes the relevance of every negative output (gamma then
    skips its negative-output branch): the result still equals the matrix reference."""
    torch.manual_seed(_seed("relu", layer_name, rule))
    layer = LAYERS[layer_name]().double()
    with torch.no_grad():
        layer.bias.normal_(0, 0.5)
    in_shape = IN_SHAPES[layer_name]
    x = torch.randn((3,) + in_shape, dtype=D).clamp(min=0)
    model = nn.Sequential(layer, nn.ReLU()).eval()
    with torch.no_grad():
        out = layer(x)
        C = torch.randn_like(out[0])
    assert bool((out < 0).any()) and bool((out > 0).any())
    comp = Composite(layer_map={(nn.Conv1d, nn.Linear): rule})
    R = sl.lrp(model, x, target=lambda o: (o * C).reshape(o.shape[0], -1).sum(1), composite=comp)
    A, A1, b = _layer_matrices(layer_name, layer, in_shape, out.shape[1:])
    for n in range(x.shape[0]):
        Rj = (out[n].clamp(min=0) * C).reshape(-1)
        ref = _reference(rule, A, A1, b, x[n].reshape(-1), Rj).reshape(in_shape)
        scale = ref.abs().max().clamp(min=1e-12).item()
        assert torch.allclose(R[n], ref, rtol=1e-5, atol=1e-5 * float(scale)), (n, (R[n] - ref).abs().max())
