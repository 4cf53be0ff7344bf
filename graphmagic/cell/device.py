"""Resolve ``--device`` to a ``torch.device`` and scope it to one cell.

``resolve`` raises ``OptionError`` (shown as ``UsageError``) for an unknown or unavailable device, except when the
environment sets ``GRAPHMAGIC_DEVICE_FALLBACK=cpu``: then a device that is valid but missing
here is replaced by the CPU and the returned ``DeviceChoice`` carries a note saying so.
``default_device`` only sets PyTorch's default device when that changes something: it is a
Python ``TorchFunctionMode`` over every torch call (1.65x on a small CPU training loop).
"""
from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass

import torch

from ..messages import t
from .options import OptionError
from ..code.frames import exception_message
from ..tensors import info as tensorinfo
from ..tensors.names import named_tensors

FALLBACK_ENV = "GRAPHMAGIC_DEVICE_FALLBACK"
ACCELERATORS = ("cuda", "mps", "xpu")


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device | None
    requested: str | None = None
    note: str | None = None  # set when the request could not be met and fell back


def _backend(kind: str):
    if kind == "mps":
        return getattr(torch.backends, "mps", None)
    return getattr(torch, kind, None)


def _count(kind: str) -> int:
    backend = _backend(kind)
    try:
        if backend is None or not backend.is_available():
            return 0
        return int(backend.device_count()) if hasattr(backend, "device_count") else 1
    except Exception:  # a broken driver is "not available"
        return 0


def available() -> list[str]:
    """The devices this process can use, e.g. ``['cpu', 'meta', 'cuda:0']``."""
    found = ["cpu", "meta"]
    for kind in ACCELERATORS:
        n = _count(kind)
        found += [kind] if kind == "mps" and n else [f"{kind}:{i}" for i in range(n)]
    return found


def best_accelerator() -> torch.device:
    for kind in ACCELERATORS:
        if _count(kind):
            return torch.device(kind)
    return torch.device("cpu")


def _parse(spec: str) -> torch.device | None:
    try:
        return torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        return None


def _problem(spec: str) -> str | None:
    """Why ``spec`` cannot be used here, or None when it can."""
    dev = _parse(spec)
    if dev is None:
        return t("device.unknown", spec=spec)
    if dev.type in ("cpu", "meta"):
        return None
    if dev.type not in ACCELERATORS:
        return t("device.unsupported", spec=spec)
    n = _count(dev.type)
    if n == 0:
        return t("device.unavailable", spec=spec)
    if dev.index is not None and dev.index >= n:
        return t("device.no_index", spec=spec, count=n)
    return None


def resolve(spec: str | None) -> DeviceChoice:
    """Turn a ``--device`` value into a DeviceChoice, or raise OptionError."""
    if spec is None:
        return DeviceChoice(None)
    spec = spec.strip()
    if spec.lower() == "auto":
        return DeviceChoice(best_accelerator(), spec)
    problem = _problem(spec)
    if problem is None:
        return DeviceChoice(torch.device(spec), spec)
    fallback = os.environ.get(FALLBACK_ENV, "").strip().lower() == "cpu"
    if fallback and _parse(spec) is not None:  # a device missing here, not a typo
        return DeviceChoice(torch.device("cpu"), spec, t("device.fallback", spec=spec, env=FALLBACK_ENV))
    raise OptionError(t("device.error", problem=problem, available=", ".join(available() + ["auto"])))


def _indexed(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:<current>``, as ``torch.get_default_device`` reports it."""
    if device.index is not None or device.type in ("cpu", "meta"):
        return device
    current = getattr(getattr(torch, device.type, None), "current_device", None)
    try:
        return torch.device(device.type, current() if current is not None else 0)
    except Exception:
        return device


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    return a.type in ("cpu", "meta") or _indexed(a) == _indexed(b)


def _global_context():
    return getattr(torch._GLOBAL_DEVICE_CONTEXT, "device_context", None)


@contextlib.contextmanager
def default_device(device: torch.device | None):
    """Make ``device`` the default for the cell, only when it changes something.

    Done with ``torch.set_default_device`` rather than ``with device:``, and undone only if
    the global default is still ours: a cell that calls ``torch.set_default_device`` itself
    keeps its choice, as a plain cell does (nesting it in ``with device:`` breaks PyTorch).
    """
    if device is None or _same_device(device, torch.get_default_device()):
        yield
        return
    previous = _global_context()
    torch.set_default_device(device)
    ours = _global_context()
    try:
        yield
    finally:
        if _global_context() is ours:
            torch.set_default_device(previous.device if previous is not None else None)


MIXED_DEVICE_SIGNS = ("Expected all tensors to be on the same device", "found at least two devices",
                      "is not on the expected device")  # the last: torch's meta/prims check


def mixed_device_hint(exc: BaseException, namespace: dict) -> str | None:
    """For a 'tensors on different devices' error: which variables live where, and the fix.
    Reads nothing through the user's code (the exception's ``__str__``, a namespace object's
    ``__getattr__``, a subclass's ``__torch_function__``)."""
    if not issubclass(type(exc), RuntimeError):
        return None
    message = exception_message(exc)
    if not any(s in message for s in MIXED_DEVICE_SIGNS):
        return None
    by_device: dict[str, list[str]] = defaultdict(list)
    with tensorinfo.reading():
        for name, tensor in named_tensors(namespace):
            by_device[tensorinfo.device_str(tensor)].append(name)
    if not by_device:
        return t("device.mixed_fix")
    rows = [f"  {dev}: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}"
            for dev, names in sorted(by_device.items())]
    return "\n".join([t("device.mixed_head"), *rows, t("device.mixed_fix")])
