"""The global hook points a cell takes over, so that nothing pins the cell and nothing of
ours stands in the user's way.

- Backward passes: every ``torch.autograd.backward``/``grad`` goes through torch's
  ``torch.autograd.graph._engine_run_backward``, which asks its module's ``log`` whether to
  "attach logging hooks" and, if so, calls ``_register_logging_hooks_on_whole_graph`` before
  the engine runs and what that returned after it (in a ``finally``). For a cell those two
  module globals are ours (``take_engine``): the cell's handler runs before and after each
  pass in frames that have returned when the engine runs. So no frame of ours is on the
  stack of an exception or a warning from a pass, and ``torch.autograd.backward``/``grad``
  stay torch's own objects (``from torch.autograd import backward`` binds torch's). A torch
  without that hook point gets trampolines in ``torch.autograd`` instead (``take_autograd``).
- Warnings: ``warnings._showwarnmsg`` (the hook Python's warning machinery calls to show a
  warning; ``catch_warnings`` neither saves nor restores it, so a context left open across
  cells cannot carry it out of the cell).

Each module-level function below looks up the running cell's handler in ``ACTIVE``, a slot
the cell's ``ExitStack`` sets and clears; with no handler set it passes straight through. So
a user who keeps a reference to one of them keeps only this module, never a cell, its
namespace or a tensor. The cell's warning filter (``take_filter``) is taken out of every
list it could have reached: the user's filters, and what the cell adds to them, are as
without the magic.
"""
from __future__ import annotations

import itertools
import logging
import warnings

import torch
from torch.autograd import graph as _graph


class _Slots:
    showwarnmsg = None   # handler(msg) -> True when it showed (or kept) the warning itself
    engine = None        # handler(tensors) -> what to call after the pass, or None
    filter = None        # handler(text) -> whether the cell's warning filter applies
    backward = None      # (without the engine hook) handler(original, args, kwargs)
    grad = None


ACTIVE = _Slots()
_previous = {"showwarnmsg": None}
_originals = {"backward": None, "grad": None}


def previous_showwarnmsg():
    """The ``_showwarnmsg`` that was in place before ours (never ours)."""
    prev = _previous["showwarnmsg"]
    return prev if prev is not None and prev is not showwarnmsg else warnings._showwarnmsg_impl


def showwarnmsg(msg):
    __tracebackhide__ = True  # noqa: F841
    handler = ACTIVE.showwarnmsg
    if handler is not None and handler(msg):
        return None
    return previous_showwarnmsg()(msg)


# Python's warnings skip frames whose code file names "importlib" and "_bootstrap" when they
# count a warning's ``stacklevel`` (``warnings._is_internal_frame``; the C implementation does
# the same). The frames we add between ``Tensor.backward`` and the autograd engine carry such a
# name, so a warning torch raises inside backward() (``stacklevel=5`` from a module hook)
# still points at the user's line, and ``module=`` filters still match as in a plain cell.
SKIPPED_BY_WARNINGS = "<graphmagic trampoline (importlib._bootstrap-like: not a warning's location)>"


def skipped_by_warnings(func):
    """``func`` with a code object that warnings' stack levels step over (see above)."""
    func.__code__ = func.__code__.replace(co_filename=SKIPPED_BY_WARNINGS)
    return func


def _trampoline(which: str):
    """The function put in place of ``torch.autograd.<which>`` for a cell: the active cell's
    handler gets ``(original, args, kwargs)``; with none, the original runs as is."""
    def trampoline(*args, **kwargs):
        __tracebackhide__ = True  # noqa: F841
        handler, original = getattr(ACTIVE, which), _originals[which]
        if handler is None:
            return original(*args, **kwargs)
        return handler(original, args, kwargs)

    trampoline.__name__ = trampoline.__qualname__ = which
    return skipped_by_warnings(trampoline)


backward = _trampoline("backward")
grad = _trampoline("grad")
_TRAMPOLINES = {"backward": backward, "grad": grad}


def _has_engine_hook() -> bool:
    """Whether this torch's ``_engine_run_backward`` reads the two globals ``take_engine``
    sets, with the locals a handler may read (``backward._engine_retain``)."""
    code = getattr(getattr(_graph, "_engine_run_backward", None), "__code__", None)
    return code is not None and {"log", "_register_logging_hooks_on_whole_graph"} <= set(code.co_names) \
        and code.co_varnames[:3] == ("t_outputs", "args", "kwargs") \
        and callable(getattr(_graph, "_register_logging_hooks_on_whole_graph", None))


