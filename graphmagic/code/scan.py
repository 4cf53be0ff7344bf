"""What a cell's code does, read statically from its AST (no code runs).

Tracking and pitfalls need facts that the version counter cannot give (``x.data += 1``
does not bump it) or that must be named as the user wrote them (``model.fc1.weight``):
``scan(source)`` returns a ``CodeFacts`` of sites, each with the expression as written
(``ast.unparse``) and the notebook line. A site inside a loop or a function body is
marked ``static`` (the line is a guess about when it ran).
"""
from __future__ import annotations

import ast
import builtins
from collections import defaultdict
from dataclasses import dataclass, field

from ..cell.source import CellSource
from .frames import segment

MOVE_METHODS = frozenset({"to", "cuda", "cpu", "double", "float", "half", "bfloat16", "type"})
OPTIMIZER_METHODS = frozenset({"step"})
INPLACE_EXCLUDED = frozenset({"requires_grad_", "retain_grad", "zero_grad", "share_memory_"})


@dataclass(frozen=True)
class Site:
    expr: str          # the tensor expression as written: 'x', 'model.fc1.weight', 'xs[0]'
    line: int          # notebook line (the %%autograd line is 1)
    how: str = ""      # short description of the construct: 'Y += X', 'Z[:] = ...', '.add_()'
    static: bool = False  # inside a loop or function: the line is where it is written
    detail: str = ""   # extra text: an assignment's right-hand side, a backward() target,
                       # as written


@dataclass
class CodeFacts:
    assigned: dict[str, list[Site]] = field(default_factory=lambda: defaultdict(list))
    inplace: dict[str, list[Site]] = field(default_factory=lambda: defaultdict(list))
    data_mutations: list[Site] = field(default_factory=list)
    grad_reads: list[Site] = field(default_factory=list)
    backward_calls: list[Site] = field(default_factory=list)
    retain_grad_calls: list[Site] = field(default_factory=list)
    optimizer_steps: list[Site] = field(default_factory=list)
    moves: list[Site] = field(default_factory=list)        # x = x.to(...): expr x, detail method
    computed_slice_assigns: list[Site] = field(default_factory=list)  # Z[:] = X + Y
    detaches: list[Site] = field(default_factory=list)     # a = b.detach(): expr a, detail b
    no_grad_lines: set[int] = field(default_factory=set)   # lines under `with torch.no_grad()`
    # names bound by `for NAME in ...` (how 'for', detail the iterable) and `with ... as NAME` ('with')
    loop_targets: dict[str, list[Site]] = field(default_factory=lambda: defaultdict(list))
    zero_grads: list[Site] = field(default_factory=list)   # opt.zero_grad(): expr opt
    # names passed to a function that may change them in place (a user function such as
    # sgd([w, b], lr), or an in-place API like nn.init.normal_(w)): expr the name
    passed: dict[str, list[Site]] = field(default_factory=lambda: defaultdict(list))

    def lines_for(self, expr: str) -> list[Site]:
        """Every site that binds or changes ``expr`` in place, in line order."""
        sites = [*self.assigned.get(expr, ()), *self.inplace.get(expr, ()),
                 *(s for s in self.data_mutations if s.expr == expr)]
        return sorted(sites, key=lambda s: s.line)


def _root_tensor_expr(node: ast.AST) -> ast.AST:
    """For ``Z[:]`` or ``Z[0, 1]`` the tensor ``Z``; otherwise the node itself."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return node


def _is_data(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "data"


def _data_owner(node: ast.AST) -> ast.AST | None:
    """For ``x.data``, ``x.data[0]`` or ``x.grad.data``: the ``x.data`` owner (``x``, ``x.grad``)."""
    node = _root_tensor_expr(node)
    return node.value if _is_data(node) else None


def _first_argument(call: ast.Call, keyword: str) -> ast.AST | None:
    """A call's first argument, given by position or as ``keyword=``."""
    if call.args:
        return call.args[0]
    return next((kw.value for kw in call.keywords if kw.arg == keyword), None)


def _is_no_grad(item: ast.withitem) -> bool:
    call = item.context_expr
    func = call.func if isinstance(call, ast.Call) else call
    name = ast.unparse(func)
    return name.endswith(("no_grad", "inference_mode")) or (
        name.endswith("set_grad_enabled") and isinstance(call, ast.Call) and call.args
        and isinstance(call.args[0], ast.Constant) and call.args[0].value is False)


