"""Which cell lines made a tensor new, rebound, changed in place or deleted.

``LineRef`` is one line (``cell`` is ``In[n]``; ``static`` means the line is where the code
is written inside a loop or function, a guess about when it ran; ``count`` is how often it
ran, known only under ``--trace``). ``static_lines`` reads them from the cell's code
(``codescan`` facts plus a few patterns codescan does not record: ``del``, ``= x.data``).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .scan import CodeFacts, Site


@dataclass(frozen=True)
class LineRef:
    cell: str
    line: int
    static: bool = False
    count: int | None = None

    def to_json(self) -> dict:
        return {"cell": self.cell, "line": self.line, "static": self.static, "count": self.count}


_ROOT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*")


def root_of(name: str) -> str:
    """``model`` for ``model.fc1.weight``, ``xs`` for ``xs[0]``, ``x`` for ``x``."""
    if name.startswith("getattr("):
        inner = name[len("getattr("):]
        m = _ROOT.match(inner)
        return m.group(0) if m else name
    m = _ROOT.match(name)
    return m.group(0) if m else name


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that puts ``parts[2]`` before ``parts[10]`` (digit runs compare as numbers)."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(name))


class CellCode:
    """The static sites of one cell, indexed for the tracker."""

    def __init__(self, facts: CodeFacts, tree: ast.Module | None, cell: str):
        self.facts = facts
        self.cell = cell
        self.deleted: dict[str, list[Site]] = {}
        self.alias_rhs: dict[str, tuple[str, str]] = {}  # target -> (how, source expr)
        self.names_used: set[str] = set()
        self.last_expr_line: int | None = None
        if tree is not None:
            self._scan(tree)

    def _scan(self, tree: ast.Module) -> None:
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            self.last_expr_line = tree.body[-1].lineno
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                self.names_used.add(node.id)
            elif isinstance(node, ast.Delete):
                for target in node.targets:
                    expr = ast.unparse(target)
                    self.deleted.setdefault(expr, []).append(Site(expr, node.lineno, "del"))
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                how = _alias_how(node.value)
                if how is not None:
                    self.alias_rhs[ast.unparse(node.targets[0])] = how

    def _refs(self, sites, limit_after: int | None = None) -> list[LineRef]:
        lines = sorted({(s.line, s.static) for s in sites if limit_after is None or s.line >= limit_after})
        return [LineRef(self.cell, line, static) for line, static in lines]

    def refs(self, sites) -> list[LineRef]:
        return self._refs(sites)

    def bound(self, name: str) -> list[LineRef]:
        """Lines that bind ``name`` (or, failing that, its root variable)."""
        root = root_of(name)
        sites = (self.facts.assigned.get(name) or self.facts.loop_targets.get(name)
                 or self.facts.assigned.get(root) or self.facts.loop_targets.get(root) or [])
        if not sites and ".state[" in name:
            sites = self.facts.optimizer_steps
        return self._refs(sites)

    def changed_in_place(self, name: str, via_data: bool = False) -> list[LineRef]:
        sites = [s for s in self.facts.data_mutations if s.expr == name]
        if not via_data:
            sites += self.facts.inplace.get(name, [])
            root = root_of(name)
            if not sites and root != name:  # model.fc1.weight: an optimizer step, or model's own call
                sites = self.facts.inplace.get(root, []) or self.facts.optimizer_steps
        return self._refs(sites)

    def data_sites(self, name: str) -> list[Site]:
        return [s for s in self.facts.data_mutations if s.expr == name]

    def loose_data_sites(self, before_names) -> list[Site]:
        """``.data`` mutations whose owner is not a tensor the namespace held before the cell
        under that name (``for p in model.parameters(): p.data.zero_()``): they may have
        changed any tensor."""
        f = self.facts
        return [s for s in f.data_mutations
                if s.expr not in before_names or s.expr in f.assigned or s.expr in f.loop_targets
                or root_of(s.expr) in f.loop_targets]

    def removed(self, name: str) -> list[LineRef]:
        return self._refs(self.deleted.get(name) or self.deleted.get(root_of(name)) or [])

    def result_line(self) -> list[LineRef]:
        return [LineRef(self.cell, self.last_expr_line)] if self.last_expr_line else []


def _alias_how(value: ast.AST) -> tuple[str, str] | None:
    """``a = b.detach()`` -> ('detach', 'b'); ``a = b.data`` -> ('.data', 'b'); ``a = b[0]`` -> slice."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and not value.args:
        if value.func.attr == "detach":
            return "detach", ast.unparse(value.func.value)
    if isinstance(value, ast.Attribute) and value.attr == "data":
        return ".data", ast.unparse(value.value)
    if isinstance(value, ast.Subscript):
        return "slice", ast.unparse(value.value)
    return None
