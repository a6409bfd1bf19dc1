"""Test-only access to zennit 0.5.1 (installed with --no-deps) as a reference.

PyPI's torchvision does not import beside the CPU torch wheel, so a stub
``torchvision.models.resnet`` module (two dummy classes, BasicBlock and Bottleneck) is put
in ``sys.modules`` before zennit is imported. ``zennit_lrp`` runs zennit's Gradient
attributor from the explained output's own value ``f_t(x)``.
"""

import sys
import types

import torch


def _stub_torchvision():
    if "torchvision.models.resnet" in sys.modules:
        return
    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    resnet = types.ModuleType("torchvision.models.resnet")

    class BasicBlock(torch.nn.Module):
        pass

    class Bottleneck(torch.nn.Module):
        pass

    resnet.BasicBlock = BasicBlock
    resnet.Bottleneck = Bottleneck
    models.resnet = resnet
    tv.models = models
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.models", models)
    sys.modules["torchvision.models.resnet"] = resnet


def import_zennit():
    """Import zennit with the stub; returns the ``zennit`` package (submodules loaded)."""
    _stub_torchvision()
    import zennit  # noqa: F401
    import zennit.attribution  # noqa: F401
    import zennit.canonizers  # noqa: F401
    import zennit.composites  # noqa: F401
    import zennit.layer  # noqa: F401
    import zennit.rules  # noqa: F401
    return sys.modules["zennit"]


def zennit_lrp(model, X, target, composite):
    """zennit relevance of ``model`` at ``X`` for output column ``target``.

    Parameters
    ----------
    model : torch.nn.Module
    X : torch.Tensor
        (N, 4, L).
    target : int
    composite : zennit.core.Composite

    Returns
    -------
    torch.Tensor
        (N, 4, L) relevance.
    """
    import_zennit()
    x = X.clone().requires_grad_(True)
    with composite.context(model) as modified:
        out = modified(x)
        grad_out = torch.zeros_like(out)
        grad_out[:, target] = out[:, target]
        (R,) = torch.autograd.grad(out, x, grad_outputs=grad_out)
    return R.detach()
