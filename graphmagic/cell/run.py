"""One ``%%autograd`` cell's lifecycle, without IPython: ``begin`` -> the body runs -> ``finish``.

``begin`` opens one ``ExitStack`` with everything the cell changes globally (each part's
hooks and filters, the default device); ``finish`` closes it first, so global state is back
before any reporting work, then walks the namespace once (``CellEnd``, held only in this
module's frame) and asks each part for its section, passing typed results from one part to
the next: tracking's ``Tracking`` to graph and memory, ``--trace``'s lines to tracking.
Every failure of a part becomes one line in ``report.errors`` (``reporting``); the user's
cell is never broken by it. A Ctrl-C during our work is never swallowed (``interrupts.py``):
at the start it ends the cell; at the end it marks the report interrupted (partial). When ``finish`` returns, the run object holds nothing but the
report, so no tensor outlives the cell through it.
"""
from __future__ import annotations

import contextlib
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from .. import messages
from ..messages import t
from ..report import Report
from ..tensors.names import named_tensors
from .context import CellContext, CellEnd
from .device import default_device, mixed_device_hint
from .interrupts import watch_interrupts


@contextlib.contextmanager
def reporting(report: Report, part: str):
    """Run one part's work; a failure becomes a line in ``report.errors`` (never raised)."""
    try:
        yield
    except Exception as err:
        report.errors.append(f"{part}: {err!r}")


@dataclass(eq=False)
class Parts:
    """The cell's parts; each is None when it is off or failed to start."""
    tracking: Any = None
    pitfalls: Any = None
    memory: Any = None
    gradflow: Any = None


@dataclass(eq=False)
class CellRun:
    """One running cell. ``finish`` empties it, keeping only the report."""
    ctx: CellContext | None
    report: Report
    parts: Parts = field(default_factory=Parts)
    stack: ExitStack = field(default_factory=ExitStack)
    exception: BaseException | None = None
    result: Any = None
    started: float = 0.0
    depth: int = 0

    @property
    def cell(self) -> str:
        return self.report.cell

    def clear(self) -> None:
        self.ctx = None
        self.parts = Parts()
        self.exception = self.result = None


def begin(ctx: CellContext) -> CellRun:
    """Open the cell's contexts. On failure everything opened so far is closed again."""
    from ..gradflow.probe import GradFlowProbe
    from ..memory.probe import MemoryProbe
    from ..pitfalls.probe import PitfallProbe
    from ..tracking.probe import TrackingProbe

    choice = ctx.choice
    stack = ExitStack()
    stack.enter_context(messages.language(ctx.state.lang))  # the cell's texts, until it ends
    report = Report(cell=ctx.cell, device=choice.device, requested_device=choice.requested,
                    device_note=choice.note, quiet=ctx.options.quiet,
                    lang=messages.current_language())
    run = CellRun(ctx=ctx, report=report, stack=stack)
    parts = run.parts
    try:
        with watch_interrupts() as interrupts:  # a Ctrl-C here ends the cell, as on line 1
            # order: tracking snapshots first; memory resets its peaks last, before the body
            with reporting(report, "tracking"):
                parts.tracking = TrackingProbe(ctx)
            with reporting(report, "pitfalls"):
                parts.pitfalls = PitfallProbe.start(ctx, stack)
            before = getattr(parts.tracking, "before", None)  # None: each takes its own
            with reporting(report, "gradflow"):  # also enters --anomaly's mode on the stack
                parts.gradflow = GradFlowProbe(ctx, stack, before)
            with reporting(report, "memory"):
                parts.memory = MemoryProbe(ctx, stack, before)
            interrupts.raise_if_swallowed()
        stack.enter_context(default_device(choice.device))
    except BaseException:
        with watch_interrupts(defer=True):
            stack.close()
        run.clear()
        raise
    run.started = time.perf_counter()
    return run


def note_exception(run: CellRun, exc: BaseException) -> None:
    """Record the cell's exception and add the hints that explain it (once)."""
    if run.exception is exc or run.ctx is None:
        return
    run.exception = exc
    run.report.exception = exception_text(exc)
    with reporting(run.report, "device"):
        hint = mixed_device_hint(exc, run.ctx.namespace)
        if hint:
            add_note(exc, hint)
    if run.parts.pitfalls is not None:
        with reporting(run.report, "pitfalls"):
            run.parts.pitfalls.on_exception(run.ctx, exc)


def exception_text(exc: BaseException) -> str:
    """``"Type: message"``, also for an exception whose ``__str__`` raises."""
    name = type(exc).__name__
    try:
        return f"{name}: {exc}"
    except Exception:
        return f"{name}: {t('report.unprintable')}"


def add_note(exc: BaseException, note: str) -> None:
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def finish(run: CellRun) -> Report:
    """Close every context (restoring global state), then build the report's sections."""
    report = run.report
    if isinstance(run.exception, KeyboardInterrupt) and run.parts.memory is not None:
        run.parts.memory.interrupted = True  # --trace: stop at once, no line figures
    with watch_interrupts(defer=True) as deferred:  # global state comes back whole
        try:
            run.stack.close()
        except Exception as err:
            report.errors.append(f"cleanup: {err!r}")
        finally:
            report.wall_time = time.perf_counter() - run.started
    try:
        with watch_interrupts() as interrupts:
            if deferred.seen:
                raise KeyboardInterrupt
            if run.ctx is not None:
                with messages.language(report.lang):
                    _collect(run.ctx, run.parts, report, run.result, run.exception)
            interrupts.raise_if_swallowed()
    except KeyboardInterrupt:
        report.interrupted = True
        if report.exception is None:  # the cell ends with it (see ipython/magics.py)
            report.exception = exception_text(KeyboardInterrupt())
    finally:
        run.clear()
    return report


def _collect(ctx: CellContext, parts: Parts, report: Report, result, exception) -> None:
    from ..graph.probe import graph_section
    from ..tracking.view import VariablesSection

    report.errors.extend(ctx.problems)  # what the parts could not do while the cell ran
    end = None
    with reporting(report, "namespace"):
        end = CellEnd(named=list(named_tensors(ctx.namespace)), result=result, exception=exception)
    if end is None:
        return
    trace = parts.memory.trace_lines() if parts.memory is not None else None
    tracking = None
    if parts.tracking is not None:
        with reporting(report, "tracking"):
            tracking = parts.tracking.collect(ctx, end, trace)
            report.variables = VariablesSection(tracking, show_all=ctx.options.show_all)
    if parts.pitfalls is not None:
        with reporting(report, "pitfalls"):
            parts.pitfalls.collect(ctx, end, report)
    if ctx.options.show_graph:
        with reporting(report, "graph"):
            report.graph = graph_section(ctx, end, tracking, parts.pitfalls and parts.pitfalls.watch)
    if parts.memory is not None:
        with reporting(report, "memory"):
            report.memory = parts.memory.collect(ctx, end, tracking)
    if parts.gradflow is not None:
        with reporting(report, "gradflow"):
            report.gradflow = parts.gradflow.collect(ctx, end, report)
