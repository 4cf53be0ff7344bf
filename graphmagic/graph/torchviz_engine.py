"""``--engine torchviz``: the classic ``torchviz.make_dot`` picture, captured as DOT text.

torchviz is imported only here, on first use. torchviz 0.0.3 imports ``distutils`` at
top level, gone from Python 3.12: importing setuptools first provides it. make_dot
raises after ``backward()`` with ``show_saved``/``show_attrs`` (then the plain picture is
drawn), on a custom ``Function`` after ``backward()`` (it always reads ``saved_tensors``),
on nested tensors (``size()``), and recurses on deep graphs: each becomes a note, and
graphmagic's own engine draws what torchviz could not.
"""
from __future__ import annotations

import gc
import importlib
import sys
import warnings
from collections.abc import Callable

import torch

from ..messages import t
from .model import Graph
from .section import GraphView


def load_make_dot():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("torchviz").make_dot
        except ModuleNotFoundError as err:
            if err.name != "distutils":
                raise
        import setuptools  # noqa: F401  (installs the distutils shim)

        sys.modules.pop("torchviz", None)
        sys.modules.pop("torchviz.dot", None)
        return importlib.import_module("torchviz").make_dot


def _make_dot(make_dot, var, params, **kw) -> str:
    try:
        with warnings.catch_warnings():  # torchviz's own LooseVersion deprecation warning
            warnings.simplefilter("ignore", DeprecationWarning)
            return make_dot(var, params=params, **kw).source
    finally:
        # make_dot's recursive inner function is a reference cycle holding its ``seen`` set
        # of tensors and grad_fns: collect it now, or the user's tensors outlive ``del``
        del var, params
        gc.collect()


def torchviz_view(roots: list[tuple[str, torch.Tensor]], named, *, saved: bool = False,
                  attrs: bool = False, notes: list[str] | None = None,
                  fallback: Callable[[], Graph] | None = None) -> GraphView:
    """torchviz's picture of ``roots``; what make_dot cannot draw (a custom Function's freed
    ``saved_tensors`` after backward(), nested tensors' sizes, a deep graph) is drawn by
    ``fallback`` (graphmagic's engine) with a note saying so."""
    notes = list(notes or [])
    names = [n for n, _ in roots]
    roots = [(n, v) for n, v in roots if v.requires_grad]
    if not roots:
        return GraphView(None, engine="torchviz", roots=names, notes=notes)
    try:
        make_dot = load_make_dot()
    except Exception as err:
        notes.append(t("graph.torchviz_import", error=repr(err)))
        return GraphView(None, engine="torchviz", roots=names, notes=notes)
    params = {}
    for name, tensor in named:
        if tensor.requires_grad and tensor.is_leaf:
            params.setdefault(name, tensor)
    var = roots[0][1] if len(roots) == 1 else tuple(v for _, v in roots)
    try:
        source = _make_dot(make_dot, var, params, show_attrs=attrs, show_saved=saved)
        return GraphView(None, source=source, engine="torchviz", roots=names, notes=notes)
    except Exception as err:
        failure: BaseException = err
    if isinstance(failure, RuntimeError) and _freed(failure) and (saved or attrs):
        try:
            source = _make_dot(make_dot, var, params)
            notes.append(t("graph.torchviz_after_backward"))
            return GraphView(None, source=source, engine="torchviz", roots=names, notes=notes)
        except Exception as err:
            failure = err
    notes.append(_why(failure))
    graph = fallback() if fallback is not None else None
    if graph:
        return GraphView(graph, notes=notes + [t("graph.torchviz_fallback")])
    return GraphView(None, engine="torchviz", roots=names, notes=notes)


def _freed(err: BaseException) -> bool:
    return "backward through the graph a second time" in str(err)


def _why(err: BaseException) -> str:
    """What make_dot could not do, said without torch's own text where that misleads (its
    "backward through the graph a second time" reads as if the cell ran backward twice)."""
    if isinstance(err, RecursionError):
        return t("graph.torchviz_recursion")
    if isinstance(err, RuntimeError) and _freed(err):
        return t("graph.torchviz_freed")
    return t("graph.torchviz_failed", error=str(err).split("\n")[0] or repr(err))
