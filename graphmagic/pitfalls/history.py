"""``history-kept`` and ``graph-not-needed``: graphs kept alive that nobody will differentiate.

PyTorch's FAQ opens with "Don't accumulate history across your training loop": after
``total_loss += loss`` (or ``losses.append(loss)``, ``running = running * 0.9 + loss``)
``total_loss`` is a tensor whose graph holds every iteration's graph. Found from:

- the cell's code: an accumulation of a name (``x += ...``, ``x = <expr using x>``,
  ``xs.append(...)``) inside a loop, not reset earlier in the same loop body; or outside a
  loop, of a name that had autograd history before the cell (one step per cell);
- the graph at the cell's end (``memory/held.py``): how many iterations it spans. Each
  iteration uses the leaves (parameters) once more, so the uses of a leaf in the kept
  graph, divided by its uses in one iteration's tensor (``loss`` on the right-hand side,
  when the namespace has it), count the iterations; a list counts its entries.

Then, unless the cell differentiates the accumulated name itself (``total.backward()``,
``torch.autograd.grad(g, ..., create_graph=True)`` in a loop):

- a backward pass freed the iterations' saved tensors (training loop): ``history-kept``;
- the graphs still hold saved tensors and nothing differentiated them: ``graph-not-needed``
  (an evaluation loop without ``torch.no_grad()``). A single forward kept under a model in
  ``eval()`` mode is ``graph-not-needed`` as well; a single forward in training mode is not
  (its backward may come in the next cell).

``HistoryWatch`` notes at the cell's start which accumulated names already had history.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import torch

from ..code.frames import resolve
from ..memory.held import GraphHeld, HeldMemory, held_of
from ..messages import t
from ..tensors.info import human_bytes, is_tensor, reading
from ..tensors.names import entries, is_user_name, items, module_tensors
from ..tensors.names import field as instance_field
from ..tensors.walk import nodes

LIST_METHODS = frozenset({"append", "extend", "insert"})
LOOPS = (ast.For, ast.AsyncFor, ast.While)


@dataclass
class Accumulation:
    target: str                 # the accumulated name as written
    line: int
    in_loop: bool
    parts: list[str] = field(default_factory=list)  # names the added value is made of
    code: str = ""              # the statement, for the fix


def accumulations(tree: ast.AST | None) -> list[Accumulation]:
    """Accumulation statements of a cell (see the module docstring), in line order."""
    if tree is None:
        return []
    found: list[Accumulation] = []
    _visit(tree, None, found)
    found.sort(key=lambda a: a.line)
    return found


def _visit(node: ast.AST, loop: ast.AST | None, found: list[Accumulation]) -> None:
    stack = [(node, loop)]
    while stack:
        current, loop = stack.pop()
        site = _accumulation(current, loop)
        if site is not None:
            found.append(site)
        inner = current if isinstance(current, LOOPS) else loop
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # a function body runs when called, not here
        stack.extend((child, inner) for child in ast.iter_child_nodes(current))


def _names(node: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def _accumulation(node: ast.AST, loop: ast.AST | None) -> Accumulation | None:
    if isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)) \
            and isinstance(node.target, (ast.Name, ast.Attribute)):
        return _site(node, loop, ast.unparse(node.target), node.value)
    if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            and isinstance(node.targets[0], (ast.Name, ast.Attribute)):
        target = ast.unparse(node.targets[0])
        rest = _other_terms(node.value, target)
        return _site(node, loop, target, rest) if rest is not None else None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in LIST_METHODS \
            and isinstance(node.value.func.value, (ast.Name, ast.Attribute)) and node.value.args:
        target = ast.unparse(node.value.func.value)
        return _site(node, loop, target, node.value.args[-1])
    return None


def _other_terms(value: ast.AST, target: str) -> ast.AST | None:
    """For ``t + loss`` or ``t * 0.9 + (1 - 0.9) * loss`` (``t`` once, as a term of a sum,
    at most scaled by a constant): the other terms; None for anything else (``h @ W + b``
    feeds ``h`` into an op: a recurrence, not an accumulation)."""
    terms, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            stack += [node.left, node.right]
        else:
            terms.append(node)
    own = [term for term in terms if _is_scaled(term, target)]
    others = [term for term in terms if term not in own]
    if len(terms) < 2 or len(own) != 1 or any(
            target in {ast.unparse(n) for n in ast.walk(term)} for term in others):
        return None
    return ast.Tuple(elts=others, ctx=ast.Load())


def _is_scaled(term: ast.AST, target: str) -> bool:
    if ast.unparse(term) == target:
        return True
    return isinstance(term, ast.BinOp) and isinstance(term.op, (ast.Mult, ast.Div)) and (
        (ast.unparse(term.left) == target and isinstance(term.right, ast.Constant))
        or (ast.unparse(term.right) == target and isinstance(term.left, ast.Constant)))


def _site(node, loop, target: str, value: ast.AST) -> Accumulation | None:
    if loop is not None and _reset_before(loop, target, node.lineno):
        return None
    parts = [n for n in dict.fromkeys(_names(value)) if n != target.split(".")[0]]
    return Accumulation(target, node.lineno, loop is not None, parts, ast.unparse(node))


def _reset_before(loop: ast.AST, target: str, line: int) -> bool:
    """``target`` is bound afresh (not from itself) earlier in the same loop body."""
    for node in ast.walk(loop):
        if isinstance(node, ast.Assign) and getattr(node, "lineno", line) < line and any(
                ast.unparse(tg) == target for tg in node.targets):
            reads = {ast.unparse(n) for n in ast.walk(node.value) if isinstance(n, (ast.Name, ast.Attribute))}
            if target not in reads:
                return True
    return False


def _history_count(value: object) -> int:
    """Graphs a value carries: 1 for a tensor with a grad_fn, the entries with one for a list
    (read by type, through the built-in list methods, with ``__torch_function__`` off)."""
    with reading():
        if is_tensor(value):
            return int(value.grad_fn is not None)
        return sum(1 for v in entries(value) if is_tensor(v) and v.grad_fn is not None)


class HistoryWatch:
    """The cell's accumulation sites, and which of their names had history before it."""

    def __init__(self, ctx) -> None:
        self.sites = accumulations(ctx.source.tree)
        ns = ctx.namespace
        self.before = {s.target: _history_count(resolve(s.target, ns)) for s in self.sites
                       if not s.in_loop}

    def check(self, ctx, end, sink) -> None:
        if not (sink.enabled("history-kept") or sink.enabled("graph-not-needed")):
            return
        held = None
        reported: set[int] = set()   # id() of graphs already reported
        differentiated = _differentiated(ctx)
        for site in self.sites:
            if site.target.split(".")[0] in differentiated:
                continue
            if not site.in_loop and not self.before.get(site.target):
                continue
            value = resolve(site.target, ctx.namespace)
            if _history_count(value) == 0:
                continue
            held = held if held is not None else held_of(ctx, end)
            graphs, iterations = _iterations(ctx, end, held, site, value)
            if iterations < 2 or not graphs or any(id(g) in reported for g in graphs):
                continue
            reported.update(id(g) for g in graphs)
            _report(ctx, sink, site, graphs, iterations, is_tensor(value))
        if sink.enabled("graph-not-needed"):
            held = held if held is not None else held_of(ctx, end)
            _eval_forwards(ctx, end, sink, held, differentiated, reported)


