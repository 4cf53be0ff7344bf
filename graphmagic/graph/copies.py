"""Draw a leaf used from far-apart places once per place (shared weights, reused inputs).

One node with edges to every step of an unrolled RNN gives ``dot`` long edges that make
its layout explode (25 GRU steps: 10 s; 50 steps: not done after 2 minutes). A copy per
group of nearby uses keeps every edge short. Uses within ``GAP`` levels share one copy.
Graphs up to ``SPLIT_FROM`` nodes lay out fast anyway and keep one node per tensor.
"""
from __future__ import annotations

from .capture import DATA, Capture

GAP = 2
SPLIT_FROM = 80


def split_shared_leaves(cap: Capture, level: list[int]) -> None:
    """Re-point far-apart uses of a leaf at new copy nodes; ``level`` grows with them."""
    if len(cap) <= SPLIT_FROM:
        return
    leaf: dict[int, bool] = {}
    uses: dict[int, list[int]] = {}
    for e, (s, k) in enumerate(zip(cap.src, cap.ekind)):
        if k != DATA or cap.fn[s] >= 0:
            continue
        flag = leaf.get(s)
        if flag is None:
            flag = leaf[s] = bool(cap.tensors[cap.key[s]].is_leaf)
        if flag:
            uses.setdefault(s, []).append(e)
    dst = cap.dst
    for node, edges in uses.items():
        if len(edges) < 2:
            continue
        edges.sort(key=lambda e: level[dst[e]])
        clusters = [[edges[0]]]
        for e in edges[1:]:
            if level[dst[e]] - level[dst[clusters[-1][0]]] > GAP:
                clusters.append([e])
            else:
                clusters[-1].append(e)
        if len(clusters) < 2:
            continue
        cap.copy[node] = 1
        cap.copies[cap.key[node]] = len(clusters)
        level[node] = level[dst[clusters[0][0]]] + 1
        for k, cluster in enumerate(clusters[1:], 2):
            copy = cap.add_copy(node, k)
            level.append(level[dst[cluster[0]]] + 1)
            for e in cluster:
                cap.src[e] = copy
