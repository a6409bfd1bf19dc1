"""Capture a model as an explicit graph (torch.fx) and canonize it for LRP.

:func:`capture` traces a *copy* of the user's model with ``torch.fx.symbolic_trace``
(torch.nn built-in modules are leaves, user modules are traced through, so functional
calls and residual adds are explicit nodes) and classifies every node that carries
input-dependent tensors into one of the kinds below. Anything else raises
:class:`~sparselrp.errors.UnsupportedOperationError` naming the operation and where it
is in the model (node name and module path).

kinds
-----
``input``     the model input X
``layer``     Conv1d / Linear (module or functional) or an unfolded BatchNorm1d (affine),
              explained by a rule (:class:`LayerOp`)
``pass``      element-wise activations, Dropout, identity, dtype casts, scalar scaling
``maxpool``   MaxPool1d / AdaptiveMaxPool1d / F.max_pool1d: winner takes all (torch's index)
``maxdim``    max/amax over one axis (global max pooling): winner takes all
``norm``      sums of input-dependent tensors (residual add, sub), sum/mean over axes,
              average and adaptive-average pooling, add/multiply by constants: split in
              proportion to the contributions (zennit's Norm)
``struct``    shape-only linear ops (view, reshape, flatten, permute, transpose, squeeze,
              unsqueeze, cat, stack, slicing, cropping, zero padding, flip, chunk, split...):
              relevance moves with the values
``select``    picks one element of a tuple-valued node (chunk/split/max results)
``meta``      input-dependent non-tensor values (``x.size(0)``, ``x.shape``)
``const``     tensors that do not depend on the input values (``zeros_like``, ``new_zeros``) and
              detached tensors (``x.detach()``, e.g. BPNet's softmax profile weights): constants
              of the relevance pass, which neither receive nor pass on relevance

BatchNorm1d is folded into the preceding Conv1d/Linear when that layer feeds nothing else
(``w' = w gamma / sqrt(var + eps)``, ``b' = (b - mean) gamma / sqrt(var + eps) + beta``);
otherwise it becomes an affine ``layer`` explained with the epsilon rule. A final
softmax / log-softmax / sigmoid is removed: the model is explained on its logits.
"""

import copy
import operator

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UnsupportedOperationError

_PASS_MODULES = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.SiLU,
    nn.ReLU6, nn.PReLU, nn.Hardtanh, nn.SELU, nn.CELU, nn.Mish, nn.Softsign, nn.Hardswish,
    nn.Hardsigmoid, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.LogSigmoid,
)
_IDENTITY_MODULES = (nn.Dropout, nn.Dropout1d, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Identity)
_PASS_FUNCS = {
    F.relu, torch.relu, F.leaky_relu, F.elu, F.gelu, torch.sigmoid, F.sigmoid, torch.tanh,
    F.tanh, F.softplus, F.silu, F.relu6, F.hardtanh, F.selu, torch.selu, F.celu, F.mish,
    F.softsign, F.hardswish, F.hardsigmoid, F.logsigmoid, torch.nn.functional.prelu,
    F.relu_, torch.relu_,
}
_IDENTITY_FUNCS = {F.dropout, torch.dropout, F.alpha_dropout, F.dropout1d, F.feature_alpha_dropout}
_PASS_METHODS = {"relu", "relu_", "sigmoid", "tanh", "sigmoid_", "tanh_"}
_IDENTITY_METHODS = {"contiguous", "clone", "float", "double", "to", "type_as", "type", "cpu", "cuda"}
_INPLACE_METHODS = {"relu_": "relu", "sigmoid_": "sigmoid", "tanh_": "tanh", "add_": "add",
                    "sub_": "sub", "mul_": "mul", "div_": "div"}
_INPLACE_FUNCS = {operator.iadd: operator.add, operator.isub: operator.sub,
                  operator.imul: operator.mul, operator.itruediv: operator.truediv,
                  F.relu_: F.relu, torch.relu_: torch.relu}

_STRUCT_FUNCS = {
    torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
    torch.cat, torch.concat, torch.concatenate, torch.stack, torch.flip, torch.roll, torch.narrow,
    torch.movedim, torch.swapaxes, torch.swapdims, torch.t, torch.tile, F.pad,
    operator.getitem,
}
_TUPLE_FUNCS = {torch.chunk, torch.split, torch.unbind, torch.tensor_split}
_STRUCT_METHODS = {
    "view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "flip", "roll",
    "narrow", "expand", "expand_as", "repeat", "view_as", "reshape_as", "movedim", "swapaxes",
    "swapdims", "t", "unflatten", "tile",
}
_TUPLE_METHODS = {"chunk", "split", "unbind", "tensor_split"}
_STRUCT_MODULES = (nn.Flatten, nn.Unflatten, nn.ConstantPad1d, nn.ZeroPad1d)

