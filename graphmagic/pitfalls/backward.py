"""Backward passes of a cell: ``grad-accumulated`` and where each graph was freed.

For the cell only, ``torch.autograd.backward`` and ``torch.autograd.grad`` are wrapped
(``Tensor.backward`` calls the former) to note the cell line of each pass and which roots
it freed (for ``backward-twice``). On the 1st, 2nd, 4th, 8th ... pass the graph is walked
to learn its leaves. Around each ``backward`` pass each known leaf's ``.grad`` is read
(no tensor hooks, no work on autograd's threads); a leaf whose ``.grad`` the pass
changed had, before it:

- ``None``: a fresh sum started (``zero_grad()`` sets grads to None);
- the memory our last pass left, changed in place since (version moved): zeroed;
- otherwise (same version: ``x.grad.data.zero_()`` does not move it; or a grad set
  elsewhere): its values decide -- the only case that costs a device sync, once per
  state of a leaf's ``.grad``.

Across cells the state lives in weak-keyed tables on a per-shell object; the wrappers are
removed after the cell.
"""
from __future__ import annotations

import ast
import sys
import weakref
from collections import deque

import torch

from ..tensors import names as names_mod
from ..tensors.info import computing, data_ptr, is_tensor, reading, shape_str
from ..messages import t
from ..tensors.walk import leaves, roots_of
from .sink import where_text
from .hooks import take_autograd
from .state import GradRecord, PitfallState


def _is_nonzero(grad: torch.Tensor) -> bool:
    try:
        with computing():  # the user's modes do not see this
            return not grad._python_dispatch and bool(grad.detach().any())
    except Exception:
        return False


def _pointer(tensor: torch.Tensor) -> int | None:
    return data_ptr(tensor) or None  # None: no storage (some tensor subclasses)


