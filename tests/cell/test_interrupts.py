"""Ctrl-C during graphmagic's own work ends the cell with KeyboardInterrupt, as in a plain cell:
never swallowed (also not inside a ``__del__``), global state restored, the next cell normal."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings

import pytest
import torch
from support import run

ORIGINALS = {}


@pytest.fixture(autouse=True)
def _originals():
    # A shell that starts a job in the background starts it with SIGINT ignored, and Python
    # then keeps it so: these tests are about Python's own Ctrl-C, so they put it back.
    inherited = signal.getsignal(signal.SIGINT)
    if inherited is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    ORIGINALS.update(backward=torch.autograd.backward, grad=torch.autograd.grad,
                     showwarning=warnings.showwarning, sigint=signal.getsignal(signal.SIGINT))
    yield
    signal.signal(signal.SIGINT, inherited)


def _magics(ip):
    return ip.magics_manager.registry["AutogradMagics"]


def _assert_back_to_normal(ip):
    assert torch.autograd.backward is ORIGINALS["backward"]
    assert torch.autograd.grad is ORIGINALS["grad"]
    assert warnings.showwarning is ORIGINALS["showwarning"]
    assert signal.getsignal(signal.SIGINT) is ORIGINALS["sigint"]
    assert _magics(ip)._depth == 0 and _magics(ip).active is None
    result = run(ip, "%%autograd --out after\nz = torch.ones(2, requires_grad=True)\n(z * 2).sum()")
    assert result.error_in_exec is None
    assert ip.user_ns["after"].interrupted is False and ip.user_ns["after"].errors == []


pytestmark = pytest.mark.filterwarnings(  # the interrupt Python drops in __del__, on purpose
    "ignore::pytest.PytestUnraisableExceptionWarning")


def _sigint_main_thread() -> None:
    """SIGINT to the main thread itself: a process-wide ``os.kill`` may be taken by another
    thread and reach Python later, after the code under test has moved on."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


class _SignalOnFree:
    """Sends SIGINT from its ``__del__``: Python prints and drops a KeyboardInterrupt there."""

    def __del__(self):
        _sigint_main_thread()


def _interrupt(how: str):
    def interrupted(*args, **kwargs):
        if how == "raise":
            raise KeyboardInterrupt
        _SignalOnFree()  # freed at once: the interrupt lands inside __del__
        return None
    return interrupted


@pytest.mark.parametrize("how", ["raise", "inside __del__"])
def test_ctrl_c_in_the_before_snapshot_ends_the_cell_before_its_code(ip, monkeypatch, capsys, how):
    from graphmagic.tracking.probe import TrackingProbe

    monkeypatch.setattr(TrackingProbe, "__init__", _interrupt(how))
    result = run(ip, "%%autograd\nran = True")
    assert type(result.error_in_exec) is KeyboardInterrupt
    assert "ran" not in ip.user_ns
    monkeypatch.undo()
    _assert_back_to_normal(ip)


@pytest.mark.parametrize("how", ["raise", "inside __del__"])
def test_ctrl_c_in_the_end_of_cell_work_fails_the_cell_with_a_partial_report(
        ip, monkeypatch, capsys, how):
    from graphmagic.graph import probe as graph_probe

    monkeypatch.setattr(graph_probe, "graph_section", _interrupt(how))
    result = run(ip, "%%autograd --out r\nx = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()")
    assert type(result.error_in_exec) is KeyboardInterrupt
    assert "y" in ip.user_ns  # the cell's code ran
    report = ip.user_ns["r"]
    assert report.interrupted and report.to_json()["interrupted"] is True
    assert "partial" in report.to_text()
    out = capsys.readouterr()
    assert "Error in callback" not in out.out + out.err
    assert "KeyboardInterrupt" in out.out + out.err
    monkeypatch.undo()
    _assert_back_to_normal(ip)


def test_ctrl_c_while_the_report_is_drawn(ip, monkeypatch, capsys):
    from graphmagic.report import Report

    monkeypatch.setattr(Report, "_repr_mimebundle_", _interrupt("raise"))
    result = run(ip, "%%autograd --out r\nx = torch.ones(2)")
    assert type(result.error_in_exec) is KeyboardInterrupt
    assert ip.user_ns["r"].interrupted
    monkeypatch.undo()
    _assert_back_to_normal(ip)


def test_ctrl_c_in_run_cell_magic_reaches_the_caller(ip, monkeypatch):
    from graphmagic.graph import probe as graph_probe

    monkeypatch.setattr(graph_probe, "graph_section", _interrupt("inside __del__"))
    with pytest.raises(KeyboardInterrupt):
        ip.run_cell_magic("autograd", "--out r", "x = torch.ones(2, requires_grad=True) * 2")
    assert ip.user_ns["r"].interrupted
    monkeypatch.undo()
    _assert_back_to_normal(ip)


def test_interrupted_run_cell_magic_body_is_the_reports_exception(ip):
    with pytest.raises(KeyboardInterrupt):
        ip.run_cell_magic("autograd", "--out r", "raise KeyboardInterrupt")
    assert ip.user_ns["r"].exception == "KeyboardInterrupt: "
    _assert_back_to_normal(ip)


def _signal_when_in(path_part: str, stop: threading.Event) -> None:
    """Send SIGINT once the main thread runs code from a file whose path has ``path_part``."""
    main = threading.main_thread().ident
    deadline = time.monotonic() + 20
    while not stop.is_set() and time.monotonic() < deadline:
        frame = sys._current_frames().get(main)
        while frame is not None:
            if path_part in frame.f_code.co_filename:
                _sigint_main_thread()
                return
            frame = frame.f_back
        time.sleep(0.0005)


@pytest.mark.parametrize("where", [os.path.join("tensors", "snapshot.py"),
                                   os.path.join("graph", "capture.py")])
def test_a_real_signal_in_our_work_is_not_swallowed(ip, capsys, where):
    run(ip, "many = [[torch.ones(1) for _ in range(10_000)] for _ in range(10)]\n"
            "x = torch.ones(3, requires_grad=True)\nys = [x * i for i in range(3000)]")
    stop = threading.Event()
    watcher = threading.Thread(target=_signal_when_in, args=(where, stop))
    watcher.start()
    try:
        result = run(ip, "%%autograd --max-nodes 0\nz = sum(ys)")
    finally:
        stop.set()
        watcher.join()
    assert type(result.error_in_exec) is KeyboardInterrupt
    out = capsys.readouterr()
    assert "Exception ignored" not in out.err and "Error in callback" not in out.out + out.err
    run(ip, "del many, ys, z")
    _assert_back_to_normal(ip)
