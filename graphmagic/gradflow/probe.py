"""The gradient-flow part of a cell: which parameters backward() reached, how strongly.

At the start (``GradFlowProbe``): each namespace leaf that requires grad, its ``.grad``
(weakly) and that gradient's version, read from tracking's before-snapshot; under
``--anomaly`` PyTorch's anomaly detection is entered on the cell's stack. At the end
(``collect``), all from plain reads:

- a leaf *received* a gradient in this cell when its ``.grad`` is another tensor or moved
  version, and (when every ``backward()`` target of the cell can be looked up) the graph of
  a target reaches it; without such targets a gradient of zeros does not count;
- norms and finiteness of the received gradients, batched (``norms.grad_stats``: one
  transfer per device);
- ``unused-parameter``: in a model or optimizer some of whose parameters received a
  gradient, one that requires grad and received none (grouped by module);
- ``nonfinite-grad``: NaN or Inf in a received gradient; under ``--anomaly``, when the
  backward pass stopped at a NaN, the op and the cell line behind it (``anomaly.py``).

Findings go through the user's warning filters like the other pitfalls (``pitfalls/sink``).
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import torch

from .. import findings
from ..code.frames import Locator, resolve
from ..graph.roots import split_targets
from ..messages import t
from ..pitfalls.sink import Sink, fail_cell, where_text
from ..tensors import snapshot
from ..tensors.info import device_str, is_tensor, reading, refusing, version
from ..tensors.names import named_tensors
from ..tensors.walk import leaves
from . import anomaly
from .norms import finite, grad_stats
from .params import Param, parameters
from .view import GradFlowSection, Row

SHOWN_NAMES = 4


@dataclass
class _Before:
    tensor: weakref.ref
    grad: weakref.ref | None
    version: int


class GradFlowProbe:
    """Note the gradients before the body (and enter anomaly mode); compare after it."""

    def __init__(self, ctx, stack, before: snapshot.Snapshot | None) -> None:
        if ctx.options.anomaly:
            stack.enter_context(torch.autograd.set_detect_anomaly(True, check_nan=True))
        self.grads: dict[int, _Before] = {}
        with reading():  # no subclass __torch_function__ sees these reads
            for t_ in _leaves_of(ctx, before):
                grad = t_.grad
                self.grads[id(t_)] = _Before(weakref.ref(t_), _ref(grad), _version(grad))

    def received(self, t_: torch.Tensor) -> bool:
        """``t_.grad`` changed in this cell (another tensor, or written in place)."""
        with reading():
            grad = t_.grad
            if grad is None:
                return False
            old = self.grads.get(id(t_))
            if old is None or old.tensor() is not t_ or old.grad is None:
                return True
            return old.grad() is not grad or _version(grad) != old.version

    def collect(self, ctx, end, report) -> GradFlowSection | None:
        loc = Locator(ctx)
        sink = Sink(ctx, loc)
        try:
            section = self._collect(ctx, end, sink, loc)
        finally:
            for finding in sink.sorted():
                findings.merge(report.findings, finding)
            fail_cell(ctx, report, end.exception, sink.failed)
            loc.close()
        return section

    def _collect(self, ctx, end, sink, loc) -> GradFlowSection | None:
        with reading():
            leaves_ = [(n, x) for n, x in end.named if x.requires_grad and x.is_leaf]
        if not any(self.received(x) for _, x in leaves_) and anomaly.nan_error(end.exception) is None:
            return None  # no gradient changed: nothing flowed back in this cell
        params, groups = parameters(ctx.namespace, end.named)
        plain = {id(x): Param(n, None, x) for n, x in leaves_ if id(x) not in params}
        changed = [p for p in [*params.values(), *plain.values()] if self.received(p.tensor)]
        reached, complete = _reached(ctx)
        with reading():
            grads = [p.tensor.grad for p in changed]
        stats = dict(zip((id(p.tensor) for p in changed), grad_stats(grads)))
        got = [p for p in changed if id(p.tensor) in reached or (not complete and _nonzero(stats[id(p.tensor)]))]
        line = ctx.code.backward_calls[0].line if ctx.code.backward_calls else None
        origin = anomaly.origin(end.exception, end.named, loc.is_cell)
        self._nonfinite(ctx, sink, got, stats, line, origin)
        got_ids = {id(p.tensor) for p in got}
        maybe = {id(p.tensor) for p in changed} if not complete else set()
        self._unused(ctx, sink, params, groups, got_ids, maybe, line)
        rows = [Row(p.name, p.module, _shape(p.tensor), device_str(p.tensor), *stats[id(p.tensor)])
                for p in got if id(p.tensor) in params]
        if not rows:
            return None
        return GradFlowSection(rows=rows, cell=ctx.cell, line=line, anomaly=ctx.options.anomaly)

    # ---- findings ----------------------------------------------------------------------
    def _nonfinite(self, ctx, sink, got: list[Param], stats, line, origin) -> None:
        if not sink.enabled("nonfinite-grad"):
            return
        bad = [p for p in got if not finite(stats[id(p.tensor)])]
        filename = ctx.source.filename
        if origin is not None:
            var = origin.leaves[0] if origin.leaves else ""
            where = where_text(ctx.cell, sink.loc.cell(origin.filename), origin.line)
            code = sink.loc.code(origin.filename, origin.line).strip()
            message = t("gradflow.nonfinite.message_op", op=origin.op, fn=origin.fn, where=where,
                        code=code, output=origin.output,
                        var=", ".join(origin.leaves[:SHOWN_NAMES]) or t("gradflow.nonfinite.inputs"))
            sink.add("nonfinite-grad", var, origin.filename or filename, origin.line, message,
                     t("gradflow.nonfinite.fix_op", op=origin.op), when="raised")
            return
        if not bad:
            return
        kinds = {("nan" if math.isnan(stats[id(p.tensor)][1]) else "inf") for p in bad}
        what = t("gradflow.nonfinite." + ("both" if len(kinds) == 2 else kinds.pop()))
        names = _listed([p.name for p in bad])
        message = t("gradflow.nonfinite.message", names=names, what=what,
                    where=where_text(ctx.cell, ctx.cell, line))
        message += " " + t("gradflow.nonfinite.inf_passes" if ctx.options.anomaly else "gradflow.nonfinite.try_anomaly")
        sink.add("nonfinite-grad", bad[0].name, filename, line, message,
                 t("gradflow.nonfinite.fix"), when="after")

    def _unused(self, ctx, sink, params: dict[int, Param], groups, got: set[int], maybe: set[int],
                line) -> None:
        if not sink.enabled("unused-parameter"):
            return
        reported: set[int] = set()  # a model and its optimizer name the same parameters
        for group in groups:
            used = [k for k in group.ids if k in got]
            if not used:
                continue
            missing = [params[k] for k in group.ids if k not in got and k not in maybe
                       and k not in reported and _requires_grad(params[k].tensor)]
            reported.update(id(p.tensor) for p in missing)
            by_module: dict[str, list[Param]] = {}
            for p in missing:
                by_module.setdefault(p.module or p.name, []).append(p)
            for module, ps in by_module.items():
                of_module = [k for k in group.ids if params[k].module == module]
                whole = ps[0].module is not None and len(of_module) == len(ps)
                variable = module if whole else ps[0].name
                shown = _listed([p.name[len(module) + 1:] if p.name.startswith(module + ".") else p.name
                                 for p in ps])
                message = t("gradflow.unused.message", module=module, params=shown, group=group.name,
                            where=where_text(ctx.cell, ctx.cell, line), n=len(used))
                sink.add("unused-parameter", variable, ctx.source.filename, line, message,
                         t("gradflow.unused.fix", module=module), when="after")


def _ref(grad: torch.Tensor | None) -> weakref.ref | None:
    return weakref.ref(grad) if grad is not None else None


def _version(grad: torch.Tensor | None) -> int:
    found = version(grad) if grad is not None else None
    return -1 if found is None else found


def _requires_grad(t_: torch.Tensor) -> bool:
    with reading():
        return bool(t_.requires_grad)


def _shape(t_: torch.Tensor) -> tuple:
    with reading():
        try:
            with refusing(t_):
                return tuple(int(d) for d in t_.shape)
        except Exception:
            return ()


def _leaves_of(ctx, before: snapshot.Snapshot | None):
    """The namespace's leaves that require grad, as they were when the cell started."""
    if before is None:
        seen = set()
        for _, x in named_tensors(ctx.namespace):
            if x.requires_grad and x.is_leaf and id(x) not in seen:  # inside reading()
                seen.add(id(x))
                yield x
        return
    for key, f in {f.id: f for f in before.facts.values()}.items():
        if f.requires_grad and f.is_leaf:
            x = before.alive(key)
            if x is not None:
                yield x


def _reached(ctx) -> tuple[set[int], bool]:
    """``id()`` of the leaves the graphs of the cell's backward targets reach, and whether
    every target could be looked up (by name, never evaluated)."""
    ids: set[int] = set()
    complete = bool(ctx.code.backward_calls)
    for call in ctx.code.backward_calls:
        for target in split_targets(call.expr):
            value = resolve(target, ctx.namespace)
            with reading():
                differentiable = is_tensor(value) and value.grad_fn is not None
            if differentiable:
                ids.update(id(x) for x in leaves([value]))
            else:
                complete = False
    return ids, complete


def _nonzero(stat) -> bool:
    top = stat[1]
    return top is None or top != 0.0


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (" " + t("gradflow.and_more", n=len(names) - SHOWN_NAMES) if len(names) > SHOWN_NAMES else "")
