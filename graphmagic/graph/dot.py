"""The graph model as Graphviz DOT text.

One escaping rule for every label (``escape``): all labels are HTML-like labels, and every
piece of text from the user's program is written character by character as entities
(``& < > " ' [ ] { }``) with each backslash doubled, because Graphviz 2.43 still expands
``\\N``, ``\\G``, ``\\E``... inside HTML-like labels after decoding entities, and a bare
``]`` breaks its parser. Markup in a label is only ever the constant tags written here.
Node ids are generated (``t3``, ``o12``, ``g0``), never user text.
"""
from __future__ import annotations

import re

from ..messages import t
from .model import Graph, GroupNode, OpNode, TensorNode

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
    return f"<FONT{attrs}>{body}</FONT>" if attrs else body


def _wrapped(text: str, width: int = 72, **style) -> str:
    """``text`` as left-aligned lines of about ``width`` columns (CJK characters count 2)."""
    lines, current, used = [], [], 0
    for word in re.findall(r"[\u2e80-\u9fff\uff00-\uffef]\s*|[^\s\u2e80-\u9fff\uff00-\uffef]+\s*", text):
        cost = len(word) * (2 if "\u2e80" <= word[0] <= "\uffef" else 1)
        if current and used + cost > width:
            lines.append("".join(current).rstrip())
            current, used = [], 0
        current.append(word)
        used += cost
    if current:
        lines.append("".join(current).rstrip())
    return '<BR ALIGN="LEFT"/>'.join(_line(line, **style) for line in lines) + '<BR ALIGN="LEFT"/>'


def _label(lines: list[str]) -> str:
    return "<" + "<BR/>".join(lines) + ">"


def number(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def values(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(values(x) for x in v) + "]"
    return number(v)


def shape(dims: list[int] | None) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")" if dims is not None else "(?)"


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


def group_style(node: GroupNode) -> dict[str, str]:
    fill, line = COLORS["group"]
    return {"shape": "box", "style": "rounded,filled,bold", "fillcolor": fill, "color": line}


def legend(graph: Graph) -> str:
    cells = []
    for key, kind, extra in (("graph.legend_leaf", "leaf", ""), ("graph.legend_nonleaf", "nonleaf", ""),
                             ("graph.legend_root", "nonleaf", ""), ("graph.legend_op", "op", ""),
                             ("graph.legend_detached", "plain", ' STYLE="dashed"')):
        fill, line = COLORS[kind]
        border = "3" if key == "graph.legend_root" else "1"
        cells.append(f'<TD BGCOLOR="{fill}" COLOR="{line}" BORDER="{border}"{extra}>'
                     f'{_line(t(key))}</TD>')
    if graph.collapsed:
        fill, line = COLORS["group"]
        cells.append(f'<TD BGCOLOR="{fill}" COLOR="{line}" BORDER="1">{_line(t("graph.legend_group"))}</TD>')
    rows = []
    width = len(cells)
    for text, color in notes(graph):
        rows.append(f'<TR><TD COLSPAN="{width}" ALIGN="LEFT">{_wrapped(text, size=10, color=color)}</TD></TR>')
    rows.append("<TR>" + "".join(cells) + "</TR>")
    rows.append(f'<TR><TD COLSPAN="{width}" ALIGN="LEFT">{_wrapped(t("graph.legend_arrows"))}</TD></TR>')
    return '<<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="2">' + "".join(rows) + "</TABLE>>"


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
           f'  graph [rankdir=TB nodesep=0.25 ranksep=0.3 fontname="{FONT}" labelloc=t labeljust=l '
           f'label={legend(graph)}]',
           f'  node [fontname="{FONT}" fontsize=11 margin="0.08,0.03" height=0.3]',
           '  edge [arrowsize=0.6 color="#555555"]']
    for node in graph.nodes.values():
        if isinstance(node, TensorNode):
            label, style = tensor_label(node, graph), tensor_style(node)
        elif isinstance(node, OpNode):
            label, style = op_label(node), op_style(node)
        else:
            label, style = group_label(node), group_style(node)
        out.append(f'  "{node.id}" [{_attrs(style)} label={label}]')
    for e in graph.edges:
        attrs = {}
        if e.kind == "detach":
            attrs = {"style": "dashed", "color": "#888888", "arrowhead": "onormal"}
        parts = [_attrs(attrs)] if attrs else []
        if e.count > 1:
            parts.append(f"fontsize=9 label={_label([escape(f'×{e.count:,}')])}")
        extra = f" [{' '.join(parts)}]" if parts else ""
        out.append(f'  "{e.src}" -> "{e.dst}"{extra}')
    out.append("}")
    return "\n".join(out) + "\n"
