"""Explain a one-hot ``.npz`` file batch by batch and write the attributions.

This is the library side of ``sparselrp attribute`` and of the pipeline's
attribute step: the one-hot array is streamed from the file in blocks of
``batch_size`` sequences, each block is explained and appended to an
:class:`~sparselrp.io.attributions.AttributionWriter`, so peak memory is set by
the batch, not by the file. Per-layer sparsity and conservation are accumulated
on the way.

All outputs of one run (attributions, the optional dense and hypothetical
files, the stats JSON) are committed together at the end: each is written to a
hidden temporary file beside its target and renamed into place only when every
output is complete. A run that fails writes nothing; a run that is killed
(SIGKILL, power loss) leaves the old outputs untouched and at most hidden
temporary files ``.NAME.*.tmp*`` / ``.NAME.*.parts``, which the next run writing
the same output removes.
"""

import contextlib
import errno
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from ._atomic import _check_dir, atomic_path
from .errors import InputFormatError
from .io.attributions import AttributionWriter
from .io.jsonfile import finite_json
from .io.npz_stream import iter_npz_rows, npz_member_info

__all__ = ["attribute_file", "clean_stale_temporaries"]


def _layer_stats_update(acc, layers):
    """Accumulate, per layer, zero counts and the per-sample Gini index of |relevance|."""
    from .metrics import gini

    for name, rel in layers.items():
        flat = rel.detach().reshape(rel.shape[0], -1)
        s = acc.setdefault(name, {"zeros": 0, "elements": 0, "gini_sum": 0.0, "gini_n": 0, "units": flat.shape[1]})
        s["zeros"] += int((flat == 0).sum())
        s["elements"] += flat.numel()
        g = gini(flat.to(torch.float64).cpu().numpy())  # (N, units) taken as one value per unit
        ok = ~np.isnan(g.values)
        s["gini_sum"] += float(g.values[ok].sum())
        s["gini_n"] += int(ok.sum())


def _finish_layer_stats(acc):
    out = {}
    for name, s in acc.items():
        out[name] = {
            "units": s["units"],
            "zero_share": s["zeros"] / max(s["elements"], 1),
            "gini": s["gini_sum"] / s["gini_n"] if s["gini_n"] else float("nan"),
        }
    return out


