"""Findings in headless runs: a real kernel (``python -m graphmagic run``, nbclient)."""
from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from graphmagic.report import JSON_MIME

pytestmark = pytest.mark.notebook
RAISES = {"tags": ["raises-exception"]}
NONLEAF = "%%autograd\nx = torch.ones(1, requires_grad=True)\nh = x * 2\nh.sum().backward()\nprint(h.grad)"
MOVED = "%%autograd\nw = torch.ones(2, requires_grad=True)\nw = w.double()\nprint('moved')"


def reports(cell) -> list[dict]:
    return [o.data[JSON_MIME] for o in cell.outputs if JSON_MIME in o.get("data", {})]


def errors(cell) -> list[str]:
    return [o.ename for o in cell.outputs if o.output_type == "error"]


def stderr(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    path = tmp_path_factory.mktemp("nb") / "pitfalls.ipynb"
    nb = new_notebook(cells=[
        new_code_cell("%load_ext graphmagic\nimport torch"),
        new_code_cell(NONLEAF),
        new_code_cell("%%autograd\nout = torch.ones(2, 2, requires_grad=True) * 2\nout.backward()",
                      metadata=RAISES),
        new_code_cell(MOVED),
        new_code_cell("import warnings\nfrom graphmagic import AutogradPitfall\n"
                      "warnings.simplefilter('error', AutogradPitfall)"),
        new_code_cell(MOVED, metadata=RAISES),
        new_code_cell(NONLEAF, metadata=RAISES),
        new_code_cell("print('end')"),
    ])
    nbformat.write(nb, path)
    proc = subprocess.run([sys.executable, "-m", "graphmagic", "run", str(path)],
                          capture_output=True, text=True, timeout=300)
    return proc, nbformat.read(path.with_suffix(".executed.ipynb"), as_version=4)


def test_the_run_succeeds_and_summarises_findings(executed):
    proc, _ = executed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {int(line.split()[1]): line for line in proc.stdout.splitlines() if line.startswith("cell ")}
    assert "findings: nonleaf-grad" in lines[1]
    assert "nonscalar-backward" in lines[2]
    assert "leaf-moved" in lines[3]
    assert "AutogradPitfall" in lines[5] and "leaf-moved" in lines[5]
    assert "AutogradPitfall" in lines[6]
    assert lines[7].split()[2:] == ["In[8]", "ran"]


def test_findings_are_in_the_report_json_and_shown_once(executed):
    _, nb = executed
    (report,) = reports(nb.cells[1])
    assert [(f["kind"], f["variable"], f["line"]) for f in report["findings"]] == [("nonleaf-grad", "h", 5)]
    assert "not a leaf" not in stderr(nb.cells[1])  # torch's own warning was replaced
    html = next(o.data["text/html"] for o in nb.cells[1].outputs if JSON_MIME in o.get("data", {}))
    assert html.count("[nonleaf-grad]") == 1


def test_exception_hint_in_the_error_output(executed):
    _, nb = executed
    (error,) = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    assert error.ename == "RuntimeError"
    assert any("graphmagic [nonscalar-backward]" in line for line in error.traceback)
    assert [f["kind"] for f in reports(nb.cells[2])[0]["findings"]] == ["nonscalar-backward"]


def test_an_error_filter_fails_the_cells_with_findings(executed):
    _, nb = executed
    moved, nonleaf = nb.cells[5], nb.cells[6]
    assert errors(moved) == ["AutogradPitfall"]
    assert "moved" in "".join(o.get("text", "") for o in moved.outputs)  # the cell ran to its end
    assert [f["kind"] for f in reports(moved)[0]["findings"]] == ["leaf-moved"]
    assert errors(nonleaf) == ["AutogradPitfall"]
    assert reports(nonleaf)[0]["exception"].startswith("AutogradPitfall")
    assert "Error in callback" not in stderr(moved) + stderr(nonleaf)
