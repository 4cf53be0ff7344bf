"""Backward passes of a cell: what was differentiated, ``grad-accumulated``, and where each
graph was freed.

For the cell only, every pass of ``torch.autograd.backward`` and ``torch.autograd.grad``
(``Tensor.backward`` calls the former) is announced here before and after it runs
(``hooks.take_engine``). A pass inside a pass (reentrant checkpointing's)
and one torch makes itself (``torch.compile`` tracing a backward graph) go straight
through. Each pass the cell makes notes:

- its cell line and the roots it differentiated, held by weak reference, labelled by the
  expression the cell wrote (``(x * x).sum()``); on a call site's 1st, 8th, 64th ... pass
  the root's graph is captured as plain data (``graph/fragment.py``), for a root that is
  gone by the end of the cell (``differentiated()``, read by the graph part);
- which roots it freed (for ``backward-twice``);
- ``grad-accumulated``: on the 1st, 2nd, 4th ... pass the graph is walked to learn its
  leaves (and, while they have one, their names). Each known leaf's ``.grad`` is read
  before the pass (no tensor hooks, no work on autograd's threads). When all of them are
  None (``zero_grad()``) nothing can add up. A leaf whose ``.grad`` the pass changed had,
  before it:

  - ``None``: a fresh sum started;
  - the memory our last look left, changed in place since (version moved): zeroed;
  - otherwise (same version: ``x.grad.data.zero_()`` does not move it; a grad set
    elsewhere): its values decide -- the only case that costs a device sync, once per
    state of a leaf's ``.grad``.

  After 16 passes in a row that summed nothing, the leaves are looked at on 1 pass in 8 (2
  in a row where ``.grad`` is zeroed in place); the versions tell what the passes in between
  did.

  Findings are one per model (its parameters), optimizer (the tensors it updates) or
  leaf, naming which tensors and giving the fix the cell can use.

Across cells the state lives in weak-keyed tables on a per-shell object; the routing is
removed after the cell.
"""
from __future__ import annotations

import ast
import os
import sys
import weakref
from functools import partial
from itertools import repeat
from operator import attrgetter, call, is_not

import torch

from ..code.frames import frame_scopes, resolve
from ..code.pitfalls import operands
from ..code.sites import natural_key, root_of
from ..messages import t
from ..tensors import names as names_mod
from ..tensors.info import computing, dims_text, is_tensor, reading
from ..tensors.walk import leaves, roots_of
from .hooks import ENGINE_HOOK, skipped_by_warnings, take_autograd, take_engine
from .sink import is_ours, where_text
from .state import GradRecord, Made, PitfallState

MAX_SITES = 64      # call sites whose roots are kept per cell
STEADY, SAMPLE = 16, 8  # after 16 passes in a row that summed nothing, look at 1 in every 8
# (2, in pairs, where .grad is zeroed in place: the first one's state is the second one's base)
_GRAD = attrgetter("grad")
_PLAIN = (torch.Tensor, torch.nn.Parameter)
_TORCH = os.path.dirname(torch.__file__) + os.sep   # as code objects name their files
_TENSOR_BACKWARD = torch.Tensor.backward.__code__
_BACKWARD = torch.autograd.backward.__code__
_ENGINE = getattr(getattr(torch.autograd.graph, "_engine_run_backward", None), "__code__", None)
# where torch.autograd.backward/grad and grad's batched vjp live (compiled file names)
_ENTRY_FILES = frozenset(m.__file__ for m in (torch.autograd, torch._vmap_internals))
NAMES_SHOWN = 4     # tensors named in a grouped finding


def _is_nonzero(grad: torch.Tensor) -> bool:
    try:
        with computing():  # the user's modes do not see this
            return not grad._python_dispatch and bool(grad.detach().any())
    except Exception:
        return False


def _ref(tensor: torch.Tensor):
    """A weak reference to ``tensor`` (a dead one for the odd object that has none)."""
    try:
        return weakref.ref(tensor)
    except TypeError:
        return _DEAD