def clean_stale_temporaries(path):
    """Remove hidden temporary files a killed run left beside ``path``.

    Atomic writes put ``.NAME.XXXX.tmp.SUFFIX`` files (and the streaming writer
    ``.NAME.XXXX.parts`` directories) beside the output ``NAME``; a process
    killed with SIGKILL cannot remove them. Do not run two writers of the same
    output at once: the second removes the first one's temporaries.

    Parameters
    ----------
    path : str or Path
        An output path.

    Returns
    -------
    list of Path
        What was removed.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return []
    pat = re.compile(r"^\.{1,2}" + re.escape(path.name) + r"\.[^/]*?(\.tmp|\.parts$)")
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    for p in entries:
        if not pat.match(p.name):
            continue
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


def _model_seq_len(model):
    cfg = getattr(model, "sparselrp_config", None) or {}
    for value in (cfg.get("seq_len"), getattr(model, "seq_len", None), (cfg.get("kwargs") or {}).get("seq_len")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _model_device(model):
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _check_model_takes_length(model, length, ohe_path):
    """Run the model on one all-zero sequence of length ``length``; a clear error if it cannot."""
    seq_len = _model_seq_len(model)
    probe = torch.zeros(1, 4, length, dtype=torch.float32, device=_model_device(model))
    try:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(probe)
        finally:
            model.train(was_training)
    except (RuntimeError, ValueError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if seq_len is not None and seq_len != length:
            raise InputFormatError(
                f"sequences have length L = {length} but the model takes L = {seq_len} (its config's seq_len); "
                f"re-encode with `sparselrp encode --length {seq_len}` (the model failed with: {first})",
                ohe_path) from None
        raise InputFormatError(f"the model cannot take sequences of length L = {length}: {first}", ohe_path) from None


def _check_model_finite(model):
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"the model's {name!r} holds NaN or Inf values; its outputs cannot be explained "
                             f"(was training diverging?)")


def _check_finite_block(block, start, ohe_path):
    finite = np.isfinite(block)
    if finite.all():
        return
    i, c, j = np.argwhere(~finite)[0]
    kind = "NaN" if np.isnan(block[i, c, j]) else "Inf"
    raise InputFormatError(f"sequence {start + int(i)} (0-based), position {int(j)}: one-hot value is {kind}; "
                           f"the input must be finite", ohe_path)


def _output_paths(out_path, dense_path, hypothetical_path, stats_path, ohe_path):
    named = [("output", out_path), ("dense", dense_path), ("hypothetical", hypothetical_path), ("stats", stats_path)]
    named = [(k, Path(p)) for k, p in named if p is not None]
    seen = {}
    src = Path(ohe_path).resolve()
    for kind, p in named:
        r = p.resolve()
        if r == src:
            raise ValueError(f"{p}: the {kind} path is the input one-hot file; choose another output path")
        if r in seen:
            raise ValueError(f"{p}: given as both the {seen[r]} and the {kind} output path")
        seen[r] = kind
        if p.is_dir():
            raise IsADirectoryError(f"{p}: output path is a directory")
        _check_dir(p)
    return dict(named)


def attribute_file(model, ohe_path, out_path, *, target=0, composite="best-practice", pruning=None,
                   batch_size=256, device=None, sparse=False, dense_path=None, hypothetical_path=None,
                   strand_average=False, stats_path=None, progress=False, kind="projected", targets=None,
                   strand_pairs=None):
    """Explain every sequence of a one-hot file and write the attributions.

    Parameters
    ----------
    model : torch.nn.Module
        The model to explain (never modified).
    ohe_path : str or Path
        ``.npz`` with key ``arr_0`` of shape (N, 4, L).
    out_path : str or Path
        Output ``.npz``: dense ``arr_0`` (N, 4, L) float32, or the sparse COO
        form when ``sparse=True``; its key ``kind`` says what it holds.
    target, composite, pruning, device, strand_average
        As in :func:`sparselrp.lrp` (``sparselrp attribute`` passes :func:`sparselrp.plrp`'s
        composite and pruning unless told otherwise).
    kind : {"projected", "raw"}
        What ``out_path`` (and ``dense_path``) hold: each position's relevance on its
        observed base (default; the sparse form then stores one entry per kept position),
        or the relevance pass's own map (under a zB first layer absent bases and N columns
        carry relevance too).
    batch_size : int
        Sequences explained (and held in memory) at once.
    sparse : bool
        Write ``out_path`` in the sparse form.
    dense_path : str or Path, optional
        Also write the dense ``arr_0`` (N, 4, L) form here (what TF-MoDISco reads).
    hypothetical_path : str or Path, optional
        Also write hypothetical contributions (N, 4, L), dense ``arr_0`` with
        ``kind = "hypothetical"``; every first-layer rule but flat and w-square has them.
    stats_path : str or Path, optional
        JSON with the run's summary: share of zero positions, conservation
        (input relevance sum vs the explained output f_t(x), on the logits) and
        the per-layer share of zeros and Gini.
    progress : bool or str
        Report progress (:func:`sparselrp.progress.progress_bar`): ``True`` for a
        bar on a terminal and a log line every 30 s otherwise, or ``"bar"``,
        ``"log"``, ``"off"``.
    targets : dict {str: target}, optional
        Several targets in one run (``target`` is then ignored): one capture, one
        forward pass per batch, and one set of outputs per target, named by
        :func:`target_path` (``attr.npz`` -> ``attr.<label>.npz``, or ``{target}`` in
        the path replaced by the label).
    strand_pairs : sequence of int or dict, optional
        With ``strand_average``: the output of the reverse strand that answers each
        target (see :meth:`sparselrp.LRP.attribute`).

    Returns
    -------
    dict
        The summary (what ``stats_path`` receives when given); with ``targets``,
        ``{label: summary}``.

    Raises
    ------
    InputFormatError
        The one-hot file is not (N, 4, L), holds NaN/Inf (the message names the
        sequence and position), or has a length the model cannot take.
    ValueError
        Target out of range, hypothetical scores with a first-layer rule that does
        not multiply by the input, an output path given twice.
    FileNotFoundError, PermissionError, OSError
        A missing or read-only output directory (checked before any work), a
        failing write (disk full). No output is written then.

    Notes
    -----
    Outputs appear together at the end (see the module docstring); temporaries
    that a killed earlier run left beside the outputs are removed first.
    """
    from .lrp import LRP
    from .lrp.plrp import project

    if kind not in ("projected", "raw"):
        raise ValueError(f"kind must be 'projected' or 'raw', got {kind!r}")
    multi = targets is not None
    if multi:
        targets = dict(targets)
        if not targets:
            raise ValueError("targets is empty")
    labels = list(targets) if multi else [None]
    tlist = list(targets.values()) if multi else [target]
    per_label = [_output_paths(*(None if p is None else target_path(p, lab)
                                 for p in (out_path, dense_path, hypothetical_path, stats_path)), ohe_path)
                 for lab in labels]
    _check_distinct(per_label)
    outputs = {(i, k): p for i, o in enumerate(per_label) for k, p in o.items()}
    shape, dtype = npz_member_info(ohe_path, "arr_0")
    if len(shape) != 3 or shape[1] != 4:
        raise InputFormatError(f"arr_0 has shape {shape}; expected (N, 4, L) one-hot", ohe_path)
    if dtype.kind not in "biuf":
        raise InputFormatError(f"arr_0 has dtype {dtype}; expected a real-valued one-hot (float, int or bool)",
                               ohe_path)
    n, _, length = shape
    if length < 1:
        raise InputFormatError(f"arr_0 has shape {shape}: sequences of length 0", ohe_path)
    _check_model_finite(model)
    if n > 0:
        _check_model_takes_length(model, length, ohe_path)
    explainer = LRP(model, composite=composite, pruning=pruning, device=device)
    want_stats = stats_path is not None
    accs = [{} for _ in labels]
    all_totals = [{"n": 0, "input_zero": 0, "positions": 0, "rel_sum": 0.0, "out_sum": 0.0, "cons_err_sum": 0.0,
                   "cons_n": 0, "cons_err_max": 0.0} for _ in labels]
    totals = all_totals[0]
    for p in outputs.values():
        clean_stale_temporaries(p)
    from .progress import progress_bar

    bar = progress_bar(progress, total=n, desc="attribute", unit="seq")
    try:
        with contextlib.ExitStack() as commit:
            # temporaries renamed onto the outputs only when the whole block exits cleanly
            tmp = {k: commit.enter_context(atomic_path(p)) for k, p in outputs.items()}
            # per target: [attributions writer, hypothetical writer or None]
            writers = []
            for i in range(len(labels)):
                writers.append([AttributionWriter(tmp[i, "output"], sparse=sparse, dense_path=tmp.get((i, "dense")),
                                                  length=length, kind=kind),
                                None if hypothetical_path is None else
                                AttributionWriter(tmp[i, "hypothetical"], sparse=False, length=length,
                                                  kind="hypothetical")])
            every = [w for pair in writers for w in pair if w is not None]
            try:
                for block in iter_npz_rows(ohe_path, "arr_0", batch_size=batch_size):
                    start = totals["n"]
                    _check_finite_block(block, start, ohe_path)
                    X = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
                    tgts = [_slice_target(t, start, X.shape[0]) for t in tlist]
                    try:
                        # one forward pass per batch for all targets
                        results = explainer.attribute_many(X, tgts, batch_size=batch_size, return_layers=want_stats,
                                                           strand_average=strand_average, strand_pairs=strand_pairs,
                                                           return_output=True)
                    except ValueError as exc:
                        if "NaN or Inf" not in str(exc):
                            raise
                        raise ValueError(f"{ohe_path}: sequences {start}..{start + X.shape[0] - 1} (0-based): "
                                         f"{exc}") from None
                    if hypothetical_path is not None:
                        try:
                            hyps = explainer.attribute_many(X, tgts, batch_size=batch_size, hypothetical=True,
                                                            strand_average=strand_average, strand_pairs=strand_pairs)
                        except ValueError as exc:
                            if "hypothetical" not in str(exc):
                                raise
                            raise ValueError(f"{hypothetical_path}: cannot compute hypothetical contributions with "
                                             f"composite {composite!r}: {exc}") from None
                    for i, (R, *extra) in enumerate(results):
                        f = extra[-1]
                        writers[i][0].append(project(R, X.to(R.device)) if kind == "projected" else R)
                        if hypothetical_path is not None:
                            writers[i][1].append(hyps[i])
                        if want_stats:
                            _layer_stats_update(accs[i], extra[0])
                            _conservation_update(all_totals[i], R, f)
                        all_totals[i]["n"] += X.shape[0]
                    if bar is not None:
                        bar.update(X.shape[0])
                for w in every:
                    w.close()
                for i in range(len(labels)):
                    all_totals[i]["nnz"] = writers[i][0].nnz
            except BaseException:
                for w in every:
                    if not w.closed:
                        w.abort()
                raise
            summaries = [_summary(all_totals[i], length, tlist[i], composite, pruning,
                                  accs[i] if want_stats else None, kind) for i in range(len(labels))]
            if want_stats:
                for i, summ in enumerate(summaries):
                    with open(tmp[i, "stats"], "w", encoding="utf-8") as fh:
                        json.dump(finite_json(summ), fh, indent=2)
                        fh.write("\n")
                        fh.flush()
                        os.fsync(fh.fileno())
            summary = dict(zip(labels, summaries)) if multi else summaries[0]
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            full = OSError(f"{out_path}: no space left on device while writing the outputs; nothing was written "
                           f"(old outputs are kept)")
            full.errno = exc.errno
            raise full from None
        raise
    finally:
        if bar is not None:
            bar.close()
    return summary


def _conservation_update(totals, R, f):
    r = R.detach().to(torch.float64).sum(1)  # (b, L)
    totals["input_zero"] += int((r == 0).sum())
    totals["positions"] += r.numel()
    s = r.sum(1).cpu()
    f = f.detach().to(torch.float64).cpu()
    totals["rel_sum"] += float(s.sum())
    totals["out_sum"] += float(f.sum())
    nz = f.abs() > 0
    if bool(nz.any()):
        err = (s - f).abs()[nz] / f.abs()[nz]
        totals["cons_err_sum"] += float(err.sum())
        totals["cons_n"] += int(nz.sum())
        totals["cons_err_max"] = max(totals["cons_err_max"], float(err.max()))


def _summary(totals, length, target, composite, pruning, acc, kind="projected"):
    summary = {
        "n": totals["n"], "length": length, "target": target if not callable(target) else "callable",
        "composite": composite if isinstance(composite, str) else repr(composite),
        "pruning": repr(pruning) if pruning is not None else None, "kind": kind,
        "stored_share": totals.get("nnz", 0) / max(totals["n"] * 4 * length, 1),
    }
    if acc is not None:
        n = max(totals["n"], 1)
        summary.update({
            "input_zero_share": totals["input_zero"] / max(totals["positions"], 1),
            "mean_relevance_sum": totals["rel_sum"] / n,
            "mean_explained_output": totals["out_sum"] / n,
            "mean_conservation_error": (totals["cons_err_sum"] / totals["cons_n"]) if totals["cons_n"] else None,
            "max_conservation_error": totals["cons_err_max"] if totals["cons_n"] else None,
            "layers": _finish_layer_stats(acc),
        })
    return summary


def target_path(path, label):
    """The output path of target ``label`` in a run with several targets.

    ``{target}`` in the file name is replaced by ``label``; otherwise ``.label`` goes
    before the suffix (``attr.npz`` -> ``attr.ctcf.npz``). ``label=None`` (a run with
    one target) leaves the path as it is.
    """
    if path is None or label is None:
        return path
    path = Path(path)
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", str(label))
    if "{target}" in path.name:
        return path.with_name(path.name.replace("{target}", safe))
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[:-len(suffix)] if suffix else path.name
    return path.with_name(f"{stem}.{safe}{suffix}")


def _check_distinct(per_label):
    seen = {}
    for outs in per_label:
        for kind, p in outs.items():
            r = Path(p).resolve()
            if r in seen:
                raise ValueError(f"{p}: two outputs of the run would be written to this path ({seen[r]} and {kind}); "
                                 f"use {{target}} in the output names or distinct task names")
            seen[r] = kind


def _slice_target(target, start, size):
    if isinstance(target, (list, tuple, np.ndarray, torch.Tensor)):
        return target[start:start + size]
    return target


