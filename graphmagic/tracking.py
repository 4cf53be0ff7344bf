"""(being built: see the tracking issue)"""
from __future__ import annotations

from .runner import Probe


class TrackingProbe(Probe):
    pass
