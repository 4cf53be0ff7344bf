"""The probes every ``%%autograd`` cell runs, in start and collect order.

Tracking takes its before-snapshot first; pitfalls install their hooks and warning
interception; graph notes what it needs; memory resets its peak counters last, right
before the body, so our own work is not counted.
"""
from __future__ import annotations

from .graphview import GraphProbe
from .memory import MemoryProbe
from .pitfalls import PitfallProbe
from .runner import Probe
from .tracking import TrackingProbe


def cell_probes() -> list[Probe]:
    return [TrackingProbe(), PitfallProbe(), GraphProbe(), MemoryProbe()]
