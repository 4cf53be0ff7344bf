"""Memory that autograd holds for the namespace: backward graphs and their saved tensors.

A tensor with a ``grad_fn`` keeps its whole backward graph alive, and with it every tensor
an op saved for backward (the activations) until a backward pass frees them. At the cell's
end ``held_memory`` walks the graphs behind the namespace's tensors (and the cell's value,
``Out[n]``) once, iteratively, and returns plain data:

- one ``GraphHeld`` per connected graph (graphs that share an op are one; sharing only
  leaves, such as a model's parameters, does not join them): the names that keep it (``tops``: nothing else
  in it consumes them; ``inner``: they are part of a bigger history), its nodes, the bytes
  of saved tensors still held per device, whether a backward pass freed part of it, and how
  many times each leaf is used in it (``uses``: ``id(leaf) -> edges``, for counting
  iterations);
- the five biggest holders by op and, where the op's parameters tell, module.

Saved tensors are read through ``_raw_saved_*`` (``SavedTensor.data``): no unpack hook
runs, and a freed one reads as ``None``. A storage is counted once, and a storage that a
namespace tensor holds anyway (parameters, inputs) is not counted again. The walks share
one budget of ``SAFE_WALK_LIMIT`` nodes (see ``tensors/info.py``).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch

from ..graph.capture import op_name
from ..tensors.info import SAFE_WALK_LIMIT, device_str, is_tensor, reading, storage_bytes, storage_key
from ..tracking.probe import result_tensors

TOP = 5
LEAF = "AccumulateGrad"
_RAW: dict[type, tuple[str, ...]] = {}


@dataclass
class GraphHeld:
    tops: list[str]                       # names whose history it is
    inner: list[str] = field(default_factory=list)  # names inside it
    nodes: int = 0
    saved: dict[str, int] = field(default_factory=dict)  # device -> bytes
    freed: bool = False                   # a backward pass freed some of its saved tensors
    hooked: int = 0                       # saved tensors behind saved_tensors_hooks (not counted)
    uses: dict[int, int] = field(default_factory=dict)  # id(leaf) -> edges into it

    @property
    def names(self) -> list[str]:
        return self.tops + self.inner

    @property
    def saved_bytes(self) -> int:
        return sum(self.saved.values())

    def to_json(self) -> dict:
        return {"roots": list(self.tops), "inside": list(self.inner), "nodes": self.nodes,
                "saved": dict(self.saved), "freed": self.freed, "hooked": self.hooked}


@dataclass
class Holder:
    op: str
    module: str | None
    device: str
    bytes: int

    @property
    def label(self) -> str:
        return f"{self.module} {self.op}" if self.module else self.op


@dataclass
class HeldMemory:
    graphs: list[GraphHeld] = field(default_factory=list)
    top: list[Holder] = field(default_factory=list)
    truncated: bool = False

    def __bool__(self) -> bool:
        return bool(self.graphs)

    @property
    def nodes(self) -> int:
        return sum(g.nodes for g in self.graphs)

    def total(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for g in self.graphs:
            for device, n in g.saved.items():
                out[device] = out.get(device, 0) + n
        return out

    def graph_of(self, name: str) -> GraphHeld | None:
        return next((g for g in self.graphs if name in g.tops or name in g.inner), None)

    def to_json(self) -> dict:
        return {"graphs": [g.to_json() for g in self.graphs], "nodes": self.nodes,
                "total": self.total(), "truncated": self.truncated,
                "top": [{"op": h.op, "module": h.module, "device": h.device, "bytes": h.bytes}
                        for h in self.top]}


def raw_saved(fn) -> tuple[str, ...]:
    """The ``_raw_saved_*`` attribute names of a node's class (cached)."""
    kind = type(fn)
    names = _RAW.get(kind)
    if names is None:
        names = _RAW[kind] = tuple(a for a in dir(fn) if a.startswith("_raw_saved_"))
    return names


