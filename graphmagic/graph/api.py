"""``graphmagic.graph(*tensors)``: the same picture outside the magic, in any script."""
from __future__ import annotations

import sys

import torch

from ..messages import t
from ..tensors.names import named_tensors
from ..cell.options import DEFAULT_MAX_NODES
from .build import build_graph
from .section import GraphView


def graph(*tensors: torch.Tensor, names: dict | None = None, max_nodes: int = DEFAULT_MAX_NODES,
          saved: bool = False, attrs: bool = False) -> GraphView:
    """Draw the autograd graph behind ``tensors``.

    ``names`` maps names to tensors or modules (``{"x": x, "model": model}``); by default
    the caller's variables name the tensors. ``max_nodes`` collapses larger graphs into
    summarised groups (0 draws everything); ``saved`` shows the tensors each backward node
    saved, ``attrs`` its other attributes. The result displays inline in Jupyter and has
    ``.source`` (DOT), ``.svg()`` and ``.save(path)`` (.svg, .png, .pdf, .dot).
    """
    if not tensors:
        raise TypeError("graph() needs at least one tensor, e.g. graphmagic.graph(loss)")
    for i, v in enumerate(tensors):
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"graph() takes tensors; argument {i + 1} is a {type(v).__name__}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 0:
        raise ValueError(f"max_nodes must be a whole number >= 0 (0 draws everything), "
                         f"got {max_nodes!r}")
    if names is None:
        frame = sys._getframe(1)
        while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("graphmagic"):
            frame = frame.f_back  # graphmagic.graph() delegates here: name the caller's variables
        names = {**frame.f_globals, **frame.f_locals}
        del frame
    elif not isinstance(names, dict):
        raise TypeError(f"names must be a dict of name -> tensor or module, "
                        f"got {type(names).__name__}")
    named = list(named_tensors(names))
    by_id = {}
    for name, v in named:
        by_id.setdefault(id(v), name)
    single = len(tensors) == 1
    roots = [(by_id.get(id(v)) or t("graph.output", index="" if single else f" {i + 1}"), v)
             for i, v in enumerate(tensors)]
    detach = [v for _, v in named if v.grad_fn is None] + [v for v in tensors if not v.requires_grad]
    built = build_graph(roots, named, detach_candidates=detach, max_nodes=max_nodes,
                        saved=saved, attrs=attrs)
    return GraphView(built)
