"""Every tensor allocation and free on this thread, for ``--trace`` (exact tensor-byte peak).

PyTorch's allocators report each allocation and free to the profiler when it profiles
memory. The profiler is started with ``profile_memory`` and its operator callbacks limited
to a scope nothing uses (``LITE_INTERPRETER``), so it records only memory events: about
1.3x on a small CPU training loop, where recording every operator costs about 4x.
Each event has a timestamp on the clock of ``time.time_ns``, so ``linetrace`` can give it
the cell line that was running.

Two side effects are contained here. The profiler's backend prints a line to the C-level
stderr when it starts and stops: those calls run with file descriptor 2 pointed at
``/dev/null``. Freeing a block allocated before profiling started makes c10 log "Memory
block of unknown size ..." on the 1st, 1001st, ... such free in the process: before the
cell, ``_prime`` frees throw-away blocks (stderr silenced) until it sees that line, so the
cell itself can free 999 older blocks before c10 would print again.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import torch

PRIME_BLOCKS = 1000


@contextlib.contextmanager
def quiet_stderr(capture=None):
    """Point file descriptor 2 at ``capture`` (a file) or /dev/null for a moment."""
    try:
        sys.stderr.flush()
    except Exception:
        pass
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    target = capture.fileno() if capture is not None else os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if capture is None:
            os.close(target)


def unavailable(source_text: str) -> str | None:
    """Why the recorder cannot run for this cell, or None."""
    try:
        from torch._C import _autograd  # noqa: F401
        from torch._C._profiler import ProfilerActivity, ProfilerConfig  # noqa: F401
    except ImportError:
        return "no-profiler"
    if torch._C._autograd._profiler_enabled():
        return "profiler-active"
    if "profiler" in source_text:
        return "cell-profiles"  # the cell starts its own profiler: ours would make it fail
    return None


class AllocationRecorder:
    """Start, drain (restart) and stop the memory-only profiler."""

    def __init__(self) -> None:
        from torch._C._profiler import (ProfilerActivity, ProfilerConfig, ProfilerState,
                                        RecordScope, _ExperimentalConfig)

        self._config = ProfilerConfig(ProfilerState.KINETO, False, True, False, False, False,
                                      _ExperimentalConfig())
        self._activities = {ProfilerActivity.CPU}
        self._scopes = {RecordScope.LITE_INTERPRETER}
        self._spare: list[torch.Tensor] = []
        self._devices = _accelerator_in_use()
        self.running = False

    def _enable(self) -> None:
        from torch._C import _autograd

        with quiet_stderr():
            _autograd._prepare_profiler(self._config, self._activities)
            _autograd._enable_profiler(self._config, self._activities, self._scopes)
        self.running = True

    def _disable(self) -> list[tuple[int, int, int | None, str]]:
        from torch._C import _autograd

        with quiet_stderr():
            result = _autograd._disable_profiler()
        self.running = False
        return _events(result, self._devices or _accelerator_in_use())

    def start(self) -> None:
        blocks = [torch.empty(1, device="cpu") for _ in range(PRIME_BLOCKS)]
        self._enable()
        self._spare = _prime(blocks)

    def drain(self) -> list[tuple[int, int, int | None, str]]:
        """The events so far; recording goes on (the profiler keeps every event in memory)."""
        events = self._disable()
        self._enable()
        return events

    def abandon(self) -> None:
        """Stop recording without reading the events."""
        if self.running:
            from torch._C import _autograd

            with quiet_stderr():
                _autograd._disable_profiler()
            self.running = False
        self._spare = []

    def stop(self) -> list[tuple[int, int, int | None, str]]:
        events = self._disable() if self.running else []
        self._spare = []
        return events


def _accelerator_in_use() -> bool:
    try:
        return torch.cuda.is_initialized() or (torch.accelerator.current_accelerator() is not None
                                              and torch.accelerator.current_accelerator().type != "cuda")
    except Exception:
        return True


def _prime(blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Free blocks from before profiling until c10 logs; returns the ones left."""
    with tempfile.TemporaryFile() as capture, quiet_stderr(capture):
        while blocks:
            blocks.pop()
            if os.fstat(capture.fileno()).st_size:
                break
    return blocks


def _events(result, accelerators: bool) -> list[tuple[int, int, int | None, str]]:
    """``(time_ns, bytes (negative: freed), address, device)`` of each memory event.

    CPU events come from the event tree, which has addresses (a CPU free is counted only
    when its block was allocated while recording). Accelerator events are not in the tree;
    ``events()`` has them without addresses, which they do not need: a caching allocator
    reports every free with its true size. Their address is None.
    """
    out = []
    for node in result.experimental_event_tree():
        fields = node.extra_fields
        try:
            nbytes, ptr = fields.alloc_size, fields.ptr
        except AttributeError:
            continue
        if not accelerators or fields.device.type == "cpu":
            out.append((node.start_time_ns, nbytes, ptr, "cpu"))
    if accelerators:
        for e in result.events():
            index = e.device_index()
            if index >= 0 and e.name() == "[memory]" and e.nbytes():
                kind = str(e.device_type()).split(".")[-1].lower()
                out.append((e.start_ns(), e.nbytes(), None, f"{kind}:{index}"))
    out.sort(key=lambda e: e[0])
    return out
