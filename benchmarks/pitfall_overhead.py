"""Overhead of the pitfall checks on a small-MLP CPU training loop (about 1 s).

Runs the same cell, interleaved, as a plain cell, under ``%%autograd --no-warn all``
(every probe but the pitfall checks) and under ``%%autograd`` (all of them), and prints
the median times side by side with their ratios. Also times a cell that reads a
non-leaf ``.grad`` 1,000 times (the interception's worst case), and, free of the loop's
noise, what the wrapped ``backward`` adds to one pass (alone, and reading the model's
leaves' ``.grad`` around the pass).

    .venv/bin/python benchmarks/pitfall_overhead.py [--repeats 7] [--device cuda]
"""
from __future__ import annotations

import argparse
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


def per_pass(ip) -> tuple[float, float, int]:
    """Microseconds the wrapper adds to one backward pass: alone, and with the leaves
    of the namespace's ``model`` learnt (their ``.grad`` read before and after)."""
    from graphmagic.code.frames import Locator
    from graphmagic.pitfalls import hooks
    from graphmagic.pitfalls.backward import BackwardWatch
    from graphmagic.pitfalls.state import PitfallState as ShellState

    run = types.SimpleNamespace(source=types.SimpleNamespace(filename="<bench>", text="", tree=None),
                                shell=ip, cell="In[0]", namespace=ip.user_ns)
    noop = lambda *args, **kwargs: None  # noqa: E731
    model, data, target = (ip.user_ns[n] for n in ("model", "data", "target"))
    loss = torch.nn.functional.mse_loss(model(data), target)
    costs = []
    for accumulate in (False, True):
        watch = BackwardWatch(run, None, Locator(run), ShellState(), accumulate)
        if accumulate:
            watch._learn([loss])
            watch.calls = 2  # the next pass is no power of two: no graph walk
        saved = hooks.ACTIVE.backward, hooks._originals["backward"]
        hooks.ACTIVE.backward, hooks._originals["backward"] = watch.watched_backward, noop
        try:  # the path Tensor.backward takes in a cell: trampoline -> handler -> original
            direct = min(timeit.repeat(lambda: noop(loss, None, None, False, inputs=None), number=20000, repeat=7, timer=time.thread_time))
            watched = min(timeit.repeat(lambda: hooks.backward(loss, None, None, False, inputs=None), number=20000, repeat=7, timer=time.thread_time))
        finally:
            hooks.ACTIVE.backward, hooks._originals["backward"] = saved
        costs.append((watched - direct) / 20000 * 1e6)
    return costs[0], costs[1], len(watch.known)


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
    alone, with_leaves, n = per_pass(ip)
    print(f"per backward pass: wrapper {alone:.2f} us; with {n} leaves' .grad read around it "
          f"{with_leaves:.2f} us")
    print(f"1,000 non-leaf .grad reads: plain {read_times['plain'] * 1000:.1f} ms, "
          f"%%autograd {read_times['%%autograd'] * 1000:.1f} ms (one finding, count 1000)")


if __name__ == "__main__":
    main()
