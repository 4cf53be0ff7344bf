"""Ctrl-C during graphmagic's own work: never swallowed, never delayed.

``watch_interrupts`` replaces the SIGINT handler for a stretch of our work with one that
remembers the signal and raises ``KeyboardInterrupt`` at once (as Python's own does). A
``KeyboardInterrupt`` raised where Python cannot propagate it (inside a ``__del__``, such
as ``StorageWeakRef.__del__`` freeing a snapshot) is only printed and dropped; the flag still
tells, and ``raise_if_swallowed`` raises it again right after. With ``defer=True`` the
signal is only remembered: for the few steps that must not be cut (restoring global state).
The previous handler is back when the block ends. Off the main thread nothing changes.
"""
from __future__ import annotations

import contextlib
import signal
import threading


class Interrupts:
    def __init__(self) -> None:
        self.seen = False

    def raise_if_swallowed(self) -> None:
        if self.seen:
            self.seen = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def watch_interrupts(defer: bool = False):
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:  # ignored, or somebody else's: leave it
        yield state
        return

    def remember(signum, frame):
        state.seen = True
        if not defer:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, remember)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
