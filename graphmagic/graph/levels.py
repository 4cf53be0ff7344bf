"""Distance of every skeleton node from the graph's ends (the roots), against the arrows."""
from __future__ import annotations

from .capture import DATA, Capture


def levels(cap: Capture) -> list[int]:
    """``level[i]``: 0 for nodes nothing consumes (the roots), else the longest path to one.

    Longest (not shortest) paths keep a residual block's ops together: a skip
    connection does not pull the inside of a layer up to the next layer's level.
    A detached tensor that nothing consumes sits at the level of its source.
    """
    n = len(cap)
    preds: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n                          # consumers not yet placed
    for s, d, k in zip(cap.src, cap.dst, cap.ekind):
        if k == DATA:
            preds[d].append(s)
            waiting[s] += 1
    level = [0] * n
    ready = [i for i in range(n) if not waiting[i]]
    sinks = set(ready)
    while ready:
        node = ready.pop()
        up = level[node] + 1
        for s in preds[node]:
            if level[s] < up:
                level[s] = up
            waiting[s] -= 1
            if not waiting[s]:
                ready.append(s)
    for node, src in cap.detached_from.items():
        if node in sinks:
            level[node] = level[src]
    return level
