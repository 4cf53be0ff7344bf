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
    """Draw the autograd graph of ``tensors`` outside the magic (see graphmagic.graphview)."""
    from .graphview import graph as draw

    return draw(*tensors, **kwargs)


def load_ipython_extension(ipython) -> None:
    from . import transformer
    from .magic import AutogradMagics

    unload_ipython_extension(ipython)  # loading twice must not register twice
    magics = AutogradMagics(ipython)
    ipython.register_magics(magics)
    magics.register_events()
    transformer.install(ipython)


def unload_ipython_extension(ipython) -> None:
    from . import messages, transformer

    transformer.uninstall(ipython)
    manager = ipython.magics_manager
    magics = manager.registry.pop("AutogradMagics", None)
    if magics is not None:
        magics.close()
        magics.unregister_events()
    for kind, name in (("line", "autograd"), ("cell", "autograd"), ("line", "autograd_config")):
        manager.magics[kind].pop(name, None)
    messages.set_language(None)
