"""IPython glue for one cell: where the cell's code is, its ``In[n]``, its exception hook,
and compiling/running a body given to ``run_cell_magic``."""
from __future__ import annotations

import ast
import asyncio
import inspect
import sys
import types

from IPython.core.error import UsageError

from ..cell.run import CellRun, note_exception
from ..messages import t


def cell_number(shell) -> int:
    """The ``In[n]`` number of the running cell (IPython 8 and 9 count at different times)."""
    result = getattr(shell.displayhook, "exec_result", None)
    number = getattr(result, "execution_count", None)
    return number if number is not None else shell.execution_count


_NOTERS: dict[int, object] = {}   # id(shell) -> the running cell's noter(exception)


def showtraceback(shell, exc_tuple=None, *args, **kwargs):
    """``shell.showtraceback`` during a cell: the cell's parts add their notes (hints) to
    the exception IPython is about to show, then IPython shows it as always."""
    noter = _NOTERS.get(id(shell))
    if noter is not None and kwargs.get("running_compiled_code"):  # run_code's: the cell's own
        value = exc_tuple[1] if exc_tuple else sys.exc_info()[1]
        if value is not None:
            noter(value)
    return type(shell).showtraceback(shell, exc_tuple, *args, **kwargs)


def install_exception_hook(run: CellRun, is_own) -> None:
    """Let the parts add notes to the cell's exception before IPython shows its traceback.
    ``is_own()`` tells the cell's own exception from one of a ``run_cell`` nested in it.

    The hook point is the shell's ``showtraceback``, for the cell only: ``custom_exceptions``
    and ``CustomTB`` stay the user's (a handler of theirs is called by IPython as always),
    and what a cell captures of them is theirs to put back."""
    shell = run.ctx.shell
    saved = shell.__dict__.get("showtraceback")
    ours = types.MethodType(showtraceback, shell)

    def noter(value):
        if is_own():
            note_exception(run, value)

    _NOTERS[id(shell)] = noter
    shell.showtraceback = ours

    def restore():  # unless the cell put its own in place, which stays
        _NOTERS.pop(id(shell), None)
        if shell.__dict__.get("showtraceback") == ours:
            if saved is None:
                del shell.showtraceback
            else:
                shell.showtraceback = saved

    run.stack.callback(restore)


def fail_interrupted(shell, execution_count: int | None) -> None:
    """A Ctrl-C cut graphmagic's work after the cell's code ran (in ``post_execute``, where
    raising is only printed): mark the cell failed with ``KeyboardInterrupt`` and show it,
    as IPython shows an interrupted cell. A cell that failed already keeps its own error."""
    result = getattr(shell, "last_execution_result", None)
    if result is None or result.error_in_exec is not None or result.error_before_exec is not None:
        return
    if execution_count is not None and result.execution_count != execution_count:
        return
    exc = KeyboardInterrupt()
    result.error_in_exec = exc
    shell.last_execution_succeeded = False
    shell.showtraceback((KeyboardInterrupt, exc, None))


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
