"""Reading a cell's code for the pitfall checks (on top of ``graphmagic.codescan``)."""
from __future__ import annotations

import ast
import linecache

from . import scan as codescan

_CHAIN = (ast.Name, ast.Attribute, ast.Subscript)


def tree_of(run, filename: str | None) -> ast.Module | None:
    if filename is None or filename == run.source.filename:
        return run.source.tree
    try:
        return ast.parse("".join(linecache.getlines(filename)))
    except SyntaxError:
        return None


def is_name(expr: str) -> bool:
    """A pasteable name (``x``, ``m.fc.weight``, ``xs[0]``), not a computation."""
    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return False
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name) and "(" not in expr


def last_binding(facts: codescan.CodeFacts, expr: str, before: int) -> codescan.Site | None:
    """The last assignment to ``expr`` on a line before ``before``."""
    sites = [s for s in facts.assigned.get(expr, ()) if s.line < before]
    return max(sites, key=lambda s: s.line) if sites else None


def bound_after(facts: codescan.CodeFacts, expr: str, line: int) -> bool:
    return any(s.line > line for s in facts.assigned.get(expr, ()))


def assigned_value(tree: ast.Module | None, expr: str, line: int) -> ast.AST | None:
    """The right-hand side that binds ``expr`` on ``line``."""
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.lineno == line and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(ast.unparse(t) == expr for t in targets):
                return node.value
    return None


def operands(node: ast.AST | None) -> list[str]:
    """The names an expression computes from: ``(w * x + b).sum()`` -> w, x, b."""
    found: list[str] = []
    stack = [node] if node is not None else []
    while stack:  # depth first, left to right
        n = stack.pop()
        if _is_chain(n):
            text = ast.unparse(n)
            if text not in found:
                found.append(text)
            continue
        if isinstance(n, ast.Call):
            children = ([n.func.value] if isinstance(n.func, ast.Attribute) else []) + \
                [*n.args, *(k.value for k in n.keywords)]
        else:
            children = list(ast.iter_child_nodes(n))
        stack.extend(reversed(children))
    return found


def _is_chain(node: ast.AST) -> bool:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return isinstance(node, ast.Name)


def reads(tree: ast.Module | None) -> dict[str, list[int]]:
    """Lines where each name (``x``, ``m.w``) is read."""
    found: dict[str, list[int]] = {}
    if tree is None:
        return found
    for node in ast.walk(tree):
        if isinstance(node, _CHAIN) and isinstance(getattr(node, "ctx", None), ast.Load) and _is_chain(node):
            found.setdefault(ast.unparse(node), []).append(node.lineno)
    return found