def saved_tensors(fn, check_freed: bool = True) -> tuple[list[torch.Tensor], bool, int]:
    """``(tensors still saved, freed, hooked)`` of one node, without running unpack hooks.
    ``check_freed=False`` skips telling a freed value from an absent optional one (the
    telling costs an exception, about 12 us)."""
    found: list[torch.Tensor] = []
    freed = False
    hooked = 0
    for attr in raw_saved(fn):
        try:
            raw = getattr(fn, attr)
        except RuntimeError:   # a custom Function's saved tensors after backward
            freed = True
            continue
        except Exception:
            continue
        for item in raw if isinstance(raw, (list, tuple)) else (raw,):
            try:
                if item.unpack_hook is not None:
                    hooked += 1
                    continue
                data = item.data
            except Exception:
                continue
            if is_tensor(data):
                found.append(data)
            elif data is None and check_freed and not found and _freed(fn, attr):
                return found, True, hooked  # backward frees all of a node's values at once
    return found, freed, hooked


def _freed(fn, raw_attr: str) -> bool:
    """A ``None`` saved value: freed by backward (reading it raises), or an absent optional."""
    try:
        getattr(fn, raw_attr.replace("_raw_saved_", "_saved_", 1))
    except RuntimeError:
        return True
    except Exception:
        pass
    return False


_BY_END: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def held_of(ctx, end) -> HeldMemory:
    """``held_memory`` of one cell's end, computed once (memory and pitfalls both read it)."""
    held = _BY_END.get(end)
    if held is None:
        named = end.named + result_tensors(end.result, ctx.execution_count)
        held = _BY_END[end] = held_memory(named)
    return held


def held_memory(named: list[tuple[str, torch.Tensor]], limit: int = SAFE_WALK_LIMIT) -> HeldMemory:
    """What the graphs behind ``named`` hold (see the module docstring)."""
    with reading():  # no subclass __torch_function__ runs for these reads
        starts = [(n, fn) for n, fn in ((n, t.grad_fn) for n, t in named) if fn is not None]
    if not starts:
        return HeldMemory()
    walk = _Walk(limit)
    try:
        for name, fn in starts:
            walk.start(name, fn)
        return walk.result(named)
    finally:
        walk.release()


