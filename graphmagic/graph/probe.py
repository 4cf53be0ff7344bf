"""The graph part of a cell: at its end, capture the graph as plain data."""
from __future__ import annotations

from .build import build_graph, final_roots
from .roots import select
from .section import GraphView


def graph_section(ctx, end, tracking) -> GraphView | None:
    """The cell's graph (None when it has no autograd tensors to draw)."""
    opts = ctx.options
    changed = tracking.changed if tracking is not None else None
    backward_exprs = [site.expr for site in ctx.code.backward_calls]
    sel = select(ctx.namespace, backward_exprs, result=end.result,
                 count=ctx.execution_count, changed=changed, graph_roots=opts.graph_roots,
                 named=end.named)

    def own_engine():
        return build_graph(sel.roots, sel.named, candidates=sel.candidates,
                           detach_candidates=sel.detach_candidates,
                           max_nodes=opts.max_nodes, saved=opts.saved, attrs=opts.attrs,
                           backward_ran=sel.backward_ran)

    if opts.engine == "torchviz":
        from .torchviz_engine import torchviz_view

        view = torchviz_view(final_roots(sel.roots, sel.candidates), sel.named, saved=opts.saved,
                             attrs=opts.attrs, notes=sel.notes, fallback=own_engine)
    else:
        view = GraphView(own_engine(), notes=sel.notes)
    return view if view else None
