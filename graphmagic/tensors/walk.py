"""Small, iterative walks over autograd graphs for the pitfall checks (tensor facts read
with subclass ``__torch_function__`` off, sequences through the built-in methods)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from .info import SAFE_WALK_LIMIT, is_tensor, reading
from .names import entries

LIMIT = SAFE_WALK_LIMIT  # nodes visited per walk at most (see tensorinfo)


def roots_of(tensors: object) -> list[torch.Tensor]:
    """The tensors of a ``backward``/``grad`` first argument (a tensor or a sequence)."""
    if is_tensor(tensors):
        return [tensors]
    return [x for x in entries(tensors) if is_tensor(x)]


def nodes(tensors: Iterable[torch.Tensor], limit: int = LIMIT) -> Iterator[object]:
    """Every backward node reachable from ``tensors`` (each once)."""
    with reading():
        stack = [fn for fn in (t.grad_fn for t in tensors if is_tensor(t)) if fn is not None]
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
        if is_tensor(variable):
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
            if is_tensor(value) or any(is_tensor(v) for v in entries(value)):
                return "alive"
    return "none"
