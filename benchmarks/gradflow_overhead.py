"""Cost of what autograd keeps and what flowed back: gradient flow, memory held by graphs,
the history checks, and ``--anomaly``, side by side with plain cells in one run.

    .venv/bin/python benchmarks/gradflow_overhead.py [--rounds 5] [--seconds 1.0] [--device cuda]

1. A small-MLP training cell (about ``--seconds``): plain vs ``%%autograd``, interleaved;
   and, free of the loop's noise, the milliseconds the gradient-flow part, the held-memory
   walk and the history checks spend on that cell.
2. PyTorch's FAQ loop (``total_loss += loss``, 200 steps) and a validation loop without
   ``torch.no_grad()`` (50 batches of 256x512 through a 512-2048-10 MLP): the same
   end-of-cell work, the held bytes it reports, and the process's resident-memory growth.
3. ``--anomaly``: plain, plain under ``torch.autograd.set_detect_anomaly(True)``, and
   ``%%autograd --anomaly`` on the training cell.
4. With ``--device cuda``: the device synchronisations of the gradient-flow part per cell
   (``torch.cuda.set_sync_debug_mode``), expected 1.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings

import torch
from IPython.testing.globalipapp import start_ipython

SETUP = """
import torch
F = torch.nn.functional
torch.manual_seed(0)
device = {device!r}
model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                            torch.nn.ReLU(), torch.nn.Linear(64, 10)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
X = torch.randn(64, 32, device=device)
y = torch.randint(0, 10, (64,), device=device)
big = torch.nn.Sequential(torch.nn.Linear(512, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 10)).to(device)
bigX = torch.randn(256, 512, device=device)
bigy = torch.randint(0, 10, (256,), device=device)
sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
"""
TRAIN = """for step in range(STEPS):
    opt.zero_grad()
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    opt.step()
sync()
"""
FAQ = """total_loss = 0
for step in range(200):
    opt.zero_grad()
    loss = F.cross_entropy(model(X), y)
    loss.backward()
    opt.step()
    total_loss += loss
sync()
"""
VAL = """val = 0
for batch in range(50):
    val += F.cross_entropy(big(bigX), bigy)
