"""Hints for autograd's own errors, naming the cell's variable and line.

PyTorch's ``RuntimeError`` stays as it is (type and message); the caller adds the hint
as a note. The failing line is the innermost cell frame of the traceback; the tensor is
read from that line's code (``graphmagic.codescan``) and the frame's variables.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import torch

from ..tensors import names as names_mod
from ..code import pitfalls as code
from ..messages import t
from ..code.frames import exception_message, frame_scopes, resolve
from .sink import where_text
from ..tensors.info import is_tensor, reading, shape_str, storage_key, version

PATTERNS = (
    ("nonscalar-backward", re.compile(r"grad can be implicitly created only for scalar outputs")),
    ("backward-twice", re.compile(r"Trying to backward through the graph a second time")),
    ("leaf-inplace", re.compile(r"a (?:view of a )?leaf Variable that requires grad is being used in an "
                                r"in-place operation")),
    ("saved-modified", re.compile(r"one of the variables needed for gradient computation has been "
                                  r"modified by an inplace operation")),
    ("no-grad-path", re.compile(r"element \d+ of tensors does not require grad and does not have a "
                                r"grad_fn")),
)
_SAVED = re.compile(r"\[(?P<type>[\w.]+) \[(?P<shape>[\d, ]*)\]\](?:, which is output \d+ of "
                    r"(?P<op>\w+),)? is at version (?P<now>\d+); expected version (?P<expected>\d+)")


@dataclass
class Hint:
    kind: str
    variable: str
    filename: str | None
    line: int | None
    message: str
    fix: str


def classify(exc: BaseException) -> str | None:
    if not issubclass(type(exc), RuntimeError):
        return None
    text = exception_message(exc)
    for kind, pattern in PATTERNS:
        if pattern.search(text):
            return kind
    return None


class ErrorContext:
    """The failing cell line and what is needed to explain it (frames are not kept)."""

    def __init__(self, run, locator, state, watch, exc: BaseException) -> None:
        self.run = run
        self.loc = locator
        self.state = state
        self.watch = watch
        self.exc = exc
        located = locator.traceback_frame(exc.__traceback__)
        frame, self.line = located if located else (None, None)
        self.filename = frame.f_code.co_filename if frame is not None else None
        self.scopes = frame_scopes(frame, run.namespace)
        self.facts = run.facts_of(self.filename) if frame is not None else None

    def value(self, expr: str) -> object:
        return resolve(expr, *self.scopes)

    def site(self, sites) -> object:
        return next((s for s in sites if s.line == self.line), None)

    def where(self, cell: str, line: int | None) -> str:
        return where_text(self.loc.cell(self.filename), cell, line)

    def hint(self, kind: str, variable: str, message: str, fix: str, line: int | None = None) -> Hint:
        return Hint(kind, variable, self.filename, line if line is not None else self.line, message, fix)


def explain(run, locator, state, watch, exc: BaseException) -> Hint | None:
    """The hint for ``exc``; ``watch`` (a ``BackwardWatch`` or None) knows this cell's passes."""
    kind = classify(exc)
    if kind is None:
        return None
    ctx = ErrorContext(run, locator, state, watch, exc)
    try:
        with reading():  # tensor facts without subclass __torch_function__
            return _EXPLAIN[kind](ctx)
    finally:
        ctx.scopes = ()


def _anon(var: str) -> str:
    return var or t("pitfalls.anon")


def _fix(key: str, var: str, **args) -> str:
    """The fix naming ``var`` (in parentheses when it is a computation: ``(x * 2).sum()``);
    without a name, its wording that names no variable (a placeholder such as ``loss``
    could be one of the user's, and not the one involved)."""
    if not var:
        return t(key + "_anon", **args)
    return t(key, var=var if code.is_name(var) or var.startswith("(") else f"({var})", **args)


def _nonscalar(ctx: ErrorContext) -> Hint:
    site = ctx.site(ctx.facts.backward_calls) if ctx.facts else None
    var = site.expr if site else ""
    value = ctx.value(var)
    if is_tensor(value):
        message = t("pitfalls.nonscalar.message", var=var, shape=shape_str(value))
    else:
        message = t("pitfalls.nonscalar.message_noshape", var=_anon(var))
    return ctx.hint("nonscalar-backward", var, message, _fix("pitfalls.nonscalar.fix", var))


