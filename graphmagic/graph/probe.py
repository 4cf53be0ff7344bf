"""The graph part of a cell: at its end, capture the graph as plain data.

Its roots: what the cell differentiated (the backward watch's ``Differentiated`` records:
a root still alive is drawn from the living tensor, a gone one from the fragment captured
at its call), the names ``roots.select`` finds, the cell's value. A drawn tensor without a
name that had one (rebound in this cell, or named when a backward pass learnt it) is
labelled ``x (before line 3)``.
"""
from __future__ import annotations

from ..messages import t
from ..tensors.info import reading
from .build import build_graph, final_roots
from .roots import Selection, select
from .section import GraphView


def graph_section(ctx, end, tracking, watch=None) -> GraphView | None:
    """The cell's graph (None when it has no autograd tensors to draw). ``watch``: the
    pitfall part's ``BackwardWatch`` (None when it did not run): what was differentiated.
    Tensor facts are read with subclass ``__torch_function__`` and torch function modes off."""
    with reading():
        return _section(ctx, end, tracking, watch)


def _section(ctx, end, tracking, watch) -> GraphView | None:
    opts = ctx.options
    changed = tracking.changed if tracking is not None else None
    backward_exprs = [site.expr for site in ctx.code.backward_calls]
    sel = select(ctx.namespace, backward_exprs, result=end.result,
                 count=ctx.execution_count, changed=changed, graph_roots=opts.graph_roots,
                 named=end.named)
    fragments = []
    if watch is not None and not opts.graph_roots:
        fragments = _differentiated(ctx, sel, watch.differentiated(), tracking)
    former = _former(ctx, tracking)

    def own_engine():
        return build_graph(sel.roots, sel.named, candidates=sel.candidates,
                           detach_candidates=sel.detach_candidates,
                           max_nodes=opts.max_nodes, saved=opts.saved, attrs=opts.attrs,
                           backward_ran=sel.backward_ran, fragments=fragments, former=former)

    if opts.engine == "torchviz" and not fragments:
        from .torchviz_engine import torchviz_view

        view = torchviz_view(final_roots(sel.roots, sel.candidates), sel.named, saved=opts.saved,
                             attrs=opts.attrs, notes=sel.notes, fallback=own_engine)
    else:
        notes = sel.notes + ([t("graph.torchviz_gone")] if opts.engine == "torchviz" else [])
        view = GraphView(own_engine(), notes=notes)
    return view if view else None


def _differentiated(ctx, sel: Selection, observed, tracking) -> list:
    """Add the cell's differentiated tensors to ``sel``: living ones as roots, labelled by
    the expression that was differentiated; returns ``(fragment, stand-ins)`` of gone ones."""
    lookup = {id(v): n for n, v in sel.named}
    drawn = {id(v) for _, v in sel.roots}
    fragments = []
    for entry in observed:
        root = entry.root()
        if root is not None:
            if id(root) not in drawn and root.requires_grad:
                drawn.add(id(root))
                sel.roots.append((lookup.get(id(root), entry.label), root))
            sel.backward_ran = True
        elif entry.fragment is not None:
            fragments.append(_use(ctx, entry.fragment, sel.named, tracking))
            sel.backward_ran = True
    return fragments


def _use(ctx, frag, named, tracking) -> tuple:
    """``(fragment, stand-ins, names)``. An operand gone since its pass (``l`` of
    ``l.sum()``, rebound by a later loop step) stands for the tensor its name holds now
    when the same kind of op made it; otherwise it is drawn as ``l (before line 6)``."""
    by_name = dict(named)
    live, names = {}, {}
    for i, tensor in frag.tensors():
        expr = frag.expr[i]
        if i == 0 or tensor is not None or expr is None:
            continue
        now = by_name.get(expr)
        if now is not None and now.grad_fn is not None and type(now.grad_fn).__name__ == frag.made_by[i]:
            live[i] = now
            continue
        lines = [s.line for s in ctx.code.assigned.get(expr, ())]
        if tracking is not None:   # del x, and the lines tracking found
            lines += [r.line for r in tracking.lines.get(expr, ()) if r.cell == ctx.cell]
        later = [line for line in lines
                 if frag.cell != ctx.cell or frag.line is None or line > frag.line]
        names[i] = t("graph.former", name=expr, line=min(later)) if later else \
            t("graph.former_cell", name=expr)
    return frag, live, names


def _former(ctx, tracking):
    """``former(tensor)``: ``x (before line 3)`` for a tensor a name held before this cell
    rebound it (tracking), or that a backward pass learnt under a name (pitfall state)."""
    former_ids = dict(tracking.former) if tracking is not None else {}
    grads = ctx.state.pitfalls.grads

    def former(tensor):
        hit = former_ids.get(id(tensor))
        if hit is None:
            record = grads.get(tensor) if tensor.requires_grad and tensor.is_leaf else None
            made = getattr(record, "made", None)
            if made is None or not made.name:
                return None
            later = [s.line for s in ctx.code.assigned.get(made.name, ())
                     if made.filename != ctx.source.filename or s.line > made.line]
            hit = (made.name, min(later) if later else None)
        name, line = hit
        return t("graph.former", name=name, line=line) if line else t("graph.former_cell", name=name)
    return former
