"""Trampolines for the global hook points a cell takes over, so that nothing pins the cell.

For a ``%%autograd`` cell, ``warnings.showwarning``, ``torch.autograd.backward`` and
``torch.autograd.grad`` are replaced by the module-level functions below. Each looks up the
running cell's handler in ``ACTIVE``, a slot the cell's ``ExitStack`` sets and clears; with no
handler set it passes straight through. So a user who keeps a reference to one of them
(``bw = torch.autograd.backward``, a ``warnings.catch_warnings()`` left open across cells)
keeps only this module, never a cell, its namespace or a tensor.
"""
from __future__ import annotations

import warnings

import torch


class _Slots:
    showwarning = None   # handler(message, category, filename, lineno, file, line)
    backward = None      # handler(original, *args, **kwargs)
    grad = None


ACTIVE = _Slots()
_previous = {"showwarning": None}
_originals = {"backward": None, "grad": None}


def previous_showwarning():
    """The ``showwarning`` that was in place before ours (never ours)."""
    prev = _previous["showwarning"]
    return prev if prev is not None and prev is not showwarning else warnings._showwarning_orig


def showwarning(message, category, filename, lineno, file=None, line=None):
    __tracebackhide__ = True  # noqa: F841
    handler = ACTIVE.showwarning
    if handler is not None:
        return handler(message, category, filename, lineno, file, line)
    return previous_showwarning()(message, category, filename, lineno, file, line)


def backward(*args, **kwargs):
    __tracebackhide__ = True  # noqa: F841
    handler, original = ACTIVE.backward, _originals["backward"]
    if handler is None:
        return original(*args, **kwargs)
    return handler(original, *args, **kwargs)


def grad(*args, **kwargs):
    __tracebackhide__ = True  # noqa: F841
    handler, original = ACTIVE.grad, _originals["grad"]
    if handler is None:
        return original(*args, **kwargs)
    return handler(original, *args, **kwargs)


_TRAMPOLINES = {"backward": backward, "grad": grad}


def take_showwarning(stack, handler) -> None:
    """Route ``warnings.showwarning`` to ``handler`` until ``stack`` closes."""
    current = warnings.showwarning
    if current is not showwarning:
        _previous["showwarning"] = current
    ACTIVE.showwarning = handler
    warnings.showwarning = showwarning

    def give_back():
        ACTIVE.showwarning = None
        if warnings.showwarning is showwarning:  # a cell that set its own keeps it
            warnings.showwarning = previous_showwarning()

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
