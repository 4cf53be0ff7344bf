"""The graph probe: at the end of a ``%%autograd`` cell, capture its graph as plain data."""
from __future__ import annotations

from ..codescan import facts_for
from ..names import at_cell_end
from ..runner import CellRun, Probe
from .build import build_graph, final_roots
from .roots import select
from .section import GraphView


class GraphProbe(Probe):
    """Fills ``run.report.graph`` (None when the cell has no autograd tensors to draw)."""

    def collect(self, run: CellRun) -> None:
        opts = run.options
        if not opts.show_graph:
            return
        tracking = run.shared.get("tracking")
        changed = getattr(tracking, "changed", None) if tracking is not None else None
        backward_exprs = [site.expr for site in facts_for(run).backward_calls]
        sel = select(run.namespace, backward_exprs, result=run.result,
                     count=run.execution_count, changed=changed, graph_roots=opts.graph_roots,
                     named=at_cell_end(run))
        if opts.engine == "torchviz":
            from .torchviz_engine import torchviz_view

            view = torchviz_view(final_roots(sel.roots, sel.candidates), sel.named, saved=opts.saved,
                                 attrs=opts.attrs, notes=sel.notes)
        else:
            graph = build_graph(sel.roots, sel.named, candidates=sel.candidates,
                                detach_candidates=sel.detach_candidates,
                                max_nodes=opts.max_nodes, saved=opts.saved, attrs=opts.attrs,
                                backward_ran=sel.backward_ran)
            view = GraphView(graph, notes=sel.notes)
        run.report.graph = view if view else None
