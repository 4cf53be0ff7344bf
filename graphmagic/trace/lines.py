"""``--trace``: follow the cell line by line, and give each allocation and change its line.

``sys.settrace`` is limited to code compiled from notebook cells (this cell and functions
defined in earlier ones, found in ``shell.compile._filename_map``): every other frame's
``call`` event returns at once, so torch's own Python code runs untraced. At each line (and
each return) a checkpoint, attributed to the line that just ran:

- compares the version counters of the watched tensors (namespace tensors the cell's code
  names, and the tensors bound to the names it assigns): which line changed what in place;
- notices a watched name bound to a new tensor (exact lines inside loops);
- notices large CPU storages from before the cell being freed (the recorder cannot see
  those frees: their blocks were allocated before it started);
- appends ``(time, line)`` so the recorder's allocation events can be given their line.

``Aggregate`` turns the events into the exact tensor-byte peak per device (above the
start), the line where it happened, and per line: runs, bytes allocated and freed, and the
largest rise within one run (a temporary like ``X + Y`` in ``Z[:] = X + Y``). Only blocks
allocated during the cell are counted when freed.
"""
from __future__ import annotations

import linecache
import sys
import time
from dataclasses import dataclass, field

from . import allocations
from ..code.sites import LineRef, root_of
from ..tensors.info import is_tensor, reading

# The profiler hands its events over only when stopped (``drain``), in one call that cannot
# be interrupted and costs a few microseconds per event: drains come at least every
# DRAIN_MAX_NS and, where events come fast, often enough that one takes about DRAIN_AIM_NS
# (a Ctrl-C waits for at most one drain, so its latency stays near 0.1 s).
DRAIN_MIN_NS, DRAIN_MAX_NS, DRAIN_AIM_NS = 10_000_000, 100_000_000, 40_000_000
MAX_WATCHED = 64
BIG_STORAGE = 1 << 20
MAX_BIG = 8


@dataclass
class LineStats:
    count: int = 0
    allocated: int = 0
    freed: int = 0
    max_rise: int = 0


@dataclass
class Aggregate:
    """Running tensor bytes per device, relative to the start of the cell."""
    current: tuple | None = None
    running: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_at: dict[str, tuple | None] = field(default_factory=dict)
    stats: dict[tuple, LineStats] = field(default_factory=dict)
    live: dict[int, tuple[int, str]] = field(default_factory=dict)
    seg_start: dict[str, int] = field(default_factory=dict)
    seg_max: dict[str, int] = field(default_factory=dict)
    untracked_frees: int = 0

    def _stat(self, key) -> LineStats:
        s = self.stats.get(key)
        if s is None:
            s = self.stats[key] = LineStats()
        return s

    def enter(self, key) -> None:
        if self.current is not None:
            s = self._stat(self.current)
            for dev, top in self.seg_max.items():
                s.max_rise = max(s.max_rise, top - self.seg_start.get(dev, 0))
        self.current = key
        self.seg_start = dict(self.running)
        self.seg_max = dict(self.running)

    def apply(self, nbytes: int, ptr: int | None, device: str) -> None:
        """One event; ``ptr`` None: counted as given (accelerators, frees seen by expiry)."""
        if ptr is not None:
            if nbytes > 0:
                self.live[ptr] = (nbytes, device)
            else:
                rec = self.live.pop(ptr, None)
                if rec is None:  # a block from before the cell
                    self.untracked_frees += 1
                    return
                nbytes, device = -rec[0], rec[1]
        stats = self._stat(self.current)
        if nbytes > 0:
            stats.allocated += nbytes
        else:
            stats.freed -= nbytes
        now = self.running[device] = self.running.get(device, 0) + nbytes
        if now > self.seg_max.get(device, 0):
            self.seg_max[device] = now
        if now > self.peak.get(device, 0):
            self.peak[device] = now
            self.peak_at[device] = self.current

    def feed(self, timeline: list[tuple[int, tuple]], events: list[tuple]) -> None:
        i, n = 0, len(timeline)
        for t, nbytes, ptr, device in events:
            while i < n and timeline[i][0] <= t:
                self.enter(timeline[i][1])
                i += 1
            self.apply(nbytes, ptr, device)
        for _, key in timeline[i:]:
            self.enter(key)

    def close(self) -> None:
        self.enter(None)


