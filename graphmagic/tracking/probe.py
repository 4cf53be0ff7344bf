"""Which tensors a cell created, rebound, changed in place or deleted, and what shares storage.

``TrackingProbe(ctx)`` snapshots every tensor the namespace reaches (``names.named_tensors``:
variables, module parameters and buffers, optimizer state, list/tuple/dict entries) as plain
facts plus weak references; ``collect`` snapshots again (adding the cell's result as
``Out[n]``), compares, and returns a ``Tracking`` object, which the cell's lifecycle hands to the
variables section, the graph and memory:

- ``changed``: ``{name: 'new' | 'rebound' | 'in-place' | 'deleted'}`` (pasteable names).
- ``details``: ``{name: code}`` for changed names: ``new-memory``, ``same-storage``,
  ``shares-storage``, ``same-tensor``, ``via-data`` (``x.data += 1``: the version counter did
  not move, autograd did not see it), ``storage-replaced`` (``x.data = t``), ``via-alias``
  (changed through another name sharing its storage), ``new-then-in-place`` (status new),
  ``new-then-via-alias``, ``temporary``
  (``Z[:] = X + Y``), ``result``, ``freed``, ``still-referenced`` ('' when none).
- ``aliases``: ``aliasing.AliasGroup`` list (names sharing one storage, with how: ``same
  tensor``, ``view``, ``slice``, ``detach``, ``.data``, ``shares storage``).
- ``before`` / ``after``: ``{name: snapshot.TensorFacts}``: id, version, storage key, shape,
  dtype, device, bytes, requires_grad, is_leaf, grad_fn name, retains_grad, grad set (+ its
  id and version), ``_base`` id, inference.
- ``lines``: ``{name: [sites.LineRef]}`` responsible lines; ``exact_lines`` is True under
  ``--trace`` (lines seen running) and False when they are read from the code.
- ``state_changes``: ``{name: [field]}`` autograd-state changes of tensors whose data did not
  change (``requires_grad``, ``is_leaf``, ``grad_fn``, ``retains_grad``, ``grad``).
- ``unchanged``: names of tensors the cell did not touch.

Nothing in it refers to a tensor: after the cell only ids, versions and plain data remain.
While the cell runs, ``TrackingProbe.before`` holds the before ``Snapshot`` (plain facts plus
weak references), which memory and ``--trace`` start from.
"""
from __future__ import annotations

import gc
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import torch

from . import aliasing
from ..tensors import snapshot
from ..tensors.info import is_tensor
from ..tensors.names import entries, named_tensors
from ..code.sites import CellCode, LineRef, root_of
from ..tensors.snapshot import Snapshot, TensorFacts

STATUSES = ("new", "rebound", "in-place", "deleted")
STATE_FIELDS = ("requires_grad", "is_leaf", "grad_fn", "retains_grad")


@dataclass
class Tracking:
    cell: str = ""
    changed: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    detail_args: dict[str, dict] = field(default_factory=dict)
    aliases: list[aliasing.AliasGroup] = field(default_factory=list)
    before: dict[str, TensorFacts] = field(default_factory=dict)
    after: dict[str, TensorFacts] = field(default_factory=dict)
    lines: dict[str, list[LineRef]] = field(default_factory=dict)
    state_changes: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    exact_lines: bool = False
    former: dict[int, tuple[str, int | None]] = field(default_factory=dict)  # see compare()
    grad_lines: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def status(self, name: str) -> str:
        return self.changed.get(name, "unchanged")

    def shares_storage_with(self, name: str) -> list[tuple[str, str]]:
        """``[(other, how)]`` for the names sharing ``name``'s storage."""
        out = []
        for g in self.aliases:
            if name in g.members:
                for n, o, how in g.relations:
                    if n == name:
                        out.append((o, how))
                    elif o == name:
                        out.append((n, how))
        return out


def result_tensors(result, cell_number: int) -> list[tuple[str, torch.Tensor]]:
    """The cell's value as ``Out[n]`` names, when it is a tensor or a tuple/list of them."""
    if is_tensor(result):
        return [(f"Out[{cell_number}]", result)]
    items = entries(result, 10_001)  # the built-in list/tuple methods, never an override
    if len(items) > 10_000:
        return []
    return [(f"Out[{cell_number}][{i}]", v) for i, v in enumerate(items) if is_tensor(v)]


