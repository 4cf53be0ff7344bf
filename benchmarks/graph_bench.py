"""Autograd-graph pictures: graphmagic vs torchviz + dot, side by side in one run.

For each case a fresh child process builds the model's graph and times, for graphmagic,
``graphmagic.graph(root)`` (walk, collapse, plain data) plus ``to_html()`` (DOT -> SVG with
dot, the default inline render), and for torchviz ``make_dot(root, params=...)`` plus
``dot -Tsvg`` on its source. Each child runs under a timeout (reported as "> T s").

    python benchmarks/graph_bench.py [--timeout 60] [--cases gru10,chain100k]

The issue's goal: every "goal" case renders inline in at most 2 s with the defaults.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASES = {  # name: (description, goal case of the issue)
    "gru10": ("GRUCell unrolled 10 steps", False),
    "gru25": ("GRUCell unrolled 25 steps", False),
    "gru50": ("GRUCell unrolled 50 steps", False),
    "gru1000": ("GRUCell unrolled 1,000 steps", True),
    "transformer48": ("48-layer TransformerEncoder forward + loss", True),
    "sum10k": ("sum of 10,000 tanh terms", True),
    "chain100k": ("100,000-node chain", True),
}
GOAL_S = 2.0


def build(case: str):
    """The case's root tensor and the names a user would have."""
    import torch

    torch.manual_seed(0)
    if case.startswith("gru"):
        steps = int(case[3:])
        cell = torch.nn.GRUCell(8, 16)
        h = torch.zeros(1, 16)
        for _ in range(steps):
            h = cell(torch.randn(1, 8), h)
        loss = h.sum()
        return loss, {"cell": cell, "h": h, "loss": loss}
    if case == "transformer48":
        layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, 48, enable_nested_tensor=False)
        loss = model(torch.randn(2, 5, 16)).pow(2).mean()
        return loss, {"model": model, "loss": loss}
    if case == "sum10k":
        x = torch.randn(4, requires_grad=True)
        total = sum(torch.tanh(x * i) for i in range(10_000)).sum()
        return total, {"x": x, "total": total}
    if case == "chain100k":
        a = torch.ones(1, requires_grad=True)
        b = a
        for _ in range(100_000):
            b = b + 1
        return b, {"a": a, "b": b}
    raise SystemExit(f"unknown case {case!r}; choose from {', '.join(CASES)}")


def child(case: str, engine: str) -> dict:
    root, names = build(case)
    if engine == "graphmagic":
        import graphmagic
        import torch

        tiny = torch.ones(1, requires_grad=True)
        graphmagic.graph(tiny * 2).to_html()   # warm-up: imports, as in a running notebook
        t0 = time.perf_counter()
        view = graphmagic.graph(root, names=names)
        t1 = time.perf_counter()
        html = view.to_html()
        t2 = time.perf_counter()
        assert "<svg" in html, html[:500]
        return {"build": t1 - t0, "render": t2 - t1, "drawn": len(view.graph.nodes),
                "nodes": view.graph.collapsed.total_nodes if view.graph.collapsed else
                len(view.graph.nodes)}
    from graphmagic.graph.render import render
    from graphmagic.graph.torchviz_engine import load_make_dot

    from graphmagic.tensors.names import named_tensors

    make_dot = load_make_dot()
    params = {n: t for n, t in named_tensors(names) if t.is_leaf and t.requires_grad}
    t0 = time.perf_counter()
    try:
        source = make_dot(root, params=params).source
    except RecursionError:
        return {"error": "RecursionError", "build": time.perf_counter() - t0}
    t1 = time.perf_counter()
    render(source, "svg", timeout=3600)
    t2 = time.perf_counter()
    return {"build": t1 - t0, "render": t2 - t1, "drawn": source.count(" [label="),
            "nodes": source.count(" [label=")}


def run_child(case: str, engine: str, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", case, engine]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def total(result: dict) -> float | None:
    if "build" in result and "render" in result:
        return result["build"] + result["render"]
    return None


def cell(result: dict) -> str:
    if "timeout" in result:
        return f"> {result['timeout']:g} s"
    if "error" in result:
        return result["error"][:22]
    return f"{total(result):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per case and engine (default 60)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    head = (f"{'case':<44} {'nodes':>7} {'drawn':>6} {'gm build':>9} {'gm render':>10} "
            f"{'graphmagic':>11} {'torchviz+dot':>13} {'ratio':>7}  goal<=2s")
    print(head)
    print("-" * len(head))
    for case in args.cases.split(","):
        desc, goal = CASES[case]
        gm = run_child(case, "graphmagic", args.timeout)
        tv = run_child(case, "torchviz", args.timeout)
        gm_total, tv_total = total(gm), total(tv)
        if gm_total and tv_total:
            ratio = f"{tv_total / gm_total:.1f}x"
        elif gm_total and "timeout" in tv:
            ratio = f">{tv['timeout'] / gm_total:.0f}x"
        else:
            ratio = "-"
        verdict = ("ok" if gm_total is not None and gm_total <= GOAL_S else "MISSED") if goal else ""
        build_s = f"{gm['build']:.2f} s" if "build" in gm else "-"
        render_s = f"{gm['render']:.2f} s" if "render" in gm else "-"
        print(f"{desc:<44} {gm.get('nodes', '-'):>7} {gm.get('drawn', '-'):>6} {build_s:>9} "
              f"{render_s:>10} {cell(gm):>11} {cell(tv):>13} {ratio:>7}  {verdict}", flush=True)
    print("\nnodes: nodes before collapsing (graphmagic walks at most 20,000 backward nodes); "
          "drawn: nodes in the picture. ratio: torchviz+dot time / graphmagic time.")


if __name__ == "__main__":
    main()
