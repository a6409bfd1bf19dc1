"""A small zoo of convolutional genome models.

Every class here builds with no arguments, exposes its default input length as
``seq_len``, takes a one-hot batch ``X`` of shape ``(N, 4, L)`` and returns one
``(N, T)`` tensor of logits (``T = n_targets``). Each records its constructor
arguments in ``self.config`` so that :func:`sparselrp.models.save` can write
them to ``config.json``.

The models use only operations that the LRP engine explains: ``Conv1d``,
``Linear``, ``BatchNorm1d``, ``ReLU``, ``MaxPool1d``, adaptive pooling,
``Dropout``, ``Flatten``, residual adds and cropping (slicing).

=============  ==========================  ========  =========  ===========
name           class                       seq_len   n_targets  parameters
=============  ==========================  ========  =========  ===========
"deepsea"      :class:`DeepSEA`            1000      919        ~52 M
"basset"       :class:`Basset`             600       164        ~4.1 M
"bpnet"        :class:`BPNet`              1000      1          ~0.11 M
"small_cnn"    :class:`SmallCNN`           200       1          ~7 K
=============  ==========================  ========  =========  ===========
"""

from torch import nn

__all__ = ["DeepSEA", "Basset", "BPNet", "SmallCNN", "ZOO", "ALIASES", "get_architecture"]


def _as_tuple(value, n, name):
    if isinstance(value, (int, float)):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{name} must have {n} entries, got {len(value)}")
    return value


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class DeepSEA(nn.Module):
    """DeepSEA-like classifier (Zhou & Troyanskaya 2015): three convolutions and two dense layers.

    ``conv(k) -> ReLU -> MaxPool(pool) -> Dropout`` twice, ``conv(k) -> ReLU -> Dropout``,
    then ``Flatten -> Linear(hidden) -> ReLU -> Linear(n_targets)``. Convolutions are
    unpadded ("valid"), so the dense layer's width depends on ``seq_len``.

    Parameters
    ----------
    n_targets : int, default 919
        Number of outputs ``T`` (chromatin profiles in the original).
    seq_len : int, default 1000
        Input length ``L`` the model is built for.
    channels : tuple of 3 int, default (320, 480, 960)
        Filters of the three convolutions.
    kernel_size : int, default 8
        Width of every convolution.
    pool : int, default 4
        Max-pooling width and stride after the first two convolutions.
    hidden : int, default 925
        Width of the hidden dense layer.
    dropout : tuple of 2 float, default (0.2, 0.5)
        Dropout after the first two and after the third convolution.

    Shapes
    ------
    input ``(N, 4, seq_len)`` -> output ``(N, n_targets)`` logits.
    """

    arch = "deepsea"

    def __init__(self, n_targets=919, seq_len=1000, channels=(320, 480, 960), kernel_size=8, pool=4,
                 hidden=925, dropout=(0.2, 0.5)):
        super().__init__()
        channels = tuple(int(c) for c in _as_tuple(channels, 3, "channels"))
        dropout = tuple(float(d) for d in _as_tuple(dropout, 2, "dropout"))
        _check_positive(n_targets=n_targets, seq_len=seq_len, kernel_size=kernel_size, pool=pool, hidden=hidden)
        self.config = dict(n_targets=n_targets, seq_len=seq_len, channels=list(channels), kernel_size=kernel_size,
                           pool=pool, hidden=hidden, dropout=list(dropout))
        self.seq_len = seq_len
        self.n_targets = n_targets
        length = (seq_len - kernel_size + 1) // pool
        length = (length - kernel_size + 1) // pool
        length = length - kernel_size + 1
        if length < 1:
            raise ValueError(f"seq_len={seq_len} is too short for DeepSEA with kernel_size={kernel_size}, pool={pool}")
        self.body = nn.Sequential(
            nn.Conv1d(4, channels[0], kernel_size), nn.ReLU(), nn.MaxPool1d(pool), nn.Dropout(dropout[0]),
            nn.Conv1d(channels[0], channels[1], kernel_size), nn.ReLU(), nn.MaxPool1d(pool), nn.Dropout(dropout[0]),
            nn.Conv1d(channels[1], channels[2], kernel_size), nn.ReLU(), nn.Dropout(dropout[1]),
            nn.Flatten(),
            nn.Linear(channels[2] * length, hidden), nn.ReLU(),
            nn.Linear(hidden, n_targets),
        )

    def forward(self, X):
        """``(N, 4, seq_len)`` -> ``(N, n_targets)`` logits."""
        return self.body(X)


