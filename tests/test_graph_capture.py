"""Graph capture: one-line torch.fx failures naming module, line and fix; constants; defaults; dead outputs."""

import pytest
import torch
from torch import nn

import sparselrp as sl
from sparselrp.errors import UnsupportedOperationError


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return x


class WithGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Gate())
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(self.blocks(x).mean(-1))


class Length(nn.Module):
    def forward(self, x):
        return x[:, :, :len(x)].sum(-1)


class ToInt(nn.Module):
    def forward(self, x):
        return x[:, :, :int(x.sum())].sum(-1)


@pytest.mark.parametrize("model, construct, where, fix", [
    (WithGate(), "a Python if/while/and/or/not on a tensor value", "Gate.forward (module 'blocks.0')",
     "torch.where"),
    (Length(), "len() of a tensor", "Length.forward", "x.shape[0]"),
    (ToInt(), "converting a tensor to a Python number", "ToInt.forward", "compute it from shapes"),
], ids=["if", "len", "int"])
def test_capture_failure_is_one_line_naming_module_construct_and_fix(model, construct, where, fix):
    with pytest.raises(UnsupportedOperationError) as info:
        sl.lrp(model, torch.zeros(2, 4, 10))
    msg = str(info.value)
    assert "\n" not in msg
    assert construct in msg and where in msg and fix in msg
    assert "test_graph_capture.py line" in msg      # the file and line of the construct


def test_capture_failure_from_the_cli_is_one_line(tmp_path):
    import numpy as np
    from click.testing import CliRunner

    from sparselrp.cli import main

    torch.save(WithGate().state_dict(), tmp_path / "w.pt")
    np.savez_compressed(tmp_path / "ohe.npz", arr_0=np.eye(4, dtype=np.float32)[np.zeros((2, 10), int)]
                        .transpose(0, 2, 1).copy())
    r = CliRunner().invoke(main, ["attribute", "--model-class", "test_graph_capture:WithGate", "--weights",
                                  str(tmp_path / "w.pt"), "-s", str(tmp_path / "ohe.npz"), "-o", str(tmp_path / "a.npz")])
    assert r.exit_code == 1
    err = r.stderr.strip()
    assert "\n" not in err and "a Python if/while/and/or/not on a tensor value in Gate.forward" in err


class DetachedWeights(nn.Module):
    """sum_l softmax(z).detach()_l * z_l: the weights are constants of the relevance pass."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 5, padding=2, bias=False).double()

    def forward(self, x):
        z = self.conv(x)
        w = torch.softmax(z, dim=-1).detach()
        return (w * z).sum(-1)


def test_detached_tensors_are_constants():
    torch.manual_seed(0)
    model = DetachedWeights()
    X = torch.eye(4, dtype=torch.float64)[torch.randint(0, 4, (3, 20))].transpose(1, 2).contiguous()
    R = sl.lrp(model, X, target=1, composite="zero", device="cpu")
    Xg = X.clone().requires_grad_(True)
    model(Xg)[:, 1].sum().backward()      # autograd holds the detached weights fixed too
    torch.testing.assert_close(R, Xg.grad * X)


def test_zoo_bpnet_weighted_profile_score_is_explained():
    torch.manual_seed(1)
    bpnet = sl.models.BPNet(n_targets=2, n_filters=6, n_layers=2, conv_kernel=5, profile_kernel=7).double().eval()
    with torch.no_grad():
        for name, p in bpnet.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    wrapped = sl.models.ProfileWrapper(bpnet, reduce="weighted")
    X = torch.eye(4, dtype=torch.float64)[torch.randint(0, 4, (2, 50))].transpose(1, 2).contiguous()
    R = sl.lrp(wrapped, X, target=0, composite="zero", device="cpu")
    Xg = X.clone().requires_grad_(True)
    wrapped(Xg)[:, 0].sum().backward()
    torch.testing.assert_close(R, Xg.grad * X)
    torch.testing.assert_close(R.sum((1, 2)), wrapped(X)[:, 0].detach())


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.aux = nn.Conv1d(1, 3, 3)

    def forward(self, x, track=None, scale=2.0):
        h = self.conv(x)
        if track is not None:
            h = h + self.aux(track)
        return (h * scale).amax(-1)


def test_extra_arguments_with_defaults_are_traced_at_their_default():
    model = TwoInputs().eval()
    X = torch.eye(4)[torch.randint(0, 4, (2, 12))].transpose(1, 2).contiguous()
    R, f = sl.LRP(model, device="cpu").attribute(X, target=2, return_output=True)
    torch.testing.assert_close(f, model(X)[:, 2].detach())


class NeedsTwo(nn.Module):
    def forward(self, x, y):
        return x.sum(-1) + y.sum(-1)


def test_a_second_input_without_default_is_refused():
    with pytest.raises(UnsupportedOperationError, match="more than one input"):
        sl.lrp(NeedsTwo(), torch.zeros(1, 4, 5))


class UnusedExp(nn.Module):
    """An output computed but not returned (e.g. a count head beside the profile) needs no rule."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        unused = torch.exp(h).sum(-1)  # noqa: F841
        return h.sum(-1)


def test_dead_nodes_are_not_classified():
    X = torch.eye(4)[torch.randint(0, 4, (2, 12))].transpose(1, 2).contiguous()
    assert sl.lrp(UnusedExp(), X, device="cpu").shape == X.shape


class InPlaceStatements(nn.Module):
    """In-place updates written as statements (their results unused)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.fc = nn.Linear(3, 1)

    def forward(self, x):
        h1 = self.conv(x)
        h1.relu_()
        h2 = self.conv(x)
        torch.nn.functional.relu(h2, inplace=True)
        h3 = self.conv(x)
        torch.relu_(h3)
        return self.fc((h1 + h2 + h3).mean(-1))


def test_in_place_statements_are_followed():
    torch.manual_seed(0)
    model = InPlaceStatements().eval()
    X = torch.eye(4)[torch.randint(0, 4, (3, 10))].transpose(1, 2).contiguous()
    R, f = sl.LRP(model, device="cpu").attribute(X, return_output=True)
    torch.testing.assert_close(f, model(X)[:, 0].detach())
