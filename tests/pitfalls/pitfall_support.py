"""Shared helpers of the pitfall tests (no tests here)."""
from __future__ import annotations

from support import autograd


def cell(ip, body: str, options: str = ""):
    """Run ``body`` under ``%%autograd --out r --no-graph OPTIONS``; returns (result, report)."""
    return autograd(ip, body, f"--no-graph {options}")


def kinds(report) -> list[tuple[str, str, int | None]]:
    return [(f.kind, f.variable, f.line) for f in report.findings]


def only(report, kind: str):
    found = [f for f in report.findings if f.kind == kind]
    assert len(found) == 1, [f.to_json() for f in report.findings]
    return found[0]


def our_notes(exc: BaseException) -> list[str]:
    return [n for n in getattr(exc, "__notes__", ()) if n.startswith("graphmagic [")]
