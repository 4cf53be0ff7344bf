"""The graph part of a report, and what ``graphmagic.graph()`` returns.

Holds the captured graph as plain data; DOT text and the picture are made on first use.
``to_html`` embeds the picture as an ``<img>`` with a ``data:`` URI (what sanitizers of
untrusted notebooks keep, see ``graphmagic.report``), sized to the page: scaled to fit
about ``FIT_WIDTH`` x ``BOX_HEIGHT`` pixels, never below ``MIN_SCALE``. A picture of up
to ``WHOLE_OPS`` ops is shown whole; a taller one scrolls inside a box of ``BOX_HEIGHT``
that opens at its bottom, where the roots are. The legend and notes
are HTML text above it. Without ``dot`` it shows how to install Graphviz and the DOT
source, never a traceback. ``GraphView`` also behaves like the graphviz objects users
know (``.source``, ``.pipe()``, ``.render()``, ``graphviz.set_jupyter_format``).
"""
from __future__ import annotations

import html
import os
from pathlib import Path

from .. import messages
from ..messages import t
from ..display import DIM_STYLE, ERROR_STYLE, block, mimebundle
from . import dot, render
from .model import Graph, GroupNode, OpNode, TensorNode

FIT_WIDTH = 860       # px: a notebook's output area in a 1024 px wide window
BOX_HEIGHT = 720      # px
MIN_SCALE = 0.75      # smaller than this, labels are hard to read: scroll instead
WHOLE_OPS = 30        # pictures of up to this many ops are shown whole, never in a scroll box
BOX_STYLE = ("display:flex;flex-direction:column-reverse;align-items:flex-start;overflow:auto;"
             "max-width:100%;margin:4px 0;")
PRE_STYLE = ("white-space:pre;overflow:auto;max-height:320px;font-size:11px;"
             "background:rgba(128,128,128,.12);padding:6px;border-radius:4px;")
SWATCH_STYLE = "display:inline-block;color:#1f2328;padding:0 5px;margin:1px 4px 1px 0;border-radius:3px;"
NOTE_MARK = {"#8a1c1c": "#d32f2f", "#7a4b00": "#d9822b"}
TEXT_ROWS = 40
SAVE_FORMATS = ("svg", "png", "pdf", "dot", "gv")
IMAGE_MIMES = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpeg"}