class _Scanner(ast.NodeVisitor):
    def __init__(self, lines: tuple[str, ...] = ()) -> None:
        self.facts = CodeFacts()
        self.depth = 0  # loops and function bodies entered
        self.lines = list(lines)

    def written(self, node: ast.AST) -> str:
        """``node``'s source as the cell writes it (``(x*x).sum()``, not re-spaced)."""
        try:
            text = segment(self.lines, node.lineno, node.end_lineno, node.col_offset,
                           node.end_col_offset)
        except (AttributeError, TypeError):
            text = None
        return text if text else ast.unparse(node)

    def site(self, node: ast.AST, expr: ast.AST | str, how: str, detail: str = "") -> Site:
        text = expr if isinstance(expr, str) else ast.unparse(expr)
        return Site(text, node.lineno, how, self.depth > 0, detail)

    # scopes that make a line a static guess
    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_For(self, node: ast.For) -> None:
        self._bind_targets(node.target, node, "for", ast.unparse(node.iter))
        self._nested(node)

    def _bind_targets(self, target: ast.AST, node: ast.AST, how: str, detail: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_targets(elt, node, how, detail)
        elif isinstance(target, ast.Name):
            self.facts.loop_targets[target.id].append(Site(target.id, node.lineno, how,
                                                           self.depth > 0, detail))

    visit_AsyncFor = visit_For
    visit_While = _nested
    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _nested

    def visit_With(self, node: ast.With) -> None:
        if any(_is_no_grad(item) for item in node.items):
            for child in node.body:
                end = getattr(child, "end_lineno", child.lineno) or child.lineno
                self.facts.no_grad_lines.update(range(child.lineno, end + 1))
        for item in node.items:
            if item.optional_vars is not None:
                self._bind_targets(item.optional_vars, node, "with", ast.unparse(item.context_expr))
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    # bindings and in-place writes
    def _target(self, target: ast.AST, node: ast.AST, value: ast.AST | None) -> None:
        f = self.facts
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._target(elt, node, None)
            return
        owner = _data_owner(target)
        if owner is not None:  # x.data = t  /  x.data[:] = t
            how = f"{ast.unparse(target)} = ..."
            f.data_mutations.append(self.site(node, owner, how))
            return
        if isinstance(target, ast.Subscript):  # Z[:] = ... is in place on Z
            root = _root_tensor_expr(target)
            site = self.site(node, root, "Z[...] = ...", ast.unparse(value) if value is not None else "")
            f.inplace[site.expr].append(site)
            if value is not None and isinstance(value, (ast.BinOp, ast.Call, ast.UnaryOp)):
                f.computed_slice_assigns.append(site)
            return
        if isinstance(target, (ast.Name, ast.Attribute)):
            site = self.site(node, target, "=", self.written(value) if value is not None else "")
            f.assigned[site.expr].append(site)
            self._classify_value(target, value, node)

    def _classify_value(self, target: ast.AST, value: ast.AST | None, node: ast.AST) -> None:
        if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute):
            return
        method, obj = value.func.attr, value.func.value
        name = ast.unparse(target)
        if method in MOVE_METHODS and ast.unparse(obj) == name:
            self.facts.moves.append(self.site(node, name, f".{method}()", ast.unparse(value)))
        if method == "detach":
            self.facts.detaches.append(self.site(node, name, ".detach()", ast.unparse(obj)))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._target(node.target, node, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        owner = _data_owner(node.target)
        op = type(node.op).__name__
        if owner is not None:
            how = f"{ast.unparse(node.target)} {_OPS.get(op, op)}= ..."
            self.facts.data_mutations.append(self.site(node, owner, how))
        else:
            root = _root_tensor_expr(node.target)
            site = self.site(node, root, f"{ast.unparse(node.target)} {_OPS.get(op, op)}= ...")
            self.facts.inplace[site.expr].append(site)
        self.generic_visit(node)

    # calls: in-place methods, backward, optimizer steps, out=
    def visit_Call(self, node: ast.Call) -> None:
        f = self.facts
        func = node.func
        if isinstance(func, ast.Attribute):
            method, obj = func.attr, func.value
            owner = _data_owner(obj)
            if method.endswith("_") and not method.startswith("_") and method not in INPLACE_EXCLUDED:
                if owner is not None:
                    how = f"{ast.unparse(owner)}.data.{method}()"
                    f.data_mutations.append(self.site(node, owner, how))
                else:
                    site = self.site(node, _root_tensor_expr(obj), f".{method}()")
                    f.inplace[site.expr].append(site)
            elif method in ("backward", "grad") and ast.unparse(obj) in ("torch.autograd", "autograd"):
                first = _first_argument(node, "tensors" if method == "backward" else "outputs")
                if first is not None:
                    f.backward_calls.append(self.site(node, first, f"torch.autograd.{method}()",
                                                      self.written(first)))
            elif method == "backward":
                f.backward_calls.append(self.site(node, obj, ".backward()", self.written(obj)))
            elif method == "retain_grad":
                f.retain_grad_calls.append(self.site(node, obj, ".retain_grad()"))
            elif method == "zero_grad":
                f.zero_grads.append(self.site(node, obj, ".zero_grad()"))
            elif method in OPTIMIZER_METHODS:
                f.optimizer_steps.append(self.site(node, obj, ".step()"))
        if _may_change_arguments(func):
            how = ast.unparse(func) + "()"
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                for name in {n.id for n in ast.walk(arg) if isinstance(n, ast.Name)}:
                    f.passed[name].append(self.site(node, name, how))
        for kw in node.keywords:
            if kw.arg == "out" and isinstance(kw.value, (ast.Name, ast.Attribute, ast.Subscript)):
                site = self.site(node, _root_tensor_expr(kw.value), "out=")
                f.inplace[site.expr].append(site)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "grad" and isinstance(node.ctx, ast.Load) \
                and ast.unparse(node.value) not in ("torch.autograd", "autograd"):
            self.facts.grad_reads.append(self.site(node, node.value, ".grad"))
        self.generic_visit(node)


def _may_change_arguments(func: ast.AST) -> bool:
    """A call that may change its arguments in place: a function of the user's (not a
    builtin such as print), or an in-place API (``nn.init.normal_``)."""
    if isinstance(func, ast.Name):
        return not hasattr(builtins, func.id)
    return isinstance(func, ast.Attribute) and func.attr.endswith("_") and not func.attr.startswith("_")


_OPS = {"Add": "+", "Sub": "-", "Mult": "*", "Div": "/", "MatMult": "@", "Pow": "**",
        "FloorDiv": "//", "Mod": "%", "BitAnd": "&", "BitOr": "|", "BitXor": "^",
        "LShift": "<<", "RShift": ">>"}


def scan(source: CellSource) -> CodeFacts:
    """The static facts of ``source``'s body (empty when it does not parse)."""
    scanner = _Scanner(source.lines)
    if source.tree is not None:
        scanner.visit(source.tree)
    return scanner.facts
