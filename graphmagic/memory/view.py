"""The memory section of the report: tensor bytes before/after, the cell's peak, notes.

Every number says what it is: tensor storage held by variables, process resident memory
(CPU peak by default), the CUDA caching allocator's tensor memory, or (``--trace``) the
exact bytes of tensors allocated on this thread.
"""
from __future__ import annotations

import html

from ..messages import t
from ..display import DIM_STYLE, html_text
from ..tensors.info import human_bytes
from ..trace.lines import TraceResult
from .held import HeldMemory

MAX_LINE_ROWS = 12
MAX_GRAPH_ROWS = 5
NOISE = 1 << 20  # a CPU peak below this is not worth a section of its own
ROW_STYLE = "border-bottom:1px solid rgba(128,128,128,.3);"
CELL_STYLE = "padding:1px 5px;text-align:left;vertical-align:top;"
HEAD_STYLE = "padding:1px 5px;text-align:left;vertical-align:bottom;"
CODE_CELL = "font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;white-space:pre-wrap;"


def _per_device(by_device: dict[str, int]) -> str:
    return ", ".join(f"{human_bytes(n)} ({d})" for d, n in sorted(by_device.items()))


def signed(n: int) -> str:
    return ("+" if n >= 0 else "") + human_bytes(n)


class MemorySection:
    def __init__(self, before: dict[str, int], after: dict[str, int], cpu: dict, cuda: list[dict],
                 trace: TraceResult | None, notes: list[dict], cell: str, traced: bool = False,
                 autograd: HeldMemory | None = None):
        self.before, self.after, self.cpu, self.cuda = before, after, cpu, cuda
        self.trace, self.notes, self.cell, self.traced = trace, notes, cell, traced
        self.autograd = autograd or HeldMemory()

    def __bool__(self) -> bool:
        cuda = any(c["peak"] or c["end"] for c in self.cuda)
        return bool(self.before or self.after or cuda or self.notes or self.traced
                    or (self.cpu.get("peak") or 0) >= NOISE or self.autograd)

    # ---- data -------------------------------------------------------------------
    def devices(self) -> list[str]:
        return sorted(set(self.before) | set(self.after))

    def line_rows(self) -> list[dict]:
        if self.trace is None:
            return []
        rows = []
        for (cell, line), s in self.trace.lines.items():
            changed = sorted(n for n, per in self.trace.inplace.items() if (cell, line) in per)
            if not (s.allocated or s.freed or changed):
                continue
            rows.append({"cell": cell, "line": line, "count": s.count, "allocated": s.allocated,
                         "freed": s.freed, "max_rise": s.max_rise, "inplace": changed,
                         "code": self.trace.code.get((cell, line), "")})
        rows.sort(key=lambda r: (-r["allocated"], -len(r["inplace"]), r["cell"], r["line"]))
        return rows

    def to_json(self) -> dict:
        tr = self.trace
        trace = None
        if tr is not None:
            trace = {"lines_unavailable": tr.lines_unavailable,
                     "bytes_unavailable": tr.bytes_unavailable,
                     "peak": dict(tr.peak), "end": dict(tr.end),
                     "peak_at": {d: ({"cell": k[0], "line": k[1]} if k else None)
                                 for d, k in tr.peak_at.items()},
                     "untracked_frees": tr.untracked_frees, "unwatched": tr.unwatched,
                     "lines": self.line_rows()}
        return {"namespace": {"before": dict(self.before), "after": dict(self.after),
                              "change": {d: self.after.get(d, 0) - self.before.get(d, 0)
                                         for d in self.devices()}},
                "cpu_peak": dict(self.cpu), "cuda": [dict(c) for c in self.cuda],
                "trace": trace, "notes": [dict(n) for n in self.notes],
                "autograd": self.autograd.to_json()}

    # ---- text -------------------------------------------------------------------
    def where(self, key) -> str:
        if key is None:
            return t("memory.before_first_line")
        cell, line = key
        return t("memory.at_line", line=line) if cell == self.cell else t("memory.at_cell_line", cell=cell, line=line)

    def lines(self) -> list[str]:
        out = []
        held = [t("memory.held_device", device=d, before=human_bytes(self.before.get(d, 0)),
                  after=human_bytes(self.after.get(d, 0)),
                  change=signed(self.after.get(d, 0) - self.before.get(d, 0)))
                for d in self.devices()]
        out.append(t("memory.title") + " · " + t("memory.held", devices="; ".join(held) or t("memory.no_tensors")))
        out.append(self._cpu_line())
        for c in self.cuda:
            out.append(t("memory.cuda", device=c["device"], peak=signed(c["peak"]), end=signed(c["end"]))
                       + " " + t("memory.cuda_reset" if c["reset"] else "memory.cuda_new"))
        out += self._trace_lines()
        out += self.autograd_lines()
        for n in self.notes:
            out.append(self._note(n))
        return [line for line in out if line]

    def _cpu_line(self) -> str:
        cpu = self.cpu
        if cpu.get("method") == "vmhwm":
            return t("memory.cpu_peak", peak=signed(cpu["peak"]), end=signed(cpu["end"]))
        reason = cpu.get("reason") or "no-proc"
        key = reason if reason in ("no-proc", "no-clear-refs") else "denied"
        rss = cpu.get("rss_end")
        text = t(f"memory.cpu_unavailable.{key}", detail=reason)
        if rss is not None:
            text += " " + t("memory.rss_now", rss=human_bytes(rss))
        return text

    def _trace_lines(self) -> list[str]:
        tr = self.trace
        if tr is None:
            return []
        out = []
        if tr.lines_unavailable:
            out.append(t(f"memory.trace.lines_unavailable.{tr.lines_unavailable}"))
        if tr.bytes_unavailable:
            reason = tr.bytes_unavailable
            key = reason if reason in ("no-profiler", "profiler-active", "cell-profiles", "tracer-active") else "error"
            out.append(t(f"memory.trace.bytes_unavailable.{key}", detail=reason))
        elif tr.lines_unavailable is None:
            devices = sorted(set(tr.peak) | set(tr.end)) or ["cpu"]
            for d in devices:
                out.append(t("memory.trace.peak", device=d, peak=signed(tr.peak.get(d, 0)),
                             where=self.where(tr.peak_at.get(d)), end=signed(tr.end.get(d, 0))))
        if tr.unwatched:
            out.append(t("memory.trace.unwatched", n=tr.unwatched))
        rows = self.line_rows()
        if rows:
            out.append(t("memory.trace.per_line"))
            for r in rows[:MAX_LINE_ROWS]:
                out.append("  " + self._line_row(r))
            if len(rows) > MAX_LINE_ROWS:
                out.append("  " + t("memory.trace.more", n=len(rows) - MAX_LINE_ROWS))
        return out

    def _line_row(self, r: dict) -> str:
        where = t("memory.line", line=r["line"]) if r["cell"] == self.cell else f"{r['cell']}:{r['line']}"
        parts = [where, t("memory.trace.ran", n=r["count"])]
        if r["allocated"] or r["freed"]:
            parts.append(t("memory.trace.bytes", allocated=human_bytes(r["allocated"]),
                           freed=human_bytes(r["freed"]), rise=human_bytes(r["max_rise"])))
        if r["inplace"]:
            parts.append(t("memory.trace.inplace", names=", ".join(r["inplace"])))
        if r["code"]:
            parts.append("│ " + r["code"])
        return "  ".join(parts)

    def autograd_lines(self) -> list[str]:
        """What the namespace's autograd graphs hold (``memory/held.py``)."""
        held = self.autograd
        if not held:
            return []
        total = held.total()
        saved = _per_device(total) if total else t("memory.autograd.none_saved")
        out = [t("memory.autograd.held", graphs=len(held.graphs), nodes=held.nodes, saved=saved)]
        holding = [g for g in held.graphs if g.saved]
        for g in holding[:MAX_GRAPH_ROWS]:
            names = ", ".join(g.tops[:3]) + (" …" if len(g.tops) > 3 else "")
            out.append("· " + t("memory.autograd.graph", names=names, nodes=g.nodes,
                                saved=_per_device(g.saved)))
        if len(holding) > MAX_GRAPH_ROWS:
            out.append("· " + t("memory.autograd.more", n=len(holding) - MAX_GRAPH_ROWS))
        rest = [g for g in held.graphs if not g.saved]
        if holding and rest:
            out.append("· " + t("memory.autograd.nodes_only", n=len(rest), nodes=sum(g.nodes for g in rest)))
        if held.top:
            out.append(t("memory.autograd.top", holders="; ".join(
                f"{h.label} {human_bytes(h.bytes)}" + (f" ({h.device})" if len(total) > 1 else "")
                for h in held.top)))
        hooked = sum(g.hooked for g in held.graphs)
        if hooked:
            out.append(t("memory.autograd.hooked", n=hooked))
        if held.truncated:
            out.append(t("memory.autograd.truncated"))
        return out

    def _note(self, n: dict) -> str:
        size = human_bytes(n["bytes"]) if n["bytes"] is not None else "?"
        key = "memory.temporary_exact" if n["exact"] else "memory.temporary_about"
        text = t(key, line=n["line"], code=n["code"], target=n["target"], rhs=n["rhs"], size=size)
        if n["alternative"]:
            text += " " + t("memory.temporary_out", alternative=n["alternative"], target=n["target"])
        return text

    def to_text(self) -> str:
        return "\n".join(self.lines())

    def to_html(self) -> str:
        esc = html.escape
        lines = self.lines()
        parts = [f'<div style="margin:4px 0 2px 0"><b>{esc(lines[0])}</b></div>']
        rows = self.line_rows()
        for line in lines[1:]:
            if line.startswith("  ") and rows:
                continue  # the per-line rows get a table below
            parts.append(f'<div style="font-size:12px">{html_text(line)}</div>')
        if rows:
            heads = [t(f"memory.col.{c}") for c in ("line", "ran", "allocated", "freed", "rise", "inplace", "code")]
            parts.append('<div style="overflow-x:auto;max-width:100%">'
                         f'<table style="border-collapse:collapse;font-size:12px;margin:2px 0"><tr style="{ROW_STYLE}">')
            parts += [f'<th style="{HEAD_STYLE}">{esc(h)}</th>' for h in heads]
            parts.append("</tr>")
            for r in rows[:MAX_LINE_ROWS]:
                where = str(r["line"]) if r["cell"] == self.cell else f"{r['cell']}:{r['line']}"
                cells = [where, str(r["count"]), human_bytes(r["allocated"]), human_bytes(r["freed"]),
                         human_bytes(r["max_rise"]), ", ".join(r["inplace"]), r["code"]]
                parts.append(f'<tr style="{ROW_STYLE}">' + "".join(
                    f'<td style="{CELL_STYLE}{CODE_CELL if i == 6 else ""}">'
                    f'{esc(c)}</td>' for i, c in enumerate(cells)) + "</tr>")
            parts.append("</table></div>")
            if len(rows) > MAX_LINE_ROWS:
                more = t("memory.trace.more", n=len(rows) - MAX_LINE_ROWS)
                parts.append(f'<div style="{DIM_STYLE}">{esc(more)}</div>')
        return "\n".join(parts)
