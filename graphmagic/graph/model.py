"""The graph model: plain data only (strings, numbers, lists), no tensor or grad_fn.

Nodes are tensors (``TensorNode``), backward operations (``OpNode``) and, once a graph
is collapsed, summarised groups (``GroupNode``). Edges point the way data flows in the
forward pass: input tensor -> op -> output tensor; gradients flow against them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Grad:
    """A tensor's ``.grad`` at the end of the cell, summarised."""
    shape: list[int]
    dtype: str
    values: list | None = None      # nested values when small (up to SMALL_GRAD elements)
    mean: float | None = None
    min: float | None = None
    max: float | None = None


@dataclass
class TensorNode:
    id: str
    names: list[str]
    shape: list[int] | None
    dtype: str
    device: str
    leaf: bool
    requires_grad: bool
    retains_grad: bool = False
    root: bool = False
    grad: Grad | None = None
    grad_dropped: bool = False       # a non-leaf after backward(): its .grad is not kept
    detached_from: str | None = None  # node id of the tensor it was detached from
    copy: int = 0                    # 1-based index when a shared leaf is drawn once per use
    copies: int = 1                  # how many times this tensor is drawn
    kind: str = "tensor"


@dataclass
class Saved:
    """One saved value of a backward node (``grad_fn._saved_<name>``)."""
    name: str
    text: str
    freed: bool = False


@dataclass
class OpNode:
    id: str
    name: str                        # the backward node's class, e.g. MulBackward0
    op: str                          # the forward op it stands for, e.g. mul
    outputs: list[list[int]] = field(default_factory=list)  # shapes of its outputs
    saved: list[Saved] = field(default_factory=list)
    attrs: list[Saved] = field(default_factory=list)
    freed: bool | None = None        # its saved tensors were freed by backward()
    saved_bytes: int | None = None   # --saved: bytes of the distinct storages it still holds
    kind: str = "op"


@dataclass
class GroupNode:
    """Operations (and tensors) collapsed into one box."""
    id: str
    ops: int
    tensors: int
    op_counts: list[tuple[str, int]]     # most frequent first
    named: list[str]                     # names of named tensors inside (first few)
    named_count: int
    levels: tuple[int, int]              # distance from the roots, first and last
    repeat: int = 0                      # > 1: the same block repeated this many times
    block_ops: int = 0                   # ops in one repeated block
    kind: str = "group"


@dataclass
class Edge:
    src: str
    dst: str
    kind: str = "data"                   # data | detach
    count: int = 1                       # edges merged into this one by collapsing


@dataclass
class Collapsed:
    max_nodes: int
    total_nodes: int                     # nodes before collapsing
    hidden_nodes: int                    # nodes inside groups
    groups: int
    pulled: int                          # named tensors kept visible out of groups


@dataclass
class Graph:
    nodes: dict[str, TensorNode | OpNode | GroupNode] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)   # names of the roots
    ops: int = 0                                     # backward nodes in the whole graph
    tensors: int = 0                                 # tensor nodes before copies/collapse
    after_backward: bool = False                     # backward() ran through it
    freed: bool = False                              # some saved tensor was freed
    collapsed: Collapsed | None = None
    walk_limit: int | None = None                    # set when the walk stopped there
    notes: list[str] = field(default_factory=list)   # texts shown with the picture

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def to_json(self) -> dict:
        return {
            "engine": "graphmagic",
            "roots": list(self.roots),
            "ops": self.ops,
            "tensors": self.tensors,
            "after_backward": self.after_backward,
            "freed": self.freed,
            "collapsed": asdict(self.collapsed) if self.collapsed else None,
            "walk_limit": self.walk_limit,
            "notes": list(self.notes),
            "nodes": [asdict(n) for n in self.nodes.values()],
            "edges": [asdict(e) for e in self.edges],
        }
