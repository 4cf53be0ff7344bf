"""A small horizontal bar chart of gradient norms on a log scale, as standalone SVG.

One row per parameter (module order), a bar for the L2 norm of its gradient and a tick for
its largest absolute element; NaN and Inf are written in red instead of a bar, an all-zero
gradient as "0". Rows of one module share a shaded band. The SVG is self-contained (no
fonts or scripts to load), so it can be shown as an ``<img>`` data URI, which JupyterLab
keeps for untrusted notebooks. Every text is escaped.
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape

ROW = 16
BAR_W = 300
VALUE_W = 170
GAP = 26          # between the bars' last tick label and the numbers
TOP = 26
CHAR_W = 6.6
BAR = "#4c78a8"
TICK = "#1b1b1b"
BAD = "#c0392b"
BAND = "#eef2f7"
GRID = "#d5d9de"
TEXT = "#333333"


def decades(values: list[float]) -> tuple[int, int]:
    """The powers of ten around the positive finite ``values`` (at most 16 decades)."""
    good = [v for v in values if v > 0 and math.isfinite(v)]
    if not good:
        return -1, 0
    lo, hi = math.floor(math.log10(min(good))), math.ceil(math.log10(max(good)))
    if hi <= lo:
        hi = lo + 1
    return max(lo, hi - 16), hi


def bar_chart(rows: list[tuple[str, str | None, float | None, float | None]], legend: str,
              bad_text: dict[str, str], value_head: str = "") -> str:
    """``rows``: (label, band key, norm, max |g|); ``value_head`` heads the numbers column."""
    lo, hi = decades([v for _, _, n, m in rows for v in (n, m) if v is not None])
    label_w = int(min(280, max(60, max((len(r[0]) for r in rows), default=0) * CHAR_W + 10)))
    width = label_w + BAR_W + GAP + VALUE_W
    height = TOP + ROW * len(rows) + 24

    def x(v: float) -> float:
        v = min(max(v, 10.0 ** lo), 10.0 ** hi)
        return label_w + BAR_W * (math.log10(v) - lo) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
           f'font-size="11">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    band, shade = None, False
    for i, (_, key, _, _) in enumerate(rows):
        if key != band:
            band, shade = key, not shade
        if shade:
            out.append(f'<rect x="0" y="{TOP + i * ROW}" width="{width}" height="{ROW}" fill="{BAND}"/>')
    step = max(1, (hi - lo) // 8)
    for d in range(lo, hi + 1, step):
        gx = x(10.0 ** d)
        out.append(f'<line x1="{gx:.1f}" y1="{TOP - 4}" x2="{gx:.1f}" y2="{TOP + ROW * len(rows)}" '
                   f'stroke="{GRID}" stroke-width="1"/>')
        out.append(f'<text x="{gx:.1f}" y="{TOP - 8}" text-anchor="middle" fill="{TEXT}">1e{d}</text>')
    if value_head:
        out.append(f'<text x="{label_w + BAR_W + GAP}" y="{TOP - 8}" fill="{TEXT}">{escape(value_head)}</text>')
    for i, (label, _, norm, top) in enumerate(rows):
        y = TOP + i * ROW
        mid = y + ROW / 2 + 4
        out.append(f'<text x="{label_w - 6}" y="{mid:.1f}" text-anchor="end" fill="{TEXT}">'
                   f'{escape(label)}</text>')
        if norm is None:
            continue
        if not (math.isfinite(norm) and (top is None or math.isfinite(top))):
            kind = "nan" if math.isnan(top if top is not None else norm) else "inf"
            out.append(f'<text x="{label_w + 4}" y="{mid:.1f}" fill="{BAD}" font-weight="bold">'
                       f'{escape(bad_text[kind])}</text>')
            continue
        if norm == 0:
            out.append(f'<text x="{label_w + 4}" y="{mid:.1f}" fill="{TEXT}">0</text>')
            continue
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(1.0, x(norm) - label_w):.1f}" '
                   f'height="{ROW - 6}" fill="{BAR}"/>')
        if top:
            tx = x(top)
            out.append(f'<line x1="{tx:.1f}" y1="{y + 1}" x2="{tx:.1f}" y2="{y + ROW - 1}" '
                       f'stroke="{TICK}" stroke-width="2"/>')
        value = f"{norm:.2e}" + (f"  {top:.2e}" if top is not None else "")
        out.append(f'<text x="{label_w + BAR_W + GAP}" y="{mid:.1f}" fill="{TEXT}">{escape(value)}</text>')
    out.append(f'<text x="{label_w}" y="{height - 8}" fill="{TEXT}">{escape(legend)}</text>')
    out.append("</svg>")
    return "\n".join(out)
