"""Shared pieces of the benchmark scripts: models, data, attribution method runners, tables.

Every method runner has the signature ``fn(model, X, target, batch_size, device)``
and returns attributions ``(N, 4, L)`` float32 on the CPU for the one-hot batch
``X`` ``(N, 4, L)`` (CPU tensor) and the output column ``target`` (int).

Peers (captum, tangermeme, zennit) are optional: a method whose package is
missing is reported as unavailable, never an error. Install them with
``pip install .[bench]`` (zennit separately with ``--no-deps``).

Models are trained briefly on planted-motif data and cached (safetensors model
directories written by :func:`sparselrp.models.save`) under ``--cache`` (default
``~/.cache/sparselrp-benchmarks``), so the scripts and their memory workers use
identical weights.
"""

import copy
import importlib
import json
import os
import platform
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))

import sparselrp as sl  # noqa: E402
from sparselrp.lrp import MassPrune, TopK, lrp  # noqa: E402  (sl.lrp may resolve to the subpackage)

DEFAULT_CACHE = Path(os.environ.get("SPARSELRP_BENCH_CACHE", Path.home() / ".cache" / "sparselrp-benchmarks"))

#: Planted-motif task of the quality and PLRP benchmarks: CTCF and SPI1 must both be
#: present (label 1); GATA1 is planted as a decoy at the same rate in both classes.
PLANTED_RULE = "MA0139 AND MA0080"
PLANTED_MOTIFS = ("MA0139", "MA0035", "MA0080")


# ----------------------------------------------------------------------------- machine

