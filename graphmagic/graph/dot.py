"""The graph model as Graphviz DOT text.

One escaping rule for every label (``escape``): all labels are HTML-like labels, and every
piece of text from the user's program is written character by character as entities
(``& < > " ' [ ] { }``) with each backslash doubled, because Graphviz 2.43 still expands
``\\N``, ``\\G``, ``\\E``... inside HTML-like labels after decoding entities, and a bare
``]`` breaks its parser. Markup in a label is only ever the constant tags written here.
Node ids are generated (``t3``, ``o12``, ``g0``, ``f0``), never user text.

The picture carries no legend or notes: the report shows them as HTML text beside it
(``legend_items``, ``notes``), readable at any zoom and where images are stripped. Many
identical input branches of one node (30 parallel ``sin(x * i)``...) are drawn twice and
folded into one box "N more branches like these" (``fold_branches``); the report's data
keeps every node.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..messages import t
from ..tensors.info import dims_text, human_bytes
from .model import Graph, GroupNode, OpNode, TensorNode

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")

FONT = "Helvetica,Arial,sans-serif"
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>\"'[]{}"}
_ENTITIES["\\"] = "&#92;&#92;"

COLORS = {
    "leaf": ("#d4f4dd", "#2e7d32"),
    "nonleaf": ("#dbe8ff", "#1f5fbf"),
    "plain": ("#eeeeee", "#777777"),
    "op": ("#f4f4f4", "#9e9e9e"),
    "group": ("#fff3c4", "#b08800"),
}
SMALL = 9
NAMES_SHOWN = 3
OPS_SHOWN = 4
FOLD_MIN = 5          # identical input branches of one node from which the rest fold
FOLD_KEEP = 2         # branches still drawn in full
SPINE_WEIGHT = 4      # dot's edge weight between ops (and non-leaf tensors); leaves: 1


def escape(text: str) -> str:
    """The one rule: any text -> literal content of an HTML-like label."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif code < 32 or code == 127:
            out.append(escape(repr(ch)[1:-1]))
        else:
            out.append(ch)
    return "".join(out)


def _line(text: str, size: int | None = SMALL, color: str | None = None, bold=False) -> str:
    body = escape(text)
    if bold:
        body = f"<B>{body}</B>"
    attrs = (f' POINT-SIZE="{size}"' if size else "") + (f' COLOR="{color}"' if color else "")
    line = f"<FONT{attrs}>{body}</FONT>" if attrs else body
    if _CJK.search(text):  # CJK glyphs stand taller than dot's Latin line height: more room
        line += f'<FONT POINT-SIZE="{(size or 11) + 4}"> </FONT>'
    return line


def _label(lines: list[str]) -> str:
    return "<" + "<BR/>".join(lines) + ">"