def _differentiated(ctx) -> set[str]:
    """Names the cell's backward()/autograd.grad calls read (``total`` in ``total.backward()``,
    ``losses`` in ``torch.stack(losses).sum().backward()``)."""
    out: set[str] = set()
    for call in ctx.code.backward_calls:
        try:
            out.update(_names(ast.parse(call.expr, mode="eval")))
        except SyntaxError:
            continue
    return out


def _iterations(ctx, end, held: HeldMemory, site: Accumulation, value) -> tuple[list[GraphHeld], int]:
    """The graphs the accumulated value keeps, and how many iterations they span."""
    if is_tensor(value):
        graph = held.graph_of(site.target)
        if graph is None:
            return [], 0
        return [graph], _tensor_iterations(ctx, graph, site)
    prefix = site.target + "["
    graphs, count = [], 0
    for name, tensor in end.named:
        with reading():
            kept = tensor.grad_fn is not None
        if name.startswith(prefix) and kept:
            count += 1
            graph = held.graph_of(name)
            if graph is not None and all(g is not graph for g in graphs):
                graphs.append(graph)
    return graphs, count


def _one_iteration(ctx, site: Accumulation) -> str | None:
    """The name on the right-hand side that holds one iteration's tensor (``loss``)."""
    for part in site.parts:
        one = resolve(part, ctx.namespace)
        if is_tensor(one) and _history_count(one):
            return part
    return None