def _twice(ctx: ErrorContext) -> Hint:
    site = ctx.site(ctx.facts.backward_calls) if ctx.facts else None
    var = site.expr if site else ""
    value = ctx.value(var)
    if ctx.watch is not None:
        first = ctx.watch.freed_at(value)
    else:
        first = ctx.state.roots.get(value) if is_tensor(value) else None
        first = first or ctx.state.last_freed
    if first is not None:
        where = ctx.where(*first)
        message = t("pitfalls.twice.message", var=_anon(var), first=where)
        fix = _fix("pitfalls.twice.fix", var, first=where)
    else:
        message = t("pitfalls.twice.message_nofirst", var=_anon(var))
        fix = _fix("pitfalls.twice.fix_nofirst", var)
    return ctx.hint("backward-twice", var, message, fix)


def _leaf_inplace(ctx: ErrorContext) -> Hint:
    sites = [s for group in (ctx.facts.inplace.values() if ctx.facts else ()) for s in group
             if s.line == ctx.line]
    chosen = next((s for s in sites if _is_grad_leaf(ctx.value(s.expr))), sites[0] if sites else None)
    var = chosen.expr if chosen else ""
    how = chosen.how if chosen else ""
    message = t("pitfalls.inplace.message", var=_anon(var), how=how or "in-place")
    return ctx.hint("leaf-inplace", var, message, _fix("pitfalls.inplace.fix", var))


def _is_grad_leaf(value: object) -> bool:
    return is_tensor(value) and value.is_leaf and value.requires_grad


def _saved_modified(ctx: ErrorContext) -> Hint:
    match = _SAVED.search(exception_message(ctx.exc))
    if match is None:
        return ctx.hint("saved-modified", "", t("pitfalls.saved.message_anon", shape="?", now="?",
                                                    expected="?"), _fix("pitfalls.saved.fix", ""))
    shape = "(" + match["shape"].replace(" ", "").replace(",", ", ") + ")"
    names = _saved_candidates(ctx, match)
    culprit = _modifying_site(ctx, names)
    now, expected = match["now"], match["expected"]
    if not names:
        message = t("pitfalls.saved.message_anon", shape=shape, now=now, expected=expected)
        return ctx.hint("saved-modified", "", message, _fix("pitfalls.saved.fix", ""))
    var = names[0]
    if culprit is None:
        message = t("pitfalls.saved.message_nosite", var=var, shape=shape, now=now, expected=expected)
        return ctx.hint("saved-modified", var, message, t("pitfalls.saved.fix", var=var))
    site, via = culprit
    changed = site.expr if via else var
    message = t("pitfalls.saved.message", var=var, shape=shape, now=now, expected=expected)
    if via:
        message += " " + t("pitfalls.saved.via", var=var, alias=changed)
    return ctx.hint("saved-modified", var, message, t("pitfalls.saved.fix", var=changed), line=site.line)


def _saved_candidates(ctx: ErrorContext, match: re.Match) -> list[str]:
    """Names of the tensors that fit PyTorch's description (type, shape, version; the op
    names the tensor's creator, or its grad_fn now that the in-place op rebased it)."""
    shape = tuple(int(d) for d in match["shape"].replace(" ", "").split(",") if d)
    now, op = int(match["now"]), match["op"]
    fn = re.compile(rf"^{re.escape(op)}Backward\d*$") if op else None
    exact: list[str] = []
    loose: list[str] = []
    pools = [names_mod.named_tensors(ctx.run.namespace)]
    if len(ctx.scopes) > 1:
        pools.insert(0, ((n, v) for n, v in names_mod.items(ctx.scopes[0], None) if is_tensor(v)))
    for pool in pools:
        for name, tensor in pool:
            if name in exact or name in loose or tuple(tensor.shape) != shape \
                    or version(tensor) != now or not _type_is(tensor, match["type"]):
                continue
            if fn is None:
                if tensor.is_leaf:
                    exact.append(name)
            elif tensor.grad_fn is not None:
                (exact if fn.match(type(tensor.grad_fn).__name__) else loose).append(name)
    found = exact + loose
    written = [n for n in found if ctx.facts and n in ctx.facts.inplace]
    return written + [n for n in found if n not in written]


