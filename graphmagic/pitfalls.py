"""(being built: see the pitfalls issue)"""
from __future__ import annotations

from .runner import Probe


class PitfallProbe(Probe):
    pass
