"""Overhead of the pitfall checks on a small-MLP CPU training loop (about 1 s).

Runs the same cell, interleaved, as a plain cell, under ``%%autograd --no-warn all``
(every probe but the pitfall checks) and under ``%%autograd`` (all of them), and prints
the median times side by side with their ratios. Also times a cell that reads a
non-leaf ``.grad`` 1,000 times (the interception's worst case), and, free of the loop's
noise, what one backward pass costs in the cell's routing (the engine hook) and in the
watch's work (``per_pass``), on this loop's net and on ``benchmarks/overhead.py``'s.

    .venv/bin/python benchmarks/pitfall_overhead.py [--repeats 7] [--device cuda]
"""
from __future__ import annotations

import argparse
import functools
import linecache
import statistics
import time
import timeit
import types

import torch
from IPython.testing.globalipapp import start_ipython

SETUP = """
import torch
from torch import nn
torch.manual_seed(0)
device = {device!r}
model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
model = model.to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
data, target = torch.randn(64, 32, device=device), torch.randn(64, 1, device=device)
sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
"""
LOOP = """for step in range({steps}):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(data), target)
    loss.backward()
    opt.step()
sync()
"""
READS = "h = torch.ones(1, requires_grad=True) * 2\nfor _ in range(1000):\n    h.grad\n"


def timed(ip, cell: str) -> float:
    start = time.perf_counter()
    result = ip.run_cell(cell, store_history=True)
    elapsed = time.perf_counter() - start
    if not result.success:
        raise SystemExit(f"the benchmark cell failed: {result.error_in_exec!r}")
    return elapsed


def per_pass(ip, model, data, target) -> dict[str, float]:
    """Microseconds per backward pass, side by side on the path ``loss.backward()`` takes in
    a cell (Tensor.backward -> torch.autograd.backward -> torch's ``_engine_run_backward``,
    which calls the cell's handler before and after the engine; the engine here is a
    stand-in that only bumps the grads' versions as an accumulation does):

    - ``engine hook``: ``hooks.take_engine`` with a handler that does nothing, against
      torch's path with no hook (the routing a cell adds, before any work);
    - ``handler, grads None``: the watch's work when every leaf's .grad is None before the
      pass (``opt.zero_grad()``), the model's leaves learnt, the root recorded for the graph;
    - ``handler, grads kept``: the same with .grad zeroed in place before each pass
      (``zero_grad(set_to_none=False)``, ``p.grad.zero_()``; the zeroing runs in both).
    """
    import contextlib

    from torch.autograd import graph

    from graphmagic.code.frames import Locator
    from graphmagic.pitfalls import hooks
    from graphmagic.pitfalls.backward import BackwardWatch
    from graphmagic.pitfalls.state import PitfallState

    filename = "<pitfall-bench-cell>"
    opts = types.SimpleNamespace(show_graph=True, saved=False, attrs=False)
    ctx = types.SimpleNamespace(source=types.SimpleNamespace(filename=filename, text="", tree=None),
                                shell=ip, cell="In[0]", namespace=ip.user_ns, options=opts,
                                code=types.SimpleNamespace(assigned={}, backward_calls=[]),
                                facts_of=lambda name: types.SimpleNamespace(backward_calls=[]),
                                problems=[])
    locator = Locator(ctx)
    params = [p for p in model.parameters()]

    def bump(*args, **kwargs):
        for p in params:
            if p.grad is not None:
                p.grad.add_(0)

    source = "def step(loss, grads):\n    for g in grads:\n        g.zero_()\n    loss.backward()\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    cell_code = compile(source, filename, "exec")
    space: dict = {}
    exec(cell_code, space)
    grads: list = []
    step = functools.partial(space["step"], grads=grads)
    loss = torch.nn.functional.mse_loss(model(data), target)
    number = 20000

    def timed(handler) -> float:
        with contextlib.ExitStack() as stack:
            if handler is not _DIRECT:
                hooks.take_engine(stack, handler)
            return min(timeit.repeat(lambda: step(loss), number=number, repeat=1, timer=time.thread_time))

    engine = graph.Variable
    graph.Variable = types.SimpleNamespace(_execution_engine=types.SimpleNamespace(run_backward=bump))
    out = {}
    try:
        for state_name, kept in (("grads None", False), ("grads kept", True)):
            for p in params:
                p.grad = torch.zeros_like(p) if kept else None
            grads[:] = [p.grad for p in params] if kept else []
            watch = BackwardWatch(ctx, None, locator, PitfallState(), True)
            watch._learn([loss])
            watch.calls = 2  # the next pass is no power of two: no graph walk
            variants = {"direct": _DIRECT, "hooked": _nothing, "watched": watch.on_pass}
            for handler in variants.values():   # warm up (the site's first pass captures)
                timed(handler)
            best = {name: float("inf") for name in variants}
            for _ in range(7):   # interleaved rounds: the machine may be shared
                for name, handler in variants.items():
                    best[name] = min(best[name], timed(handler))
            if not kept:
                out["engine hook"] = (best["hooked"] - best["direct"]) / number * 1e6
            out[f"handler, {state_name}"] = (best["watched"] - best["hooked"]) / number * 1e6
            out["leaves"] = len(watch.known)
            if ctx.problems:
                raise SystemExit(f"the watch failed: {ctx.problems}")
    finally:
        graph.Variable = engine
        for p in params:
            p.grad = None
    return out


