"""--device: resolution, refusal, the fallback variable, the scoped default device, hints."""
from __future__ import annotations

import pytest
import torch
from support import report, run
from IPython.core.error import UsageError

from graphmagic.cell import device as gm_device

MODES = "modes = [type(m).__name__ for m in torch.overrides._get_current_function_mode_stack()]"
no_accelerator = pytest.mark.skipif(gm_device.best_accelerator().type != "cpu",
                                    reason="this machine has an accelerator")


def _report(ip, line, body="x = torch.zeros(2)"):
    return report(ip, body, line)


def test_device_cpu(ip):
    report = _report(ip, "--device cpu", f"x = torch.zeros(2)\n{MODES}")
    assert report.device == torch.device("cpu")
    assert report.requested_device == "cpu"
    assert report.device_note is None
    assert ip.user_ns["x"].device == torch.device("cpu")
    assert ip.user_ns["modes"] == []  # cpu is already the default: no mode, no cost


def test_no_device_runs_as_written(ip):
    report = _report(ip, "", f"x = torch.zeros(2)\n{MODES}")
    assert report.device is None
    assert report.requested_device is None
    assert ip.user_ns["modes"] == []
    assert report.to_json()["device"] is None


def test_device_meta_places_new_tensors_and_modules(ip):
    report = _report(ip, "--device meta", f"x = torch.zeros(2)\nlin = torch.nn.Linear(2, 3)\n"
                                          f"y = torch.ones(2, device='cpu')\n{MODES}")
    assert report.device == torch.device("meta")
    assert ip.user_ns["x"].is_meta
    assert ip.user_ns["lin"].weight.is_meta
    assert ip.user_ns["y"].device == torch.device("cpu")  # an explicit device wins
    assert ip.user_ns["modes"] == ["DeviceContext"]
    assert torch.get_default_device() == torch.device("cpu")
    assert torch.overrides._get_current_function_mode_stack() == []
    assert torch.zeros(1).device == torch.device("cpu")


def test_device_cpu_over_a_global_default(ip):
    torch.set_default_device("meta")
    try:
        report = _report(ip, "--device cpu", f"x = torch.zeros(2)\n{MODES}")
        assert torch.get_default_device() == torch.device("meta")
    finally:
        torch.set_default_device(None)
    assert report.device == torch.device("cpu")
    assert ip.user_ns["x"].device == torch.device("cpu")
    assert ip.user_ns["modes"] == ["DeviceContext"]


@pytest.mark.parametrize("inside,after", [("'cpu'", "cpu"), ("'meta'", "meta"), ("None", "cpu")])
@pytest.mark.parametrize("outside", [None, "meta"])
def test_cell_that_sets_the_default_device_itself(ip, inside, after, outside):
    """torch.set_default_device in a --device cell acts as in a plain cell, and sticks."""
    cell = f"torch.set_default_device({inside})\nx = torch.zeros(1)"
    torch.set_default_device(outside)
    try:
        plain = run(ip, cell)
        plain_state = (torch.get_default_device(), ip.user_ns["x"].device)
        torch.set_default_device(outside)
        result = run(ip, "%%autograd --device " + ("cpu" if outside else "meta") + "\n" + cell)
        state = (torch.get_default_device(), ip.user_ns["x"].device)
        modes = torch.overrides._get_current_function_mode_stack()
    finally:
        torch.set_default_device(None)
    assert plain.error_in_exec is None and result.error_in_exec is None
    assert state == plain_state == (torch.device(after), torch.device(after))
    assert len(modes) == (inside != "None")


def test_device_auto(ip):
    report = _report(ip, "--device auto")
    assert report.device == gm_device.best_accelerator()
    assert report.requested_device == "auto"
    assert report.device_note is None


@no_accelerator
def test_device_auto_is_cpu_without_accelerator(ip):
    assert _report(ip, "--device auto").device == torch.device("cpu")


def test_direct_call_uses_the_device(ip):
    value = ip.run_cell_magic("autograd", "--device meta --out r", "torch.ones(3)")
    assert value.is_meta
    assert ip.user_ns["r"].device == torch.device("meta")
    assert torch.get_default_device() == torch.device("cpu")


REFUSED = [
    ("banana", "'banana' is not a device name"),
    ("cuda:x", "'cuda:x' is not a device name"),
    ("vulkan", "not supported"),
]
UNAVAILABLE = [("cuda", "'cuda' is not available"), ("cuda:7", "'cuda:7'"),
               ("xpu", "'xpu' is not available"), ("mps", "'mps' is not available")]


def _available_now():
    return ", ".join(gm_device.available() + ["auto"])


def _assert_refused(ip, capsys, spec, says):
    result = run(ip, f"%%autograd --device {spec}\nprint('body ran')\nbound = 1")
    err = result.error_in_exec
    assert type(err) is UsageError
    assert says in str(err)
    assert f"Available: {_available_now()}." in str(err)
    captured = capsys.readouterr()
    assert "body ran" not in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    assert "bound" not in ip.user_ns
    assert ip.magics_manager.registry["AutogradMagics"].active is None


