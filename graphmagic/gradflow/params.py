"""The parameters of the namespace's models and optimizers, named and grouped.

A group is one model (a top-level ``nn.Module`` variable) or one optimizer: the unit within
which "the other parameters got gradients, this one did not" means something. Each
parameter gets its pasteable name (``model[0].weight``; an optimizer's own parameter by its
variable, else ``opt.param_groups[0]['params'][1]``) and its module (``model[0]``).
Read as ``tensors/names.py`` reads the namespace: types by ``type()``, containers through
the built-in methods, modules' and optimizers' stores from their instance ``__dict__``; no user
code runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..memory.held import module_of
from ..tensors.info import is_tensor
from ..tensors.names import entries, is_user_name, items, module_tensors
from ..tensors.names import field as instance_field


@dataclass(eq=False)
class Param:
    name: str
    module: str | None
    tensor: torch.Tensor        # only while the cell's end is being collected


@dataclass
class Group:
    name: str                   # the model's or optimizer's variable
    ids: list[int] = field(default_factory=list)


def parameters(ns: dict, named: list[tuple[str, torch.Tensor]]) -> tuple[dict[int, Param], list[Group]]:
    """``{id(param): Param}`` in module order, and the groups."""
    params: dict[int, Param] = {}
    first_name: dict[int, str] = {}
    for name, t in named:
        first_name.setdefault(id(t), name)
    models: list[Group] = []
    optimizers: list[Group] = []
    for var, obj in items(ns, None):
        cls = type(obj)
        if not is_user_name(var) or not issubclass(cls, (torch.nn.Module, torch.optim.Optimizer)):
            continue
        group = Group(var)
        try:
            if issubclass(cls, torch.nn.Module):
                for name, t in module_tensors(var, obj):
                    if issubclass(type(t), torch.nn.Parameter):
                        _add(params, group, t, first_name.get(id(t), name))
                models.append(group)
            else:
                for g, pg in enumerate(entries(instance_field(obj, "param_groups"))):
                    found = dict.get(pg, "params") if issubclass(type(pg), dict) else None
                    for i, t in enumerate(entries(found)):
                        if is_tensor(t):
                            default = f"{var}.param_groups[{g}]['params'][{i}]"
                            _add(params, group, t, first_name.get(id(t), default))
                optimizers.append(group)
        except Exception:  # an object that cannot be read so is left out
            continue
    return params, [g for g in models + optimizers if g.ids]


def _add(params: dict[int, Param], group: Group, t: torch.Tensor, name: str) -> None:
    if id(t) not in params:
        module = module_of(name) if not name.startswith(f"{group.name}.param_groups[") else None
        params[id(t)] = Param(name, module, t)
    if id(t) not in group.ids:
        group.ids.append(id(t))
