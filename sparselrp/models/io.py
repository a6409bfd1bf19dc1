"""Safe model files: safetensors weights plus a JSON config.

A model directory holds

- ``config.json``: ``{"format": "sparselrp-model", "format_version": 1,
  "architecture": "<zoo name or null>", "class": "package.module:QualName",
  "kwargs": {...constructor arguments...}, "seq_len": L, "sparselrp_version": "...",
  "weights": "model.safetensors", "metadata": {...}}``
- ``model.safetensors``: the state dict (tensors only; no code can run on load).

A model of a class outside the zoo is rebuilt by importing ``"class"`` and calling it
with ``"kwargs"``. Importing a module runs its code, so :func:`load` does that only for
zoo classes or for classes the caller names (``allow_classes=``) or trusts
(``trusted=True``); the class must be a ``torch.nn.Module``.

:func:`load` also reads a torch state-dict file (``.pt``/``.pth``, always with
``torch.load(..., weights_only=True)``), so a pickle that would run code is refused.
Nothing here ever unpickles arbitrary objects.
"""

import importlib
import inspect
import json
import re
import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from .._atomic import atomic_open, atomic_path
from ..errors import ModelFileError
from .zoo import ZOO, get_architecture

__all__ = ["save", "load", "load_state_dict", "read_config", "class_path", "import_model_class", "CONFIG_NAME",
           "WEIGHTS_NAME"]

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


_SPEC = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def class_path(cls):
    """``"package.module:QualName"`` of a class (what ``config.json`` records).

    Parameters
    ----------
    cls : type

    Returns
    -------
    str
    """
    return f"{cls.__module__}:{cls.__qualname__}"


def _zoo_specs():
    return {class_path(c): c for c in set(ZOO.values())}


def _normalise_spec(spec):
    if isinstance(spec, type):
        return class_path(spec)
    return str(spec).strip()


def import_model_class(spec, where="model class"):
    """Import ``"package.module:QualName"`` and return the class (a ``torch.nn.Module`` subclass).

    Importing runs the module's code: call this only for a class you trust.

    Parameters
    ----------
    spec : str
        ``module:qualname``, e.g. ``"mylab.nets:MyNet"``.
    where : str
        Prefix for error messages (a file name).

    Raises
    ------
    ModelFileError
        Malformed name, a module that cannot be imported (the message says why and
        how to make it importable), a missing attribute, or a class that is not an
        ``nn.Module``.
    """
    spec = _normalise_spec(spec)
    if not _SPEC.match(spec):
        raise ModelFileError(f"{where}: {spec!r} is not a class name of the form package.module:ClassName")
    module_name, qualname = spec.split(":", 1)
    if "<locals>" in qualname:
        raise ModelFileError(f"{where}: class {spec} is defined inside a function and cannot be imported")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFileError(
            f"{where}: cannot import module {module_name!r} for class {spec} ({type(exc).__name__}: {first}); "
            f"install the package that defines it, or add the folder holding {module_name.split('.')[0]} "
            f"to PYTHONPATH") from None
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ModelFileError(f"{where}: module {module_name!r} has no attribute {qualname!r} (class {spec})")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ModelFileError(f"{where}: {spec} is not a torch.nn.Module class (got {type(obj).__name__}); "
                             f"refused to build it")
    return obj


def _check_kwargs(cls, kwargs, where, name):
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(params) - {"self"})
    if unknown:
        raise ModelFileError(f"{where}: {name} does not take argument(s) {', '.join(unknown)}")


def _check_rebuild(model, cls, config):
    """Build ``cls(**config)`` and check that its tensors match ``model``'s (names and shapes)."""
    name = class_path(cls)
    try:
        fresh = cls(**config)
    except Exception as exc:  # noqa: BLE001 - the user's constructor may raise anything
        raise ValueError(f"save(): {name}(**config) fails, so load() could not rebuild the model: "
                         f"{type(exc).__name__}: {exc}") from None
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    if want != got:
        diff = sorted(set(want) ^ set(got)) or sorted(k for k in want if want[k] != got.get(k))
        raise ValueError(f"save(): {name}(**config) builds a model whose tensors differ from this one "
                         f"(first: {diff[0]}); config= must hold the constructor arguments of this model")


