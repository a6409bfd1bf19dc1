"""Public entry points: :func:`lrp`, :class:`LRP` and :func:`conservation`."""

import torch

from .composites import get_composite
from .graph import capture
from .propagate import Engine
from .pruning import Pruning
from .targets import normalize_strand_pairs, normalize_target, output_relevance, reverse_strand_target


#: on CPU a batch is explained in steps whose largest intermediate tensor stays under
#: this many bytes (results do not depend on the step; see ``LRP._cpu_chunk``)
CPU_CHUNK_BYTES = 16 * 2 ** 20


def _auto_device(device):
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _check_input(X):
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor (N, 4, L), got {type(X).__name__}")
    if not X.is_floating_point():
        raise ValueError(f"X must be a floating-point tensor (float32 or float64), got {X.dtype}")
    if X.ndim < 2:
        raise ValueError(f"X must have a batch axis, e.g. (N, 4, L); got shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError("X is empty (no samples)")
    if not bool(torch.isfinite(X).all()):
        raise ValueError("X contains NaN or Inf values")


class LRP:
    """Layer-wise relevance propagation for one model, captured once.

    The model is traced with torch.fx into an explicit graph of a canonized *copy*
    (BatchNorm folded, the final softmax/sigmoid removed); the user's model is never
    modified. Modified weights for the rules are computed once per object and dtype.

    Parameters
    ----------
    model : torch.nn.Module
        Takes one input ``(N, 4, L)`` and returns ``(N, K)``, ``(N,)``, a profile, or a
        tuple of tensors (the last two need a callable target).
    composite : str, Composite or dict
        Rule assignment (see :mod:`sparselrp.lrp.composites`); default ``"best-practice"``.
    pruning : TopK, MassPrune or None
        Pruned LRP strategy (see :mod:`sparselrp.lrp.pruning`).
    device : str or torch.device, optional
        Compute device; default CUDA when available, else CPU. Results come back on the
        input's device.
    fold_batchnorm : bool
        Fold each BatchNorm1d into the preceding Conv1d/Linear when that layer feeds
        nothing else (default); ``False`` explains every BatchNorm as an affine layer.

    Attributes
    ----------
    layer_names : list of str
        Explained layers (Conv1d, Linear, unfolded BatchNorm) in forward order.
    prune_points : list of str
        Names of the nodes whose relevance is pruned.
    """

    def __init__(self, model, composite="best-practice", pruning=None, device=None, fold_batchnorm=True):
        if pruning is not None and not isinstance(pruning, Pruning):
            raise TypeError(f"pruning must be sparselrp.TopK(...), sparselrp.MassPrune(...) or None, "
                            f"got {pruning!r}")
        self.device = _auto_device(device)
        self.graph = capture(model, fold_batchnorm=fold_batchnorm)
        self.composite = get_composite(composite)
        self.pruning = pruning
        self.engine = Engine(self.graph, self.composite, pruning)
        self._per_sample_bytes = {}

    @property
    def layer_names(self):
        return list(self.engine.layer_names)

    @property
    def prune_points(self):
        return self.engine.prune_point_names

    @property
    def rules(self):
        """dict {layer or sum node name: rule} of the assignment."""
        return {g.name: g.rule for g in self.graph.nodes if g.rule is not None}

    def __call__(self, X, target=0, **kwargs):
        return self.attribute(X, target=target, **kwargs)

    def _run(self, X, target, batch_size, progress, want_layers, want_mult, want_info):
        _check_input(X)
        if batch_size is None or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        n = X.shape[0]
        tgt = normalize_target(target, n)
        dev = self.device
        dtype = X.dtype
        step = int(batch_size)
        if dev.type == "cpu":
            step = min(step, self._cpu_chunk(X, dtype))
        chunks = []
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=n, desc="lrp", unit="seq")
        try:
            for s in range(0, n, step):
                xb = X[s:s + step].to(device=dev, dtype=dtype)
                tb = tgt[s:s + step] if isinstance(tgt, torch.Tensor) else tgt
                res = self.engine.relevance(xb, lambda out: output_relevance(out, tb),
                                            want_layers=want_layers, want_mult=want_mult, want_info=want_info)
                chunks.append(res)
                if bar is not None:
                    bar.update(xb.shape[0])
        finally:
            if bar is not None:
                bar.close()
        return chunks

    def _cpu_chunk(self, X, dtype):
        """Samples per CPU step: as many as keep the largest intermediate tensor of the
        relevance pass under :data:`CPU_CHUNK_BYTES` (at least one). Large temporaries are
        served by fresh memory maps on every allocation, and their page faults, not the
        arithmetic, dominated CPU time at big batches; small steps reuse freed memory.
        Measured once per input length and dtype with a one-sample forward pass."""
        key = (tuple(X.shape[1:]), dtype)
        per = self._per_sample_bytes.get(key)
        if per is None:
            try:
                with torch.no_grad():
                    env, _ = self.engine.forward(X[:1].to(device=self.device, dtype=dtype))
            except ValueError:
                return X.shape[0]   # the model cannot take X: the first batch raises the named error
            sizes = [v.numel() * v.element_size() for v in env if isinstance(v, torch.Tensor)]
            per = max(sizes) if sizes else 1
            self._per_sample_bytes[key] = per
        return max(1, CPU_CHUNK_BYTES // max(1, per))

    @staticmethod
    def _cat(chunks, key, device):
        return torch.cat([c[key] for c in chunks], 0).to(device)

    def attribute(self, X, target=0, batch_size=256, return_layers=False, hypothetical=False,
                  strand_average=False, progress=False, return_output=False, strand_pairs=None):
        """Relevance of every input entry for the explained output.

        Parameters
        ----------
        X : torch.Tensor
            ``(N, 4, L)`` one-hot (or any float input), float32 or float64.
        target : int, sequence of N ints, or callable
            Output index, one index per sample, or ``callable(output) -> (N,)``.
        batch_size : int
            Samples per pass; results do not depend on it. On CPU a pass is split further
            so that no intermediate tensor exceeds ``CPU_CHUNK_BYTES`` (16 MiB): faster.
        return_layers : bool
            Also return an ordered dict ``{layer name: relevance (N, ...) of that layer's
            input}`` (after pruning where pruned), in forward order.
        hypothetical : bool
            Return hypothetical scores ``H`` ``(N, 4, L)`` for all four bases instead:
            the first layer's per-input multipliers, with ``H * X`` equal to the normal
            map. Defined for first-layer rules that multiply by the input (LRP-0,
            epsilon, gamma, z+, alpha-beta); ``ValueError`` for zB, flat and w-square.
        strand_average : bool
            Average with the map of the reverse-complement input flipped back
            (``X.flip(1, 2)``); with ``return_layers`` the layers are from the forward strand.
        progress : bool
            Show a tqdm progress bar over batches.
        return_output : bool
            Also return the explained value ``f_t(x)`` ``(N,)`` (on the logits the pass
            starts from; with ``strand_average`` the mean over both strands), as the
            last element of the returned tuple. Costs nothing extra.
        strand_pairs : sequence of int or dict, optional
            For stranded outputs with ``strand_average``: ``strand_pairs[t]`` is the output
            that answers target ``t`` on the reverse-complement input (``[1, 0]`` for
            outputs (plus strand, minus strand)). Default: the same index on both strands,
            right for unstranded outputs only. See
            :func:`~sparselrp.lrp.targets.normalize_strand_pairs`.

        Returns
        -------
        torch.Tensor or tuple
            ``R`` with ``X``'s shape, dtype and device; then the per-layer readout
            (``return_layers``) and ``f`` (N,) (``return_output``), in that order.
        """
        pairs = normalize_strand_pairs(strand_pairs)
        if pairs is not None and not strand_average:
            raise ValueError("strand_pairs is used only with strand_average=True")
        chunks = self._run(X, target, batch_size, progress, return_layers, hypothetical, False)
        key = "M" if hypothetical else "R"
        rc = None
        if strand_average:
            if X.ndim != 3 or X.shape[1] != 4:
                raise ValueError(f"strand averaging needs one-hot input (N, 4, L), got {tuple(X.shape)}")
            rc_target = reverse_strand_target(normalize_target(target, X.shape[0]), pairs)
            rc = self._run(X.flip(1, 2), rc_target, batch_size, progress, False, hypothetical, False)
        return self._assemble(chunks, rc, key, X.device, return_layers, return_output)

    def _assemble(self, chunks, rc, key, device, return_layers, return_output):
        """The returned tuple from the chunks of one target: the map (averaged with the reverse
        strand's chunks ``rc`` flipped back, when given), then the per-layer readout and the
        explained value when asked."""
        R = self._cat(chunks, key, device)
        if rc is not None:
            R = 0.5 * (R + self._cat(rc, key, device).flip(1, 2))
        extra = []
        if return_layers:
            import collections
            layers = collections.OrderedDict()
            for name in chunks[0]["layers"]:
                layers[name] = torch.cat([c["layers"][name] for c in chunks], 0).to(device)
            extra.append(layers)
        if return_output:
            f = self._cat(chunks, "f", device)
            if rc is not None:
                f = 0.5 * (f + self._cat(rc, "f", device))
            extra.append(f)
        return (R, *extra) if extra else R

    def _run_many(self, X, targets, batch_size, want_layers, want_mult):
        """Like :meth:`_run` for several targets: one forward pass per batch step, then one
        relevance pass per target from it. Returns one list of chunks per target."""
        _check_input(X)
        if batch_size is None or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        n = X.shape[0]
        tgts = [normalize_target(t, n) for t in targets]
        dtype = X.dtype
        step = int(batch_size)
        if self.device.type == "cpu":
            step = min(step, self._cpu_chunk(X, dtype))
        per = [[] for _ in tgts]
        engine = self.engine
        for s in range(0, n, step):
            xb = X[s:s + step].to(device=self.device, dtype=dtype)
            with torch.no_grad():
                env, aux = engine.forward(xb)
            # the relevance pass clears the node values it is done with: each target starts
            # from a fresh list of the same (unmodified) forward values
            engine.forward = lambda _x, _env=env, _aux=aux: (list(_env), dict(_aux))
            try:
                for k, tgt in enumerate(tgts):
                    tb = tgt[s:s + step] if isinstance(tgt, torch.Tensor) else tgt
                    per[k].append(engine.relevance(xb, lambda out, tb=tb: output_relevance(out, tb),
                                                   want_layers=want_layers, want_mult=want_mult))
            finally:
                del engine.forward
        return per

    def attribute_many(self, X, targets, batch_size=256, return_layers=False, hypothetical=False,
                       strand_average=False, strand_pairs=None, return_output=False):
        """Explain several targets with one forward pass per batch (per strand).

        Parameters
        ----------
        X : torch.Tensor
            ``(N, 4, L)``.
        targets : sequence
            Targets as :meth:`attribute` takes them (ints, per-sample indices, callables).
        batch_size, return_layers, hypothetical, strand_average, strand_pairs, return_output
            As :meth:`attribute`.

        Returns
        -------
        list
            One entry per target, each exactly what :meth:`attribute` returns for it.
        """
        targets = list(targets)
        if not targets:
            raise ValueError("targets is empty")
        pairs = normalize_strand_pairs(strand_pairs)
        if pairs is not None and not strand_average:
            raise ValueError("strand_pairs is used only with strand_average=True")
        key = "M" if hypothetical else "R"
        per = self._run_many(X, targets, batch_size, return_layers, hypothetical)
        rc = [None] * len(targets)
        if strand_average:
            if X.ndim != 3 or X.shape[1] != 4:
                raise ValueError(f"strand averaging needs one-hot input (N, 4, L), got {tuple(X.shape)}")
            rc_targets = [reverse_strand_target(normalize_target(t, X.shape[0]), pairs) for t in targets]
            rc = self._run_many(X.flip(1, 2), rc_targets, batch_size, False, hypothetical)
        results = []
        for chunks, rck in zip(per, rc):
            results.append(self._assemble(chunks, rck, key, X.device, return_layers, return_output))
        return results

    def conservation(self, X, target=0, batch_size=256):
        """Per-sample conservation diagnostics (see :func:`conservation`)."""
        chunks = self._run(X, target, batch_size, False, True, False, True)
        dev = X.device
        out = {
            "output": self._cat(chunks, "f", dev),
            "input_sum": torch.cat([c["R"].reshape(c["R"].shape[0], -1).sum(1) for c in chunks]).to(dev),
        }
        names_abs = list(chunks[0]["info"]["absorbed"])
        per_abs = {nm: torch.cat([c["info"]["absorbed"][nm] for c in chunks]).to(dev) for nm in names_abs}
        names_pr = set().union(*(c["info"]["pruned"].keys() for c in chunks))
        per_pr = {}
        for nm in names_pr:
            per_pr[nm] = torch.cat([c["info"]["pruned"].get(nm, torch.zeros(c["R"].shape[0], dtype=X.dtype,
                                                                              device=c["R"].device))
                                    for c in chunks]).to(dev)
        zero = torch.zeros_like(out["output"])
        out["absorbed"] = sum(per_abs.values(), zero)
        out["pruned"] = sum(per_pr.values(), zero)
        out["gap"] = out["output"] - out["input_sum"]
        out["per_layer_absorbed"] = per_abs
        out["per_layer_pruned"] = per_pr
        out["per_layer_sum"] = {nm: torch.cat([c["info"]["layers"][nm] for c in chunks]).to(dev)
                                for nm in chunks[0]["info"]["layers"]}
        return out


def lrp(model, X, target=0, composite="best-practice", pruning=None, batch_size=256, device=None,
        return_layers=False, hypothetical=False, strand_average=False, progress=False, strand_pairs=None):
    """Layer-wise relevance propagation (optionally pruned) of ``model`` at ``X``.

    A thin wrapper around :class:`LRP` (use the object form to explain many batches
    with one capture).

    Parameters
    ----------
    model : torch.nn.Module
        Built from supported operations (see :mod:`sparselrp.lrp.graph`); not modified.
    X : torch.Tensor
        ``(N, 4, L)`` one-hot DNA (rows A, C, G, T), float32 or float64.
    target : int, sequence of N ints, or callable
        See :mod:`sparselrp.lrp.targets`. The pass starts from ``f_t(x)``.
    composite : str, Composite or dict
        ``"zero"``, ``"epsilon"``, ``"epsilon-plus"``, ``"epsilon-plus-flat"``,
        ``"epsilon-gamma-box"``, ``"epsilon-alpha2-beta1"``, ``"epsilon-alpha2-beta1-flat"``,
        ``"best-practice"`` (default), a :class:`~sparselrp.lrp.composites.Composite` or a
        dict ``{module type / kind / module name: rule}``.
    pruning : TopK, MassPrune or None
        Pruned LRP.
    batch_size : int
        Samples per pass (results independent of it; on CPU split further into steps
        whose largest intermediate tensor stays under 16 MiB).
    device : str or torch.device, optional
        Compute device (default CUDA when available).
    return_layers, hypothetical, strand_average, progress : bool
        See :meth:`LRP.attribute`.
    strand_pairs : sequence of int or dict, optional
        Which reverse-strand output answers each target (see :meth:`LRP.attribute`).

    Returns
    -------
    torch.Tensor
        ``(N, 4, L)`` relevance with X's shape, dtype and device (with
        ``return_layers=True``: ``(R, layers)``).
    """
    return LRP(model, composite=composite, pruning=pruning, device=device).attribute(
        X, target=target, batch_size=batch_size, return_layers=return_layers, hypothetical=hypothetical,
        strand_average=strand_average, progress=progress, strand_pairs=strand_pairs)


def conservation(model, X, target=0, composite="best-practice", pruning=None, batch_size=256, device=None):
    """Per-sample conservation diagnostics of an LRP explanation.

    Parameters
    ----------
    model, X, target, composite, pruning, batch_size, device
        As :func:`lrp`.

    Returns
    -------
    dict
        ``output`` (N,): the explained value f_t(x); ``input_sum`` (N,): sum of the input
        relevance; ``gap`` (N,): output - input_sum; ``absorbed`` (N,): relevance absorbed
        by the layers (bias terms, stabilisers, non-conserving rules), summed over layers;
        ``pruned`` (N,): relevance removed by pruning (non-zero only for
        ``redistribute="none"`` or a sign with no survivor); ``per_layer_absorbed`` and
        ``per_layer_pruned``: dicts {node name: (N,)}; ``per_layer_sum``: dict
        {layer name: (N,)} sum of the relevance of each explained layer's input.
        Up to float error, ``gap == absorbed + pruned``.
    """
    return LRP(model, composite=composite, pruning=pruning, device=device).conservation(
        X, target=target, batch_size=batch_size)
