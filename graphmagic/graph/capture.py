"""Walk the autograd graph behind some tensors into a compact skeleton of integers.

The walk is iterative and breadth first from the roots, and keeps every visited
``grad_fn`` in a list while it runs, so ``id()`` keys stay unique. It stops after
``WALK_LIMIT`` backward nodes: in PyTorch 2.13 a node that has had a Python object
(any ``next_functions`` access makes one) is freed recursively, one C stack frame chain
per node, so freeing a chain of 50,000 such nodes overflows an 8 MiB stack and kills
the process. Unwalked nodes are freed iteratively as usual. The skeleton is plain lists
(node labels, edges as index pairs) so that levels, per-use copies and collapsing stay
fast on 100,000 nodes; ``build`` turns what is drawn into the plain-data model and then
``release()`` drops every tensor and grad_fn reference.
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

import torch

from ..tensors.info import SAFE_WALK_LIMIT, data_ptr, storage_key

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_BACKWARD = re.compile(r"Backward\d*$")
_NAMES: dict[type, str] = {}
_OPS: dict[type, str] = {}
LEAF = "AccumulateGrad"
DATA, DETACH = 0, 1
WALK_LIMIT = SAFE_WALK_LIMIT


def op_name(backward_name: str) -> str:
    """``MulBackward0`` -> ``mul``, ``NativeLayerNormBackward0`` -> ``native_layer_norm``."""
    base = _BACKWARD.sub("", backward_name) or backward_name
    return _CAMEL.sub("_", base).lower()


def fn_name(fn) -> str:
    """The backward node's name (one per node class, cached)."""
    kind = type(fn)
    name = _NAMES.get(kind)
    if name is None:
        try:
            name = str(fn.name()).rsplit("::", 1)[-1]
        except Exception:
            name = kind.__name__
        _NAMES[kind] = name
    return name


def op_of(fn, label: str) -> str:
    """What an op node is called: a custom ``torch.autograd.Function``'s own class name
    (``Sq`` for ``SqBackward``, ``CompiledFunction`` for ``torch.compile``), else the forward
    op of a built-in node (``MulBackward0`` -> ``mul``). Cached per node class."""
    kind = type(fn)
    op = _OPS.get(kind)
    if op is None:
        forward = getattr(kind, "_forward_cls", None)
        name = getattr(forward, "__name__", None) if isinstance(forward, type) else None
        op = _OPS[kind] = name or op_name(label)
    return op


GHOST = 1 << 62   # keys of tensors gone by the end of the cell (above any id())


class Gone:
    """Stands in for a tensor gone since a fragment was captured (what the walks ask)."""
    grad_fn = None
    _base = None

    def __init__(self, leaf: bool, requires_grad: bool) -> None:
        self.is_leaf = leaf
        self.requires_grad = requires_grad


