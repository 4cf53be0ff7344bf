"""The IPython side: ``%%autograd`` (and ``%autograd``) and ``%autograd_config``.

Thin: it parses options, builds the cell's ``CellContext``, hands it to ``cell.run`` and shows
the report. It owns the per-shell ``ShellState`` (defaults, language, state across cells).
"""
from __future__ import annotations

import contextlib
import linecache
import sys

from IPython.core.error import UsageError
from IPython.core.magic import (Magics, line_cell_magic, line_magic, magics_class,
                                no_var_expand)

from .. import messages
from ..cell import run as lifecycle
from ..cell.context import CellContext
from ..cell.interrupts import watch_interrupts
from ..cell.device import resolve
from ..cell.options import OptionError, build, describe
from ..cell.source import CellSource
from ..cell.state import ShellState
from ..code.frames import caller_cell_frame
from ..messages import t
from ..report import JSON_MIME
from . import arguments, execution


@contextlib.contextmanager
def _usage_errors():
    """Bad option values become IPython's ``UsageError`` (shown without a traceback)."""
    try:
        yield
    except OptionError as err:
        raise UsageError(str(err)) from None


@magics_class
class AutogradMagics(Magics):
    def __init__(self, shell):
        super().__init__(shell)
        self.state = ShellState()
        self.active: lifecycle.CellRun | None = None
        self.last_report = None
        self._depth = 0            # nesting of run_cell calls (pre/post_execute)
        self._raw_cell: str | None = None

    @property
    def defaults(self) -> dict[str, object]:
        return self.state.defaults

    # ---- %%autograd -------------------------------------------------------------
    @line_cell_magic
    @no_var_expand  # option lines are taken as written ($x, {x} stay text; long lines fast)
    @arguments.declare(arguments.SHARED + arguments.CELL_ONLY)
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
        with messages.language(self.state.lang):
            given = arguments.parse_line(self.autograd, line)
            with _usage_errors():
                opts = build(given, self.state.defaults)
            if self.active is not None:
                raise UsageError(t("magic.nested"))
            if cell is None:
                ctx = self._begin_context(opts)
            else:
                prepared = self._direct_context(opts, line, cell)
        if cell is None:
            try:
                self.active = self._open(ctx)
            except KeyboardInterrupt:  # Ctrl-C while graphmagic starts the cell (line 1):
                raise KeyboardInterrupt from None  # the cell ends on that line
            return None
        return self._run_direct(*prepared)

    def _context(self, opts, source: CellSource) -> CellContext:
        with _usage_errors():
            choice = resolve(opts.device)
        return CellContext(shell=self.shell, state=self.state, options=opts, source=source,
                           choice=choice, execution_count=execution.cell_number(self.shell))

    def _open(self, ctx: CellContext) -> lifecycle.CellRun:
        if ctx.choice.note:
            print(f"graphmagic: {ctx.choice.note}", file=sys.stderr)
        run = lifecycle.begin(ctx)
        run.depth = self._depth
        try:
            execution.install_exception_hook(run, lambda: self._depth == run.depth)
        except BaseException:
            run.stack.close()
            raise
        return run

    def _begin_context(self, opts) -> CellContext:
        if self._depth == 0:
            raise UsageError(t("magic.outside_cell"))
        frame = caller_cell_frame()
        filename = frame.f_code.co_filename if frame is not None else None
        first = frame.f_lineno if frame is not None else 1
        del frame
        code_lines = linecache.getlines(filename) if filename else []
        text = self._raw_cell or ""
        if len(text.splitlines()) != len(code_lines) and code_lines:
            text = "".join(code_lines)
        source = CellSource(text, filename=filename, first_line=first)
        return self._context(opts, source)

    def _direct_context(self, opts, line: str, body: str):
        """Compile a body given to ``run_cell_magic``: ``(ctx, code, last)``."""
        filename, code, last = execution.compile_body(self.shell, body,
                                                      execution.cell_number(self.shell))
        execution.refuse_await_in_running_loop(code, last)
        source = CellSource(f"%%autograd {line}".rstrip() + "\n" + body, filename=filename)
        return self._context(opts, source), code, last

    def _run_direct(self, ctx: CellContext, code, last):
        __tracebackhide__ = True
        run = self.active = self._open(ctx)
        try:
            run.result = execution.run_body(self.shell, code, last)
            return run.result
        except BaseException as exc:  # KeyboardInterrupt too: the report says so
            lifecycle.note_exception(run, exc)
            raise
        finally:
            self.active = None
            if self._report(run) and sys.exc_info()[0] is None:
                raise KeyboardInterrupt  # Ctrl-C during our report: the cell was interrupted

    def _report(self, run: lifecycle.CellRun) -> bool:
        """Finish the cell and show its report; True when a Ctrl-C cut our work short."""
        out = run.ctx.options.out if run.ctx is not None else None
        report = None
        try:
            report = lifecycle.finish(run)
            self.last_report = report
            if out:
                self.shell.user_ns[out] = report
            if not (report.quiet and report.is_empty()):
                with watch_interrupts() as interrupts:
                    formatter = self.shell.display_formatter
                    # a terminal shows text only: do not render the picture it would drop
                    include = None if "text/html" in formatter.active_types \
                        else {"text/plain", JSON_MIME}
                    data, metadata = formatter.format(report, include=include)
                    self.shell.display_pub.publish(data=data, metadata=metadata)
                    interrupts.raise_if_swallowed()
        except KeyboardInterrupt:
            if report is not None:
                report.interrupted = True
            return True
        except Exception as err:  # never a traceback from graphmagic after the user's cell
            print(t("report.not_shown", error=repr(err)), file=sys.stderr)
        finally:
            run.clear()
        return report is not None and report.interrupted

    # ---- %autograd_config -------------------------------------------------------
    @line_magic
    @no_var_expand
    @arguments.declare(arguments.SHARED + arguments.CONFIG_ONLY)
    def autograd_config(self, line: str):
        """Set defaults for later %%autograd cells; with no options, show them.

        A cell's own options win over these. ``--reset`` forgets them all.
        """
        given = arguments.parse_line(self.autograd_config, line)
        if "device" in given:
            with _usage_errors():
                resolve(given["device"])  # refuse a bad device now, before changing anything
        if given.pop("reset", False):
            self.state.defaults.clear()
            self.state.lang = None
        lang = given.pop("lang", None)
        if lang:
            self.state.lang = lang
        self.state.defaults.update(given)
        if not line.strip():
            with messages.language(self.state.lang):
                shown = describe(self.state.defaults)
                print(t("config.current", options=shown) if shown else t("config.none"))
                print(t("config.lang", lang=messages.current_language()))

    # ---- IPython events ---------------------------------------------------------
    def pre_execute(self) -> None:
        self._depth += 1

    def pre_run_cell(self, info) -> None:
        self._raw_cell = getattr(info, "raw_cell", None)

    def post_execute(self) -> None:
        try:
            run = self.active
            if run is not None and run.depth == self._depth:
                self.active = None
                last = getattr(self.shell, "last_execution_result", None)
                run.result = getattr(last, "result", None)
                error = getattr(last, "error_in_exec", None)
                if error is not None:  # KeyboardInterrupt and the like skip the exception hook
                    lifecycle.note_exception(run, error)
                count = run.ctx.execution_count if run.ctx is not None else None
                del last, error
                if self._report(run):
                    execution.fail_interrupted(self.shell, count)
        except KeyboardInterrupt:  # a second Ctrl-C: IPython would only print it and go on
            execution.fail_interrupted(self.shell, None)
        finally:
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
            lifecycle.finish(run)
