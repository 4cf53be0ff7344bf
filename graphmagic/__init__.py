"""graphmagic: an IPython extension that makes PyTorch's autograd visible.

``%load_ext graphmagic`` registers ``%%autograd`` (see ``%%autograd?``) and
``%autograd_config``. Importing the package changes nothing in torch, IPython or builtins.
"""
from __future__ import annotations

from .findings import FINDING_KINDS, AutogradPitfall, Finding
from .report import Report

__version__ = "0.1.0"
__all__ = ["AutogradPitfall", "FINDING_KINDS", "Finding", "Report", "graph",
           "load_ipython_extension", "unload_ipython_extension"]


def graph(*tensors, **kwargs):
    """Draw the autograd graph of ``tensors`` outside the magic (see graphmagic.graph)."""
    from .graph import graph as draw

    return draw(*tensors, **kwargs)


def load_ipython_extension(ipython) -> None:
    from .ipython import load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from .ipython import unload

    unload(ipython)
