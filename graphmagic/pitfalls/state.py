"""Pitfall state that spans cells (part of the per-shell ``ShellState``), plain data and
weak references only."""
from __future__ import annotations

from dataclasses import dataclass

from torch.utils.weak import WeakIdKeyDictionary


@dataclass(frozen=True)
class Made:
    """Where a leaf was bound to a name, learnt while it had it (``a = torch.tensor(...)``)."""
    name: str
    filename: str | None              # the cell's filename
    line: int
    expr: str                         # the right-hand side as written


@dataclass(slots=True)
class GradRecord:
    """A leaf's ``.grad`` as the last backward pass we saw left it (plain data)."""
    grad: object = None               # a weak reference to it
    version: int = -1                 # its version
    passes: int = 0                   # passes summed in it since it was last zeroed
    first: tuple[str, int] | None = None  # (cell filename, line) of the first of them
    tested: tuple[object, int, bool] | None = None  # (weak ref, version, nonzero) of a .grad seen
    leaf_version: int = -1            # the leaf's own version after that pass
    pending: tuple[str, int] | None = None  # site of a sum that an optimizer step may still use
    intended: bool = False            # its sums were once used by an update, then zeroed
    after_pass: int = -1              # the pass (PitfallState.passes) these facts are from
    made: Made | None = None          # where it got its name (for when it has none)


class PitfallState:
    """Pitfall state that outlives a cell, without keeping any tensor alive."""

    def __init__(self) -> None:
        self.grads = WeakIdKeyDictionary()   # leaf -> GradRecord
        self.roots = WeakIdKeyDictionary()   # root tensor -> (In[n], line) of the pass that freed it
        self.last_freed: tuple[str, int | None] | None = None
        self.passes = 0                      # backward passes watched in this shell
        self.detaches: list[tuple[str, int, str, str]] = []  # (In[n], line, target, source)
