"""DOT text -> SVG, PNG or PDF with Graphviz's ``dot`` program.

Without ``dot`` on PATH, ``GraphvizMissing`` carries a message that says how to install
it; a failing or hanging ``dot`` gives ``RenderError``. Callers that display turn both
into a message and show the DOT source instead of a picture.
"""
from __future__ import annotations

import re
import shutil
import subprocess

from ..messages import t

FORMATS = ("svg", "png", "pdf")
TIMEOUT = 120.0


class GraphvizMissing(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not on PATH)."""


class RenderError(RuntimeError):
    """``dot`` failed or did not finish in time."""


def render(source: str, fmt: str = "svg", timeout: float = TIMEOUT) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(t("graph.no_dot"))
    try:
        proc = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"),
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(t("graph.dot_timeout", seconds=f"{timeout:g}")) from None
    except OSError as err:
        raise RenderError(t("graph.dot_failed", error=str(err))) from None
    if proc.returncode != 0:
        error = proc.stderr.decode("utf-8", "replace").strip()[:800]
        raise RenderError(t("graph.dot_failed", error=error))
    return proc.stdout


_PROLOG = re.compile(r"^.*?(?=<svg[\s>])", re.S)
_SVG_TAG = re.compile(r"<svg\b")


def inline_svg(svg: str) -> str:
    """SVG text for embedding in HTML: no XML prolog, never scaled down by notebook CSS
    (JupyterLab and VS Code give ``svg`` a ``max-width: 100%``)."""
    svg = _PROLOG.sub("", svg, count=1)
    return _SVG_TAG.sub('<svg style="max-width:none;display:block"', svg, count=1)
