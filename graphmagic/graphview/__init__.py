"""The inline autograd graph: capture (plain data), collapse, DOT, SVG, report section.

``GraphProbe`` fills a ``%%autograd`` report's ``graph``; ``graph(*tensors)`` draws the
same picture anywhere. Modules: ``capture`` walks grad_fns iteratively into ``model``;
``copies`` and ``collapse`` keep big graphs fast to lay out; ``details`` reads saved
values; ``dot`` writes DOT with one escaping rule; ``render`` runs Graphviz;
``section`` displays; ``roots`` picks what a cell's graph starts from;
``torchviz_engine`` is ``--engine torchviz``.
"""
from __future__ import annotations

from .api import graph
from .probe import GraphProbe
from .render import GraphvizMissing, RenderError
from .section import GraphView

__all__ = ["GraphProbe", "GraphView", "GraphvizMissing", "RenderError", "graph"]
