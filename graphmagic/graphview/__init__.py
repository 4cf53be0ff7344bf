"""(being built: see the graph issue)"""
from __future__ import annotations

from ..runner import Probe


class GraphProbe(Probe):
    pass
