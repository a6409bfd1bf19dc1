"""strand_pairs: which output of the reverse strand answers a target, on a stranded toy model."""

import pytest
import torch
from torch import nn

import sparselrp as sl
from sparselrp.lrp.targets import normalize_strand_pairs, reverse_strand_target

L = 60


class Stranded(nn.Module):
    """Outputs (plus-strand score, minus-strand score): output 1 uses the reverse complements of
    output 0's filters, so output 1 on the reverse-complement input equals output 0 on the input."""

    def __init__(self, n_filters=4, k=7, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(n_filters, 4, k, generator=g, dtype=torch.float64)
        b = torch.randn(n_filters, generator=g, dtype=torch.float64) * 0.1
        self.conv = nn.Conv1d(4, 2 * n_filters, k).double()
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(2 * n_filters, 2).double()
        a = torch.randn(n_filters, generator=g, dtype=torch.float64)
        with torch.no_grad():
            self.conv.weight.copy_(torch.cat([w, w.flip(1, 2)]))
            self.conv.bias.copy_(torch.cat([b, b]))
            self.fc.weight.zero_()
            self.fc.weight[0, :n_filters] = a
            self.fc.weight[1, n_filters:] = a
            self.fc.bias.fill_(0.3)

    def forward(self, X):
        return self.fc(self.pool(torch.relu(self.conv(X))).flatten(1))


def one_hot(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.eye(4, dtype=torch.float64)[torch.randint(0, 4, (n, L), generator=g)].transpose(1, 2).contiguous()


@pytest.mark.parametrize("pruning", [None, sl.TopK(8)], ids=["lrp", "topk"])
def test_paired_strand_average_equals_the_forward_strand(pruning):
    model = Stranded().eval()
    X = one_hot(5, 1)
    out, out_rc = model(X), model(X.flip(1, 2))
    torch.testing.assert_close(out_rc[:, 1], out[:, 0])     # the toy model is stranded as claimed
    explainer = sl.LRP(model, pruning=pruning, device="cpu")
    for t in (0, 1):
        R, f = explainer.attribute(X, target=t, return_output=True)
        Rp, fp = explainer.attribute(X, target=t, strand_average=True, strand_pairs=[1, 0], return_output=True)
        # the reverse strand answers with the paired output: the same evidence, so the average is the map
        torch.testing.assert_close(Rp, R, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(fp, f)
        # without pairs the reverse strand explains the other strand's output: a different map and value
        Ru, fu = explainer.attribute(X, target=t, strand_average=True, return_output=True)
        torch.testing.assert_close(fu, 0.5 * (out[:, 0] + out[:, 1]).detach())
        assert (Ru - R).abs().max() > 1e-3


def test_pairs_through_lrp_and_attribute_many_and_per_sample_targets():
    model = Stranded(seed=2).eval()
    X = one_hot(6, 3)
    per_sample = [0, 1, 1, 0, 1, 0]
    R = sl.lrp(model, X, target=per_sample, strand_average=True, strand_pairs={0: 1, 1: 0}, device="cpu")
    torch.testing.assert_close(R, sl.lrp(model, X, target=per_sample, device="cpu"), rtol=1e-9, atol=1e-12)
    many = sl.LRP(model, device="cpu").attribute_many(X, [0, 1, per_sample], strand_average=True,
                                                      strand_pairs=[1, 0], batch_size=4)
    for t, Rm in zip([0, 1, per_sample], many):
        torch.testing.assert_close(Rm, sl.lrp(model, X, target=t, device="cpu"), rtol=1e-9, atol=1e-12)


def test_strand_pairs_validation():
    assert normalize_strand_pairs(None) is None
    assert normalize_strand_pairs([1, 0, 2]) == {0: 1, 1: 0, 2: 2}
    assert reverse_strand_target(2, {0: 1, 1: 0}) == 2
    assert reverse_strand_target(torch.tensor([0, 1, 2]), {0: 1, 1: 0}).tolist() == [1, 0, 2]
    for bad, msg in [([0, 0], "same reverse-strand output"), ([1, 2], "permutation"), ({0: -1}, "ints >= 0"),
                     (3, "sequence of output indices")]:
        with pytest.raises(ValueError, match=msg):
            normalize_strand_pairs(bad)
    model = Stranded().eval()
    X = one_hot(2, 4)
    with pytest.raises(ValueError, match="only with strand_average"):
        sl.lrp(model, X, strand_pairs=[1, 0], device="cpu")
    with pytest.raises(ValueError, match="callable target"):
        sl.lrp(model, X, target=lambda o: o[:, 0], strand_average=True, strand_pairs=[1, 0], device="cpu")
    with pytest.raises(ValueError, match="out of range"):
        sl.lrp(model, X, target=0, strand_average=True, strand_pairs=[5, 0, 1, 2, 3, 4], device="cpu")


def test_plrp_passes_strand_pairs():
    model = Stranded(seed=3).eval()
    X = one_hot(4, 5)
    for t in (0, 1):
        Rp = sl.plrp(model, X, target=t, strand_average=True, strand_pairs=[1, 0], device="cpu")
        torch.testing.assert_close(Rp, sl.plrp(model, X, target=t, device="cpu"), rtol=1e-9, atol=1e-12)
