"""Hints on autograd's errors: the exception keeps its type and message, one note names the
variable, the line and the fix, and the report holds the finding."""
from __future__ import annotations

import pytest

from support import run
from support import cell, kinds, only, our_notes


def raised(ip, body: str, options: str = ""):
    result, report = cell(ip, body, options)
    exc = result.error_in_exec
    assert isinstance(exc, RuntimeError), exc
    return exc, report


def test_nonscalar_backward(ip):
    exc, report = raised(ip, "x = torch.ones(2, 3, requires_grad=True)\nout = x * 2\nout.backward()")
    assert str(exc) == "grad can be implicitly created only for scalar outputs"
    f = only(report, "nonscalar-backward")
    assert (f.variable, f.line, f.code) == ("out", 4, "out.backward()")
    assert "(2, 3)" in f.message
    assert "out.sum().backward()" in f.fix and "out.backward(torch.ones_like(out))" in f.fix
    assert our_notes(exc) == [f"graphmagic {f.to_text()}"]


def test_nonscalar_backward_negatives(ip):
    for body in ("x = torch.ones(2, requires_grad=True)\nout = x * 2\nout.backward(torch.ones_like(out))",
                 "x = torch.ones(2, requires_grad=True)\nout = x * 2\nout.sum().backward()"):
        result, report = cell(ip, body)
        assert result.error_in_exec is None and report.findings == []


def test_backward_twice_names_the_first_backward(ip):
    exc, report = raised(ip, "w = torch.tensor([2.0], requires_grad=True)\nloss = (w.exp() * 3).sum()\n"
                             "loss.backward()\nloss.backward()")
    assert str(exc).startswith("Trying to backward through the graph a second time")
    f = only(report, "backward-twice")
    assert (f.variable, f.line) == ("loss", 5)
    assert "line 4" in f.message and "retain_graph=True" in f.fix
    assert len(our_notes(exc)) == 1


def test_backward_twice_across_cells_names_the_earlier_cell(ip):
    first, _ = cell(ip, "w = torch.tensor([2.0], requires_grad=True)\nloss = (w.exp() * 3).sum()\n"
                        "loss.backward()")
    exc, report = raised(ip, "loss.backward()")
    f = only(report, "backward-twice")
    assert (f.variable, f.line) == ("loss", 2)
    assert f"In[{first.execution_count}] line 4" in f.message


@pytest.mark.parametrize("call", ["loss.backward(retain_graph=keep)", "loss.backward(None, True)",
                                  "loss.backward(create_graph=True)", "loss.backward(**{'retain_graph': keep})",
                                  "torch.autograd.backward(loss, retain_graph=True)"])
def test_backward_twice_names_the_pass_that_freed_however_retain_graph_is_given(ip, call):
    # a loop: the site is seen again, and its retain_graph is read as written or from the run
    exc, report = raised(ip, "w = torch.tensor([2.0], requires_grad=True)\nloss = (w.exp() * 3).sum()\n"
                             f"keep = True\nfor _ in range(3):\n    {call}\nloss.backward()\nloss.backward()")
    f = only(report, "backward-twice")
    assert (f.variable, f.line) == ("loss", 8)
    assert "line 7" in f.message


def test_backward_twice_negative_with_retain_graph(ip):
    result, report = cell(ip, "w = torch.tensor([2.0], requires_grad=True)\nloss = (w.exp() * 3).sum()\n"
                              "loss.backward(retain_graph=True)\nw.grad = None\nloss.backward()")
    assert result.error_in_exec is None and report.findings == []


def test_leaf_inplace(ip):
    exc, report = raised(ip, "leaf = torch.tensor([1.0, 2.0], requires_grad=True)\nleaf += 1")
    assert str(exc) == "a leaf Variable that requires grad is being used in an in-place operation."
    f = only(report, "leaf-inplace")
    assert (f.variable, f.line) == ("leaf", 3)
    assert "torch.no_grad()" in f.fix


def test_leaf_inplace_through_a_view_and_a_method(ip):
    _, report = raised(ip, "w = torch.zeros(3, requires_grad=True)\nw[0] = 1.0")
    assert kinds(report) == [("leaf-inplace", "w", 3)]
    _, report = raised(ip, "b = torch.zeros(3)\nw = torch.zeros(3, requires_grad=True)\nb.add_(1); w.mul_(2)")
    assert kinds(report) == [("leaf-inplace", "w", 4)]


def test_leaf_inplace_negative_under_no_grad(ip):
    result, report = cell(ip, "w = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()\n"
                              "with torch.no_grad():\n    w -= 0.1 * w.grad\nw.grad.zero_()")
    assert result.error_in_exec is None and report.findings == []


