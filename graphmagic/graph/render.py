"""DOT text -> SVG, PNG, PDF (any Graphviz output format) with Graphviz's ``dot`` program,
and the picture as a ``data:`` URI for HTML.

Without ``dot`` on PATH, ``GraphvizMissing`` carries a message that says how to install
it; a failing or hanging ``dot`` gives ``RenderError``. Callers that display turn both
into a message and show the DOT source instead of a picture.
"""
from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess

import graphviz

from ..messages import t

FORMATS = tuple(sorted(graphviz.FORMATS))
TIMEOUT = 120.0
MIME = {"svg": "image/svg+xml", "png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg"}


class GraphvizMissing(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not on PATH)."""


class RenderError(RuntimeError):
    """``dot`` failed or did not finish in time."""


def render(source: str, fmt: str = "svg", timeout: float = TIMEOUT) -> bytes:
    fmt = fmt.lower()
    if fmt not in graphviz.FORMATS:
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


def jupyter_format() -> str:
    """The picture format ``graphviz.set_jupyter_format`` chose (``svg`` unless changed)."""
    try:
        from graphviz import jupyter_integration as ji

        return ji.get_jupyter_mimetype_format(ji.JupyterIntegration._jupyter_mimetype)
    except (ImportError, AttributeError, ValueError):
        return "svg"


_PROLOG = re.compile(r"^.*?(?=<svg[\s>])", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BETWEEN_TAGS = re.compile(r">\s+<")
_SVG_SIZE = re.compile(r'<svg[^>]*?\swidth="([\d.]+)pt"[^>]*?\sheight="([\d.]+)pt"', re.S)


def compact_svg(svg: str) -> str:
    """dot's SVG without the XML prolog, comments and indentation (same picture, smaller)."""
    svg = _COMMENT.sub("", _PROLOG.sub("", svg, count=1))
    return _BETWEEN_TAGS.sub("><", svg).strip()


def size(data: bytes, fmt: str) -> tuple[float, float] | None:
    """The picture's natural size in CSS pixels (dot draws at 96 dpi), or None."""
    if fmt == "svg":
        m = _SVG_SIZE.search(data[:2000].decode("utf-8", "replace"))
        return (float(m.group(1)) * 4 / 3, float(m.group(2)) * 4 / 3) if m else None
    if fmt == "png" and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return float(w), float(h)
    if fmt in ("jpeg", "jpg"):
        i = 2
        while i + 9 < len(data) and data[i] == 0xFF:
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return float(w), float(h)
            i += 2 + length
    return None


def data_uri(data: bytes, fmt: str) -> str:
    return f"data:{MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"