class Basset(nn.Module):
    """Basset-like classifier (Kelley et al. 2016) with BatchNorm after every layer.

    Three blocks ``Conv1d -> BatchNorm1d -> ReLU -> MaxPool1d`` (unpadded
    convolutions), then two blocks ``Linear -> BatchNorm1d -> ReLU -> Dropout`` and a
    final ``Linear(n_targets)``. Every BatchNorm directly follows a convolution or
    linear layer, so the LRP engine folds it into that layer.

    Parameters
    ----------
    n_targets : int, default 164
        Number of outputs ``T`` (DNase-seq cell types in the original).
    seq_len : int, default 600
        Input length ``L``.
    channels : tuple of 3 int, default (300, 200, 200)
        Filters of the three convolutions.
    kernel_sizes : tuple of 3 int, default (19, 11, 7)
        Convolution widths.
    pools : tuple of 3 int, default (3, 4, 4)
        Max-pooling widths (= strides).
    hidden : tuple of int, default (1000, 1000)
        Widths of the hidden dense layers.
    dropout : float, default 0.3
        Dropout after each hidden dense layer.

    Shapes
    ------
    input ``(N, 4, seq_len)`` -> output ``(N, n_targets)`` logits.
    """

    arch = "basset"

    def __init__(self, n_targets=164, seq_len=600, channels=(300, 200, 200), kernel_sizes=(19, 11, 7),
                 pools=(3, 4, 4), hidden=(1000, 1000), dropout=0.3):
        super().__init__()
        channels = [int(c) for c in _as_tuple(channels, 3, "channels")]
        kernel_sizes = [int(k) for k in _as_tuple(kernel_sizes, 3, "kernel_sizes")]
        pools = [int(p) for p in _as_tuple(pools, 3, "pools")]
        hidden = [int(h) for h in ((hidden,) if isinstance(hidden, int) else hidden)]
        _check_positive(n_targets=n_targets, seq_len=seq_len)
        self.config = dict(n_targets=n_targets, seq_len=seq_len, channels=channels, kernel_sizes=kernel_sizes,
                           pools=pools, hidden=hidden, dropout=float(dropout))
        self.seq_len = seq_len
        self.n_targets = n_targets
        layers, c_in, length = [], 4, seq_len
        for c, k, p in zip(channels, kernel_sizes, pools):
            layers += [nn.Conv1d(c_in, c, k), nn.BatchNorm1d(c), nn.ReLU(), nn.MaxPool1d(p)]
            c_in, length = c, (length - k + 1) // p
        if length < 1:
            raise ValueError(f"seq_len={seq_len} is too short for Basset with kernel_sizes={kernel_sizes}, "
                             f"pools={pools}")
        layers.append(nn.Flatten())
        width = c_in * length
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_targets))
        self.body = nn.Sequential(*layers)

    def forward(self, X):
        """``(N, 4, seq_len)`` -> ``(N, n_targets)`` logits."""
        return self.body(X)


