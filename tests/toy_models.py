"""Small genome-model architectures used by the LRP engine tests.

Three families, each small enough for float64 tests in milliseconds:

* :class:`DeepSEALike` - conv/ReLU/max-pool stack, dense head (valid convolutions).
* :class:`BassetLike` - conv + BatchNorm (foldable) stack, BatchNorm after a dense layer,
  optionally a BatchNorm after a ReLU (not foldable; explained as an affine layer).
* :class:`BPNetLike` - dilated residual convolutions ('same' padding), a global average
  pool and a dense count head; optionally a profile head as a second output.

Every model takes one-hot input ``(N, 4, L)``; ``bias=False`` builds a bias-free version
(BatchNorm shift terms are then zeroed too) for conservation tests.
``functional_deepsea(model)`` builds the same network as a functional forward.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def _randomise_bn(bn, generator, bias=True):
    with torch.no_grad():
        bn.weight.copy_(0.5 + torch.rand(bn.num_features, generator=generator))
        bn.running_var.copy_(0.5 + torch.rand(bn.num_features, generator=generator))
        if bias:
            bn.bias.copy_(0.3 * torch.randn(bn.num_features, generator=generator))
            bn.running_mean.copy_(0.3 * torch.randn(bn.num_features, generator=generator))
        else:
            bn.bias.zero_()
            bn.running_mean.zero_()


class DeepSEALike(nn.Module):
    """Conv(4->8,k5) ReLU MaxPool4 Conv(8->12,k5) ReLU MaxPool4 Conv(12->16,k5) ReLU
    Dropout Flatten Linear(->10) ReLU Linear(->n_out). Input (N, 4, L), output (N, n_out)."""

    def __init__(self, length=128, n_out=3, bias=True, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv1d(4, 8, 5, bias=bias)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(8, 12, 5, bias=bias)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool1d(4)
        self.conv3 = nn.Conv1d(12, 16, 5, bias=bias)
        self.relu3 = nn.ReLU()
        self.drop = nn.Dropout(0.2)
        self.flatten = nn.Flatten()
        lc = ((length - 4) // 4 - 4) // 4 - 4
        self.fc1 = nn.Linear(16 * lc, 10, bias=bias)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(10, n_out, bias=bias)
        if bias:
            with torch.no_grad():
                for m in (self.conv1, self.conv2, self.conv3, self.fc1, self.fc2):
                    m.bias.normal_(0, 0.1)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.drop(self.relu3(self.conv3(x)))
        x = self.relu4(self.fc1(self.flatten(x)))
        return self.fc2(x)


class FunctionalDeepSEA(nn.Module):
    """The same network as a :class:`DeepSEALike` written with functional calls.

    Shares the parameter tensors of ``model`` (no copy)."""

    def __init__(self, model):
        super().__init__()
        self.w1, self.b1 = model.conv1.weight, model.conv1.bias
        self.w2, self.b2 = model.conv2.weight, model.conv2.bias
        self.w3, self.b3 = model.conv3.weight, model.conv3.bias
        self.w4, self.b4 = model.fc1.weight, model.fc1.bias
        self.w5, self.b5 = model.fc2.weight, model.fc2.bias

    def forward(self, x):
        x = F.max_pool1d(torch.relu(F.conv1d(x, self.w1, self.b1)), 4)
        x = F.max_pool1d(F.relu(F.conv1d(x, self.w2, self.b2)), 4)
        x = F.dropout(F.relu(F.conv1d(x, self.w3, self.b3)), 0.2, training=self.training)
        x = x.view(x.size(0), -1)
        x = F.relu(F.linear(x, self.w4, self.b4))
        return F.linear(x, self.w5, self.b5)


def functional_deepsea(model):
    """A functional-form twin of ``model`` (a :class:`DeepSEALike`)."""
    return FunctionalDeepSEA(model).eval()


class BassetLike(nn.Module):
    """Conv(4->8,k7,pad3) BN ReLU MaxPool3 Conv(8->8,k5,pad2) BN ReLU MaxPool4 Flatten
    Linear(->16) BN ReLU Dropout Linear(->n_out). With ``bn_after_relu`` an extra
    BatchNorm follows the second ReLU (cannot be folded). Input (N, 4, L)."""

    def __init__(self, length=120, n_out=4, bias=True, bn_after_relu=False, seed=1):
        super().__init__()
        g = torch.manual_seed(seed)
        self.conv1 = nn.Conv1d(4, 8, 7, padding=3, bias=bias)
        self.bn1 = nn.BatchNorm1d(8)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool1d(3)
        self.conv2 = nn.Conv1d(8, 8, 5, padding=2, bias=bias)
        self.bn2 = nn.BatchNorm1d(8)
        self.relu2 = nn.ReLU()
        self.bn_extra = nn.BatchNorm1d(8) if bn_after_relu else nn.Identity()
        self.pool2 = nn.MaxPool1d(4)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(8 * ((length // 3) // 4), 16, bias=bias)
        self.bn3 = nn.BatchNorm1d(16)
        self.relu3 = nn.ReLU()
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, n_out, bias=bias)
        bns = [self.bn1, self.bn2, self.bn3] + ([self.bn_extra] if bn_after_relu else [])
        for bn in bns:
            _randomise_bn(bn, g, bias=bias)
        self.eval()

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.bn_extra(self.relu2(self.bn2(self.conv2(x)))))
        x = self.drop(self.relu3(self.bn3(self.fc1(self.flatten(x)))))
        return self.fc2(x)


class BPNetLike(nn.Module):
    """Conv(4->8,k7,'same') ReLU, two dilated residual blocks x = x + relu(conv_d(x))
    (d = 2, 4, 'same'), then a count head Linear(mean over L) -> (N, n_out); with
    ``profile=True`` the forward returns ``(profile (N, 2, L), counts (N, n_out))``.

    ``sum_module=True`` writes the residual adds as ``Sum()(torch.stack([a, b], -1))``
    (the form zennit's ``Sum`` layer needs, used for the zennit comparison);
    ``pool_module=True`` pools with ``nn.AdaptiveAvgPool1d(1)`` instead of ``x.mean(-1)``
    (zennit only sees module-form pooling)."""

    def __init__(self, n_out=2, bias=True, profile=False, sum_module=None, pool_module=False, seed=2):
        super().__init__()
        torch.manual_seed(seed)
        self.conv0 = nn.Conv1d(4, 8, 7, padding="same", bias=bias)
        self.relu0 = nn.ReLU()
        self.dil1 = nn.Conv1d(8, 8, 3, dilation=2, padding=2, bias=bias)
        self.relu1 = nn.ReLU()
        self.dil2 = nn.Conv1d(8, 8, 3, dilation=4, padding="same", bias=bias)
        self.relu2 = nn.ReLU()
        self.profile_head = nn.Conv1d(8, 2, 5, padding=2, bias=bias)
        self.count_head = nn.Linear(8, n_out, bias=bias)
        self.profile = profile
        self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten()) if pool_module else None
        self.sum1 = sum_module() if sum_module is not None else None
        self.sum2 = sum_module() if sum_module is not None else None
        if bias:
            with torch.no_grad():
                for m in (self.conv0, self.dil1, self.dil2, self.profile_head, self.count_head):
                    m.bias.normal_(0, 0.1)

    def _add(self, s, a, b):
        if s is None:
            return a + b
        return s(torch.stack([a, b], dim=-1))

    def forward(self, x):
        x = self.relu0(self.conv0(x))
        x = self._add(self.sum1, x, self.relu1(self.dil1(x)))
        x = self._add(self.sum2, x, self.relu2(self.dil2(x)))
        pooled = x.mean(dim=-1) if self.pool is None else self.pool(x)
        counts = self.count_head(pooled)
        if self.profile:
            return self.profile_head(x), counts
        return counts


def random_onehot(n, length, seed=0, dtype=torch.float64, n_frac=0.0):
    """Random one-hot DNA (N, 4, L); a share ``n_frac`` of columns are N (all zero)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    X = F.one_hot(idx, 4).permute(0, 2, 1).to(dtype)
    if n_frac > 0:
        mask = torch.rand(n, 1, length, generator=g) < n_frac
        X = X.masked_fill(mask, 0.0)
    return X.contiguous()


TOY_MODELS = {
    "deepsea": lambda **kw: DeepSEALike(**kw).eval(),
    "basset": lambda **kw: BassetLike(**kw).eval(),
    "bpnet": lambda **kw: BPNetLike(**kw).eval(),
}
TOY_LENGTHS = {"deepsea": 128, "basset": 120, "bpnet": 64}