class Capture:
    """Skeleton of one walk. Node ``i`` is an op (``fn[i] >= 0``, the index in ``fns``)
    or a tensor (``key[i]``: ``id()`` of the tensor, ``copy[i]``: per-use copy number)."""

    def __init__(self, named: Iterable[tuple[str, torch.Tensor]]):
        self.fns: list = []                       # visited grad_fns, alive while walking
        self.pos: dict[int, int] = {}             # id(fn) -> index in fns
        self.names: dict[int, list[str]] = {}     # id(tensor) -> names
        self.tensors: dict[int, torch.Tensor] = {}
        self.outputs: dict[int, list[tuple[int, int]]] = {}  # id(fn) -> [(output_nr, id(t))]
        self._hold: list = []                     # grad_fns of named tensors (stable ids)
        self.label: list[str] = []                # op: backward name; tensor: ""
        self.fn: list[int] = []
        self.key: list[int] = []
        self.copy: list[int] = []
        self.src: list[int] = []
        self.dst: list[int] = []
        self.ekind: list[int] = []
        self.node_of: dict[int, int] = {}         # id(tensor) -> its (first) node
        self.detached_from: dict[int, int] = {}   # tensor node -> node it was detached from
        self.copies: dict[int, int] = {}          # id(tensor) -> times drawn
        self.truncated = False                    # the walk stopped at WALK_LIMIT
        self.preset: dict[int, object] = {}       # node -> model node read earlier (fragments)
        self.root_keys: dict[int, str] = {}       # key -> label of a fragment's root
        self._op_keys: dict | None = None         # (name, sequence_nr) -> live op node
        self._gone: dict[int, int] = {}           # id() at capture of a gone tensor -> node
        for name, t in named:
            self.add_name(name, t)

    def add_name(self, name: str, t: torch.Tensor) -> None:
        names = self.names.setdefault(id(t), [])
        if name not in names:
            names.append(name)
        self.tensors[id(t)] = t
        fn = t.grad_fn
        if fn is not None:
            self._hold.append(fn)
            self.outputs.setdefault(id(fn), []).append((int(t.output_nr), id(t)))

    def __len__(self) -> int:
        return len(self.label)

    def _node(self, label: str, fn: int, key: int, copy: int = 0) -> int:
        self.label.append(label)
        self.fn.append(fn)
        self.key.append(key)
        self.copy.append(copy)
        return len(self.label) - 1

    def edge(self, s: int, d: int, kind: int = DATA) -> None:
        self.src.append(s)
        self.dst.append(d)
        self.ekind.append(kind)

    def tensor(self, t: torch.Tensor) -> int:
        """The node of tensor ``t`` (made on first use)."""
        key = id(t)
        node = self.node_of.get(key)
        if node is None:
            self.tensors[key] = t
            node = self.node_of[key] = self._node("", -1, key)
        return node

    def add_copy(self, node: int, copy: int) -> int:
        return self._node("", -1, self.key[node], copy)

    # ---- walk -------------------------------------------------------------------
    def walk(self, roots: Iterable[torch.Tensor], limit: int = WALK_LIMIT) -> None:
        fns, pos = self.fns, self.pos
        queue: deque[int] = deque()
        for t in roots:
            fn = t.grad_fn
            if fn is not None and id(fn) not in pos:
                pos[id(fn)] = len(fns)
                queue.append(len(fns))
                fns.append(fn)
        lq: list[int] = []
        lnr: list[int] = []
        lp: list[int] = []
        pos_get, push, pop, keep = pos.get, queue.append, queue.popleft, fns.append
        while queue:
            if len(fns) >= limit:
                self.truncated = True
                break
            p = pop()
            try:
                nexts = fns[p].next_functions
            except Exception:
                continue
            for g, nr in nexts:
                if g is None:
                    continue
                q = pos_get(id(g))
                if q is None:
                    q = pos[id(g)] = len(fns)
                    keep(g)
                    push(q)
                lq.append(q)
                lnr.append(nr)
                lp.append(p)
        self._skeleton(lq, lnr, lp)

    def _skeleton(self, lq: list[int], lnr: list[int], lp: list[int]) -> None:
        node_for: list[int] = []                  # fn index -> its op node (or leaf node)
        label, fn_of, key, copy = self.label, self.fn, self.key, self.copy
        for q, fn in enumerate(self.fns):
            name = _NAMES.get(type(fn)) or fn_name(fn)
            if name == LEAF:
                try:
                    node_for.append(self.tensor(fn.variable))
                    continue
                except Exception:
                    name = "?"
            node_for.append(len(label))
            label.append(name)
            fn_of.append(q)
            key.append(-1)
            copy.append(0)
        named_out: dict[int, dict[int, int]] = {}  # fn index -> {output_nr: tensor node}
        for fid, outs in self.outputs.items():
            q = self.pos.get(fid)
            if q is None or self.label[node_for[q]] == "":
                continue
            for nr, key in outs:
                node = self.tensor(self.tensors[key])
                if nr not in named_out.setdefault(q, {}):
                    named_out[q][nr] = node
                    self.edge(node_for[q], node)
        src, dst, ekind = self.src, self.dst, self.ekind
        for q, nr, p in zip(lq, lnr, lp):
            s = node_for[q]
            if q in named_out:
                s = named_out[q].get(nr, s)
            src.append(s)
            dst.append(node_for[p])
            ekind.append(DATA)

    # ---- fragments captured at backward() calls ---------------------------------
    def absorb(self, frag, live: dict[int, torch.Tensor] | None = None,
               gone_names: dict[int, str] | None = None) -> None:
        """Merge ``frag`` (``fragment.Fragment``): a tensor still alive (or ``live[i]``,
        a living tensor standing in for a gone one) joins its live node, an op joins the
        live op with the same identity; the rest are drawn as read at the call (a gone
        tensor named ``gone_names[i]`` when given)."""
        from .fragment import op_key

        if self._op_keys is None:
            self._op_keys = {}
            for node, q in enumerate(self.fn):
                if q >= 0:
                    key = op_key(self.fns[q], self.label[node])
                    if key is not None:
                        self._op_keys.setdefault(key, node)
        live = live or {}
        index: list[int] = []
        for i, model in enumerate(frag.node):
            if frag.is_op[i]:
                node = self._op_keys.get(frag.key[i]) if frag.key[i] is not None else None
                if node is None:   # an op gone by now: a placeholder keeps fn[] >= 0 for ops
                    self.fns.append(None)
                    node = self._node(model.name, len(self.fns) - 1, -1)
                    self.preset[node] = model
                    if frag.key[i] is not None:
                        self._op_keys[frag.key[i]] = node
                index.append(node)
                continue
            t = live.get(i)
            if t is None and frag.ref[i] is not None:
                t = frag.ref[i]()
            if t is not None:
                node = self.tensor(t)
                key = id(t)
            elif i > 0 and frag.ids[i] in self._gone:   # met in another fragment already
                node = self._gone[frag.ids[i]]
                key = self.key[node]
            else:
                key = GHOST + len(self.preset)
                node = self._node("", -1, key)
                self.tensors[key] = Gone(model.leaf, model.requires_grad)
                self.preset[node] = model
                if i > 0:
                    self._gone[frag.ids[i]] = node
            if model.names and i == 0:
                self.root_keys.setdefault(key, model.names[0])
            title = [gone_names[i]] if t is None and gone_names and i in gone_names else model.names
            if title and (t is None or i == 0):
                for name in title:
                    if name not in self.names.setdefault(key, []):
                        self.names[key].append(name)
            index.append(node)
        have = set(zip(self.src, self.dst))
        for s, d in zip(frag.src, frag.dst):
            edge = (index[s], index[d])
            if edge not in have:
                have.add(edge)
                self.edge(*edge)
        if frag.truncated:
            self.truncated = True

    # ---- after the walk ---------------------------------------------------------
    def detached(self, candidates: Iterable[torch.Tensor]) -> None:
        """Mark tensors (drawn ones and ``candidates``) that share data with a drawn tensor
        that requires grad but have no grad_fn themselves: ``detach()``, ``.data``, no_grad views."""
        by_storage: dict[int, list[torch.Tensor]] = {}
        for key in list(self.node_of):
            t = self.tensors[key]
            if t.requires_grad:
                k = storage_key(t)
                if k is not None:
                    by_storage.setdefault(k, []).append(t)
        if not by_storage:
            return
        pool = [self.tensors[k] for k in list(self.node_of)] + list(candidates)
        seen: set[int] = set()
        for t in pool:
            if id(t) in seen or t.grad_fn is not None:
                continue
            seen.add(id(t))
            k = storage_key(t)
            # a view of t (x[0] of a leaf x) shares its data but is not cut off from it
            sources = [s for s in by_storage.get(k, ())
                       if s is not t and getattr(s, "_base", None) is not t] if k is not None else []
            if not sources:
                continue
            src = min(sources, key=lambda s: (data_ptr(s) != data_ptr(t), s.shape != t.shape,
                                              s.is_leaf))
            node = self.tensor(t)
            if node not in self.detached_from:
                self.detached_from[node] = self.node_of[id(src)]
                self.edge(self.node_of[id(src)], node, DETACH)

    def release(self) -> None:
        """Drop every tensor and grad_fn reference."""
        self.fns.clear()
        self.pos.clear()
        self.tensors.clear()
        self.outputs.clear()
        self._hold.clear()
