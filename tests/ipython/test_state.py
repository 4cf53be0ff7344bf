"""Global state after a %%autograd cell: ours restored, the user's own changes kept."""
from __future__ import annotations

import sys
import warnings

import pytest
import torch
from support import run

from graphmagic.findings import FINDING_KINDS

module_hooks = torch.nn.modules.module


def snapshot(ip) -> dict:
    return {
        "default_device": torch.get_default_device(),
        "default_dtype": torch.get_default_dtype(),
        "grad": torch.is_grad_enabled(),
        "inference": torch.is_inference_mode_enabled(),
        "anomaly": (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
        "filters_list": id(warnings.filters),
        "filters": [id(f) for f in warnings.filters],
        "showwarning": warnings.showwarning,
        "custom_exc": (ip.custom_exceptions, ip.CustomTB),
        "function_modes": list(torch.overrides._get_current_function_mode_stack()),
        "dispatch_modes": torch._C._len_torch_dispatch_stack(),
        "saved_hooks": torch._C._autograd._top_saved_tensors_default_hooks(False),
        "module_hooks": [dict(h) for h in (
            module_hooks._global_forward_hooks, module_hooks._global_forward_pre_hooks,
            module_hooks._global_backward_hooks, module_hooks._global_backward_pre_hooks,
            module_hooks._global_module_registration_hooks,
            module_hooks._global_parameter_registration_hooks,
            module_hooks._global_buffer_registration_hooks)],
        "trace": (sys.gettrace(), sys.getprofile()),
        "patched": [{k: id(v) for k, v in vars(owner).items()}
                    for owner in (torch.Tensor, torch._C.TensorBase, torch.autograd, torch.nn.Module)],
        "excepthook": sys.excepthook,
        "events": {k: list(v) for k, v in ip.events.callbacks.items()},
        "transformers": list(ip.input_transformers_cleanup),
    }


def _warm_up(ip, body, meta):
    """Run ``body`` plainly once: torch's first-use imports add warning filters of their own."""
    if meta:
        body = "with torch.device('meta'):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    assert run(ip, body).error_in_exec is None


BODY = ("x = torch.ones(3, requires_grad=True)\n"
        "model = torch.nn.Linear(3, 2)\n"
        "out = model(x * 2).sum()\n"
        "out.backward()\n")

ENDINGS = {
    "ok": ("", None),
    "raise": ("raise ValueError('boom')\n", ValueError),
    "interrupt": ("raise KeyboardInterrupt\n", KeyboardInterrupt),
    "runtime": ("x.add_(1)\n", RuntimeError),  # a leaf that requires grad, in place
}


@pytest.fixture
def unusual_state(ip):
    """Non-default global settings a user might have, to see that they survive."""
    saved = list(warnings.filters)
    warnings.filterwarnings("ignore", message="user filter")
    torch.autograd.set_detect_anomaly(True, check_nan=False)
    torch.set_grad_enabled(True)
    yield
    torch.autograd.set_detect_anomaly(False)
    warnings.filters[:] = saved


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("line", ["", "--device meta", "--device cpu --quiet --trace"])
def test_state_is_back_after_a_cell(ip, unusual_state, ending, line):
    code, error = ENDINGS[ending]
    body = BODY if "meta" not in line else BODY.replace("out.backward()\n", "")
    _warm_up(ip, body, "meta" in line)
    before = snapshot(ip)
    result = run(ip, f"%%autograd {line} --out r\n{body}{code}")
    assert type(result.error_in_exec) is (error or type(None))
    assert snapshot(ip) == before
    report = ip.user_ns["r"]
    assert (report.exception is None) == (error is None)


@pytest.mark.parametrize("ending", ["ok", "raise", "interrupt"])
def test_state_is_back_after_run_cell_magic(ip, unusual_state, ending):
    code, error = ENDINGS[ending]
    _warm_up(ip, BODY.replace("out.backward()\n", ""), meta=True)
    before = snapshot(ip)
    try:
        ip.run_cell_magic("autograd", "--device meta", BODY.replace("out.backward()\n", "") + code)
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt included
        assert type(exc) is error
    else:
        assert error is None
    assert snapshot(ip) == before


def test_state_is_back_after_a_refused_cell(ip):
    before = snapshot(ip)
    run(ip, "%%autograd --device banana\nx = 1")
    run(ip, "%%autograd --max-nodes x\nx = 1")
    run(ip, "%%autograd --out r\nx = (")
    assert snapshot(ip) == before


def test_state_is_back_after_many_cells(ip):
    _warm_up(ip, BODY, meta=True)
    before = snapshot(ip)
    for i in range(5):
        run(ip, f"%%autograd --device meta\nv{i} = torch.zeros(2)\n{BODY}")
    assert snapshot(ip) == before


# ---- the user's own changes stay, as after a plain cell ------------------------------
def test_user_simplefilter_in_the_cell_stays(ip):
    saved = list(warnings.filters)
    try:
        run(ip, "%%autograd\nimport warnings\nwarnings.simplefilter('ignore')\nx = 1")
        assert warnings.filters[0][0] == "ignore" and warnings.filters[0][2] is Warning
        with warnings.catch_warnings(record=True) as caught:
            run(ip, "import warnings\nwarnings.warn('after')")
        assert caught == []
    finally:
        warnings.filters[:] = saved


def test_user_filter_set_by_cell_applies_to_its_later_lines(ip, capsys):
    saved = list(warnings.filters)
    try:
        result = run(ip, "%%autograd\nimport warnings\nwarnings.simplefilter('error')\n"
                         "warnings.warn('later line')")
    finally:
        warnings.filters[:] = saved
    assert type(result.error_in_exec) is UserWarning


def test_user_grad_and_anomaly_changes_stay(ip):
    try:
        run(ip, "%%autograd --device meta\ntorch.set_grad_enabled(False)\n"
                "torch.autograd.set_detect_anomaly(True)")
        assert torch.is_grad_enabled() is False
        assert torch.is_anomaly_enabled() is True
    finally:
        torch.set_grad_enabled(True)
        torch.autograd.set_detect_anomaly(False)


def test_user_custom_exception_handler_still_runs(ip, capsys):
    seen = []

    def handler(shell, etype, value, tb, tb_offset=None):
        seen.append(etype)
        print("custom handler ran")

    ip.set_custom_exc((ZeroDivisionError,), handler)
    try:
        result = run(ip, "%%autograd --out r\n1 / 0")
        other = run(ip, "%%autograd\n[][1]")
        assert (ip.custom_exceptions, ip.CustomTB.__func__.__name__) == ((ZeroDivisionError,), "wrapped")
    finally:
        ip.set_custom_exc((), None)
    assert seen == [ZeroDivisionError]
    assert type(result.error_in_exec) is ZeroDivisionError
    assert type(other.error_in_exec) is IndexError
    out = capsys.readouterr().out
    assert "custom handler ran" in out
    assert "IndexError" in out
    assert ip.user_ns["r"].exception.startswith("ZeroDivisionError")


def test_no_warn_all_does_not_touch_user_filters(ip):
    before = [id(f) for f in warnings.filters]
    run(ip, "%%autograd --no-warn all\nx = 1")
    assert [id(f) for f in warnings.filters] == before
    assert len(FINDING_KINDS) == 14
