"""The variables section of the report: one compact table of the tensors a cell touched.

Rows come sorted with the changes that matter first (in place behind autograd's back,
in place, rebound, new, deleted, autograd state only, then unchanged with ``--all``).
Ids are shown as ``id(x)`` prints them. ``to_json`` carries the same rows as data.

The HTML table fits a notebook's output at 1024 px for a dozen rows: ids shortened to
the digits that tell them apart (the full value on hover and in the folded columns),
texts that wrap, ``is_leaf`` and ``retains_grad`` folded into a ``<details>``; where it
is still too wide, only the table scrolls.
"""
from __future__ import annotations

import html

from ..code.sites import LineRef, natural_key
from ..display import DIM_STYLE, html_text
from ..messages import t
from ..tensors.snapshot import TensorFacts
from ..tensors.info import human_bytes
from .probe import Tracking

_ORDER = {"via-data": 0, "storage-replaced": 0}
_STATUS_ORDER = {"in-place": 1, "rebound": 2, "new": 3, "deleted": 4, "state": 5, "unchanged": 6}
TABLE_STYLE = "border-collapse:collapse;font-size:12px;margin:4px 0;"
ROW_STYLE = "border-bottom:1px solid rgba(128,128,128,.3);"
CELL_STYLE = "padding:1px 5px;text-align:left;vertical-align:top;"
HEAD_STYLE = "padding:1px 5px;text-align:left;vertical-align:bottom;"
WRAP_STYLE = "overflow-x:auto;max-width:100%;"
MONO = "font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;"
# status pills: a fixed light background with dark text reads in light and dark themes
STATUS_COLOR = {"in-place": ("#ffe3c2", "#7a3e00"), "rebound": ("#dbe8ff", "#1a4aa8"),
                "new": ("#d3f5e1", "#0b5a2b"), "deleted": ("#e4e6ea", "#3a4250")}
PILL_STYLE = "display:inline-block;padding:0 5px;border-radius:8px;white-space:nowrap;"
SHORT_ID = 4  # fewest digits of an id shown
MAX_ROWS = 200  # shown in text/html; the JSON has every row
COLUMNS = ("name", "status", "id", "version", "tensor", "bytes", "requires_grad", "is_leaf",
           "grad_fn", "retains_grad", "grad", "lines")
FOLDED = ("is_leaf", "retains_grad")  # HTML: in the <details> under the table


def status_label(status: str) -> str:
    return t(f"tracking.status.{status}")


def detail_text(tr: Tracking, name: str) -> str:
    code = tr.details.get(name, "")
    if not code or (code == "new-memory" and tr.changed.get(name) == "new"):
        return ""
    if code == "new-memory" and tr.detail_args.get(name, {}).get("then_at"):
        return t("tracking.detail.new-memory") + t("tracking.detail.then_in_place",
                                                   at=tr.detail_args[name]["then_at"])
    args = dict(tr.detail_args.get(name, {}))
    text = t(f"tracking.detail.{code}", **{k: v for k, v in args.items() if k not in ("rhs", "then_at")})
    if args.get("rhs") and code in ("temporary", "new-then-in-place"):
        text += t("tracking.detail.temporary_rhs", rhs=args["rhs"])
    if args.get("then_at"):
        text += t("tracking.detail.then_in_place", at=args["then_at"])
    return text


def lines_text(refs: list[LineRef], cell: str) -> str:
    parts = []
    for r in refs:
        text = str(r.line) if r.cell == cell else f"{r.cell}:{r.line}"
        if r.count and r.count > 1:
            text += f" (×{r.count})"
        parts.append(text)
    if not parts:
        return ""
    static = any(r.static for r in refs)
    return ", ".join(parts) + (" " + t("tracking.static") if static else "")


def _pair(before, after, present: tuple[bool, bool] = (True, True)) -> str:
    """``after``, or ``before → after`` when the value changed; ``present`` says which side
    exists (a new tensor has no before, a deleted one no after), so that None is a value."""
    has_before, has_after = present
    if not has_before and not has_after:
        return ""
    if not has_before:
        return _show(after)
    if not has_after:
        return _show(before)
    return _show(after) if before == after else f"{_show(before)} → {_show(after)}"


