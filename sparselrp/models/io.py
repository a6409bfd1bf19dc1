"""Safe model files: safetensors weights plus a JSON config.

A model directory holds

- ``config.json``: ``{"format": "sparselrp-model", "format_version": 1,
  "architecture": "<zoo name>", "kwargs": {...constructor arguments...},
  "seq_len": L, "sparselrp_version": "...", "weights": "model.safetensors",
  "metadata": {...}}``
- ``model.safetensors``: the state dict (tensors only; no code can run on load).

:func:`load` also reads a torch state-dict file (``.pt``/``.pth``, always with
``torch.load(..., weights_only=True)``), so a pickle that would run code is refused.
Nothing here ever unpickles arbitrary objects.
"""

import inspect
import json
import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from .._atomic import atomic_open, atomic_path
from ..errors import ModelFileError
from .zoo import ZOO, get_architecture

__all__ = ["save", "load", "load_state_dict", "read_config", "CONFIG_NAME", "WEIGHTS_NAME"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "sparselrp-model"
FORMAT_VERSION = 1
_STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def _version():
    from .. import __version__

    return __version__


def _jsonable(value, where):
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} must be JSON-serialisable: {exc}") from None


def _architecture_name(model):
    arch = getattr(type(model), "arch", None)
    if arch in ZOO and ZOO[arch] is type(model):
        return arch
    return None


