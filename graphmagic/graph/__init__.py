"""The inline autograd graph: capture (plain data), collapse, DOT, SVG, report section.

``probe.graph_section`` is a ``%%autograd`` report's ``graph``; ``graph(*tensors)`` draws the
same picture anywhere. Modules: ``capture`` walks grad_fns iteratively into ``model``;
``copies`` and ``collapse`` keep big graphs fast to lay out; ``details`` reads saved
values; ``dot`` writes DOT with one escaping rule; ``render`` runs Graphviz;
``section`` displays; ``roots`` picks what a cell's graph starts from;
``torchviz_engine`` is ``--engine torchviz``.
"""
from __future__ import annotations

import sys
import types

from .api import graph
from .render import GraphvizMissing, RenderError
from .section import GraphView

__all__ = ["GraphView", "GraphvizMissing", "RenderError", "graph"]


class _CallableModule(types.ModuleType):
    """``graphmagic.graph`` is this package once imported; calling it draws, as the
    top-level ``graphmagic.graph()`` function does before."""

    def __call__(self, *tensors, **kwargs):
        return graph(*tensors, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
