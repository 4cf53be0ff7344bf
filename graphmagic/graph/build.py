"""From tensors to the finished plain-data graph: walk, split shared leaves, collapse,
then turn only what is drawn into model nodes (tensor state, op details)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import torch

from ..cell.options import DEFAULT_MAX_NODES
from . import details
from .capture import DATA, Capture, op_of
from .collapse import Plan, collapse
from .copies import split_shared_leaves
from .fragment import Fragment
from .levels import levels
from .model import Edge, Graph, OpNode, TensorNode
from .state import tensor_node


def build_graph(roots: list[tuple[str, torch.Tensor]],
                named: Iterable[tuple[str, torch.Tensor]] = (), *,
                candidates: list[tuple[str, torch.Tensor]] = (),
                detach_candidates: Iterable[torch.Tensor] = (),
                max_nodes: int = DEFAULT_MAX_NODES, saved: bool = False,
                attrs: bool = False, backward_ran: bool = False,
                fragments: list[tuple[Fragment, dict, dict]] = (),
                former: Callable[[torch.Tensor], str | None] | None = None) -> Graph:
    """The graph behind ``roots`` (always roots) and ``candidates`` (roots when nothing
    drawn consumes them). ``named`` gives names to the tensors met on the way.
    ``backward_ran``: the caller knows backward() ran on a root (a cell that called it);
    otherwise freed saved tensors are the sign. ``fragments``: graphs captured at
    backward() calls whose root is gone (``(fragment, {node: living stand-in}, {node:
    name of a gone tensor})``); their roots are roots too. ``former(tensor)``: the name a drawn tensor without one now had
    (``x (before line 3)``), or None."""
    roots = [(n, t) for n, t in roots if t.requires_grad]
    candidates = [(n, t) for n, t in candidates if t.requires_grad]
    if not roots and not candidates and not fragments:
        return Graph()
    cap = Capture(named)
    try:
        for name, t in roots + candidates:
            cap.add_name(name, t)
        inputs = [t for frag, live, _ in fragments for t in _alive(frag, live)]
        cap.walk([t for _, t in roots + candidates] + inputs)
        for frag, live, gone_names in fragments:
            cap.absorb(frag, live, gone_names)
        if cap.truncated:  # an unreached leaf may lie beyond the cut: not drawn on its own
            candidates = [(n, t) for n, t in candidates
                          if t.grad_fn is not None or id(t) in cap.node_of]
        for _, t in roots + candidates:
            if t.grad_fn is None:
                cap.tensor(t)   # a leaf on its own
        cap.detached(detach_candidates)
        if former is not None:
            for key in list(cap.node_of):
                if not cap.names.get(key):
                    name = former(cap.tensors[key])
                    if name:
                        cap.names[key] = [name]
        root_keys = _root_keys(cap, roots, candidates)
        level = levels(cap)
        split_shared_leaves(cap, level)
        plan = collapse(cap, level, max_nodes)
        graph = _assemble(cap, plan, root_keys)
        namer = details.Namer(cap.tensors, cap.names) if saved else None
        for node in graph.nodes.values():
            if isinstance(node, OpNode) and int(node.id[1:]) not in cap.preset:
                details.read(cap.fns[cap.fn[int(node.id[1:])]], node, namer, saved, attrs)
        graph.freed = any(isinstance(n, OpNode) and n.freed for n in graph.nodes.values())
        graph.after_backward = graph.freed or backward_ran or bool(fragments)
        if graph.after_backward:
            for node in graph.nodes.values():
                if isinstance(node, TensorNode) and node.requires_grad and not (
                        node.leaf or node.retains_grad):
                    node.grad_dropped = True
        return graph
    finally:
        cap.release()


def final_roots(roots: list[tuple[str, torch.Tensor]],
                candidates: list[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    """``roots`` plus the candidates no other drawn tensor consumes (for other engines)."""
    cap = Capture(roots + candidates)
    try:
        cap.walk(t for _, t in roots + candidates)
        keys = _root_keys(cap, roots, candidates)
        picked = {}
        for name, t in roots + candidates:
            if id(t) in keys and id(t) not in picked:
                picked[id(t)] = (keys[id(t)], t)
        return list(picked.values())
    finally:
        cap.release()


def _alive(frag: Fragment, live: dict) -> list[torch.Tensor]:
    """The fragment's tensors still alive (or standing in), whose graphs the walk adds."""
    out = []
    for i, t in frag.tensors():
        t = live.get(i, t)
        if t is not None:
            out.append(t)
    return out


def _root_keys(cap: Capture, roots, candidates) -> dict[int, str]:
    """``id(tensor) -> name`` of the roots: all of ``roots``, the fragments' roots, and
    the candidates that nothing drawn consumes."""
    consumed = {cap.key[s] for s, k in zip(cap.src, cap.ekind) if k == DATA and cap.key[s] >= 0}
    keys: dict[int, str] = {}
    for name, t in roots:
        keys.setdefault(id(t), name)
    for key, name in cap.root_keys.items():
        keys.setdefault(key, name)
    for name, t in candidates:
        if id(t) not in consumed:
            keys.setdefault(id(t), name)
    return keys


def _assemble(cap: Capture, plan: Plan | None, root_keys: dict[int, str]) -> Graph:
    graph = Graph()
    n = len(cap)
    group_of = plan.group_of if plan else [-1] * n
    ids = [""] * n
    graph.walk_limit = len(cap.fns) if cap.truncated else None
    graph.tensors = len({k for k in cap.key if k >= 0})
    graph.ops = sum(1 for k in cap.key if k < 0)
    for i in range(n):
        if group_of[i] >= 0:
            continue
        key = cap.key[i]
        preset = cap.preset.get(i)
        if cap.fn[i] >= 0 or key < 0:
            ids[i] = f"o{i}"
            if preset is not None:
                graph.nodes[ids[i]] = replace(preset, id=ids[i])
                continue
            fn = cap.fns[cap.fn[i]]
            graph.nodes[ids[i]] = OpNode(id=ids[i], name=cap.label[i], op=op_of(fn, cap.label[i]))
            continue
        ids[i] = f"t{i}"
        if preset is not None:
            node = replace(preset, id=ids[i], names=list(cap.names.get(key, preset.names)))
        else:
            node = tensor_node(ids[i], cap.names.get(key, []), cap.tensors[key])
        node.root = key in root_keys
        node.copy, node.copies = cap.copy[i], cap.copies.get(key, 1)
        graph.nodes[ids[i]] = node
    if plan:
        for group in plan.groups:
            graph.nodes[group.id] = group
        graph.collapsed = plan.collapsed
    for node, src in cap.detached_from.items():
        if ids[node] and ids[src]:
            graph.nodes[ids[node]].detached_from = ids[src]
    merged: dict[tuple[str, str, int], Edge] = {}
    groups = plan.groups if plan else []
    for s, d, k in zip(cap.src, cap.dst, cap.ekind):
        a = ids[s] or groups[group_of[s]].id
        b = ids[d] or groups[group_of[d]].id
        if a == b:
            continue
        edge = merged.get((a, b, k))
        if edge is None:
            merged[(a, b, k)] = Edge(a, b, "data" if k == DATA else "detach")
        else:
            edge.count += 1
    graph.edges = list(merged.values())
    graph.roots = list(dict.fromkeys(root_keys.values()))
    return graph
