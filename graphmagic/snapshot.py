"""Plain-data snapshots of the tensors a namespace holds, taken before and after a cell.

``take(named)`` reads every ``(name, tensor)`` once into ``TensorFacts`` (ints, strings,
bools). With ``keep_refs=True`` it also keeps weak references to each tensor and its
storage, so that "is this the same object / is that storage still alive" can be answered
after the cell without keeping anything alive (a storage weak reference also pins the
storage's identity: its key cannot be reused while the snapshot lives). Nothing here holds
a strong reference to a tensor once ``take`` returns.
"""
from __future__ import annotations

import hashlib
import weakref
from dataclasses import asdict, dataclass, field
from typing import Iterable

import torch

from . import tensorinfo


@dataclass(frozen=True)
class TensorFacts:
    id: int
    version: int | None          # None: inference tensor (no version counter)
    storage: int | None          # storage identity (tensorinfo.storage_key)
    shape: str
    dtype: str
    device: str
    nbytes: int                  # the tensor's own elements
    storage_bytes: int           # its whole storage (what it keeps alive)
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None
    retains_grad: bool
    grad: bool                   # .grad is set (read only where autograd fills it)
    grad_id: int | None
    grad_version: int | None
    base_id: int | None          # id(t._base) for views
    inference: bool

    def to_json(self) -> dict:
        return asdict(self)


def _grad_of(t: torch.Tensor) -> torch.Tensor | None:
    # Reading .grad of a non-leaf that does not retain it warns; autograd never fills it.
    if t.is_leaf or t.retains_grad:
        return t.grad
    return None


def facts_of(t: torch.Tensor) -> TensorFacts:
    """The facts of one tensor (never raises: odd subclasses get what can be read)."""
    try:
        grad = _grad_of(t)
        grad_fn = t.grad_fn
        base = t._base
        inference = bool(t.is_inference())
        return TensorFacts(
            id=id(t), version=None if inference else tensorinfo.version(t),
            storage=tensorinfo.storage_key(t), shape=tensorinfo.shape_str(t),
            dtype=tensorinfo.dtype_str(t), device=str(t.device), nbytes=tensorinfo.nbytes(t),
            storage_bytes=tensorinfo.storage_bytes(t), requires_grad=bool(t.requires_grad),
            is_leaf=bool(t.is_leaf), grad_fn=type(grad_fn).__name__ if grad_fn is not None else None,
            retains_grad=bool(t.retains_grad), grad=grad is not None,
            grad_id=id(grad) if grad is not None else None,
            grad_version=tensorinfo.version(grad) if grad is not None else None,
            base_id=id(base) if base is not None else None, inference=inference)
    except Exception:
        return TensorFacts(id(t), None, None, "?", "?", "?", 0, 0, False, True, None, False,
                           False, None, None, None, False)


DIGEST_LIMIT = 64 * 2**20


def digest(t: torch.Tensor) -> bytes | None:
    """A hash of a CPU tensor's contents (to see whether ``x.data += 1`` ran), or None."""
    try:
        if t.device.type != "cpu" or t.layout != torch.strided or tensorinfo.nbytes(t) > DIGEST_LIMIT:
            return None
        data = t.detach().contiguous().reshape(-1).view(torch.uint8)
        return hashlib.blake2b(data.numpy().tobytes(), digest_size=16).digest()
    except Exception:
        return None


@dataclass
class Snapshot:
    facts: dict[str, TensorFacts] = field(default_factory=dict)    # name -> facts
    names: dict[int, list[str]] = field(default_factory=dict)      # id -> names
    refs: dict[int, weakref.ref] = field(default_factory=dict)     # id -> weakref (keep_refs)
    storage_refs: dict[int, object] = field(default_factory=dict)  # storage -> StorageWeakRef

    def alive(self, tensor_id: int) -> torch.Tensor | None:
        """The tensor that had ``tensor_id`` when the snapshot was taken, if still alive."""
        ref = self.refs.get(tensor_id)
        return ref() if ref is not None else None

    def storage_alive(self, storage: int | None) -> bool:
        ref = self.storage_refs.get(storage) if storage is not None else None
        return ref is not None and not ref.expired()

    def bytes_by_device(self) -> dict[str, int]:
        """Bytes of the distinct storages the named tensors hold, per device."""
        seen: set[tuple[str, int]] = set()
        total: dict[str, int] = {}
        for f in self.facts.values():
            key = (f.device, f.storage if f.storage is not None else -f.id)
            if key in seen:
                continue
            seen.add(key)
            total[f.device] = total.get(f.device, 0) + f.storage_bytes
        return total


def _storage_ref(t: torch.Tensor):
    from torch.multiprocessing.reductions import StorageWeakRef

    try:
        return StorageWeakRef(t.untyped_storage())
    except Exception:
        return None


def take(named: Iterable[tuple[str, torch.Tensor]], keep_refs: bool = False) -> Snapshot:
    snap = Snapshot()
    by_id: dict[int, TensorFacts] = {}
    for name, t in named:
        key = id(t)
        f = by_id.get(key)
        if f is None:
            f = by_id[key] = facts_of(t)
            if keep_refs:
                try:
                    snap.refs[key] = weakref.ref(t)
                except TypeError:
                    pass
                if f.storage is not None and f.storage not in snap.storage_refs:
                    ref = _storage_ref(t)
                    if ref is not None:
                        snap.storage_refs[f.storage] = ref
        snap.facts[name] = f
        snap.names.setdefault(key, []).append(name)
    return snap