def _dead():
    return None


_DEAD = _dead


def _engine_retain(engine) -> bool:
    """``retain_graph`` as torch's engine entry was given it (``backward``/``grad`` have
    made it ``create_graph`` when it was None)."""
    args = engine.f_locals["args"]
    return bool(args[1]) if len(args) > 1 else False


def _written_retain(call: str | None) -> bool | None:
    """``retain_graph`` of a ``tensor.backward(...)`` call as written: True or False where
    the call says (or leaves it to its default), None where only the run can tell."""
    try:
        node = ast.parse((call or "").strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args) \
            or any(k.arg is None for k in node.keywords):
        return None
    given = dict(zip(("gradient", "retain_graph", "create_graph"), node.args))
    given.update((k.arg, k.value) for k in node.keywords)
    values = []
    for name, default in (("retain_graph", None), ("create_graph", False)):
        value = given.get(name)
        if value is None:
            values.append(default)
        elif isinstance(value, ast.Constant) and value.value in (True, False, None):
            values.append(value.value)
        else:
            return None   # a variable: only the run can tell
    retain, create = values
    return bool(create) if retain is None else bool(retain)


class Differentiated:
    """The latest tensor differentiated at one call site: plain data and weak references."""
    __slots__ = ("label", "cell", "line", "ref", "fragment", "passes", "operands", "retained",
                 "next_capture")

    def __init__(self, label: str, cell: str, line: int | None, operands: list[str]) -> None:
        self.label = label              # the expression as written, e.g. (x * x).sum()
        self.cell = cell
        self.line = line
        self.ref: weakref.ref | None = None
        self.fragment = None            # graph.fragment.Fragment of a recent pass
        self.passes = 0
        self.operands = operands        # the names the expression computes from
        self.retained = False           # the latest pass kept the graph (retain_graph=True)
        self.next_capture = 1           # the pass whose graph is captured next

    def root(self) -> torch.Tensor | None:
        return self.ref() if self.ref is not None else None


