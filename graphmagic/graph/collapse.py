"""Summarise a graph larger than ``--max-nodes`` into groups that ``dot`` lays out fast.

The levels nearest the roots (the loss end) and nearest the leaves (the inputs) stay
drawn; the levels in between become group boxes. When the middle repeats itself (an
unrolled RNN, a stack of identical layers, a long chain) it is one box "block x N";
otherwise it is cut into a few bands. Named tensors inside the middle are kept visible
(plain variables first; other names only when all of them fit) and the rest are listed
on their group.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import torch

from .capture import Capture
from .model import Collapsed, GroupNode

MAX_BANDS = 6
MAX_PERIOD = 256
MAX_PULLED = 24
NAMES_SHOWN = 4
TOP_SHARE = 0.6
_MASK = (1 << 62) - 1


@dataclass
class Plan:
    group_of: list[int]                        # node -> group index, -1 when drawn
    groups: list[GroupNode] = field(default_factory=list)
    collapsed: Collapsed | None = None


def collapse(cap: Capture, level: list[int], max_nodes: int) -> Plan | None:
    total = len(cap)
    if max_nodes <= 0 or total <= max_nodes:
        return None
    depth = max(level) + 1
    by_level: list[list[int]] = [[] for _ in range(depth)]
    for node, lv in enumerate(level):
        by_level[lv].append(node)
    reserve = min(MAX_PULLED + MAX_BANDS, max(2, max_nodes // 4))
    budget = max(max_nodes - reserve, 1)
    used = len(by_level[0])                   # the roots are always drawn
    first = 1
    while first < depth and used + len(by_level[first]) <= budget * TOP_SHARE:
        used += len(by_level[first])
        first += 1
    last = depth - 1
    while last >= first and used + len(by_level[last]) <= budget:
        used += len(by_level[last])
        last -= 1
    if last < first:
        return None
    bands = _bands(cap, by_level, first, last)
    room = max(0, min(MAX_PULLED, max_nodes - used - len(bands)))
    pulled = _pulled(cap, by_level, first, last, level, room)
    plan = Plan(group_of=[-1] * total)
    hidden = 0
    for k, (lo, hi, repeat, block) in enumerate(bands):
        members = [n for lv in range(lo, hi + 1) for n in by_level[lv] if n not in pulled]
        for n in members:
            plan.group_of[n] = k
        hidden += len(members)
    shown = {cap.key[n] for n in range(total) if plan.group_of[n] < 0 and cap.key[n] >= 0}
    for k, (lo, hi, repeat, block) in enumerate(bands):
        members = [n for lv in range(lo, hi + 1) for n in by_level[lv] if plan.group_of[n] == k]
        plan.groups.append(_group(cap, f"g{k}", members, (lo, hi), repeat, block, shown))
    plan.collapsed = Collapsed(max_nodes=max_nodes, total_nodes=total, hidden_nodes=hidden,
                               groups=len(bands), pulled=len(pulled))
    return plan


def _period(sigs: list[int]) -> int:
    """The smallest p with sigs[i] == sigs[i + p] (nearly always) away from the ends, or 0.

    The ends are where the kept levels cut a block in two, so they may differ."""
    m = len(sigs)
    s = torch.tensor(sigs, dtype=torch.int64)
    for p in range(1, min(MAX_PERIOD, m // 4) + 1):
        inner = (s[:-p] != s[p:])[p: m - 2 * p]
        if int(inner.sum()) <= len(inner) // 50:
            return p
    return 0


def _bands(cap: Capture, by_level, first: int, last: int) -> list[tuple[int, int, int, int]]:
    """``(first level, last level, repeat, ops per block)`` of each group."""
    hashes: dict[str, int] = {}
    sigs = []
    for lv in range(first, last + 1):
        total = 0
        for n in by_level[lv]:
            label = cap.label[n] or "T"
            h = hashes.get(label)
            if h is None:
                h = hashes[label] = hash(label) & _MASK
            total += h
        sigs.append(total & _MASK)
    p = _period(sigs)
    if p:
        start = first + p                     # a whole block, away from the cut ends
        block = sum(1 for lv in range(start, start + p) for n in by_level[lv] if cap.fn[n] >= 0)
        return [(first, last, (last - first + 1) // p, block)]
    count = min(MAX_BANDS, last - first + 1)
    size = math.ceil((last - first + 1) / count)
    return [(lo, min(lo + size - 1, last), 0, 0) for lo in range(first, last + 1, size)]


def _pulled(cap: Capture, by_level, first: int, last: int, level: list[int], room: int) -> set[int]:
    """Named tensors of the middle that stay drawn: plain variables first, then nearest."""
    if room <= 0:
        return set()
    keys_outside = {cap.key[n] for lv in (*range(0, first), *range(last + 1, len(by_level)))
                    for n in by_level[lv] if cap.key[n] >= 0}
    seen = set(keys_outside)
    candidates = []
    for lv in range(first, last + 1):
        for n in by_level[lv]:
            key = cap.key[n]
            names = cap.names.get(key) if key >= 0 else None
            if names and key not in seen:
                seen.add(key)
                candidates.append((not any(x.isidentifier() for x in names), lv, n))
    candidates.sort()
    if len(candidates) > room:  # a few of many parameters tell less than the group's list
        candidates = [c for c in candidates if not c[0]]
    return {n for _, _, n in candidates[:room]}


def _group(cap: Capture, gid: str, members: list[int], levels: tuple[int, int], repeat: int,
           block: int, shown: set[int]) -> GroupNode:
    """Counts of what ``members`` hold; names drawn elsewhere (``shown``) are not listed."""
    ops = Counter()
    named: list[str] = []
    seen: set[int] = set()
    tensors = 0
    for n in members:
        key = cap.key[n]
        if cap.fn[n] >= 0 or key < 0:
            ops[cap.label[n]] += 1
            continue
        tensors += 1
        names = cap.names.get(key)
        if names and key not in seen and key not in shown:
            seen.add(key)
            if len(named) < NAMES_SHOWN:
                named.append(names[0])
    return GroupNode(id=gid, ops=sum(ops.values()), tensors=tensors,
                     op_counts=ops.most_common(), named=named, named_count=len(seen),
                     levels=levels, repeat=repeat if repeat > 1 else 0,
                     block_ops=block if repeat > 1 else 0)
