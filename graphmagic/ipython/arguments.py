"""The options of ``%%autograd`` and ``%autograd_config``, declared once.

The ``magic_arguments`` declarations below are both the parser and the manual that
``%%autograd?`` shows. Every option parses to ``None`` when it is not given, so that
``%autograd_config`` defaults and built-in defaults can be layered under a cell's own
(``cell/options.py``).
"""
from __future__ import annotations

import argparse
import shlex

from IPython.core import magic_arguments as ma
from IPython.core.error import UsageError

from ..cell.options import DEFAULT_MAX_NODES, ENGINES
from ..findings import FINDING_KINDS
from ..messages import t


def _kinds(text: str) -> frozenset[str]:
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(kinds - set(FINDING_KINDS) - {"all"})
    if unknown:
        raise argparse.ArgumentTypeError(
            t("option.unknown_kind", kinds=", ".join(unknown), allowed=", ".join(FINDING_KINDS)))
    return frozenset(FINDING_KINDS) if "all" in kinds else kinds


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(t("option.no_names"))
    return names


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(t("option.not_count", text=repr(text))) from None
    if value < 0:
        raise argparse.ArgumentTypeError(t("option.negative", value=value))
    return value


# Options a cell and %autograd_config share; each is a decorator for a magic function.
SHARED = [
    ma.argument("-d", "--device", default=None, metavar="DEVICE",
                help="Run the cell with this default device: cpu, cuda, cuda:N, mps, xpu, "
                     "meta, or auto (the best available accelerator, else cpu). Tensors and "
                     "modules the cell creates without an explicit device land there. "
                     "Without it the cell runs as written."),
    ma.argument("-q", "--quiet", action=argparse.BooleanOptionalAction, default=None,
                help="Show only the findings (pitfall warnings), not the full report."),
    ma.argument("--all", dest="show_all", action=argparse.BooleanOptionalAction, default=None,
                help="List unchanged tensors in the variables table too (they are counted "
                     "otherwise)."),
    ma.argument("--trace", action=argparse.BooleanOptionalAction, default=None,
                help="Trace the cell line by line: exact tensor-byte peak and which line "
                     "allocated or changed what (slower, about 2x). It installs a "
                     "sys.settrace tracer for the cell, so do not combine it with pdb or "
                     "breakpoint() in the same cell."),
    ma.argument("--no-graph", dest="show_graph", action="store_false", default=None,
                help="Do not draw the autograd graph."),
    ma.argument("--max-nodes", type=_count, default=None, metavar="N",
                help=f"Collapse graphs larger than N nodes into summarised groups "
                     f"(default {DEFAULT_MAX_NODES}; 0 draws everything)."),
    ma.argument("--saved", action=argparse.BooleanOptionalAction, default=None,
                help="Show the tensors each backward node saved (drawn as freed after "
                     "backward())."),
    ma.argument("--attrs", action=argparse.BooleanOptionalAction, default=None,
                help="Show the attributes of each backward node."),
    ma.argument("--engine", choices=ENGINES, default=None,
                help="Who draws the graph: graphmagic (default) or the classic "
                     "torchviz.make_dot picture."),
    ma.argument("--anomaly", action=argparse.BooleanOptionalAction, default=None,
                help="Run the cell under PyTorch's anomaly detection "
                     "(torch.autograd.set_detect_anomaly(True)): a backward pass stops at the "
                     "first op that returns NaN, and the nonfinite-grad finding names that op "
                     "and the cell line that made it. Slower: every op records its stack."),
    ma.argument("--no-warn", type=_kinds, default=None, metavar="KIND[,KIND]",
                help="Silence these finding kinds (or 'all'): " + ", ".join(FINDING_KINDS) + "."),
]

CELL_ONLY = [
    ma.argument("-o", "--out", default=None, metavar="NAME",
                help="Also store the report in the variable NAME."),
    ma.argument("--graph", dest="graph_roots", type=_names, default=None,
                metavar="NAME[,NAME]",
                help="Draw the graph from these variables only (default: what the cell "
                     "computed, what it called backward() on, and its result)."),
]

CONFIG_ONLY = [
    ma.argument("--lang", choices=("en", "zh"), default=None,
                help="Language of graphmagic's messages (also GRAPHMAGIC_LANG=zh)."),
    ma.argument("--reset", action="store_true", default=False,
                help="Forget all defaults set earlier."),
]


def declare(arguments):
    """Apply a list of ``magic_arguments.argument`` decorators to a magic function."""
    def decorate(func):
        for argument in reversed(arguments):
            func = argument(func)
        return ma.magic_arguments()(func)
    return decorate


def split_options(line: str) -> list[str]:
    """Split an option line the same way on every path: quotes around a whole value go
    (``--device 'cpu'`` is ``--device cpu``), quotes inside one stay, as Python needs them
    (``--graph d["k"]``); an unquoted ``#`` starts a comment."""
    lex = shlex.shlex(line, posix=False)
    lex.whitespace_split, lex.commenters = True, "#"
    return [tok[1:-1] if len(tok) >= 2 and tok[0] == tok[-1] and tok[0] in "'\"" else tok
            for tok in lex]


def parse_line(func, line: str) -> dict[str, object]:
    """Parse a magic's argument line; what was not given is left out.

    An unquoted ``#`` starts a comment, as on any Python line: ``%%autograd -d cpu  # note``.
    """
    try:
        argv = split_options(line)
    except ValueError as err:  # unbalanced quotes
        raise UsageError(t("option.unreadable", line=repr(line), error=err)) from None
    args = func.parser.parse_args(argv)  # a MagicArgumentParser: bad options are UsageError
    return {k: v for k, v in vars(args).items() if v is not None}