class BackwardWatch:
    def __init__(self, ctx, sink, locator, state: PitfallState, accumulate: bool) -> None:
        self.ctx = ctx
        self.sink = sink
        self.loc = locator
        self.state = state
        self.accumulate = accumulate
        self.record_roots = bool(getattr(ctx.options, "show_graph", False))
        self._files = (locator.filename, locator.cells)   # the cells' code: where a pass comes from
        self._at: dict[tuple, list] = {}   # (id(code), instruction) -> a call site (_slot)
        self.calls = 0                    # this cell's passes (watched for grad-accumulated)
        self.base = 0                     # the shell's passes before this cell
        self.known: list[tuple[weakref.ref, GradRecord]] = []  # leaves learnt in this cell
        self.subclassed = False  # a known leaf is a tensor subclass: read with its hooks off
        self.refs: list[weakref.ref] = []                       # their weak references
        self._known_ids: dict[int, weakref.ref] = {}
        self.quiet = 0                    # looked-at passes in a row that summed nothing
        self.kept = False                 # the last look found a .grad set (not all None)
        self.last_freed: tuple[str, int] | None = None
        self.pending: dict[int, tuple[weakref.ref, GradRecord]] = {}
        self.steps = False  # the cell calls .step(), or an optimizer is at hand
        self.sites: dict[tuple, Differentiated] = {}   # (filename, line[, index]) -> latest root
        self._targets: dict[tuple, list[tuple[str, list[str]]]] = {}
        self._busy = False
        self._owners: tuple | None = None  # see _owner_tables
        self._pass: tuple | None = None   # the pass running now (see _start)

    # ---- install / remove ----------------------------------------------------------
    def install(self, stack) -> None:
        self.base = self.state.passes   # passes of earlier cells: the shell's count goes on
        if ENGINE_HOOK:
            take_engine(stack, self.on_pass)
        else:
            take_autograd(stack, "backward", partial(self._watched, "backward"))
            take_autograd(stack, "grad", partial(self._watched, "grad"))
        stack.callback(self.uninstall)
        self.steps = _calls_step(self.ctx.source.tree) or any(
            issubclass(type(v), torch.optim.Optimizer) for v in list(self.ctx.namespace.values()))

    def uninstall(self) -> None:
        self.state.passes = self.base + self.calls
        self._keep_freed()
        self.known.clear()
        self.refs = []
        self._known_ids.clear()
        self._at.clear()
        self._owners = None
        self._pass, self._busy = None, False

    DEPTH = 5   # frames from on_pass up to the caller of Tensor.backward (see on_pass)

    def on_pass(self, tensors: tuple):
        """Before a pass (``hooks.register_pass``, called by torch's ``_engine_run_backward``
        with the tensors it differentiates): what to call after it, or None when the pass is
        not the cell's.

        The stack: 0 here, 1 ``register_pass``, 2 the engine entry, 3 ``torch.autograd.
        backward`` or ``grad``, 4 ``Tensor.backward``, 5 its caller. Frames are read by depth
        (Python makes an object of each frame read, which costs on its return): at a call site
        already known to be a ``.backward()`` call, frame 5 alone."""
        if self._busy:  # a pass inside a pass (reentrant checkpointing): not the cell's
            return None
        try:
            try:
                frame = sys._getframe(self.DEPTH)
            except ValueError:   # a stack that shallow holds no cell
                return self._first_look(tensors)
            slot = self._at.get((id(frame.f_code), frame.f_lasti))
            if slot is None or not slot[2]:
                del frame
                return self._first_look(tensors)
            retain = slot[3]
            if retain is None:   # as written, only the run tells: read what the engine was given
                retain = _engine_retain(sys._getframe(self.DEPTH - 3))
        except Exception as err:  # never in the user's way: the report says what we missed
            self.ctx.problems.append(f"pitfalls: a backward pass was not watched: {err!r}")
            return None
        return self._start(tensors, retain, True, frame, slot)

    def _first_look(self, tensors: tuple):
        """``on_pass`` the long way: every frame from the engine entry up to the cell."""
        engine = sys._getframe(3)   # 0 here, 1 on_pass, 2 register_pass, 3 the engine entry
        while engine.f_code is not _ENGINE:   # (deeper where something wraps ours)
            engine = engine.f_back
        caller = engine.f_back      # torch.autograd.backward or grad (or grad's batched vjp)
        accumulates = caller.f_code is _BACKWARD
        via_tensor = caller.f_back is not None and caller.f_back.f_code is _TENSOR_BACKWARD
        retain = _engine_retain(engine)
        frame = self._cell_frame(caller)
        if frame is None:
            return None
        slot = self._slot(frame)
        if slot[2] is None:   # frame 5 of on_pass: its fast path from now on
            slot[2] = via_tensor and caller.f_back.f_back is frame
            slot[3] = _written_retain(self.loc.expr_at(frame)) if slot[2] else None
        return self._start(tensors, retain, accumulates, frame, slot)

    def _cell_frame(self, frame):
        """The cell's frame that made this pass (``frame``: the first one above the engine
        entry); None for torch's own pass (``torch.compile`` tracing its backward graph)."""
        filename, cells = self._files
        # torch.autograd.backward/grad (and grad's batched vjp), Tensor.backward: the cell,
        # or a function it called, called them
        while frame is not None and (frame.f_code.co_filename in _ENTRY_FILES
                                     or frame.f_code is _TENSOR_BACKWARD):
            frame = frame.f_back
        while frame is not None:
            code_file = frame.f_code.co_filename
            if code_file == filename or code_file in cells:
                return frame
            if code_file.startswith(_TORCH):
                return None
            frame = frame.f_back
        return None

    def _slot(self, frame) -> list:
        """``[site, its latest Differentiated, called through Tensor.backward, retain_graph
        as written (None: only the run tells), the code (which keeps its id)]`` of a call
        site, found by the code's id and instruction: hashing a code object costs more, and
        f_lineno decodes the line table each time."""
        code = frame.f_code
        where = (id(code), frame.f_lasti)
        slot = self._at.get(where)
        if slot is None:
            slot = self._at[where] = [(code.co_filename, frame.f_lineno), None, None, None, code]
        return slot

    @skipped_by_warnings  # it stands between Tensor.backward and the engine (hooks.py)
    def _watched(self, which: str, original, args: tuple, kwargs: dict):
        """A torch without the engine hook: what its ``torch.autograd.<which>`` trampoline
        calls with ``(original, args, kwargs)``."""
        __tracebackhide__ = True  # noqa: F841  (IPython hides this frame)
        if self._busy:
            return original(*args, **kwargs)
        at = 2 if which == "backward" else 3  # position of retain_graph
        retain = args[at] if len(args) > at else kwargs.get("retain_graph")
        if retain is None:
            retain = args[at + 1] if len(args) > at + 1 else kwargs.get("create_graph", False)
        tensors = args[0] if args else kwargs.get("tensors" if which == "backward" else "outputs")
        frame = self._cell_frame(sys._getframe(2))
        after = self._start(tuple(roots_of(tensors)), retain, which == "backward", frame,
                            self._slot(frame)) if frame is not None else None
        del frame
        try:
            return original(*args, **kwargs)
        finally:
            if after is not None:
                after()

    def _start(self, tensors: tuple, retain: bool, accumulates: bool, frame, slot: list):
        """Note a pass of the cell's (made at ``frame``, the site ``slot``) before it runs;
        returns ``self._end_pass``."""
        site = slot[0]
        self._busy = True
        try:
            before = None
            if self.accumulate and accumulates:
                calls = self.calls = self.calls + 1
                if calls & (calls - 1) == 0:
                    self._learn(roots_of(tensors))
                step = calls & (SAMPLE - 1)
                if self.quiet < STEADY or not step or (step == SAMPLE - 1 and self.kept):
                    before = self._looked(self._before)   # else: the last passes summed nothing (every .grad
                    # None or zeroed before each): they are looked at in pairs, now and then
        except Exception as err:  # never in the user's way: the report says what we missed
            self._busy = False
            self.ctx.problems.append(f"pitfalls: a backward pass was not watched: {err!r}")
            return None
        self._pass = (before, site, slot, frame, tensors, bool(retain), sys.exception())
        return self._end_pass

    def _end_pass(self) -> None:
        """After a pass (also one that failed: then nothing is noted)."""
        __tracebackhide__ = True  # noqa: F841  (a finding raised as an error starts here)
        before, site, slot, frame, tensors, retain, outer = self._pass
        self._pass = None
        try:
            if sys.exception() is not outer:   # the pass raised: it is on its way out
                return
            if before is not None:
                self._looked(self._after, before, site)
            if not retain:
                self.last_freed = site
            entry = slot[1]
            root = tensors[0] if len(tensors) == 1 else None
            if entry is not None and entry.passes + 1 != entry.next_capture \
                    and type(root) in _PLAIN:   # the common case, kept short
                entry.passes += 1
                entry.ref = weakref.ref(root)
                entry.retained = retain
            else:
                roots = [root] if is_tensor(root) else roots_of(tensors)
                self._record(roots, site, frame, retain)
                slot[1] = self.sites.get(site)
        except Exception as err:
            if is_ours(err):  # a finding the user's `error` filter raises: the pass's line fails
                raise
            self.ctx.problems.append(f"pitfalls: a backward pass was not watched: {err!r}")
        finally:
            self._busy = False
            del frame

    # ---- what was differentiated (the graph's roots) ---------------------------------
    def differentiated(self) -> list[Differentiated]:
        return list(self.sites.values())

    def _record(self, roots, site, frame, retained: bool) -> None:
        targets = self._targets.get(site)
        if targets is None:
            targets = self._targets[site] = self._read_site(site)
        for i, root in enumerate(roots):
            key = site if i == 0 else (*site, i)
            entry = self.sites.get(key)
            if entry is None:
                if len(self.sites) >= MAX_SITES:
                    continue
                label, names = targets[i] if i < len(targets) else (None, [])
                entry = self.sites[key] = Differentiated(self._label(label, site), self.loc.cell(site[0]),
                                                         site[1], names)
            entry.passes += 1
            entry.ref = weakref.ref(root)
            entry.retained = retained
            if entry.passes == entry.next_capture:
                entry.next_capture *= 8   # the 1st, 8th, 64th, 512th ... pass
                if self.record_roots:
                    entry.fragment = self._capture(root, entry, frame)

    def _read_site(self, site) -> list[tuple[str, list[str]]]:
        """``(target as written, the names it computes from)`` for the backward()/grad()
        targets on the site's line."""
        from ..graph.roots import split_targets

        facts = self.ctx.facts_of(site[0])
        out = []
        for found in facts.backward_calls:
            if found.line == site[1]:
                for target in split_targets(found.detail or found.expr):
                    try:
                        node = ast.parse(target.strip(), mode="eval").body
                    except SyntaxError:
                        node = None
                    out.append((target, operands(node)))
        return out

    def _label(self, label: str | None, site) -> str:
        cell = self.loc.cell(site[0])
        if label is None:
            return t("pitfalls.root_at", where=where_text(self.ctx.cell, cell, site[1]))
        if cell != self.ctx.cell:
            return t("pitfalls.root_elsewhere", expr=label,
                     where=where_text(self.ctx.cell, cell, site[1]))
        return label

    def _capture(self, root: torch.Tensor, entry: Differentiated, frame):
        """The root's graph as plain data, ending at the tensors its expression names."""
        from ..graph.fragment import capture

        stops, leaf_names = {}, {}
        scopes = frame_scopes(frame, self.ctx.namespace)
        for expr in entry.operands:
            value = resolve(expr, *scopes)
            if not is_tensor(value) or value is root:
                continue
            if value.grad_fn is not None:
                stops[(id(value.grad_fn), value.output_nr)] = (expr, value)
            else:
                leaf_names[id(value)] = expr
        try:
            return capture(root, entry.label, entry.cell, entry.line, stops,
                           saved=self.ctx.options.saved, attrs=self.ctx.options.attrs,
                           names=lambda leaf: leaf_names.get(id(leaf)))
        except Exception:  # the graph part says what it cannot draw; the pass is the cell's
            return None

    # ---- backward-twice: which pass freed a graph ------------------------------------
    def freed_at(self, tensor: object) -> tuple[str, int | None] | None:
        """``(In[n], line)`` of the backward pass that freed ``tensor``'s graph, else of the
        last pass that freed any graph."""
        if is_tensor(tensor):
            for entry in self.sites.values():
                if not entry.retained and entry.root() is tensor:
                    return entry.cell, entry.line
            known = self.state.roots.get(tensor)
            if known is not None:
                return known
        return self._label_site(self.last_freed) if self.last_freed else self.state.last_freed

    def _label_site(self, site) -> tuple[str, int | None]:
        return (self.loc.cell(site[0]), site[1]) if site else (self.ctx.cell, None)

    def _keep_freed(self) -> None:
        """At the end of the cell: the roots whose graph a pass freed, still alive, for later
        cells."""
        for entry in self.sites.values():
            root = entry.root()
            if root is not None and not entry.retained:
                self.state.roots[root] = (entry.cell, entry.line)
        if self.last_freed:
            self.state.last_freed = self._label_site(self.last_freed)

    # ---- grad-accumulated --------------------------------------------------------------
    def _looked(self, look, *args):
        """``look(*args)``, with subclass ``__torch_function__`` off when a leaf needs it."""
        if not self.subclassed:
            return look(*args)
        with reading():
            return look(*args)

    def _before(self):
        """Each known leaf's ``.grad`` before a pass, and whether a sum into it would add to
        gradients not zeroed since our last look (``(leaf, record, grad, version, summing)``
        each)."""
        refs = self.refs
        if not refs:
            return None
        try:
            found = list(map(call, refs))
            grads = list(map(_GRAD, found))
        except AttributeError:  # a known leaf is gone
            self.known = [(r, rec) for r, rec in self.known if r() is not None]
            self.refs = refs = [r for r, _ in self.known]
            found = list(map(call, refs))
            grads = list(map(_GRAD, found))
        self.kept = any(map(is_not, grads, repeat(None)))
        if not self.kept and not self.pending:   # zero_grad(): nothing can add up
            if self.quiet >= STEADY:   # and nothing did for a while: no need to note what is left
                self.quiet += 1
                return None
            return [(leaf, record, None, 0, False) for leaf, (_, record) in zip(found, self.known)]
        now = self.base + self.calls
        seen = []
        for leaf, old, (_, record) in zip(found, grads, self.known):
            if old is None:
                seen.append((leaf, record, None, 0, False))
                continue
            version = old._version
            last = record.grad
            same = last is not None and last() is old
            gap = now - 1 - record.after_pass   # passes since our last look, not looked at
            if same and gap > 0:
                # changed by the passes in between (+1 each) and by zeroing (+1 each): one
                # zeroing before each pass says zeroed, none says summed (no device sync);
                # else the values decide, and the passes summed are those after the last
                # zeroing (taken to come first)
                moved = version - record.version
                summing = False if moved == 2 * gap + 1 else True if moved == gap else self._test(old, record)
                record.passes = max(1, min(gap, 2 * gap + 1 - moved))
                record.first = None
            elif same and version != record.version:
                summing = False  # changed in place since our last pass: zeroed
            else:   # unchanged since our last look, or another .grad than it saw
                summing = self._test(old, record)
                if not same and gap > 0:   # made by a pass we did not look at
                    record.passes = max(1, min(version + 1, gap))
                    record.first = None
            seen.append((leaf, record, old, version, summing))
        return seen

    @staticmethod
    def _test(grad: torch.Tensor, record: GradRecord) -> bool:
        """Whether ``grad`` holds anything (once per state of it: the device sync)."""
        tested = record.tested
        if tested is not None and tested[1] == grad._version and tested[0]() is grad:
            return tested[2]
        found = _is_nonzero(grad)
        record.tested = (_ref(grad), grad._version, found)
        return found

    def _after(self, seen, site) -> None:
        """A sum right after the leaf was updated (a step used the old grad, nobody zeroed
        it) is reported now; a sum with no update since may be intended accumulation: if
        an optimizer can step, it waits until the leaf's next pass (updated, then zeroed:
        fine) or the cell's end."""
        now, dropped = [], []
        for leaf, record, old, version, summing in seen:
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
                    dropped.append((leaf, record, pending))  # summed, then dropped unused
            if summing:
                record.passes = max(record.passes, 1) + 1
                if record.first is None:
                    record.first = site
                if updated or not (self.steps or record.intended):
                    now.append((leaf, record))
                else:
                    record.pending = site
                    self.pending[id(leaf)] = (weakref.ref(leaf), record)
            else:
                record.passes, record.first = 1, site
            last = record.grad
            if last is None or last() is not new:
                record.grad = _ref(new)
            record.version = new._version
            record.leaf_version = leaf._version
            record.after_pass = self.base + self.calls
        self.quiet = 0 if (now or dropped or self.pending) else self.quiet + 1
        for pending_site, items in _by_site(dropped).items():
            self._report(items, pending_site, "now")
        if now:
            self._report(now, site, "now")

    def finish(self) -> None:
        """After the cell: sums no step used (unless the leaf accumulates on purpose)."""
        pending, self.pending = list(self.pending.values()), {}
        items = []
        for ref, record in pending:
            leaf, site = ref(), record.pending
            record.pending = None
            if leaf is not None and site is not None and not record.intended:
                items.append((leaf, record, site))
        for site, group in _by_site(items).items():
            self._report(group, site, "after")

    def _learn(self, roots: list[torch.Tensor]) -> None:
        self.known = [(ref, record) for ref, record in self.known if ref() is not None]
        try:
            self._learn_leaves(roots)
        finally:
            self.refs = [ref for ref, _ in self.known]

    def _learn_leaves(self, roots: list[torch.Tensor]) -> None:
        names = None
        for leaf in leaves(roots):
            ref = self._known_ids.get(id(leaf))
            if ref is not None and ref() is leaf:
                continue
            record = self.state.grads.get(leaf)
            if record is None:
                record = self.state.grads[leaf] = GradRecord()
            if record.made is None:
                if names is None:
                    names = self._bound_names()
                record.made = names.get(id(leaf))
            ref = weakref.ref(leaf)
            self._known_ids[id(leaf)] = ref
            self.known.append((ref, record))
            self.subclassed = self.subclassed or type(leaf) not in _PLAIN

    def _bound_names(self) -> dict[int, Made]:
        """``id(leaf) -> Made`` for the leaves the cell's own assignments hold right now
        (a plain dict lookup per name: it runs while the cell runs)."""
        facts, ns = self.ctx.code, self.ctx.namespace
        filename = self.ctx.source.filename
        out: dict[int, Made] = {}
        for name, sites in list(facts.assigned.items()):
            value = ns.get(name) if name.isidentifier() else None
            if not is_tensor(value) or not value.is_leaf or not sites:
                continue
            site = next((s for s in sites if "requires_grad" in s.detail or "Parameter" in s.detail),
                        sites[0])
            out.setdefault(id(value), Made(name, filename, site.line, site.detail))
        return out

    # ---- the finding -------------------------------------------------------------------
    def _report(self, items, site, when: str) -> None:
        """One finding per model, optimizer or leaf for the leaves ``items`` (``(leaf,
        record)`` pairs) that a pass at ``site`` summed into."""
        filename, line = site if site else (None, None)
        groups: dict[str, dict] = {}
        rank = self._owner_tables()[4]   # the namespace's order: net[0].weight before .bias
        for leaf, record in items:
            owner, kind, member, fix = self._owner(leaf, record)
            group = groups.setdefault(owner, {"kind": kind, "fix": fix, "members": [], "records": []})
            if member not in group["members"]:
                group["members"].append(member)
                group.setdefault("rank", {})[member] = rank.get(id(leaf), len(rank))
            group["records"].append(record)
        for owner, group in groups.items():
            group["members"].sort(key=lambda m: (group["rank"][m], natural_key(m)))
            record = max(group["records"], key=lambda r: r.passes)
            first = where_text(self.ctx.cell, *self._label_site(record.first))
            message = self._message(owner, group, record.passes, first)
            old = self.sink.get("grad-accumulated", filename, line, owner)
            if old is not None:
                old.count += 1
                old.message = message
                continue
            self.sink.add("grad-accumulated", owner, filename, line, message, group["fix"], when=when)

    def _message(self, owner: str, group: dict, passes: int, first: str) -> str:
        members, kind = group["members"], group["kind"]
        if kind in ("module", "optimizer") and len(members) == 1:
            return t("pitfalls.accumulated.message", var=members[0], passes=passes, first=first)
        if kind in ("module", "optimizer"):
            shown = ", ".join(members[:NAMES_SHOWN]) + (", …" if len(members) > NAMES_SHOWN else "")
            key = "pitfalls.accumulated.message_module" if kind == "module" else \
                "pitfalls.accumulated.message_optimizer"
            return t(key, owner=owner, n=len(members), names=shown, passes=passes, first=first)
        if kind == "anon":
            many = len({id(r) for r in group["records"]})
            key = "pitfalls.accumulated.message_anon_many" if many > 1 else \
                "pitfalls.accumulated.message_anon"
            return t(key, leaf=owner, passes=passes, first=first, n=many)
        return t("pitfalls.accumulated.message", var=owner, passes=passes, first=first)

    def _owner(self, leaf: torch.Tensor, record: GradRecord) -> tuple[str, str, str, str]:
        """``(finding variable, kind, the leaf's own name, fix)``: the model whose parameter
        it is, else the optimizer that updates it, else its name, else where it was made."""
        names, optimizers, sizes, written, _ = self._owner_tables()
        found = names.get(id(leaf), [])
        found = [n for n in found if n in written] + [n for n in found if n not in written]
        optimizer = optimizers.get(id(leaf))
        ns = self.ctx.namespace
        for name in found:
            root = root_of(name)
            if issubclass(type(ns.get(root)), torch.nn.Module):
                fix_name = optimizer or root
                return root, "module", name, t("pitfalls.accumulated.fix_zero_grad", owner=fix_name)
        own = found[0] if found else self._made_text(leaf, record)
        if optimizer is not None:
            fix = t("pitfalls.accumulated.fix_zero_grad", owner=optimizer)
            if sizes[optimizer] > 1:   # one finding for the tensors it updates together
                return optimizer, "optimizer", own, fix
            return own, "leaf" if found else "anon", own, fix
        if found:
            return own, "leaf", own, t("pitfalls.accumulated.fix", var=own)
        return own, "anon", own, t("pitfalls.accumulated.fix_anon")

    def _owner_tables(self) -> tuple[dict, dict, dict, set, dict]:
        """The namespace's names by id, optimizers by id of the tensors they update (and how
        many they update), the expressions the cell writes, and each id's rank in the
        namespace's order (looked up once per cell, at its first finding)."""
        if self._owners is None:
            ns = self.ctx.namespace
            optimizers: dict[int, str] = {}
            sizes: dict[str, int] = {}
            for name, value in list(ns.items()):
                if issubclass(type(value), torch.optim.Optimizer) and names_mod.is_user_name(name):
                    for group in names_mod.entries(names_mod.field(value, "param_groups")):
                        for p in names_mod.entries(dict.get(group, "params", ())
                                                   if type(group) is dict else ()):
                            optimizers.setdefault(id(p), name)
                            sizes[name] = sizes.get(name, 0) + 1
            names = names_mod.names_by_id(ns)
            self._owners = (names, optimizers, sizes, _expressions(self.ctx.source.tree),
                            {key: i for i, key in enumerate(names)})
        return self._owners

    def _made_text(self, leaf: torch.Tensor, record: GradRecord) -> str:
        made = record.made
        if made is None:
            return t("pitfalls.accumulated.anon", shape=_shape(leaf))
        where = where_text(self.ctx.cell, self.loc.cell(made.filename), made.line)
        if made.expr:
            return t("pitfalls.leaf_made", where=where, expr=made.expr)
        return t("pitfalls.leaf_was", name=made.name, where=where)


def _by_site(items) -> dict:
    """``(leaf, record, site)`` triples -> ``{site: [(leaf, record)]}``."""
    out: dict = {}
    for leaf, record, site in items:
        out.setdefault(site, []).append((leaf, record))
    return out


def _calls_step(tree) -> bool:
    return tree is not None and any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr == "step" for node in ast.walk(tree))


def _expressions(tree) -> set[str]:
    """Names, attributes and subscripts as the cell writes them (``model[0].weight``)."""
    if tree is None:
        return set()
    return {ast.unparse(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript))}


def _shape(tensor: torch.Tensor) -> str:
    return dims_text(tensor.shape)