def number(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def values(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(values(x) for x in v) + "]"
    return number(v)


def shape(dims: list[int] | None) -> str:
    return dims_text(dims)


def grad_text(node: TensorNode, after_backward: bool) -> str | None:
    g = node.grad
    if g is not None:
        if g.values is not None:
            return t("graph.grad_values", values=values(g.values))
        if g.mean is not None:
            return t("graph.grad_stats", shape=shape(g.shape), mean=number(g.mean),
                     min=number(g.min), max=number(g.max))
        return t("graph.grad_shape", shape=shape(g.shape), dtype=g.dtype)
    if node.grad_dropped:
        return t("graph.grad_dropped")
    if after_backward and node.requires_grad and (node.leaf or node.retains_grad):
        return t("graph.grad_none")
    return None


def names_text(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" +{len(names) - NAMES_SHOWN}" if len(names) > NAMES_SHOWN else "")


def flags(node: TensorNode) -> str:
    parts = [t("graph.leaf") if node.leaf else t("graph.nonleaf")]
    parts.append("requires_grad" if node.requires_grad else "requires_grad=False")
    if node.retains_grad:
        parts.append("retain_grad()")
    if node.root:
        parts.append(t("graph.root"))
    return " · ".join(parts)


def tensor_label(node: TensorNode, graph: Graph) -> str:
    title = names_text(node.names) if node.names else t("graph.unnamed")
    lines = [_line(title, size=None, bold=bool(node.names), color=None if node.names else "#555555"),
             _line(f"{shape(node.shape)} {node.dtype} · {node.device}"),
             _line(flags(node))]
    grad = grad_text(node, graph.after_backward)
    if grad:
        lines.append(_line(grad, color="#8a1c1c" if node.grad_dropped else "#1b5e20"))
    if node.detached_from:
        src = graph.nodes.get(node.detached_from)
        src_name = names_text(src.names) if isinstance(src, TensorNode) and src.names else "?"
        lines.append(_line(t("graph.detached_from", name=src_name), color="#555555"))
    if node.copies > 1:
        lines.append(_line(t("graph.copy", copy=node.copy, copies=node.copies), color="#555555"))
    return _label(lines)


def tensor_style(node: TensorNode) -> dict[str, str]:
    cut = node.detached_from and not node.requires_grad  # requires_grad_() made it a new leaf
    if cut or not node.requires_grad:
        fill, line = COLORS["plain"]
    else:
        fill, line = COLORS["leaf" if node.leaf else "nonleaf"]
    style = "rounded,filled" + (",dashed" if cut else "")
    return {"shape": "box", "style": style, "fillcolor": fill, "color": line,
            "penwidth": "3" if node.root else "1"}


def op_label(node: OpNode) -> str:
    lines = [_line(node.op, size=None, bold=True), _line(node.name, color="#555555")]
    if node.outputs:
        lines.append(_line("→ " + ", ".join(shape(s) for s in node.outputs), color="#555555"))
    if node.saved_bytes:
        lines.append(_line(t("graph.saved_bytes", size=human_bytes(node.saved_bytes)), color="#7a4b00"))
    for s in node.saved:
        text = t("graph.saved_freed", name=s.name) if s.freed else t("graph.saved", name=s.name, value=s.text)
        lines.append(_line(text, color="#8a1c1c" if s.freed else "#7a4b00"))
    for a in node.attrs:
        lines.append(_line(f"{a.name} = {a.text}", color="#333333"))
    return _label(lines)


def op_style(node: OpNode) -> dict[str, str]:
    fill, line = COLORS["op"]
    return {"shape": "box" if (node.saved or node.attrs) else "ellipse",
            "style": "filled" + (",dashed" if node.freed else "") + (
                ",rounded" if (node.saved or node.attrs) else ""),
            "fillcolor": fill, "color": line}


def group_title(node: GroupNode) -> str:
    if node.tensors:
        return t("graph.group_title", ops=f"{node.ops:,}", tensors=f"{node.tensors:,}")
    return t("graph.group_ops", ops=f"{node.ops:,}")


def group_label(node: GroupNode) -> str:
    lines = [_line(group_title(node), size=None, bold=True)]
    if node.repeat:
        lines.append(_line(t("graph.group_repeat", repeat=f"{node.repeat:,}", ops=node.block_ops)))
    counts = " · ".join(f"{op} ×{n:,}" for op, n in node.op_counts[:OPS_SHOWN])
    if len(node.op_counts) > OPS_SHOWN:
        counts += " · …"
    if counts:
        lines.append(_line(counts, color="#555555"))
    if node.named_count:
        more = node.named_count - len(node.named)
        lines.append(_line(t("graph.group_named", names=", ".join(node.named)) +
                           (f" +{more:,}" if more > 0 else ""), color="#555555"))
    return _label(lines)


def group_style(node: GroupNode | None) -> dict[str, str]:
    fill, line = COLORS["group"]
    return {"shape": "box", "style": "rounded,filled,bold", "fillcolor": fill, "color": line}


def legend_items(graph: Graph) -> list[tuple[str, str, str, str]]:
    """``(text, fill, border colour, border style)`` of each kind of box in the picture."""
    items = [(t("graph.legend_leaf"), *COLORS["leaf"], "1px solid"),
             (t("graph.legend_nonleaf"), *COLORS["nonleaf"], "1px solid"),
             (t("graph.legend_root"), *COLORS["nonleaf"], "3px solid"),
             (t("graph.legend_op"), *COLORS["op"], "1px solid"),
             (t("graph.legend_detached"), *COLORS["plain"], "1px dashed")]
    if graph.collapsed or any(isinstance(n, GroupNode) for n in graph.nodes.values()):
        items.append((t("graph.legend_group"), *COLORS["group"], "1px solid"))
    return items


def notes(graph: Graph) -> list[tuple[str, str]]:
    """The texts shown above the picture: what was collapsed, what backward() freed."""
    out = [(n, "#8a1c1c") for n in graph.notes]
    if graph.walk_limit:
        out.append((t("graph.truncated", count=f"{graph.walk_limit:,}"), "#8a1c1c"))
    c = graph.collapsed
    if c:
        out.append((t("graph.collapsed", hidden=f"{c.hidden_nodes:,}", total=f"{c.total_nodes:,}",
                      groups=c.groups, max_nodes=c.max_nodes), "#7a4b00"))
    if graph.freed:
        out.append((t("graph.freed"), "#555555"))
    return out


def _attrs(attrs: dict[str, str]) -> str:
    return " ".join(f'{k}="{v}"' for k, v in attrs.items())


def to_dot(graph: Graph) -> str:
    out = ["digraph autograd {",
           f'  graph [rankdir=TB nodesep=0.25 ranksep=0.3 fontname="{FONT}" bgcolor="white"]',
           f'  node [fontname="{FONT}" fontsize=11 margin="0.08,0.03" height=0.3]',
           '  edge [arrowsize=0.6 color="#555555"]']
    folds, hidden = fold_branches(graph)
    for node in graph.nodes.values():
        if node.id in hidden:
            continue
        if isinstance(node, TensorNode):
            label, style = tensor_label(node, graph), tensor_style(node)
            if node.root:
                style["class"] = "root"
        elif isinstance(node, OpNode):
            label, style = op_label(node), op_style(node)
        else:
            label, style = group_label(node), group_style(node)
        out.append(f'  "{node.id}" [{_attrs(style)} label={label}]')
    for fold in folds:
        style = {**group_style(None), "style": "rounded,filled,dashed"}
        out.append(f'  "{fold.id}" [{_attrs(style)} label={fold_label(fold)}]')
        out.append(f'  "{fold.id}" -> "{fold.consumer}"')
        out += [f'  "{src}" -> "{fold.id}"' for src in fold.inputs]
    for e in graph.edges:
        if e.src in hidden or e.dst in hidden:
            continue
        attrs = {}
        if e.kind == "detach":
            attrs = {"style": "dashed", "color": "#888888", "arrowhead": "onormal"}
        elif not getattr(graph.nodes.get(e.src), "leaf", False):
            attrs = {"weight": str(SPINE_WEIGHT)}  # keeps long chains straight beside their leaves
        parts = [_attrs(attrs)] if attrs else []
        if e.count > 1:
            parts.append(f"fontsize=9 label={_label([escape(f'×{e.count:,}')])}")
        extra = f" [{' '.join(parts)}]" if parts else ""
        out.append(f'  "{e.src}" -> "{e.dst}"{extra}')
    out.append("}")
    return "\n".join(out) + "\n"


@dataclass
class Fold:
    """Identical input branches of ``consumer`` drawn as one box."""
    id: str
    consumer: str
    count: int                    # branches folded
    ops: int                      # ops in one branch
    named: list[str]              # names of the tensors inside
    inputs: list[str]             # drawn nodes the folded branches read (a shared leaf...)


def fold_branches(graph: Graph) -> tuple[list[Fold], set[str]]:
    """Folds for nodes with ``FOLD_MIN`` or more identical input branches, and the ids of
    the nodes they hide. A branch is an input and what is upstream of it through nodes
    that feed nothing else; nodes used more widely (a shared leaf) stay drawn and feed
    the fold. Identical: the same ops, shapes, dtypes and flags, whatever the names."""
    inputs: dict[str, list[str]] = {n: [] for n in graph.nodes}
    uses: dict[str, int] = {n: 0 for n in graph.nodes}
    odd: set[str] = set()          # ends of detach edges: never folded
    for e in graph.edges:
        if e.kind != "data":
            odd.update((e.src, e.dst))
            continue
        inputs[e.dst].append(e.src)
        uses[e.src] += e.count
    private = {n: uses[n] == 1 and n not in odd and not getattr(node, "root", False)
               for n, node in graph.nodes.items()}
    order = _upstream_first(graph, inputs)
    sig: dict[str, int] = {}
    for n in order:
        if private[n]:
            sig[n] = hash((_node_key(graph.nodes[n]), tuple(sorted(sig[i] for i in inputs[n]))))
        else:
            sig[n] = hash(("drawn", n))
    folds, hidden = [], set()
    for consumer in order:
        same: dict[int, list[str]] = {}
        for i in dict.fromkeys(inputs[consumer]):
            if private[i]:
                same.setdefault(sig[i], []).append(i)
        for branches in same.values():
            if len(branches) < FOLD_MIN:
                continue
            members = [m for b in branches[FOLD_KEEP:] for m in _branch(b, inputs, private)]
            hidden.update(members)
            named = [graph.nodes[m].names[0] for m in members
                     if isinstance(graph.nodes[m], TensorNode) and graph.nodes[m].names]
            shared = [i for m in members for i in inputs[m] if not private[i]]
            ops = sum(1 for m in _branch(branches[0], inputs, private)
                      if isinstance(graph.nodes[m], OpNode))
            folds.append(Fold(f"f{len(folds)}", consumer, len(branches) - FOLD_KEEP, ops,
                              list(dict.fromkeys(named)), list(dict.fromkeys(shared))))
    return folds, hidden


def _node_key(node) -> tuple:
    if isinstance(node, TensorNode):
        return ("t", tuple(node.shape or ()), node.dtype, node.leaf, node.requires_grad,
                node.retains_grad, node.grad is not None, bool(node.detached_from))
    if isinstance(node, OpNode):
        return ("o", node.name, tuple(map(tuple, node.outputs)), bool(node.freed))
    return ("g", node.id)


def _upstream_first(graph: Graph, inputs: dict[str, list[str]]) -> list[str]:
    """Node ids with every node after its inputs (iterative; the model is acyclic)."""
    waiting = {n: len(set(ins)) for n, ins in inputs.items()}
    consumers: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for n, ins in inputs.items():
        for i in set(ins):
            consumers[i].append(n)
    ready = [n for n, k in waiting.items() if k == 0]
    order = []
    while ready:
        n = ready.pop()
        order.append(n)
        for c in consumers[n]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return order


def _branch(top: str, inputs: dict[str, list[str]], private: dict[str, bool]) -> list[str]:
    """``top`` and what is upstream of it through private nodes."""
    out, stack = [], [top]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(i for i in inputs[n] if private[i])
    return out


def fold_label(fold: Fold) -> str:
    lines = [_line(t("graph.fold_title", count=f"{fold.count:,}"), size=None, bold=True),
             _line(t("graph.fold_ops", ops=fold.ops))]
    if fold.named:
        more = len(fold.named) - NAMES_SHOWN
        lines.append(_line(t("graph.group_named", names=", ".join(fold.named[:NAMES_SHOWN]))
                           + (f" +{more:,}" if more > 0 else ""), color="#555555"))
    return _label(lines)
