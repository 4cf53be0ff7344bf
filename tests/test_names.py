"""names.named_tensors: pasteable names, and big containers looked at only up to the cap."""
from __future__ import annotations

import torch

from graphmagic.tensors import names


class CountingDict(dict):
    """Counts how many entries ``items()`` hands out."""
    def __init__(self, *args):
        super().__init__(*args)
        self.seen = 0

    def items(self):
        for item in super().items():
            self.seen += 1
            yield item


def test_big_dict_is_read_up_to_the_cap_and_not_through_its_override():
    big = CountingDict({i: float(i) for i in range(50_000)})
    big[0] = torch.ones(1)
    big[names.LIMIT + 5] = torch.ones(1)  # past the cap: not looked at
    found = list(names.named_tensors({"big": big}))
    assert [n for n, _ in found] == ["big[0]"]
    assert big.seen == 0  # dict.items(big), never the subclass's items()


def test_cap_per_container():
    t = torch.ones(1)
    ns = {"xs": [t] * (names.LIMIT + 5), "tp": (1, t), "d": {"a.b": t, 3: t, (1, 2): t}}
    found = [n for n, _ in names.named_tensors(ns)]
    assert sum(n.startswith("xs[") for n in found) == names.LIMIT
    assert found[-4:] == ["xs[9999]", "tp[1]", "d['a.b']", "d[3]"]


def test_ipython_names_skipped():
    t = torch.ones(1)
    ns = {"_": t, "_3": t, "_i3": t, "__x": t, "_private": t, "Out": {1: t}, "x_1": t}
    assert [n for n, _ in names.named_tensors(ns)] == ["_private", "x_1"]