def save(model, directory, metadata=None):
    """Save a model as ``directory/model.safetensors`` + ``directory/config.json``.

    Both files are written atomically (a temporary file renamed into place); the
    config is written last, so a directory with a config always has its weights.

    Parameters
    ----------
    model : nn.Module
        A zoo model (its ``config`` dict of constructor arguments is recorded) or any
        module (then only its class name is recorded and :func:`load` needs
        ``model=`` an instance of that class).
    directory : str or Path
        Output directory; created if missing (its parent must exist).
    metadata : dict, optional
        JSON-serialisable extras (task names, metrics, training settings, ...).

    Returns
    -------
    Path
        The directory.
    """
    from safetensors.torch import save_file

    if not isinstance(model, nn.Module):
        raise TypeError(f"save() needs a torch.nn.Module, got {type(model).__name__}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory}: exists and is not a directory")
    if not directory.parent.exists():
        raise FileNotFoundError(f"{directory}: parent directory {directory.parent} does not exist")

    arch = _architecture_name(model)
    kwargs = _jsonable(dict(getattr(model, "config", {}) or {}), "model.config") if arch else {}
    seq_len = getattr(model, "seq_len", None)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": arch,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "kwargs": kwargs,
        "seq_len": int(seq_len) if isinstance(seq_len, int) else None,
        "n_targets": getattr(model, "n_targets", None),
        "sparselrp_version": _version(),
        "weights": WEIGHTS_NAME,
        "metadata": _jsonable(metadata or {}, "metadata"),
    }
    directory.mkdir(exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        # one metadata key: safetensors orders several at random, and identical models
        # should give byte-identical files
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    with atomic_open(directory / CONFIG_NAME, "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2, sort_keys=False)
        fh.write("\n")
    return directory


def read_config(path):
    """Read and validate ``config.json`` (a file or the directory holding it).

    Returns
    -------
    dict
        The config, with ``architecture`` normalised to a zoo name (or None).

    Raises
    ------
    ModelFileError
        Missing or malformed file, unknown architecture, or constructor arguments
        the architecture does not take; the message names the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        raise ModelFileError(f"{path}: model config not found")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a valid JSON model config ({exc})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: model config must be a JSON object")
    if config.get("format", FORMAT) != FORMAT:
        raise ModelFileError(f"{path}: unknown format {config.get('format')!r} (expected {FORMAT!r})")
    version = config.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format_version {version!r} is newer than this sparselrp understands "
                             f"({FORMAT_VERSION}); upgrade sparselrp")
    arch = config.get("architecture")
    kwargs = config.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise ModelFileError(f"{path}: 'kwargs' must be a JSON object, got {type(kwargs).__name__}")
    if arch is not None:
        if not isinstance(arch, str):
            raise ModelFileError(f"{path}: 'architecture' must be a string, got {arch!r}")
        try:
            cls = get_architecture(arch)
        except KeyError:
            raise ModelFileError(f"{path}: unknown architecture {arch!r}; known: {', '.join(sorted(ZOO))}") from None
        params = inspect.signature(cls.__init__).parameters
        unknown = sorted(set(kwargs) - set(params) - {"self"})
        if unknown:
            raise ModelFileError(f"{path}: architecture {cls.arch!r} does not take argument(s) "
                                 f"{', '.join(unknown)}")
        config["architecture"] = cls.arch
    weights = config.get("weights", WEIGHTS_NAME)
    if not isinstance(weights, str) or Path(weights).name != weights:
        raise ModelFileError(f"{path}: 'weights' must be a file name inside the model directory, got {weights!r}")
    config["kwargs"] = kwargs
    config["_path"] = str(path)
    return config


def _build(config):
    cls = ZOO[config["architecture"]]
    try:
        return cls(**config["kwargs"])
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{config['_path']}: cannot build {cls.arch!r} from its kwargs: {exc}") from None


def load_state_dict(path):
    """Read a state dict safely from a ``.safetensors`` or torch (``.pt``) file.

    Torch files are read with ``torch.load(weights_only=True)``: tensors and plain
    containers only. A pickle that would construct other objects (and so could run
    code) is refused. A checkpoint dict holding the weights under ``"state_dict"``
    or ``"model_state_dict"`` is unwrapped.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict of str -> torch.Tensor

    Raises
    ------
    ModelFileError
        Unreadable, unsafe or not a state dict; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: not a valid safetensors file ({exc})") from None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol.*", category=UserWarning)
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFileError(
            f"{path}: refused to load: the file is a pickle that holds more than tensors and could run code "
            f"when unpickled (torch.load weights_only=True rejected it: {first}). Re-save only the state dict "
            f"(torch.save(model.state_dict(), ...)) or use safetensors."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, ImportError) as exc:
        raise ModelFileError(f"{path}: not a readable torch state-dict file ({exc})") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise ModelFileError(f"{path}: does not contain a state dict (a mapping of names to tensors)")
    return dict(obj)


def _apply_state_dict(model, state, where):
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
                   for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    problems = []
    if missing:
        problems.append("missing tensors: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected tensors: " + ", ".join(unexpected))
    if wrong:
        problems.append("shape mismatch: " + ", ".join(wrong))
    if problems:
        raise ModelFileError(f"{where}: weights do not match the model: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
    return model


def _resolve_device(device):
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load(path, device=None, model=None, architecture=None, kwargs=None):
    """Load a model saved by :func:`save`, or weights into a given architecture.

    Parameters
    ----------
    path : str or Path
        A model directory (``config.json`` + weights), or a weights file
        (``.safetensors`` or a torch state dict ``.pt``/``.pth``). For a weights file
        the architecture comes from ``model=``, ``architecture=`` or a
        ``config.json`` beside it.
    device : str or torch.device, optional
        Where to put the model; default CUDA when available, else CPU.
    model : nn.Module, optional
        An instance to load the weights into (e.g. your own class); its
        ``state_dict`` keys and shapes must match the file exactly.
    architecture : str, optional
        A zoo name to build when loading a bare weights file.
    kwargs : dict, optional
        Constructor arguments for ``architecture``.

    Returns
    -------
    nn.Module
        The model in eval mode on ``device``. ``model.sparselrp_config`` holds the
        config (with ``metadata``) when there was one.

    Raises
    ------
    ModelFileError
        Invalid config (unknown architecture, bad arguments), unsafe pickle, or
        weights that do not match (the message names the tensors).
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model directory or file")
    config = None
    if path.is_dir():
        config = read_config(path)
        weights = path / config.get("weights", WEIGHTS_NAME)
        if not weights.is_file():
            alternatives = [path / f"model{s}" for s in _STATE_DICT_SUFFIXES]
            found = [p for p in alternatives if p.is_file()]
            if not found:
                raise ModelFileError(f"{path}: weights file {weights.name} not found")
            weights = found[0]
    else:
        weights = path
        if model is None and architecture is None and (path.parent / CONFIG_NAME).is_file():
            config = read_config(path.parent)
    if model is None:
        if architecture is not None:
            try:
                cls = get_architecture(architecture)
            except KeyError as exc:
                raise ModelFileError(f"{path}: {exc.args[0]}") from None
            config = {"architecture": cls.arch, "kwargs": dict(kwargs or {}), "_path": str(path), "metadata": {}}
        if config is None:
            raise ModelFileError(f"{path}: a bare weights file needs architecture= (a zoo name) or model= "
                                 f"(an instance of your class)")
        if config.get("architecture") is None:
            raise ModelFileError(f"{config['_path']}: the model is not a zoo architecture (class "
                                 f"{config.get('class')}); pass model= an instance of that class")
        model = _build(config)
    elif not isinstance(model, nn.Module):
        raise TypeError(f"model= must be a torch.nn.Module, got {type(model).__name__}")
    state = load_state_dict(weights)
    _apply_state_dict(model, state, weights)
    if config is not None:
        model.sparselrp_config = {k: v for k, v in config.items() if not k.startswith("_")}
    return model.to(_resolve_device(device)).eval()