class BackwardWatch:
    def __init__(self, ctx, sink, locator, state: PitfallState, accumulate: bool) -> None:
        self.ctx = ctx
        self.sink = sink
        self.loc = locator
        self.state = state
        self.accumulate = accumulate
        self.calls = 0
        self.known: list[tuple[weakref.ref, GradRecord]] = []  # leaves learnt in this cell
        self._known_ids: dict[int, weakref.ref] = {}
        self.freed: deque = deque(maxlen=64)  # (weakref to root, site) of this cell's passes
        self.last_freed: tuple[str, int] | None = None
        self._names: dict[int, str] = {}  # id(leaf) -> its name ('' when it has none)
        self.pending: dict[int, tuple[weakref.ref, GradRecord]] = {}
        self.steps = False  # the cell calls .step(), or an optimizer is at hand
        self._written: set[str] | None = None

    # ---- install / remove ----------------------------------------------------------
    def install(self, stack) -> None:
        take_autograd(stack, "backward", self.watched_backward)
        take_autograd(stack, "grad", self.watched_grad)
        stack.callback(self.uninstall)
        self.steps = _calls_step(self.ctx.source.tree) or any(
            issubclass(type(v), torch.optim.Optimizer) for v in list(self.ctx.namespace.values()))

    def uninstall(self) -> None:
        self._keep_freed()
        self.known.clear()
        self._known_ids.clear()
        self._names.clear()

    def watched_backward(self, original, *args, **kwargs):
        __tracebackhide__ = True  # noqa: F841  (IPython hides this frame)
        return self._watched("backward", original, args, kwargs)

    def watched_grad(self, original, *args, **kwargs):
        __tracebackhide__ = True  # noqa: F841
        return self._watched("grad", original, args, kwargs)

    def _watched(self, which: str, original, args, kwargs):
        __tracebackhide__ = True  # noqa: F841
        at = 2 if which == "backward" else 3  # position of retain_graph
        accumulate = self.accumulate and which == "backward"
        filename, cells = self.loc.filename, self.loc.cells
        frame = sys._getframe(3)
        while frame is not None:
            name = frame.f_code.co_filename
            if name == filename or name in cells:
                break
            frame = frame.f_back
        site = (frame.f_code.co_filename, frame.f_lineno) if frame is not None else None
        del frame
        tensors = args[0] if args else kwargs.get("tensors" if which == "backward" else "outputs")
        if accumulate:
            with reading():  # subclass __torch_function__ off
                before = self._before(tensors)
        else:
            before = None
        result = original(*args, **kwargs)
        if before:
            with reading():
                self._after(before, site)
        retain = args[at] if len(args) > at else kwargs.get("retain_graph")
        if retain is None:
            retain = args[at + 1] if len(args) > at + 1 else kwargs.get("create_graph", False)
        if not retain:
            if is_tensor(tensors):
                self.freed.append((weakref.ref(tensors), site))
            else:
                self.freed.extend((weakref.ref(root), site) for root in roots_of(tensors))
            self.last_freed = site
        return result

    # ---- backward-twice: which pass freed a graph ------------------------------------
    def freed_at(self, tensor: object) -> tuple[str, int | None] | None:
        """``(In[n], line)`` of the backward pass that freed ``tensor``'s graph, else of the
        last pass that freed any graph."""
        if is_tensor(tensor):
            for ref, site in reversed(self.freed):
                if ref() is tensor:
                    return self._label(site)
            known = self.state.roots.get(tensor)
            if known is not None:
                return known
        return self._label(self.last_freed) if self.last_freed else self.state.last_freed

    def _label(self, site) -> tuple[str, int | None]:
        return (self.loc.cell(site[0]), site[1]) if site else (self.ctx.cell, None)

    def _keep_freed(self) -> None:
        """At the end of the cell: the passes' roots still alive, for later cells."""
        for ref, site in self.freed:
            root = ref()
            if root is not None:
                self.state.roots[root] = self._label(site)
        if self.last_freed:
            self.state.last_freed = self._label(self.last_freed)
        self.freed.clear()

    # ---- grad-accumulated --------------------------------------------------------------
    def _before(self, tensors) -> list:
        """Each known leaf's ``.grad`` before a pass, and whether a sum into it would
        add to gradients not zeroed since."""
        self.calls += 1
        if self.calls & (self.calls - 1) == 0:
            self._learn(roots_of(tensors))
        seen = []
        for ref, record in self.known:
            leaf = ref()
            if leaf is None:
                continue
            old = leaf.grad
            if old is None:
                seen.append((leaf, record, None, None, 0, False))
                continue
            pointer, version = _pointer(old), old._version
            if pointer is not None and pointer == record.pointer and version != record.version:
                summing = False  # changed in place since our last pass: zeroed
            elif record.tested is not None and record.tested[:2] == (pointer, version):
                summing = record.tested[2]
            else:
                summing = _is_nonzero(old)
                record.tested = (pointer, version, summing)
            seen.append((leaf, record, old, pointer, version, summing))
        return seen

    def _after(self, seen: list, site) -> None:
        """A sum right after the leaf was updated (a step used the old grad, nobody zeroed
        it) is reported now; a sum with no update since may be intended accumulation: if
        an optimizer can step, it waits until the leaf's next pass (updated, then zeroed:
        fine) or the cell's end."""
        for leaf, record, old, pointer, version, summing in seen:
            new = leaf.grad
            if new is None or (new is old and new._version == version):
                continue  # this pass did not reach the leaf
            updated = record.leaf_version not in (-1, leaf._version)
            if record.pending is not None:
                pending, record.pending = record.pending, None
                self.pending.pop(id(leaf), None)
                if not summing and updated:
                    record.intended = True  # summed, used by a step, zeroed: accumulation
                elif not summing:
                    self._report(leaf, record, pending)  # summed, then dropped unused
            if summing:
                record.passes = max(record.passes, 1) + 1
                if record.first is None:
                    record.first = site
                if updated or not (self.steps or record.intended):
                    self._report(leaf, record, site)
                else:
                    record.pending = site
                    self.pending[id(leaf)] = (weakref.ref(leaf), record)
            else:
                record.passes, record.first = 1, site
            record.pointer, record.version = _pointer(new), new._version
            record.leaf_version = leaf._version

    def finish(self) -> None:
        """After the cell: sums no step used (unless the leaf accumulates on purpose)."""
        pending, self.pending = list(self.pending.values()), {}
        for ref, record in pending:
            leaf, site = ref(), record.pending
            record.pending = None
            if leaf is not None and site is not None and not record.intended:
                self._report(leaf, record, site, when="after")

    def _learn(self, roots: list[torch.Tensor]) -> None:
        self.known = [(ref, record) for ref, record in self.known if ref() is not None]
        for leaf in leaves(roots):
            ref = self._known_ids.get(id(leaf))
            if ref is not None and ref() is leaf:
                continue
            record = self.state.grads.get(leaf)
            if record is None:
                record = self.state.grads[leaf] = GradRecord()
            ref = weakref.ref(leaf)
            self._known_ids[id(leaf)] = ref
            self.known.append((ref, record))

    def _report(self, leaf: torch.Tensor, record: GradRecord, site, when: str = "now") -> None:
        filename, line = site if site else (None, None)
        variable = self._name(leaf)
        first = where_text(self.ctx.cell, *self._label(record.first))
        shown = variable or t("pitfalls.accumulated.anon", shape=shape_str(leaf))
        message = t("pitfalls.accumulated.message", var=shown, passes=record.passes, first=first)
        fix = t("pitfalls.accumulated.fix", var=variable or "x")
        old = self.sink.get("grad-accumulated", filename, line, variable)
        if old is not None:
            old.count += 1
            old.message = message
            return
        self.sink.add("grad-accumulated", variable, filename, line, message, fix, when=when)

    def _name(self, leaf: torch.Tensor) -> str:
        """The leaf's pasteable name (looked up once per leaf and cell)."""
        name = self._names.get(id(leaf))
        if name is None:
            found = names_mod.names_by_id(self.ctx.namespace).get(id(leaf), [])
            if self._written is None:
                self._written = _expressions(self.ctx.source.tree)
            written = [n for n in found if n in self._written]
            name = self._names[id(leaf)] = (written or found or [""])[0]
        return name


def _calls_step(tree) -> bool:
    return tree is not None and any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr == "step" for node in ast.walk(tree))


def _expressions(tree) -> set[str]:
    """Names, attributes and subscripts as the cell writes them (``model[0].weight``)."""
    if tree is None:
        return set()
    return {ast.unparse(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript))}

