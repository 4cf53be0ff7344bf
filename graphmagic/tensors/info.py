"""Small, safe readers of tensor facts shared by tracking, graph and pitfalls."""
from __future__ import annotations

import torch

# Backward nodes a Python walk may visit. PyTorch 2.13 frees nodes that Python has touched
# recursively: touching ~45,000+ nodes of a chain and then freeing it overflows the C stack
# (a segfault). Every walk over a user's graph stops here.
SAFE_WALK_LIMIT = 20_000


def shape_str(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def dtype_str(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def version(t: torch.Tensor) -> int | None:
    """The version counter, or None where it cannot be read (inference tensors)."""
    try:
        return int(t._version)
    except Exception:
        return None


def storage_key(t: torch.Tensor) -> int | None:
    """Identity of the tensor's storage (not its data pointer: meta and empty tensors
    all have data_ptr() == 0). None for tensors without one (sparse, some subclasses)."""
    try:
        return int(t.untyped_storage()._cdata)
    except Exception:
        return None


def storage_bytes(t: torch.Tensor) -> int:
    try:
        return int(t.untyped_storage().nbytes())
    except Exception:
        return t.numel() * t.element_size()


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def human_bytes(n: float) -> str:
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} TiB"