@dataclass
class TraceResult:
    """What a traced cell did, as plain data (keys are ``(cell, line)``)."""
    lines: dict[tuple[str, int], LineStats] = field(default_factory=dict)
    inplace: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)
    bound: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_at: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    end: dict[str, int] = field(default_factory=dict)
    code: dict[tuple[str, int], str] = field(default_factory=dict)
    lines_unavailable: str | None = None    # reason the line tracer did not run
    bytes_unavailable: str | None = None    # reason the allocation recorder did not run
    untracked_frees: int = 0
    unwatched: int = 0                      # namespace tensors whose versions were not watched

    def refs(self, table: dict[tuple[str, int], int]) -> list[LineRef]:
        return [LineRef(cell, line, False, count) for (cell, line), count in sorted(table.items())]


class LineTrace:
    def __init__(self, shell, source, cell: str, before=None, watch_names=(), used_names=()):
        self.shell = shell
        self.source = source
        self.cell = cell
        self.before = before
        self.watch_names = [n for n in dict.fromkeys(watch_names) if n.isidentifier()]
        self.used = set(used_names)
        self.recorder: allocations.AllocationRecorder | None = None
        self.result = TraceResult()
        self._frame = None
        self._tracer = None
        self._active = [False]
        self._keys: dict[tuple[str, int], tuple[str, int]] = {}

    # ---- set-up -------------------------------------------------------------------
    def _watches(self):
        """``[weakref, version, names]`` for namespace tensors, those the code names first."""
        out, skipped = [], 0
        if self.before is None:
            return out, skipped
        candidates = []
        for tid, names in self.before.names.items():
            names = [n for n in names if n not in self.watch_names]
            f = self.before.facts[names[0]] if names else None
            ref = self.before.refs.get(tid)
            if f is None or ref is None or f.inference or f.version is None:
                continue
            used = any(root_of(n) in self.used for n in names)
            candidates.append((not used, len(candidates), [ref, f.version, tuple(names)]))
        candidates.sort(key=lambda c: c[:2])
        out = [c[2] for c in candidates[:MAX_WATCHED]]
        return out, max(0, len(candidates) - MAX_WATCHED)

    def _big_storages(self):
        if self.before is None:
            return []
        sizes = {}
        for f in self.before.facts.values():  # CPU only: accelerators report their frees
            if f.storage is not None and f.storage_bytes >= BIG_STORAGE and f.device == "cpu":
                sizes[f.storage] = (f.storage_bytes, f.device)
        biggest = sorted(sizes.items(), key=lambda kv: -kv[1][0])[:MAX_BIG]
        return [[self.before.storage_refs[s], b, dev, False] for s, (b, dev) in biggest
                if s in self.before.storage_refs]

    def start(self, cell_frame=None) -> None:
        reason = allocations.unavailable(self.source.text)
        if reason is None:
            try:
                self.recorder = allocations.AllocationRecorder()
                self.recorder.start()
            except Exception as err:  # an odd build: keep the line trace
                self.recorder = None
                reason = f"error: {err!r}"
        self.result.bytes_unavailable = reason
        if sys.gettrace() is not None:
            self.result.lines_unavailable = "tracer-active"
            return
        self._install(cell_frame)

    def _install(self, cell_frame) -> None:
        files = getattr(self.shell.compile, "_filename_map", {})
        ns = self.shell.user_ns
        res = self.result
        first = (self.source.filename, self.source.first_line)
        cur = [first]
        stack: list = []
        counts: dict = {}
        timeline: list = []
        synth: list = []
        recording = self.recorder is not None
        watched, res.unwatched = self._watches()
        bound = [[n, id(ns.get(n)), _version(ns.get(n))] for n in self.watch_names]
        big = self._big_storages() if recording else []
        agg = self.agg = Aggregate(current=first)
        active = self._active
        tn = time.time_ns
        last_drain = [tn(), DRAIN_MAX_NS]   # when, and the interval until the next one
        off = reading  # tensor facts without a subclass's __torch_function__

        def hit(table, names, key):
            for name in names:
                per = table.setdefault(name, {})
                per[key] = per.get(key, 0) + 1

        def checkpoint(new_key):
            """Attribute what changed since the last checkpoint to the line that ran."""
            prev = cur[0]
            with off():
                for w in watched:
                    t = w[0]()
                    if t is not None and t._version != w[1]:
                        w[1] = t._version
                        hit(res.inplace, w[2], prev)
                for w in bound:
                    obj = ns.get(w[0])
                    if id(obj) != w[1]:
                        w[1], w[2] = id(obj), _version(obj)
                        if is_tensor(obj):
                            hit(res.bound, (w[0],), prev)
                    elif w[2] is not None and obj._version != w[2]:
                        w[2] = obj._version
                        hit(res.inplace, (w[0],), prev)
            cur[0] = new_key
            if recording:
                now = tn()
                for b in big:
                    if not b[3] and b[0].expired():
                        b[3] = True
                        synth.append((now, -b[1], None, b[2]))
                timeline.append((now, new_key))
                if now - last_drain[0] > last_drain[1]:
                    drain()
                    done = tn()
                    took = max(done - now, 1)  # the next interval: a drain of about DRAIN_AIM_NS
                    last_drain[:] = done, min(DRAIN_MAX_NS, max(DRAIN_MIN_NS, (now - last_drain[0]) * DRAIN_AIM_NS // took))

        def drain(final=False):
            events = self.recorder.stop() if final else self.recorder.drain()
            if synth:
                events = sorted(events + synth, key=lambda e: e[0])
            agg.feed(timeline, events)
            timeline.clear()
            synth.clear()

        def local(frame, event, arg):
            if not active[0]:
                return None
            if event == "line":
                key = (frame.f_code.co_filename, frame.f_lineno)
                counts[key] = counts.get(key, 0) + 1
                checkpoint(key)
            elif event == "return":
                checkpoint(stack.pop() if stack else first)
            return frame.f_trace  # this function, without a reference cycle to itself

        def tracer(frame, event, arg):  # only 'call' events reach it
            if frame.f_code.co_filename in files and active[0]:
                stack.append(cur[0])
                return local
            return None

        self._drain, self._counts, self._tracer = drain, counts, tracer
        active[0] = True
        sys.settrace(tracer)
        if cell_frame is not None and cell_frame.f_code.co_filename == self.source.filename:
            cell_frame.f_trace = local
            self._frame = cell_frame

    # ---- tear-down ----------------------------------------------------------------
    def abandon(self) -> None:
        """Stop tracing and recording at once, keeping nothing (the cell was interrupted)."""
        self._active[0] = False
        if self._tracer is not None and sys.gettrace() is self._tracer:
            sys.settrace(None)
        if self._frame is not None:
            self._frame.f_trace = None
            self._frame = None
        if self.recorder is not None:
            self.recorder.abandon()
        self._drain = self._tracer = self._counts = None
        self.agg = self.recorder = self.before = None

    def stop(self) -> TraceResult:
        """Stop tracing and recording; turn what was seen into ``self.result``."""
        res = self.result
        tracing = self._tracer is not None
        self._active[0] = False
        if tracing:
            if sys.gettrace() is self._tracer:
                sys.settrace(None)
            if self._frame is not None:
                self._frame.f_trace = None
                self._frame = None
        if self.recorder is not None:
            if tracing:
                self._drain(final=True)
                self.agg.close()
                res.peak = {d: self.agg.peak.get(d, 0) for d in {*self.agg.running, *self.agg.peak}}
                res.end = dict(self.agg.running)
                res.peak_at = {d: self._label(k) for d, k in self.agg.peak_at.items()}
                res.untracked_frees = self.agg.untracked_frees
                for key, stats in self.agg.stats.items():
                    if key is not None:
                        res.lines[self._label(key)] = stats
            else:
                self.recorder.stop()
                res.bytes_unavailable = res.bytes_unavailable or "tracer-active"
        if tracing:
            for key, count in self._counts.items():
                res.lines.setdefault(self._label(key), LineStats()).count = count
            res.inplace = {n: {self._label(k): c for k, c in v.items()} for n, v in res.inplace.items()}
            res.bound = {n: {self._label(k): c for k, c in v.items()} for n, v in res.bound.items()}
            for label, key in self._keys.items():
                text = self.source.line(key[1]) if key[0] == self.source.filename \
                    else linecache.getline(key[0], key[1])
                res.code[label] = text.strip()
        # the tracer's closures and this object refer to each other: let go of them here
        self._drain = self._tracer = self._counts = None
        self.agg = self.recorder = self.before = None
        return res

    def _label(self, key) -> tuple[str, int]:
        """``(cell, line)`` for a ``(filename, line)`` key."""
        filename, line = key
        if filename == self.source.filename:
            cell = self.cell
        else:
            number = getattr(self.shell.compile, "_filename_map", {}).get(filename)
            cell = f"In[{number}]" if number is not None else filename
        label = (cell, line)
        self._keys[label] = key
        return label


def _version(obj) -> int | None:
    if is_tensor(obj):
        with reading():
            try:
                return None if obj.is_inference() else obj._version
            except Exception:
                return None
    return None
