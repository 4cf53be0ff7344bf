"""One cell's options: the built-in defaults, ``%autograd_config`` defaults, a cell's own.

``ipython/arguments.py`` declares and parses the option lines; this module only layers and
checks what was parsed, without IPython. A bad value raises ``OptionError``, which the IPython
side shows as ``UsageError``.
"""
from __future__ import annotations

import dataclasses
import keyword
import shlex
from dataclasses import dataclass, field

from ..messages import t
from ..tensors.names import is_user_name


class OptionError(ValueError):
    """A bad option value; the message names what was given and what is allowed."""


ENGINES = ("graphmagic", "torchviz")
DEFAULT_MAX_NODES = 300


@dataclass(frozen=True)
class CellOptions:
    """One cell's options after cell > %autograd_config > built-in defaults."""
    device: str | None = None
    quiet: bool = False
    show_all: bool = False
    trace: bool = False
    show_graph: bool = True
    max_nodes: int = DEFAULT_MAX_NODES
    saved: bool = False
    attrs: bool = False
    engine: str = "graphmagic"
    anomaly: bool = False
    no_warn: frozenset[str] = field(default_factory=frozenset)
    out: str | None = None
    graph_roots: tuple[str, ...] | None = None


DEFAULTABLE = ("device", "quiet", "show_all", "trace", "show_graph", "max_nodes", "saved",
               "attrs", "engine", "no_warn", "anomaly")


def build(given: dict[str, object], defaults: dict[str, object]) -> CellOptions:
    """Layer a cell's options over the configured defaults."""
    merged = {**{k: v for k, v in defaults.items() if k in DEFAULTABLE}}
    for key, value in given.items():
        if key == "no_warn":
            value = frozenset(defaults.get("no_warn", frozenset())) | value
        merged[key] = value
    out = merged.get("out")
    if out is not None and (not str(out).isidentifier() or keyword.iskeyword(out)
                            or not is_user_name(out) or out.startswith("__")):
        raise OptionError(t("option.bad_out", value=repr(out)))
    fields = {f.name for f in dataclasses.fields(CellOptions)}
    return CellOptions(**{k: v for k, v in merged.items() if k in fields})


def describe(defaults: dict[str, object]) -> str:
    """The defaults as the options that would set them."""
    parts = []
    for key in DEFAULTABLE:
        if key not in defaults:
            continue
        value = defaults[key]
        flag = {"show_all": "all", "show_graph": "graph"}.get(key, key).replace("_", "-")
        if isinstance(value, bool):
            parts.append(f"--{flag}" if value else f"--no-{flag}")
        elif isinstance(value, frozenset):
            parts.append(f"--no-warn {','.join(sorted(value))}" if value else "")
        else:
            parts.append(f"--{flag} {shlex.quote(str(value))}")
    return " ".join(p for p in parts if p)