sync()
"""


def timed(ip, cell: str) -> float:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        start = time.perf_counter()
        result = ip.run_cell(cell, store_history=True)
        elapsed = time.perf_counter() - start
    if result.error_in_exec is not None:
        raise SystemExit(f"cell failed: {result.error_in_exec!r}\n{sink.getvalue()[-2000:]}")
    return elapsed


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PartTimer:
    """Milliseconds spent in this issue's end-of-cell work (and the gradient-flow start)."""

    def __init__(self) -> None:
        from graphmagic.gradflow.probe import GradFlowProbe
        from graphmagic.memory import held
        from graphmagic.pitfalls.history import HistoryWatch

        self.spent = {"gradflow": 0.0, "held memory": 0.0, "history": 0.0}
        self.patches = [(GradFlowProbe, "__init__", "gradflow"), (GradFlowProbe, "collect", "gradflow"),
                        (held, "held_memory", "held memory"), (HistoryWatch, "check", "history")]
        self.saved = []
        self.active: list[str] = []

    def __enter__(self):
        for owner, name, part in self.patches:
            method = getattr(owner, name)
            self.saved.append((owner, name, method))
            setattr(owner, name, self._timing(method, part))
        return self

    def _timing(self, method, part):
        """Exclusive time: a part called from inside another is taken off the outer one."""
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            self.active.append(part)
            try:
                return method(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.active.pop()
                self.spent[part] += elapsed
                if self.active:
                    self.spent[self.active[-1]] -= elapsed
        return wrapper

    def __exit__(self, *exc):
        for owner, name, method in self.saved:
            setattr(owner, name, method)

    def reset(self) -> None:
        for k in self.spent:
            self.spent[k] = 0.0


def median_parts(ip, cell: str, rounds: int) -> tuple[dict[str, float], float]:
    per = {"gradflow": [], "held memory": [], "history": []}
    walls = []
    with PartTimer() as timer:
        for _ in range(rounds):
            timer.reset()
            walls.append(timed(ip, cell))
            for k, v in timer.spent.items():
                per[k].append(v * 1e3)
    return {k: statistics.median(v) for k, v in per.items()}, statistics.median(walls)


def interleaved(ip, cells: dict[str, str], rounds: int) -> dict[str, list[float]]:
    times = {name: [] for name in cells}
    names = list(cells)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(timed(ip, cells[name]))
    return times


def ratios(times: dict[str, list[float]], base: str = "plain") -> dict[str, float]:
    return {name: statistics.median(a / b for a, b in zip(ts, times[base])) for name, ts in times.items()}


def syncs_per_cell(ip, cell: str) -> int:
    from graphmagic.gradflow import probe

    original, caught_all = probe.GradFlowProbe.collect, []

    def counted(self, *args, **kwargs):
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                return original(self, *args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode(0)
            caught_all.extend(w for w in caught if "synchroniz" in str(w.message))

    probe.GradFlowProbe.collect = counted
    try:
        timed(ip, cell)
    finally:
        probe.GradFlowProbe.collect = original
    return len(caught_all)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ip = start_ipython()
    ip.run_line_magic("load_ext", "graphmagic")
    ip.run_cell(SETUP.format(device=args.device))
    ip.user_ns["STEPS"] = 20
    timed(ip, TRAIN)
    per_step = timed(ip, TRAIN) / 20
    steps = max(20, int(args.seconds / per_step))
    ip.user_ns["STEPS"] = steps
    for cell in (TRAIN, "%%autograd\n" + TRAIN, "%%autograd --anomaly\n" + TRAIN):
        timed(ip, cell.replace("STEPS", "3"))  # warm every path

    print(f"1. Small-MLP training cell on {args.device}, {steps} steps, {args.rounds} interleaved rounds")
    times = interleaved(ip, {"plain": TRAIN, "%%autograd": "%%autograd\n" + TRAIN}, args.rounds)
    r = ratios(times)
    print(f"   plain {statistics.median(times['plain']):.3f} s   %%autograd "
          f"{statistics.median(times['%%autograd']):.3f} s   ratio {r['%%autograd']:.3f}x")
    parts, wall = median_parts(ip, "%%autograd\n" + TRAIN, args.rounds)
    plain = statistics.median(times["plain"])
    print("   this issue's parts on that cell: " + ", ".join(f"{k} {v:.2f} ms" for k, v in parts.items())
          + f"  (= {1 + sum(parts.values()) / 1e3 / plain:.4f}x of the plain cell)")

    print("\n2. End-of-cell work on the FAQ loops (each cell run plain, then under %%autograd)")
    for name, cell in (("FAQ loop, total_loss += loss, 200 steps", FAQ),
                       ("validation loop without no_grad, 50 batches", VAL)):
        ip.run_cell("total_loss = val = None")
        start_rss = rss()
        plain_s = timed(ip, cell)
        grown = rss() - start_rss
        ip.run_cell("total_loss = val = None")
        parts, wall = median_parts(ip, "%%autograd --out r --no-graph\n" + cell, 3)
        report = ip.user_ns["r"]
        held = report.to_json()["memory"]["autograd"]
        kinds = [f.kind for f in report.findings]
        print(f"   {name}: plain {plain_s * 1e3:.0f} ms, %%autograd {wall * 1e3:.0f} ms "
              f"({wall / plain_s:.2f}x); parts " + ", ".join(f"{k} {v:.1f} ms" for k, v in parts.items()))
        print(f"     held: {held['nodes']} nodes, saved {sum(held['total'].values()) / 2**20:.1f} MiB; "
              f"resident memory grew {grown / 2**20:.1f} MiB in the plain run; findings {kinds}")

    print(f"\n3. --anomaly on the training cell ({args.rounds} interleaved rounds)")
    anomaly_plain = "with torch.autograd.set_detect_anomaly(True):\n" + "".join(
        "    " + line + "\n" for line in TRAIN.splitlines())
    times = interleaved(ip, {"plain": TRAIN, "plain under set_detect_anomaly": anomaly_plain,
                             "%%autograd": "%%autograd\n" + TRAIN,
                             "%%autograd --anomaly": "%%autograd --anomaly\n" + TRAIN}, args.rounds)
    for name, ratio in ratios(times).items():
        print(f"   {name:<34}{statistics.median(times[name]):>8.3f} s {ratio:>8.2f}x")

    if args.device.startswith("cuda"):
        n = syncs_per_cell(ip, "%%autograd\n" + TRAIN.replace("STEPS", "3"))
        print(f"\n4. Device synchronisations of the gradient-flow part per cell: {n}")


if __name__ == "__main__":
    main()
