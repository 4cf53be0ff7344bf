"""--trace: exact tensor-byte peak, per-line attribution, exact lines, no side effects."""
from __future__ import annotations

import sys

import torch

from support import needs_cuda, report, run

MiB = 2**20


def traced(ip, cell: str, opts: str = ""):
    return report(ip, cell, f"--no-graph --trace {opts}")


def line_rows(rep) -> dict[int, dict]:
    return {r["line"]: r for r in rep.memory.to_json()["trace"]["lines"] if r["cell"] == rep.cell}


def test_exact_peak_of_a_64_mib_temporary(ip):
    rep = traced(ip, "t = torch.empty(16 * 2**20)\nt.fill_(1.0)\ndel t")
    trace = rep.memory.to_json()["trace"]
    assert trace["bytes_unavailable"] is None and trace["lines_unavailable"] is None
    assert trace["peak"]["cpu"] == 64 * MiB
    assert trace["peak_at"]["cpu"] == {"cell": rep.cell, "line": 2}
    assert trace["end"]["cpu"] == 0
    rows = line_rows(rep)
    assert rows[2]["allocated"] == 64 * MiB and rows[4]["freed"] == 64 * MiB


def test_lines_inside_a_loop_are_exact_with_counts(ip):
    run(ip, "acc = torch.zeros(2)")
    rep = traced(ip, "for i in range(3):\n    t = torch.ones(1024)\n    acc += 1")
    rows = line_rows(rep)
    assert rows[3]["count"] == 3 and rows[3]["allocated"] == 3 * 4096
    assert rows[4]["inplace"] == ["acc"]
    var = {r["name"]: r for r in rep.variables.to_json()["rows"]}
    assert var["acc"]["lines"] == [{"cell": rep.cell, "line": 4, "static": False, "count": 3}]
    assert var["t"]["lines"][0]["count"] == 3 and not var["t"]["lines"][0]["static"]
    assert rep.variables.to_json()["exact_lines"] is True


def test_functions_defined_in_the_notebook_are_traced(ip):
    first = run(ip, "def double(x):\n    y = x + x\n    return y")
    rep = traced(ip, "out = double(torch.ones(256))")
    rows = rep.memory.to_json()["trace"]["lines"]
    inner = [r for r in rows if r["cell"] == f"In[{first.execution_count}]" and r["line"] == 2]
    assert inner and inner[0]["allocated"] == 1024 and inner[0]["code"] == "y = x + x"


def test_in_place_inside_a_function_is_attributed_to_its_line(ip):
    first = run(ip, "w = torch.zeros(3)\ndef bump():\n    w.add_(1)")
    rep = traced(ip, "bump()\nbump()")
    var = {r["name"]: r for r in rep.variables.to_json()["rows"]}
    assert var["w"]["status"] == "in-place"
    assert var["w"]["lines"] == [{"cell": f"In[{first.execution_count}]", "line": 3,
                                  "static": False, "count": 2}]


def test_slice_assign_temporary_size_is_exact(ip):
    run(ip, "X = torch.ones(100)\nY = torch.ones(100)\nZ = torch.zeros(100)")
    rep = traced(ip, "Z[:] = X + Y")
    note = rep.memory.to_json()["notes"][0]
    assert note["exact"] and note["bytes"] == 400


def test_freeing_a_big_tensor_from_before_the_cell_lowers_the_curve(ip):
    run(ip, "big = torch.ones(4 * 2**20)")  # 16 MiB, allocated before the cell
    rep = traced(ip, "del big\nnew = torch.ones(4 * 2**20)")
    trace = rep.memory.to_json()["trace"]
    assert trace["peak"]["cpu"] < MiB  # without the free seen, this would read +16 MiB
    assert trace["end"]["cpu"] == 0


def test_trace_leaves_no_tracer_profiler_or_stderr_noise(ip, capfd):
    run(ip, "X = torch.ones(3)\nY = torch.ones(3)")
    result = run(ip, "%%autograd --no-graph --trace\nY = Y + X\nprint('hello')")
    assert result.error_in_exec is None
    out, err = capfd.readouterr()
    assert "hello" in out
    assert "unknown size" not in err and "USDT" not in err and "profiler" not in err
    assert sys.gettrace() is None
    assert not torch._C._autograd._profiler_enabled()


def test_trace_restores_state_when_the_cell_raises(ip):
    result = run(ip, "%%autograd --no-graph --out r --trace\nx = torch.ones(2)\n1 / 0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    assert sys.gettrace() is None
    assert not torch._C._autograd._profiler_enabled()
    assert ip.user_ns["r"].memory.to_json()["trace"]["peak"]["cpu"] == 8


def test_cell_using_the_profiler_still_runs(ip):
    rep = traced(ip, "with torch.profiler.profile() as prof:\n    y = torch.ones(3) * 2\n"
                     "n = len(prof.key_averages())")
    trace = rep.memory.to_json()["trace"]
    assert trace["bytes_unavailable"] == "cell-profiles"
    assert ip.user_ns["n"] > 0
    assert "PyTorch profiler" in rep.memory.to_text()


def test_values_and_output_match_a_plain_cell(ip):
    cell = "torch.manual_seed(0)\nw = torch.randn(3, requires_grad=True)\n" \
           "for _ in range(2):\n    loss = (w * 2).sum()\n    loss.backward()\nprint(w.grad)\nw.grad.sum()"
    plain = run(ip, cell)
    traced_result = run(ip, "%%autograd --no-graph --trace\n" + cell)
    assert float(plain.result) == float(traced_result.result) == 12.0


def test_another_tracer_is_left_alone(ip):
    calls = []

    def other(frame, event, arg):
        calls.append(event)
        return None

    sys.settrace(other)
    try:
        rep = traced(ip, "x = torch.ones(4)")
        assert sys.gettrace() is other
    finally:
        sys.settrace(None)
    trace = rep.memory.to_json()["trace"]
    assert trace["lines_unavailable"] == "tracer-active"
    assert "another tracer" in rep.memory.to_text()


def test_line_magic_mid_cell_traces_from_its_line(ip):
    result = run(ip, "a = torch.ones(8)\n%autograd --trace --no-graph --out r\nb = a * 2\nc = b + a")
    assert result.error_in_exec is None
    rep = ip.user_ns["r"]
    var = {r["name"]: r for r in rep.variables.to_json()["rows"]}
    assert "a" not in var  # created before tracking started
    assert var["b"]["lines"][0]["line"] == 3 and var["c"]["lines"][0]["line"] == 4
    rows = line_rows(rep)
    assert rows[4]["allocated"] == 32 and 1 not in rows


@needs_cuda
def test_exact_peak_of_a_64_mib_temporary_on_cuda(ip):
    rep = traced(ip, "t = torch.empty(16 * 2**20, device='cuda')\nt.fill_(1.0)\ndel t")
    trace = rep.memory.to_json()["trace"]
    dev = f"cuda:{torch.cuda.current_device()}"
    assert trace["peak"][dev] == 64 * MiB and trace["end"][dev] == 0
    assert trace["peak_at"][dev] == {"cell": rep.cell, "line": 2}
