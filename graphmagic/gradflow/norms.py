"""Gradient norms and finiteness, batched: one host transfer (one device sync) per device.

``grad_stats(grads)`` returns ``(L2 norm, max |g|)`` per gradient as Python floats. On each
device the gradients are grouped by dtype; ``torch._foreach_norm`` computes both norms of a
group in a couple of kernels, the results are stacked, and one ``.tolist()`` brings the whole
device's figures to the host. Finiteness needs nothing more: ``max |g|`` is NaN or infinite
exactly when the gradient holds a NaN or an Inf (the L2 norm of finite fp16 values may
overflow; their max may not). Half-precision L2 norms accumulate in float32.
"""
from __future__ import annotations

import math

import torch

from ..tensors.info import computing

_WIDEN = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def grad_stats(grads: list[torch.Tensor]) -> list[tuple[float | None, float | None]]:
    """``(L2 norm, max |g|)`` per gradient, ``(None, None)`` where it cannot be computed (a
    ``__torch_dispatch__`` subclass, nested, sparse, meta). Runs on torch's own kernels: the user's
    modes and subclass hooks do not see it."""
    with computing():
        return _stats(grads)


def _stats(grads: list[torch.Tensor]) -> list[tuple[float | None, float | None]]:
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(grads)
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, g in enumerate(grads):
        if g._python_dispatch or g.is_nested or g.layout != torch.strided or g.device.type == "meta":
            continue
        if g.numel() == 0:
            out[i] = (0.0, 0.0)
        elif g.is_floating_point() or g.is_complex():
            groups.setdefault((g.device, g.dtype), []).append(i)
    by_device: dict[torch.device, list[tuple[list[int], torch.Tensor]]] = {}
    for (device, dtype), index in groups.items():
        tensors = [grads[i] for i in index]
        with torch.no_grad():
            l2 = torch._foreach_norm(tensors, 2, dtype=_WIDEN.get(dtype))
            top = torch._foreach_norm(tensors, math.inf)
            stacked = torch.cat([torch.stack(l2).to(torch.float64), torch.stack(top).to(torch.float64)])
        by_device.setdefault(device, []).append((index, stacked))
    for parts in by_device.values():
        values = torch.cat([s for _, s in parts]).tolist()  # the one transfer of this device
        at = 0
        for index, stacked in parts:
            n = len(index)
            for k, i in enumerate(index):
                out[i] = (values[at + k], values[at + n + k])
            at += 2 * n
    return out


def finite(stat: tuple[float | None, float | None]) -> bool:
    top = stat[1]
    return top is None or math.isfinite(top)