class _Walk:
    """One shared, iterative walk; each node belongs to the group that reached it first,
    and groups that meet are merged (union-find)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.nodes: dict[int, object] = {}     # id -> node, alive while walking
        self.owner: dict[int, int] = {}        # id(node) -> group
        self.parent: list[int] = []
        self.groups: list[GraphHeld] = []
        self.consumed: set[int] = set()        # ids of nodes some other node feeds
        self.fn_names: dict[int, list[str]] = {}
        self.saved: list[tuple[int, int, torch.Tensor]] = []  # (group, id(node), tensor)
        self.truncated = False

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a: int, b: int) -> int:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[b] = a
        return a

    def start(self, name: str, fn) -> None:
        self.fn_names.setdefault(id(fn), []).append(name)
        if id(fn) in self.owner:
            return
        g = len(self.groups)
        self.groups.append(GraphHeld(tops=[]))
        self.parent.append(g)
        stack = [fn]
        self.owner[id(fn)] = g
        self.nodes[id(fn)] = fn
        while stack:
            if len(self.nodes) >= self.limit:
                self.truncated = True
                return
            node = stack.pop()
            group = self.groups[g]
            group.nodes += 1
            tensors, freed, hooked = saved_tensors(node, check_freed=not group.freed)
            group.freed |= freed
            group.hooked += hooked
            self.saved.extend((g, id(node), t) for t in tensors)
            try:
                children = node.next_functions
            except Exception:
                continue
            for child, _ in children:
                if child is None:
                    continue
                key = id(child)
                if type(child).__name__ == LEAF:  # shared by every graph of a model: no owner
                    var = getattr(child, "variable", None)
                    if var is not None:
                        group.uses[id(var)] = group.uses.get(id(var), 0) + 1
                    continue
                self.consumed.add(key)
                known = self.owner.get(key)
                if known is not None:
                    if self.find(known) != self.find(g):
                        self.union(g, known)
                    continue
                self.owner[key] = g
                self.nodes[key] = child
                stack.append(child)

    def result(self, named: list[tuple[str, torch.Tensor]]) -> HeldMemory:
        merged: dict[int, GraphHeld] = {}
        for g, group in enumerate(self.groups):
            root = self.find(g)
            into = merged.get(root)
            if into is None:
                into = merged[root] = GraphHeld(tops=[])
            into.nodes += group.nodes
            into.freed |= group.freed
            into.hooked += group.hooked
            for leaf, n in group.uses.items():
                into.uses[leaf] = into.uses.get(leaf, 0) + n
        for fid, names in self.fn_names.items():
            group = merged[self.find(self.owner[fid])]
            (group.inner if fid in self.consumed else group.tops).extend(names)
        for group in merged.values():
            if not group.tops:  # a cycle of names cannot be; keep every graph named
                group.tops, group.inner = group.inner[:1], group.inner[1:]
        holders = self._count_saved(merged, named)
        graphs = sorted(merged.values(), key=lambda gr: (-gr.saved_bytes, -gr.nodes))
        return HeldMemory(graphs=graphs, top=holders, truncated=self.truncated)

    def _count_saved(self, merged: dict[int, GraphHeld],
                     named: list[tuple[str, torch.Tensor]]) -> list[Holder]:
        if not self.saved:
            return []
        namespace = {storage_key(t) for _, t in named}
        seen: set[int] = set()
        by_op: dict[tuple[str, str | None, str], int] = {}
        labels: dict[int, tuple[str, str | None]] = {}
        params = _param_names(named)
        for g, node_id, t in self.saved:
            key = storage_key(t)
            if key is None or key in seen or key in namespace:
                continue
            seen.add(key)
            size, device = storage_bytes(t), device_str(t)
            group = merged[self.find(g)]
            group.saved[device] = group.saved.get(device, 0) + size
            label = labels.get(node_id)
            if label is None:
                label = labels[node_id] = _label(self.nodes[node_id], params)
            by_op[(*label, device)] = by_op.get((*label, device), 0) + size
        top = sorted(by_op.items(), key=lambda kv: -kv[1])[:TOP]
        return [Holder(op=op, module=module, device=device, bytes=n)
                for (op, module, device), n in top]

    def release(self) -> None:
        self.nodes.clear()
        self.saved.clear()
        self.fn_names.clear()


def _param_names(named: list[tuple[str, torch.Tensor]]) -> dict[int, str]:
    """``id(parameter) -> its module`` (``model[0]`` for ``model[0].weight``)."""
    out: dict[int, str] = {}
    for name, t in named:
        if issubclass(type(t), torch.nn.Parameter) and id(t) not in out:
            module = module_of(name)
            if module:
                out[id(t)] = module
    return out


def module_of(name: str) -> str | None:
    """``model[0]`` for ``model[0].weight``, ``model.pd`` for ``model.pd['a']``; None for a
    plain variable."""
    if name.endswith("]") and "[" in name:
        cut = name.rindex("[")
    elif "." in name:
        cut = name.rindex(".")
    else:
        return None
    return name[:cut] or None


def _label(fn, params: dict[int, str]) -> tuple[str, str | None]:
    """The op of a node and, when one of its inputs is a module's parameter (directly or
    through one single-input node such as ``t()``), that module."""
    op = op_name(type(fn).__name__)
    try:
        for child, _ in fn.next_functions:
            for node in (child, *_single_input(child)):
                var = getattr(node, "variable", None) if type(node).__name__ == LEAF else None
                if var is not None and id(var) in params:
                    return op, params[id(var)]
    except Exception:
        pass
    return op, None


def _single_input(node) -> tuple:
    try:
        nexts = [c for c, _ in node.next_functions if c is not None]
    except Exception:
        return ()
    return tuple(nexts) if len(nexts) == 1 else ()
