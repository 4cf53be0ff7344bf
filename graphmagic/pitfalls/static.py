"""Pitfalls read from the cell's code and its tensors after it ran.

- ``leaf-moved``: ``x = x.to(...)`` / ``.cuda()`` / ``.double()`` left ``x`` a copy
  (``ToCopyBackward0``) of a leaf that requires grad.
- ``data-mutation``: ``x.data`` changed (the version counter does not move) while a graph
  that uses the leaf ``x`` and was built before that line is still to be backpropagated:
  one whose ``backward()`` comes later in the cell, or one still holding saved tensors
  after it. ``p.data.normal_()`` before any use has no such graph.
- ``detach-alias``: an in-place change to ``a`` or ``b`` after ``a = b.detach()`` (in
  this cell or an earlier one) while the two still share memory.
"""
from __future__ import annotations

from collections.abc import Iterator


from ..code import pitfalls as code
from ..messages import t
from ..code.frames import resolve
from ..tensors.walk import saved_state, uses_leaf
from .sink import where_text
from ..tensors.info import is_tensor, reading, storage_key

ROOT_LIMIT = 200  # graphs looked at per .data change


def check(ctx, end, sink, locator, state) -> None:
    with reading():  # tensor facts without subclass __torch_function__
        _check(ctx, end, sink, locator, state)


def _check(ctx, end, sink, locator, state) -> None:
    facts = ctx.code
    ns = ctx.namespace
    filename = ctx.source.filename
    if sink.enabled("leaf-moved"):
        for site in facts.moves:
            _moved(ctx, sink, filename, site, resolve(site.expr, ns))
    if sink.enabled("data-mutation") and facts.data_mutations:
        for site in facts.data_mutations:
            _data_mutation(ctx, end, sink, facts, filename, site)
    pairs = [(ctx.cell, d.line, d.expr, d.detail) for d in facts.detaches if d.detail]
    if sink.enabled("detach-alias"):
        _detach_alias(ctx, sink, facts, filename, pairs + state.detaches)
    _remember(state, pairs)


def _moved(ctx, sink, filename, site, value) -> None:
    if not is_tensor(value) or value.is_leaf or value.grad_fn is None:
        return
    following = value.grad_fn.next_functions
    source = getattr(following[0][0], "variable", None) if following else None
    if not (is_tensor(source) and source.requires_grad) or not _is_copy(value.grad_fn):
        return
    fn = type(value.grad_fn).__name__
    message = t("pitfalls.moved.message", var=site.expr, call=site.detail or site.how, grad_fn=fn)
    sink.add("leaf-moved", site.expr, filename, site.line, message,
             t("pitfalls.moved.fix", var=site.expr), when="after")


def _is_copy(fn) -> bool:
    name = type(fn).__name__
    return name.startswith(("ToCopyBackward", "CopyBackwards", "CloneBackward"))


def _data_mutation(ctx, end, sink, facts, filename, site) -> None:
    if site.expr.endswith("grad"):
        return  # x.grad.data.zero_(): gradients, not a tensor in a graph
    ns = ctx.namespace
    leaf = resolve(site.expr, ns)
    if not (is_tensor(leaf) and leaf.requires_grad and leaf.is_leaf):
        return
    for root, later in _graphs_before(ctx, end, facts, site):
        tensor = resolve(root, ns)
        if not is_tensor(tensor) or tensor.grad_fn is None or not uses_leaf(tensor, leaf):
            continue
        if later is None and saved_state(tensor) != "alive":
            continue
        if later is not None:
            message = t("pitfalls.data.message_backward", var=site.expr, root=root,
                        backward=where_text(ctx.cell, ctx.cell, later))
        else:
            message = t("pitfalls.data.message_alive", var=site.expr, root=root)
        sink.add("data-mutation", site.expr, filename, site.line, message,
                 t("pitfalls.data.fix", var=site.expr, root=root), when="after")
        return


def _graphs_before(ctx, end, facts, site) -> Iterator[tuple[str, int | None]]:
    """Roots of graphs built before ``site``: ``(name, backward line)`` for those whose
    ``backward()`` comes after it in the cell, then ``(name, None)`` for the others."""
    seen = set()
    for call in facts.backward_calls:
        if call.line > site.line and code.is_name(call.expr) and call.expr not in seen:
            binding = code.last_binding(facts, call.expr, call.line)
            if binding is None or binding.line < site.line:
                seen.add(call.expr)
                yield call.expr, call.line
    count = 0
    for name, tensor in end.named:
        if name in seen or tensor.grad_fn is None or code.bound_after(facts, name, site.line - 1):
            continue
        seen.add(name)
        count += 1
        if count > ROOT_LIMIT:
            return
        yield name, None


def _detach_alias(ctx, sink, facts, filename, pairs) -> None:
    ns = ctx.namespace
    read_lines = code.reads(ctx.source.tree)
    changes: dict[str, list] = {}
    for expr, sites in facts.inplace.items():
        changes.setdefault(expr, []).extend(sites)
    for site in facts.data_mutations:
        changes.setdefault(site.expr, []).append(site)
    for cell, line, target, source in pairs:
        for changed, other in ((target, source), (source, target)):
            for site in changes.get(changed, ()):
                here = cell == ctx.cell
                if here and site.line <= line and not site.static:
                    continue
                if not here and _bound_by(facts, (target, source), site.line):
                    continue  # an earlier cell's pair, but this cell bound the names anew
                if not _in_use(ns, changed, other, line if here else None, site.line, read_lines, facts):
                    continue
                message = t("pitfalls.detach.message", changed=changed, other=other, target=target,
                            source=source, where=where_text(ctx.cell, cell, line))
                sink.add("detach-alias", changed, filename, site.line, message,
                         t("pitfalls.detach.fix", source=source, changed=changed), when="after")


def _bound_by(facts, names, line: int) -> bool:
    return any(s.line <= line for name in names for s in facts.assigned.get(name, ()))


def _in_use(ns, changed: str, other: str, detached: int | None, line: int, read_lines,
            facts) -> bool:
    """The other tensor still shares memory with the changed one at the end of the cell,
    or (detached in this cell, neither name bound again since) the cell reads it later."""
    a, b = resolve(changed, ns), resolve(other, ns)
    if is_tensor(a) and is_tensor(b):
        key = storage_key(a)
        if key is not None and key == storage_key(b):
            return True
    if detached is None:
        return False
    rebound = any(detached < s.line <= line for name in (changed, other)
                  for s in facts.assigned.get(name, ()))
    return not rebound and any(n > line for n in read_lines.get(other, ()))


def _remember(state, pairs) -> None:
    """Keep this cell's ``a = b.detach()`` pairs (names only) for later cells."""
    for pair in pairs:
        state.detaches = [p for p in state.detaches if p[2:] != pair[2:]]
        state.detaches.append(pair)
    del state.detaches[:-200]