def save(model, directory, config=None, metadata=None):
    """Save a model as ``directory/model.safetensors`` + ``directory/config.json``.

    Both files are written atomically (a temporary file renamed into place); the
    config is written last, so a directory with a config always has its weights.

    Parameters
    ----------
    model : nn.Module
        Any module. A zoo model records its zoo name and constructor arguments
        (``model.config``). Any other class records ``"module:qualname"`` and
        ``config``, so that :func:`load` can import the class and rebuild it.
    directory : str or Path
        Output directory; created if missing (its parent must exist).
    config : dict, optional
        The keyword arguments that rebuild the model: ``type(model)(**config)``.
        Default: ``model.config`` when the model has such a dict (zoo models do).
        Required for :func:`load` to rebuild a class outside the zoo; it is checked
        here (the class must be importable by its module path, and ``cls(**config)``
        must have the same tensor names and shapes). Without it the weights are
        still saved, and :func:`load` needs ``model=`` an instance.
    metadata : dict, optional
        JSON-serialisable extras (task names, metrics, training settings, ...).

    Returns
    -------
    Path
        The directory.

    Raises
    ------
    TypeError
        ``model`` is not a module; ``config`` or ``metadata`` are not JSON-serialisable.
    ValueError
        The class cannot be imported by name (defined in ``__main__`` or inside a
        function), or ``config`` does not rebuild this model.
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
    cls = type(model)
    spec = class_path(cls)
    implicit = config is None and isinstance(getattr(model, "config", None), dict)
    if implicit:
        config = dict(model.config)
    if implicit and arch is None:
        # a ``config`` attribute is not necessarily the constructor's arguments: record it only
        # when it rebuilds the model
        try:
            kwargs = _jsonable(config, "config")
            if import_model_class(spec, where="save()") is not cls:
                raise ValueError(spec)
            _check_rebuild(model, cls, kwargs)
        except (TypeError, ValueError, ModelFileError):
            config = None
    if config is not None:
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict of constructor keyword arguments, got {type(config).__name__}")
        kwargs = _jsonable(dict(config), "config")
        if arch is None:
            if cls.__module__ == "__main__":
                raise ValueError(f"save(): class {cls.__qualname__} is defined in __main__ (a script or notebook), "
                                 f"so load() could not import it; move it to a module (e.g. mynets.py) and "
                                 f"import it from there")
            if "<locals>" in cls.__qualname__:
                raise ValueError(f"save(): class {spec} is defined inside a function, so load() could not "
                                 f"import it; define it at module level")
            try:
                imported = import_model_class(spec, where="save()")
            except ModelFileError as exc:
                raise ValueError(str(exc)) from None
            if imported is not cls:
                raise ValueError(f"save(): importing {spec} gives another class than the model's; "
                                 f"load() could not rebuild it")
            _check_rebuild(model, cls, kwargs)
    else:
        kwargs = None
    seq_len = getattr(model, "seq_len", None)
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": arch,
        "class": spec,
        "kwargs": kwargs,
        "seq_len": int(seq_len) if isinstance(seq_len, int) and not isinstance(seq_len, bool) else None,
        "n_targets": getattr(model, "n_targets", None) if isinstance(getattr(model, "n_targets", None), int)
        else None,
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
        json.dump(record, fh, indent=2, sort_keys=False)
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
    if kwargs is None and arch is None:
        config["_no_kwargs"] = True
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise ModelFileError(f"{path}: 'kwargs' must be a JSON object, got {type(kwargs).__name__}")
    spec = config.get("class")
    if spec is not None and not isinstance(spec, str):
        raise ModelFileError(f"{path}: 'class' must be a string module:ClassName, got {spec!r}")
    if arch is not None:
        if not isinstance(arch, str):
            raise ModelFileError(f"{path}: 'architecture' must be a string, got {arch!r}")
        try:
            cls = get_architecture(arch)
        except KeyError:
            raise ModelFileError(f"{path}: unknown architecture {arch!r}; known: {', '.join(sorted(ZOO))}") from None
        _check_kwargs(cls, kwargs, path, f"architecture {cls.arch!r}")
        config["architecture"] = cls.arch
    elif spec is not None and spec in _zoo_specs():
        # a zoo class recorded by its class path only
        cls = _zoo_specs()[spec]
        _check_kwargs(cls, kwargs, path, f"architecture {cls.arch!r}")
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


def _pickle_kind(path):
    """``"torch.save zip archive"`` / ``"Python pickle"`` when the file starts like one, else None."""
    try:
        size = Path(path).stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return None
    if len(head) == 9 and head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size:
        return None   # a safetensors layout (8-byte header length, then a JSON header)
    if head.startswith(b"PK\x03\x04"):
        return "torch.save (zip) archive"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "Python pickle"
    return None


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

        kind = _pickle_kind(path)
        if kind is not None:
            raise ModelFileError(
                f"{path}: not a safetensors file but a {kind} renamed to .safetensors; refused (unpickling can run "
                f"code). If it holds only a state dict, name it .pt to read it with torch.load(weights_only=True), "
                f"or convert it with safetensors.torch.save_file(state_dict, ...) where you trust it")
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


def _allowed(spec, allow_classes, trusted):
    if trusted:
        return True
    if allow_classes is None:
        return False
    if isinstance(allow_classes, (str, type)):
        allow_classes = [allow_classes]
    return spec in {_normalise_spec(a) for a in allow_classes}


def _build_class(spec, kwargs, where, allow_classes, trusted, cli_hint=True):
    """Import ``spec`` (after the trust check) and build it from ``kwargs``."""
    zoo = _zoo_specs()
    if spec in zoo:
        cls = zoo[spec]
    else:
        if not _allowed(spec, allow_classes, trusted):
            raise ModelFileError(
                f"{where}: the config names class {spec}, which is not a sparselrp zoo class; loading it imports "
                f"and runs that module's code, so it is refused unless you allow it: "
                f"sl.models.load(..., allow_classes=[{spec!r}])"
                + (f" or, on the command line, --model-class {spec}" if cli_hint else ""))
        cls = import_model_class(spec, where=where)
    _check_kwargs(cls, kwargs, where, spec)
    try:
        return cls(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the class's constructor may raise anything
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFileError(f"{where}: cannot build {spec} from its kwargs ({type(exc).__name__}: {first})") from None


def _kwargs_file(path):
    """Constructor kwargs from a JSON file: a sparselrp ``config.json`` or a plain object of arguments."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not a valid JSON config ({exc})") from None
    if not isinstance(obj, dict):
        raise ModelFileError(f"{path}: the config must be a JSON object of constructor arguments")
    if obj.get("format") == FORMAT:
        return dict(obj.get("kwargs") or {}), dict(obj.get("metadata") or {})
    return obj, {}


