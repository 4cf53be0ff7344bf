"""The text of one ``%%autograd`` cell, numbered as the notebook shows it.

Line 1 is the ``%%autograd`` line; the body starts on line 2. ``tree`` is the body parsed
to an AST with those line numbers (IPython syntax lines such as ``%time f()`` or ``!ls``
become ``pass`` first, so it never breaks the parse), for the modules that read the code.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cached_property

_IPYTHON_LINE = re.compile(r"^\s*(%|!|\?)")


@dataclass(frozen=True)
class CellSource:
    text: str                      # the whole cell, line 1 included
    filename: str | None = None    # the filename its code runs under (frames, warnings)
    first_line: int = 1            # where tracking starts (a %autograd line mid-cell)
    lines: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.text.splitlines()))

    def line(self, number: int | None) -> str:
        """The text of line ``number`` (1-based), or '' when out of range."""
        if number is None or not 1 <= number <= len(self.lines):
            return ""
        return self.lines[number - 1]

    @cached_property
    def tree(self) -> ast.Module | None:
        """The body as an AST with notebook line numbers; None if it does not parse."""
        lines = list(self.lines)
        for i, text in enumerate(lines):
            if i < self.first_line:
                lines[i] = ""
            elif _IPYTHON_LINE.match(text) or text.rstrip().endswith("?"):
                lines[i] = text[: len(text) - len(text.lstrip())] + "pass"
        try:
            return ast.parse("\n".join(lines))
        except SyntaxError:
            return None

    def in_cell(self, filename: str | None) -> bool:
        return filename is not None and filename == self.filename
