"""The only package that imports IPython: the extension's load/unload, the magics, option
declarations, the input transformer and the glue that runs a cell's code."""
from __future__ import annotations


def load(ipython) -> None:
    from . import transformer
    from .magics import AutogradMagics

    unload(ipython)  # loading twice must not register twice
    magics = AutogradMagics(ipython)
    ipython.register_magics(magics)
    magics.register_events()
    transformer.install(ipython)


def unload(ipython) -> None:
    """Remove the magics, events and transformer; the per-shell state goes with the magics."""
    from . import transformer

    transformer.uninstall(ipython)
    manager = ipython.magics_manager
    magics = manager.registry.pop("AutogradMagics", None)
    if magics is not None:
        magics.close()
        magics.unregister_events()
    for kind, name in (("line", "autograd"), ("cell", "autograd"), ("line", "autograd_config")):
        manager.magics[kind].pop(name, None)
