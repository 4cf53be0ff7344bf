"""Pitfall findings with CUDA tensors (skipped without CUDA), and the checks' device syncs."""
from __future__ import annotations

import pytest
from support import cell, kinds, only

from support import needs_cuda
from graphmagic.pitfalls import backward as pitfall_hooks

SETUP = ("from torch import nn\ntorch.manual_seed(0)\n"
         "model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1)).to('{device}')\n"
         "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
         "data, target = torch.randn(32, 8, device='{device}'), torch.randn(32, 1, device='{device}')\n")
LOOP = ("{sync_on}\n"
        "try:\n"
        "    for step in range(5):\n"
        "        opt.zero_grad({zero})\n"
        "        loss = ((model(data) - target) ** 2).mean()\n"
        "        loss.backward()\n"
        "        opt.step()\n"
        "finally:\n"
        "    {sync_off}")


@pytest.mark.parametrize("zero", ["", "set_to_none=False"])
def test_clean_loops_never_test_gradient_values(ip, monkeypatch, zero):
    """The value test (a device sync on CUDA) runs only when a sum is suspected."""
    calls = []
    original = pitfall_hooks._is_nonzero
    monkeypatch.setattr(pitfall_hooks, "_is_nonzero", lambda g: calls.append(1) or original(g))
    loop = LOOP.format(zero=zero, sync_on="", sync_off="pass")
    for body in (SETUP.format(device="cpu") + loop, loop):  # and the next cell
        result, report = cell(ip, body)
        assert result.error_in_exec is None and report.findings == []
    assert calls == []
    cell(ip, "loss = ((model(data) - target) ** 2).mean()\nloss.backward()")  # forgot zero_grad
    assert calls  # the suspected sum is checked by value


@needs_cuda
@pytest.mark.parametrize("zero", ["", "set_to_none=False"])
def test_cuda_clean_loop_does_not_synchronize(ip, zero):
    body = SETUP.format(device="cuda") + LOOP.format(
        zero=zero, sync_on="torch.cuda.set_sync_debug_mode('error')",
        sync_off="torch.cuda.set_sync_debug_mode('default')")
    result, report = cell(ip, body)
    assert result.error_in_exec is None, result.error_in_exec
    assert report.findings == []


@needs_cuda
def test_cuda_findings(ip):
    result, report = cell(ip, "w = torch.ones(3, device='cuda', requires_grad=True)\nfor _ in range(2):\n"
                              "    (w * 2).sum().backward()\nh = w * 3\nh.sum().backward()\nh.grad\n"
                              "v = torch.ones(2, requires_grad=True)\nv = v.cuda()")
    assert result.error_in_exec is None
    assert sorted(kinds(report)) == [("grad-accumulated", "w", 4), ("grad-accumulated", "w", 6),
                                     ("leaf-moved", "v", 9), ("nonleaf-grad", "h", 7)]


@needs_cuda
def test_cuda_exception_hint(ip):
    result, report = cell(ip, "out = torch.ones(2, 2, device='cuda', requires_grad=True) * 2\nout.backward()")
    assert isinstance(result.error_in_exec, RuntimeError)
    f = only(report, "nonscalar-backward")
    assert (f.variable, f.line) == ("out", 3) and "(2, 2)" in f.message
