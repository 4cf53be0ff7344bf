"""Autograd pitfall findings: the variable, the cell line and the fix.

``PitfallProbe`` puts together, for one cell:

- ``pitfall_warnings``: PyTorch's non-leaf ``.grad`` warning -> ``nonleaf-grad`` (live);
- ``pitfall_hooks``: backward passes -> ``grad-accumulated`` (live) and the lines that
  freed each graph (for ``backward-twice``);
- ``pitfall_errors``: hints on autograd's errors (``nonscalar-backward``,
  ``backward-twice``, ``leaf-inplace``, ``saved-modified``, ``no-grad-path``);
- ``pitfall_static``: after the cell, from its code and tensors (``leaf-moved``,
  ``data-mutation``, ``detach-alias``).

Findings pass through the user's warning filters (``pitfall_sink``) and end up in
``run.report.findings``; ``--no-warn KIND`` turns kinds off.
"""
from __future__ import annotations

from . import findings, pitfall_errors, pitfall_static
from .messages import t
from .pitfall_frames import Locator
from .pitfall_hooks import BackwardWatch, shell_state
from .pitfall_sink import Sink, fail_cell
from .pitfall_warnings import WarningInterceptor
from .runner import Probe, add_note


class PitfallProbe(Probe):
    def __init__(self) -> None:
        self.sink: Sink | None = None
        self.loc: Locator | None = None
        self.watch: BackwardWatch | None = None

    def start(self, run) -> None:
        enabled = set(findings.FINDING_KINDS) - set(run.options.no_warn)
        if not enabled:
            return
        self.loc = Locator(run)
        self.sink = Sink(run, self.loc)
        state = shell_state(run.shell)
        WarningInterceptor(run, self.sink, self.loc, "nonleaf-grad" in enabled).install(run.stack)
        if enabled & {"grad-accumulated", "backward-twice"}:
            self.watch = BackwardWatch(run, self.sink, self.loc, state, "grad-accumulated" in enabled)
            self.watch.install(run.stack)
        run.stack.callback(self.loc.close)

    def on_exception(self, run, exc: BaseException) -> None:
        if self.sink is None:
            return
        hint = pitfall_errors.explain(run, self.loc, shell_state(run.shell), self.watch, exc)
        if hint is None:
            return
        finding = self.sink.add(hint.kind, hint.variable, hint.filename, hint.line, hint.message,
                                hint.fix, when="raised")
        if finding is not None:
            add_note(exc, t("pitfalls.note", text=finding.to_text()))

    def collect(self, run) -> None:
        sink, watch, self.sink, self.watch = self.sink, self.watch, None, None
        if sink is None:
            return
        try:
            if watch is not None:
                watch.finish()
            pitfall_static.check(run, sink, self.loc, shell_state(run.shell))
        finally:
            for finding in sink.sorted():
                findings.merge(run.report.findings, finding)
            fail_cell(run, sink.failed)