@dataclass
class Trace:
    """What ``--trace`` saw (filled by linetrace): exact lines per name."""
    inplace: dict[str, list[LineRef]] = field(default_factory=dict)
    bound: dict[str, list[LineRef]] = field(default_factory=dict)


def compare(before: Snapshot, after: Snapshot, current: dict[str, torch.Tensor],
            code: CellCode, digests: dict[str, bytes | None] | None = None,
            trace: Trace | None = None, result_names: frozenset[str] = frozenset(),
            known: dict[str, tuple] | None = None, now: dict[str, str] | None = None) -> Tracking:
    """Classify every name of ``before`` and ``after``. ``current`` maps the after names to
    their tensors (used only during the call, to tell a reused id from the same object).
    ``known``: relations remembered from earlier cells (see ``remember_relations``).
    ``now``: for a name that no longer holds a tensor but still exists, the type it holds."""
    digests = digests or {}
    tr = Tracking(cell=code.cell, before=dict(before.facts), after=dict(after.facts),
                  exact_lines=trace is not None)
    tr.aliases = aliasing.groups(after, {**_still_valid(known or {}, after), **code.alias_rhs})
    loose = code.loose_data_sites(before.facts)
    before_storages = {f.storage for f in before.facts.values() if f.storage is not None}

    def mark(name, status, detail="", lines=(), **args):
        tr.changed[name] = status
        tr.details[name] = detail
        if args:
            tr.detail_args[name] = args
        tr.lines[name] = list(lines)

    for name, a in after.facts.items():
        b = before.facts.get(name)
        obj = current.get(name)
        traced_bind = trace.bound.get(name) if trace else None
        if name in result_names:
            others = [n for n in after.names.get(a.id, []) if n != name and n not in result_names]
            others += [f"{n}.grad" for n, f in after.facts.items()
                       if f.grad_id == a.id and n not in result_names]   # x.grad as Out[n]
            if others:
                mark(name, "new", "same-tensor", code.result_line(), other=others[0])
            else:
                mark(name, "new", "result", code.result_line())
            continue
        if b is None:
            detail, args = _new_detail(name, a, obj, before, before_storages)
            lines = traced_bind or code.bound(name)
            inplace_lines = _inplace_lines(name, code, trace)
            first = min((r.line for r in lines), default=0)
            later = [r for r in inplace_lines if r.line > first or r.cell != code.cell]
            if a.version and later and detail != "same-tensor":
                mark(name, "new", "new-then-in-place", lines + later, at=later[0].line,
                     rhs=_temporary(name, code))
            else:
                mark(name, "new", detail, lines, **args)
            continue
        same = a.id == b.id and before.alive(b.id) is obj and obj is not None
        if not same:
            detail, args = _rebound_detail(a, b, before, after, before_storages)
            lines = traced_bind or code.bound(name)
            first = min((r.line for r in lines), default=0)
            later = [r for r in _inplace_lines(name, code, trace) if r.line > first or r.cell != code.cell]
            if a.version and later:   # bound anew, then changed in place: say both
                args["then_at"] = later[0].line
                lines = lines + later
            mark(name, "rebound", detail, lines, **args)
            _note_former(tr, name, b, before, after)
            continue
        if a.storage != b.storage:
            mark(name, "in-place", "storage-replaced", code.changed_in_place(name, via_data=True)
                 or _inplace_lines(name, code, trace))
        elif a.version is not None and b.version is not None and a.version != b.version:
            rhs = _temporary(name, code)
            mark(name, "in-place", "temporary" if rhs else "", _inplace_lines(name, code, trace),
                 **({"rhs": rhs} if rhs else {}))
        elif code.data_sites(name) and (name not in digests or digests[name] is None
                                         or digests[name] != snapshot.digest(obj)):
            mark(name, "in-place", "via-data", code.changed_in_place(name, via_data=True))
        elif loose and digests.get(name) is not None and digests[name] != snapshot.digest(obj):
            mark(name, "in-place", "via-data", code.refs(loose))
        else:
            changes = _state_changes(a, b)
            if changes:
                tr.state_changes[name] = changes
                if "grad" in changes:
                    tr.grad_lines[name] = _grad_lines(name, code)
            tr.unchanged.append(name)

    gone = [(name, b) for name, b in before.facts.items() if name not in after.facts]
    went = _where_they_went(before, [b.id for name, b in gone if not (now and name in now)])
    for name, b in gone:
        if now and name in now:   # u = 'text': the name is bound to something else
            mark(name, "rebound", "now-a", code.bound(name), type=now[name])
        else:
            mark(name, "deleted", went[b.id], code.removed(name))
        _note_former(tr, name, b, before, after)

    _propagate_through_aliases(tr)
    return tr


