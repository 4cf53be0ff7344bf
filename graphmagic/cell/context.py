"""What one cell's parts share: the immutable context, the end-of-cell walk, --trace lines.

Typed objects passed as parameters replace a shared string-keyed dict:

- ``CellContext``: made when the cell starts, never changed (options, source, code facts,
  device choice, ``In[n]``, the shell and its per-shell state).
- ``CellEnd``: what the end-of-cell walk found (``(name, tensor)`` pairs, the cell's value and
  exception). It holds strong references, so it lives only in ``lifecycle.finish``'s frame.
- ``TraceLines`` (``trace/record.py``): what ``--trace`` saw, read by tracking.
"""
from __future__ import annotations

import linecache
from dataclasses import dataclass, field
from typing import Any

from ..code.scan import CodeFacts, scan
from .device import DeviceChoice
from .options import CellOptions
from .source import CellSource


@dataclass(frozen=True, eq=False)
class CellContext:
    shell: Any
    state: Any                      # the per-shell ``ShellState`` (cell/state.py)
    options: CellOptions
    source: CellSource
    choice: DeviceChoice
    execution_count: int
    code: CodeFacts = field(init=False)
    problems: list = field(init=False)   # what a part could not do: report.errors at the end
    _other_cells: dict = field(init=False, repr=False)   # filename -> CodeFacts

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", scan(self.source))
        object.__setattr__(self, "problems", [])
        object.__setattr__(self, "_other_cells", {})

    @property
    def cell(self) -> str:
        return f"In[{self.execution_count}]"

    @property
    def namespace(self) -> dict:
        return self.shell.user_ns

    def facts_of(self, filename: str | None) -> CodeFacts:
        """The static facts of the cell that ``filename`` belongs to (this one or earlier)."""
        if filename is None or filename == self.source.filename:
            return self.code
        if filename not in self._other_cells:
            text = "".join(linecache.getlines(filename))
            self._other_cells[filename] = scan(CellSource(text, filename=filename, first_line=0))
        return self._other_cells[filename]


@dataclass(eq=False)
class CellEnd:
    """The namespace's tensors after the cell, walked once; only in ``finish``'s frame."""
    named: list
    result: Any
    exception: BaseException | None
