"""What a tensor node shows: shape, dtype, device, leaf flags and its ``.grad`` summary."""
from __future__ import annotations

import torch

from ..tensors.info import computing, device_str, dtype_str, refusing
from .model import Grad, TensorNode

SMALL_GRAD = 6              # up to this many elements the values are shown
STATS_LIMIT = 50_000_000    # no mean/min/max beyond this many elements (too slow)


def shape_of(t: torch.Tensor) -> list[int] | None:
    try:
        with refusing(t):  # a subclass may answer its shape in __torch_dispatch__
            return [int(d) for d in t.shape]
    except Exception:  # nested tensors and some subclasses have no fixed shape
        return None


def summarize_grad(g: torch.Tensor | None, values: bool = True) -> Grad | None:
    """``g``'s shape and dtype, and (``values``) its values when small, else mean/min/max."""
    if g is None:
        return None
    grad = Grad(shape=shape_of(g) or [], dtype=dtype_str(g))
    if not values:
        return grad
    try:
        with computing():  # the user's modes do not see these operations
            _statistics(g, grad)
    except Exception:
        pass
    return grad


def _statistics(g: torch.Tensor, grad: Grad) -> None:
    if g._python_dispatch or g.layout != torch.strided or g.device.type == "meta":
        return
    d = g.detach()
    n = d.numel()
    if n <= SMALL_GRAD:
        grad.values = d.cpu().tolist()
    elif n <= STATS_LIMIT and not d.is_complex():
        f = d.float()
        grad.mean, grad.min, grad.max = (float(v) for v in
                                         torch.stack([f.mean(), f.min(), f.max()]).tolist())


def tensor_node(node_id: str, names: list[str], t: torch.Tensor, values: bool = True) -> TensorNode:
    """The node of ``t``; ``values=False`` leaves out the grad's values (no device work)."""
    leaf = bool(t.is_leaf)
    retains = bool(getattr(t, "retains_grad", False))
    return TensorNode(
        id=node_id, names=list(names), shape=shape_of(t), dtype=dtype_str(t),
        device=device_str(t), leaf=leaf, requires_grad=bool(t.requires_grad),
        retains_grad=retains,
        # a non-leaf's .grad is read only when retained: reading it otherwise warns
        grad=summarize_grad(t.grad, values) if (leaf or retains) else None,
    )
