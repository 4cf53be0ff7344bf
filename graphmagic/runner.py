"""Run one ``%%autograd`` cell: open its scoped contexts, run, close them, build the report.

Two ways in, one lifecycle (``begin`` -> the body runs -> ``finish``):

- The notebook way: the cleanup input transformer (``transformer.py``) rewrites the
  ``%%autograd`` line into ``get_ipython().run_line_magic('autograd', OPTIONS)``, so IPython
  compiles and runs the body as the plain cell it is (await, ``;``, ``Out``, tracebacks all
  native). That call runs ``begin``; IPython's ``post_execute`` event, fired in a ``finally``
  of ``run_cell``, runs ``finish`` -- also when the body raised.
- ``shell.run_cell_magic('autograd', line, body)``, as other tools call it: ``run_body``
  compiles the body itself (numbered from line 2, as under the magic line) and runs it
  between ``begin`` and ``finish``.

Every global thing touched (default device, the shell's custom exception handler, each
probe's hooks and filters) is registered on one ``ExitStack`` and restored before any
reporting work starts. Probes (``probes.py``) add tracking, memory, graph and pitfalls.
"""
from __future__ import annotations

import ast
import asyncio
import inspect
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from .cellsource import CellSource
from .device import DeviceChoice, default_device, mixed_device_hint
from .messages import t
from .options import CellOptions
from .report import Report


class Probe:
    """One concern's part in a cell (tracking, memory, graph, pitfalls).

    ``start`` runs before the body and registers every cleanup on ``run.stack``;
    ``on_exception`` sees the cell's exception before IPython shows it (to add notes);
    ``collect`` runs after all contexts are closed and fills ``run.report``.
    """

    def start(self, run: CellRun) -> None:
        pass

    def on_exception(self, run: CellRun, exc: BaseException) -> None:
        pass

    def collect(self, run: CellRun) -> None:
        pass


@dataclass
class CellRun:
    """Everything one cell's probes share while it runs."""
    shell: Any
    options: CellOptions
    source: CellSource
    choice: DeviceChoice
    execution_count: int
    report: Report
    probes: list[Probe] = field(default_factory=list)
    stack: ExitStack = field(default_factory=ExitStack)
    exception: BaseException | None = None
    shared: dict[str, Any] = field(default_factory=dict)  # data probes pass to later ones
    started: float = 0.0
    depth: int = 0
    result: Any = None  # the cell's value (what Out[n] shows), set before collect

    @property
    def namespace(self) -> dict:
        return self.shell.user_ns

    @property
    def cell(self) -> str:
        return f"In[{self.execution_count}]"


_OURS = (str(Path(__file__).resolve().parent),)


def _library_dirs() -> tuple[str, ...]:
    import IPython

    return _OURS + (str(Path(IPython.__file__).resolve().parent),)


def caller_cell_frame():
    """The frame of the user's cell code that called the line magic, or None."""
    skip = _library_dirs()
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        try:
            resolved = str(Path(filename).resolve())
        except (OSError, ValueError):
            resolved = filename
        if not resolved.startswith(skip):
            return frame
        frame = frame.f_back
    return None


def cell_number(shell) -> int:
    """The ``In[n]`` number of the running cell (IPython 8 and 9 count at different times)."""
    result = getattr(shell.displayhook, "exec_result", None)
    number = getattr(result, "execution_count", None)
    return number if number is not None else shell.execution_count