def _show(value) -> str:
    if value is None:
        return "None"
    return str(value)


class VariablesSection:
    def __init__(self, tracking: Tracking, show_all: bool = False):
        self.tracking = tracking
        self.show_all = show_all
        self.rows = self._rows()

    # ---- data -------------------------------------------------------------------
    def _rows(self) -> list[dict]:
        tr = self.tracking
        names = list(tr.changed) + [n for n in tr.unchanged if n in tr.state_changes]
        if self.show_all:
            names += [n for n in tr.unchanged if n not in tr.state_changes]
        rows = _one_per_tensor([self._row(n) for n in names])
        rows.sort(key=lambda r: (_ORDER.get(r["detail_code"], _STATUS_ORDER[r["kind"]]),
                                 min((ln["line"] for ln in r["lines"]), default=10**9),
                                 natural_key(r["name"])))
        return rows

    def _row(self, name: str) -> dict:
        tr = self.tracking
        b: TensorFacts | None = tr.before.get(name)
        a: TensorFacts | None = tr.after.get(name)
        now = a or b
        status = tr.changed.get(name, "unchanged")
        kind = status if status != "unchanged" or name not in tr.state_changes else "state"

        def both(field):
            return [getattr(b, field) if b else None, getattr(a, field) if a else None]

        return {
            "name": name, "names": [name], "present": [b is not None, a is not None],
            "status": status, "kind": kind, "detail_code": tr.details.get(name, ""),
            "detail": detail_text(tr, name), "id": both("id"), "version": both("version"),
            "shape": now.shape, "dtype": now.dtype, "device": now.device,
            "bytes": now.nbytes, "storage_bytes": now.storage_bytes,
            "requires_grad": both("requires_grad"), "is_leaf": both("is_leaf"),
            "grad_fn": both("grad_fn"), "retains_grad": both("retains_grad"), "grad": both("grad"),
            "state_changes": list(tr.state_changes.get(name, [])),
            "lines": [r.to_json() for r in tr.lines.get(name, [])],
            "shares_storage": [{"other": o, "how": h} for o, h in tr.shares_storage_with(name)],
        }

    def counts(self) -> dict[str, int]:
        """Tensors (not names) per status: a parameter reachable as ``net.fc1.weight`` and as
        ``params[0]`` counts once."""
        tr = self.tracking
        counts = {s: 0 for s in ("new", "rebound", "in-place", "deleted")}
        seen: dict[str, set] = {s: set() for s in counts}
        for name, status in tr.changed.items():
            seen[status].add(_identity(tr, name, status))
        for status in counts:
            counts[status] = len(seen[status])
        state = {_identity(tr, n, "unchanged") for n in tr.unchanged if n in tr.state_changes}
        unchanged = {_identity(tr, n, "unchanged") for n in tr.unchanged}
        counts["state"] = len(state)
        counts["unchanged"] = len(unchanged - state)
        return counts

    def __bool__(self) -> bool:
        return bool(self.rows) or bool(self.tracking.unchanged)

    def to_json(self) -> dict:
        tr = self.tracking
        return {"rows": self.rows, "counts": self.counts(), "exact_lines": tr.exact_lines,
                "aliases": [g.to_json() for g in tr.aliases if self._shown(g)],
                "changed": dict(tr.changed)}

    def _shown(self, group) -> bool:
        listed = {r["name"] for r in self.rows}
        return self.show_all or any(m in listed for m in group.members)

    # ---- display ----------------------------------------------------------------
    def summary(self) -> str:
        counts = self.counts()
        parts = [t("tracking.count", label=status_label(s), n=counts[s])
                 for s in ("new", "rebound", "in-place", "deleted") if counts[s]]
        if counts["state"]:
            parts.append(t("tracking.state_counted", n=counts["state"]))
        unchanged = counts["unchanged"]
        if unchanged:
            key = "tracking.unchanged_listed" if self.show_all else "tracking.unchanged_counted"
            parts.append(t(key, n=unchanged))
        return t("tracking.title") + " · " + " · ".join(parts or [t("tracking.nothing")])

    def cells(self, row: dict) -> list[str]:
        status = status_label(row["status"])
        detail = row["detail"] or (", ".join(self._state_text(row)) if row["kind"] == "state" else "")
        if detail:
            status = t("tracking.status_detail", status=status, detail=detail)
        nbytes = human_bytes(row["bytes"])
        if row["storage_bytes"] > row["bytes"]:
            nbytes += " " + t("tracking.of_storage", total=human_bytes(row["storage_bytes"]))
        refs = [LineRef(**r) for r in row["lines"]]
        present = tuple(row["present"])
        return [" = ".join(row["names"]), status, _pair(*row["id"], present),
                _pair(*row["version"], present),
                f"{row['shape']} {row['dtype']} {row['device']}", nbytes,
                _pair(*row["requires_grad"], present), _pair(*row["is_leaf"], present),
                _pair(*row["grad_fn"], present), _pair(*row["retains_grad"], present),
                _grad_pair(row["grad"], present), lines_text(refs, self.tracking.cell)]

    def _state_text(self, row: dict) -> list[str]:
        tr = self.tracking
        b = tr.before.get(row["name"])
        a = tr.after.get(row["name"])
        zero, backward = tr.grad_lines.get(row["name"], (None, None))
        out = []
        for field in row["state_changes"]:
            if field != "grad":
                out.append(t("tracking.state.field", field=field))
            elif not a.grad:
                out.append(t("tracking.state.grad_cleared"))
            elif zero is not None and backward is not None and zero < backward:
                out.append(t("tracking.state.grad_zeroed_set", zero=zero, backward=backward))
            elif not b.grad:
                out.append(t("tracking.state.grad_set_at", backward=backward) if backward
                           else t("tracking.state.grad_set"))
            elif a.grad_id == b.grad_id:
                out.append(t("tracking.state.grad_accumulated_at", backward=backward) if backward
                           else t("tracking.state.grad_accumulated"))
            else:
                out.append(t("tracking.state.grad_replaced"))
        return out

    def alias_lines(self) -> list[str]:
        out = []
        for g in self.tracking.aliases:
            if not self._shown(g):
                continue
            for name, other, how in g.relations:
                if how == "shares storage":
                    out.append(t("tracking.alias_plain", name=name, other=other,
                                 size=human_bytes(g.bytes), device=g.device))
                    continue
                out.append(t("tracking.alias", name=name, other=other, how=t(f"tracking.how.{how}"),
                             size=human_bytes(g.bytes), device=g.device))
        return out

    def footer(self) -> str:
        if not self.rows:
            return ""
        return t("tracking.lines_exact") if self.tracking.exact_lines else t("tracking.lines_static")

    def to_text(self) -> str:
        lines = [self.summary()]
        if self.rows:
            header = [t(f"tracking.col.{c}") for c in COLUMNS]
            table = [header] + [self.cells(r) for r in self.rows[:MAX_ROWS]]
            widths = [max(_width(row[i]) for row in table) for i in range(len(COLUMNS))]
            for row in table:
                lines.append("  ".join(_pad(v, w) for v, w in zip(row, widths)).rstrip())
            if len(self.rows) > MAX_ROWS:
                lines.append(t("tracking.more_rows", n=len(self.rows) - MAX_ROWS))
        lines += self.alias_lines()
        if self.footer():
            lines.append(self.footer())
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        parts = [f'<div style="margin:4px 0 2px 0"><b>{esc(self.summary())}</b></div>']
        if self.rows:
            rows = self.rows[:MAX_ROWS]
            parts.append(self._table(rows, [c for c in COLUMNS if c not in FOLDED], _short_ids(rows)))
            folded = ("name", "id") + FOLDED
            heads = ", ".join(t(f"tracking.col.{c}") for c in folded[1:])
            parts.append(f'<details style="font-size:12px"><summary style="cursor:pointer;{DIM_STYLE}">'
                         f'{esc(heads)}</summary>{self._table(rows, folded, {})}</details>')
            if len(self.rows) > MAX_ROWS:
                more = t("tracking.more_rows", n=len(self.rows) - MAX_ROWS)
                parts.append(f'<div style="{DIM_STYLE}">{esc(more)}</div>')
        for line in self.alias_lines():
            parts.append(f'<div style="font-size:12px">{esc(line)}</div>')
        if self.footer():
            parts.append(f'<div style="{DIM_STYLE}">{html_text(self.footer())}</div>')
        return "\n".join(parts)

    def _table(self, rows: list[dict], columns: tuple | list, short: dict[int, str]) -> str:
        """``columns`` of ``rows`` as a table in its own scroll box; ids shortened by ``short``."""
        esc = html.escape
        out = [f'<div style="{WRAP_STYLE}"><table style="{TABLE_STYLE}"><thead><tr style="{ROW_STYLE}">']
        out += [f'<th style="{HEAD_STYLE}">{esc(t(f"tracking.col.{c}")).replace("_", "_<wbr>")}</th>'
                for c in columns]
        out.append("</tr></thead><tbody>")
        for row in rows:
            cells = dict(zip(COLUMNS, self.cells(row)))
            out.append(f'<tr style="{ROW_STYLE}">')
            for c in columns:
                style, body = CELL_STYLE, esc(cells[c])
                if c == "status":
                    body = self._status_html(row)
                elif c == "id":
                    style += MONO
                    body = _id_html(row["id"], short)
                elif c in ("name", "version"):
                    style += MONO
                out.append(f'<td style="{style}">{body}</td>')
            out.append("</tr>")
        out.append("</tbody></table></div>")
        return "".join(out)

    def _status_html(self, row: dict) -> str:
        bg, fg = STATUS_COLOR.get(row["status"], ("#eceef1", "#333b47"))
        pill = (f'<span style="{PILL_STYLE}background:{bg};color:{fg}">'
                f'{html.escape(status_label(row["status"]))}</span>')
        detail = row["detail"] or (", ".join(self._state_text(row)) if row["kind"] == "state" else "")
        return pill + (" " + html_text(detail) if detail else "")


