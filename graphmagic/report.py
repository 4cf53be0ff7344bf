"""The report one ``%%autograd`` cell produces, and how it displays.

Fields (stable; tracking, graph and pitfalls fill them in):

- ``cell``: ``In[n]`` of the cell.
- ``device``: the ``torch.device`` the cell ran with, or ``None`` when it ran as written;
  ``requested_device`` is what ``--device`` asked for and ``device_note`` says why they
  differ (``GRAPHMAGIC_DEVICE_FALLBACK``).
- ``wall_time``: seconds the cell took, like ``%%time``'s wall time.
- ``variables``: the tracking section (which tensors are new, rebound, changed in place
  or deleted), or ``None`` before it is filled.
- ``memory``: the memory section (bytes held before/after per device, the cell's peak).
- ``graph``: the autograd graph section (captured as plain data; SVG rendered lazily).
- ``gradflow``: after a cell that ran backward, the parameters that got gradients, with
  their norms (``gradflow/view.py``).
- ``findings``: list of ``Finding`` (see ``graphmagic.findings``); ``warnings`` is an alias.
- ``exception``: ``"Type: message"`` of the cell's own exception, if it raised.
- ``errors``: graphmagic's own problems while reporting (never raised into the cell).

A section is any object with ``to_json()``, ``to_text()`` and ``to_html()``; a falsy
section is not shown, and one that raises while rendering shows one internal-error line
(its JSON is ``None`` and the error is listed in the JSON's ``errors``).
``_repr_mimebundle_`` returns ``text/plain``, ``text/html`` and
``application/vnd.graphmagic.report+json``.

The HTML uses inline ``style`` attributes only (no ``<style>``, no script) and embeds the
graph as an ``<img>`` with a ``data:`` URI: that is what JupyterLab's sanitizer keeps in
a notebook it did not run itself (it drops inline ``<svg>``, and ``var()`` colours). So
text colours are inherited from the frontend's theme (dimmed with ``opacity``), borders
and tints are translucent, and theme variables (``--jp-*``, ``--vscode-*``) come second,
after a fallback that reads in light and dark themes alike.
"""
from __future__ import annotations

import functools
import html
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import messages
from .display import (ERROR_STYLE, FINDING_STYLE, HEADER_STYLE, STYLE, Section, block,
                      code, html_text, mimebundle)
from .findings import Finding
from .messages import t

if TYPE_CHECKING:  # the command line reads reports without importing torch
    import torch

JSON_MIME = "application/vnd.graphmagic.report+json"
REPORT_VERSION = 1

def finding_html(f: Finding) -> str:
    """A finding as three blocks: where (with the line's code), what happened, the fix."""
    where = t("finding.where", cell=f.cell, line=f.line) if f.line else f.cell
    head = f"<b>[{html.escape(f.kind)}]</b> {html.escape(where)}"
    if f.code:
        head += ": " + code(f.code.strip())
    if f.count > 1:
        head += html.escape(t("finding.times", count=f.count))
    return (f'<div class="graphmagic-finding" style="{FINDING_STYLE}"><div>{head}</div>'
            f'{block(f.message)}<div><b>{html.escape(t("finding.fix"))}:</b> {html_text(f.fix)}</div></div>')


def _in_own_language(method):
    """Render in the language the report was made in (``Report.lang``)."""
    @functools.wraps(method)
    def rendered(self, *args, **kwargs):
        with messages.language(self.lang):
            return method(self, *args, **kwargs)
    return rendered