def begin(shell, options: CellOptions, choice: DeviceChoice, source: CellSource,
          probes: list[Probe]) -> CellRun:
    """Open the cell's contexts. On failure everything opened so far is closed again."""
    report = Report(cell="", device=choice.device, requested_device=choice.requested,
                    device_note=choice.note, quiet=options.quiet)
    run = CellRun(shell=shell, options=options, source=source, choice=choice,
                  execution_count=cell_number(shell), report=report, probes=probes)
    report.cell = run.cell
    if choice.note:
        print(f"graphmagic: {choice.note}", file=sys.stderr)
    try:
        for probe in list(probes):
            try:
                probe.start(run)
            except Exception as err:  # a broken probe must not stop the user's cell
                run.report.errors.append(f"{type(probe).__name__}: {err!r}")
                run.probes.remove(probe)
        run.stack.enter_context(default_device(choice.device))
        _install_exception_hook(run)
    except BaseException:
        run.stack.close()
        raise
    run.started = time.perf_counter()
    return run


def note_exception(run: CellRun, exc: BaseException) -> None:
    """Record the cell's exception and let every probe add its hint (once)."""
    if run.exception is exc:
        return
    run.exception = exc
    run.report.exception = f"{type(exc).__name__}: {exc}"
    hint = mixed_device_hint(exc, run.namespace)
    if hint:
        add_note(exc, hint)
    for probe in run.probes:
        try:
            probe.on_exception(run, exc)
        except Exception as err:  # a hint must never replace the user's exception
            run.report.errors.append(f"{type(probe).__name__}: {err!r}")


def add_note(exc: BaseException, note: str) -> None:
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def _install_exception_hook(run: CellRun) -> None:
    """Let probes add notes to the cell's exception before IPython shows its traceback."""
    shell = run.shell
    saved = (shell.custom_exceptions, shell.CustomTB)

    def handler(shell, etype, value, tb, tb_offset=None):
        note_exception(run, value)
        previous_types, previous_handler = saved
        if previous_types and isinstance(value, previous_types):
            return previous_handler(etype, value, tb, tb_offset=tb_offset)
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        return None

    def restore():
        shell.custom_exceptions, shell.CustomTB = saved

    shell.set_custom_exc((Exception,), handler)
    run.stack.callback(restore)


def finish(run: CellRun) -> Report:
    """Close every context (restoring global state), then let the probes report."""
    try:
        run.stack.close()
    except Exception as err:
        run.report.errors.append(f"cleanup: {err!r}")
    finally:
        run.report.wall_time = time.perf_counter() - run.started
    for probe in run.probes:
        try:
            probe.collect(run)
        except Exception as err:
            run.report.errors.append(f"{type(probe).__name__}: {err!r}")
    return run.report


def compile_body(shell, body: str, execution_count: int):
    """Compile ``body`` like a cell, numbered from line 2 (the magic line is line 1).

    Returns ``(filename, code, last)``: ``last`` evaluates the trailing expression (None
    when there is none or a ``;`` silences it). Raises SyntaxError before anything runs.
    """
    transformed = "\n" + shell.transform_cell(body)
    filename = shell.compile.cache(transformed, execution_count, raw_code="\n" + body)
    tree = shell.transform_ast(shell.compile.ast_parse(transformed, filename=filename))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not body.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(tree, filename, "exec", flags=flags)
    last_code = compile(last, filename, "eval", flags=flags) if last is not None else None
    return filename, code, last_code


def refuse_await_in_running_loop(code, last_code) -> None:
    """``run_cell_magic`` cannot await a body from inside a running event loop (a kernel's
    cell): refuse with UsageError before anything runs; ``%%autograd`` cells can."""
    if not any(c is not None and c.co_flags & inspect.CO_COROUTINE for c in (code, last_code)):
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise UsageError(t("magic.await_in_loop"))


def run_body(shell, code, last_code):
    """Run compiled body code in the user namespace; return the trailing value."""
    __tracebackhide__ = True
    _awaited(shell, eval(code, shell.user_global_ns, shell.user_ns))
    if last_code is None:
        return None
    return _awaited(shell, eval(last_code, shell.user_global_ns, shell.user_ns))


def _awaited(shell, value):
    """Await what top-level ``await`` made a coroutine."""
    __tracebackhide__ = True
    if inspect.iscoroutine(value):
        return shell.loop_runner(value)
    return value