def machine_description(device="cpu"):
    """One line naming the CPU (or GPU), core count, torch version and thread count."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} intra-op threads")
    if str(device).startswith("cuda") and torch.cuda.is_available():
        text = f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}); host: {text}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{text}; load average at start {load:.2f}"


def resolve_device(device):
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    return str(device)


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- data

def random_onehot(n, length, seed=0, gc=0.41):
    """``(n, 4, length)`` float32 one-hot of i.i.d. bases with GC content ``gc`` (seeded)."""
    rng = np.random.default_rng(seed)
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    idx = rng.choice(4, size=(n, length), p=p)
    X = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(X, idx[:, None, :], 1.0, axis=1)
    return torch.from_numpy(X)


def planted_set(n=4000, length=200, seed=1):
    """The planted-motif data set of the quality and PLRP benchmarks (see ``PLANTED_RULE``)."""
    return sl.simulate.simulate(n=n, length=length, motifs=PLANTED_MOTIFS, rules=(PLANTED_RULE,), seed=seed)


def split(n, fractions=(0.7, 0.1, 0.2)):
    """Contiguous train/validation/test index ranges (the simulation is already shuffled)."""
    a = int(n * fractions[0])
    b = a + int(n * fractions[1])
    return slice(0, a), slice(a, b), slice(b, n)


# ----------------------------------------------------------------------------- models

def _freeze(model):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def cached_model(key, build, cache=DEFAULT_CACHE, log=print, template=None):
    """Load the model directory ``cache/key`` or make it with ``build() -> (model, metadata)``.

    Returns ``(model, directory, metadata)``; the model is in eval mode with frozen
    parameters. ``template() -> nn.Module`` builds the architecture of a model that is
    not in the zoo, for loading its cached weights.
    """
    directory = Path(cache) / key if cache else None
    if directory is not None and (directory / "config.json").exists():
        model = sl.models.load(directory, device="cpu", model=None if template is None else template())
        meta = model.sparselrp_config.get("metadata", {}) if hasattr(model, "sparselrp_config") else {}
        log(f"# model {key}: loaded from {directory}")
        return _freeze(model), directory, meta
    t0 = time.perf_counter()
    model, meta = build()
    meta = dict(meta, build_seconds=round(time.perf_counter() - t0, 1))
    if directory is None:
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="sparselrp-bench-")) / key
    directory.parent.mkdir(parents=True, exist_ok=True)
    sl.models.save(model, directory, metadata=meta)
    log(f"# model {key}: built in {meta['build_seconds']} s, saved to {directory}")
    return _freeze(model), directory, meta


def _fit(model, X, y, epochs, seed=0, lr=1e-3, batch_size=64, patience=3):
    from sparselrp.models.train import fit

    tr, va, _ = split(len(X), (0.8, 0.2, 0.0))
    res = fit(model, X[tr], y[tr], X[va], y[va], epochs=epochs, patience=patience, lr=lr, seed=seed,
              batch_size=batch_size, num_threads=None)
    return dict(val_auroc=round(float(res["best_val_auroc"]), 4), epochs=len(res["history"]))


def deepsea_model(train_n=768, epochs=0, cache=DEFAULT_CACHE, log=print):
    """DeepSEA-like model (zoo ``"deepsea"``, 1,000 bp, one output) for the speed benchmark.

    Trained briefly (``epochs`` epochs on ``train_n`` planted CTCF sequences of
    1,000 bp: label = holds CTCF) so that its relevance is not that of random
    weights; ``epochs=0`` gives the seeded random initialisation.
    """
    key = f"deepsea_L1000_n{train_n}_e{epochs}"

    def build():
        torch.manual_seed(0)
        model = sl.models.ZOO["deepsea"](n_targets=1, seq_len=1000)
        if epochs <= 0:
            return model, dict(trained=False)
        sim = sl.simulate.simulate(n=train_n, length=1000, rules=("MA0139",), seed=0)
        info = _fit(model, sim.X, sim.y, epochs=epochs, patience=epochs)
        return model, dict(trained=True, data=f"simulate(n={train_n}, length=1000, rules=('MA0139',))", **info)

    return cached_model(key, build, cache, log)


def bpnet_model(cache=DEFAULT_CACHE, log=print):
    """BPNet-like model (zoo ``"bpnet"``, seeded random weights) for the scaling runs.

    Throughput of a fully convolutional model does not depend on its weights.
    """

    def build():
        torch.manual_seed(0)
        return sl.models.ZOO["bpnet"](), dict(trained=False)

    return cached_model("bpnet_random", build, cache, log)


def two_conv_cnn(L=None):
    """Two convolutions and global max pooling (not in the zoo): ``Conv1d(4, 64, 19) -> ReLU ->
    MaxPool1d(4) -> Conv1d(64, 64, 5) -> ReLU -> AdaptiveMaxPool1d(1) -> Linear(32) -> ReLU ->
    Dropout -> Linear(1)``; any length ``L >= 38``."""
    return nn.Sequential(nn.Conv1d(4, 64, 19), nn.ReLU(), nn.MaxPool1d(4), nn.Conv1d(64, 64, 5), nn.ReLU(),
                         nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(32, 1))


PLANTED_ARCHS = {
    # the zoo's SmallCNN (one convolution, global max pooling, two dense layers)
    "small_cnn": lambda L: sl.models.ZOO["small_cnn"](seq_len=L),
    # a second convolution on the pooled motif maps before the global max pooling, so that
    # pruning acts on position-resolved relevance (the first convolution's output) too
    "two_conv": two_conv_cnn,
    # a deeper, DeepSEA-shaped network (three convolutions, two max pools), so that
    # pruning acts on convolution inputs as well
    "deepsea": lambda L: sl.models.ZOO["deepsea"](n_targets=1, seq_len=L, channels=(64, 64, 64), hidden=32,
                                                  dropout=(0.1, 0.1)),
    # Basset-shaped (BatchNorm after every layer, folded by the LRP engine), narrow
    "basset": lambda L: sl.models.ZOO["basset"](n_targets=1, seq_len=L, channels=(64, 64, 64), hidden=(32,),
                                                dropout=0.1),
    # BPNet-like: dilated residual convolutions with a profile head and a counts head; the
    # counts head (forward's output) is trained as the class logit and explained
    "bpnet": lambda L: sl.models.ZOO["bpnet"](n_targets=1, seq_len=L, n_filters=32, n_layers=5),
}


def planted_model(sim, epochs=25, arch="small_cnn", cache=DEFAULT_CACHE, log=print):
    """A model of ``PLANTED_ARCHS`` trained on the training part of the planted set ``sim``."""
    p = sim.params
    key = f"{arch}_planted_n{p['n']}_L{p['length']}_s{p['seed']}_e{epochs}"

    def build():
        torch.manual_seed(0)
        model = PLANTED_ARCHS[arch](sim.X.shape[-1])
        tr, _, _ = split(len(sim.X))
        info = _fit(model, sim.X[tr], sim.y[tr], epochs=epochs, lr=3e-3 if arch == "small_cnn" else 1e-3,
                    patience=4)
        return model, dict(trained=True, arch=arch, rule=PLANTED_RULE, **info)

    return cached_model(key, build, cache, log, template=two_conv_cnn if arch == "two_conv" else None)


def ctcf_model(cache=DEFAULT_CACHE, log=print):
    """The demo CTCF model: the shipped pretrained one, else ``train_ctcf_model(seed=0)`` (cached)."""
    try:
        model = sl.models.pretrained("ctcf", device="cpu")
        from sparselrp.models.pretrained import pretrained_path

        log("# model ctcf: shipped pretrained SmallCNN")
        return _freeze(model), pretrained_path("ctcf"), dict(getattr(model, "sparselrp_config", {}).get("metadata", {}))
    except Exception:  # not shipped (yet): train it the same way
        pass

    def build():
        res = sl.models.train_ctcf_model(seed=0)
        return res.model, dict(test_auroc=res.metrics.get("test_auroc"))

    return cached_model("ctcf_small_cnn", build, cache, log)


def peer_compatible(model, length):
    """A copy of ``model`` whose ``AdaptiveMaxPool1d(1)`` layers are plain ``MaxPool1d``.

    captum's and tangermeme's DeepLIFT know ``MaxPool1d`` but not adaptive max
    pooling (they would silently treat it as linear); for a fixed input length the
    two are the same function, so peers run on this equivalent copy. The output is
    checked to be identical.
    """
    m = copy.deepcopy(model)
    changed = False

    def lengths_at(mod, x):
        seen = {}

        def hook(module, inp, out):
            seen[module] = inp[0].shape[-1]

        handles = [sub.register_forward_hook(hook) for sub in mod.modules() if isinstance(sub, nn.AdaptiveMaxPool1d)]
        with torch.no_grad():
            mod(x)
        for h in handles:
            h.remove()
        return seen

    x = torch.zeros(1, 4, length)
    x[:, 0] = 1
    seen = lengths_at(m, x)
    for parent in m.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveMaxPool1d) and child in seen:
                if child.output_size not in (1, (1,)):
                    continue
                setattr(parent, name, nn.MaxPool1d(seen[child]))
                changed = True
    if changed:
        x = random_onehot(4, length, seed=123)
        with torch.no_grad():
            assert torch.equal(model(x), m(x)), "peer_compatible changed the model's output"
    return _freeze(m)


# ----------------------------------------------------------------------------- optional peers

def import_zennit():
    """Import zennit 0.5.1 beside a torch without torchvision (stub for its resnet canonizers)."""
    try:
        importlib.import_module("torchvision.models.resnet")
    except Exception:
        if "torchvision" not in sys.modules or not hasattr(sys.modules["torchvision"], "models"):
            tv = types.ModuleType("torchvision")
            models = types.ModuleType("torchvision.models")
            resnet = types.ModuleType("torchvision.models.resnet")

            class BasicBlock(nn.Module):  # stand-ins: zennit only uses them in isinstance checks
                pass

            class Bottleneck(nn.Module):
                pass

            resnet.BasicBlock, resnet.Bottleneck = BasicBlock, Bottleneck
            tv.models, models.resnet = models, resnet
            sys.modules.update({"torchvision": tv, "torchvision.models": models,
                                "torchvision.models.resnet": resnet})
    import zennit.attribution
    import zennit.composites

    return zennit


def _has(module):
    try:
        importlib.import_module(module)
        return True
    except Exception:
        return False


# ----------------------------------------------------------------------------- method runners

def _batches(X, batch_size):
    for i in range(0, X.shape[0], batch_size):
        yield X[i:i + batch_size]


def run_grad_x_input(model, X, target, batch_size, device):
    """Gradient x input: one forward and one backward pass (input gradient only)."""
    out = []
    for xb in _batches(X, batch_size):
        x = xb.to(device).requires_grad_(True)
        y = model(x)[:, target].sum()
        (g,) = torch.autograd.grad(y, x)
        out.append((g * x).detach().cpu())
    return torch.cat(out)


def _sparselrp(pruning=None, composite="best-practice"):
    def run(model, X, target, batch_size, device):
        return lrp(model, X.to(device), target=target, composite=composite, pruning=pruning,
                   batch_size=batch_size, device=device).cpu()

    return run


def run_plrp(model, X, target, batch_size, device):
    """``sl.plrp``: the recommended sparse attributions (projected map)."""
    return sl.plrp(model, X.to(device), target=target, batch_size=batch_size, device=device).cpu()


def run_captum_deeplift(model, X, target, batch_size, device):
    """captum DeepLift (rescale rule) against the all-zero (N-base) reference."""
    from captum.attr import DeepLift

    explainer = DeepLift(model)
    out = []
    for xb in _batches(X, batch_size):
        x = xb.to(device)
        out.append(explainer.attribute(x, baselines=torch.zeros_like(x), target=target).detach().cpu())
    return torch.cat(out)


def run_captum_lrp(model, X, target, batch_size, device):
    """captum LRP: its epsilon rule (eps 1e-9) everywhere, set by hand on the Conv1d and Flatten
    layers that captum has no default rule for."""
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import EpsilonRule

    m = copy.deepcopy(model)
    explainer = LRP(m)
    out = []
    for xb in _batches(X, batch_size):
        for sub in m.modules():  # captum removes the rules after every call
            if isinstance(sub, (nn.Conv1d, nn.Flatten)):
                sub.rule = EpsilonRule()
        x = xb.to(device).requires_grad_(True)
        out.append(explainer.attribute(x, target=target).detach().cpu())
    return torch.cat(out)


def run_tangermeme_dls(model, X, target, batch_size, device):
    """tangermeme deep_lift_shap with its default 20 dinucleotide-shuffled references."""
    import warnings

    from tangermeme.deep_lift_shap import deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R = deep_lift_shap(model, X, target=target, batch_size=batch_size, n_shuffles=20, device=device,
                           random_state=0, warning_threshold=1e9, verbose=False)
    return R.detach().float().cpu()


def run_tangermeme_ism(model, X, target, batch_size, device):
    """tangermeme saturation_mutagenesis (ISM; fastISM where it pays), projected on the observed bases."""
    import warnings

    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        R = saturation_mutagenesis(model, X, target=target, batch_size=batch_size, device=device, verbose=False)
    return R.detach().float().cpu()


def run_zennit_egb(model, X, target, batch_size, device):
    """zennit 0.5.1 EpsilonGammaBox (low 0, high 1), starting from f_t(x)."""
    import_zennit()
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox

    composite = EpsilonGammaBox(low=0.0, high=1.0)
    out = []
    with Gradient(model=model, composite=composite) as attributor:
        for xb in _batches(X, batch_size):
            x = xb.to(device)

            def start(y):
                mask = torch.zeros_like(y)
                mask[:, target] = 1.0
                return y * mask

            _, R = attributor(x, start)
            out.append(R.detach().cpu())
    return torch.cat(out)


@dataclass
class Method:
    """One attribution method of the benchmark tables."""

    key: str
    label: str
    fn: object
    family: str                      # "floor", "sparselrp" or "peer"
    needs: tuple = ()                # importable modules it needs
    peer_model: bool = False         # run on peer_compatible(model)
    max_n: int = None                # at most this many sequences (slow methods)
    note: str = ""
    pruned: bool = False

    def available(self):
        missing = [m for m in self.needs if not (_has(m) if m != "zennit" else _zennit_ok())]
        return (not missing, f"not installed: {', '.join(missing)}" if missing else "")


def _zennit_ok():
    try:
        import_zennit()
        return True
    except Exception:
        return False


TOPK_DEFAULT = 0.05
MASS_DEFAULT = 0.5


def methods(topk=TOPK_DEFAULT, mass=MASS_DEFAULT, n_ism=8, n_dls=None):
    """The benchmark's methods, in table order."""
    return [
        Method("gxi", "grad x input", run_grad_x_input, "floor"),
        Method("lrp", "sparselrp LRP best-practice", _sparselrp(None), "sparselrp"),
        Method("lrp_eg", "sparselrp LRP epsilon-gamma", _sparselrp(None, "epsilon-gamma"), "sparselrp"),
        Method("plrp", "sparselrp sl.plrp (recommended)", run_plrp, "sparselrp", pruned=True),
        Method("topk", f"sparselrp TopK({topk})", _sparselrp(TopK(topk)), "sparselrp", pruned=True),
        Method("mass", f"sparselrp MassPrune({mass})", _sparselrp(MassPrune(mass)), "sparselrp", pruned=True),
        Method("mass_m", f"sparselrp MassPrune({mass}, matrix)", _sparselrp(MassPrune(mass, redistribute="matrix")),
               "sparselrp", pruned=True),
        Method("captum_dl", "captum DeepLift (zero ref.)", run_captum_deeplift, "peer", ("captum",), True),
        Method("captum_lrp", "captum LRP (epsilon)", run_captum_lrp, "peer", ("captum",), True),
        Method("zennit", "zennit EpsilonGammaBox", run_zennit_egb, "peer", ("zennit",), True),
        Method("dls", "tangermeme deep_lift_shap (20 refs)", run_tangermeme_dls, "peer", ("tangermeme",), True,
               max_n=n_dls),
        Method("ism", "tangermeme ISM", run_tangermeme_ism, "peer", ("tangermeme",), True, max_n=n_ism),
    ]