class BPNet(nn.Module):
    """BPNet-like dilated residual network (Avsec et al. 2021) with profile and count heads.

    ``Conv1d(conv_kernel) -> ReLU``, then ``n_layers`` residual blocks
    ``x = x + ReLU(Conv1d(dil_kernel, dilation=2**i)(x))``; all convolutions are
    'same'-padded. The trunk output is cropped by ``trim`` positions at each end.

    - Profile head: ``Conv1d(n_filters -> n_targets, profile_kernel)`` ('same'), giving
      per-position logits ``(N, n_targets, L - 2*trim)``; see :meth:`profile`.
    - Count head: ``AdaptiveAvgPool1d(1) -> Flatten -> Linear(n_filters -> n_targets)``
      on the cropped trunk, giving ``(N, n_targets)`` (log total counts); see
      :meth:`counts`.

    ``forward`` returns the count head so the model fits the ``(N, T)`` contract;
    :class:`~sparselrp.models.ProfileWrapper` and
    :class:`~sparselrp.models.CountWrapper` choose a head explicitly.

    Parameters
    ----------
    n_targets : int, default 1
        Number of tracks ``T`` (e.g. strands or experiments).
    seq_len : int, default 1000
        Default input length (the network itself accepts any length > 2 * trim).
    n_filters : int, default 64
        Channels of the trunk.
    n_layers : int, default 8
        Dilated residual blocks (dilations 2, 4, ..., 2**n_layers).
    conv_kernel : int, default 21
        Width of the first convolution (odd).
    dil_kernel : int, default 3
        Width of the dilated convolutions (odd).
    profile_kernel : int, default 75
        Width of the profile head convolution (odd).
    trim : int, default 0
        Positions cropped from each end before the heads.

    Shapes
    ------
    input ``(N, 4, L)`` -> ``forward``: ``(N, n_targets)``; ``profile``:
    ``(N, n_targets, L - 2*trim)``.
    """

    arch = "bpnet"

    def __init__(self, n_targets=1, seq_len=1000, n_filters=64, n_layers=8, conv_kernel=21, dil_kernel=3,
                 profile_kernel=75, trim=0):
        super().__init__()
        _check_positive(n_targets=n_targets, seq_len=seq_len, n_filters=n_filters, conv_kernel=conv_kernel,
                        dil_kernel=dil_kernel, profile_kernel=profile_kernel)
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 0:
            raise ValueError(f"n_layers must be a non-negative integer, got {n_layers!r}")
        for name, k in (("conv_kernel", conv_kernel), ("dil_kernel", dil_kernel), ("profile_kernel", profile_kernel)):
            if k % 2 == 0:
                raise ValueError(f"{name} must be odd for 'same' padding, got {k}")
        if isinstance(trim, bool) or not isinstance(trim, int) or trim < 0 or 2 * trim >= seq_len:
            raise ValueError(f"trim must be an integer in [0, seq_len/2), got {trim!r}")
        self.config = dict(n_targets=n_targets, seq_len=seq_len, n_filters=n_filters, n_layers=n_layers,
                           conv_kernel=conv_kernel, dil_kernel=dil_kernel, profile_kernel=profile_kernel, trim=trim)
        self.seq_len = seq_len
        self.n_targets = n_targets
        self.trim = trim
        self.iconv = nn.Conv1d(4, n_filters, conv_kernel, padding=conv_kernel // 2)
        self.irelu = nn.ReLU()
        self.rconvs = nn.ModuleList(
            nn.Conv1d(n_filters, n_filters, dil_kernel, dilation=2 ** (i + 1), padding=(dil_kernel // 2) * 2 ** (i + 1))
            for i in range(n_layers)
        )
        self.rrelus = nn.ModuleList(nn.ReLU() for _ in range(n_layers))
        self.fconv = nn.Conv1d(n_filters, n_targets, profile_kernel, padding=profile_kernel // 2)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(n_filters, n_targets)

    def trunk(self, X):
        """Cropped trunk features: ``(N, 4, L)`` -> ``(N, n_filters, L - 2*trim)``."""
        x = self.irelu(self.iconv(X))
        for conv, relu in zip(self.rconvs, self.rrelus):
            x = x + relu(conv(x))
        if self.trim:
            x = x[:, :, self.trim:x.shape[-1] - self.trim]
        return x

    def profile(self, X):
        """Profile logits: ``(N, 4, L)`` -> ``(N, n_targets, L - 2*trim)``."""
        return self.fconv(self.trunk(X))

    def counts(self, X):
        """Count head (log counts): ``(N, 4, L)`` -> ``(N, n_targets)``."""
        return self.linear(self.flatten(self.pool(self.trunk(X))))

    def profile_and_counts(self, X):
        """Both heads from one trunk pass: ``((N, T, L - 2*trim), (N, T))``."""
        x = self.trunk(X)
        return self.fconv(x), self.linear(self.flatten(self.pool(x)))

    def forward(self, X):
        """``(N, 4, L)`` -> ``(N, n_targets)``: the count head."""
        return self.counts(X)


class SmallCNN(nn.Module):
    """A tiny, fast CNN for demos and quick experiments (the CTCF demo model).

    ``Conv1d(4 -> n_filters, kernel_size)`` (unpadded) ``-> ReLU -> AdaptiveMaxPool1d(1)``
    (global max, or ``AdaptiveAvgPool1d`` with ``pool="avg"``) ``-> Flatten ->
    Linear(hidden) -> ReLU -> Dropout -> Linear(n_targets)``; with ``hidden=0`` the
    pooled filters feed the output layer directly. Global pooling makes it accept any
    input length >= ``kernel_size``.

    Parameters
    ----------
    n_targets : int, default 1
        Number of outputs ``T``.
    seq_len : int, default 200
        Default input length (CTCF peak windows).
    n_filters : int, default 64
        Convolution filters (motif detectors).
    kernel_size : int, default 19
        Filter width.
    hidden : int, default 32
        Hidden dense units (0: none).
    dropout : float, default 0.1
        Dropout before the output layer.
    pool : {"max", "avg"}, default "max"
        Global pooling over positions.

    Shapes
    ------
    input ``(N, 4, L)`` -> output ``(N, n_targets)`` logits.
    """

    arch = "small_cnn"

    def __init__(self, n_targets=1, seq_len=200, n_filters=64, kernel_size=19, hidden=32, dropout=0.1, pool="max"):
        super().__init__()
        _check_positive(n_targets=n_targets, seq_len=seq_len, n_filters=n_filters, kernel_size=kernel_size)
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ValueError(f"hidden must be a non-negative integer, got {hidden!r}")
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        if kernel_size > seq_len:
            raise ValueError(f"kernel_size={kernel_size} is longer than seq_len={seq_len}")
        self.config = dict(n_targets=n_targets, seq_len=seq_len, n_filters=n_filters, kernel_size=kernel_size,
                           hidden=hidden, dropout=float(dropout), pool=pool)
        self.seq_len = seq_len
        self.n_targets = n_targets
        layers = [nn.Conv1d(4, n_filters, kernel_size), nn.ReLU(),
                  nn.AdaptiveMaxPool1d(1) if pool == "max" else nn.AdaptiveAvgPool1d(1), nn.Flatten()]
        if hidden:
            layers += [nn.Linear(n_filters, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_targets)]
        else:
            layers += [nn.Dropout(dropout), nn.Linear(n_filters, n_targets)]
        self.body = nn.Sequential(*layers)

    def forward(self, X):
        """``(N, 4, L)`` -> ``(N, n_targets)`` logits."""
        return self.body(X)


#: Zoo name -> model class. Every class builds with no arguments.
ZOO = {
    "deepsea": DeepSEA,
    "basset": Basset,
    "bpnet": BPNet,
    "small_cnn": SmallCNN,
}

#: Other accepted spellings of zoo names (``get_architecture`` resolves them).
ALIASES = {
    "deepsea_like": "deepsea",
    "basset_like": "basset",
    "bpnet_like": "bpnet",
    "small-cnn": "small_cnn",
    "smallcnn": "small_cnn",
    "cnn": "small_cnn",
}


def get_architecture(name):
    """Return the zoo class for ``name`` (case-insensitive; aliases accepted).

    Raises
    ------
    KeyError
        For an unknown name; the message lists the known ones.
    """
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in ZOO:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(sorted(ZOO))}")
    return ZOO[key]
