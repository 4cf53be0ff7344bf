"""How much memory a cell used: tensor bytes held before and after, and the cell's peak.

- Tensor bytes: the distinct storages of the namespace's tensors, per device (a storage
  shared by several tensors counted once), before and after the cell.
- CPU peak, at no per-operation cost: the process's resident-set high-water mark, reset
  right before the body (``procmem``). Process-wide, not only tensors; say so.
- CUDA peak: the caching allocator's ``max_memory_allocated``, whose counter is reset at
  the cell's start (PyTorch can reset it but not restore it).
- ``--trace``: the exact tensor-byte peak and per-line attribution (``linetrace``).
- ``Z[:] = X + Y``: in place, but ``X + Y`` is a temporary; the note gives its size and
  the ``out=`` form.

The peak counters are reset last among the probes, right before the body, and read first
when the cell's contexts close, so graphmagic's own work is not counted.
"""
from __future__ import annotations

import ast

import torch

from . import procmem
from ..tensors import snapshot
from ..trace.lines import LineTrace, TraceResult
from .held import held_of
from .view import MemorySection
from ..tensors.names import named_tensors
from ..code.sites import CellCode
from ..tracking.probe import Trace
from ..code.frames import caller_cell_frame


def cuda_start(problems: list[str]) -> dict[int, int]:
    """Reset each initialised CUDA device's peak counter; return bytes allocated now."""
    start: dict[int, int] = {}
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i in range(torch.cuda.device_count()):
                torch.cuda.reset_peak_memory_stats(i)
                start[i] = torch.cuda.memory_allocated(i)
    except Exception as err:
        problems.append(f"memory: CUDA peak not reset: {err!r}")
    return start


def cuda_end(start: dict[int, int], problems: list[str]) -> list[dict]:
    out = []
    try:
        if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
            return out
        for i in range(torch.cuda.device_count()):
            base = start.get(i, 0)
            peak, now = torch.cuda.max_memory_allocated(i), torch.cuda.memory_allocated(i)
            if i in start or peak:
                out.append({"device": f"cuda:{i}", "start": base, "peak": peak - base,
                            "end": now - base, "reset": i in start})
    except Exception as err:
        problems.append(f"memory: CUDA peak not read: {err!r}")
    return out


_OUT_FUNCS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div",
              ast.MatMult: "matmul", ast.Pow: "pow"}


def out_form(rhs: str, target: str) -> str | None:
    """``torch.add(X, Y, out=Z)`` for ``Z[:] = X + Y``; None when there is no plain one."""
    try:
        node = ast.parse(rhs, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.BinOp) and type(node.op) in _OUT_FUNCS:
        return f"torch.{_OUT_FUNCS[type(node.op)]}({ast.unparse(node.left)}, " \
               f"{ast.unparse(node.right)}, out={target})"
    if isinstance(node, ast.Call) and ast.unparse(node.func).startswith("torch.") \
            and not any(k.arg == "out" for k in node.keywords):
        node.keywords.append(ast.keyword("out", ast.Name(target)))
        return ast.unparse(node)
    return None


class MemoryProbe:
    """Reset the peaks right before the body (at construction); read them right after it."""

    def __init__(self, ctx, stack, before: snapshot.Snapshot | None) -> None:
        if before is None:
            before = snapshot.take(named_tensors(ctx.namespace), keep_refs=ctx.options.trace)
        self.before_bytes = before.bytes_by_device()
        self.trace: LineTrace | None = None
        self.trace_result: TraceResult | None = None
        self.hwm = self.rss_end = None
        self.cuda_result: list[dict] = []
        self.trace_record: Trace | None = None
        if ctx.options.trace:
            facts = ctx.code
            code = CellCode(facts, ctx.source.tree, ctx.cell)
            self.trace = LineTrace(ctx.shell, ctx.source, ctx.cell, before,
                                   [*facts.assigned, *facts.inplace], code.names_used)
        self.problems = ctx.problems
        self.interrupted = False  # set when the cell ended with KeyboardInterrupt
        self.cuda = cuda_start(self.problems)
        self.cpu_reason = procmem.reset_peak()
        self.rss_start = procmem.rss()
        if self.trace is not None:
            self.trace.start(caller_cell_frame())
        stack.callback(self._end)

    def _end(self) -> None:
        """First thing after the body: read the peaks, then stop tracing."""
        self.hwm, self.rss_end = procmem.high_water(), procmem.rss()
        self.cuda_result = cuda_end(self.cuda, self.problems)
        if self.trace is not None and self.interrupted:  # Ctrl-C: no figures worth a wait
            self.trace.abandon()
            self.trace = None
        if self.trace is not None:
            result = self.trace_result = self.trace.stop()
            self.trace = None
            self.trace_record = Trace(
                inplace={n: result.refs(v) for n, v in result.inplace.items()},
                bound={n: result.refs(v) for n, v in result.bound.items()}) \
                if result.lines_unavailable is None else None

    def trace_lines(self) -> Trace | None:
        """The exact lines ``--trace`` saw (None without it), for tracking."""
        return self.trace_record

    def collect(self, ctx, end, tracking) -> MemorySection:
        if tracking is not None:
            after = snapshot.Snapshot(facts={n: f for n, f in tracking.after.items()
                                             if not n.startswith("Out[")})
        else:
            after = snapshot.take(end.named)
        cpu = self._cpu()
        notes = self._temporaries(ctx, after)
        return MemorySection(
            before=self.before_bytes, after=after.bytes_by_device(), cpu=cpu,
            cuda=self.cuda_result, trace=self.trace_result, notes=notes, cell=ctx.cell,
            traced=ctx.options.trace, autograd=held_of(ctx, end))

    def _cpu(self) -> dict:
        if self.cpu_reason is not None or self.hwm is None or self.rss_start is None:
            return {"method": None, "reason": self.cpu_reason or "no-proc",
                    "rss_end": self.rss_end}
        return {"method": "vmhwm", "peak": self.hwm - self.rss_start,
                "end": (self.rss_end or 0) - self.rss_start, "rss_start": self.rss_start,
                "rss_end": self.rss_end, "hwm": self.hwm}

    def _temporaries(self, ctx, after: snapshot.Snapshot) -> list[dict]:
        notes = []
        for site in ctx.code.computed_slice_assigns:
            size, exact = None, False
            stats = self.trace_result.lines.get((ctx.cell, site.line)) if self.trace_result else None
            if stats is not None and self.trace_result.bytes_unavailable is None:
                size, exact = stats.max_rise, True
            elif site.expr in after.facts:
                size = after.facts[site.expr].nbytes
            notes.append({"kind": "temporary", "line": site.line, "target": site.expr,
                          "rhs": site.detail, "code": ctx.source.line(site.line).strip(),
                          "bytes": size, "exact": exact, "static": site.static,
                          "alternative": out_form(site.detail, site.expr)})
        return notes