_SUM_FUNCS = {operator.add, torch.add, operator.sub, torch.sub, torch.sum}
_SUM_METHODS = {"add", "sub", "sum"}
_AVG_FUNCS = {torch.mean, F.avg_pool1d, torch.avg_pool1d, F.adaptive_avg_pool1d, torch.adaptive_avg_pool1d}
_AVG_METHODS = {"mean"}
_AVG_MODULES = (nn.AvgPool1d, nn.AdaptiveAvgPool1d)
_SCALE_FUNCS = {operator.mul, torch.mul, operator.truediv, torch.div, operator.neg, torch.neg}
_SCALE_METHODS = {"mul", "div", "neg"}

_MAXPOOL_FUNCS = {F.max_pool1d, torch.max_pool1d, F.adaptive_max_pool1d}
_MAXPOOL_MODULES = (nn.MaxPool1d, nn.AdaptiveMaxPool1d)
_MAXDIM_FUNCS = {torch.amax, torch.max}
_MAXDIM_METHODS = {"amax", "max"}

_CONV_FUNCS = {F.conv1d, torch.conv1d}
_LINEAR_FUNCS = {F.linear, torch.nn.functional.linear}
_BN_FUNCS = {F.batch_norm, torch.batch_norm}

_HEAD_MODULES = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)
_HEAD_FUNCS = {F.softmax, torch.softmax, F.log_softmax, torch.log_softmax, torch.sigmoid, F.sigmoid}
_HEAD_METHODS = {"softmax", "log_softmax", "sigmoid"}

_META_METHODS = {"size", "dim", "numel", "ndimension", "get_device", "nelement"}
_META_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "indices"}
_CONST_FUNCS = {torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like, torch.rand_like,
                torch.randn_like}
_CONST_METHODS = {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "detach"}
_CONST_FUNCS_DETACH = {torch.detach}


def _fname(target):
    if isinstance(target, str):
        return target
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if mod.startswith("torch.nn.functional"):
        return f"torch.nn.functional.{name}"
    if mod.startswith("_operator") or mod == "operator":
        return f"operator.{name}"
    if mod.startswith("torch"):
        return f"torch.{name}"
    return f"{mod}.{name}" if mod else name


class LayerOp:
    """One linear layer of the captured graph: Conv1d, Linear or an affine BatchNorm.

    Parameters
    ----------
    name : str
        Layer name (module path, or the fx node name for functional calls).
    kind : {"conv", "linear", "affine"}
        ``conv``: weight ``(C_out, C_in / groups, K)``; ``linear``: ``(F_out, F_in)``
        applied to the last axis; ``affine``: per-channel scale ``(C,)`` on axis 1.
    weight, bias : torch.Tensor
        Parameters (``bias`` may be None).
    """

    def __init__(self, name, kind, weight, bias, module_type, stride=1, pads=(0, 0), dilation=1, groups=1):
        self.name = name
        self.kind = kind
        # the graph owns a private copy of the model, so no further copy is needed
        self.weight = weight.detach()
        self.bias = None if bias is None else bias.detach()
        self.module_type = module_type
        self.stride = stride
        self.pads = tuple(pads)
        self.dilation = dilation
        self.groups = groups
        self._cast = {}
        self.folded = []  # names of BatchNorms folded in

    def params(self, dtype, device):
        """Weight and bias cast to ``dtype`` on ``device`` (cached)."""
        key = (dtype, str(device))
        if key not in self._cast:
            W = self.weight.to(device=device, dtype=dtype)
            b = None if self.bias is None else self.bias.to(device=device, dtype=dtype)
            self._cast[key] = (W, b)
        return self._cast[key]

    def fold_batchnorm(self, scale, shift, bn_name):
        """Fold ``y = scale * z + shift`` (per output channel) into this layer."""
        W = self.weight.double()
        b = torch.zeros(W.shape[0], dtype=torch.float64, device=W.device) if self.bias is None else self.bias.double()
        scale = scale.double().to(W.device)
        shift = shift.double().to(W.device)
        shape = (-1,) + (1,) * (W.ndim - 1)
        dtype = self.weight.dtype
        self.weight = (W * scale.view(shape)).to(dtype)
        self.bias = (b * scale + shift).to(dtype)
        self._cast = {}
        self.folded.append(bn_name)

    def _view(self, v, ndim):
        return v.view((1, -1) + (1,) * (ndim - 2))

    def expand_bias(self, b, z):
        """The bias broadcastable against the output ``z``."""
        if self.kind == "linear":
            return b
        return self._view(b, z.ndim)

    def forward(self, x, W, b):
        """The layer with parameters ``W``, ``b`` applied to ``x``."""
        if self.kind == "conv":
            l, r = self.pads
            if l == r:
                return F.conv1d(x, W, b, self.stride, l, self.dilation, self.groups)
            return F.conv1d(F.pad(x, (l, r)), W, b, self.stride, 0, self.dilation, self.groups)
        if self.kind == "linear":
            return F.linear(x, W, b)
        y = x * self._view(W, x.ndim)
        return y if b is None else y + self._view(b, x.ndim)

    def transpose(self, s, W, x_shape):
        """The transposed map (input gradient of ``x -> forward(x, W, 0)``) applied to ``s``."""
        if self.kind == "conv":
            l, r = self.pads
            if l == r:
                return torch.nn.grad.conv1d_input(tuple(x_shape), W, s, self.stride, l, self.dilation, self.groups)
            shape = tuple(x_shape[:-1]) + (x_shape[-1] + l + r,)
            g = torch.nn.grad.conv1d_input(shape, W, s, self.stride, 0, self.dilation, self.groups)
            return g[..., l:l + x_shape[-1]]
        if self.kind == "linear":
            return s @ W
        return s * self._view(W, s.ndim)

    def transpose2(self, s1, W1, s2, W2, x_shape, cache=None):
        """``transpose(s1, W1) + transpose(s2, W2)`` in one call where possible
        (``cache``: a dict where the stacked weight is kept)."""
        if self.kind in ("conv", "linear") and (self.kind == "linear" or self.groups == 1):
            key = ("stack2", id(W1), id(W2))
            Ws = None if cache is None else cache.get(key)
            if Ws is None:
                Ws = torch.cat([W1, W2], 0)
                if cache is not None:
                    cache[key] = Ws
            if self.kind == "linear":
                return torch.cat([s1, s2], -1) @ Ws
            return self.transpose(torch.cat([s1, s2], 1), Ws, x_shape)
        return self.transpose(s1, W1, x_shape) + self.transpose(s2, W2, x_shape)


