"""The display layer every section shares: HTML styles, message text to HTML, a Section.

Styles are inline ``style`` attributes (sanitizers keep them; ``<style>`` blocks they may
drop), colours inherited from the frontend's theme with translucent tints, and
``--jp-*``/``--vscode-*`` variables after a plain fallback. ``mimebundle`` is the one
``_repr_mimebundle_`` implementation: the report's and the graph's.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Protocol


class Section(Protocol):
    """A part of the report: its data, a terminal text, an HTML block."""

    def to_json(self) -> dict: ...

    def to_text(self) -> str: ...

    def to_html(self) -> str: ...


STYLE = ("font-size:13px;line-height:1.45;text-align:left;max-width:100%;box-sizing:border-box;"
         "overflow-wrap:break-word;border:1px solid rgba(128,128,128,.45);"
         "border-color:var(--jp-border-color1, var(--vscode-panel-border, rgba(128,128,128,.45)));"
         "border-radius:6px;padding:6px 10px;margin:4px 0;")
HEADER_STYLE = "opacity:.8;margin-bottom:4px;"
DIM_STYLE = "opacity:.8;font-size:11px;"
FINDING_STYLE = ("border-left:4px solid #d9822b;"
                 "border-left-color:var(--jp-warn-color1, var(--vscode-editorWarning-foreground, #d9822b));"
                 "background:rgba(217,130,43,.13);padding:4px 8px;margin:4px 0;border-radius:0 4px 4px 0;")
ERROR_STYLE = ("border-left:4px solid #d32f2f;"
               "border-left-color:var(--jp-error-color1, var(--vscode-editorError-foreground, #d32f2f));"
               "background:rgba(211,47,47,.12);padding:4px 8px;margin:4px 0;white-space:pre-wrap;")
CODE_STYLE = ("font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;font-size:92%;"
              "background:rgba(128,128,128,.16);padding:0 3px;border-radius:3px;")
_BACKTICKS = re.compile(r"`([^`\n]+)`")


def code(text: str) -> str:
    """``text`` as an inline code element (escaped)."""
    return f'<code style="{CODE_STYLE}">{html.escape(text)}</code>'


def html_text(text: str) -> str:
    """A message for HTML: escaped, with its `backticked` code as ``<code>``."""
    parts = _BACKTICKS.split(text)
    return "".join(code(p) if i % 2 else html.escape(p) for i, p in enumerate(parts))


def block(text: str, style: str = "") -> str:
    """One message as a block of its own (keeps the line break where styles are stripped)."""
    attr = f' style="{style}"' if style else ""
    return f"<div{attr}>{html_text(text)}</div>"




def mimebundle(makers: dict[str, Callable[[], object]], include=None, exclude=None, *,
               default: set[str] | None = None, fallback=None) -> dict:
    """Render only the MIME types asked for (``include``, else ``default``, else all),
    never those in ``exclude``; ``fallback(mime, err)`` stands in for one that fails."""
    wanted = [m for m in makers
              if (m in include if include is not None else (default is None or m in default))
              and not (exclude and m in exclude)]
    bundle = {}
    for mime in wanted:
        try:
            bundle[mime] = makers[mime]()
        except Exception as err:
            if fallback is None:
                raise
            bundle[mime] = fallback(mime, err)
    return bundle