class GraphView:
    """An autograd graph captured as plain data: displays inline in Jupyter.

    ``.source`` is the DOT text, ``.svg()`` the picture, ``.save(path)`` writes
    svg/png/pdf/dot by the path's suffix, ``.to_json()`` gives the nodes and edges.
    Like a ``graphviz.Source``: ``.pipe(format=...)`` returns the picture's bytes,
    ``.render(filename, format=...)`` writes the DOT file and the picture beside it.
    """

    format = "svg"    # what pipe() and render() make when no format is given

    def __init__(self, graph: Graph | None = None, *, source: str | None = None,
                 engine: str = "graphmagic", roots: list[str] | None = None,
                 notes: list[str] | None = None):
        self.graph = graph
        self.engine = engine
        self.roots = list(roots if roots is not None else (graph.roots if graph else []))
        self.notes = list(notes or [])
        self._source = source
        self._svg: str | None = None
        self.lang = messages.current_language()  # its labels stay in the language it was made in

    def __bool__(self) -> bool:
        return bool(self.graph) or self._source is not None or bool(self.notes)

    # ---- output -----------------------------------------------------------------
    @property
    def source(self) -> str:
        """The DOT text of the picture."""
        if self._source is None:
            with messages.language(self.lang):
                self._source = dot.to_dot(self.graph if self.graph is not None else Graph())
        return self._source

    def svg(self) -> str:
        """The picture as SVG text (needs Graphviz's ``dot``)."""
        if self._svg is None:
            self._svg = render.render(self.source, "svg").decode("utf-8")
        return self._svg

    def pipe(self, format: str | None = None, encoding: str | None = None) -> bytes | str:
        """The picture in ``format`` (any Graphviz output format) as bytes, or as text
        decoded with ``encoding``."""
        fmt = (format or self.format).lower()
        data = self.svg().encode("utf-8") if fmt == "svg" else render.render(self.source, fmt)
        return data.decode(encoding) if encoding else data

    def render(self, filename: str | os.PathLike | None = None,
               directory: str | os.PathLike | None = None, view: bool = False,
               cleanup: bool = False, format: str | None = None, *,
               outfile: str | os.PathLike | None = None) -> str:
        """Save the DOT source to ``filename`` (default ``autograd.gv``) and the picture to
        ``filename.format``, or to ``outfile`` (its suffix picks the format), as
        ``graphviz.Source.render`` does; return the picture's path. ``cleanup`` removes the
        DOT file afterwards, ``view`` opens the picture with the system's viewer."""
        if outfile is not None:
            outfile = Path(directory or "", outfile)
            fmt = (format or outfile.suffix.lstrip(".") or self.format).lower()
            source = Path(directory or "", filename) if filename else outfile.with_suffix(".gv")
        else:
            fmt = (format or self.format).lower()
            source = Path(directory or "", filename or "autograd.gv")
            outfile = source.with_name(f"{source.name}.{fmt}")
        data = self.pipe(fmt)   # before writing anything: a missing dot leaves no files
        source.parent.mkdir(parents=True, exist_ok=True)
        outfile.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(self.source, encoding="utf-8")
        outfile.write_bytes(data)
        if cleanup:
            source.unlink()
        if view:
            import graphviz

            graphviz.view(outfile)
        return str(outfile)

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
        parts += [_note(n, "#d9822b") for n in self.notes]
        if not self.graph and self._source is None:   # only notes (e.g. --graph nosuch)
            return "\n".join(parts)
        fmt = render.jupyter_format()        # graphviz.set_jupyter_format("png") -> PNG
        if fmt not in ("png", "jpeg", "jpg"):
            fmt = "svg"
        try:
            data = self.pipe(fmt)
        except (render.GraphvizMissing, render.RenderError) as err:
            return "\n".join(parts + [self._fallback_html(str(err))])
        except Exception as err:  # an unexpected dot output must not end in a traceback
            return "\n".join(parts + [self._fallback_html(repr(err))])
        if fmt == "svg":
            data = render.compact_svg(data.decode("utf-8")).encode("utf-8")
        g = self.graph
        if g:
            parts += [_note(text, NOTE_MARK.get(color, "#888888")) for text, color in dot.notes(g)]
            parts.append(_legend(g))
        picture, height = _picture(data, fmt, t("graph.alt", roots=", ".join(self.roots) or "—"))
        box = BOX_STYLE
        drawn = sum(1 for n in g.nodes.values() if not isinstance(n, TensorNode)) if g else None
        if height > BOX_HEIGHT and (drawn is None or drawn > WHOLE_OPS):
            parts.append(block(t("graph.tall"), DIM_STYLE))
            box += f"max-height:{BOX_HEIGHT}px;"
        parts.append(f'<div class="graphmagic-graph-picture" style="{box}">{picture}</div>')
        return "\n".join(parts)

    def _fallback_html(self, message: str) -> str:
        esc = html.escape
        return (block(message, ERROR_STYLE) +
                f'<details><summary>{esc(t("graph.source_heading"))}</summary>'
                f'<pre style="{PRE_STYLE}">{esc(self.source)}</pre></details>')

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        """``text/plain`` and ``text/html`` (the picture inside, in the format
        ``graphviz.set_jupyter_format`` chose); image types when asked for by ``include``."""
        makers = {"text/plain": self.to_text, "text/html": self.to_html}
        makers.update({m: (lambda f=f: self.pipe(f, "utf-8" if f == "svg" else None))
                       for m, f in IMAGE_MIMES.items()})
        return mimebundle(makers, include, exclude, default={"text/plain", "text/html"})

    def __repr__(self) -> str:
        return self.to_text()


def _note(text: str, mark: str) -> str:
    return block(text, f"border-left:3px solid {mark};padding-left:6px;margin:2px 0;font-size:12px;")


def _legend(g: Graph) -> str:
    """The kinds of boxes on one line; the arrows' meaning folds away under it."""
    esc = html.escape
    swatches = "".join(f'<span style="{SWATCH_STYLE}background:{fill};border:{border} {line}">'
                       f'{esc(text)}</span>' for text, fill, line, border in dot.legend_items(g))
    return (f'<details style="font-size:11px;margin:2px 0"><summary style="cursor:pointer">'
            f'{swatches}<span style="opacity:.8">{esc(t("graph.legend_more"))}</span></summary>'
            f'{block(t("graph.legend_arrows"), "font-size:12px;margin:2px 0 4px 0")}</details>')


def _picture(data: bytes, fmt: str, alt: str) -> tuple[str, float]:
    """The ``<img>`` and its height in pixels. Scaled to fit ``FIT_WIDTH`` x ``BOX_HEIGHT``
    but not below ``MIN_SCALE``; ``max-width`` shrinks it further in a narrower output
    area, down to ``MIN_SCALE``, past which its box scrolls sideways."""
    style = "display:block;max-width:100%;height:auto;"
    height = 0.0
    natural = render.size(data, fmt)
    if natural:
        w, h = natural
        scale = max(MIN_SCALE, min(1.0, FIT_WIDTH / w, BOX_HEIGHT / h))
        height = h * scale
        style += f"width:{w * scale:.0f}px;min-width:{w * MIN_SCALE:.0f}px;"
    return (f'<img src="{render.data_uri(data, fmt)}" alt="{html.escape(alt)}" '
            f'style="{style}">', height)


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
