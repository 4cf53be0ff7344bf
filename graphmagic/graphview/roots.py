"""Which tensors a cell's graph is drawn from.

- ``--graph NAMES``: exactly those.
- Otherwise: what the cell called ``backward()``, ``torch.autograd.backward`` or
  ``torch.autograd.grad`` on (found in the cell's code, looked up by name at the end of
  the cell, never evaluated), the cell's value (``Out[n]``), and as candidates the tensors
  the cell bound or changed (the tracking probe's ``changed``; without it, every
  namespace tensor with a ``grad_fn``) -- a candidate is a root when nothing drawn
  consumes it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from ..messages import t
from ..names import named_tensors

AUTOGRAD_CALLS = {"torch.autograd.backward": "tensors", "autograd.backward": "tensors",
                  "torch.autograd.grad": "outputs", "autograd.grad": "outputs"}


@dataclass
class Selection:
    roots: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    candidates: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    detach_candidates: list[torch.Tensor] = field(default_factory=list)
    named: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backward_ran: bool = False     # the cell called backward() on one of the roots


@lru_cache(maxsize=4096)
def canonical(expr: str) -> str:
    """One spelling per expression: ``d["a"]`` and ``d['a']`` match."""
    try:
        return ast.unparse(ast.parse(expr.strip(), mode="eval"))
    except (SyntaxError, ValueError):
        return expr.strip()


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def backward_targets(tree: ast.AST | None) -> list[str]:
    """Expressions (as source text) the code calls backward/autograd.grad on, in order."""
    if tree is None:
        return []
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        keyword = AUTOGRAD_CALLS.get(_dotted(func))
        if keyword:
            arg = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == keyword), None)
            if arg is None:
                continue
            targets = list(arg.elts) if isinstance(arg, (ast.Tuple, ast.List)) else [arg]
        elif isinstance(func, ast.Attribute) and func.attr == "backward":
            targets = [func.value]
        else:
            continue
        for target in targets:
            found.append((target.lineno, target.col_offset, ast.unparse(target)))
    return [text for _, _, text in sorted(found)]


def _result_tensors(result, count: int) -> list[tuple[str, torch.Tensor]]:
    if isinstance(result, torch.Tensor):
        return [(f"Out[{count}]", result)]
    if isinstance(result, (tuple, list)):
        return [(f"Out[{count}][{i}]", v) for i, v in enumerate(result)
                if isinstance(v, torch.Tensor)]
    return []


def select(namespace: dict, tree: ast.AST | None, *, result=None, count: int = 0,
           changed: dict[str, str] | None = None,
           graph_roots: tuple[str, ...] | None = None) -> Selection:
    named = list(named_tensors(namespace))
    lookup: dict[str, tuple[str, torch.Tensor]] = {}
    for name, tensor in named:
        lookup.setdefault(canonical(name), (name, tensor))
    sel = Selection(named=named)
    if graph_roots:
        for name in graph_roots:
            hit = lookup.get(canonical(name))
            if hit is None:
                sel.notes.append(t("graph.unknown_root", name=name))
            elif not hit[1].requires_grad:
                sel.notes.append(t("graph.root_no_grad", name=name))
            else:
                sel.roots.append(hit)
        return sel
    for expr in backward_targets(tree):
        hit = lookup.get(canonical(expr))
        if hit is not None and hit not in sel.roots:
            sel.roots.append(hit)
            sel.backward_ran = True
    sel.roots += [(n, v) for n, v in _result_tensors(result, count) if v.requires_grad]
    if changed is None:
        sel.candidates = [(n, v) for n, v in named if v.grad_fn is not None]
        sel.detach_candidates = [v for _, v in named if v.grad_fn is None]
        return sel
    for name, status in changed.items():
        hit = lookup.get(canonical(name))
        if hit is None or status == "deleted":
            continue
        tensor = hit[1]
        if tensor.grad_fn is not None or (tensor.requires_grad and hit[0].isidentifier()):
            sel.candidates.append(hit)
        elif tensor.grad_fn is None:
            sel.detach_candidates.append(tensor)
    return sel
