"""Under ``--anomaly``: which op produced the first NaN gradient, and on which cell line.

PyTorch's anomaly detection stops a backward pass with ``RuntimeError: Function
'SqrtBackward0' returned nan values in its 0th output.`` and records, on every node built
while it was on, the forward stack in ``node.metadata['traceback_']``. After the cell the
failing node is found among the nodes of that type reachable from the namespace's tensors
and from the roots of the failed ``backward()`` (locals of torch's autograd frames in the
exception's traceback, plain reads): nodes run in decreasing sequence number and the
failing one had just freed its saved tensors, so it is the freed one with the lowest
sequence number. Its stack gives the cell line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from ..code.frames import exception_message
from ..graph.capture import op_name
from ..memory.held import saved_tensors
from ..tensors.info import SAFE_WALK_LIMIT, is_tensor, reading
from ..tensors.names import entries
from ..tensors.walk import nodes

NAN_ERROR = re.compile(r"Function '(\w+)' returned nan values in its (\d+)(?:st|nd|rd|th) output")
FRAME = re.compile(r'File "(.+)", line (\d+)')


@dataclass
class Origin:
    fn: str                      # SqrtBackward0
    output: int                  # which of its outputs (the gradient for which input)
    filename: str | None = None  # the cell file of the forward line
    line: int | None = None
    leaves: list[str] = field(default_factory=list)  # namespace leaves it feeds

    @property
    def op(self) -> str:
        return op_name(self.fn)


def nan_error(exc: BaseException | None) -> tuple[str, int] | None:
    """``(node name, output)`` of anomaly detection's NaN error, else None."""
    if not issubclass(type(exc), RuntimeError):
        return None
    found = NAN_ERROR.search(exception_message(exc))
    return (found.group(1), int(found.group(2))) if found else None


def origin(exc: BaseException | None, named: list[tuple[str, torch.Tensor]], is_cell) -> Origin | None:
    """The op and cell line behind anomaly detection's NaN error (None: not that error)."""
    error = nan_error(exc)
    if error is None:
        return None
    found = Origin(*error)
    with reading():
        roots = [t for _, t in named if t.grad_fn is not None] + _backward_roots(exc)
    node = _failed_node(roots, found.fn, is_cell)
    if node is None:
        return found
    for text in reversed(_stack(node)):
        match = FRAME.search(text)
        if match and is_cell(match.group(1)):
            found.filename, found.line = match.group(1), int(match.group(2))
            break
    names = {}
    for name, t in named:
        names.setdefault(id(t), name)
    found.leaves = [names[k] for k in _leaves(node) if k in names]
    return found


def _backward_roots(exc: BaseException) -> list[torch.Tensor]:
    """Tensors in the locals of torch's autograd frames of the exception's traceback."""
    roots: list[torch.Tensor] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if "torch" in code.co_filename and code.co_name in ("backward", "grad", "_engine_run_backward"):
            for value in list(tb.tb_frame.f_locals.values()):
                values = [value] if is_tensor(value) else entries(value)
                roots += [v for v in values if is_tensor(v) and v.grad_fn is not None]
        tb = tb.tb_next
    return roots


def _stack(node) -> list[str]:
    try:
        stack = node.metadata.get("traceback_")
    except Exception:
        return []
    return list(stack) if isinstance(stack, (list, tuple)) else [str(stack)] if stack else []


def _failed_node(roots: list[torch.Tensor], fn: str, is_cell):
    best, best_key = None, None
    for node in nodes(roots):
        if type(node).__name__ != fn:
            continue
        stack = _stack(node)
        if not any(is_cell(m.group(1)) for m in map(FRAME.search, stack) if m):
            continue
        freed = saved_tensors(node)[1]
        key = (not freed, node._sequence_nr())
        if best_key is None or key < best_key:
            best, best_key = node, key
    return best


def _leaves(node) -> list[int]:
    """``id()`` of the leaves whose gradients flow through ``node``."""
    out: list[int] = []
    seen: dict[int, object] = {}
    stack = [node]
    while stack and len(seen) < SAFE_WALK_LIMIT:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen[id(current)] = current
        var = getattr(current, "variable", None)
        if is_tensor(var) and id(var) not in out:
            out.append(id(var))
        stack += [c for c, _ in getattr(current, "next_functions", ()) if c is not None]
    return out
