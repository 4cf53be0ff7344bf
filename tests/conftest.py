"""Shared fixtures: a real IPython shell with graphmagic loaded."""
from __future__ import annotations

import gc
import warnings

import pytest
import torch
from IPython.testing.globalipapp import start_ipython


@pytest.fixture(scope="session")
def _shell():
    shell = start_ipython()
    import graphmagic.ipython.magics  # noqa: F401  (import the extension's modules once, up front)

    gc.collect()
    gc.freeze()  # long-lived objects: the gc.collect of every shell.reset skips them (0.2 s)
    return shell


@pytest.fixture
def ip(_shell):
    """A real InteractiveShell with a fresh namespace, ``torch`` imported, graphmagic loaded."""
    _shell.reset(new_session=False)
    _shell.run_line_magic("load_ext", "graphmagic")
    _shell.run_cell("import torch", store_history=True)
    filters = list(warnings.filters)
    yield _shell
    _shell.run_line_magic("unload_ext", "graphmagic")
    warnings.filters[:] = filters
    torch.set_grad_enabled(True)
    torch.autograd.set_detect_anomaly(False)
    torch.set_default_device(None)
