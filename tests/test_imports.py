"""What importing graphmagic's parts pulls in: the library never needs IPython, the command
line never needs torch, and the layout has no import cycles."""
from __future__ import annotations

import json
import pkgutil
import re
import subprocess
import sys

import graphmagic

LIBRARY_ONLY = """
import sys, json, torch
import graphmagic.graph, graphmagic.tracking.probe, graphmagic.memory.probe
import graphmagic.pitfalls.probe, graphmagic.cell.run
x = torch.ones(2, requires_grad=True)
view = graphmagic.graph((x * 2).sum())
print(json.dumps({"ipython": "IPython" in sys.modules, "nodes": len(view.to_json()["nodes"])}))
"""


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_library_does_not_import_ipython():
    out = json.loads(_python(LIBRARY_ONLY).splitlines()[-1])
    assert out == {"ipython": False, "nodes": out["nodes"]} and out["nodes"] > 0


def test_the_command_line_does_not_import_torch():
    out = _python("import sys, graphmagic.cli; print('torch' in sys.modules, 'IPython' in sys.modules)")
    assert out.split() == ["False", "False"]
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "graphmagic", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "IPython" not in imported


def test_only_the_ipython_package_imports_ipython():
    root = graphmagic.__path__[0]
    offenders = []
    for info in pkgutil.walk_packages([root], prefix="graphmagic."):
        if info.name.startswith("graphmagic.ipython"):
            continue
        path = info.module_finder.find_spec(info.name.rsplit(".", 1)[-1]).origin
        text = open(path, encoding="utf-8").read()
        if re.search(r"^\s*(import IPython|from IPython[ .])", text, re.M):
            offenders.append(info.name)
    assert offenders == []


def test_every_module_imports_alone():
    """A module that only imports after another one has a cycle or a hidden order."""
    names = [info.name for info in pkgutil.walk_packages(graphmagic.__path__, prefix="graphmagic.")
             if not info.name.endswith("__main__")]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    for m in [m for m in sys.modules if m.startswith('graphmagic')]:\n"
            "        del sys.modules[m]\n"
            "    importlib.import_module(name)\n"
            "print('ok')")
    assert _python(code).strip() == "ok"
