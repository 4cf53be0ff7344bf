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
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

import torch
from torch.multiprocessing.reductions import StorageWeakRef

from . import info as tensorinfo


class TensorFacts(NamedTuple):
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
        return self._asdict()


_DEVICES: dict = {}
_DTYPES: dict = {}
_SHAPES: dict = {}


def _name(cache: dict, value, show=lambda v: str(v).replace("torch.", "")) -> str:
    text = cache.get(value)
    if text is None:
        text = show(value)
        if len(cache) < 4096:
            cache[value] = text
    return text


def _shape(size) -> str:
    return tensorinfo.dims_text(size)


def _facts(t: torch.Tensor) -> tuple[TensorFacts, object]:
    """The facts and the storage object (None without one) of ``t``."""
    try:
        version, inference = t._version, False
    except RuntimeError:  # inference tensors have no version counter
        version, inference = None, True
    is_leaf, retains = t.is_leaf, t.retains_grad
    grad = t.grad if is_leaf or retains else None  # a non-leaf's .grad warns; never filled
    grad_fn, base = t.grad_fn, t._base
    try:  # a subclass with custom sizes or device is refused them (tensorinfo.refusing)
        size = t.shape
        shape = _SHAPES.get(size) or _name(_SHAPES, size, _shape)
    except Exception:  # nested tensors have no single shape
        shape = "nested" if t.is_nested else "?"
    try:
        device = t.device
        device = _DEVICES.get(device) or _name(_DEVICES, device)
    except Exception:
        device = "?"
    try:
        own = t.numel() * t.element_size()
    except Exception:
        own = 0
    try:
        storage = t.untyped_storage()
        key, storage_bytes = storage._cdata, storage.nbytes()
    except Exception:
        storage, key, storage_bytes = None, None, own
    grad_version = None
    if grad is not None:
        try:
            grad_version = grad._version
        except RuntimeError:
            pass
    dtype = t.dtype
    return TensorFacts(  # positional: this runs for every tensor, twice a cell
        id(t), version, key, shape, _DTYPES.get(dtype) or _name(_DTYPES, dtype), device, own,
        storage_bytes, t.requires_grad, is_leaf,
        type(grad_fn).__name__ if grad_fn is not None else None,
        retains, grad is not None, id(grad) if grad is not None else None, grad_version,
        id(base) if base is not None else None, inference), storage


def _read(t: torch.Tensor) -> tuple[TensorFacts, object]:
    try:
        if t._python_dispatch:
            with tensorinfo.refusing(t):
                return _facts(t)
        return _facts(t)
    except Exception:
        return TensorFacts(id(t), None, None, "?", "?", "?", 0, 0, False, True, None, False,
                           False, None, None, None, False), None


def facts_of(t: torch.Tensor) -> TensorFacts:
    """The facts of one tensor (never raises, never runs the user's code: odd subclasses
    get what can be read)."""
    with tensorinfo.reading():
        return _read(t)[0]


SAMPLE_ABOVE = 4 * 2**20   # bytes: larger tensors get a sampled digest
SAMPLE_COUNT = 65_536       # elements in a sampled digest


def digest(t: torch.Tensor) -> bytes | None:
    """A hash of a tensor's contents (to see whether ``x.data += 1`` ran), or None.

    A small CPU tensor is hashed whole, reading its buffer in place (no copy when it is
    contiguous). A larger one, or any tensor not on the CPU, gets a sampled digest: a strided
    sample of ``SAMPLE_COUNT`` elements plus the sum of all of them, computed where the tensor
    lives (only those few numbers cross to the host). The trade-off: a change that touches
    only unsampled elements and keeps the sum exactly equal (a swap of two values, say) goes
    unseen; ``x.data.mul_(2)``, ``normal_()``, ``zero_()`` and ``+= 1`` change the sum.
    """
    try:
        with tensorinfo.computing():
            return _digest(t)
    except Exception:
        return None


def _digest(t: torch.Tensor) -> bytes | None:
    # a tensor whose operations would run a subclass's __torch_dispatch__ gets no digest
    if t._python_dispatch or t.layout != torch.strided or t.device.type == "meta" or t.is_nested:
        return None
    d = t.detach()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{d.shape}{d.dtype}".encode())
    if d.device.type == "cpu" and tensorinfo.nbytes(d) <= SAMPLE_ABOVE:
        flat = d.contiguous().reshape(-1)  # a view when contiguous; small otherwise
        h.update(memoryview(flat.view(torch.uint8).numpy()))
        return h.digest()
    n = d.numel()
    step = max(1, n // SAMPLE_COUNT)
    if d.is_contiguous():
        sample = d.view(-1)[::step].contiguous()
    else:
        sample = torch.take(d, torch.arange(0, n, step, device=d.device))
    h.update(memoryview(sample.view(torch.uint8).cpu().numpy()))
    if d.dtype != torch.bool:
        h.update(repr(d.sum().item()).encode())  # in its own dtype: no converted copy
    return h.digest()


def digests(named: Iterable[tuple[str, torch.Tensor]], budget: int = 512 * 2**20) -> dict[str, bytes | None]:
    """Digests of ``named``, requires_grad leaves first, until ``budget`` bytes were read
    (a sampled tensor counts ``SAMPLE_ABOVE``)."""
    seen: dict[int, bytes | None] = {}
    out: dict[str, bytes | None] = {}
    spent = 0
    with tensorinfo.reading():
        ordered = sorted(named, key=lambda nt: not (nt[1].requires_grad and nt[1].is_leaf))
    for name, t in ordered:
        key = id(t)
        if key not in seen:
            cost = min(tensorinfo.nbytes(t), SAMPLE_ABOVE)
            if spent + cost > budget:
                continue
            spent += cost
            seen[key] = digest(t)
        out[name] = seen[key]
    return out


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
            if f.device == "meta":  # meta tensors hold no memory
                continue
            key = (f.device, f.storage if f.storage is not None else -f.id)
            if key in seen:
                continue
            seen.add(key)
            total[f.device] = total.get(f.device, 0) + f.storage_bytes
        return total


def take(named: Iterable[tuple[str, torch.Tensor]], keep_refs: bool = False) -> Snapshot:
    snap = Snapshot()
    with tensorinfo.reading():  # once per snapshot: subclass __torch_function__ off
        _fill(snap, named, keep_refs)
    return snap


def _fill(snap: Snapshot, named: Iterable[tuple[str, torch.Tensor]], keep_refs: bool) -> None:
    by_id: dict[int, TensorFacts] = {}
    for name, t in named:
        key = id(t)
        f = by_id.get(key)
        if f is None:
            f, storage = _read(t)
            by_id[key] = f
            if keep_refs:
                try:
                    snap.refs[key] = weakref.ref(t)
                except TypeError:
                    pass
                if storage is not None and f.storage not in snap.storage_refs:
                    try:
                        snap.storage_refs[f.storage] = StorageWeakRef(storage)
                    except Exception:
                        pass
        snap.facts[name] = f
        snap.names.setdefault(key, []).append(name)
