"""Pasteable names for the tensors a namespace holds.

``named_tensors(ns)`` yields ``(name, tensor)`` for every tensor a user can reach by a
Python expression: plain variables (``x``), ``nn.Module`` parameters and buffers
(``model.fc1.weight``, ``model.layers[0].bias``, ``getattr(model, 'odd name').weight``),
optimizer state (``opt.state[model.fc1.weight]['exp_avg']``) and tensors in lists,
tuples and dicts one level deep (``xs[0]``, ``d['a.b']``). A tensor reachable in several
ways is yielded once per name. IPython's own names (``_``, ``Out``, ``_i3`` ...) are skipped.

Reading the namespace runs none of the user's code: types are checked on ``type(obj)``
(``isinstance`` asks ``obj.__class__``, which may be a property), containers are read
through the built-in type's own methods (``list.__iter__(obj)``, ``dict.items(obj)``, never
an override), and modules' and optimizers' attributes straight from their instance
``__dict__`` (never ``__getattr__`` or a property). An object that cannot be read so is
skipped.
"""
from __future__ import annotations

import keyword
import re
from collections import OrderedDict
from collections.abc import Iterator
from itertools import islice

import torch

from .info import is_tensor

IPYTHON_NAMES = frozenset({
    "_", "__", "___", "_i", "_ii", "_iii", "In", "Out", "_oh", "_ih", "_dh",
    "exit", "quit", "get_ipython",
})
_IPYTHON_NUMBERED = re.compile(r"^_(i)?\d+$")
LIMIT = 10_000   # entries looked at per list, tuple or dict
MISSING = object()

_TYPE_DICT = type.__dict__["__dict__"]   # a class's own namespace, without its metaclass
_TYPE_MRO = type.__dict__["__mro__"]
_GETSET = type(_TYPE_DICT)
_MODULE_STORES = ("_parameters", "_buffers")
_KEY_TYPES = (str, int, bool)            # dict keys shown as ``d[key!r]``: built-in repr


def is_user_name(name: str) -> bool:
    if type(name) is not str or name in IPYTHON_NAMES:
        return False
    return not name.startswith("_") or not (name.startswith("__") or _IPYTHON_NUMBERED.match(name))


def class_attribute(cls: type, name: str) -> object:
    """``name`` as the classes of ``cls``'s MRO define it (no descriptor is called), or
    ``MISSING``."""
    for klass in _TYPE_MRO.__get__(cls):
        own = _TYPE_DICT.__get__(klass)
        if name in own:
            return own[name]
    return MISSING


def instance_dict(obj: object) -> dict | None:
    """``obj.__dict__`` read by the C slot (not a ``__dict__`` property, not
    ``__getattribute__``), or None."""
    slot = class_attribute(type(obj), "__dict__")
    if type(slot) is not _GETSET:
        return None
    try:
        found = slot.__get__(obj)
    except Exception:
        return None
    return found if type(found) is dict else None


def items(mapping: object, limit: int = LIMIT) -> list[tuple]:
    """The first ``limit`` ``(key, value)`` pairs of a dict (its subclasses' overrides unused)."""
    cls = type(mapping)
    if cls is OrderedDict:  # its own order (move_to_end); C code
        return list(islice(OrderedDict.items(mapping), limit))
    if not issubclass(cls, dict):
        return []
    return list(islice(dict.items(mapping), limit))


def entries(seq: object, limit: int = LIMIT) -> list:
    """The first ``limit`` entries of a list or tuple (its subclasses' overrides unused)."""
    cls = type(seq)
    if issubclass(cls, list):
        return list(islice(list.__iter__(seq), limit))
    if issubclass(cls, tuple):
        return list(islice(tuple.__iter__(seq), limit))
    return []


def field(obj: object, name: str) -> object:
    """An attribute stored in ``obj``'s instance ``__dict__``, or ``MISSING``."""
    own = instance_dict(obj)
    return own.get(name, MISSING) if own is not None else MISSING


