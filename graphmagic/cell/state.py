"""What graphmagic keeps for one shell across cells, owned by the magics object.

Option defaults, the language, the tensor relations tracking remembers and the pitfall state
(``pitfalls/state.py``). Plain data, ids and weak references only: nothing here keeps a
tensor alive. Unloading the extension drops the object and everything in it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..pitfalls.state import PitfallState


@dataclass(eq=False)
class ShellState:
    defaults: dict[str, object] = field(default_factory=dict)
    lang: str | None = None          # None: the environment's (GRAPHMAGIC_LANG), else English
    relations: dict[str, tuple] = field(default_factory=dict)  # tracking: detach/.data pairs
    pitfalls: PitfallState = field(default_factory=PitfallState)
