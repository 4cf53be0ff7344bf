"""Overhead of %%autograd on a small-MLP CPU training cell, side by side in one run.

    python benchmarks/overhead.py [--rounds 7] [--seconds 1.0] [--threads 1]

One InteractiveShell runs the same training cell plain, under ``%%autograd`` (defaults),
``%%autograd --device cpu`` and ``%%autograd --trace``, interleaved round by round in a
rotating order (the machine may be shared: pairs taken close together compare fairly).
Each variant's ratio is the median of its per-round ratios to that round's plain run.
Then: the fixed cost of the report on a trivial cell (ms), and the snapshot cost per
1,000 namespace tensors. Budgets (the tracking issue): default and --device cpu <= 1.05x,
--trace <= 3x.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import torch
from IPython.testing.globalipapp import start_ipython

SETUP = """
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
X = torch.randn(64, 32)
y = torch.randint(0, 10, (64,))
"""
TRAIN = """for _ in range(STEPS):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(X), y)
    loss.backward()
    opt.step()
"""
VARIANTS = {"plain": "", "%%autograd": "%%autograd\n", "--device cpu": "%%autograd --device cpu\n",
            "--trace": "%%autograd --trace\n", "tracking+memory": "%%autograd --no-warn all --no-graph\n"}
BUDGET = {"%%autograd": 1.05, "--device cpu": 1.05, "--trace": 3.0}


def timed(ip, cell: str) -> float:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        start = time.perf_counter()
        result = ip.run_cell(cell, store_history=True)
        elapsed = time.perf_counter() - start
    if result.error_in_exec is not None:
        raise SystemExit(f"cell failed: {result.error_in_exec!r}\n{sink.getvalue()[-2000:]}")
    return elapsed


def calibrate(ip, seconds: float) -> int:
    ip.user_ns["STEPS"] = 50
    timed(ip, TRAIN)  # warm-up
    per_step = timed(ip, TRAIN) / 50
    return max(50, int(seconds / per_step))


def training(ip, rounds: int) -> dict[str, list[float]]:
    times = {name: [] for name in VARIANTS}
    ratios = {name: [] for name in VARIANTS if name != "plain"}
    names = list(VARIANTS)
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        this = {}
        for name in order:
            this[name] = timed(ip, VARIANTS[name] + TRAIN)
        for name, seconds in this.items():
            times[name].append(seconds)
            if name != "plain":
                ratios[name].append(seconds / this["plain"])
    return times, ratios


def fixed_cost(ip, rounds: int) -> tuple[float, float]:
    cell = "t = torch.ones(3)\n"
    plain, magic = [], []
    for _ in range(rounds):
        plain.append(timed(ip, cell))
        magic.append(timed(ip, "%%autograd\n" + cell))
    return statistics.median(plain) * 1e3, statistics.median(magic) * 1e3


def snapshot_cost(ip, rounds: int) -> tuple[float, float]:
    from graphmagic.tensors import snapshot
    from graphmagic.tensors.names import named_tensors

    ip.user_ns.update({f"tensor_{i}": torch.ones(2) for i in range(1000)})
    takes = []
    for _ in range(rounds):
        start = time.perf_counter()
        snapshot.take(named_tensors(ip.user_ns), keep_refs=True)
        takes.append(time.perf_counter() - start)
    plain, magic = fixed_cost(ip, rounds)
    for i in range(1000):
        del ip.user_ns[f"tensor_{i}"]
    return statistics.median(takes) * 1e3, magic - plain


def probe_work(ip, rounds: int) -> float:
    """Milliseconds the tracking and memory probes themselves spend on the training cell
    (start, end-of-cell reads, collect): their whole default-mode cost, free of the noise
    of timing a 1 s loop on a shared machine."""
    from graphmagic.memory.probe import MemoryProbe
    from graphmagic.tracking.probe import TrackingProbe

    spent = [0.0]

    def timing(method):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return wrapper

    patched = [(cls, name, getattr(cls, name)) for cls in (TrackingProbe, MemoryProbe)
               for name in ("__init__", "collect", "_end") if name in vars(cls)]
    for cls, name, method in patched:
        setattr(cls, name, timing(method))
    per_cell = []
    try:
        for _ in range(rounds):
            spent[0] = 0.0
            timed(ip, VARIANTS["%%autograd"] + TRAIN)
            per_cell.append(spent[0])
    finally:
        for cls, name, method in patched:
            setattr(cls, name, method)
    return statistics.median(per_cell) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ip = start_ipython()
    ip.run_line_magic("load_ext", "graphmagic")
    ip.run_cell(SETUP)
    steps = calibrate(ip, args.seconds)
    ip.user_ns["STEPS"] = steps
    for name in VARIANTS:  # warm every path once
        timed(ip, VARIANTS[name] + TRAIN.replace("STEPS", "5"))

    times, ratios = training(ip, args.rounds)
    print(f"Small-MLP CPU training cell, {steps} steps, torch threads={args.threads}, "
          f"{args.rounds} interleaved rounds")
    print(f"{'variant':<16}{'median s':>8}{'ratio (median of pairs)':>26}{'budget':>9}  verdict")
    print(f"{'plain':<16}{statistics.median(times['plain']):>8.3f}{'1.00x':>26}")
    for name, rs in ratios.items():
        ratio = statistics.median(rs)
        spread = f"{min(rs):.2f}-{max(rs):.2f}"
        if name in BUDGET:
            verdict = "within" if ratio <= BUDGET[name] else f"misses by {ratio / BUDGET[name] - 1:.1%}"
            budget = f"{BUDGET[name]:>8.2f}x"
        else:
            verdict, budget = "(diagnostic: graph and pitfall probes off)", f"{'':>9}"
        print(f"{name:<16}{statistics.median(times[name]):>8.3f}"
              f"{f'{ratio:.3f}x ({spread})':>26}{budget}  {verdict}")

    work = probe_work(ip, 5)
    plain_median = statistics.median(times["plain"])
    print(f"Tracking+memory probe work on this cell: {work:.2f} ms "
          f"(= {1 + work / 1e3 / plain_median:.4f}x of the plain median)")

    plain_ms, magic_ms = fixed_cost(ip, max(args.rounds, 9))
    print(f"\nTrivial cell: plain {plain_ms:.2f} ms, %%autograd {magic_ms:.2f} ms "
          f"-> fixed report cost {magic_ms - plain_ms:.2f} ms")
    take_ms, cell_ms = snapshot_cost(ip, max(args.rounds, 9))
    print(f"1,000 namespace tensors: one snapshot {take_ms:.2f} ms; "
          f"the whole trivial %%autograd cell costs {cell_ms:.2f} ms more than plain")


if __name__ == "__main__":
    main()
