"""The cleanup input transformer that lets IPython itself run a ``%%autograd`` body.

IPython runs ``input_transformers_cleanup`` before it recognises cell magics. This one
rewrites only the first line, ``%%autograd OPTIONS``, into the line IPython itself writes
for ``%autograd OPTIONS``; the body stays top-level code that IPython compiles and runs
like any cell, and every line keeps its number. The transformer is pure text: IPython may
call it more than once per cell (``should_run_async``, ``check_complete``).
"""
from __future__ import annotations

import re

MAGIC_LINE = re.compile(r"^%%autograd(?:[ \t]+(?P<options>[^\r\n]*?))?[ \t]*(?P<end>\r?\n|$)")


def rewrite_autograd_cell(lines: list[str]) -> list[str]:
    if not lines:
        return lines
    match = MAGIC_LINE.match(lines[0])
    if match is None:
        return lines
    options = match.group("options") or ""
    call = f"get_ipython().run_line_magic('autograd', {options!r})"
    return [call + (match.group("end") or "\n"), *lines[1:]]


def _ours(func) -> bool:  # also matches the function of an earlier, reloaded module
    return getattr(func, "__module__", None) == __name__ and \
        getattr(func, "__name__", None) == rewrite_autograd_cell.__name__


def install(shell) -> None:
    uninstall(shell)
    shell.input_transformers_cleanup.append(rewrite_autograd_cell)


def uninstall(shell) -> None:
    shell.input_transformers_cleanup[:] = [
        f for f in shell.input_transformers_cleanup if not _ours(f)]
