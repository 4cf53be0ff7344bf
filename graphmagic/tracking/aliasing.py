"""Group named tensors that share storage, and say how each shares it.

Grouping is by storage identity (``tensorinfo.storage_key``), never by data pointer alone
(meta and empty tensors all have ``data_ptr() == 0``). How a member shares: ``same tensor``
(two names, one object), ``view`` (``_base`` is the other), ``slice`` (``a = b[...]``),
``detach`` (``a = b.detach()``: not a view, but the version counter is shared), ``.data``
(``a = b.data``: the version counter is not shared), else ``shares storage``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..tensors.snapshot import Snapshot


@dataclass
class AliasGroup:
    storage: int
    device: str
    bytes: int
    members: list[str]
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (name, other, how)

    def to_json(self) -> dict:
        return {"storage": self.storage, "device": self.device, "bytes": self.bytes,
                "members": list(self.members),
                "relations": [{"name": n, "other": o, "how": h} for n, o, h in self.relations]}

    def how(self, name: str) -> str | None:
        for n, _, h in self.relations:
            if n == name:
                return h
        return None


def _relation(name: str, members: list[str], snap: Snapshot,
              alias_rhs: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    f = snap.facts[name]
    others = [m for m in members if m != name]
    earlier_same = [m for m in members[: members.index(name)] if snap.facts[m].id == f.id]
    if earlier_same:
        return earlier_same[0], "same tensor"
    if name in alias_rhs:
        how, source = alias_rhs[name]
        if source in others:
            return source, how
    if f.base_id is not None:
        bases = [m for m in others if snap.facts[m].id == f.base_id]
        if bases:
            return bases[0], "view"
    if any(snap.facts[m].base_id == f.id for m in others):
        return None  # the others are views of this one: they carry the relation
    distinct = [m for m in others if snap.facts[m].id != f.id]
    if not distinct or members.index(name) == 0:
        return None
    return distinct[0], "view" if f.base_id is not None else "shares storage"


def groups(snap: Snapshot, alias_rhs: dict[str, tuple[str, str]] | None = None) -> list[AliasGroup]:
    """Storage-sharing groups of ``snap`` with at least two names."""
    alias_rhs = alias_rhs or {}
    by_storage: dict[tuple[str, int], list[str]] = {}
    for name, f in snap.facts.items():
        if f.storage is not None:
            by_storage.setdefault((f.device, f.storage), []).append(name)
    result = []
    for (device, storage), members in by_storage.items():
        if len(members) < 2:
            continue
        group = AliasGroup(storage, device, snap.facts[members[0]].storage_bytes, members)
        for name in members:
            rel = _relation(name, members, snap, alias_rhs)
            if rel is not None:
                group.relations.append((name, rel[0], rel[1]))
        result.append(group)
    return result
