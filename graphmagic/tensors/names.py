"""Pasteable names for the tensors a namespace holds.

``named_tensors(ns)`` yields ``(name, tensor)`` for every tensor a user can reach by a
Python expression: plain variables (``x``), ``nn.Module`` parameters and buffers
(``model.fc1.weight``, ``model.layers[0].bias``, ``getattr(model, 'odd name').weight``),
optimizer state (``opt.state[model.fc1.weight]['exp_avg']``) and tensors in lists,
tuples and dicts one level deep (``xs[0]``, ``d['a.b']``). A tensor reachable in several
ways is yielded once per name. IPython's own names (``_``, ``Out``, ``_i3`` ...) are skipped.
"""
from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from itertools import islice

import torch

IPYTHON_NAMES = frozenset({
    "_", "__", "___", "_i", "_ii", "_iii", "In", "Out", "_oh", "_ih", "_dh",
    "exit", "quit", "get_ipython",
})
_IPYTHON_NUMBERED = re.compile(r"^_(i)?\d+$")
LIMIT = 10_000   # entries looked at per list, tuple or dict


def is_user_name(name: str) -> bool:
    if name in IPYTHON_NAMES:
        return False
    return not name.startswith("_") or not (name.startswith("__") or _IPYTHON_NUMBERED.match(name))


def member(base: str, parent: object, key: str) -> str:
    """The expression for ``key`` inside ``parent``, itself reached as ``base``."""
    if isinstance(parent, (torch.nn.ModuleDict, torch.nn.ParameterDict)):
        return f"{base}[{key!r}]"
    if isinstance(parent, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ParameterList)) \
            and key.isdigit():
        return f"{base}[{key}]"
    if key.isidentifier() and not keyword.iskeyword(key):
        return f"{base}.{key}"
    return f"getattr({base}, {key!r})"


def module_tensors(base: str, module: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Parameters and buffers of ``module`` and its submodules (iteratively, once each)."""
    stack = [(base, module)]
    seen: set[int] = set()
    while stack:
        expr, mod = stack.pop()
        if id(mod) in seen:
            continue
        seen.add(id(mod))
        for store in (mod._parameters, mod._buffers):
            for key, tensor in store.items():
                if isinstance(tensor, torch.Tensor):
                    yield member(expr, mod, key), tensor
        children = [(member(expr, mod, k), m) for k, m in mod._modules.items() if m is not None]
        stack.extend(reversed(children))


def _optimizer_tensors(base: str, opt: torch.optim.Optimizer,
                       param_names: dict[int, str]) -> Iterator[tuple[str, torch.Tensor]]:
    index = {}
    for g, group in enumerate(opt.param_groups):
        for i, p in enumerate(group["params"]):
            index[id(p)] = f"{base}.param_groups[{g}]['params'][{i}]"
    for param, state in list(opt.state.items()):
        if not isinstance(state, dict):
            continue
        key = param_names.get(id(param)) or index.get(id(param))
        if key is None:
            continue
        for field, value in state.items():
            if isinstance(value, torch.Tensor):
                yield f"{base}.state[{key}][{field!r}]", value


def named_tensors(ns: dict) -> Iterator[tuple[str, torch.Tensor]]:
    """Every (pasteable name, tensor) reachable from the user namespace ``ns``."""
    optimizers = []
    param_names: dict[int, str] = {}
    for name, obj in list(ns.items()):
        if not is_user_name(name):
            continue
        if isinstance(obj, torch.Tensor):
            yield name, obj
        elif isinstance(obj, torch.nn.Module):
            for pname, tensor in module_tensors(name, obj):
                param_names.setdefault(id(tensor), pname)
                yield pname, tensor
        elif isinstance(obj, torch.optim.Optimizer):
            optimizers.append((name, obj))
        elif isinstance(obj, (list, tuple)):
            for i, value in enumerate(list(islice(obj, LIMIT))):
                if isinstance(value, torch.Tensor):
                    yield f"{name}[{i}]", value
        elif isinstance(obj, dict) and obj is not ns:
            for key, value in list(islice(obj.items(), LIMIT)):
                if isinstance(value, torch.Tensor) and isinstance(key, (str, int)):
                    yield f"{name}[{key!r}]", value
    for name, opt in optimizers:
        yield from _optimizer_tensors(name, opt, param_names)


def names_by_id(ns: dict) -> dict[int, list[str]]:
    """``id(tensor) -> [names]`` for the tensors of ``ns`` (several names when aliased)."""
    found: dict[int, list[str]] = {}
    for name, tensor in named_tensors(ns):
        found.setdefault(id(tensor), []).append(name)
    return found