ENGINE_HOOK = _has_engine_hook()
_engine = {"log": getattr(_graph, "log", None),
           "register": getattr(_graph, "_register_logging_hooks_on_whole_graph", None)}


class _EngineLog:
    """``torch.autograd.graph.log`` during a cell: it tells ``_engine_run_backward`` to attach
    its logging hooks (``register_pass`` is ours) and is torch's logger for all else."""
    __slots__ = ("_real", "getEffectiveLevel")

    def __init__(self, real) -> None:
        self._real = real
        self.getEffectiveLevel = itertools.repeat(logging.DEBUG).__next__  # no Python frame

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def _nothing() -> None:
    return None


def register_pass(t_outputs):
    """Called by ``_engine_run_backward`` before the engine runs; what it returns is called
    after. Torch's own logging hooks are attached too when its logger is at DEBUG."""
    handler = ACTIVE.engine
    after = handler(t_outputs) if handler is not None else None
    real_log = _engine["log"]
    if real_log is not None and real_log.isEnabledFor(logging.DEBUG):  # (cached by logging)
        theirs = _engine["register"](t_outputs)
        if after is None:
            return theirs

        def both():
            try:
                theirs()
            finally:
                after()
        return both
    return after if after is not None else _nothing


def take_engine(stack, handler) -> None:
    """Route every backward pass to ``handler`` (before it; what it returns, after it)."""
    log, register = _graph.log, _graph._register_logging_hooks_on_whole_graph
    if register is not register_pass:
        _engine["log"], _engine["register"] = log, register
    ACTIVE.engine = handler
    view = _EngineLog(_engine["log"])
    _graph.log, _graph._register_logging_hooks_on_whole_graph = view, register_pass

    def give_back():
        ACTIVE.engine = None
        if _graph.log is view:
            _graph.log = _engine["log"]
        if _graph._register_logging_hooks_on_whole_graph is register_pass:
            _graph._register_logging_hooks_on_whole_graph = _engine["register"]

    stack.callback(give_back)


def take_showwarnmsg(stack, handler) -> None:
    """Route every warning about to be shown to ``handler`` until ``stack`` closes."""
    current = warnings._showwarnmsg
    if current is not showwarnmsg:
        _previous["showwarnmsg"] = current
    ACTIVE.showwarnmsg = handler
    warnings._showwarnmsg = showwarnmsg

    def give_back():
        ACTIVE.showwarnmsg = None
        if warnings._showwarnmsg is showwarnmsg:
            warnings._showwarnmsg = previous_showwarnmsg()

    stack.callback(give_back)


class FilterMessage:
    """The message pattern of the cell's warning filter. Python's warnings call its
    ``match(text)`` (as a compiled regex's) while choosing a filter for a warning; the
    running cell's handler decides, with the warning's frame on the stack. Outside a cell
    (say the user saved the filter list during the cell and put it back later) it matches
    nothing, and holds nothing of the cell."""
    __slots__ = ()

    def match(self, text: str) -> bool:
        handler = ACTIVE.filter
        return handler(text) if handler is not None else False

    def __repr__(self) -> str:
        return "<graphmagic: a %%autograd cell's filter>"


def take_filter(stack, action: str, category: type[Warning], handler) -> tuple:
    """Put a filter first among the warning filters until ``stack`` closes: ``action`` for
    the warnings of ``category`` that ``handler(text)`` says are its own. It is taken out
    again of the list it went into and of the list in force then: a ``catch_warnings`` the
    cell left open restores, later, a list without it. Filters the cell added stay.
    Returns the entry."""
    entry = (action, FilterMessage(), category, None, 0)
    filters = warnings.filters
    ACTIVE.filter = handler
    filters.insert(0, entry)  # no _filters_mutated(): that would reset every once-per-location

    def give_back():
        ACTIVE.filter = None
        for each in {id(filters): filters, id(warnings.filters): warnings.filters}.values():
            each[:] = [e for e in each if e is not entry]

    stack.callback(give_back)
    return entry


def take_autograd(stack, which: str, handler) -> None:
    """Route ``torch.autograd.<which>`` (``backward`` or ``grad``) to ``handler``: for a
    torch without the engine hook (``ENGINE_HOOK``)."""
    trampoline = _TRAMPOLINES[which]
    current = getattr(torch.autograd, which)
    if current is not trampoline:
        _originals[which] = current
    setattr(ACTIVE, which, handler)
    setattr(torch.autograd, which, trampoline)

    def give_back():
        setattr(ACTIVE, which, None)
        if getattr(torch.autograd, which) is trampoline:
            setattr(torch.autograd, which, _originals[which])

    stack.callback(give_back)
