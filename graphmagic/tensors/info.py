"""Small, safe readers of tensor facts shared by tracking, graph and pitfalls.

Reading a fact must never run the user's code. ``reading()`` turns subclass
``__torch_function__`` and torch function modes off (``torch._C.DisableTorchFunction``);
the facts read here (``_version``, ``is_leaf``, ``grad_fn``, ``untyped_storage()`` ...) do
not dispatch, so dispatch modes and ``__torch_dispatch__`` subclasses are not reached --
except where a subclass asked for custom sizes or device (``dispatch_sizes_strides_policy``,
``dispatch_device``): there ``shape``, ``device`` or ``numel()`` call its
``__torch_dispatch__``. ``refusing(t)`` puts a mode on top of the dispatch stack, for
tensors with the Python dispatch key only, that refuses every such call (the read fails and
the fact is unknown). Neither touches the user's own mode stacks, and no read here warns.
"""
from __future__ import annotations

import contextlib

import torch
from torch._C import _pop_torch_dispatch_stack, _push_on_torch_dispatch_stack
from torch.utils._python_dispatch import TorchDispatchMode

# Backward nodes a Python walk may visit. PyTorch 2.13 frees nodes that Python has touched
# recursively: touching ~45,000+ nodes of a chain and then freeing it overflows the C stack
# (a segfault). Every walk over a user's graph stops here.
SAFE_WALK_LIMIT = 20_000


reading = torch._C.DisableTorchFunction  # a context manager (C++; cheap to enter)


class UserDispatch(Exception):
    """A read would have called a tensor subclass's ``__torch_dispatch__``."""


class _Refuse(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        raise UserDispatch(str(func))


_REFUSE = _Refuse()


def is_tensor(obj: object) -> bool:
    """``isinstance(obj, torch.Tensor)`` by the real type (``isinstance`` asks ``__class__``)."""
    return issubclass(type(obj), torch.Tensor)


@contextlib.contextmanager
def _refusing():
    _push_on_torch_dispatch_stack(_REFUSE)
    try:
        yield
    finally:
        _pop_torch_dispatch_stack(None)


_NOTHING = contextlib.nullcontext()


def refusing(t: torch.Tensor):
    """Inside ``reading()``: a context in which a read of ``t`` cannot reach a subclass's
    ``__torch_dispatch__`` (a no-op for tensors without the Python dispatch key)."""
    return _refusing() if t._python_dispatch else _NOTHING


@contextlib.contextmanager
def computing():
    """Operations on tensors run on torch's own kernels: function modes and subclass
    ``__torch_function__`` off, the user's dispatch modes skipped. Only for tensors whose
    ``_python_dispatch`` is False (read it inside): the kernels of a ``__torch_dispatch__``
    subclass would see a wrapper without data."""
    with reading(), torch._C._DisableTorchDispatch():
        yield


def data_ptr(t: torch.Tensor) -> int | None:
    """``t.data_ptr()``, or None for a tensor with the Python dispatch key (a FakeTensor's
    warns, a wrapper subclass's means nothing)."""
    with reading():
        try:
            return None if t._python_dispatch else int(t.data_ptr())
        except Exception:
            return None


def dims_text(dims) -> str:
    """A shape as graphmagic writes it everywhere: ``(3, 4)``; ``(?)`` when unknown."""
    return "(" + ", ".join(str(d) for d in dims) + ")" if dims is not None else "(?)"


def shape_str(t: torch.Tensor) -> str:
    with reading():
        try:
            with refusing(t):
                return dims_text(t.shape)
        except Exception:
            return "?"


def device_str(t: torch.Tensor) -> str:
    with reading():
        try:
            with refusing(t):
                return str(t.device)
        except Exception:
            return "?"


def dtype_str(t: torch.Tensor) -> str:
    with reading():
        return str(t.dtype).replace("torch.", "")


def version(t: torch.Tensor) -> int | None:
    """The version counter, or None where it cannot be read (inference tensors)."""
    with reading():
        try:
            return int(t._version)
        except Exception:
            return None


def storage_key(t: torch.Tensor) -> int | None:
    """Identity of the tensor's storage (not its data pointer: meta and empty tensors
    all have data_ptr() == 0). None for tensors without one (sparse, some subclasses)."""
    with reading():
        try:
            return int(t.untyped_storage()._cdata)
        except Exception:
            return None


def storage_bytes(t: torch.Tensor) -> int:
    with reading():
        try:
            return int(t.untyped_storage().nbytes())
        except Exception:
            return nbytes(t)


def nbytes(t: torch.Tensor) -> int:
    """The tensor's own elements in bytes (0 where they cannot be read)."""
    with reading():
        try:
            with refusing(t):
                return int(t.numel()) * int(t.element_size())
        except Exception:
            return 0


def human_bytes(n: float) -> str:
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} TiB"
