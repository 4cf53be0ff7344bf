"""What the tests share: run a cell as a notebook does, run it under ``%%autograd`` and get
its report, and the CUDA skip mark. (Fixtures live in conftest.py; this is a plain module.)"""
from __future__ import annotations

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


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
