"""Model-randomisation sanity check (Adebayo et al., NeurIPS 2018), adapted to LRP maps.

Cascading randomisation: the explained layers (Conv1d, Linear, unfolded BatchNorm, with
the BatchNorms folded into them) of a *copy* of the model are re-initialised one at a
time from the output down, and after each stage the maps are recomputed with the same
composite and pruning. The similarity of a stage is the Spearman rank correlation (ties
get average ranks) of the absolute per-position relevance ``|r|`` of the model's map
with the randomised model's map, per sample; the signed correlation is reported too.

Two figures are flagged:

* ``similarity``: median over samples at the end of the cascade (every explained layer
  re-initialised). A map that still resembles itself after everything the model learnt
  is gone depends on the architecture and the input only.
* ``sparsity``: mean Gini index of the model's unpruned maps minus that of the maps of
  fully re-initialised copies (the cascade's last stage and ``n_random - 1`` more,
  other seeds). Max pooling and ReLUs make maps sparse by themselves; a model whose
  maps are no sparser than a random network's of the same architecture shows no learnt
  localisation (a model with random weights sits at about 0). Pruning is left out of
  this figure because it makes every map sparse.

Re-initialisation uses each module's own ``reset_parameters()`` (PyTorch's default
initialisation; BatchNorm: scale 1, shift 0, running statistics reset) under a fixed
seed inside a forked RNG (the caller's random state is untouched); a module without it
gets normal weights with the standard deviation of its current ones. Layers that are
functional calls (no module) are not randomised and are listed.

z+ and alpha-beta rules are known to react little to randomising the upper layers
(Sixt, Granz and Landgraf, "When explanations lie", ICML 2020): their maps converge to
what the lower layers alone produce. The per-stage similarities show it; run the check
under several composites to compare.
"""

import contextlib
import copy

import numpy as np
import torch

from ._common import gini_rows, make_check, nanmean, nanmedian, per_position, rowwise_spearman

SIXT = ("z+ and alpha-beta rules react little to randomising the upper layers "
        "(Sixt et al., ICML 2020)")


def layer_stages(model, explainer):
    """Modules of the explained layers in forward order.

    Parameters
    ----------
    model : torch.nn.Module
        A copy of the user's model (the modules returned belong to it).
    explainer : sparselrp.LRP
        Captured from a model with the same structure.

    Returns
    -------
    stages : list of (str, list of nn.Module)
        One entry per explained layer module (the folded BatchNorms with it).
    skipped : list of str
        Explained layers without a module (functional calls).
    """
    stages, skipped, seen = [], [], set()
    root = model
    for g in explainer.graph.layers:
        if g.op != "call_module":
            skipped.append(g.name)
            continue
        mods = []
        for path in [g.target] + list(getattr(g.layer, "folded", [])):
            m = _submodule(root, path)
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                mods.append(m)
        if mods:
            stages.append((g.name, mods))
        else:
            skipped.append(g.name)
    return stages, skipped


def _submodule(root, path):
    for cand in (path, path.split("#")[0]):
        try:
            return root.get_submodule(cand)
        except AttributeError:
            pass
    # a bare layer is wrapped in nn.Sequential by the capture ("0")
    if path in ("0",):
        return root
    # bn names in the graph may be fx names; try the module path form
    try:
        return root.get_submodule(path.replace("_", "."))
    except AttributeError:
        return None


