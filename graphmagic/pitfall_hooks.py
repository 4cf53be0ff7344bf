"""Backward passes of a cell: ``grad-accumulated`` and where each graph was freed.

For the cell only, ``torch.autograd.backward`` and ``torch.autograd.grad`` are wrapped
(``Tensor.backward`` calls the former) to note the cell line of each pass and which roots
it freed (for ``backward-twice``). On the 1st, 2nd, 4th, 8th ... pass the graph is walked
and each new leaf gets one tensor hook; a leaf's hook runs before its gradient is added
and sees the old ``.grad``:

- ``None``: a fresh sum starts (``zero_grad()`` sets grads to None);
- the memory left by our last pass (the incoming gradient, which autograd usually keeps
  as the new ``.grad``), changed in place since (version moved): zeroed;
- otherwise (same version: ``x.grad.data.zero_()`` does not move it; or a grad we did
  not see made): its values decide, so a device sync happens only in these cases.

Across cells the state lives in weak-keyed tables on a per-shell object; hooks and the
wrappers are removed after the cell.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch.utils.weak import WeakIdKeyDictionary

from . import names as names_mod
from .messages import t
from .pitfall_graphs import leaves, roots_of
from .pitfall_sink import where_text


@dataclass
class GradRecord:
    """What a leaf's ``.grad`` held after the last backward pass we saw (plain data)."""
    pointer: int | None = None        # data_ptr of the .grad left by that pass, when known
    version: int = -1                 # its version right after that pass
    passes: int = 0                   # passes summed in it since it was last zeroed
    first: tuple[str, int | None] | None = None  # (In[n], line) of the first of them


class ShellState:
    """Pitfall state that outlives a cell, without keeping any tensor alive."""

    def __init__(self) -> None:
        self.grads = WeakIdKeyDictionary()   # leaf -> GradRecord
        self.roots = WeakIdKeyDictionary()   # root tensor -> (In[n], line) of the pass that freed it
        self.last_freed: tuple[str, int | None] | None = None
        self.detaches: list[tuple[str, int, str, str]] = []  # (In[n], line, target, source)


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shell_state(shell) -> ShellState:
    state = _STATES.get(shell)
    if state is None:
        state = _STATES[shell] = ShellState()
    return state


def _is_nonzero(grad: torch.Tensor) -> bool:
    try:
        return bool(grad.detach().any())
    except Exception:
        return False