def _short_ids(rows: list[dict]) -> dict[int, str]:
    """Each id as its last digits, as few as keep all of them apart (at least ``SHORT_ID``)."""
    ids = {i for r in rows for i in r["id"] if i is not None}
    texts = [str(i) for i in ids]
    n = SHORT_ID
    while n < max(map(len, texts), default=0) and len({x[-n:] for x in texts}) < len(texts):
        n += 1
    return {i: ("…" + str(i)[-n:] if len(str(i)) > n else str(i)) for i in ids}


def _id_html(pair, short: dict[int, str]) -> str:
    """``before → after`` (or the one id), each shortened with the full id on hover."""
    def one(i):
        if i is None:
            return "None"
        return f'<span title="{i}" style="white-space:nowrap">{html.escape(short.get(i, str(i)))}</span>'

    before, after = pair
    if before is None or after is None or before == after:
        return one(after if after is not None else before)
    return f"{one(before)} → {one(after)}"


def _grad_pair(pair, present: tuple[bool, bool] = (True, True)) -> str:
    b, a = pair
    label = {True: t("tracking.grad_set"), False: "None", None: None}
    return _pair(label[b], label[a], present)


def _identity(tr: Tracking, name: str, status: str) -> tuple:
    """Which tensor a name's row is about: its ids before and after (``status`` keeps the
    kinds apart)."""
    b, a = tr.before.get(name), tr.after.get(name)
    return (status, b.id if b else None, a.id if a else None)


_SAME = ("status", "kind", "detail_code", "detail", "id", "version", "requires_grad", "is_leaf",
         "grad_fn", "retains_grad", "grad", "state_changes")


def _one_per_tensor(rows: list[dict]) -> list[dict]:
    """Rows of one tensor under several names (``net.fc1.weight`` and ``params[0]``) that
    say the same thing become one row listing every name; ``name`` is the first of them."""
    merged: dict[tuple, dict] = {}
    out = []
    for row in rows:
        key = tuple(repr(row[k]) for k in _SAME)
        first = merged.get(key)
        if first is None:
            merged[key] = row
            out.append(row)
            continue
        first["names"].append(row["name"])
        first["names"].sort(key=natural_key)
        first["name"] = first["names"][0]
        first["lines"] += [ln for ln in row["lines"] if ln not in first["lines"]]
        for other in row["shares_storage"]:
            if other["other"] not in first["names"] and other not in first["shares_storage"]:
                first["shares_storage"].append(other)
    for row in out:
        row["shares_storage"] = [o for o in row["shares_storage"] if o["other"] not in row["names"]]
    return out


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
