"""The graph behind a differentiated tensor, captured at its ``backward()`` call.

``(x * x).sum().backward()`` differentiates a tensor that is gone a moment later, and with
it its graph; so is the ``y.sum()`` of ``y.sum().backward()``. The backward watch
(``pitfalls/backward.py``) captures such a root's graph right after the pass, as plain
data (node names, the details ``details.read`` gives, tensor facts) plus weak references
to the tensors met: nothing it keeps extends a lifetime. The walk ends at the tensors the
expression names (``y`` in ``y.sum()``): what lies behind them is drawn from the living
tensors at the end of the cell, like any other graph. ``Capture.absorb`` merges a fragment
into the end-of-cell walk: a tensor still alive joins its live node, an op joins the live op
with the same identity (node class and sequence number), the rest is drawn from what was
read at the call.
"""
from __future__ import annotations

import weakref
from collections import deque

import torch

from . import details
from .capture import LEAF, fn_name, op_of
from .model import OpNode, TensorNode
from .state import tensor_node

LIMIT = 2_000   # backward nodes a fragment walks at most (a pass may run often)


def op_key(fn, name: str) -> tuple[str, int] | None:
    """What identifies a backward node across walks (its Python object may not last)."""
    try:
        return name, int(fn._sequence_nr())
    except Exception:
        return None


class Fragment:
    """Node ``i`` is an op (``key[i]`` its identity, ``node[i]`` an ``OpNode``) or a tensor
    (``ref[i]`` a weak reference, ``node[i]`` a ``TensorNode`` read at the call, ``expr[i]``
    the expression that named it there). Edges point the way data flows."""

    def __init__(self, label: str, cell: str, line: int | None) -> None:
        self.label = label
        self.cell = cell
        self.line = line
        self.is_op: list[bool] = []
        self.key: list[tuple[str, int] | None] = []
        self.ref: list[weakref.ref | None] = []
        self.node: list[OpNode | TensorNode] = []
        self.expr: list[str | None] = []
        self.made_by: list[str | None] = []      # tensor: its grad_fn's class at the call
        self.ids: list[int | None] = []          # tensor: its id() at the call
        self.src: list[int] = []
        self.dst: list[int] = []
        self.truncated = False

    def __len__(self) -> int:
        return len(self.node)

    def _add(self, is_op: bool, key, ref, node, expr, made_by=None, ident=None) -> int:
        self.is_op.append(is_op)
        self.made_by.append(made_by)
        self.ids.append(ident)
        self.key.append(key)
        self.ref.append(ref)
        self.node.append(node)
        self.expr.append(expr)
        return len(self.node) - 1

    def tensors(self):
        """``(index, tensor or None)`` for every tensor node (alive or not)."""
        for i, ref in enumerate(self.ref):
            if not self.is_op[i]:
                yield i, ref() if ref is not None else None


def capture(root: torch.Tensor, label: str, cell: str, line: int | None,
            stops: dict[tuple[int, int], tuple[str, torch.Tensor]], *, saved: bool = False,
            attrs: bool = False, names=None, limit: int = LIMIT) -> Fragment:
    """The graph behind ``root`` as a ``Fragment``. ``stops`` maps ``(id(grad_fn),
    output_nr)`` of the tensors the expression names to ``(expr, tensor)``: the walk ends
    there. ``names(tensor)`` may name a leaf met on the way (None: unnamed)."""
    frag = Fragment(label, cell, line)
    seen: dict[int, int] = {}

    def tensor(t: torch.Tensor, title: list[str]) -> int:
        node = seen.get(id(t))
        if node is None:
            try:
                ref = weakref.ref(t)
            except TypeError:
                ref = None
            facts = tensor_node("", title, t, values=False)   # a pass may run often: no grad values
            made_by = type(t.grad_fn).__name__ if t.grad_fn is not None else None
            node = seen[id(t)] = frag._add(False, None, ref, facts, title[0] if title else None,
                                           made_by, id(t))
        return node

    top = tensor(root, [label])
    frag.node[top].root = True
    fn = root.grad_fn
    if fn is None:
        return frag
    fns = [fn]                                   # keeps the walked nodes (and their ids) alive
    pos = {id(fn): frag._add(True, None, None, None, None)}
    frag.src.append(pos[id(fn)])
    frag.dst.append(top)
    queue = deque([fn])
    while queue:
        f = queue.popleft()
        p = pos[id(f)]
        try:
            nexts = f.next_functions
        except Exception:
            continue
        for g, nr in nexts:
            if g is None:
                continue
            stop = stops.get((id(g), nr))
            if stop is not None:
                node = tensor(stop[1], [stop[0]])
            elif id(g) in pos:
                node = pos[id(g)]
            elif fn_name(g) == LEAF:
                try:
                    leaf = g.variable
                except Exception:
                    continue
                name = names(leaf) if names is not None else None
                node = tensor(leaf, [name] if name else [])
            elif len(fns) >= limit:
                frag.truncated = True
                continue
            else:
                fns.append(g)
                node = pos[id(g)] = frag._add(True, None, None, None, None)
                queue.append(g)
            frag.src.append(node)
            frag.dst.append(p)
    for f in fns:
        i = pos[id(f)]
        name = fn_name(f)
        op = OpNode(id="", name=name, op=op_of(f, name))
        details.read(f, op, None, saved, attrs)
        frag.key[i] = op_key(f, name)
        frag.node[i] = op
    return frag
