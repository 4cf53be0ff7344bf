"""Read the details of the drawn backward nodes: output shapes, saved values, freed state.

After ``backward()`` the saved tensors of a node are freed and reading one raises
``RuntimeError`` (each attribute on its own); non-tensor attributes stay readable. Here a
raising attribute is recorded as freed, never raised. A saved tensor with an unpack hook
(``saved_tensors_hooks``, activation checkpointing) is not unpacked: that would run the hook.
"""
from __future__ import annotations

import torch

from ..messages import t
from ..tensors.info import data_ptr, dims_text, dtype_str, storage_bytes, storage_key
from .model import OpNode, Saved
from .state import shape_of

PREFIX = "_saved_"
MAX_TEXT = 40
_ATTRS: dict[type, tuple[str, ...]] = {}


def saved_attributes(fn) -> tuple[str, ...]:
    kind = type(fn)
    names = _ATTRS.get(kind)
    if names is None:
        names = _ATTRS[kind] = tuple(a for a in dir(fn) if a.startswith(PREFIX))
    return names


def short(value: object) -> str:
    try:
        text = repr(value) if not isinstance(value, str) else value
    except Exception:
        text = type(value).__name__
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class Namer:
    """Names saved tensors after the namespace tensors they are (or view exactly)."""

    def __init__(self, tensors: dict[int, torch.Tensor], names: dict[int, list[str]]):
        self.by_id = {k: v[0] for k, v in names.items() if v}
        self.by_data: dict[tuple, str] = {}
        for key, tensor in tensors.items():
            if key in self.by_id:
                try:
                    self.by_data.setdefault(self._key(tensor), self.by_id[key])
                except Exception:
                    pass

    @staticmethod
    def _key(t: torch.Tensor) -> tuple:
        pointer = data_ptr(t)
        if pointer is None:
            raise ValueError("no data pointer")
        return (pointer, tuple(t.shape), tuple(t.stride()), t.dtype, t.device)

    def describe(self, t: torch.Tensor) -> str:
        text = _shape(shape_of(t)) + " " + dtype_str(t)
        name = self.by_id.get(id(t))
        if name is None:
            try:
                name = self.by_data.get(self._key(t))
            except Exception:
                name = None
        return f"{text} = {name}" if name else text


def _shape(dims: list[int] | None) -> str:
    return dims_text(dims)


def _hooked(fn, attr: str) -> bool:
    """The saved value sits behind an unpack hook (reading it would run the hook). A
    freed one raises on ``_raw_saved_*`` too (``RuntimeError``): not hooked, ``read``
    then records it as freed."""
    try:
        raw = getattr(fn, "_raw" + attr, None)
        return getattr(raw, "unpack_hook", None) is not None
    except Exception:
        return False


def read(fn, node: OpNode, namer: Namer | None, want_saved: bool, want_attrs: bool) -> None:
    """Fill ``node`` from ``fn``: outputs always, freed state, saved tensors and attributes
    when asked for. Stops at the first conclusive saved tensor when only freed is needed."""
    try:
        node.outputs = [[int(d) for d in m.shape] for m in fn._input_metadata][:4]
    except Exception:
        pass
    full = want_saved or want_attrs
    if want_saved:
        node.saved_bytes = held_bytes(fn)
    for attr in saved_attributes(fn):
        short_name = attr[len(PREFIX):]
        if _hooked(fn, attr):
            if want_saved:
                node.saved.append(Saved(short_name, t("graph.saved_hooked")))
            continue
        try:
            value = getattr(fn, attr)
        except RuntimeError:
            node.freed = True
            if want_saved:
                node.saved.append(Saved(short_name, "", freed=True))
            if not full:
                return
            continue
        except Exception as err:
            value = err
        if isinstance(value, torch.Tensor) or (
                isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value)):
            if node.freed is None:
                node.freed = False
            if want_saved:
                node.saved.append(Saved(short_name, _tensors(value, namer)))
            elif not full:
                return
        elif want_attrs:
            node.attrs.append(Saved(short_name, short(value)))
    _custom(fn, node, namer, want_saved)


def _tensors(value, namer: Namer | None) -> str:
    if isinstance(value, torch.Tensor):
        return namer.describe(value) if namer else _shape(shape_of(value))
    items = [v for v in value if isinstance(v, torch.Tensor)]
    return "; ".join(namer.describe(v) if namer else _shape(shape_of(v)) for v in items[:3]) + (
        f"; +{len(items) - 3}" if len(items) > 3 else "")


def _custom(fn, node: OpNode, namer: Namer | None, want_saved: bool) -> None:
    """``torch.autograd.Function`` nodes keep ``ctx.save_for_backward`` in ``saved_tensors``."""
    if not hasattr(type(fn), "saved_tensors"):
        return
    try:
        raw = getattr(fn, "_raw_saved_tensors", ()) or ()
        hooked = any(getattr(r, "unpack_hook", None) is not None for r in raw)
    except Exception:  # freed by backward(): saved_tensors below says so
        hooked = False
    if hooked:
        return
    try:
        tensors = fn.saved_tensors
    except RuntimeError:
        node.freed = True
        if want_saved:
            node.saved.append(Saved("saved_tensors", "", freed=True))
        return
    except Exception:
        return
    if tensors:
        node.freed = bool(node.freed)
        if want_saved:
            node.saved.append(Saved("saved_tensors", _tensors(tensors, namer)))


def held_bytes(fn) -> int | None:
    """Bytes of the distinct storages ``fn`` still holds saved (None when it holds none, or
    only behind saved-tensor hooks, which are never unpacked)."""
    from ..memory.held import saved_tensors

    try:
        tensors, _, _ = saved_tensors(fn, check_freed=False)
    except Exception:
        return None
    sizes = {storage_key(x): storage_bytes(x) for x in tensors}
    return sum(sizes.values()) if sizes else None