def _tensor_iterations(ctx, graph: GraphHeld, site: Accumulation) -> int:
    """Uses of a leaf in the kept graph over its uses in one iteration's tensor."""
    if not graph.uses:
        return 0
    part = _one_iteration(ctx, site)
    if part is not None:
        uses: dict[int, int] = {}
        for node in nodes([resolve(part, ctx.namespace)]):
            for child, _ in getattr(node, "next_functions", ()):
                var = getattr(child, "variable", None) if child is not None else None
                if is_tensor(var):
                    uses[id(var)] = uses.get(id(var), 0) + 1
        ratios = [graph.uses[k] // n for k, n in uses.items() if n and k in graph.uses]
        if ratios:
            return max(ratios)
    return max(graph.uses.values())


def fixed_code(site: Accumulation, part: str | None) -> str:
    """The statement keeping a number: ``total += loss.item()``,
    ``val += F.cross_entropy(out, y).item()``, ``losses.append(loss.item())``."""
    try:
        node = ast.parse(site.code).body[0]
    except (SyntaxError, IndexError):
        return site.code

    def item(expr: ast.AST) -> ast.AST:
        return ast.Call(ast.Attribute(expr, "item", ast.Load()), [], [])

    if part is not None:
        class Wrap(ast.NodeTransformer):
            def visit_Name(self, name: ast.Name) -> ast.AST:
                return item(name) if name.id == part and isinstance(name.ctx, ast.Load) else name
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        node = Wrap().visit(node)
        if target is not None:
            node.targets = [target]
    elif isinstance(node, ast.AugAssign):
        node.value = item(node.value)
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and node.value.args:
        node.value.args[-1] = item(node.value.args[-1])
    else:
        return site.code
    return ast.unparse(ast.fix_missing_locations(node))


def _held_text(graphs: list[GraphHeld]) -> tuple[int, str]:
    nodes_ = sum(g.nodes for g in graphs)
    saved: dict[str, int] = {}
    for g in graphs:
        for device, n in g.saved.items():
            saved[device] = saved.get(device, 0) + n
    text = ", ".join(f"{human_bytes(n)} ({d})" for d, n in sorted(saved.items()))
    return nodes_, text


def _report(ctx, sink, site: Accumulation, graphs: list[GraphHeld], iterations: int,
            is_tensor: bool) -> None:
    nodes_, saved = _held_text(graphs)
    part = _one_iteration(ctx, site)
    fixed = fixed_code(site, part)
    filename = ctx.source.filename
    freed = any(g.freed for g in graphs)
    if freed or not saved:
        key = "pitfalls.history.message" if is_tensor else "pitfalls.history.message_list"
        message = t(key, var=site.target, n=iterations, nodes=nodes_,
                    saved=saved or t("pitfalls.history.no_saved"))
        fix = t("pitfalls.history.fix", fixed=fixed)
        sink.add("history-kept", site.target, filename, site.line, message, fix, when="after")
        return
    message = t("pitfalls.notneeded.message", var=site.target, n=iterations, nodes=nodes_, saved=saved)
    fix = t("pitfalls.notneeded.fix", fixed=fixed)
    sink.add("graph-not-needed", site.target, filename, site.line, message, fix, when="after")


def _eval_forwards(ctx, end, sink, held: HeldMemory, differentiated: set[str],
                   reported: set[int]) -> None:
    """A forward kept from this cell through a model in ``eval()`` mode, with saved tensors."""
    assigned = ctx.code.assigned
    candidates = [(g, [n for n in g.tops if n in assigned and n.split(".")[0] not in differentiated])
                  for g in held.graphs if id(g) not in reported and g.saved_bytes]
    candidates = [(g, mine) for g, mine in candidates if mine]
    eval_params = _eval_parameters(ctx.namespace) if candidates else {}
    for graph, mine in candidates:
        models = sorted({eval_params[k] for k in graph.uses if k in eval_params})
        if not models:
            continue
        reported.add(id(graph))
        name = mine[0]
        line = assigned[name][-1].line
        _, saved = _held_text([graph])
        message = t("pitfalls.notneeded.message_eval", var=name, model=models[0], nodes=graph.nodes,
                    saved=saved)
        sink.add("graph-not-needed", name, ctx.source.filename, line, message,
                 t("pitfalls.notneeded.fix_eval", var=name, model=models[0]), when="after")


def _eval_parameters(ns: dict) -> dict[int, str]:
    """``id(parameter) -> model name`` for the namespace's modules in ``eval()`` mode (their
    ``training`` flag read from the instance ``__dict__``)."""
    out: dict[int, str] = {}
    for name, obj in items(ns, None):
        if not issubclass(type(obj), torch.nn.Module) or not is_user_name(name):
            continue
        if instance_field(obj, "training") is False:
            for _, p in module_tensors(name, obj):
                if issubclass(type(p), torch.nn.Parameter):
                    out.setdefault(id(p), name)
    return out