def test_saved_modified_names_the_variable_and_the_line_that_changed_it(ip):
    exc, report = raised(ip, "x = torch.ones(2, requires_grad=True)\ny = x.exp()\nz = y * 2\n"
                             "y.add_(1)\nz.sum().backward()")
    assert "modified by an inplace operation" in str(exc)
    f = only(report, "saved-modified")
    assert (f.variable, f.line, f.code) == ("y", 5, "y.add_(1)")
    assert "this line changed it in place" in f.message and "version 1" in f.message
    assert "y.add_(1)" in our_notes(exc)[0]


def test_saved_modified_input_tensor(ip):
    _, report = raised(ip, "x = torch.ones(2, requires_grad=True)\na = x * 1\nd = a * a\na += 1\n"
                           "d.sum().backward()")
    assert kinds(report) == [("saved-modified", "a", 5)]


def test_saved_modified_through_a_detached_alias(ip):
    _, report = raised(ip, "x = torch.ones(2, requires_grad=True)\ns = x.sigmoid()\nc = s.detach()\n"
                           "c.zero_()\ns.sum().backward()")
    f = only(report, "saved-modified")
    assert (f.variable, f.line) == ("s", 5)
    assert "c shares memory with s" in f.message
    assert [k for k, _, _ in kinds(report)].count("detach-alias") == 1


def test_saved_modified_negative_out_of_place(ip):
    result, report = cell(ip, "x = torch.ones(2, requires_grad=True)\ny = x.exp()\nz = y * 2\n"
                              "y = y + 1\nz.sum().backward()")
    assert result.error_in_exec is None and report.findings == []


def test_no_grad_path_under_no_grad(ip):
    exc, report = raised(ip, "x = torch.ones(2, requires_grad=True)\nwith torch.no_grad():\n"
                             "    h = x * 2\nloss = h.sum()\nloss.backward()")
    assert str(exc) == "element 0 of tensors does not require grad and does not have a grad_fn"
    f = only(report, "no-grad-path")
    assert (f.variable, f.line) == ("loss", 6)
    assert "h" in f.message and "no_grad" in f.message and "line 4" in f.message


def test_no_grad_path_missing_requires_grad(ip):
    _, report = raised(ip, "w = torch.ones(3)\nx = torch.ones(3)\nloss = (w * x).sum()\nloss.backward()")
    f = only(report, "no-grad-path")
    assert (f.variable, f.line) == ("loss", 5)
    assert "w, x" in f.message and "w.requires_grad_()" in f.fix


def test_no_grad_path_detach(ip):
    _, report = raised(ip, "x = torch.ones(2, requires_grad=True)\nh = (x * 2).detach()\n"
                           "(h * 3).sum().backward()")
    f = only(report, "no-grad-path")
    assert f.line == 4 and "detach()" in f.message and "line 3" in f.message


def test_no_grad_path_negative(ip):
    result, report = cell(ip, "w = torch.ones(3, requires_grad=True)\nx = torch.ones(3)\n"
                              "loss = (w * x).sum()\nloss.backward()")
    assert result.error_in_exec is None and report.findings == []


def test_other_errors_get_no_hint(ip):
    for body in ("1 / 0", "torch.ones(2, 3) @ torch.ones(2, 3)", "raise RuntimeError('mine')"):
        result, report = cell(ip, body)
        assert our_notes(result.error_in_exec) == [] and report.findings == []


def test_hint_follows_ignore_filter_and_no_warn(ip):
    body = "out = torch.ones(2, 2, requires_grad=True) * 2\nout.backward()"
    exc, report = raised(ip, body, "--no-warn nonscalar-backward")
    assert our_notes(exc) == [] and report.findings == []
    run(ip, "import warnings\nwarnings.filterwarnings('ignore', message=r'\\[nonscalar-backward\\]')")
    exc, report = raised(ip, body)
    assert our_notes(exc) == [] and report.findings == []


def test_an_error_filter_keeps_the_users_exception(ip):
    run(ip, "import warnings\nfrom graphmagic import AutogradPitfall\n"
            "warnings.simplefilter('error', AutogradPitfall)")
    exc, report = raised(ip, "out = torch.ones(2, 2, requires_grad=True) * 2\nout.backward()")
    assert type(exc) is RuntimeError and len(our_notes(exc)) == 1
    assert kinds(report) == [("nonscalar-backward", "out", 3)]


def test_code_catching_the_error_still_works(ip):
    result, report = cell(ip, "out = torch.ones(2, requires_grad=True) * 2\ntry:\n    out.backward()\n"
                              "except RuntimeError as e:\n    caught = str(e)")
    assert result.error_in_exec is None
    assert ip.user_ns["caught"] == "grad can be implicitly created only for scalar outputs"
    assert report.findings == []  # handled by the cell: nothing to report


def test_the_note_shows_once_with_the_traceback(ip, capsys):
    cell(ip, "out = torch.ones(2, 2, requires_grad=True) * 2\nout.backward()")
    text = capsys.readouterr()
    shown = text.out + text.err
    assert shown.count("graphmagic [nonscalar-backward]") == 1
    assert shown.index("RuntimeError: grad can be implicitly") < shown.index("graphmagic [nonscalar")