class BackwardWatch:
    def __init__(self, run, sink, locator, state: ShellState, accumulate: bool) -> None:
        self.run = run
        self.sink = sink
        self.loc = locator
        self.state = state
        self.accumulate = accumulate
        self.calls = 0
        self.current: tuple[str, int] | None = None   # (filename, line) of the running pass
        self.hooked: dict[int, tuple[weakref.ref, object]] = {}
        self.originals: dict[str, object] = {}
        self.wrappers: dict[str, object] = {}
        self._names: dict[int, str] = {}  # id(leaf) -> its name ('' when it has none)

    # ---- install / remove ----------------------------------------------------------
    def install(self, stack) -> None:
        autograd = torch.autograd
        self.originals = {"backward": autograd.backward, "grad": autograd.grad}
        backward, grad = self.originals["backward"], self.originals["grad"]

        def watched_backward(*args, **kwargs):
            __tracebackhide__ = True  # noqa: F841  (IPython hides this frame)
            return self._run(backward, args, kwargs, "backward")

        def watched_grad(*args, **kwargs):
            __tracebackhide__ = True  # noqa: F841
            return self._run(grad, args, kwargs, "grad")

        watched_backward.__wrapped__ = backward
        watched_grad.__wrapped__ = grad
        self.wrappers = {"backward": watched_backward, "grad": watched_grad}
        autograd.backward, autograd.grad = watched_backward, watched_grad
        stack.callback(self.uninstall)

    def uninstall(self) -> None:
        for name, wrapper in self.wrappers.items():
            if getattr(torch.autograd, name) is wrapper:
                setattr(torch.autograd, name, self.originals[name])
        for ref, handle in self.hooked.values():
            handle.remove()
        self.hooked.clear()
        self._names.clear()

    # ---- each pass -----------------------------------------------------------------
    def _run(self, original, args, kwargs, which: str):
        __tracebackhide__ = True  # noqa: F841
        site = self.loc.call_site(2)
        tensors = args[0] if args else kwargs.get("tensors" if which == "backward" else "outputs")
        self.calls += 1
        if self.accumulate and which == "backward" and self.calls & (self.calls - 1) == 0:
            self._hook_leaves(roots_of(tensors))
        outer, self.current = self.current, site
        try:
            result = original(*args, **kwargs)
        finally:
            self.current = outer
        retain, create = _retain_create(args, kwargs, which)
        if not (retain if retain is not None else create):
            where = (self.loc.cell(site[0]), site[1]) if site else (self.run.cell, None)
            for root in roots_of(tensors):
                if root.grad_fn is not None:
                    self.state.roots[root] = where
            self.state.last_freed = where
        return result

    def _hook_leaves(self, roots: list[torch.Tensor]) -> None:
        for leaf in leaves(roots):
            known = self.hooked.get(id(leaf))
            if known is not None and known[0]() is leaf:
                continue
            record = self.state.grads.get(leaf)
            if record is None:
                record = self.state.grads[leaf] = GradRecord()
            try:
                handle = leaf.register_hook(self._hook(weakref.ref(leaf), record))
            except Exception:  # a tensor subclass that takes no hooks
                continue
            self.hooked[id(leaf)] = (weakref.ref(leaf), handle)

    def _hook(self, ref: weakref.ref, record: GradRecord):
        def before_accumulate(grad):
            leaf = ref()
            if leaf is not None:
                self._before(leaf, record, grad)
            return None
        return before_accumulate

    def _before(self, leaf: torch.Tensor, record: GradRecord, incoming: torch.Tensor) -> None:
        site = self.current
        where = (self.loc.cell(site[0]), site[1]) if site else (self.run.cell, None)
        old = leaf.grad
        if old is None:  # autograd keeps the incoming gradient itself when it can
            record.pointer, record.version = _pointer(incoming), incoming._version
            record.passes, record.first = 1, where
            return
        pointer = _pointer(old)
        mine = pointer is not None and pointer == record.pointer
        fresh = (old._version != record.version) if mine else False
        if not fresh:
            fresh = not _is_nonzero(old)
        if fresh:
            record.passes, record.first = 1, where
        else:
            record.passes = max(record.passes, 1) + 1
            if record.first is None:
                record.first = where
            self._report(leaf, record, site)
        record.pointer, record.version = pointer, old._version + 1

    def _report(self, leaf: torch.Tensor, record: GradRecord, site) -> None:
        filename, line = site if site else (None, None)
        variable = self._name(leaf)
        cell, first_line = record.first
        first = where_text(self.run.cell, cell, first_line)
        shown = variable or t("pitfalls.accumulated.anon", shape=_shape(leaf))
        message = t("pitfalls.accumulated.message", var=shown, passes=record.passes, first=first)
        fix = t("pitfalls.accumulated.fix", var=variable or "x")
        old = self.sink.get("grad-accumulated", filename, line, variable)
        if old is not None:
            old.count += 1
            old.message = message
            return
        self.sink.add("grad-accumulated", variable, filename, line, message, fix, when="now")

    def _name(self, leaf: torch.Tensor) -> str:
        """The leaf's pasteable name (looked up once per leaf and cell)."""
        name = self._names.get(id(leaf))
        if name is None:
            found = names_mod.names_by_id(self.run.namespace).get(id(leaf), [])
            written = [n for n in found if n in self.run.source.text]
            name = self._names[id(leaf)] = (written or found or [""])[0]
        return name


def _pointer(tensor: torch.Tensor) -> int | None:
    try:
        return tensor.data_ptr() or None
    except Exception:  # no storage (some tensor subclasses)
        return None


def _retain_create(args, kwargs, which: str) -> tuple[object, bool]:
    at = 2 if which == "backward" else 3
    retain = args[at] if len(args) > at else kwargs.get("retain_graph")
    create = args[at + 1] if len(args) > at + 1 else kwargs.get("create_graph", False)
    return retain, bool(create)


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in tensor.shape) + ")"
