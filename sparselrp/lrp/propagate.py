"""The relevance pass over a captured graph: one forward storing activations, then a
hand-written backward step per node (no autograd for convolutions and dense layers;
only their input-gradient operators, with modified weights precomputed once).
"""

import collections
import warnings

import torch
import torch.fx as fx
import torch.nn.functional as F

from ..errors import UnsupportedOperationError
from .composites import NodeInfo
from .graph import _fetch_attr
from .pruning import lambda_redistribute

MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


def _kind_of(g):
    if g.kind == "layer":
        return {"conv": "conv", "linear": "linear", "affine": "batchnorm"}[g.layer.kind]
    if g.kind == "norm":
        return g.norm_type
    return None


class Engine:
    """Rules, pruning plan and the forward/backward passes for one captured graph.

    Parameters
    ----------
    graph : CapturedGraph
    composite : Composite
    pruning : Pruning or None
    """

    def __init__(self, graph, composite, pruning=None):
        self.graph = graph
        self.nodes = graph.nodes
        self.index = {g.fx: g.index for g in graph.nodes}
        self.composite = composite
        self.pruning = pruning
        self._state = None
        self._prepared = {}
        for g in self.nodes:
            k = _kind_of(g)
            if k is None:
                continue
            mtype = g.layer.module_type if g.kind == "layer" else (type(g.module) if g.module is not None else None)
            info = NodeInfo(g.name, k, mtype, g.is_first, fx_name=g.fx.name)
            g.rule = composite.rule_for(info)
        self.layer_names = [g.name for g in graph.layers]
        self.prune_points = self._plan_pruning(pruning) if pruning is not None else {}
        self._warned = set()

    # ------------------------------------------------------------------ pruning plan
    def _default_points(self, types=None):
        pts = []
        for g in self.graph.layers:
            if g.layer.kind == "affine" and types is None:
                continue
            if types is not None and not issubclass(g.layer.module_type, types):
                continue
            j = g.inputs[0]
            if self.nodes[j].structural_from_input:
                continue
            if j not in pts:
                pts.append(j)
        return pts

    def _resolve(self, spec):
        layers = self.graph.layers
        if isinstance(spec, bool):
            raise ValueError(f"invalid pruning layer spec {spec!r}")
        if isinstance(spec, int):
            try:
                g = layers[spec]
            except IndexError:
                raise ValueError(f"pruning layer index {spec} out of range: the model has {len(layers)} "
                                 f"explained layers ({', '.join(self.layer_names)})") from None
            return [self._check_point(g.inputs[0], f"the input of layer '{g.name}'")]
        if isinstance(spec, type):
            pts = self._default_points(types=spec)
            if not pts:
                raise ValueError(f"no prunable layer of type {spec.__name__} in the model")
            return pts
        if isinstance(spec, str):
            for g in layers:
                if g.name == spec or g.fx.name == spec:
                    return [self._check_point(g.inputs[0], f"the input of layer '{g.name}'")]
            for g in self.nodes:
                if g.kind in (None, "meta", "static", "attr", "const", "default_arg"):
                    continue
                if g.name == spec or g.fx.name == spec or (g.op == "call_module" and g.target == spec):
                    return [self._check_point(g.index, f"node '{spec}'")]
            raise ValueError(f"pruning layer {spec!r} not found; explained layers: {', '.join(self.layer_names)}")
        raise ValueError(f"invalid pruning layer spec {spec!r} (use a name, an index or a module type)")

    def _check_point(self, j, what):
        if self.nodes[j].structural_from_input:
            raise ValueError(f"cannot prune {what}: it is the model input X")
        return j

    def _position_points(self):
        """Position-resolved prune points: the output of each first convolution and the
        input of every later convolution (not X, not tensors without a position axis)."""
        pts = []
        for g in self.graph.layers:
            if g.layer.kind != "conv":
                continue
            j = g.index if g.is_first else g.inputs[0]
            if self.nodes[j].structural_from_input or j in pts:
                continue
            pts.append(j)
        return pts

    def _plan_pruning(self, pruning):
        spec = pruning.layers
        points = {}
        default = pruning.default_value
        if spec is None:
            for j in self._default_points():
                points[j] = default
        elif isinstance(spec, str) and spec == "positions":
            for j in self._position_points():
                points[j] = default
            if not points:
                warnings.warn("pruning layers='positions': the model has no convolution, so nothing is pruned "
                              "(the map is plain LRP); name the layers to prune with layers=[...]", stacklevel=4)
        elif isinstance(spec, dict):
            for s, v in spec.items():
                for j in self._resolve(s):
                    points[j] = v
        else:
            specs = spec if isinstance(spec, (list, tuple)) else [spec]
            for s in specs:
                for j in self._resolve(s):
                    points[j] = default
        if any(v is None for v in points.values()):
            raise ValueError("a pruning value (k or p) is missing for some layers")
        return points

    @property
    def prune_point_names(self):
        return [self.nodes[j].name for j in sorted(self.prune_points)]

    # ------------------------------------------------------------------ parameters
    def _ensure(self, dtype, device):
        state = (dtype, str(device))
        if self._state != state:
            self.graph.gm.to(device=device, dtype=dtype)
            self._state = state
        return state

    def _prep(self, g, dtype, device):
        key = (g.index, dtype, str(device))
        P = self._prepared.get(key)
        if P is None:
            W, b = g.layer.params(dtype, device)
            P = g.rule.prepare(W, b)
            self._prepared[key] = P
        return P

    # ------------------------------------------------------------------ forward
    def forward(self, X):
        """Run the captured graph on ``X``, keeping every node's value.

        Returns
        -------
        env : list
            Node values (``None`` for the output node).
        aux : dict
            Max-pool winner indices by node index.
        """
        dtype, device = X.dtype, X.device
        self._ensure(dtype, device)
        nodes, index, gm = self.nodes, self.index, self.graph.gm
        env = [None] * len(nodes)
        aux = {}

        def load(a):
            return fx.node.map_arg(a, lambda n: env[index[n]])

        g = None
        try:
            for g in nodes:
                k = g.kind
                i = g.index
                if k == "input":
                    env[i] = X
                elif k is None:   # output
                    continue
                elif k == "default_arg":
                    env[i] = g.fx.args[0]
                elif k == "attr":
                    env[i] = _fetch_attr(gm, g.target)
                elif k == "layer":
                    W, b = g.layer.params(dtype, device)
                    x = env[g.inputs[0]]
                    z = g.layer.forward(x, W, b)
                    if g.layer.folded and g.layer.kind == "linear" and z.ndim != 2:
                        raise UnsupportedOperationError(
                            f"BatchNorm folded into Linear '{g.name}' on a {z.ndim}-d tensor; cannot fold")
                    env[i] = z
                elif k == "identity":
                    env[i] = env[g.inputs[0]]
                elif k == "select":
                    env[i] = env[g.inputs[0]][g.select_index]
                elif k == "maxpool":
                    x = env[g.inputs[0]]
                    if g.op == "call_module":
                        m = g.module
                        if isinstance(m, torch.nn.AdaptiveMaxPool1d):
                            out, idx = F.adaptive_max_pool1d(x, m.output_size, return_indices=True)
                        else:
                            out, idx = F.max_pool1d(x, m.kernel_size, m.stride, m.padding, m.dilation,
                                                    ceil_mode=m.ceil_mode, return_indices=True)
                    else:
                        args, kwargs = load(g.args), dict(load(g.kwargs))
                        kwargs["return_indices"] = True
                        fn = F.adaptive_max_pool1d if g.target is F.adaptive_max_pool1d else F.max_pool1d
                        out, idx = fn(*args, **kwargs)
                    env[i] = out
                    aux[i] = idx
                elif k == "maxdim":
                    x = env[g.inputs[0]]
                    dim, keepdim, is_max = g.maxdim
                    vals, idx = x.max(dim=dim, keepdim=True)
                    aux[i] = idx
                    out = vals if keepdim else vals.squeeze(dim)
                    env[i] = MaxResult(out, idx if keepdim else idx.squeeze(dim)) if is_max else out
                else:
                    args, kwargs = load(g.args), load(g.kwargs)
                    if g.op == "call_module":
                        env[i] = gm.get_submodule(g.target)(*args, **kwargs)
                    elif g.op == "call_method":
                        env[i] = getattr(args[0], g.target)(*args[1:], **kwargs)
                    else:
                        env[i] = g.target(*args, **kwargs)
        except RuntimeError as exc:
            # a shape mismatch (wrong L for a dense head, too short for the conv stack):
            # name the input and the layer instead of torch's bare message
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = f"at '{g.name}'" if g is not None else "in the model"
            seq_len = getattr(self.graph, "seq_len", None)
            hint = f" (the model's seq_len is {seq_len})" if seq_len else ""
            raise ValueError(f"the model cannot take input of shape {tuple(X.shape)}{hint}: "
                             f"it failed {where}: {first}") from exc
        return env, aux

    def output_value(self, env):
        """The model output (logits) with the captured structure."""
        return fx.node.map_aggregate(self.graph.output_spec, lambda v: env[v] if isinstance(v, int) else v)

    # ------------------------------------------------------------------ helpers
    def _vjp(self, g, env, grad_out):
        """Transpose of a linear node applied to ``grad_out`` for each live input."""
        index = self.index
        leaves = {}

        def leaf(n):
            j = index[n]
            v = env[j]
            if j in g.inputs and isinstance(v, torch.Tensor):
                if j not in leaves:
                    leaves[j] = v.detach().requires_grad_(True)
                return leaves[j]
            if isinstance(v, tuple) and j in g.inputs:
                raise UnsupportedOperationError(f"a tuple of tensors used directly at {g.where}")
            return v

        with torch.enable_grad():
            args = fx.node.map_arg(g.args, leaf)
            kwargs = fx.node.map_arg(g.kwargs, leaf)
            if g.op == "call_module":
                out = self.graph.gm.get_submodule(g.target)(*args, **kwargs)
            elif g.op == "call_method":
                out = getattr(args[0], g.target)(*args[1:], **kwargs)
            else:
                out = g.target(*args, **kwargs)
            if isinstance(out, (tuple, list)):
                outs, grads = [], []
                for o, r in zip(out, grad_out):
                    if r is not None and o.requires_grad:
                        outs.append(o)
                        grads.append(r)
            else:
                outs, grads = [out], [grad_out]
            keys = list(leaves)
            if not outs:
                return {j: None for j in keys}
            res = torch.autograd.grad(outs, [leaves[j] for j in keys], grads, allow_unused=True)
        return dict(zip(keys, res))

    # ------------------------------------------------------------------ backward
    def relevance(self, X, R_out_fn, want_layers=False, want_mult=False, want_info=False):
        """Forward, then the relevance pass.

        Parameters
        ----------
        X : torch.Tensor
            ``(N, 4, L)`` input batch on the compute device and dtype.
        R_out_fn : callable
            ``output -> (R_out, f)``: output relevance (the output's structure) and the
            explained value ``f`` ``(N,)``.
        want_layers, want_mult, want_info : bool
            Collect the per-layer readout, hypothetical multipliers, conservation sums.

        Returns
        -------
        dict
            ``R`` (X's shape), ``f`` (N,), and ``layers`` / ``M`` / ``info`` when asked.
        """
        nodes = self.nodes
        with torch.no_grad():
            env, aux = self.forward(X)
            out = self.output_value(env)
            R_out, f = R_out_fn(out)
        rel = [None] * len(nodes)
        mult = {}
        pending = {}
        readout = {}
        info_abs = {}
        info_pruned = {}
        layer_inputs = {g.inputs[0] for g in self.graph.layers}
        keep_env = self.pruning is not None and self.pruning.redistribute == "matrix"

        def add(j, R, slot=None):
            if R is None:
                return
            g = nodes[j]
            if g.tuple_out:
                if rel[j] is None:
                    rel[j] = {}
                cur = rel[j].get(slot)
                rel[j][slot] = R if cur is None else cur + R
            else:
                rel[j] = R if rel[j] is None else rel[j] + R

        def add_mult(j, M):
            if M is None:
                return
            mult[j] = M if j not in mult else mult[j] + M

        outs = []
        fx.node.map_aggregate(self.graph.output_spec, lambda v: outs.append(v) if isinstance(v, int) else None)
        R_list = []
        fx.node.map_aggregate(R_out, lambda v: R_list.append(v) if isinstance(v, torch.Tensor) or v is None else None)
        if len(R_list) != len(outs):
            R_list = [R_out] if len(outs) == 1 else R_list
        for j, R in zip(outs, R_list):
            add(j, R)

        with torch.no_grad():
            for g in reversed(nodes):
                i = g.index
                R = rel[i]
                if R is None:
                    continue
                k = g.kind
                if k == "input":
                    continue
                if k in ("meta", "static", "attr", "const", "default_arg"):
                    rel[i] = None
                    continue
                if i in self.prune_points:
                    R = self._prune(g, R, env, pending.pop(i, None), info_pruned if want_info else None)
                    rel[i] = R
                if want_layers and i in layer_inputs:
                    readout[i] = R
                want_m = want_mult and g.structural_from_input
                if k == "layer":
                    x = env[g.inputs[0]]
                    P = self._prep(g, X.dtype, X.device)
                    need_m = want_mult and g.is_first
                    if need_m and not g.rule.has_hypothetical:
                        raise ValueError(
                            f"hypothetical scores are not defined for {type(g.rule).__name__} on the first layer "
                            f"'{g.name}' (it gives every base the same share, ignoring which base is observed); "
                            f"use a first-layer rule with hypothetical scores (zB, LRP-0, epsilon, gamma, z+, "
                            f"alpha-beta), e.g. composite 'best-practice' or sl.plrp")
                    res = g.rule.relevance(g.layer, P, x, env[i], R, want_multiplier=need_m)
                    if need_m:
                        Rin, M = res
                        add_mult(g.inputs[0], M)
                    else:
                        Rin = res
                    j = g.inputs[0]
                    if j in self.prune_points and self.pruning.redistribute == "matrix":
                        pending.setdefault(j, []).append((g, R, Rin))
                    if want_info:
                        info_abs[g.name] = _sum(R) - _sum(Rin)
                    add(j, Rin)
                elif k in ("identity", "pass"):
                    add(g.inputs[0], R)
                    if want_m:
                        add_mult(g.inputs[0], mult.get(i))
                elif k == "select":
                    add(g.inputs[0], R, slot=g.select_index)
                    if want_m and i in mult:
                        raise ValueError("hypothetical scores through tuple-valued ops are not supported")
                elif k == "maxpool":
                    x = env[g.inputs[0]]
                    idx = aux[i]
                    Rin = torch.zeros_like(x).scatter_add_(-1, idx, R)
                    add(g.inputs[0], Rin)
                elif k == "maxdim":
                    x = env[g.inputs[0]]
                    dim, keepdim, is_max = g.maxdim
                    if is_max:
                        R = R.get(0)
                        if R is None:
                            continue
                    Rk = R if keepdim else R.unsqueeze(dim)
                    Rin = torch.zeros_like(x).scatter_add_(dim, aux[i], Rk)
                    add(g.inputs[0], Rin)
                elif k == "struct":
                    if g.tuple_out:
                        v = env[i]
                        grad_out = [R.get(s) for s in range(len(v))]
                    else:
                        grad_out = R
                    grads = self._vjp(g, env, grad_out)
                    for j, Rin in grads.items():
                        add(j, Rin)
                    if want_m and i in mult:
                        if g.tuple_out:
                            raise ValueError("hypothetical scores through tuple-valued ops are not supported")
                        for j, Mj in self._vjp(g, env, mult[i]).items():
                            add_mult(j, Mj)
                elif k == "norm":
                    if want_m:
                        raise ValueError(f"hypothetical scores are not defined: the input X feeds a sum/pooling "
                                         f"({g.where}) directly")
                    s = g.rule.divide(R, env[i])
                    grads = self._vjp(g, env, s)
                    tot = None
                    for j, gr in grads.items():
                        if gr is None:
                            continue
                        Rin = env[j] * gr
                        add(j, Rin)
                        if want_info:
                            tot = _sum(Rin) if tot is None else tot + _sum(Rin)
                    if want_info:
                        info_abs[g.name] = _sum(R) - (tot if tot is not None else 0)
                elif k in ("softmax", "softmax_unused"):
                    raise UnsupportedOperationError(
                        f"softmax/log-softmax inside the model at {g.where} cannot be explained "
                        f"(only a final softmax/sigmoid head is removed)")
                else:
                    raise UnsupportedOperationError(f"no relevance rule for node kind {k!r} at {g.where}")
                if i != self.graph.input_index:
                    rel[i] = None
                    if not keep_env:
                        env[i] = None
                    mult.pop(i, None)

        R_in = rel[self.graph.input_index]
        if R_in is None:
            R_in = torch.zeros_like(X)
        result = {"R": R_in, "f": f}
        if want_layers:
            layers = collections.OrderedDict()
            for g in self.graph.layers:
                j = g.inputs[0]
                v = readout.get(j)
                if v is None and j == self.graph.input_index:
                    v = R_in
                layers[g.name] = v if v is not None else torch.zeros_like(X[:0])
            result["layers"] = layers
        if want_mult:
            result["M"] = mult.get(self.graph.input_index, torch.zeros_like(X))
        if want_info:
            order = {g.name: g.index for g in nodes}
            info_abs = collections.OrderedDict(sorted(info_abs.items(), key=lambda kv: order.get(kv[0], 0)))
            info_pruned = collections.OrderedDict(sorted(info_pruned.items(), key=lambda kv: order.get(kv[0], 0)))
            result["info"] = {"absorbed": info_abs, "pruned": info_pruned,
                              "layers": collections.OrderedDict(
                                  (n, _sum(t) if t.shape[0] == X.shape[0] else torch.zeros(X.shape[0], dtype=X.dtype,
                                                                                             device=X.device))
                                  for n, t in (result["layers"].items() if want_layers else []))}
        return result

    def _warn_few_kept(self, g, R, value):
        """Warn once per pruned tensor when a TopK keeps a single unit (or position) of it: a
        prediction resting on several motif instances then loses all but one."""
        strat = self.pruning
        if not hasattr(strat, "count") or g.index in self._warned:
            return
        grouped = strat.group == "position" and R.ndim == 3 and R.shape[-1] > 1
        size = R.shape[-1] if grouped else R[0].numel()
        kept = strat.count(value, size)
        self._warned.add(g.index)
        if kept < 2 <= size:
            what = "positions" if grouped else "units"
            warnings.warn(f"{strat!r} keeps {kept} of the {size} {what} of '{g.name}' per sample: a prediction "
                          f"that rests on several motif instances loses all but one (the validation suite in "
                          f"docs/plrp.md); use a larger k", UserWarning, stacklevel=6)

    def _prune(self, g, R, env, pending, info_pruned):
        strat = self.pruning
        value = self.prune_points[g.index]
        if isinstance(R, dict):
            raise UnsupportedOperationError(f"cannot prune a tuple-valued node at {g.where}")
        self._warn_few_kept(g, R, value)
        Rp, keep = strat.apply(R, value)
        if keep is None:
            return R
        if strat.redistribute == "matrix":
            # consumers that are layers re-split their own step; a tensor consumed by none
            # (e.g. a first convolution's output, read by a ReLU) falls back to lambda
            Rp = self._matrix(g, R, keep, env, pending or [])
        if info_pruned is not None:
            info_pruned[g.name] = _sum(R) - _sum(Rp)
        return Rp

    def _matrix(self, g, R, keep, env, pending):
        """PLRP-M: each consumer layer's step renormalised over the surviving inputs.

        A consumer unit ``j`` handed its inputs ``R_ij = c_ij R_j`` (the rule's
        contributions; the step is linear in ``R``). After pruning it hands the same total
        ``a_j R_j`` (``a_j = sum_i c_ij``) to the survivors only, in proportion to their
        contributions: ``R'_i = keep_i sum_j c_ij R_j a_j / a'_j`` with
        ``a'_j = sum_i keep_i c_ij``. ``a`` and ``a'`` are vector-Jacobian products of the
        rule's step (ones and the keep mask); the bias is never re-evaluated, so no unit
        changes sign. A unit whose survivors hold less than :data:`MATRIX_MIN_SHARE` of its
        contributions (all inputs pruned, or survivors that cancel or oppose the rest) hands
        its relevance over as under lambda: its positive and negative totals go to the
        survivors in proportion to their unpruned relevance (a total whose sign has no
        survivor goes to all survivors in proportion to ``|relevance|``).
        """
        x = env[g.index]
        keepf = keep.to(x.dtype)
        N = R.shape[0]
        total = torch.zeros_like(R)
        share = torch.zeros_like(R)
        for c, Rc, Rin in pending:
            share = share + Rin
            P = self._prep(c, x.dtype, x.device)
            z = env[c.index]
            with torch.enable_grad():
                leaf = Rc.detach().clone().requires_grad_(True)
                out = c.rule.relevance(c.layer, P, x, z, leaf)
                a, = torch.autograd.grad(out, leaf, torch.ones_like(out), retain_graph=True)
                a_kept, = torch.autograd.grad(out, leaf, keepf)
            ratio = torch.where(a != 0, a_kept / torch.where(a != 0, a, 1.0), 0.0)
            ok = ratio >= MATRIX_MIN_SHARE
            Rs = torch.where(ok, Rc * (a / torch.where(ok, a_kept, 1.0)), 0.0)
            Rm = c.rule.relevance(c.layer, P, x, z, Rs) * keepf
            lost = (~ok) & (Rc != 0)
            if bool(lost.any()):
                Rfb = c.rule.relevance(c.layer, P, x, z, torch.where(lost, Rc, 0.0))
                Rm = Rm + lambda_redistribute(R.reshape(N, -1), keep.reshape(N, -1), target=Rfb.reshape(N, -1),
                                              conserve=True).reshape(R.shape)
            total = total + Rm
        # consumers that are not layers (sums, pools): their share falls back to lambda
        rest = R - share
        if bool((rest != 0).any()):
            total = total + lambda_redistribute(rest.reshape(N, -1), keep.reshape(N, -1),
                                                conserve=True).reshape(R.shape)
        return total


#: PLRP-M renormalises a unit over its survivors only when they hold at least this share of
#: its contributions (else lambda): a smaller share would amplify the unit by over 1,000x
MATRIX_MIN_SHARE = 1e-3


def _sum(t):
    return t.reshape(t.shape[0], -1).sum(1)
