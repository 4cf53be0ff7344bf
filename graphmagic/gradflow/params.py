"""The parameters of the namespace's models and optimizers, named and grouped.

A group is one model (a top-level ``nn.Module`` variable) or one optimizer: the unit within
which "the other parameters got gradients, this one did not" means something. Each
parameter gets its pasteable name (``model[0].weight``; an optimizer's own parameter by its
variable, else ``opt.param_groups[0]['params'][1]``) and its module (``model[0]``).
Only ``_parameters``, ``_modules`` and ``param_groups`` are read: no user code runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..memory.held import module_of
from ..tensors.names import is_user_name, module_tensors


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
    groups: list[Group] = []
    first_name: dict[int, str] = {}
    for name, t in named:
        first_name.setdefault(id(t), name)
    for var, obj in list(ns.items()):
        if not is_user_name(var):
            continue
        if isinstance(obj, torch.nn.Module):
            group = Group(var)
            for name, t in module_tensors(var, obj):
                if isinstance(t, torch.nn.Parameter):
                    _add(params, group, t, first_name.get(id(t), name))
            groups.append(group)
        elif isinstance(obj, torch.optim.Optimizer):
            group = Group(var)
            for g, pg in enumerate(list(obj.param_groups)):
                for i, t in enumerate(list(pg.get("params", ()))):
                    if isinstance(t, torch.Tensor):
                        default = f"{var}.param_groups[{g}]['params'][{i}]"
                        _add(params, group, t, first_name.get(id(t), default))
            groups.append(group)
    models = [g for g in groups if isinstance(ns.get(g.name), torch.nn.Module)]
    return params, [g for g in models + [g for g in groups if g not in models] if g.ids]


def _add(params: dict[int, Param], group: Group, t: torch.Tensor, name: str) -> None:
    if id(t) not in params:
        module = module_of(name) if not name.startswith(f"{group.name}.param_groups[") else None
        params[id(t)] = Param(name, module, t)
    if id(t) not in group.ids:
        group.ids.append(id(t))
