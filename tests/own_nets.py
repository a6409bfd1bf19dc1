"""Model classes of "a lab's own package", imported by name (own_nets:Class) in the save/load and CLI tests."""

import torch
from torch import nn


class TwoConvNet(nn.Module):
    """Conv -> ReLU -> residual conv block -> global max -> dense: ``(N, 4, L) -> (N, n_targets)``."""

    def __init__(self, n_filters=6, n_targets=2, kernel_size=5):
        super().__init__()
        self.conv1 = nn.Conv1d(4, n_filters, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(n_filters, n_filters, 3, padding=1)
        self.fc = nn.Linear(n_filters, n_targets)

    def forward(self, X):
        h = torch.relu(self.conv1(X))
        h = h + torch.relu(self.conv2(h))
        return self.fc(h.amax(dim=-1))


class StrandedNet(nn.Module):
    """Outputs (plus strand, minus strand): the minus-strand filters are the reverse complements of the
    plus-strand ones, so output 1 of the reverse-complement input equals output 0 of the input."""

    def __init__(self, n_filters=4, kernel_size=7, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(n_filters, 4, kernel_size, generator=g)
        a = torch.randn(n_filters, generator=g)
        self.conv = nn.Conv1d(4, 2 * n_filters, kernel_size)
        self.fc = nn.Linear(2 * n_filters, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.cat([w, w.flip(1, 2)]))
            self.conv.bias.zero_()
            self.fc.weight.zero_()
            self.fc.weight[0, :n_filters] = a
            self.fc.weight[1, n_filters:] = a
            self.fc.bias.fill_(0.1)

    def forward(self, X):
        return self.fc(torch.relu(self.conv(X)).mean(dim=-1))
