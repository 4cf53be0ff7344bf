"""--device on a CUDA machine (skipped without one; scripts/gpu_check.sh runs them)."""
from __future__ import annotations

import pytest
import torch
from support import needs_cuda, run
from IPython.core.error import UsageError

from graphmagic.cell import device as gm_device

pytestmark = [needs_cuda, pytest.mark.cuda]

MODES = "modes = [type(m).__name__ for m in torch.overrides._get_current_function_mode_stack()]"


def _cell(ip, line, body):
    result = run(ip, f"%%autograd {line} --out r\n{body}")
    assert result.error_in_exec is None, result.error_in_exec
    return ip.user_ns["r"]


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "auto"])
def test_cuda_device_places_new_tensors_and_modules(ip, spec):
    report = _cell(ip, f"--device {spec}", "x = torch.zeros(2)\nlin = torch.nn.Linear(2, 2)\n"
                                           f"y = lin(x)\ncpu = torch.ones(1, device='cpu')\n{MODES}")
    assert report.device.type == "cuda"
    assert report.requested_device == spec
    assert report.device_note is None
    for name in ("x", "y"):
        assert ip.user_ns[name].device == torch.device("cuda", torch.cuda.current_device())
    assert ip.user_ns["lin"].weight.is_cuda
    assert ip.user_ns["cpu"].device == torch.device("cpu")
    assert ip.user_ns["modes"] == ["DeviceContext"]
    assert torch.get_default_device() == torch.device("cpu")
    assert torch.overrides._get_current_function_mode_stack() == []


def test_cuda_backward_in_the_cell(ip):
    _cell(ip, "--device cuda", "x = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)\n"
                               "y = torch.tensor([[5., 6.], [7., 8.]], requires_grad=True)\n"
                               "out = (x.pow(2) * y).sum()\nout.backward()")
    assert ip.user_ns["x"].grad.is_cuda
    assert ip.user_ns["x"].grad.cpu().tolist() == [[10., 24.], [42., 64.]]


def test_cuda_already_default_pushes_no_mode(ip):
    torch.set_default_device("cuda")
    try:
        for spec in ("cuda", "cuda:0"):
            _cell(ip, f"--device {spec}", MODES)
            assert ip.user_ns["modes"] == ["DeviceContext"]  # the global one only
        assert torch.get_default_device() == torch.device("cuda", 0)
    finally:
        torch.set_default_device(None)


def test_cuda_unavailable_index_is_refused(ip, capsys):
    count = torch.cuda.device_count()
    if count > 7:
        pytest.skip("this machine has a cuda:7")
    result = run(ip, "%%autograd --device cuda:7\nprint('body ran')\nbound = 1")
    err = result.error_in_exec
    assert type(err) is UsageError
    assert "'cuda:7'" in str(err) and f"{count}" in str(err)
    assert "cuda:0" in str(err)  # what is available
    captured = capsys.readouterr()
    assert "body ran" not in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    assert "bound" not in ip.user_ns


def test_cuda_fallback_variable(ip, capsys, monkeypatch):
    monkeypatch.setenv(gm_device.FALLBACK_ENV, "cpu")
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    report = _cell(ip, "--device cuda:7", "x = torch.zeros(2)")
    assert report.device == torch.device("cpu")
    assert report.requested_device == "cuda:7"
    assert "cuda:7" in report.device_note
    assert ip.user_ns["x"].device == torch.device("cpu")
    assert report.device_note in capsys.readouterr().err
    report = _cell(ip, "--device cuda", "x = torch.zeros(2)")  # available: no fallback
    assert report.device == torch.device("cuda") and report.device_note is None
    assert ip.user_ns["x"].is_cuda


def test_cuda_mixed_device_error_gets_hint(ip):
    result = run(ip, "%%autograd\na = torch.ones(2, device='cuda')\nb = torch.ones(2)\n"
                     "lin = torch.nn.Linear(2, 2).cuda()\nlin(b)")
    err = result.error_in_exec
    assert type(err) is RuntimeError
    hint = "\n".join(getattr(err, "__notes__", []))
    assert "  cpu: b" in hint.splitlines()
    assert any(line.startswith("  cuda:0: a") and "lin.weight" in line for line in hint.splitlines())
    assert torch.get_default_device() == torch.device("cpu")


def test_cuda_state_after_a_raising_cell(ip):
    modes = list(torch.overrides._get_current_function_mode_stack())
    result = run(ip, "%%autograd --device cuda\nx = torch.ones(2)\nraise ValueError('x')")
    assert type(result.error_in_exec) is ValueError
    assert torch.get_default_device() == torch.device("cpu")
    assert list(torch.overrides._get_current_function_mode_stack()) == modes
    assert torch.zeros(1).device == torch.device("cpu")


def test_cuda_notes_cell(ip, capsys):
    run(ip, "%%autograd --device auto\nx = torch.tensor([1, 2])\ny = torch.ones_like(x)\n"
            "z = x + y\nprint(z)\nprint(z.to('cpu', torch.double))")
    out = capsys.readouterr().out
    assert "tensor([2, 3], device='cuda:0')" in out
    assert "tensor([2., 3.], dtype=torch.float64)" in out
