"""The graph part of a report, and what ``graphmagic.graph()`` returns.

Holds the captured graph as plain data; DOT text and the SVG are made on first use.
``to_html`` embeds the SVG at its natural size in a scrollable box; without ``dot`` it
shows how to install Graphviz and the DOT source, never a traceback.
"""
from __future__ import annotations

import html
from pathlib import Path

from ..messages import t
from . import dot, render
from .model import Graph, GroupNode, OpNode, TensorNode

BOX_STYLE = ("overflow:auto; max-width:100%; max-height:720px; border:1px solid #e1e4e8; "
             "border-radius:4px; background:#ffffff; margin:4px 0;")
NOTE_STYLE = "color:#7a4b00; margin:2px 0;"
PRE_STYLE = ("white-space:pre; overflow:auto; max-height:320px; font-size:11px; "
             "background:#f6f8fa; padding:6px; border-radius:4px;")
TEXT_ROWS = 40
SAVE_FORMATS = ("svg", "png", "pdf", "dot", "gv")


class GraphView:
    """An autograd graph captured as plain data: displays inline in Jupyter.

    ``.source`` is the DOT text, ``.svg()`` the picture, ``.save(path)`` writes
    svg/png/pdf/dot by the path's suffix, ``.to_json()`` gives the nodes and edges.
    """

    def __init__(self, graph: Graph | None = None, *, source: str | None = None,
                 engine: str = "graphmagic", roots: list[str] | None = None,
                 notes: list[str] | None = None):
        self.graph = graph
        self.engine = engine
        self.roots = list(roots if roots is not None else (graph.roots if graph else []))
        self.notes = list(notes or [])
        self._source = source
        self._svg: str | None = None

    def __bool__(self) -> bool:
        return bool(self.graph) or self._source is not None or bool(self.notes)

    # ---- output -----------------------------------------------------------------
    @property
    def source(self) -> str:
        """The DOT text of the picture."""
        if self._source is None:
            self._source = dot.to_dot(self.graph if self.graph is not None else Graph())
        return self._source

    def svg(self) -> str:
        """The picture as SVG text (needs Graphviz's ``dot``)."""
        if self._svg is None:
            self._svg = render.render(self.source, "svg").decode("utf-8")
        return self._svg

    def save(self, path) -> Path:
        """Write the picture; the suffix picks the format: .svg, .png, .pdf, .dot (.gv)."""
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in SAVE_FORMATS:
            raise ValueError(t("graph.save_format", path=str(path), formats=", ".join(SAVE_FORMATS)))
        if fmt in ("dot", "gv"):
            path.write_text(self.source, encoding="utf-8")
        elif fmt == "svg":
            path.write_text(self.svg(), encoding="utf-8")
        else:
            path.write_bytes(render.render(self.source, fmt))
        return path

    # ---- section protocol ---------------------------------------------------------
    def to_json(self) -> dict:
        if self.graph is not None:
            data = self.graph.to_json()
            data["notes"] = self.notes + data["notes"]
            return data
        return {"engine": self.engine, "roots": list(self.roots), "notes": list(self.notes),
                "nodes": None, "edges": None}

    def heading(self) -> str:
        roots = ", ".join(self.roots) if self.roots else "—"
        text = t("graph.heading", roots=roots)
        g = self.graph
        if g:
            text += " · " + t("graph.counts", ops=f"{g.ops:,}", tensors=f"{g.tensors:,}")
        if self.engine != "graphmagic":
            text += f" · {self.engine}"
        return text

    def to_text(self) -> str:
        lines = [self.heading()] + ["! " + n for n in self.notes]
        g = self.graph
        if g:
            lines += [f"  {text}" for text, _ in dot.notes(g)]
            lines += summary_lines(g)
            lines.append("  " + t("graph.legend_arrows"))
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        parts = [f'<div style="font-weight:600;margin:2px 0">{esc(self.heading())}</div>']
        parts += [f'<div style="{NOTE_STYLE}">{esc(n)}</div>' for n in self.notes]
        if not self.graph and self._source is None:   # only notes (e.g. --graph nosuch)
            return "\n".join(parts)
        try:
            picture = render.inline_svg(self.svg())
        except (render.GraphvizMissing, render.RenderError) as err:
            return "\n".join(parts + [self._fallback_html(str(err))])
        except Exception as err:  # an unexpected dot output must not end in a traceback
            return "\n".join(parts + [self._fallback_html(repr(err))])
        parts.append(f'<div class="graphmagic-graph-picture" style="{BOX_STYLE}">{picture}</div>')
        return "\n".join(parts)

    def _fallback_html(self, message: str) -> str:
        esc = html.escape
        return (f'<div style="white-space:pre-wrap;color:#8a1c1c;margin:4px 0">{esc(message)}</div>'
                f'<details><summary>{esc(t("graph.source_heading"))}</summary>'
                f'<pre style="{PRE_STYLE}">{esc(self.source)}</pre></details>')

    def _repr_mimebundle_(self, include=None, exclude=None):
        makers = {"text/plain": self.to_text, "text/html": self.to_html}
        return {m: f() for m, f in makers.items()
                if (not include or m in include) and not (exclude and m in exclude)}

    def __repr__(self) -> str:
        return self.to_text()


def _input_text(node) -> str:
    if isinstance(node, TensorNode):
        return node.names[0] if node.names else t("graph.unnamed")
    if isinstance(node, OpNode):
        return f"{node.op}(…)"
    if isinstance(node, GroupNode):
        return "⋯"
    return "?"


def summary_lines(g: Graph) -> list[str]:
    """One line per tensor node: names, shape, flags, grad, and the op that made it."""
    inputs: dict[str, list[str]] = {}
    made_by: dict[str, str] = {}
    for e in g.edges:
        if e.kind != "data":
            continue
        inputs.setdefault(e.dst, []).append(e.src)
        if isinstance(g.nodes.get(e.dst), TensorNode):
            made_by[e.dst] = e.src
    lines = []
    tensors = [n for n in g.nodes.values() if isinstance(n, TensorNode) and n.copy <= 1]
    for node in tensors[:TEXT_ROWS]:
        title = dot.names_text(node.names) if node.names else t("graph.unnamed")
        text = f"{title}: {dot.shape(node.shape)} {node.dtype} {node.device} · {dot.flags(node)}"
        op = g.nodes.get(made_by.get(node.id, ""))
        if isinstance(op, OpNode):
            args = ", ".join(_input_text(g.nodes[s]) for s in inputs.get(op.id, []))
            text += f" · = {op.op}({args})"
        grad = dot.grad_text(node, g.after_backward)
        if grad:
            text += f" · {grad}"
        if node.detached_from:
            src = g.nodes.get(node.detached_from)
            name = dot.names_text(src.names) if isinstance(src, TensorNode) and src.names else "?"
            text += " · " + t("graph.detached_from", name=name)
        lines.append("  " + text)
    if len(tensors) > TEXT_ROWS:
        lines.append("  " + t("graph.more_rows", count=len(tensors) - TEXT_ROWS))
    for node in g.nodes.values():
        if isinstance(node, GroupNode):
            counts = ", ".join(f"{op} ×{n:,}" for op, n in node.op_counts[:dot.OPS_SHOWN])
            lines.append(f"  {dot.group_title(node)}: {counts}")
    return lines