@contextlib.contextmanager
def _forked_rng(model, seed):
    devs = sorted({p.device.index or 0 for p in model.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=devs):
        torch.manual_seed(seed)
        yield


def reinitialise(modules, model, seed):
    """Re-initialise ``modules`` (in place) under ``seed``, leaving the global RNG alone."""
    with _forked_rng(model, seed), torch.no_grad():
        for m in modules:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
                if hasattr(m, "reset_running_stats"):
                    m.reset_running_stats()
            else:
                for p in m.parameters(recurse=False):
                    sd = float(p.std()) if p.numel() > 1 else 0.0
                    p.normal_(0.0, sd if sd > 0 else 0.05)


def cascade(model, X, R0, target, composite, pruning, seed, batch_size, device, n_random=2):
    """Cascading randomisation of one composite.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (copied, never modified).
    X : torch.Tensor
        ``(N, 4, L)`` input.
    R0 : torch.Tensor
        ``(N, 4, L)`` the model's maps under ``composite`` and ``pruning``.
    target, composite, pruning, batch_size, device
        As :func:`sparselrp.lrp`.
    seed : int
        Seed of the re-initialisation (stage k uses ``seed + k``).
    n_random : int
        Fully re-initialised copies for the sparsity figure (the cascade's last
        stage counts as one).

    Returns
    -------
    dict
        ``stages`` list of str (layer re-initialised at each stage, output first);
        ``similarity`` (N, S) and ``similarity_signed`` (N, S) per sample and stage;
        ``gini_model`` (N,), ``gini_random`` (n_random, N) of unpruned maps;
        ``skipped`` list of str; ``rules`` the composite's rule names.
    """
    from ..lrp import LRP

    work = copy.deepcopy(model)
    base = LRP(work, composite=composite, pruning=pruning, device=device)
    stages, skipped = layer_stages(work, base)
    uses_zplus = any(type(r).__name__ in ("ZPlus", "AlphaBeta") for r in base.rules.values())
    a0 = np.abs(per_position(R0))
    s0 = per_position(R0)
    sims, sims_signed, names = [], [], []
    Rk = None
    for k, (name, mods) in enumerate(reversed(stages)):
        reinitialise(mods, work, seed + k)
        Rk = LRP(work, composite=composite, pruning=pruning, device=device).attribute(
            X, target=target, batch_size=batch_size)
        sims.append(rowwise_spearman(a0, np.abs(per_position(Rk))))
        sims_signed.append(rowwise_spearman(s0, per_position(Rk)))
        names.append(name)
    n = X.shape[0]
    out = {"stages": names, "skipped": skipped, "uses_zplus_alphabeta": uses_zplus,
           "similarity": np.stack(sims, 1) if sims else np.zeros((n, 0)),
           "similarity_signed": np.stack(sims_signed, 1) if sims else np.zeros((n, 0))}
    if not stages:
        out["gini_model"] = gini_rows(per_position(R0))
        out["gini_random"] = np.zeros((0, n))
        return out
    if pruning is None:
        R_model_unpruned = R0
        rand_maps = [Rk]
    else:
        R_model_unpruned = LRP(model, composite=composite, device=device).attribute(
            X, target=target, batch_size=batch_size)
        rand_maps = [LRP(work, composite=composite, device=device).attribute(X, target=target,
                                                                            batch_size=batch_size)]
    for j in range(1, max(1, int(n_random))):
        other = copy.deepcopy(model)
        st, _ = layer_stages(other, base)
        reinitialise([m for _, ms in st for m in ms], other, seed + 1000 * j)
        rand_maps.append(LRP(other, composite=composite, device=device).attribute(
            X, target=target, batch_size=batch_size))
    out["gini_model"] = gini_rows(per_position(R_model_unpruned))
    out["gini_random"] = np.stack([gini_rows(per_position(R)) for R in rand_maps], 0)
    return out


def randomisation_checks(res, composite_name, thresholds, main=True):
    """The two "randomisation" checks of one composite from :func:`cascade` output."""
    tag = f" ({composite_name})"
    if res["similarity"].shape[1] == 0:
        na = "No explained layer could be re-initialised (functional layers only)."
        return [make_check("randomisation", "similarity" + tag, "randomisation_similarity", None, thresholds,
                           "", "", na_text=na, details={"composite": composite_name}),
                make_check("randomisation", "sparsity gain" + tag, "randomisation_sparsity", None, thresholds,
                           "", "", na_text=na, details={"composite": composite_name})]
    per_stage = [nanmedian(res["similarity"][:, k]) for k in range(res["similarity"].shape[1])]
    per_stage_signed = [nanmedian(res["similarity_signed"][:, k]) for k in range(res["similarity"].shape[1])]
    v = per_stage[-1]
    sixt = f" Note: {SIXT}; compare the per-stage similarities." if res["uses_zplus_alphabeta"] else ""
    stage_txt = ", ".join(f"{n} {s:.2f}" for n, s in zip(res["stages"], per_stage))
    details = {"composite": composite_name, "stages": res["stages"], "stage_similarity": per_stage,
               "stage_similarity_signed": per_stage_signed, "not_randomised": res["skipped"],
               "main_composite": main}
    sim = make_check(
        "randomisation", "similarity" + tag, "randomisation_similarity", v, thresholds,
        ok_text=f"With every layer re-initialised the maps change (rank correlation {v:.2f}; by stage, "
                f"output first: {stage_txt}): they depend on the learnt weights.{sixt}",
        bad_text=f"The maps survive re-initialising every layer (rank correlation {v:.2f}; by stage, "
                 f"output first: {stage_txt}): they reflect the architecture and the input, not what "
                 f"the model learnt. Do not read motifs out of them.{sixt}",
        na_text="The similarity is undefined (constant maps).", details=details)
    gm = nanmean(res["gini_model"])
    gr = nanmean(res["gini_random"]) if res["gini_random"].size else float("nan")
    gain = gm - gr if np.isfinite(gm) and np.isfinite(gr) else float("nan")
    sp = make_check(
        "randomisation", "sparsity gain" + tag, "randomisation_sparsity", gain, thresholds,
        ok_text=f"The model's maps are sparser than a random network's of the same architecture "
                f"(Gini {gm:.2f} vs {gr:.2f}): the concentration was learnt.",
        bad_text=f"The model's maps are no sparser than those of a random network of the same "
                 f"architecture (Gini {gm:.2f} vs {gr:.2f}): their sparsity comes from the architecture, "
                 f"not from the data, and a sparse-looking map proves nothing here.",
        na_text="The Gini index is undefined (all-zero maps).",
        details={"composite": composite_name, "gini_model": gm, "gini_random": gr, "main_composite": main})
    for c in (sim, sp):
        c.counts = main
    return [sim, sp]