def _where_they_went(before: Snapshot, ids: list[int]) -> dict[int, str]:
    """For deleted tensors: ``freed``; ``still-referenced`` when a Python object outside
    graphmagic holds it (a list, a dict, IPython's Out); ``kept-by-torch`` when only
    PyTorch itself does (an autograd graph that uses it: C++'s reference, no Python
    container's). One scan of the heap for all of them (``gc.get_referrers``, no collection)."""
    alive = {}
    for i in ids:
        tensor = before.alive(i)
        if tensor is not None:
            alive[i] = tensor
    out = {i: "freed" for i in ids if i not in alive}
    if not alive:
        return out
    ours = str(Path(__file__).resolve().parent.parent)
    held: set[int] = set()
    tensors = tuple(alive.values())
    for holder in gc.get_referrers(*tensors):
        if holder is alive or holder is tensors or (
                isinstance(holder, FrameType) and holder.f_code.co_filename.startswith(ours)):
            continue
        held.update(id(r) for r in gc.get_referents(holder) if id(r) in alive)
    probe = object()
    base = sys.getrefcount(probe) + 2   # a local, the argument, ``alive`` and ``tensors``
    for i, tensor in alive.items():
        if i in held:
            out[i] = "still-referenced"
        else:
            out[i] = "kept-by-torch" if sys.getrefcount(tensor) > base else "freed"
    return out


def _grad_lines(name: str, code: CellCode) -> tuple[int | None, int | None]:
    """``(zeroed at, backward at)``: the first line of this cell that zeroes ``name.grad``
    (``.zero_()``, ``zero_grad()``, or a function ``name`` is passed to, such as
    ``sgd([w, b], lr)``), and the first backward() line after it (or at all)."""
    facts = code.facts
    grad = f"{name}.grad"
    zeroing = [s.line for s in facts.inplace.get(grad, ())]
    zeroing += [s.line for s in facts.data_mutations if s.expr == grad]
    zeroing += [s.line for s in facts.zero_grads]
    zeroing += [s.line for s in facts.passed.get(root_of(name), ())]
    backward = sorted(s.line for s in facts.backward_calls)
    zero = min(zeroing) if zeroing else None
    after = [line for line in backward if zero is None or line > zero]
    return zero, (after[0] if after else (backward[0] if backward else None))


def _note_former(tr: Tracking, name: str, b: TensorFacts, before: Snapshot, after: Snapshot) -> None:
    """``former[id] = (name, line)``: the tensor ``name`` held before the cell rebound or
    deleted it at ``line``, still alive now (the graph labels it ``x (before line 3)``)."""
    if b.id not in tr.former and before.alive(b.id) is not None and b.id not in after.names:
        lines = [r.line for r in tr.lines.get(name, []) if r.cell == tr.cell]
        tr.former[b.id] = (name, min(lines) if lines else None)


def _inplace_lines(name: str, code: CellCode, trace: Trace | None) -> list[LineRef]:
    """Where ``name`` was changed in place: --trace's lines, else the cell's in-place
    sites, else the lines of this cell that passed it to a function (``sgd([w, b], lr)``
    changes w inside a function of an earlier cell: the calling line is the useful one)."""
    if trace is not None and trace.inplace.get(name):
        lines = trace.inplace[name]
        if all(r.cell == code.cell for r in lines):
            return lines
        calls = code.refs(code.facts.passed.get(root_of(name), ()))
        return [r for r in lines if r.cell == code.cell] + calls or lines
    return code.changed_in_place(name) or code.refs(code.facts.passed.get(root_of(name), ()))


def _temporary(name: str, code: CellCode) -> str:
    """The right side of ``name[...] = <computed>`` (it allocated a temporary), or ''."""
    return next((s.detail for s in code.facts.computed_slice_assigns if s.expr == name), "")


def _new_detail(name, a, obj, before, before_storages):
    if obj is not None and before.alive(a.id) is obj:  # not a freed tensor's reused id
        others = [n for n in before.names.get(a.id, []) if n != name]
        return "same-tensor", {"other": others[0] if others else "?"}
    if a.storage is not None and a.storage in before_storages and before.storage_alive(a.storage):
        others = [n for n, f in before.facts.items() if f.storage == a.storage]
        return "shares-storage", {"other": others[0]}
    return "new-memory", {}