class GNode:
    """A node of the captured graph."""

    __slots__ = ("index", "fx", "kind", "name", "inputs", "layer", "op", "target", "args", "kwargs",
                 "sub", "users", "is_first", "structural_from_input", "module", "where", "tuple_out",
                 "select_index", "rule", "norm_type", "maxdim")

    def __init__(self, index, node):
        self.index = index
        self.fx = node
        self.kind = None
        self.name = node.name
        self.inputs = []
        self.layer = None
        self.op = node.op
        self.target = node.target
        self.args = node.args
        self.kwargs = dict(node.kwargs)
        self.sub = None
        self.users = []
        self.is_first = False
        self.structural_from_input = False
        self.module = None
        self.where = ""
        self.tuple_out = False
        self.select_index = None
        self.rule = None
        self.norm_type = None
        self.maxdim = None

    def __repr__(self):
        return f"GNode({self.index}, {self.name!r}, kind={self.kind!r})"


class _Tracer(fx.Tracer):
    """torch.nn built-in modules are leaves (fx's default); containers and user modules are
    traced through."""


def _where(node, module_path=None):
    stack = node.meta.get("nn_module_stack")
    path = module_path
    if path is None and stack:
        path = list(stack.values())[-1][0] if stack else None
    loc = f"node '{node.name}'"
    if path:
        loc += f" in module '{path}'"
    return loc


