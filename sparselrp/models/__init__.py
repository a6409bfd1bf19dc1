"""Convolutional genome models, safe model files, training and a pretrained CTCF model.

>>> import sparselrp as sl
>>> model = sl.models.ZOO["small_cnn"]()          # (N, 4, 200) -> (N, 1)
>>> sl.models.save(model, "my_model")             # doctest: +SKIP
>>> model = sl.models.load("my_model")            # doctest: +SKIP
>>> ctcf = sl.models.pretrained("ctcf")           # doctest: +SKIP
>>> m = sl.models.from_bpnetlite(bpnet, head="profile")   # doctest: +SKIP
"""

import importlib

from .bpnetlite import BPNetLiteHead, from_bpnetlite, load_bpnetlite
from .io import class_path, import_model_class, load, load_state_dict, read_config, save
from .pretrained import PRETRAINED, pretrained
from .wrappers import CountWrapper, ProfileWrapper
from .zoo import ALIASES, ZOO, Basset, BPNet, DeepSEA, SmallCNN, get_architecture

# Training pulls in the sequence and genome modules; import it on first use.
_LAZY = {
    "train": "train",
    "fit": "train",
    "train_ctcf_model": "train",
    "TrainingResult": "train",
    "auroc": "train",
}

__all__ = [
    "ZOO", "ALIASES", "get_architecture", "DeepSEA", "Basset", "BPNet", "SmallCNN",
    "CountWrapper", "ProfileWrapper", "save", "load", "load_state_dict", "read_config", "class_path",
    "import_model_class", "from_bpnetlite", "load_bpnetlite", "BPNetLiteHead",
    "pretrained", "PRETRAINED", *sorted(_LAZY),
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sparselrp.models' has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | set(globals()))
