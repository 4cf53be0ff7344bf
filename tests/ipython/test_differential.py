"""Plain cells vs the same cells under %%autograd --device cpu, in fresh kernels (nbclient).

The corpus (tests/corpus/differential.ipy) runs once as plain cells and once with each cell
under ``%%autograd --device cpu``, each in one notebook and one fresh kernel. Printed output,
results and error types must be identical; under the magic every cell shows one report.
"""
from __future__ import annotations

import asyncio
import sys
from support import TAG, read_corpus

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from graphmagic.report import JSON_MIME

pytestmark = pytest.mark.notebook

SETUP = "import sys\nimport torch\nfrom torch import nn\nprint(sys.prefix)"
MAGIC = "%%autograd --device cpu\n"


def notebook(cells: list[tuple[str, bool]], setup: str, prefix: str):
    nb = new_notebook(cells=[new_code_cell(setup)])
    for source, raises in cells:
        cell = new_code_cell(prefix + source)
        if raises:
            cell.metadata["tags"] = [TAG]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def execute(*notebooks) -> list[list[dict]]:
    """Run the notebooks at the same time, each in its own fresh kernel."""
    async def run_all():
        await asyncio.gather(*(NotebookClient(nb, kernel_name="python3", timeout=120)
                               .async_execute() for nb in notebooks))

    asyncio.run(run_all())
    return [[outputs(cell) for cell in nb.cells] for nb in notebooks]


def outputs(cell) -> dict:
    seen = {"stdout": "", "result": None, "error": None, "reports": 0}
    for out in cell.outputs:
        if out.output_type == "stream" and out.name == "stdout":
            seen["stdout"] += out.text
        elif out.output_type == "execute_result":
            seen["result"] = out.data.get("text/plain")
        elif out.output_type == "error":
            seen["error"] = out.ename
        elif out.output_type == "display_data" and JSON_MIME in out.data:
            seen["reports"] += 1
            seen["report_errors"] = out.data[JSON_MIME]["errors"]
    return seen


@pytest.fixture(scope="module")
def runs():
    cells = read_corpus()
    plain, magic = execute(notebook(cells, SETUP, ""),
                           notebook(cells, SETUP + "\n%load_ext graphmagic", MAGIC))
    return cells, plain, magic


def test_corpus_is_large_and_varied():
    cells = read_corpus()
    assert len(cells) >= 30
    assert sum(raises for _, raises in cells) >= 5
    text = "\n".join(source for source, _ in cells)
    for needle in ("backward(", "no_grad", "detach()", "nn.Linear", "opt.step()", "print(",
                   "+= ", "await ", "!echo", "retain_grad", "torch.cat"):
        assert needle in text


def test_kernels_run_this_python(runs):
    _, plain, magic = runs
    assert plain[0]["stdout"].strip() == magic[0]["stdout"].strip() == sys.prefix


def test_same_output_results_and_errors(runs):
    cells, plain, magic = runs
    for i, (source, raises) in enumerate(cells, start=1):
        p, m = plain[i], magic[i]
        where = f"corpus cell {i}:\n{source}"
        assert (p["error"] is not None) == raises, where
        assert m["stdout"] == p["stdout"], where
        assert m["result"] == p["result"], where
        assert m["error"] == p["error"], where


def test_every_magic_cell_shows_one_report(runs):
    cells, plain, magic = runs
    assert all(out["reports"] == 0 for out in plain)
    assert [out["reports"] for out in magic[1:]] == [1] * len(cells)


def test_reports_have_no_internal_errors(runs):
    _, _, magic = runs
    problems = {i: out["report_errors"] for i, out in enumerate(magic) if out.get("report_errors")}
    assert problems == {}  # graphmagic's own errors while reporting


def test_read_corpus_splits_cells(tmp_path):
    path = tmp_path / "c.ipy"
    path.write_text("# header\n# %%\na = 1\n\n# %% raises-exception\n1 / 0\n")
    assert read_corpus(path) == [("a = 1", False), ("1 / 0", True)]
