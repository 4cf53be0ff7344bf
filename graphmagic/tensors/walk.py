"""Small, iterative walks over autograd graphs for the pitfall checks."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from .info import SAFE_WALK_LIMIT

LIMIT = SAFE_WALK_LIMIT  # nodes visited per walk at most (see tensorinfo)


def roots_of(tensors: object) -> list[torch.Tensor]:
    """The tensors of a ``backward``/``grad`` first argument (a tensor or a sequence)."""
    if isinstance(tensors, torch.Tensor):
        return [tensors]
    if isinstance(tensors, (list, tuple)):
        return [x for x in tensors if isinstance(x, torch.Tensor)]
    return []


def nodes(tensors: Iterable[torch.Tensor], limit: int = LIMIT) -> Iterator[object]:
    """Every backward node reachable from ``tensors`` (each once)."""
    stack = [t.grad_fn for t in tensors if getattr(t, "grad_fn", None) is not None]
    seen: dict[int, object] = {}  # keeps the node objects alive so ids stay unique
    while stack and len(seen) < limit:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        yield node
        for child, _ in getattr(node, "next_functions", ()):
            if child is not None and id(child) not in seen:
                stack.append(child)


def leaves(tensors: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The leaf tensors whose ``.grad`` a backward pass through ``tensors`` fills."""
    for node in nodes(tensors):
        variable = getattr(node, "variable", None)
        if isinstance(variable, torch.Tensor):
            yield variable


def uses_leaf(tensor: torch.Tensor, leaf: torch.Tensor) -> bool:
    return any(v is leaf for v in leaves([tensor]))


def saved_state(tensor: torch.Tensor) -> str:
    """``alive`` when the graph still holds saved tensors, ``freed`` when a backward pass
    released them, ``none`` when it saved no tensor at all."""
    for node in nodes([tensor]):
        for name in dir(node):
            if not name.startswith("_saved_"):
                continue
            try:
                value = getattr(node, name)
            except RuntimeError:
                return "freed"
            except Exception:
                continue
            if isinstance(value, torch.Tensor) or (
                    isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value)):
                return "alive"
    return "none"
