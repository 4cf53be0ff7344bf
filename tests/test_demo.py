"""demo.ipynb runs headless with a report for every %%autograd cell; README and CI agree."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from graphmagic.ipython.magics import AutogradMagics
from graphmagic.report import JSON_MIME

ROOT = Path(__file__).resolve().parents[1]
TAG = "raises-exception"


def _make_demo():
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "scripts" / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, "-m", "graphmagic", "run", str(ROOT / "demo.ipynb"),
         "--output", str(out / "demo.ipynb"), "--html", str(out / "demo.html")],
        capture_output=True, text=True, timeout=600)
    return proc, nbformat.read(out / "demo.ipynb", as_version=4), (out / "demo.html").read_text("utf-8")


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def text_of(cell) -> str:
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream" and o.name == "stdout":
            parts.append(o.text)
        elif o.output_type == "execute_result":
            parts.append(o.data.get("text/plain", ""))
    return "".join(parts)


@pytest.mark.notebook
def test_demo_runs_clean(executed):
    proc, nb, _ = executed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = [line for line in proc.stdout.splitlines() if line.startswith("cell ")]
    assert len(summary) == len(code_cells(nb))
    assert not [line for line in summary if " skipped" in line]
    for cell in code_cells(nb):
        tagged = TAG in cell.metadata.get("tags", [])
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if tagged:
            assert [e.ename for e in errors] == ["RuntimeError"], cell.source
        else:
            assert errors == [], cell.source


@pytest.mark.notebook
def test_every_autograd_cell_has_a_report(executed):
    _, nb, page = executed
    autograd = [c for c in code_cells(nb) if c.source.startswith("%%autograd")]
    assert len(autograd) >= 18
    for cell in autograd:
        reports = [o.data[JSON_MIME] for o in cell.outputs if JSON_MIME in o.get("data", {})]
        assert len(reports) == 1, cell.source
        assert reports[0]["cell"] == f"In[{cell.execution_count}]"
    assert page.count('class="graphmagic-report"') == len(autograd)


@pytest.mark.notebook
def test_demo_shows_the_notes_results(executed):
    _, nb, _ = executed
    by_source = {c.source: c for c in code_cells(nb)}

    def output(fragment: str) -> str:
        matches = [s for s in by_source if fragment in s]
        assert len(matches) == 1, fragment
        return text_of(by_source[matches[0]])

    assert "tensor([[10., 24.],\n        [42., 64.]])" in output("out = (x.pow(2) * y).sum()")
    assert output("out.sum().backward()").rstrip().endswith("True")  # ones_like == sum
    assert "dtype=torch.float64" in output("z.to('cpu', torch.double)")
    cat = output("torch.cat((X, Y), dim=0)")
    assert "[ 2.,  1.,  4.,  3.]" in cat and "[ 8.,  9., 10., 11.,  4.,  3.,  2.,  1.]" in cat
    assert output("Y = Y + X").strip() == "False"
    assert output("Y += X").strip() == "True"
    ids = re.findall(r"id\(Z\): (\d+)", output("Z = torch.zeros_like(Y)") + output("Z[:] = X + Y"))
    assert len(ids) == 2 and ids[0] == ids[1]
    first = output("z.backward()\n\nprint(x.requires_grad")
    assert "True True False False False\ntensor([31.]) tensor([15.])\ntensor([4.]) None" in first
    assert output("# the forward computation again").startswith("tensor([31.]) tensor([15.])")
    assert "tensor([6., 6.])" in output("for step in range(2)")
    assert "tensor([4., 6.])" in output("w.data += 1")


def report_of(nb, fragment: str) -> dict:
    cells = [c for c in code_cells(nb) if fragment in c.source]
    assert len(cells) == 1, fragment
    return next(o.data[JSON_MIME] for o in cells[0].outputs if JSON_MIME in o.get("data", {}))


@pytest.mark.notebook
def test_demo_reports_teach_the_lessons(executed):
    _, nb, _ = executed

    def kinds(fragment):
        return {(f["kind"], f["variable"]) for f in report_of(nb, fragment)["findings"]}

    assert ("nonscalar-backward", "out") in kinds("out = x.pow(2) * y   # a 2x2 matrix")
    assert ("nonleaf-grad", "ind_b") in kinds("z.backward()\n\nprint(x.requires_grad")
    assert ("grad-accumulated", "w") in kinds("for step in range(2)")
    assert ("leaf-inplace", "w") in kinds("w += 1")
    assert ("data-mutation", "w") in kinds("w.data += 1")
    assert ("detach-alias", "b") in kinds("b = a.detach()")
    assert {k for k, _ in kinds("doubled.sum().backward()")} == {"no-grad-path"}
    # the memory lessons: new memory vs in place
    assert report_of(nb, "Y = Y + X")["variables"]["changed"] == {"Y": "rebound"}
    assert report_of(nb, "Z[:] = X + Y")["variables"]["changed"] == {"Z": "in-place"}
    assert report_of(nb, "Y += X")["variables"]["changed"] == {"Y": "in-place"}
    aliases = report_of(nb, "det_a = ind_b.detach()")["variables"]["aliases"]
    assert any({"det_a", "ind_b"} <= set(group["members"]) for group in aliases)
    # the graph the notes drew with make_dot
    graph = report_of(nb, "out = z + w * 2")["graph"]
    assert graph["roots"] == ["out"]
    assert sorted(n["name"] for n in graph["nodes"] if n["kind"] == "op") == \
        ["AddBackward0", "AddBackward0", "MulBackward0", "MulBackward0"]


def test_demo_notebook_matches_its_generator():
    built = _make_demo().build()
    assert built == nbformat.read(ROOT / "demo.ipynb", as_version=4)
    tagged = [c.source for c in built.cells if TAG in c.metadata.get("tags", [])]
    assert any("out.backward()" in s for s in tagged)  # the non-scalar backward of the notes


def test_readme_documents_every_option():
    readme = (ROOT / "README.md").read_text("utf-8")
    magics = [AutogradMagics.autograd, AutogradMagics.autograd_config]
    flags = {flag for magic in magics for action in magic.parser._actions
             for flag in action.option_strings if flag not in ("-h", "--help")}
    assert "--device" in flags
    missing = sorted(f for f in flags if not re.search(rf"`{re.escape(f)}[ `]", readme))
    assert missing == []
    assert JSON_MIME in readme


def test_readme_gives_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text("utf-8")
    blocks = re.findall(r"```(?:bash|sh|console|shell)\n(.*?)```", readme, re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nbash scripts/test.sh\n" in ci and "set -euo pipefail" in ci
    assert "|| true" not in ci


@pytest.mark.notebook
def test_demo_draws_an_unnamed_backward_and_a_custom_function(executed):
    _, nb, _ = executed
    assert report_of(nb, "(x * x).sum().backward()")["graph"]["roots"] == ["(x * x).sum()"]
    graph = report_of(nb, "Sq.apply(z).sum().backward()")["graph"]
    assert graph["roots"] == ["Sq.apply(z).sum()"]
    sq = [n for n in graph["nodes"] if n["kind"] == "op" and n["op"] == "Sq"]
    assert len(sq) == 1 and sq[0]["saved"] == [{"name": "saved_tensors", "text": "", "freed": True}]
