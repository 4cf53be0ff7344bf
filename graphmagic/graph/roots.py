"""Which tensors a cell's graph is drawn from, by name (``graph/probe.py`` adds what the
backward watch saw differentiated, named or not).

- ``--graph NAMES``: exactly those.
- Otherwise: what the cell called ``backward()``, ``torch.autograd.backward`` or
  ``torch.autograd.grad`` on (codescan's ``backward_calls``, looked up by name at the end
  of the cell, never evaluated), the cell's value (``Out[n]``), and as candidates the
  tensors with a ``grad_fn`` the cell bound or changed (the tracking probe's ``changed``;
  without it, every namespace tensor with a ``grad_fn``) -- a candidate is a root when
  nothing drawn consumes it. Leaves are drawn only as inputs reached from those.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from ..messages import t
from ..tensors.names import named_tensors
from ..tracking.probe import result_tensors


@dataclass
class Selection:
    roots: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    candidates: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    detach_candidates: list[torch.Tensor] = field(default_factory=list)
    named: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backward_ran: bool = False     # the cell called backward() on one of the roots


@lru_cache(maxsize=1024)
def canonical(expr: str) -> str:
    """One spelling per expression: ``d["a"]`` and ``d['a']`` match."""
    try:
        return ast.unparse(ast.parse(expr.strip(), mode="eval"))
    except (SyntaxError, ValueError):
        return expr.strip()


def split_targets(expr: str) -> list[str]:
    """``[a, b]`` or ``(a, b)`` (``torch.autograd.backward([a, b])``) -> ``['a', 'b']``,
    each as written."""
    text = expr.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        return [expr]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [ast.get_source_segment(text, e) or ast.unparse(e) for e in node.elts]
    return [text]


class _Lookup:
    """Namespace tensors by their names as ``named_tensors`` spells them; only a query that
    misses is canonicalised (the namespace's names are never parsed)."""

    def __init__(self, named: list[tuple[str, torch.Tensor]]) -> None:
        self.by_name: dict[str, tuple[str, torch.Tensor]] = {}
        for name, tensor in named:
            self.by_name.setdefault(name, (name, tensor))

    def get(self, expr: str) -> tuple[str, torch.Tensor] | None:
        hit = self.by_name.get(expr)
        return hit if hit is not None else self.by_name.get(canonical(expr))


def select(namespace: dict, backward_exprs: Iterable[str] = (), *, result=None, count: int = 0,
           changed: dict[str, str] | None = None,
           graph_roots: tuple[str, ...] | None = None,
           named: list[tuple[str, torch.Tensor]] | None = None) -> Selection:
    named = list(named_tensors(namespace)) if named is None else named
    lookup = _Lookup(named)
    sel = Selection(named=named)
    if graph_roots:
        for name in graph_roots:
            hit = lookup.get(name)
            if hit is None:
                sel.notes.append(t("graph.unknown_root", name=name))
            elif not hit[1].requires_grad:
                sel.notes.append(t("graph.root_no_grad", name=name))
            else:
                sel.roots.append(hit)
        return sel
    for expr in backward_exprs:
        for target in split_targets(expr):
            hit = lookup.get(target)
            if hit is not None and hit not in sel.roots:
                sel.roots.append(hit)
                sel.backward_ran = True
    sel.roots += [(n, v) for n, v in result_tensors(result, count) if v.requires_grad]
    if changed is None:
        sel.candidates = [(n, v) for n, v in named if v.grad_fn is not None]
        sel.detach_candidates = [v for _, v in named if v.grad_fn is None]
        return sel
    for name, status in changed.items():
        hit = lookup.get(name)
        if hit is None or status == "deleted":
            continue
        if hit[1].grad_fn is not None:
            sel.candidates.append(hit)
        else:
            sel.detach_candidates.append(hit[1])
    return sel
