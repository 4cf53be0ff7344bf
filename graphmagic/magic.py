"""The IPython side: ``%%autograd`` (and ``%autograd``) and ``%autograd_config``.

The only module that knows IPython's magic machinery. It parses options, hands the cell
to ``runner`` and shows the report; everything else lives in the library modules.
"""
from __future__ import annotations

import linecache
import sys

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class

from . import messages, options, runner
from .cellsource import CellSource
from .device import resolve
from .messages import t
from .probes import cell_probes
from .report import JSON_MIME


@magics_class
class AutogradMagics(Magics):
    def __init__(self, shell):
        super().__init__(shell)
        self.defaults: dict[str, object] = {}
        self.active: runner.CellRun | None = None
        self.last_report = None
        self._depth = 0            # nesting of run_cell calls (pre/post_execute)
        self._raw_cell: str | None = None

    # ---- %%autograd -------------------------------------------------------------
    @line_cell_magic
    @options.declare(options.SHARED + options.CELL_ONLY)
    def autograd(self, line: str, cell: str | None = None):
        """Run a cell and show what autograd did: the graph, the tensors, the pitfalls.

        The cell runs exactly as it would without the magic (same values, prints, errors),
        optionally on another default device. Afterwards one report shows the cell's
        autograd graph with every tensor named after your variables, a table of the tensors
        the cell created, rebound, changed in place or deleted (ids, versions, shared
        storage, memory), and findings that name the variable, the cell line and the fix
        for autograd pitfalls such as reading ``.grad`` of a non-leaf tensor.

        As a line magic, ``%autograd OPTIONS`` tracks from that line to the end of the cell.
        Defaults for later cells: ``%autograd_config``.

        Example::

            %%autograd --device auto
            x = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)
            out = (x.pow(2) * 3).sum()
            out.backward()
        """
        __tracebackhide__ = True  # the cell's own exception shows the cell's frames only
        given = options.parse_line(self.autograd, line)
        opts = options.build(given, self.defaults)
        if self.active is not None:
            raise UsageError(t("magic.nested"))
        if cell is None:
            return self._begin_in_cell(opts)
        return self._run_direct(opts, line, cell)

    def _begin_in_cell(self, opts: options.CellOptions) -> None:
        if self._depth == 0:
            raise UsageError(t("magic.outside_cell"))
        frame = runner.caller_cell_frame()
        filename = frame.f_code.co_filename if frame is not None else None
        first = frame.f_lineno if frame is not None else 1
        code_lines = linecache.getlines(filename) if filename else []
        text = self._raw_cell or ""
        if len(text.splitlines()) != len(code_lines) and code_lines:
            text = "".join(code_lines)
        source = CellSource(text, filename=filename, first_line=first)
        choice = resolve(opts.device)
        self.active = runner.begin(self.shell, opts, choice, source, cell_probes())
        self.active.depth = self._depth

    def _run_direct(self, opts: options.CellOptions, line: str, body: str):
        __tracebackhide__ = True
        filename, code, last = runner.compile_body(self.shell, body, runner.cell_number(self.shell))
        runner.refuse_await_in_running_loop(code, last)
        choice = resolve(opts.device)
        source = CellSource(f"%%autograd {line}".rstrip() + "\n" + body, filename=filename)
        run = runner.begin(self.shell, opts, choice, source, cell_probes())
        run.depth = self._depth
        self.active = run
        try:
            run.result = runner.run_body(self.shell, code, last)
            return run.result
        except Exception as exc:
            runner.note_exception(run, exc)
            raise
        finally:
            self.active = None
            self._report(run)

    def _report(self, run: runner.CellRun) -> None:
        try:
            report = runner.finish(run)
            self.last_report = report
            if run.options.out:
                self.shell.user_ns[run.options.out] = report
            if not (report.quiet and report.is_empty()):
                formatter = self.shell.display_formatter
                # a terminal shows text only: do not render the picture it would drop
                include = None if "text/html" in formatter.active_types else {"text/plain", JSON_MIME}
                data, metadata = formatter.format(report, include=include)
                self.shell.display_pub.publish(data=data, metadata=metadata)
        except Exception as err:  # never a traceback from graphmagic after the user's cell
            print(t("report.not_shown", error=repr(err)), file=sys.stderr)

    # ---- %autograd_config -------------------------------------------------------
    @line_magic
    @options.declare(options.SHARED + options.CONFIG_ONLY)
    def autograd_config(self, line: str):
        """Set defaults for later %%autograd cells; with no options, show them.

        A cell's own options win over these. ``--reset`` forgets them all.
        """
        given = options.parse_line(self.autograd_config, line)
        if "device" in given:
            resolve(given["device"])  # refuse a bad device now, before changing anything
        if given.pop("reset", False):
            self.defaults.clear()
            messages.set_language(None)
        lang = given.pop("lang", None)
        if lang:
            messages.set_language(lang)
        self.defaults.update(given)
        if not line.strip():
            shown = options.describe(self.defaults)
            print(t("config.current", options=shown) if shown else t("config.none"))
            print(t("config.lang", lang=messages.current_language()))

    # ---- IPython events ---------------------------------------------------------
    def pre_execute(self) -> None:
        self._depth += 1

    def pre_run_cell(self, info) -> None:
        self._raw_cell = getattr(info, "raw_cell", None)

    def post_execute(self) -> None:
        run = self.active
        if run is not None and run.depth == self._depth:
            self.active = None
            last = getattr(self.shell, "last_execution_result", None)
            run.result = getattr(last, "result", None)
            error = getattr(last, "error_in_exec", None)
            if error is not None:  # KeyboardInterrupt and the like skip the exception hook
                runner.note_exception(run, error)
            self._report(run)
        self._depth = max(0, self._depth - 1)
        if self._depth == 0:
            self._raw_cell = None

    EVENTS = ("pre_execute", "pre_run_cell", "post_execute")

    def register_events(self) -> None:
        for event in self.EVENTS:
            self.shell.events.register(event, getattr(self, event))

    def unregister_events(self) -> None:
        for event in self.EVENTS:
            callbacks = self.shell.events.callbacks[event]
            for cb in list(callbacks):
                if getattr(cb, "__self__", None) is self:
                    callbacks.remove(cb)

    def close(self) -> None:
        """Unloading: finish a cell still being tracked, so its contexts are restored."""
        if self.active is not None:
            run, self.active = self.active, None
            runner.finish(run)
