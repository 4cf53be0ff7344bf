"""Where a pitfall happened: the cell frame, its ``In[n]``, the line's text, the expression.

Cell code runs under the filename IPython gave it (``run.source.filename`` for the
current cell, ``shell.compile._filename_map`` knows earlier ones), with the notebook's
line numbers. ``expr_at(frame)`` reads the expression the frame is executing from the
instruction's source position (``co_positions``), so ``print(a.grad, b.grad)`` tells which
``.grad`` read is running. ``resolve`` evaluates a pasteable name (``x``, ``m.fc.weight``,
``xs[0]``, ``opt.state[m.fc.weight]['exp_avg']``) without running any of the user's code:
attributes come from instance ``__dict__``s and modules' parameter, buffer and submodule
stores (never ``__getattr__``, a property or ``__getattribute__``), items from the built-in
list, tuple and dict methods (never an override; dict keys matched by identity or as plain
str/int), and a tensor's own attributes are not evaluated.
"""
from __future__ import annotations

import ast
import builtins
import linecache
import sys
from pathlib import Path
from types import FrameType, MemberDescriptorType, ModuleType

import torch

from ..tensors.info import is_tensor
from ..tensors.names import MISSING, class_attribute, field, items, module_member

_PLAIN_LOOKUP = (class_attribute(object, "__getattribute__"),
                 class_attribute(ModuleType, "__getattribute__"))
_PLAIN_KEYS = (str, int, bool)


class Locator:
    """Maps filenames and frames to the cells they belong to."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.filename = ctx.source.filename
        self.cells = getattr(getattr(ctx.shell, "compile", None), "_filename_map", None) or {}
        self._positions: dict = {}

    def is_cell(self, filename: str | None) -> bool:
        return filename is not None and (filename == self.filename or filename in self.cells)

    def cell(self, filename: str | None) -> str:
        """``In[n]`` of the cell that ``filename`` belongs to (this cell when unknown)."""
        if filename is None or filename == self.filename:
            return self.ctx.cell
        number = self.cells.get(filename)
        return f"In[{number}]" if number is not None else self.ctx.cell

    def code(self, filename: str | None, line: int | None) -> str:
        """The text of ``line`` as the notebook shows it."""
        if line is None:
            return ""
        if filename is None or filename == self.filename:
            return self.ctx.source.line(line)
        return linecache.getline(filename, line).rstrip("\r\n")

    def cell_frame(self, frame: FrameType | None) -> FrameType | None:
        """The innermost frame of cell code at or above ``frame``."""
        while frame is not None:
            if self.is_cell(frame.f_code.co_filename):
                return frame
            frame = frame.f_back
        return None

    def traceback_frame(self, tb) -> tuple[FrameType, int] | None:
        """The innermost cell frame of a traceback and its line."""
        found = None
        while tb is not None:
            if self.is_cell(tb.tb_frame.f_code.co_filename):
                found = (tb.tb_frame, tb.tb_lineno)
            tb = tb.tb_next
        return found

    def expr_at(self, frame: FrameType) -> str | None:
        """The source text of the expression ``frame`` is executing (as written)."""
        code = frame.f_code
        positions = self._positions.get(code)
        if positions is None:
            positions = self._positions[code] = list(code.co_positions())
        index = frame.f_lasti // 2
        if not 0 <= index < len(positions):
            return None
        start, end, col, end_col = positions[index]
        if None in (start, end, col, end_col):
            return None
        return segment(linecache.getlines(code.co_filename), start, end, col, end_col)

    def close(self) -> None:
        self._positions.clear()


def segment(lines: list[str], start: int, end: int, col: int, end_col: int) -> str | None:
    """Source between two positions (columns are UTF-8 byte offsets, as in the AST)."""
    if not 1 <= start <= end <= len(lines):
        return None
    chunk = [line.encode("utf-8") for line in lines[start - 1:end]]
    if len(chunk) == 1:
        return chunk[0][col:end_col].decode("utf-8", "replace")
    chunk[0] = chunk[0][col:]
    chunk[-1] = chunk[-1][:end_col]
    return b"".join(chunk).decode("utf-8", "replace")


def grad_owner(text: str | None) -> str | None:
    """For the source of a ``.grad`` read (``ind_b.grad``, ``(y).grad``,
    ``getattr(ind_b, 'grad')``) the owner ``ind_b``."""
    if not text:
        return None
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Attribute) and node.attr == "grad":
        return ast.unparse(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
            and node.args[1].value == "grad":
        return ast.unparse(node.args[0])
    return None


def resolve(expr: str | None, *scopes: dict) -> object:
    """The value of a pasteable expression in ``scopes`` (first wins), or ``MISSING``.

    Only names, attributes (never ``.grad``, whose read may warn) and subscripts by
    constants or names are evaluated; anything else is ``MISSING``.
    """
    if not expr:
        return MISSING
    try:
        return _value(ast.parse(expr, mode="eval").body, scopes)
    except Exception:
        return MISSING


def _value(node: ast.AST, scopes: tuple[dict, ...]) -> object:
    if isinstance(node, ast.Name):
        return _name(node.id, scopes)
    if isinstance(node, ast.Attribute) and node.attr != "grad":
        return _attribute(_value(node.value, scopes), node.attr)
    if isinstance(node, ast.Subscript):
        return _item(_value(node.value, scopes), _index(node.slice, scopes))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
            and len(node.args) == 2 and isinstance(node.args[1], ast.Constant):
        return _attribute(_value(node.args[0], scopes), node.args[1].value)
    raise ValueError(ast.unparse(node))


def _name(name: str, scopes: tuple[dict, ...]) -> object:
    for scope in scopes:
        if issubclass(type(scope), dict):
            found = dict.get(scope, name, MISSING)
        else:  # a frame's locals proxy
            found = scope[name] if name in scope else MISSING
        if found is not MISSING:
            return found
    found = vars(builtins).get(name, MISSING)
    if found is MISSING:
        raise NameError(name)
    return found


def _attribute(obj: object, name: object) -> object:
    """``obj.name`` where it is stored data (see the module docstring), else an error."""
    cls = type(obj)
    if type(name) is not str or is_tensor(obj) \
            or class_attribute(cls, "__getattribute__") not in _PLAIN_LOOKUP:
        raise AttributeError(name)
    if issubclass(cls, torch.nn.Module):
        found = module_member(obj, name)
        if found is not MISSING:
            return found
    declared = class_attribute(cls, name)
    if declared is not MISSING and class_attribute(type(declared), "__get__") is not MISSING:
        if type(declared) is MemberDescriptorType:  # a __slots__ entry: plain data
            return declared.__get__(obj, cls)
        raise AttributeError(name)  # a property, method or other code
    found = field(obj, name)
    if found is not MISSING:
        return found
    if declared is not MISSING:
        return declared
    raise AttributeError(name)


def _item(obj: object, index: object) -> object:
    """``obj[index]`` through the built-in containers' own methods, else an error."""
    cls = type(obj)
    if issubclass(cls, torch.nn.Module):  # Sequential, ModuleList/Dict, ParameterList/Dict
        if type(index) is int and index < 0:
            index += sum(len(items(field(obj, s), None)) for s in ("_modules", "_parameters"))
        found = module_member(obj, str(index)) if type(index) in (int, str) else MISSING
        if found is MISSING:
            raise KeyError(index)
        return found
    if issubclass(cls, (list, tuple)) and type(index) is int:
        return (list.__getitem__ if issubclass(cls, list) else tuple.__getitem__)(obj, index)
    if issubclass(cls, dict):
        plain = type(index) in _PLAIN_KEYS
        for key, value in items(obj, None):
            if key is index or (plain and type(key) is type(index) and key == index):
                return value
    raise KeyError(index)