def select_methods(all_methods, keys):
    """Filter by a comma-separated list of method keys (None or "all": every method)."""
    if keys in (None, "", "all"):
        return all_methods
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    known = {m.key for m in all_methods}
    bad = [k for k in wanted if k not in known]
    if bad:
        raise SystemExit(f"unknown method(s) {bad}; known: {', '.join(sorted(known))}")
    return [m for m in all_methods if m.key in wanted]


def timed(fn, *args, device="cpu"):
    """``(result, seconds)`` of ``fn(*args)`` (CUDA synchronised)."""
    sync(device)
    t0 = time.perf_counter()
    out = fn(*args)
    sync(device)
    return out, time.perf_counter() - t0


# ----------------------------------------------------------------------------- tables

def fmt(value, digits=3):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if not np.isfinite(value):
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.{digits}f}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"


def table(headers, rows):
    """A GitHub-flavoured markdown table (also readable as plain text)."""
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join([line, sep, *body])


def write_json(path, obj):
    """Write a results JSON (atomically) if ``path`` is given."""
    if not path:
        return
    from sparselrp._atomic import atomic_open

    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=1, default=float)


def quality_row(method, R, X, mask, model, target, seconds, f=None, aopc_kwargs=None):
    """Metric means of attributions ``R`` (N, 4, L): Gini, zeros, RMA, AUPRC, AOPC (+ random), conservation."""
    from sparselrp import metrics as M

    out = dict(method=method, n=int(R.shape[0]), seconds=seconds,
               gini=M.gini(R).mean, zero_share=M.zero_share(R).mean)
    if mask is not None:
        out["rma"] = M.relevance_mass_accuracy(R, mask).mean
        out["auprc"] = M.auprc(R, mask).mean
        out["auroc"] = M.auroc(R, mask).mean
    if model is not None:
        res = M.faithfulness(model, X, R, target=target, **(aopc_kwargs or {}))
        out["aopc"] = res.aopc_mean
        out["aopc_random"] = res.random_aopc_mean
    if f is not None:
        # median: the relative error explodes for the samples whose f_t(x) is near 0
        out["conservation_error"] = float(np.nanmedian(M.conservation_error(R, f).values))
    return out