def load(path, device=None, model=None, architecture=None, kwargs=None, model_class=None, allow_classes=None,
         trusted=False):
    """Load a model saved by :func:`save`, or weights into a given architecture or class.

    Parameters
    ----------
    path : str or Path
        A model directory (``config.json`` + weights), or a weights file
        (``.safetensors`` or a torch state dict ``.pt``/``.pth``). For a weights file
        the model comes from ``model=``, ``architecture=``, ``model_class=`` or a
        ``config.json`` beside it.
    device : str or torch.device, optional
        Where to put the model; default CUDA when available, else CPU.
    model : nn.Module, optional
        An instance to load the weights into (e.g. your own class); its
        ``state_dict`` keys and shapes must match the file exactly. Nothing is imported.
    architecture : str, optional
        A zoo name to build when loading a bare weights file.
    kwargs : dict or str or Path, optional
        Constructor arguments for ``architecture`` / ``model_class`` (a dict, or a JSON
        file: a plain object of arguments or a sparselrp ``config.json``).
    model_class : str or type, optional
        ``"package.module:ClassName"`` (or the class) to build with ``kwargs`` for a
        bare weights file, or to use for a model directory in place of its recorded
        class. Naming it counts as allowing it.
    allow_classes : iterable of str or type, optional
        Classes outside the zoo that a ``config.json`` may name. A directory whose
        config names any other class is refused: importing it would run that
        module's code.
    trusted : bool
        Allow any ``nn.Module`` class a config names (only for directories you trust).

    Returns
    -------
    nn.Module
        The model in eval mode on ``device``. ``model.sparselrp_config`` holds the
        config (with ``metadata``) when there was one.

    Raises
    ------
    ModelFileError
        Invalid config (unknown architecture, bad arguments), a class that is not
        allowed or cannot be imported, unsafe pickle, or weights that do not match
        (the message names the tensors).
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model directory or file")
    if model_class is not None:
        model_class = _normalise_spec(model_class)
        allow_classes = [model_class] + ([] if allow_classes is None else
                                         ([allow_classes] if isinstance(allow_classes, (str, type))
                                          else list(allow_classes)))
    extra_meta = {}
    if isinstance(kwargs, (str, Path)):
        kwargs, extra_meta = _kwargs_file(kwargs)
    elif kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict or a JSON file path, got {type(kwargs).__name__}")
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
        if model is None and architecture is None and model_class is None and \
                (path.parent / CONFIG_NAME).is_file():
            config = read_config(path.parent)
    if model is None:
        if architecture is not None:
            try:
                cls = get_architecture(architecture)
            except KeyError as exc:
                raise ModelFileError(f"{path}: {exc.args[0]}") from None
            config = {"architecture": cls.arch, "kwargs": dict(kwargs or {}), "_path": str(path),
                      "metadata": extra_meta}
        elif model_class is not None:
            if config is not None and kwargs is None and config.get("class") not in (None, model_class) and \
                    not config.get("_no_kwargs"):
                raise ModelFileError(f"{config['_path']}: the config records class {config.get('class')}, not "
                                     f"{model_class}; give its constructor arguments (--config / kwargs=)")
            use = dict(kwargs) if kwargs is not None else dict((config or {}).get("kwargs") or {})
            meta = extra_meta or dict((config or {}).get("metadata") or {})
            model = _build_class(model_class, use, str(path), allow_classes, trusted)
            config = dict(config or {}, **{"architecture": (config or {}).get("architecture"),
                                           "class": model_class, "kwargs": use, "metadata": meta,
                                           "_path": str(path)})
        if model is None:
            if config is None:
                raise ModelFileError(f"{path}: a bare weights file needs architecture= (a zoo name), model_class= "
                                     f"(module:ClassName with kwargs=) or model= (an instance of your class)")
            if config.get("architecture") is not None:
                model = _build(config)
            elif config.get("class") and ":" in config["class"] and not config.get("_no_kwargs"):
                model = _build_class(config["class"], config["kwargs"], config["_path"], allow_classes, trusted)
            else:
                raise ModelFileError(f"{config['_path']}: the model is not a zoo architecture (class "
                                     f"{config.get('class')}) and was saved without config=; pass model= an "
                                     f"instance of that class, or re-save it with sl.models.save(model, directory, "
                                     f"config={{...constructor arguments...}})")
    elif not isinstance(model, nn.Module):
        raise TypeError(f"model= must be a torch.nn.Module, got {type(model).__name__}")
    state = load_state_dict(weights)
    _apply_state_dict(model, state, weights)
    if config is not None:
        model.sparselrp_config = {k: v for k, v in config.items() if not k.startswith("_")}
    return model.to(_resolve_device(device)).eval()
