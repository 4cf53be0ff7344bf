"""The gradient-flow section: parameters that received gradients, with their norms.

Text: a compact table (module order). HTML: the bar chart (``chart.py``) as an ``<img>``
with an SVG data URI. JSON: one entry per parameter (``norm`` and ``max`` are ``null``
when not finite, ``nonfinite`` says ``nan`` or ``inf``), the norm per module, and the
spread of module norms (``wide_spread`` past six orders of magnitude).
"""
from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass

from ..display import DIM_STYLE, html_text
from ..messages import t
from ..tensors.info import dims_text
from .chart import bar_chart

MAX_ROWS = 40
WIDE = 1e6


@dataclass
class Row:
    name: str
    module: str | None
    shape: tuple
    device: str
    norm: float | None
    max: float | None

    @property
    def nonfinite(self) -> str | None:
        for v in (self.max, self.norm):
            if v is not None and math.isnan(v):
                return "nan"
        for v in (self.max, self.norm):
            if v is not None and math.isinf(v):
                return "inf"
        return None

    def to_json(self) -> dict:
        bad = self.nonfinite
        return {"name": self.name, "module": self.module, "shape": list(self.shape),
                "device": self.device, "norm": None if bad else self.norm,
                "max": None if bad else self.max, "finite": bad is None, "nonfinite": bad}


def _number(v: float | None) -> str:
    if v is None:
        return "?"
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf"
    return f"{v:.2e}"


class GradFlowSection:
    def __init__(self, rows: list[Row], cell: str, line: int | None, anomaly: bool = False):
        self.rows, self.cell, self.line, self.anomaly = rows, cell, line, anomaly

    def __bool__(self) -> bool:
        return bool(self.rows)

    # ---- data -------------------------------------------------------------------
    def modules(self) -> list[tuple[str, float]]:
        """Each module's gradient norm (the L2 norm over its parameters' finite norms)."""
        sums: dict[str, float] = {}
        for r in self.rows:
            if r.nonfinite is None and r.norm is not None:
                key = r.module or r.name
                sums[key] = sums.get(key, 0.0) + r.norm ** 2
        return [(m, math.sqrt(s)) for m, s in sums.items()]

    def spread(self) -> float | None:
        norms = [n for _, n in self.modules() if n > 0]
        return max(norms) / min(norms) if len(norms) >= 2 else None

    def to_json(self) -> dict:
        spread = self.spread()
        return {"parameters": [r.to_json() for r in self.rows],
                "modules": [{"module": m, "norm": n} for m, n in self.modules()],
                "spread": spread, "wide_spread": bool(spread and spread > WIDE),
                "line": self.line, "anomaly": self.anomaly}

    # ---- text -------------------------------------------------------------------
    def title(self) -> str:
        where = t("gradflow.at_line", line=self.line) if self.line else ""
        return t("gradflow.title", n=len(self.rows), modules=len(self.modules()) or 1) + where

    def notes(self) -> list[str]:
        out = []
        spread = self.spread()
        if spread and spread > WIDE:
            ordered = sorted(self.modules(), key=lambda mn: mn[1])
            low, high = ordered[0], ordered[-1]
            out.append(t("gradflow.spread", spread=f"{spread:.1e}", low=low[0], low_norm=_number(low[1]),
                         high=high[0], high_norm=_number(high[1])))
        if len(self.rows) > MAX_ROWS:
            out.append(t("gradflow.more", n=len(self.rows) - MAX_ROWS))
        return out

    def to_text(self) -> str:
        rows = self.rows[:MAX_ROWS]
        head = [t("gradflow.col.parameter"), t("gradflow.col.shape"), t("gradflow.col.norm"),
                t("gradflow.col.max")]
        cells = [[dims_text(r.shape), _number(r.norm), _number(r.max)]
                 for r in rows]
        table = [head] + [[r.name, *c] for r, c in zip(rows, cells)]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = [self.title()]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        return "\n".join(lines + self.notes())

    def svg(self) -> str:
        rows = [(r.name, r.module or r.name, r.norm, r.max) for r in self.rows[:MAX_ROWS]]
        head = f'{t("gradflow.col.norm"):<10}{t("gradflow.col.max")}'
        return bar_chart(rows, t("gradflow.legend"), {"nan": "NaN", "inf": "inf"}, head)

    def to_html(self) -> str:
        esc = html.escape
        data = base64.b64encode(self.svg().encode("utf-8")).decode("ascii")
        alt = t("gradflow.alt", n=len(self.rows))
        parts = [f'<div style="margin:4px 0 2px 0"><b>{esc(self.title())}</b></div>',
                 f'<img src="data:image/svg+xml;base64,{data}" alt="{esc(alt)}" '
                 f'style="max-width:100%;height:auto">']
        parts += [f'<div style="{DIM_STYLE}">{html_text(n)}</div>' for n in self.notes()]
        return "\n".join(parts)