def module_member(module: torch.nn.Module, key: str) -> object:
    """A parameter, buffer or submodule of ``module`` by its key, or ``MISSING``."""
    for store in (*_MODULE_STORES, "_modules"):
        found = field(module, store)
        if issubclass(type(found), dict):
            for k, value in items(found, None):
                if type(k) is str and k == key:
                    return value
    return MISSING


def member(base: str, parent: object, key: str) -> str:
    """The expression for ``key`` inside ``parent``, itself reached as ``base``."""
    cls = type(parent)
    if issubclass(cls, (torch.nn.ModuleDict, torch.nn.ParameterDict)):
        return f"{base}[{key!r}]"
    if issubclass(cls, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ParameterList)) \
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
        for store in _MODULE_STORES:
            for key, tensor in items(field(mod, store), None):
                if type(key) is str and is_tensor(tensor):
                    yield member(expr, mod, key), tensor
        children = [(member(expr, mod, k), m) for k, m in items(field(mod, "_modules"), None)
                    if type(k) is str and issubclass(type(m), torch.nn.Module)]
        stack.extend(reversed(children))


def _optimizer_tensors(base: str, opt: torch.optim.Optimizer,
                       param_names: dict[int, str]) -> Iterator[tuple[str, torch.Tensor]]:
    index = {}
    for g, group in enumerate(entries(field(opt, "param_groups"))):
        params = dict.get(group, "params") if issubclass(type(group), dict) else None
        for i, p in enumerate(entries(params)):
            index[id(p)] = f"{base}.param_groups[{g}]['params'][{i}]"
    for param, state in items(field(opt, "state"), None):
        key = param_names.get(id(param)) or index.get(id(param))
        if key is None:
            continue
        for name, value in items(state):
            if is_tensor(value) and type(name) in _KEY_TYPES:
                yield f"{base}.state[{key}][{name!r}]", value


_CONTAINERS = (torch.nn.Module, torch.optim.Optimizer, list, tuple, dict)


def _tensors_in(name: str, obj: object, ns: dict, param_names: dict[int, str],
                optimizers: list) -> Iterator[tuple[str, torch.Tensor]]:
    cls = type(obj)
    if issubclass(cls, torch.nn.Module):
        for pname, tensor in module_tensors(name, obj):
            param_names.setdefault(id(tensor), pname)
            yield pname, tensor
    elif issubclass(cls, torch.optim.Optimizer):
        optimizers.append((name, obj))
    elif issubclass(cls, (list, tuple)):
        for i, value in enumerate(entries(obj)):
            if is_tensor(value):
                yield f"{name}[{i}]", value
    elif obj is not ns:  # a dict
        for key, value in items(obj):
            if is_tensor(value) and type(key) in _KEY_TYPES:
                yield f"{name}[{key!r}]", value


def named_tensors(ns: dict) -> Iterator[tuple[str, torch.Tensor]]:
    """Every (pasteable name, tensor) reachable from the user namespace ``ns``."""
    optimizers: list = []
    param_names: dict[int, str] = {}
    tensor = torch.Tensor
    for name, obj in items(ns, None):
        cls = type(obj)
        if issubclass(cls, tensor):
            if is_user_name(name):
                yield name, obj
        elif issubclass(cls, _CONTAINERS) and is_user_name(name):
            try:
                yield from _tensors_in(name, obj, ns, param_names, optimizers)
            except Exception:  # an object that cannot be read costs only its own rows
                continue
    for name, opt in optimizers:
        try:
            yield from _optimizer_tensors(name, opt, param_names)
        except Exception:
            continue


def names_by_id(ns: dict) -> dict[int, list[str]]:
    """``id(tensor) -> [names]`` for the tensors of ``ns`` (several names when aliased)."""
    found: dict[int, list[str]] = {}
    for name, tensor in named_tensors(ns):
        found.setdefault(id(tensor), []).append(name)
    return found