def _conv_pads(padding, kernel_size, dilation, stride, name):
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding == "same":
            total = dilation * (kernel_size - 1)
            return (total // 2, total - total // 2)
        raise UnsupportedOperationError(f"convolution padding {padding!r} at {name} is not supported")
    if isinstance(padding, (tuple, list)):
        padding = padding[0]
    return (int(padding), int(padding))


def _one(v):
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def _functionalize_inplace(graph):
    """Make in-place updates explicit: after ``h.relu_()`` (result unused, as a statement),
    later uses of ``h`` read the updated value, i.e. the in-place node. (Updates through a
    view of another tensor are not followed.)"""
    order = {n: i for i, n in enumerate(graph.nodes)}
    for n in list(graph.nodes):
        inplace = (n.op == "call_method" and isinstance(n.target, str) and n.target in _INPLACE_METHODS) or \
                  (n.op == "call_function" and (n.target in _INPLACE_FUNCS or
                                                (n.target in _PASS_FUNCS and n.kwargs.get("inplace") is True)))
        if not inplace or not n.args or not isinstance(n.args[0], fx.Node):
            continue
        a = n.args[0]
        for user in list(a.users):
            if user is not n and order[user] > order[n]:
                user.replace_input_with(a, n)


def _default_args(model):
    """``{name: default}`` of ``forward``'s parameters after the first that have defaults.

    They are traced at their default value (``forward(X, X_ctl=None)`` is captured as
    ``forward(X)``), so a Python test such as ``if X_ctl is None`` takes the branch of
    a one-input call.
    """
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    out = {}
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is not p.empty:
            out[p.name] = p.default
    return out


# (what torch.fx says, the construct in the user's words, the fix)
_TRACE_CONSTRUCTS = (
    ("cannot be used as inputs to control flow",
     "a Python if/while/and/or/not on a tensor value",
     "compute both branches and choose with torch.where(cond, a, b), or decide from a constructor "
     "argument or an input shape instead of the input's values"),
    ("cannot be iterated",
     "iteration over a tensor (a for loop over it, unpacking, or *x)",
     "loop over a fixed range (for i in range(self.n_layers)) or use x.unbind(dim) / x.chunk(n, dim)"),
    ("'len' is not supported",
     "len() of a tensor",
     "use x.shape[0]"),
    ("not 'Proxy'",
     "converting a tensor to a Python number (int(), float(), .item(), range(x))",
     "keep the value a tensor, or compute it from shapes (x.shape[-1]) or constructor arguments"),
    ("cannot be interpreted as an integer",
     "converting a tensor to a Python number (int(), float(), .item(), range(x))",
     "keep the value a tensor, or compute it from shapes (x.shape[-1]) or constructor arguments"),
    ("object is not subscriptable",
     "indexing a non-tensor value",
     "check the forward() line named here"),
)


def _user_frame(exc):
    """The innermost traceback frame outside torch (the user's forward line) and its module."""
    import os
    import traceback

    torch_dir = os.path.dirname(torch.__file__)
    here = os.path.dirname(os.path.abspath(__file__))
    found = None
    tb = exc.__traceback__
    while tb is not None:
        f = tb.tb_frame
        fn = os.path.abspath(f.f_code.co_filename)
        if not fn.startswith(torch_dir) and not fn.startswith(here):
            found = (f, tb.tb_lineno)
        tb = tb.tb_next
    if found is None:
        return None
    f, lineno = found
    summary = traceback.FrameSummary(f.f_code.co_filename, lineno, f.f_code.co_name)
    owner = f.f_locals.get("self")
    return summary, owner


def _trace_failure(exc, model):
    """One line: which module and construct torch.fx could not trace, and the fix."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    construct, fix = None, None
    for key, what, how in _TRACE_CONSTRUCTS:
        if key in str(exc):
            construct, fix = what, how
            break
    where = ""
    found = _user_frame(exc)
    if found is not None:
        summary, owner = found
        import os

        if isinstance(owner, nn.Module):
            path = next((name for name, m in model.named_modules() if m is owner), None)
            where = f" in {type(owner).__name__}.{summary.name}" + (f" (module '{path}')" if path else "")
        else:
            where = f" in {summary.name}()"
        code = (summary.line or "").strip()
        where += f", {os.path.basename(summary.filename)} line {summary.lineno}"
        if code:
            where += f": `{code}`"
    if construct is None:
        return (f"cannot capture the model as a graph (torch.fx {type(exc).__name__}{where}: {msg}); "
                f"forward() must be a fixed sequence of tensor operations")
    return (f"cannot capture the model as a graph: {construct}{where}; torch.fx records tensor operations but "
            f"cannot follow Python that depends on the input's values. Fix: {fix}")


class CapturedGraph:
    """The canonized graph of a model copy (see module docstring).

    Attributes
    ----------
    nodes : list of GNode
        In forward (topological) order.
    layers : list of GNode
        The ``layer`` nodes (Conv1d, Linear, unfolded BatchNorm) in forward order.
    gm : torch.fx.GraphModule
        The traced copy (owns the copied parameters).
    output_spec
        The output structure with node indices in place of nodes.
    """

    def __init__(self, model, fold_batchnorm=True):
        self.fold_batchnorm = fold_batchnorm
        self._build(model)

    # ------------------------------------------------------------------ capture
    def _build(self, model):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        model_copy = copy.deepcopy(model)
        model_copy.eval()
        for p in model_copy.parameters():
            p.requires_grad_(False)
        for m in model_copy.modules():
            if hasattr(m, "inplace"):
                m.inplace = False
        if isinstance(model_copy, _HEAD_MODULES + _PASS_MODULES + _IDENTITY_MODULES) or \
                isinstance(model_copy, (nn.Conv1d, nn.Linear, nn.BatchNorm1d) + _MAXPOOL_MODULES + _AVG_MODULES):
            wrapper = nn.Sequential(model_copy)
            model_copy = wrapper
        try:
            tracer = _Tracer()
            graph = tracer.trace(model_copy, concrete_args=_default_args(model_copy) or None)
        except UnsupportedOperationError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise UnsupportedOperationError(_trace_failure(exc, model_copy)) from exc
        self.gm = fx.GraphModule(model_copy, graph)
        _functionalize_inplace(self.gm.graph)
        # outputs nothing uses (e.g. a count head computed beside the explained profile)
        # need no rule: drop them before classifying
        self.gm.graph.eliminate_dead_code()
        self.gm.recompile()
        graph = self.gm.graph
        self.module = model_copy
        fx_nodes = list(graph.nodes)
        index = {n: i for i, n in enumerate(fx_nodes)}
        nodes = [GNode(i, n) for i, n in enumerate(fx_nodes)]
        self.nodes = nodes
        live = [False] * len(nodes)     # carries input-dependent tensors
        meta = [False] * len(nodes)     # input-dependent non-tensor
        placeholders = [g for g in nodes if g.op == "placeholder"]
        if not placeholders:
            raise UnsupportedOperationError("the model's forward() takes no input")
        self.input_index = placeholders[0].index
        for g in placeholders[1:]:
            if not g.fx.args:
                raise UnsupportedOperationError(
                    f"the model's forward() needs more than one input (argument '{g.name}'); "
                    f"only models of one input tensor X can be explained (wrap the model)")
        self.output_spec = None
        output_node = None

        def live_inputs(g):
            found = []
            fx.node.map_arg((g.args, g.kwargs), lambda n: found.append(index[n]) or n)
            return found

        for g in nodes:
            node = g.fx
            if g.op == "placeholder":
                if g.index == self.input_index:
                    g.kind = "input"
                    live[g.index] = True
                else:
                    g.kind = "default_arg"
                continue
            if g.op == "get_attr":
                g.kind = "attr"
                continue
            if g.op == "output":
                output_node = g
                continue
            ins = live_inputs(g)
            tensor_ins = [j for j in ins if live[j]]
            meta_ins = [j for j in ins if meta[j]]
            if not tensor_ins:
                if meta_ins:
                    meta[g.index] = True
                    g.kind = "meta"
                else:
                    g.kind = "static"
                continue
            g.inputs = list(dict.fromkeys(tensor_ins))
            self._classify(g, nodes, live, meta, index)
        # output
        out_arg = output_node.args[0]
        self.output_spec = fx.node.map_arg(out_arg, lambda n: index[n])
        self._strip_heads(nodes)
        # users
        for g in nodes:
            for j in g.inputs:
                nodes[j].users.append(g.index)
        self._fold_batchnorms(nodes)
        self._mark_first(nodes)
        self.layers = [g for g in nodes if g.kind == "layer"]
        names = {}
        for g in self.layers:
            if g.name in names:
                g.name = f"{g.name}#{names[g.name] + 1}"
                names[g.name.split('#')[0]] += 1
            else:
                names[g.name] = 1
        # compute which nodes feed the output (relevance can only reach those)
        out_idx = []
        fx.node.map_aggregate(self.output_spec, lambda v: out_idx.append(v) if isinstance(v, int) else None)
        self.output_indices = out_idx

    def _classify(self, g, nodes, live, meta, index):
        op, t = g.op, g.target
        node = g.fx
        live[g.index] = True
        where = _where(node, t if op == "call_module" else None)
        g.where = where
        first = g.inputs[0]

        def unsupported(what):
            raise UnsupportedOperationError(
                f"unsupported operation {what} at {where}; the LRP engine supports Conv1d, Linear, "
                f"BatchNorm1d, element-wise activations, max/average pooling, Dropout, reshapes, "
                f"residual adds, concatenation, slicing, sums and means")

        def data_is(pos=0):
            a = g.args[pos] if len(g.args) > pos else None
            return isinstance(a, fx.Node) and live[index[a]]

        if op == "call_module":
            m = self.gm.get_submodule(t)
            g.module = m
            g.name = t
            if isinstance(m, nn.Conv1d):
                if m.padding_mode != "zeros":
                    unsupported(f"Conv1d with padding_mode={m.padding_mode!r} (module '{t}')")
                pads = _conv_pads(m.padding, m.kernel_size[0], m.dilation[0], m.stride[0], where)
                g.kind = "layer"
                g.layer = LayerOp(t, "conv", m.weight, m.bias, type(m), m.stride[0], pads, m.dilation[0], m.groups)
            elif isinstance(m, nn.Linear):
                g.kind = "layer"
                g.layer = LayerOp(t, "linear", m.weight, m.bias, type(m))
            elif isinstance(m, nn.BatchNorm1d):
                if m.running_mean is None or m.running_var is None:
                    unsupported(f"BatchNorm1d without running statistics (module '{t}')")
                g.kind = "bn"
                g.sub = self._bn_affine(m.weight, m.bias, m.running_mean, m.running_var, m.eps, m.num_features)
            elif isinstance(m, _IDENTITY_MODULES):
                g.kind = "identity"
            elif isinstance(m, _HEAD_MODULES) or isinstance(m, _PASS_MODULES):
                g.kind = "pass"
                g.sub = "head" if isinstance(m, _HEAD_MODULES) else None
                if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
                    g.kind = "softmax"
            elif isinstance(m, _MAXPOOL_MODULES):
                if getattr(m, "return_indices", False):
                    unsupported(f"{type(m).__name__} with return_indices=True (module '{t}')")
                g.kind = "maxpool"
            elif isinstance(m, _AVG_MODULES):
                g.kind = "norm"
                g.norm_type = "avgpool"
            elif isinstance(m, _STRUCT_MODULES):
                g.kind = "struct"
            else:
                unsupported(f"module {type(m).__module__}.{type(m).__name__} (module '{t}')")
            return
        if op == "call_method":
            name = t
            if name in _META_METHODS:
                g.kind = "meta"
                live[g.index] = False
                meta[g.index] = True
                return
            if name in _CONST_METHODS:
                # shape-only or detached values: constants of the relevance pass (no relevance
                # flows into or out of them; ``x.detach()`` is held fixed as autograd holds it)
                g.kind = "const"
                live[g.index] = False
                return
            if not data_is(0):
                unsupported(f"method '.{name}()' applied to a constant with an input-dependent argument")
            if name in _INPLACE_METHODS:
                g.target = name = _INPLACE_METHODS[name]
            if name in _IDENTITY_METHODS:
                g.kind = "identity"
            elif name in _PASS_METHODS:
                g.kind = "pass"
                g.sub = "head" if name in _HEAD_METHODS else None
            elif name in ("softmax", "log_softmax"):
                g.kind = "softmax"
            elif name in _STRUCT_METHODS:
                g.kind = "struct"
            elif name in _TUPLE_METHODS:
                g.kind = "struct"
                g.tuple_out = True
            elif name in _SUM_METHODS or name in _AVG_METHODS:
                self._sum_like(g, live, index, unsupported, avg=name in _AVG_METHODS)
            elif name in _SCALE_METHODS:
                self._scale_like(g, live, index, unsupported)
            elif name in _MAXDIM_METHODS:
                self._maxdim(g, unsupported, name)
            else:
                unsupported(f"method '.{name}()'")
            return
        # call_function
        if t in _INPLACE_FUNCS:
            g.target = t = _INPLACE_FUNCS[t]
        if t is getattr:
            attr = g.args[1]
            if attr in _META_ATTRS:
                g.kind = "meta"
                live[g.index] = False
                meta[g.index] = True
                return
            parent = nodes[first]
            if attr == "values" and parent.tuple_out:
                g.kind = "select"
                g.select_index = 0
                return
            if attr in ("T", "mT"):
                g.kind = "struct"
                return
            unsupported(f"attribute access '.{attr}'")
        if t is operator.getitem and nodes[first].tuple_out and isinstance(g.args[0], fx.Node) \
                and index[g.args[0]] == first:
            if not isinstance(g.args[1], int):
                unsupported("slicing of a tuple of tensors")
            g.kind = "select"
            g.select_index = g.args[1]
            return
        if t is operator.getitem and nodes[first].kind == "meta":
            g.kind = "meta"
            live[g.index] = False
            meta[g.index] = True
            return
        if t in (len,):
            g.kind = "meta"
            live[g.index] = False
            meta[g.index] = True
            return
        if t in _CONST_FUNCS or t in _CONST_FUNCS_DETACH:
            g.kind = "const"
            live[g.index] = False
            return
        if t in _CONV_FUNCS or t in _LINEAR_FUNCS:
            self._functional_layer(g, nodes, index, unsupported, conv=t in _CONV_FUNCS)
            return
        if t in _BN_FUNCS:
            self._functional_bn(g, nodes, index, unsupported)
            return
        if t in _IDENTITY_FUNCS:
            g.kind = "identity"
        elif t in (F.softmax, torch.softmax, F.log_softmax, torch.log_softmax):
            g.kind = "softmax"
        elif t in _PASS_FUNCS:
            if len(g.inputs) > 1 or not data_is(0):
                unsupported(f"{_fname(t)} with several input-dependent arguments")
            g.kind = "pass"
            g.sub = "head" if t in _HEAD_FUNCS else None
            if "inplace" in g.kwargs:
                g.kwargs["inplace"] = False
        elif t in _STRUCT_FUNCS:
            if t is F.pad:
                mode = g.kwargs.get("mode", g.args[2] if len(g.args) > 2 else "constant")
                value = g.kwargs.get("value", g.args[3] if len(g.args) > 3 else None)
                if mode != "constant" or (value not in (None, 0, 0.0)):
                    unsupported(f"torch.nn.functional.pad with mode={mode!r}, value={value!r} "
                                "(only zero padding is supported)")
            g.kind = "struct"
        elif t in _TUPLE_FUNCS:
            g.kind = "struct"
            g.tuple_out = True
        elif t in _SUM_FUNCS or t in _AVG_FUNCS:
            self._sum_like(g, live, index, unsupported, avg=t in _AVG_FUNCS)
        elif t in _SCALE_FUNCS:
            self._scale_like(g, live, index, unsupported)
        elif t in _MAXPOOL_FUNCS:
            if g.kwargs.get("return_indices") or (len(g.args) > 6 and g.args[6]):
                unsupported(f"{_fname(t)} with return_indices=True")
            g.kind = "maxpool"
        elif t in _MAXDIM_FUNCS:
            self._maxdim(g, unsupported, "amax" if t is torch.amax else "max")
        else:
            unsupported(f"{_fname(t)}")

    def _sum_like(self, g, live, index, unsupported, avg):
        g.kind = "norm"
        g.norm_type = "avgpool" if avg else "sum"
        t = g.target
        if t in (torch.sum, "sum", torch.mean, "mean"):
            dim = g.kwargs.get("dim", g.args[1] if len(g.args) > 1 else None)
            if dim is None:
                unsupported(f"{_fname(t)} over all axes (the batch axis would be summed; give dim=)")

    def _scale_like(self, g, live, index, unsupported):
        t = g.target
        args = list(g.args) + list(g.kwargs.values())
        live_args = [a for a in args if isinstance(a, fx.Node) and live[index[a]]]
        if len(live_args) > 1:
            unsupported(f"{_fname(t)} of two input-dependent tensors (multiplicative gating)")
        if t in (operator.truediv, torch.div, "div") and len(g.args) > 1 and \
                isinstance(g.args[1], fx.Node) and live[index[g.args[1]]]:
            unsupported(f"{_fname(t)} by an input-dependent tensor")
        others = [a for a in g.args[1:] if not (isinstance(a, fx.Node) and live[index[a]])]
        if all(isinstance(a, (int, float)) for a in others):
            g.kind = "pass"   # scaling by a number: relevance passes unchanged
        else:
            g.kind = "norm"   # scaling by a constant tensor: proportional split
            g.norm_type = "sum"

    def _maxdim(self, g, unsupported, name):
        dim = g.kwargs.get("dim", g.args[1] if len(g.args) > 1 else None)
        keepdim = g.kwargs.get("keepdim", g.args[2] if len(g.args) > 2 else False)
        if dim is None or not isinstance(dim, int):
            unsupported(f"{name} without a single integer dim (global max over several axes)")
        if len(g.inputs) > 1:
            unsupported(f"element-wise {name} of two input-dependent tensors")
        g.kind = "maxdim"
        g.maxdim = (dim, bool(keepdim), name == "max")
        g.tuple_out = name == "max"

    def _param_value(self, a, what, unsupported, index, nodes):
        if a is None:
            return None
        if isinstance(a, fx.Node):
            n = nodes[index[a]]
            if n.kind == "attr":
                return self.gm.get_parameter(n.target) if _has_param(self.gm, n.target) else \
                    _fetch_attr(self.gm, n.target)
            if n.kind == "static":
                return _eval_static(self.gm, a)
            unsupported(f"{what} that depends on the input")
        if isinstance(a, torch.Tensor):
            return a
        unsupported(f"{what} of type {type(a).__name__}")

    def _functional_layer(self, g, nodes, index, unsupported, conv):
        t = g.target
        args = list(g.args)
        names = (["input", "weight", "bias", "stride", "padding", "dilation", "groups"] if conv
                 else ["input", "weight", "bias"])
        vals = {k: v for k, v in zip(names, args)}
        vals.update(g.kwargs)
        x = vals.get("input")
        if not (isinstance(x, fx.Node) and index[x] == g.inputs[0]) or len(g.inputs) > 1:
            unsupported(f"{_fname(t)} with an input-dependent weight or bias")
        W = self._param_value(vals.get("weight"), "a weight", unsupported, index, nodes)
        b = self._param_value(vals.get("bias"), "a bias", unsupported, index, nodes)
        g.kind = "layer"
        if conv:
            stride = _one(vals.get("stride", 1))
            dilation = _one(vals.get("dilation", 1))
            pads = _conv_pads(vals.get("padding", 0), W.shape[-1], dilation, stride, g.where)
            g.layer = LayerOp(g.name, "conv", W, b, nn.Conv1d, stride, pads, dilation, int(vals.get("groups", 1)))
        else:
            g.layer = LayerOp(g.name, "linear", W, b, nn.Linear)

    def _functional_bn(self, g, nodes, index, unsupported):
        names = ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"]
        vals = {k: v for k, v in zip(names, g.args)}
        vals.update(g.kwargs)
        if vals.get("training", False) is True:
            unsupported("batch_norm with training=True (batch statistics)")
        mean = self._param_value(vals.get("running_mean"), "running_mean", unsupported, index, nodes)
        var = self._param_value(vals.get("running_var"), "running_var", unsupported, index, nodes)
        if mean is None or var is None:
            unsupported("batch_norm without running statistics")
        w = self._param_value(vals.get("weight"), "weight", unsupported, index, nodes)
        b = self._param_value(vals.get("bias"), "bias", unsupported, index, nodes)
        g.kind = "bn"
        g.sub = self._bn_affine(w, b, mean, var, vals.get("eps", 1e-5), mean.shape[0])

    @staticmethod
    def _bn_affine(weight, bias, mean, var, eps, n):
        mean = mean.detach().double()
        var = var.detach().double()
        w = torch.ones(n, dtype=torch.float64) if weight is None else weight.detach().double()
        b = torch.zeros(n, dtype=torch.float64) if bias is None else bias.detach().double()
        scale = w / torch.sqrt(var + eps)
        shift = b - mean * scale
        return (scale, shift)

    def _strip_heads(self, nodes):
        """Explain on the logits: drop a final softmax/log-softmax/sigmoid."""
        def strip(i):
            g = nodes[i]
            while g.kind in ("softmax",) or (g.kind == "pass" and g.sub == "head"):
                g = nodes[g.inputs[0]]
            return g.index
        self.output_spec = fx.node.map_aggregate(
            self.output_spec, lambda v: strip(v) if isinstance(v, int) else v)
        for g in nodes:
            if g.kind == "softmax":
                # a softmax that still feeds the output elsewhere cannot be explained
                g.kind = "softmax_unused"

    def _fold_batchnorms(self, nodes):
        for g in nodes:
            if g.kind != "bn":
                continue
            scale, shift = g.sub
            prev = nodes[g.inputs[0]]
            if self.fold_batchnorm and prev.kind == "layer" and prev.layer.kind in ("conv", "linear") and prev.users == [g.index] \
                    and prev.layer.weight.shape[0] == scale.shape[0] and prev.index not in self.output_indices_raw():
                prev.layer.fold_batchnorm(scale, shift, g.name)
                g.kind = "identity"
                g.sub = "folded"
            else:
                g.kind = "layer"
                g.layer = LayerOp(g.name, "affine", scale, shift, nn.BatchNorm1d)

    def output_indices_raw(self):
        out = []
        fx.node.map_aggregate(self.output_spec, lambda v: out.append(v) if isinstance(v, int) else None)
        return out

    def _mark_first(self, nodes):
        """Nodes reachable from X through shape-only ops; layers fed by them are 'first'."""
        for g in nodes:
            if g.kind == "input":
                g.structural_from_input = True
            elif g.kind in ("struct", "identity", "select") and g.inputs and \
                    all(nodes[j].structural_from_input for j in g.inputs):
                g.structural_from_input = True
            if g.kind == "layer" and nodes[g.inputs[0]].structural_from_input:
                g.is_first = True


def _has_param(gm, target):
    try:
        gm.get_parameter(target)
        return True
    except AttributeError:
        return False


def _fetch_attr(gm, target):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _eval_static(gm, node):
    """Evaluate an input-independent node (e.g. ``self.weight * 2``)."""
    env = {}

    def ev(n):
        if n in env:
            return env[n]
        args = fx.node.map_arg(n.args, ev)
        kwargs = fx.node.map_arg(n.kwargs, ev)
        if n.op == "get_attr":
            v = _fetch_attr(gm, n.target)
        elif n.op == "call_function":
            v = n.target(*args, **kwargs)
        elif n.op == "call_method":
            v = getattr(args[0], n.target)(*args[1:], **kwargs)
        elif n.op == "call_module":
            v = gm.get_submodule(n.target)(*args, **kwargs)
        else:
            raise UnsupportedOperationError(f"cannot evaluate node '{n.name}' statically")
        env[n] = v
        return v
    return ev(node)


def capture(model, fold_batchnorm=True):
    """Trace and canonize a copy of ``model`` (the model itself is not modified).

    Parameters
    ----------
    model : torch.nn.Module
        A model taking one input tensor ``(N, 4, L)``.
    fold_batchnorm : bool
        Fold BatchNorms into the preceding Conv1d/Linear where possible (default).

    Returns
    -------
    CapturedGraph
    """
    return CapturedGraph(model, fold_batchnorm=fold_batchnorm)