def _rebound_detail(a, b, before, after, before_storages):
    if a.storage is not None and a.storage == b.storage:
        return "same-storage", {}
    if a.storage is not None and a.storage in before_storages and before.storage_alive(a.storage):
        others = [n for n, f in before.facts.items() if f.storage == a.storage]
        return "shares-storage", {"other": others[0]}
    return "new-memory", {}


def _state_changes(a: TensorFacts, b: TensorFacts) -> list[str]:
    changes = [f for f in STATE_FIELDS if getattr(a, f) != getattr(b, f)]
    if a.grad != b.grad or a.grad_id != b.grad_id or a.grad_version != b.grad_version:
        changes.append("grad")
    return changes


def _propagate_through_aliases(tr: Tracking) -> None:
    """A tensor sharing storage with one changed in place was changed too."""
    for group in tr.aliases:
        direct = [m for m in group.members if (tr.changed.get(m) == "in-place"
                  and tr.details.get(m) != "via-alias") or tr.details.get(m) == "new-then-in-place"]
        if not direct:
            continue
        source = direct[0]
        for m in group.members:
            if tr.after[m].id == tr.after[source].id:
                continue
            if m in tr.changed:  # new in this cell, then changed through the alias
                if tr.changed[m] != "new" or not tr.after[m].version:
                    continue
                first = min((r.line for r in tr.lines.get(m, [])), default=0)
                if not any(r.line > first or r.cell != tr.cell for r in tr.lines.get(source, [])):
                    continue  # the change came before this name existed
                tr.details[m] = "new-then-via-alias"
                tr.detail_args[m] = {"other": source}
                tr.lines[m] = tr.lines.get(m, []) + tr.lines.get(source, [])
            else:
                tr.unchanged.remove(m)
                tr.state_changes.pop(m, None)
                tr.details[m] = "via-alias"
                tr.detail_args[m] = {"other": source}
                tr.lines[m] = list(tr.lines.get(source, []))
                tr.changed[m] = "in-place"


REMEMBERED = ("detach", ".data")


def _still_valid(known: dict[str, tuple], snap: Snapshot) -> dict[str, tuple[str, str]]:
    """The remembered ``{name: (how, source)}`` whose two names still hold the same tensors."""
    out = {}
    for name, (how, source, name_id, source_id) in known.items():
        a, b = snap.facts.get(name), snap.facts.get(source)
        if a is not None and b is not None and a.id == name_id and b.id == source_id:
            out[name] = (how, source)
    return out


def remember_relations(known: dict[str, tuple], tr: Tracking) -> None:
    """Keep the detach/.data relations of ``tr`` (plain names and ids) for later cells."""
    valid = _still_valid(known, Snapshot(facts=tr.after))
    known.clear()
    known.update({n: (h, s, tr.after[n].id, tr.after[s].id) for n, (h, s) in valid.items()})
    for g in tr.aliases:
        for name, other, how in g.relations:
            if how in REMEMBERED and not name.startswith("Out["):
                known[name] = (how, other, tr.after[name].id, tr.after[other].id)


class TrackingProbe:
    """Snapshot before the body (at construction); compare after it (see the module docstring)."""

    def __init__(self, ctx) -> None:
        self.code = CellCode(ctx.code, ctx.source.tree, ctx.cell)
        named = list(named_tensors(ctx.namespace))
        self.before = snapshot.take(named, keep_refs=True)
        wanted = {s.expr for s in self.code.facts.data_mutations}
        if self.code.loose_data_sites(self.before.facts):  # any tensor may change via .data
            self.digests = snapshot.digests(named)
        else:
            self.digests = {name: snapshot.digest(t) for name, t in named if name in wanted}

    def collect(self, ctx, end, trace: Trace | None) -> Tracking:
        result = result_tensors(end.result, ctx.execution_count)
        named = end.named + result
        current = dict(named)
        after = snapshot.take(named)
        known = ctx.state.relations
        ns = ctx.namespace
        now = {name: type(ns[name]).__name__ for name in self.before.facts
               if name not in after.facts and name.isidentifier() and name in ns}
        tracking = compare(self.before, after, current, self.code, self.digests, trace,
                           frozenset(n for n, _ in result), known, now)
        remember_relations(known, tracking)
        return tracking
