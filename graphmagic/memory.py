"""(being built: see the memory issue)"""
from __future__ import annotations

from .runner import Probe


class MemoryProbe(Probe):
    pass
