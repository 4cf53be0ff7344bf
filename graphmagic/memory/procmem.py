"""The process's resident memory and its high-water mark, read from Linux ``/proc``.

Writing ``5`` to ``/proc/self/clear_refs`` resets the high-water mark (``VmHWM`` in
``/proc/self/status``) to the current resident size, so the peak of one cell can be read
at no per-operation cost. It is process-wide resident memory (Python objects and
libraries too, not only tensors), it also resets ``ru_maxrss`` of ``getrusage``, and pages
never touched (an unfilled ``torch.empty``) or memory reused inside malloc's free lists do
not raise it. Elsewhere (macOS, Windows, restricted containers) there is no reset:
``reset_peak`` says why, and the caller shows what it can.
"""
from __future__ import annotations

import os
import sys

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int | None:
    try:
        with open(STATUS, "rb") as f:
            for line in f:
                if line.startswith(field.encode() + b":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss() -> int | None:
    """Resident bytes of this process now, or None where /proc is missing."""
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else None


def high_water() -> int | None:
    """Peak resident bytes since the last reset (or process start)."""
    kib = _status_kib("VmHWM")
    return kib * 1024 if kib is not None else None


def reset_peak() -> str | None:
    """Reset the high-water mark. Returns None on success, else the reason it cannot."""
    if not os.path.exists(CLEAR_REFS):
        return "no-proc" if not sys.platform.startswith("linux") else "no-clear-refs"
    try:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")
    except OSError as err:
        return f"denied: {err.strerror or err}"
    return None
