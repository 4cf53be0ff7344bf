"""Trampolines for the global hook points a cell takes over, so that nothing pins the cell.

For a ``%%autograd`` cell, ``warnings._showwarnmsg`` (the hook Python's warning machinery
calls to show a warning; ``catch_warnings`` neither saves nor restores it, so a context left
open across cells cannot carry it out of the cell), ``torch.autograd.backward`` and
``torch.autograd.grad`` are replaced by the module-level functions below. Each looks up the
running cell's handler in ``ACTIVE``, a slot the cell's ``ExitStack`` sets and clears; with no
handler set it passes straight through. So a user who keeps a reference to one of them
(``bw = torch.autograd.backward``) keeps only this module, never a cell, its namespace or a
tensor. The cell's warning filter (``take_filter``) is taken out of every list it could have
reached: the user's filters, and what the cell adds to them, are as without the magic.
"""
from __future__ import annotations

import warnings

import torch


class _Slots:
    showwarnmsg = None   # handler(msg) -> True when it showed (or kept) the warning itself
    backward = None      # handler(original, args, kwargs)
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


def take_filter(stack, entry: tuple) -> None:
    """Put ``entry`` first among the warning filters until ``stack`` closes. It is taken out
    again of the list it went into and of the list in force then: a ``catch_warnings`` the
    cell left open restores, later, a list without it. Filters the cell added stay."""
    filters = warnings.filters
    filters.insert(0, entry)  # no _filters_mutated(): that would reset every once-per-location

    def give_back():
        for each in {id(filters): filters, id(warnings.filters): warnings.filters}.values():
            each[:] = [e for e in each if e is not entry]

    stack.callback(give_back)


def take_autograd(stack, which: str, handler) -> None:
    """Route ``torch.autograd.<which>`` (``backward`` or ``grad``) to ``handler``."""
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
