"""A cell's findings, passed through the user's warning filters as ``AutogradPitfall``.

Each finding is decided once per cell and key: the first matching entry of
``warnings.filters`` (as Python itself matches it) says ``ignore`` (dropped) or not (kept,
shown in the report). When it is issued depends on when it was found:

- ``now``: while the cell runs (a ``.grad`` read, a backward pass). It is issued with
  ``warnings.warn_explicit`` at the cell's file and line, so an ``error`` filter raises
  right there in the cell; other actions reach ``showwarning``, where graphmagic's
  wrapper keeps it off stderr (the report shows it).
- ``raised``: a hint on the cell's own exception; the cell fails already, nothing more
  is raised.
- ``after``: found after the cell (from its code and the final tensors). Raising then
  would escape from IPython's ``post_execute``, so an ``error`` filter instead marks the
  cell failed (see ``fail_cell``).
"""
from __future__ import annotations

import warnings

from ..findings import AutogradPitfall, Finding
from ..messages import t

MARK = "_graphmagic_finding"


def filter_action(category: type[Warning], text: str, filename: str | None, lineno: int,
                  skip: object = None, module: str | None = None) -> str:
    """The action ``warnings`` would take for this warning (first matching filter,
    leaving out the entry ``skip``); ``module`` defaults to the one Python makes of
    ``filename``, and lineno 0 matches only filters for any line."""
    if module is None:
        module = filename or "<unknown>"
        if module[-3:].lower() == ".py":
            module = module[:-3]
    for entry in list(warnings.filters):
        if entry is skip:
            continue
        try:
            action, msg, cat, mod, line = entry
            if (msg is None or msg.match(text)) and issubclass(category, cat) \
                    and (mod is None or mod.match(module)) and (line == 0 or lineno == line):
                return action
        except Exception:  # a malformed entry: Python would fail on it too, skip it here
            continue
    return warnings.defaultaction


def where_text(current: str, cell: str, line: int | None) -> str:
    """``line 4`` in the current cell, ``In[3] line 4`` in an earlier one."""
    if line is None:
        return cell
    if cell == current:
        return t("pitfalls.at_line", line=line)
    return t("finding.where", cell=cell, line=line)


def is_ours(message: object) -> bool:
    return isinstance(message, AutogradPitfall) and hasattr(message, MARK)


class Sink:
    """Findings of one cell, one per kind, cell, line and variable, with a count."""

    def __init__(self, ctx, locator) -> None:
        self.ctx = ctx
        self.loc = locator
        self.findings: dict[tuple, Finding] = {}
        self.dropped: set[tuple] = set()
        self.failed: list[Finding] = []

    def enabled(self, kind: str) -> bool:
        return kind not in self.ctx.options.no_warn

    def get(self, kind: str, filename: str | None, line: int | None, variable: str) -> Finding | None:
        return self.findings.get((kind, self.loc.cell(filename), line, variable))

    def repeat(self, kind: str, filename: str | None, line: int | None, variable: str) -> bool:
        """Count a repeat of a finding already decided in this cell (kept or dropped)."""
        key = (kind, self.loc.cell(filename), line, variable)
        old = self.findings.get(key)
        if old is not None:
            old.count += 1
        return old is not None or key in self.dropped

    def add(self, kind: str, variable: str, filename: str | None, line: int | None,
            message: str, fix: str, when: str, count: int = 1) -> Finding | None:
        """Record a finding (or count a repeat); returns it, or None when filtered out."""
        if not self.enabled(kind):
            return None
        cell = self.loc.cell(filename)
        key = (kind, cell, line, variable)
        old = self.findings.get(key)
        if old is not None:
            old.count += count
            return old
        if key in self.dropped:
            return None
        finding = Finding(kind=kind, variable=variable, line=line, cell=cell, message=message,
                          fix=fix, code=self.loc.code(filename, line).strip(), count=count)
        text = finding.to_text()
        warn_file = filename or self.loc.filename or "<graphmagic>"
        action = filter_action(AutogradPitfall, text, warn_file, line or 0)
        if action == "ignore":
            self.dropped.add(key)
            return None
        self.findings[key] = finding
        if when == "now":
            warning = AutogradPitfall(text)
            setattr(warning, MARK, True)
            warnings.warn_explicit(warning, AutogradPitfall, warn_file, line or 0)
        elif when == "after" and action == "error":
            self.failed.append(finding)
        return finding

    def sorted(self) -> list[Finding]:
        return sorted(self.findings.values(), key=lambda f: (f.cell != self.ctx.cell, f.line or 0))


def fail_cell(ctx, report, exception: BaseException | None, findings: list[Finding]) -> None:
    """An ``error`` filter on findings made after the cell: show the error and mark the
    cell failed (as its execution result), without raising from IPython's event. A cell
    that raised already keeps its own exception alone."""
    if not findings or exception is not None:
        return
    exc = AutogradPitfall("\n".join(f.to_text() for f in findings))
    setattr(exc, MARK, True)
    shell = ctx.shell
    result = getattr(shell, "last_execution_result", None)
    running = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    if running is None and result is not None and result.execution_count == ctx.execution_count \
            and result.error_before_exec is None and result.error_in_exec is None:
        result.error_in_exec = exc
    if report.exception is None:
        report.exception = f"{type(exc).__name__}: {exc}"
    shell.showtraceback((AutogradPitfall, exc, None))
