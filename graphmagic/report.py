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
``_repr_mimebundle_`` returns ``text/plain``, ``text/html`` (any picture inline as SVG)
and ``application/vnd.graphmagic.report+json``.
"""
from __future__ import annotations

import functools
import html
import json
from dataclasses import dataclass, field
from typing import Any

import torch

from .findings import Finding
from . import messages
from .messages import t

JSON_MIME = "application/vnd.graphmagic.report+json"
REPORT_VERSION = 1

STYLE = (
    "font-family: ui-sans-serif, system-ui, sans-serif; font-size: 13px; "
    "border: 1px solid #c8ccd4; border-radius: 6px; padding: 6px 10px; margin: 4px 0; "
    "max-width: 100%; overflow-x: auto;"
)
FINDING_STYLE = (
    "border-left: 4px solid #d9822b; background: #fff7ed; color: #3b2a14; padding: 4px 8px; "
    "margin: 4px 0; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12px;"
)


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
    variables: Any = None
    memory: Any = None
    graph: Any = None
    gradflow: Any = None
    findings: list[Finding] = field(default_factory=list)
    exception: str | None = None
    errors: list[str] = field(default_factory=list)
    quiet: bool = False
    lang: str | None = None   # the language it was made in, and renders in

    @property
    def warnings(self) -> list[Finding]:
        return self.findings

    def sections(self) -> list[tuple[str, Any]]:
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
        }

    def is_empty(self) -> bool:
        """True when a quiet report would show nothing."""
        return not self.findings and not self.errors and not self.device_note

    # ---- display ------------------------------------------------------------------
    def header(self) -> str:
        device = str(self.device) if self.device is not None else t("report.as_written")
        return t("report.header", cell=self.cell, device=device, time=_seconds(self.wall_time))

    @_in_own_language
    def to_text(self) -> str:
        parts = [self.header()]
        if self.device_note:
            parts.append("! " + self.device_note)
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
                 f'<div style="color:#555;margin-bottom:4px"><b>graphmagic</b> · {esc(self.header())}</div>']
        if self.device_note:
            parts.append(f'<div style="{FINDING_STYLE}">{esc(self.device_note)}</div>')
        for f in self.findings:
            parts.append(f'<div class="graphmagic-finding" style="{FINDING_STYLE}">{esc(f.to_text())}</div>')
        if not self.quiet:
            for name, s in self.sections():
                body, error = _render(s, "to_html")
                if error:
                    body = f'<div style="color:#a00">{esc(t("report.internal_error", error=error))}</div>'
                parts.append(f'<div class="graphmagic-{name}">{body}</div>')
        for e in self.errors:
            parts.append(f'<div style="color:#a00">{esc(t("report.internal_error", error=e))}</div>')
        parts.append("</div>")
        return "\n".join(parts)

    @_in_own_language
    def _repr_mimebundle_(self, include=None, exclude=None):
        makers = {"text/plain": self.to_text, "text/html": self.to_html,
                  JSON_MIME: lambda: json.loads(json.dumps(self.to_json(), default=str))}
        wanted = [m for m in makers if (not include or m in include) and not (exclude and m in exclude)]
        bundle = {}
        for mime in wanted:
            try:
                bundle[mime] = makers[mime]()
            except Exception as err:  # never a traceback from the report itself
                problem = t("report.internal_error", error=repr(err))
                fallback = {"text/plain": problem, "text/html": html.escape(problem),
                            JSON_MIME: {"version": REPORT_VERSION, "cell": self.cell,
                                        "errors": [problem]}}
                bundle[mime] = fallback[mime]
        return bundle

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