def evaluate_methods(method_list, model, X, mask, target=0, batch_size=64, device="cpu", conservation=False,
                     aopc_kwargs=None, extra=None, log=print):
    """Run every method on ``X`` (N, 4, L) and measure it against ``mask`` (N, L).

    Returns a list of dicts (see :func:`quality_row`), one per method; a method that
    is unavailable or fails gets a ``note`` instead of figures. ``extra(R) -> dict``,
    if given, adds columns computed from each method's attributions ``R`` (n, 4, L).
    """
    f = None
    if conservation:
        with torch.no_grad():
            f = model(X.to(device))[:, target].double().cpu()
    peer_model = None
    rows = []
    for m in method_list:
        ok, why = m.available()
        if not ok:
            rows.append(dict(method=m.label, key=m.key, note=why))
            log(f"# {m.label}: skipped ({why})")
            continue
        if m.peer_model and peer_model is None:
            peer_model = peer_compatible(model, X.shape[-1]).to(device)
        mm = peer_model if m.peer_model else model
        n = min(X.shape[0], m.max_n) if m.max_n else X.shape[0]
        try:
            m.fn(mm, X[:1], target, batch_size, device)  # warm-up (JIT compilation etc. not timed)
            R, sec = timed(m.fn, mm, X[:n], target, batch_size, device, device=device)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            rows.append(dict(method=m.label, key=m.key, note=f"error: {type(exc).__name__}: {str(exc)[:80]}"))
            continue
        row = quality_row(m.label, R, X[:n], mask[:n], model, target, sec, f=None if f is None else f[:n],
                          aopc_kwargs=aopc_kwargs)
        row.update(key=m.key, pruned=m.pruned, family=m.family)
        if extra is not None:
            row.update(extra(R))
        rows.append(row)
        log(f"# {m.label}: " + ", ".join(f"{k} {fmt(v)}" for k, v in row.items()
                                         if k in ("seconds", "gini", "rma", "auprc", "aopc")))
    return rows


QUALITY_COLUMNS = [("method", "method"), ("n", "N"), ("seconds", "seconds"), ("gini", "Gini"),
                   ("zero_share", "zeros"), ("rma", "RMA"), ("auprc", "AUPRC"), ("auroc", "AUROC"),
                   ("aopc", "AOPC"), ("aopc_random", "AOPC random"), ("conservation_error", "cons. error (median)"),
                   ("note", "note")]


def quality_table(rows, columns=None):
    columns = [c for c in (columns or QUALITY_COLUMNS) if any(c[0] in r for r in rows)]
    return table([c[1] for c in columns], [[r.get(c[0], "" if c[0] == "note" else None) for c in columns]
                                          for r in rows])
