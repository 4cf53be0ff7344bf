"""The headless runner: ``python -m graphmagic run NOTEBOOK``."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from graphmagic import cli
from graphmagic.report import JSON_MIME

RAISES = {"tags": ["raises-exception"]}


def write(path, *cells):
    nb = new_notebook()
    nb.cells = list(cells)
    nbformat.write(nb, path)
    return path


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "graphmagic", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def cell_lines(stdout: str) -> dict[int, str]:
    return {int(line.split()[1]): line for line in stdout.splitlines() if line.startswith("cell ")}


@pytest.mark.notebook
def test_run_summarises_cells_and_writes_outputs(tmp_path):
    nb_path = write(
        tmp_path / "small.ipynb",
        new_markdown_cell("# small"),
        new_code_cell("%load_ext graphmagic\nimport torch"),
        new_code_cell("%%autograd\nx = torch.ones(2, requires_grad=True)\nprint((x * 2).sum().item())"),
        new_code_cell("%%autograd\nraise ValueError('meant to fail')", metadata=RAISES),
        new_code_cell("print('after')"),
    )
    html = tmp_path / "small.html"
    proc = run_cli("run", nb_path, "--html", html)
    assert proc.returncode == 0, proc.stderr
    lines = cell_lines(proc.stdout)
    assert sorted(lines) == [1, 2, 3, 4]
    assert lines[1].split()[2:] == ["In[1]", "ran"]
    assert lines[2].split()[2:] == ["In[2]", "ran"]
    assert "error (expected: raises-exception)" in lines[3]
    assert "ValueError: meant to fail" in lines[3]
    assert lines[4].split()[2:] == ["In[4]", "ran"]
    assert "Traceback" not in proc.stderr

    executed = nbformat.read(tmp_path / "small.executed.ipynb", as_version=4)
    report_cells = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"
                    and any(JSON_MIME in o.get("data", {}) for o in c.outputs)]
    assert report_cells == [2, 3]
    report = next(o.data[JSON_MIME] for o in executed.cells[2].outputs if JSON_MIME in o.get("data", {}))
    assert report["cell"] == "In[2]"
    assert executed.cells[4].outputs[0].text == "after\n"

    page = html.read_text(encoding="utf-8")
    assert page.count('class="graphmagic-report"') == 2  # the report's own HTML, not its text
    assert "meant to fail" in page


@pytest.mark.notebook
def test_untagged_error_stops_and_exits_1(tmp_path):
    nb_path = write(
        tmp_path / "bad.ipynb",
        new_code_cell("x = 1"),
        new_code_cell("1 / 0"),
        new_code_cell("print('never')"),
        new_code_cell(""),
    )
    out = tmp_path / "out" / "bad-run.ipynb"
    out.parent.mkdir()
    proc = run_cli("run", nb_path, "--output", out)
    assert proc.returncode == 1
    lines = cell_lines(proc.stdout)
    assert lines[0].split()[2:] == ["In[1]", "ran"]
    assert lines[1].split()[2:4] == ["In[2]", "error"]
    assert "ZeroDivisionError: division by zero" in lines[1]
    assert lines[2].split()[2:] == ["skipped"]
    assert lines[3].split()[2:] == ["empty"]
    assert "ZeroDivisionError" in proc.stderr  # the cell's own traceback, for the log
    assert "raises-exception" in proc.stderr
    executed = nbformat.read(out, as_version=4)
    assert executed.cells[1].outputs[0].output_type == "error"
    assert executed.cells[2].outputs == []


@pytest.mark.notebook
def test_a_cell_past_the_timeout_stops_the_run(tmp_path):
    nb_path = write(tmp_path / "slow.ipynb", new_code_cell("import time\ntime.sleep(120)"),
                    new_code_cell("print('never')"))
    proc = run_cli("run", nb_path, "--timeout", "1")
    assert proc.returncode == 1
    lines = cell_lines(proc.stdout)
    assert "error  graphmagic run: timed out after 1 s" in lines[0]
    assert lines[1].split()[2:] == ["skipped"]
    assert "Traceback" not in proc.stderr


@pytest.mark.notebook
def test_a_kernel_that_dies_at_start_is_reported_with_its_log(tmp_path):
    spec = tmp_path / "jupyter" / "kernels" / "dies"
    spec.mkdir(parents=True)
    code = "import sys; sys.stderr.write('kernel boom\\n'); sys.exit(3)"
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": [sys.executable, "-c", code, "{connection_file}"], "display_name": "dies",
         "language": "python"}))
    nb_path = write(tmp_path / "any.ipynb", new_code_cell("1"))
    proc = subprocess.run([sys.executable, "-m", "graphmagic", "run", str(nb_path), "--kernel", "dies"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter")})
    assert proc.returncode == 1
    assert "stopped: the kernel failed" in proc.stderr
    assert "kernel boom" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert cell_lines(proc.stdout)[0].split()[2:] == ["skipped"]


@pytest.mark.notebook
def test_without_a_registered_kernel_a_temporary_one_runs_this_python(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "this_python_kernel", lambda: None)
    before = os.environ.get("JUPYTER_PATH")
    nb_path = write(tmp_path / "which.ipynb", new_code_cell("import sys\nprint(sys.executable)"))
    assert cli.main(["run", str(nb_path)]) == 0
    assert f"kernel {cli.OWN_KERNEL}" in capsys.readouterr().out
    executed = nbformat.read(tmp_path / "which.executed.ipynb", as_version=4)
    assert executed.cells[0].outputs[0].text.strip() == sys.executable
    assert os.environ.get("JUPYTER_PATH") == before


def test_summary_counts_findings_by_kind_from_the_report_json():
    def report(*kinds, errors=()):
        findings = [{"kind": k, "variable": "x", "line": 2} for k in kinds]
        return {"output_type": "display_data", "metadata": {},
                "data": {"text/plain": "r", JSON_MIME: {"cell": "In[1]", "findings": findings,
                                                         "errors": list(errors)}}}

    nb = new_notebook(cells=[
        new_code_cell("%%autograd\n...", execution_count=1,
                      outputs=[nbformat.from_dict(report("nonleaf-grad", "grad-accumulated", "nonleaf-grad"))]),
        new_code_cell("%%autograd\n...", execution_count=2,
                      outputs=[nbformat.from_dict(report(errors=["boom"]))]),
        new_code_cell("%%autograd\n...", metadata=RAISES),
    ])
    replies = {0: {"status": "ok"}, 1: {"status": "error", "ename": "E", "evalue": "v"}}
    lines, unexpected = cli.summarise(nb, replies)
    assert lines[0].endswith("ran  findings: grad-accumulated, nonleaf-grad x2")
    assert "error  E: v" in lines[1] and lines[1].endswith("graphmagic errors: 1")
    assert lines[2].split()[2:] == ["skipped"]
    assert unexpected == 1


@pytest.mark.parametrize("argv, says", [
    ([], "COMMAND"),
    (["run"], "NOTEBOOK"),
    (["run", "missing.ipynb"], "no such notebook"),
    (["run", "{nb}", "--timeout", "-1"], "expected 0 or more seconds"),
    (["run", "{nb}", "--timeout", "soon"], "expected seconds"),
    (["run", "{nb}", "--kernel", "no-such-kernel-xyz"], "no kernel spec named 'no-such-kernel-xyz'"),
    (["run", "{nb}", "--html", "no/such/dir/x.html"], "no such directory"),
    (["run", "{text}"], "cannot read"),
    (["walk", "{nb}"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_a_message(tmp_path, monkeypatch, capsys, argv, says):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "ok.ipynb", new_code_cell("1"))
    (tmp_path / "notes.txt").write_text("not a notebook")
    argv = [a.format(nb="ok.ipynb", text="notes.txt") for a in argv]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert "usage: python -m graphmagic" in err
    assert not (tmp_path / "ok.executed.ipynb").exists()


def test_missing_notebook_from_the_shell_has_no_traceback(tmp_path):
    proc = run_cli("run", tmp_path / "nope.ipynb")
    assert proc.returncode == 2
    assert "no such notebook" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_kernel_spec_matching_finds_this_interpreter_only(tmp_path):
    assert cli._is_this_python(sys.executable)
    assert cli._is_this_python("python3")  # jupyter_client runs it as sys.executable
    assert not cli._is_this_python(str(tmp_path / "python"))
    other = tmp_path / "bin" / os.path.basename(sys.executable)
    other.parent.mkdir()
    other.symlink_to(os.path.realpath(sys.executable))  # same binary, another environment
    assert not cli._is_this_python(str(other))