_DIRECT = object()   # per_pass: torch's path with no hook


def _nothing(tensors):
    """The least a handler can do: what routing a pass to one costs."""
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ip = start_ipython()
    ip.run_line_magic("load_ext", "graphmagic")
    ip.run_cell(SETUP.format(device=args.device))
    ip.run_cell("import warnings\nwarnings.simplefilter('ignore')")  # the reads' plain warnings
    timed(ip, LOOP.format(steps=20))  # warm up
    start = time.perf_counter()
    timed(ip, LOOP.format(steps=200))
    steps = max(50, int(200 / (time.perf_counter() - start)))  # about 1 s
    loop = LOOP.format(steps=steps)
    variants = {
        "plain": loop,
        "%%autograd --no-warn all": "%%autograd --no-graph --quiet --no-warn all\n" + loop,
        "%%autograd": "%%autograd --no-graph --quiet\n" + loop,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for i in range(args.repeats):
        for name in order[i % 3:] + order[:i % 3]:  # rotate: no variant always runs first
            times[name].append(timed(ip, variants[name]))
    base = statistics.median(times["plain"])
    print(f"small-MLP training loop on {args.device}, {steps} steps, torch threads 1, "
          f"{args.repeats} interleaved runs")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:28s} {median * 1000:8.1f} ms   {median / base:5.3f}x plain")
    paired = [a / b for a, b in zip(times["%%autograd"], times["%%autograd --no-warn all"])]
    print(f"  pitfall checks alone (median of per-round ratios): {statistics.median(paired):5.3f}x")
    reads = {"plain": READS, "%%autograd": "%%autograd --no-graph --quiet\n" + READS}
    read_times = {name: statistics.median(timed(ip, cell) for _ in range(args.repeats))
                  for name, cell in reads.items()}
    torch.manual_seed(0)
    small = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    nets = {"this loop's net": (ip.user_ns["model"], ip.user_ns["data"], ip.user_ns["target"]),
            "overhead.py's net": (small, torch.randn(64, 32), torch.randn(64, 10))}
    print("per backward pass (thread CPU time, min of 7 x 20,000 calls; budget: handler <= 2 us):")
    for label, (net, x, y) in nets.items():
        if args.device != "cpu" and net is small:
            continue
        costs = per_pass(ip, net, x, y)
        n = costs.pop("leaves")
        print(f"  {label} ({n} leaves): " + "; ".join(f"{k} {v:.2f} us" for k, v in costs.items()))
    print(f"1,000 non-leaf .grad reads: plain {read_times['plain'] * 1000:.1f} ms, "
          f"%%autograd {read_times['%%autograd'] * 1000:.1f} ms (one finding, count 1000)")


if __name__ == "__main__":
    main()