@pytest.mark.parametrize("spec,says", REFUSED)
def test_unknown_device_is_refused(ip, capsys, spec, says):
    _assert_refused(ip, capsys, spec, says)


@pytest.mark.parametrize("spec,says", UNAVAILABLE)
def test_unavailable_device_is_refused(ip, capsys, spec, says):
    if gm_device._problem(spec) is None:
        pytest.skip(f"{spec} is available here")
    _assert_refused(ip, capsys, spec, says)


def test_refused_device_via_run_cell_magic(ip):
    with pytest.raises(UsageError, match="banana"):
        ip.run_cell_magic("autograd", "--device banana", "bound = 1")
    assert "bound" not in ip.user_ns


@no_accelerator
def test_fallback_variable_runs_on_cpu_visibly(ip, capsys, monkeypatch):
    monkeypatch.setenv(gm_device.FALLBACK_ENV, "cpu")
    result = run(ip, f"%%autograd --device cuda:1 --out r\nx = torch.zeros(2)\n{MODES}\nx.device")
    assert result.error_in_exec is None
    assert result.result == torch.device("cpu")
    report = ip.user_ns["r"]
    assert report.device == torch.device("cpu")
    assert report.requested_device == "cuda:1"
    assert "cuda:1" in report.device_note and gm_device.FALLBACK_ENV in report.device_note
    assert ip.user_ns["modes"] == []
    captured = capsys.readouterr()
    assert report.device_note in captured.err  # said as the cell starts
    assert report.device_note in captured.out  # and in the report shown after it
    assert report.device_note in report.to_html()
    assert report.to_json()["device_note"] == report.device_note


@no_accelerator
def test_fallback_applies_to_configured_default_and_quiet_reports(ip, capsys, monkeypatch):
    monkeypatch.setenv(gm_device.FALLBACK_ENV, "cpu")
    run(ip, "%autograd_config --device cuda --quiet")
    capsys.readouterr()
    run(ip, "%%autograd --out r\nx = 1")
    report = ip.user_ns["r"]
    assert report.device == torch.device("cpu") and report.requested_device == "cuda"
    assert not report.is_empty()  # a quiet report still shows the fallback
    assert report.device_note in capsys.readouterr().out


@no_accelerator
def test_fallback_needs_the_exact_value(ip, monkeypatch):
    monkeypatch.setenv(gm_device.FALLBACK_ENV, "yes")
    result = run(ip, "%%autograd --device cuda\nx = 1")
    assert type(result.error_in_exec) is UsageError


def test_fallback_does_not_rescue_typos(ip, capsys, monkeypatch):
    # the variable is for GPU notebooks on CPU machines, not for misspelt devices
    monkeypatch.setenv(gm_device.FALLBACK_ENV, "cpu")
    _assert_refused(ip, capsys, "banana", "'banana' is not a device name")


MIXED = "a = torch.ones(2)\nb = torch.ones(2, device='meta')\nc = a + b"


def test_mixed_device_error_keeps_type_and_gets_hint(ip, capsys):
    result = run(ip, "%%autograd --out r\n" + MIXED)
    err = result.error_in_exec
    assert type(err) is RuntimeError
    notes = getattr(err, "__notes__", [])
    assert len(notes) == 1
    hint = notes[0]
    assert "  cpu: a" in hint.splitlines()
    assert "  meta: b" in hint.splitlines()
    assert ".to(device)" in hint
    out = capsys.readouterr().out
    assert out.count("  meta: b") == 1  # shown once, with the traceback
    assert out.index("RuntimeError: ") < out.index("  meta: b")
    assert ip.user_ns["r"].exception.startswith("RuntimeError: ")


def test_mixed_device_hint_via_run_cell_magic(ip):
    with pytest.raises(RuntimeError) as info:
        ip.run_cell_magic("autograd", "", MIXED)
    assert any("  meta: b" in note for note in info.value.__notes__)


def test_other_runtime_errors_get_no_device_hint(ip):
    result = run(ip, "%%autograd\ntorch.ones(2) @ torch.ones(3)")
    assert type(result.error_in_exec) is RuntimeError
    assert not getattr(result.error_in_exec, "__notes__", None)


def test_mixed_device_hint_names_module_parameters():
    ns = {"model": torch.nn.Linear(2, 2).to("meta"), "x": torch.ones(2)}
    err = RuntimeError("Expected all tensors to be on the same device, but found at least two "
                       "devices, cuda:0 and cpu!")
    hint = gm_device.mixed_device_hint(err, ns)
    assert "  cpu: x" in hint.splitlines()
    assert "  meta: model.weight, model.bias" in hint.splitlines()
    assert gm_device.mixed_device_hint(ValueError(str(err)), ns) is None


def test_available_lists_cpu_meta_and_accelerators():
    found = gm_device.available()
    assert found[:2] == ["cpu", "meta"]
    assert all(gm_device._problem(spec) is None for spec in found)
