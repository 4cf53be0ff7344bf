"""The demo's cells, run in one shell: the four kinds of what autograd keeps and what flowed
back appear exactly in the cells that teach them, nowhere else."""
from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

from support import ground_truth

from support import run

ROOT = Path(__file__).resolve().parents[1]
NEW = {"history-kept", "graph-not-needed", "unused-parameter", "nonfinite-grad"}


def demo_cells():
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "scripts" / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(text, bool(meta)) for kind, text, *meta in module.CELLS if kind == "code"]


def test_the_demo_teaches_each_new_kind_once_and_only_where_meant(ip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found, held = {}, {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Error detected in")   # anomaly detection's own output
        for source, raises in demo_cells():
            marked = re.sub(r"^%%autograd", "%%autograd --out _demo_r", source) \
                if source.startswith("%%autograd") else source
            if "val_loss += F.cross_entropy(model(xb), yb)\n" in source + "\n" and "no_grad" not in source:
                truth, _ = ground_truth(ip, source.split("\n", 1)[1])
            ip.user_ns.pop("_demo_r", None)
            result = run(ip, marked)
            assert (result.error_in_exec is not None) == raises, source
            report = ip.user_ns.get("_demo_r")
            if report is not None:
                found[source] = {(f.kind, f.variable) for f in report.findings if f.kind in NEW}
                held[source] = report.to_json()["memory"]["autograd"]
    taught = {source: kinds for source, kinds in found.items() if kinds}
    expected = {
        "total_loss += loss      # keeps": {("history-kept", "total_loss")},
        "    val_loss += F.cross_entropy(model(xb), yb)": {("graph-not-needed", "val_loss")},
        "loss = F.mse_loss(deep(data), target)": {("unused-parameter", "deep.aux")},
        "r = torch.where(x > 0, x.sqrt(), torch.zeros_like(x))\nr.sum().backward()\nx.grad":
            {("nonfinite-grad", "x")},
        "%%autograd --anomaly": {("nonfinite-grad", "x")},
    }
    assert len(taught) == len(expected)
    for fragment, kinds in expected.items():
        matches = [s for s in taught if fragment in s and (fragment != "    val_loss += F.cross_entropy(model(xb), yb)"
                                                           or "no_grad" not in s)]
        assert len(matches) == 1, fragment
        assert taught[matches[0]] == kinds, fragment
    val = next(s for s in held if s.endswith("val_loss += F.cross_entropy(model(xb), yb)"))
    graph = next(g for g in held[val]["graphs"] if g["roots"] == ["val_loss"])
    assert graph["saved"] == truth and truth["cpu"] >= 10 * 256 * 2048 * 4
    after = next(s for s in held if "with torch.no_grad():" in s and "val_loss" in s)
    assert not any("val_loss" in g["roots"] for g in held[after]["graphs"])
