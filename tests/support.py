"""What the tests share: run a cell as a notebook does, run it under ``%%autograd`` and get
its report, read its findings, and the CUDA skip mark. (Fixtures live in conftest.py; this is a plain module.)"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


def run(ip, cell: str):
    """Run ``cell`` the way a notebook does (through the input transformers, with history)."""
    return ip.run_cell(cell, store_history=True)


def autograd(ip, body: str, opts: str = ""):
    """Run ``body`` under ``%%autograd --out r OPTS``; returns ``(result, report)`` (the report
    is None when the cell was refused before it ran)."""
    ip.user_ns.pop("r", None)
    result = run(ip, f"%%autograd --out r {opts}\n{body}")
    return result, ip.user_ns.get("r")


def report(ip, body: str, opts: str = ""):
    """The report of ``body`` under ``%%autograd OPTS``, which must not raise."""
    result, rep = autograd(ip, body, opts)
    assert result.error_in_exec is None, result.error_in_exec
    return rep


def cell(ip, body: str, options: str = ""):
    """Run ``body`` under ``%%autograd --out r --no-graph OPTIONS``; returns (result, report)."""
    return autograd(ip, body, f"--no-graph {options}")


def kinds(report) -> list[tuple[str, str, int | None]]:
    return [(f.kind, f.variable, f.line) for f in report.findings]


def only(report, kind: str):
    found = [f for f in report.findings if f.kind == kind]
    assert len(found) == 1, [f.to_json() for f in report.findings]
    return found[0]


def our_notes(exc: BaseException) -> list[str]:
    return [n for n in getattr(exc, "__notes__", ()) if n.startswith("graphmagic [")]


MLP = ("torch.manual_seed(0)\n"
       "model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))\n"
       "X = torch.randn(128, 64)\ny = torch.randint(0, 10, (128,))\n"
       "Xs = [torch.randn(128, 64) for _ in range(4)]")


def ground_truth(ip, body: str) -> tuple[dict[str, int], int]:
    """Bytes per device of the distinct storages the ops of ``body`` saved (namespace
    storages left out), and the backward nodes its kept graphs have, from a fresh run of
    ``body`` in a copy of the namespace."""
    import torch.nn.functional as F

    ns = {k: v for k, v in ip.user_ns.items() if not k.startswith("_")}
    ns.update(torch=torch, F=F)
    packed: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t) or t, lambda t: t):
        exec(compile(body, "<ground truth>", "exec"), ns)
    own = set()
    for value in ns.values():
        tensors = [value] if isinstance(value, torch.Tensor) else \
            list(value.parameters()) if isinstance(value, torch.nn.Module) else \
            [v for v in value if isinstance(v, torch.Tensor)] if isinstance(value, list) else []
        own.update(t.untyped_storage().data_ptr() for t in tensors)
    seen, total = set(), {}
    for t in packed:
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen or ptr in own:
            continue
        seen.add(ptr)
        device = str(t.device)
        total[device] = total.get(device, 0) + t.untyped_storage().nbytes()
    roots = [v.grad_fn for v in ns.values() if isinstance(v, torch.Tensor) and v.grad_fn is not None]
    nodes, stack = set(), list(roots)
    while stack:
        node = stack.pop()
        if node is None or id(node) in nodes or type(node).__name__ == "AccumulateGrad":
            continue
        nodes.add(id(node))
        stack += [c for c, _ in node.next_functions]
    return total, len(nodes)


CORPUS = Path(__file__).parent / "ipython" / "corpus" / "differential.ipy"
TAG = "raises-exception"  # a cell meant to raise, as nbclient knows it


def read_corpus(path: Path = CORPUS) -> list[tuple[str, bool]]:
    """(source, must_raise) per cell; ``# %%`` lines separate cells."""
    cells: list[tuple[list[str], bool]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            cells.append(([], TAG in line))
        elif cells:
            cells[-1][0].append(line)
    return [("\n".join(lines).strip("\n"), raises) for lines, raises in cells]


# the study notes' computation-graph cell (In[99]): leaves, retain_grad, detach
NOTES_LEAF_CELL = """x = torch.tensor([1.0], requires_grad=True)
y = torch.tensor([3.0])
y.requires_grad=True
ind_a = x * y*2
ind_b = x + y
ind_a.retain_grad()
det_a=ind_b.detach()
print(det_a.requires_grad)#false
det_a.requires_grad_(True)
z=ind_a*ind_b+ind_b
c=det_a*y
"""


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