@dataclass
class Report:
    cell: str = ""
    device: torch.device | None = None
    requested_device: str | None = None
    device_note: str | None = None
    wall_time: float = 0.0
    variables: Section | None = None
    memory: Section | None = None
    graph: Section | None = None
    gradflow: Section | None = None
    findings: list[Finding] = field(default_factory=list)
    exception: str | None = None
    errors: list[str] = field(default_factory=list)
    quiet: bool = False
    lang: str | None = None   # the language it was made in, and renders in
    interrupted: bool = False  # a Ctrl-C cut graphmagic's own work: the report is partial

    @property
    def warnings(self) -> list[Finding]:
        return self.findings

    def sections(self) -> list[tuple[str, Section]]:
        """The filled sections in display order."""
        return [(name, s) for name, s in (("graph", self.graph), ("variables", self.variables),
                                           ("memory", self.memory), ("gradflow", self.gradflow))
                if _filled(s)]

    # ---- data ---------------------------------------------------------------------
    @_in_own_language
    def to_json(self) -> dict:
        errors = list(self.errors)  # plus any section that fails to give its data

        def section(s: Any) -> Any:
            if s is None:
                return None
            data, error = _render(s, "to_json")
            if error:
                errors.append(error)
            return data

        return {
            "version": REPORT_VERSION,
            "cell": self.cell,
            "device": str(self.device) if self.device is not None else None,
            "requested_device": self.requested_device,
            "device_note": self.device_note,
            "wall_time": self.wall_time,
            "variables": section(self.variables),
            "memory": section(self.memory),
            "graph": section(self.graph),
            "gradflow": section(self.gradflow),
            "findings": [f.to_json() for f in self.findings],
            "exception": self.exception,
            "errors": errors,
            "interrupted": self.interrupted,
        }

    def is_empty(self) -> bool:
        """True when a quiet report would show nothing."""
        return not (self.findings or self.errors or self.device_note or self.interrupted)

    # ---- display ------------------------------------------------------------------
    def header(self) -> str:
        device = str(self.device) if self.device is not None else t("report.as_written")
        return t("report.header", cell=self.cell, device=device, time=_seconds(self.wall_time))

    @_in_own_language
    def to_text(self) -> str:
        parts = [self.header()]
        if self.device_note:
            parts.append("! " + self.device_note)
        if self.interrupted:
            parts.append("! " + t("report.interrupted"))
        parts += [f.to_text() for f in self.findings]
        if not self.quiet:
            for _, s in self.sections():
                text, error = _render(s, "to_text")
                parts.append(t("report.internal_error", error=error) if error else text)
        parts += [t("report.internal_error", error=e) for e in self.errors]
        return "\n".join(p for p in parts if p)

    @_in_own_language
    def to_html(self) -> str:
        esc = html.escape
        parts = [f'<div class="graphmagic-report" style="{STYLE}">',
                 f'<div style="{HEADER_STYLE}"><b>graphmagic</b> · {esc(self.header())}</div>']
        for note in [self.device_note] + ([t("report.interrupted")] if self.interrupted else []):
            if note:
                parts.append(block(note, FINDING_STYLE))
        parts += [finding_html(f) for f in self.findings]
        if not self.quiet:
            for name, s in self.sections():
                body, error = _render(s, "to_html")
                if error:
                    body = block(t("report.internal_error", error=error), ERROR_STYLE)
                parts.append(f'<div class="graphmagic-{name}">{body}</div>')
        parts += [block(t("report.internal_error", error=e), ERROR_STYLE) for e in self.errors]
        parts.append("</div>")
        return "\n".join(parts)

    @_in_own_language
    def _repr_mimebundle_(self, include=None, exclude=None):
        makers = {"text/plain": self.to_text, "text/html": self.to_html,
                  JSON_MIME: lambda: json.loads(json.dumps(self.to_json(), default=str))}

        def fallback(mime, err):  # never a traceback from the report itself
            problem = t("report.internal_error", error=repr(err))
            return {"text/plain": problem, "text/html": html.escape(problem),
                    JSON_MIME: {"version": REPORT_VERSION, "cell": self.cell, "errors": [problem]}}[mime]

        return mimebundle(makers, include, exclude, fallback=fallback)

    def __repr__(self) -> str:
        return self.to_text()


def _filled(section: Any) -> bool:
    try:
        return bool(section)
    except Exception:  # shown, so that rendering it reports the problem
        return True


def _render(section: Any, how: str) -> tuple[Any, str | None]:
    """``(output, None)``, or ``(None, error)`` when the section fails: one faulty section
    never takes the report (or the user's cell output) down with it."""
    try:
        return getattr(section, how)(), None
    except Exception as err:
        return None, f"{type(section).__name__}.{how}: {err!r}"


def _seconds(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"
