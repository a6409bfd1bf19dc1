"""Explain a one-hot ``.npz`` file batch by batch and write the attributions.

This is the library side of ``sparselrp attribute`` and of the pipeline's
attribute step: the one-hot array is streamed from the file in blocks of
``batch_size`` sequences, each block is explained and appended to an
:class:`~sparselrp.io.attributions.AttributionWriter`, so peak memory is set by
the batch, not by the file. Per-layer sparsity is accumulated on the way.
"""

import json
import math

import numpy as np
import torch

from ._atomic import atomic_open
from .io.attributions import AttributionWriter
from .io.npz_stream import iter_npz_rows, npz_member_info
from .errors import InputFormatError


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


def attribute_file(model, ohe_path, out_path, *, target=0, composite="best-practice", pruning=None,
                   batch_size=256, device=None, sparse=False, dense_path=None, hypothetical_path=None,
                   strand_average=False, stats_path=None, progress=False):
    """Explain every sequence of a one-hot file and write the attributions.

    Parameters
    ----------
    model : torch.nn.Module
        The model to explain (never modified).
    ohe_path : str or Path
        ``.npz`` with key ``arr_0`` of shape (N, 4, L).
    out_path : str or Path
        Output ``.npz``: dense ``arr_0`` (N, 4, L) float32, or the sparse COO
        form when ``sparse=True``.
    target, composite, pruning, device, strand_average
        As in :func:`sparselrp.lrp`.
    batch_size : int
        Sequences explained (and held in memory) at once.
    sparse : bool
        Write ``out_path`` in the sparse form.
    dense_path : str or Path, optional
        Also write the dense ``arr_0`` form here (what TF-MoDISco reads).
    hypothetical_path : str or Path, optional
        Also write hypothetical contributions (N, 4, L), dense ``arr_0``.
    stats_path : str or Path, optional
        JSON with the run's summary: input sparsity, conservation and the
        per-layer share of zeros and Gini.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The summary written to ``stats_path``.
    """
    from .lrp import LRP

    shape, dtype = npz_member_info(ohe_path, "arr_0")
    if len(shape) != 3 or shape[1] != 4:
        raise InputFormatError(f"arr_0 has shape {shape}; expected (N, 4, L) one-hot", ohe_path)
    n, _, length = shape
    explainer = LRP(model, composite=composite, pruning=pruning, device=device)
    want_stats = stats_path is not None
    acc = {}
    totals = {"n": 0, "input_zero": 0, "positions": 0, "rel_sum": 0.0, "out_sum": 0.0, "cons_err_sum": 0.0,
              "cons_n": 0}
    writers = [AttributionWriter(out_path, sparse=sparse, dense_path=dense_path, length=length)]
    if hypothetical_path is not None:
        writers.append(AttributionWriter(hypothetical_path, sparse=False, length=length))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="seq", desc="attribute")
    try:
        for block in iter_npz_rows(ohe_path, "arr_0", batch_size=batch_size):
            X = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
            res = explainer.attribute(
                X, target=_slice_target(target, totals["n"], X.shape[0]), batch_size=batch_size,
                return_layers=want_stats, strand_average=strand_average,
            )
            R, layers = (res if want_stats else (res, None))
            writers[0].append(R)
            if hypothetical_path is not None:
                H = explainer.attribute(X, target=_slice_target(target, totals["n"], X.shape[0]),
                                        batch_size=batch_size, hypothetical=True, strand_average=strand_average)
                writers[1].append(H)
            if want_stats:
                _layer_stats_update(acc, layers)
                r = R.detach().to(torch.float64).sum(1)
                totals["input_zero"] += int((r == 0).sum())
                totals["positions"] += r.numel()
                f = _explained_output(model, explainer, X, _slice_target(target, totals["n"], X.shape[0]))
                if f is not None:
                    s = r.sum(1).cpu()
                    totals["rel_sum"] += float(s.sum())
                    totals["out_sum"] += float(f.sum())
                    nz = f.abs() > 0
                    totals["cons_err_sum"] += float(((s - f).abs()[nz] / f.abs()[nz]).sum())
                    totals["cons_n"] += int(nz.sum())
            totals["n"] += X.shape[0]
            if bar is not None:
                bar.update(X.shape[0])
        for w in writers:
            w.close()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    summary = {
        "n": totals["n"], "length": length, "target": target if not callable(target) else "callable",
        "composite": composite if isinstance(composite, str) else repr(composite),
        "pruning": repr(pruning) if pruning is not None else None,
    }
    if want_stats:
        summary.update({
            "input_zero_share": totals["input_zero"] / max(totals["positions"], 1),
            "mean_relevance_sum": totals["rel_sum"] / max(totals["n"], 1),
            "mean_explained_output": totals["out_sum"] / max(totals["n"], 1),
            "mean_conservation_error": (totals["cons_err_sum"] / totals["cons_n"]) if totals["cons_n"] else None,
            "layers": _finish_layer_stats(acc),
        })
        with atomic_open(stats_path, "w") as fh:
            json.dump(_jsonable(summary), fh, indent=2)
    return summary


def _slice_target(target, start, size):
    if isinstance(target, (list, tuple, np.ndarray, torch.Tensor)):
        return target[start:start + size]
    return target


def _explained_output(model, explainer, X, target):
    """f_t(x) per sample (N,), from the explainer when it offers it."""
    fn = getattr(explainer, "explained_output", None)
    if fn is not None:
        return fn(X, target=target).detach().to(torch.float64).cpu()
    return None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
