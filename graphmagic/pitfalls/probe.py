"""Autograd pitfall findings: the variable, the cell line and the fix.

``PitfallProbe`` puts together, for one cell:

- ``pitfall_warnings``: PyTorch's non-leaf ``.grad`` warning -> ``nonleaf-grad`` (live);
- ``pitfall_hooks``: backward passes -> ``grad-accumulated`` (live) and the lines that
  freed each graph (for ``backward-twice``);
- ``pitfall_errors``: hints on autograd's errors (``nonscalar-backward``,
  ``backward-twice``, ``leaf-inplace``, ``saved-modified``, ``no-grad-path``);
- ``pitfall_static``: after the cell, from its code and tensors (``leaf-moved``,
  ``data-mutation``, ``detach-alias``);
- ``pitfall_history``: after the cell, from its accumulation statements and the graphs the
  namespace keeps (``history-kept``, ``graph-not-needed``).

Findings pass through the user's warning filters (``pitfall_sink``) and end up in
``run.report.findings``; ``--no-warn KIND`` turns kinds off.
"""
from __future__ import annotations

from .. import findings
from ..cell.run import add_note
from ..code.frames import Locator
from ..messages import t
from . import errors as pitfall_errors
from . import static as pitfall_static
from .backward import BackwardWatch
from .history import HistoryWatch
from .nonleaf import WarningInterceptor
from .sink import Sink, fail_cell


class PitfallProbe:
    """One cell's pitfall checks: hooks while it runs, hints on its exception, findings after."""

    def __init__(self, ctx, sink: Sink, locator: Locator, watch: BackwardWatch | None,
                 enabled: set[str] = frozenset()) -> None:
        self.sink = sink
        self.loc = locator
        self.watch = watch
        self.history = HistoryWatch(ctx) if enabled & {"history-kept", "graph-not-needed"} else None

    @classmethod
    def start(cls, ctx, stack) -> "PitfallProbe | None":
        """Install the cell's hooks on ``stack``; None when every kind is silenced."""
        enabled = set(findings.FINDING_KINDS) - set(ctx.options.no_warn)
        if not enabled and not ctx.options.show_graph:  # the graph's roots come from the watch
            return None
        loc = Locator(ctx)
        sink = Sink(ctx, loc)
        stack.callback(loc.close)
        WarningInterceptor(ctx, sink, loc, "nonleaf-grad" in enabled).install(stack)
        watch = None
        if enabled & {"grad-accumulated", "backward-twice"} or ctx.options.show_graph:
            watch = BackwardWatch(ctx, sink, loc, ctx.state.pitfalls, "grad-accumulated" in enabled)
            watch.install(stack)
        return cls(ctx, sink, loc, watch, enabled)

    def on_exception(self, ctx, exc: BaseException) -> None:
        hint = pitfall_errors.explain(ctx, self.loc, ctx.state.pitfalls, self.watch, exc)
        if hint is None:
            return
        finding = self.sink.add(hint.kind, hint.variable, hint.filename, hint.line, hint.message,
                                hint.fix, when="raised")
        if finding is not None:
            add_note(exc, t("pitfalls.note", text=finding.to_text()))

    def collect(self, ctx, end, report) -> None:
        """Finish the checks and give the report the cell's findings; an ``error`` filter on
        findings made after the cell fails it (``sink.fail_cell``)."""
        try:
            if self.watch is not None:
                self.watch.finish()
            pitfall_static.check(ctx, end, self.sink, self.loc, ctx.state.pitfalls)
            if self.history is not None:
                self.history.check(ctx, end, self.sink)
        finally:
            for finding in self.sink.sorted():
                findings.merge(report.findings, finding)
            fail_cell(ctx, report, end.exception, self.sink.failed)
