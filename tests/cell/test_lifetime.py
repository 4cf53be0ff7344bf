"""No tensor outlives its cell: freed at ``del`` as in plain Python, with the collector off.

Every test here runs with ``gc.disable()`` and never calls ``gc.collect()`` before it
asserts: reference counting alone must free what the user lets go of.
"""
from __future__ import annotations

import gc
import types
import weakref

import pytest
import torch
from conftest import run

from graphmagic.memory import procmem

OPTION_SETS = ["", "--trace", "--saved", "--attrs", "--engine torchviz", "--quiet",
               "--no-warn all", "--no-graph", "--saved --attrs --trace"]
LET_GO = ["del big", "big = 'text'", "big = torch.zeros(1)", "big = None"]
MAKE = ("big = torch.ones(256, requires_grad=True)\n"
        "y = (big * 2).sum()\n"
        "y.backward()\n")


@pytest.fixture
def no_gc():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize("opts", OPTION_SETS)
@pytest.mark.parametrize("let_go", LET_GO)
def test_a_tensor_let_go_in_a_later_cell_is_freed_at_once(ip, no_gc, opts, let_go):
    run(ip, f"%%autograd {opts}\n{MAKE}")
    ref = weakref.ref(ip.user_ns["big"])
    run(ip, f"%%autograd {opts}\n{let_go}\ndel y")
    assert ref() is None


def _freed_after_raising(ip, magic: str, ending: str) -> bool:
    import sys

    run(ip, f"{magic}{MAKE}{ending}")
    ref = weakref.ref(ip.user_ns["big"])
    run(ip, f"{magic}del big, y")
    ip.last_execution_result = None
    for name in ("last_value", "last_traceback", "last_exc", "last_type"):
        if hasattr(sys, name):  # the traceback a user can still inspect holds its frames
            setattr(sys, name, None)
    return ref() is None


@pytest.mark.parametrize("ending", ["raise ValueError('own')", "raise KeyboardInterrupt",
                                    "y.backward()"])  # the last: backward twice, a RuntimeError
def test_cells_that_raise_keep_alive_only_what_a_plain_cell_does(ip, no_gc, ending):
    # a RuntimeError raised inside torch keeps the tensors in its traceback's frames, which
    # IPython's traceback formatting (stack_data) keeps in cycles: a plain cell does too
    assert _freed_after_raising(ip, "%%autograd\n", ending) == \
        _freed_after_raising(ip, "", ending)
    if ending != "y.backward()":
        assert _freed_after_raising(ip, "%%autograd\n", ending)


def test_run_cell_magic_keeps_nothing_alive(ip, no_gc):
    ip.run_cell_magic("autograd", "", MAKE)
    ref = weakref.ref(ip.user_ns["big"])
    ip.run_cell_magic("autograd", "", "del big, y")
    assert ref() is None


def test_the_run_object_is_gone_after_the_cell(ip, no_gc, monkeypatch):
    from graphmagic.cell import run as lifecycle

    runs = []
    original = lifecycle.begin
    monkeypatch.setattr(lifecycle, "begin", lambda ctx: runs.append(r := original(ctx)) or r)
    run(ip, f"%%autograd --saved\n{MAKE}")
    ref = weakref.ref(runs.pop())
    assert ref() is None


@pytest.mark.parametrize("capture", [
    "bw = torch.autograd.backward",
    "gr = torch.autograd.grad",
    "import warnings\nprev = warnings.showwarning",
    "from torch.autograd import backward",
])
def test_a_captured_hook_pins_no_tensor(ip, no_gc, capture):
    run(ip, f"%%autograd\n{capture}\n{MAKE}")
    ref = weakref.ref(ip.user_ns["big"])
    run(ip, "del big, y")
    assert ref() is None
    run(ip, "w = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()\n(w * 2).sum().backward()")
    assert ip.user_ns["w"].grad.tolist() == [4.0, 4.0]  # the captured function still works


def test_a_big_tensor_gives_its_memory_back_at_del(ip, no_gc):
    if procmem.rss() is None:
        pytest.skip("no /proc here to read the resident memory")
    run(ip, "%%autograd\nbig = torch.ones(64 * 1024 * 1024)")  # 256 MiB
    held = procmem.rss()
    run(ip, "%%autograd\ndel big")
    assert held - procmem.rss() > 200 * 2**20


def _ours(obj) -> bool:
    if isinstance(obj, types.FrameType):
        return "graphmagic" in obj.f_code.co_filename
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        return (getattr(obj, "__module__", "") or "").startswith("graphmagic")
    return type(obj).__module__.startswith("graphmagic")


def test_no_cycles_of_ours_are_left_for_the_collector(ip):
    run(ip, "raise ValueError('flush')")  # IPython lets go of an earlier traceback it keeps
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for opts in OPTION_SETS:
            if "torchviz" in opts:  # torchviz's own cycle, which the engine collects at once
                continue
            run(ip, f"%%autograd {opts}\n{MAKE}")
            run(ip, f"%%autograd {opts}\ndel big, y")
        run(ip, "%%autograd\nraise ValueError('own')")
        run(ip, "raise ValueError('flush')")
        gc.collect()
        ours = [o for o in gc.garbage if _ours(o)]
        tensors = [o for o in gc.garbage if isinstance(o, torch.Tensor)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert ours == [] and tensors == []