def _type_is(tensor: torch.Tensor, name: str) -> bool:
    try:
        return tensor.type() == name
    except Exception:
        return False


def _modifying_site(ctx: ErrorContext, names: list[str]):
    """The last in-place site before the failing line on a candidate or on a tensor
    sharing its memory (a detached copy, a view): ``(site, via_alias)``."""
    if not ctx.facts:
        return None
    best = None
    for name in names:
        target = ctx.value(name)
        for expr, sites in ctx.facts.inplace.items():
            via = expr != name
            if via and not _shares(target, ctx.value(expr)):
                continue
            for site in sites:
                if ctx.line is None or site.line < ctx.line or site.static:
                    if best is None or site.line > best[0].line:
                        best = (site, via)
        if best is not None:
            return best
    return best


def _shares(a: object, b: object) -> bool:
    if not (is_tensor(a) and is_tensor(b)) or a is b:
        return False
    key = storage_key(a)
    return key is not None and key == storage_key(b)


def _no_grad_path(ctx: ErrorContext) -> Hint:
    site = ctx.site(ctx.facts.backward_calls) if ctx.facts else None
    var = site.expr if site else ""
    reason = _why_no_grad(ctx, var, ctx.line or 0, 0) if var else None
    shown = _anon(var)
    if reason is None:
        return ctx.hint("no-grad-path", var, t("pitfalls.nograd.message_unknown", var=shown),
                        t("pitfalls.nograd.fix_unknown"))
    why, name, line, lacking = reason
    cell = ctx.loc.cell(ctx.filename)
    if why == "leaves":
        listed = ", ".join(lacking)
        return ctx.hint("no-grad-path", var, t("pitfalls.nograd.message_leaves", var=shown, names=listed),
                        t("pitfalls.nograd.fix_leaves", name=lacking[0]))
    where = ctx.where(cell, line)
    return ctx.hint("no-grad-path", var, t(f"pitfalls.nograd.message_{why}", var=shown, name=name, where=where),
                    t(f"pitfalls.nograd.fix_{why}", name=name))


def _why_no_grad(ctx: ErrorContext, expr: str, before: int, depth: int):
    """Why ``expr`` has no graph: ``(why, name, line, leaves)`` with why in no_grad,
    detach, leaves; None when the code does not tell."""
    facts = ctx.facts
    binding = code.last_binding(facts, expr, before) if code.is_name(expr) else None
    if binding is not None:
        if binding.line in facts.no_grad_lines:
            return ("no_grad", expr, binding.line, [])
        if any(d.expr == expr and d.line == binding.line for d in facts.detaches):
            return ("detach", expr, binding.line, [])
        node = code.assigned_value(code.tree_of(ctx.run, ctx.filename), expr, binding.line)
        parts, at = code.operands(node), binding.line
    elif code.is_name(expr):
        value = ctx.value(expr)
        leaf = is_tensor(value) and value.is_leaf and not value.requires_grad
        return ("leaves", expr, None, [expr]) if leaf else None
    else:
        try:
            parts, at = code.operands(ast.parse(expr, mode="eval").body), before
        except SyntaxError:
            return None
    lacking: list[str] = []
    for part in parts:
        value = ctx.value(part)
        if not is_tensor(value) or value.requires_grad:
            continue
        deeper = _why_no_grad(ctx, part, at, depth + 1) if depth < 4 and code.last_binding(
            facts, part, at) else None
        if deeper is not None and deeper[0] != "leaves":
            return deeper
        if deeper is not None:
            lacking += [n for n in deeper[3] if n not in lacking]
        elif value.is_leaf and part not in lacking:
            lacking.append(part)
    return ("leaves", expr, None, lacking) if lacking else None


_EXPLAIN = {
    "nonscalar-backward": _nonscalar,
    "backward-twice": _twice,
    "leaf-inplace": _leaf_inplace,
    "saved-modified": _saved_modified,
    "no-grad-path": _no_grad_path,
}