def _index(node: ast.AST, scopes: tuple[dict, ...]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
            and isinstance(node.operand, ast.Constant):
        return -node.operand.value
    if isinstance(node, ast.Tuple):
        return tuple(_index(e, scopes) for e in node.elts)
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):  # opt.state[m.fc.weight]
        return _value(node, scopes)
    raise ValueError(ast.unparse(node))


_ARGS = BaseException.__dict__["args"]


def exception_message(exc: BaseException) -> str:
    """An exception's message as raised (``RuntimeError("...")``: PyTorch's errors), read
    from its ``args``: ``str(exc)`` may run a ``__str__`` of the user's. '' otherwise."""
    args = _ARGS.__get__(exc)
    return args[0] if len(args) == 1 and type(args[0]) is str else ""


def frame_scopes(frame: FrameType | None, namespace: dict) -> tuple[dict, ...]:
    """Where names are looked up: the frame's locals and globals, then the namespace."""
    if frame is None:
        return (namespace,)
    if frame.f_locals is frame.f_globals:
        return (frame.f_globals,)
    return (frame.f_locals, frame.f_globals)


_OURS = str(Path(__file__).resolve().parent.parent)


def caller_cell_frame():
    """The frame of the user's cell code that called into graphmagic (through IPython's
    magic machinery), or None."""
    skip = [_OURS]
    ipython = sys.modules.get("IPython")
    if ipython is not None and getattr(ipython, "__file__", None):
        skip.append(str(Path(ipython.__file__).resolve().parent))
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        try:
            resolved = str(Path(filename).resolve())
        except (OSError, ValueError):
            resolved = filename
        if not resolved.startswith(tuple(skip)):
            return frame
        frame = frame.f_back
    return None
