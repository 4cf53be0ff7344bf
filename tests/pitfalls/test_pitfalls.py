"""Live pitfall findings (nonleaf-grad, grad-accumulated) and how findings meet the user's
warning filters, --no-warn, the language and earlier cells."""
from __future__ import annotations

import warnings

import pytest
import torch
from support import run
from support import autograd, cell, kinds, only

from graphmagic import AutogradPitfall
from graphmagic.pitfalls.nonleaf import NONLEAF_TEXT

NOTES = """x = torch.tensor([1.0], requires_grad=True)
y = torch.tensor([3.0], requires_grad=True)
ind_a = x * y * 2
ind_b = x + y
ind_a.retain_grad()
z = ind_a * ind_b + ind_b
z.backward()
print(x.grad, y.grad)
print(ind_a.grad, ind_b.grad)"""


def torch_nonleaf(records) -> list:
    return [w for w in records if NONLEAF_TEXT in str(w.message)]


# ---- nonleaf-grad ----------------------------------------------------------------------
def test_nonleaf_grad_names_the_tensor_line_and_cell(ip):
    result, report = cell(ip, NOTES)
    assert result.error_in_exec is None
    f = only(report, "nonleaf-grad")
    assert (f.variable, f.line, f.cell) == ("ind_b", 10, f"In[{result.execution_count}]")
    assert f.code == "print(ind_a.grad, ind_b.grad)"
    assert f.count == 1
    assert "AddBackward0" in f.message and "retain_grad()" in f.message
    assert "ind_b.retain_grad()" in f.fix
    json = report.to_json()["findings"][0]
    assert json["kind"] == "nonleaf-grad" and json["variable"] == "ind_b"


def test_leaf_and_retained_grads_give_no_finding(ip):
    _, report = cell(ip, NOTES.replace("ind_a.retain_grad()", "ind_a.retain_grad(); ind_b.retain_grad()"))
    assert report.findings == []


def test_the_read_that_warned_is_named_among_several(ip):
    _, report = cell(ip, "a = torch.ones(2, requires_grad=True)\nb = a * 2\nc = b.exp()\n"
                         "c.sum().backward()\nxs = [b, c]\nprint(a.grad, xs[1].grad, (b).grad)")
    assert sorted(kinds(report)) == [("nonleaf-grad", "b", 7), ("nonleaf-grad", "xs[1]", 7)]
    by_var = {f.variable: f for f in report.findings}
    assert "ExpBackward0" in by_var["xs[1]"].message and "MulBackward0" in by_var["b"].message


def test_a_loop_of_reads_is_one_finding_with_a_count(ip):
    _, report = cell(ip, "x = torch.ones(1, requires_grad=True)\nh = x * 3\nh.sum().backward()\n"
                         "for _ in range(1000):\n    g = h.grad")
    f = only(report, "nonleaf-grad")
    assert (f.variable, f.line, f.count) == ("h", 6, 1000)
    assert "(1000 times)" in report.to_text()


def test_the_read_inside_a_function_uses_its_local_name(ip):
    _, report = cell(ip, "def peek(t):\n    return t.grad\n"
                         "u = torch.ones(1, requires_grad=True) * 2\npeek(u)")
    f = only(report, "nonleaf-grad")
    assert (f.variable, f.line) == ("u", 3)


def test_repeats_in_later_cells_are_reported(ip, recwarn):
    warnings.simplefilter("default")  # Python's once-per-location registry in effect
    setup = "x = torch.ones(1, requires_grad=True)\nh = x * 2"
    run(ip, setup)
    run(ip, "h.grad\nh.grad")  # a plain cell: torch's warning, registered for lines 1-2
    assert len(torch_nonleaf(recwarn)) == 2
    counts = []
    for _ in range(2):
        _, report = cell(ip, "h.grad")  # line 2, as in the plain cell
        counts.append(kinds(report))
    assert counts == [[("nonleaf-grad", "h", 2)]] * 2


def test_torch_warning_is_replaced_and_ours_not_shown_twice(ip, recwarn, capsys):
    _, report = cell(ip, NOTES + "\nimport warnings\nwarnings.warn('a user warning')")
    assert kinds(report) == [("nonleaf-grad", "ind_b", 10)]
    assert torch_nonleaf(recwarn) == []
    assert [w for w in recwarn if issubclass(w.category, AutogradPitfall)] == []
    assert [str(w.message) for w in recwarn] == ["a user warning"]  # others pass untouched
    captured = capsys.readouterr()
    assert "not a leaf" not in captured.err and "nonleaf-grad" not in captured.err
    assert captured.out.count("[nonleaf-grad]") == 1  # once, in the report


def test_warning_filters_and_showwarning_are_restored(ip):
    before_show = warnings.showwarning
    run(ip, "import warnings")
    _, report = cell(ip, NOTES + "\nwarnings.filterwarnings('ignore', message='zzz-from-the-cell')")
    assert report.findings
    assert warnings.showwarning is before_show
    assert not [f for f in warnings.filters if f[1] is not None and NONLEAF_TEXT in f[1].pattern.replace("\\", "")]
    assert any(f[1] is not None and f[1].pattern == "zzz-from-the-cell" for f in warnings.filters)


# ---- warning filters -------------------------------------------------------------------
def test_an_error_filter_raises_at_the_line_of_the_pitfall(ip):
    run(ip, "import warnings\nfrom graphmagic import AutogradPitfall\n"
            "warnings.simplefilter('error', AutogradPitfall)")
    result, report = cell(ip, NOTES + "\nafter = 'ran'")
    exc = result.error_in_exec
    assert isinstance(exc, AutogradPitfall) and isinstance(exc, UserWarning)
    assert "[nonleaf-grad]" in str(exc) and "ind_b" in str(exc)
    assert exc.__traceback__ is not None
    lines = []
    tb = exc.__traceback__
    while tb is not None:
        lines.append(tb.tb_lineno)
        tb = tb.tb_next
    assert 10 in lines
    assert "after" not in ip.user_ns
    assert kinds(report) == [("nonleaf-grad", "ind_b", 10)]
    assert report.exception.startswith("AutogradPitfall")


def test_an_error_filter_for_one_kind_leaves_the_others(ip):
    run(ip, "import warnings\nwarnings.filterwarnings('error', message=r'\\[grad-accumulated\\]')")
    result, report = cell(ip, NOTES)
    assert result.error_in_exec is None and kinds(report) == [("nonleaf-grad", "ind_b", 10)]
    result, report = cell(ip, "w = torch.ones(1, requires_grad=True)\n(w * 2).sum().backward()\n"
                              "(w * 2).sum().backward()\ndone = True")
    assert isinstance(result.error_in_exec, AutogradPitfall)
    assert "done" not in ip.user_ns
    assert kinds(report) == [("grad-accumulated", "w", 4)]


def test_an_ignore_filter_drops_findings(ip, recwarn):
    run(ip, "import warnings\nfrom graphmagic import AutogradPitfall\n"
            "warnings.filterwarnings('ignore', category=AutogradPitfall)")
    result, report = cell(ip, NOTES)
    assert result.error_in_exec is None
    assert report.findings == []
    assert torch_nonleaf(recwarn) == []


def test_error_filter_on_a_finding_made_after_the_cell_fails_the_cell(ip, capsys):
    run(ip, "import warnings\nfrom graphmagic import AutogradPitfall\n"
            "warnings.simplefilter('error', AutogradPitfall)")
    result, report = cell(ip, "x = torch.ones(2, requires_grad=True)\nx = x.double()\ndone = 1")
    assert ip.user_ns["done"] == 1  # the cell ran to its end
    assert isinstance(result.error_in_exec, AutogradPitfall)
    assert kinds(report) == [("leaf-moved", "x", 3)]
    out = capsys.readouterr()
    assert "Error in callback" not in out.out + out.err
    assert "AutogradPitfall" in out.out + out.err


# ---- --no-warn, defaults, language -----------------------------------------------------
def test_no_warn_silences_a_kind_and_leaves_torch_as_in_a_plain_cell(ip, recwarn):
    _, report = cell(ip, NOTES, "--no-warn nonleaf-grad")
    assert report.findings == []
    assert len(torch_nonleaf(recwarn)) == 1


def test_no_warn_all(ip, recwarn):
    _, report = cell(ip, "w = torch.ones(1, requires_grad=True)\n(w * 2).sum().backward()\n"
                         "(w * 2).sum().backward()\n(w * 2).grad", "--no-warn all")
    assert report.findings == []
    assert len(torch_nonleaf(recwarn)) == 1


def test_autograd_config_no_warn_is_a_default(ip, recwarn):
    run(ip, "%autograd_config --no-warn nonleaf-grad")
    _, report = cell(ip, NOTES)
    assert report.findings == []
    assert len(torch_nonleaf(recwarn)) == 1
    run(ip, "%autograd_config --reset")
    _, report = cell(ip, NOTES)
    assert kinds(report) == [("nonleaf-grad", "ind_b", 10)]


def test_chinese_texts(ip):
    run(ip, "%autograd_config --lang zh")
    try:
        _, report = cell(ip, NOTES)
        f = only(report, "nonleaf-grad")
        assert "不是叶子节点" in f.message and "retain_grad()" in f.fix and "之前" in f.fix
        assert "第 10 行" in report.to_text()
        result, report = cell(ip, "out = torch.ones(2, 2, requires_grad=True) * 2\nout.backward()")
        note = [n for n in result.error_in_exec.__notes__ if "nonscalar-backward" in n][0]
        assert "形状" in note and "out.sum().backward()" in note
    finally:
        run(ip, "%autograd_config --reset")


# ---- grad-accumulated ------------------------------------------------------------------
def test_grad_accumulated_within_a_cell(ip):
    result, report = cell(ip, "w = torch.ones(2, requires_grad=True)\nfor _ in range(3):\n"
                              "    loss = (w * 2).sum()\n    loss.backward()")
    f = only(report, "grad-accumulated")
    assert (f.variable, f.line, f.count, f.cell) == ("w", 5, 2, f"In[{result.execution_count}]")
    assert "3 passes" in f.message and "line 5" in f.message
    assert "w.grad = None" in f.fix and "w.grad.zero_()" in f.fix
    assert "zero_grad" not in f.fix   # no optimizer or model here: no fix names one
    assert ip.user_ns["w"].grad.tolist() == [6.0, 6.0]  # the cell itself unchanged


def test_grad_accumulated_across_cells_names_the_earlier_cell(ip):
    first, _ = cell(ip, "w = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()")
    _, report = cell(ip, "(w * 3).sum().backward()")
    f = only(report, "grad-accumulated")
    assert (f.variable, f.line) == ("w", 2)
    assert f"In[{first.execution_count}] line 3" in f.message and "2 passes" in f.message


@pytest.mark.parametrize("zeroing", ["w.grad.zero_()", "w.grad = None", "w.grad.data.zero_()",
                                     "opt.zero_grad()", "opt.zero_grad(set_to_none=False)"])
def test_zeroing_between_passes_gives_no_finding(ip, zeroing):
    _, report = cell(ip, "w = torch.ones(2, requires_grad=True)\nopt = torch.optim.SGD([w], lr=0.1)\n"
                         f"for _ in range(4):\n    {zeroing}\n    (w * 2).sum().backward()\n"
                         "    opt.step()")
    assert report.findings == []
    _, report = cell(ip, f"{zeroing}\n(w * 2).sum().backward()")  # and across cells
    assert report.findings == []


def test_grad_accumulated_names_module_parameters(ip):
    _, report = cell(ip, "model = torch.nn.Sequential(torch.nn.Linear(3, 1))\nx = torch.ones(4, 3)\n"
                         "model(x).sum().backward()\nmodel(x).sum().backward()")
    f = only(report, "grad-accumulated")   # one finding for the model, naming its parameters
    assert (f.variable, f.line, f.count) == ("model", 5, 1)
    assert "2 parameters of model (model[0].weight, model[0].bias)" in f.message
    assert f.fix == "call model.zero_grad() before each backward()"


def test_hooks_and_wrappers_are_removed_after_the_cell(ip):
    backward, grad = torch.autograd.backward, torch.autograd.grad
    cell(ip, "w = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()\n(w * 2).sum().backward()")
    assert torch.autograd.backward is backward and torch.autograd.grad is grad
    assert not ip.user_ns["w"]._backward_hooks
    result = run(ip, "(w * 2).sum().backward()\nw.grad")  # a plain cell: nothing of ours runs
    assert result.result.tolist() == [6.0, 6.0]


def test_no_tensor_is_kept_alive(ip):
    import weakref
    cell(ip, "w = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()\n(w * 2).sum().backward()\n"
             "h = w * 2\nh.sum().backward()\nh.grad")
    refs = [weakref.ref(ip.user_ns[name]) for name in ("w", "h")]
    run(ip, "del w, h")
    ip.user_ns.pop("r", None)
    assert [r() for r in refs] == [None, None]  # at del, without gc.collect()


# ---- earlier cells, run_cell_magic -----------------------------------------------------
def test_a_read_in_a_function_of_an_earlier_cell_names_that_cell(ip):
    first = run(ip, "def peek(t):\n    return t.grad")
    _, report = cell(ip, "u = torch.ones(1, requires_grad=True) * 2\npeek(u)")
    f = only(report, "nonleaf-grad")
    assert (f.cell, f.line, f.variable, f.code) == (f"In[{first.execution_count}]", 2, "u", "return t.grad")
    assert f"In[{first.execution_count}] line 2" in report.to_text()


def test_run_cell_magic_reports_the_same(ip):
    ip.run_cell_magic("autograd", "--out r --no-graph", NOTES)
    assert kinds(ip.user_ns["r"]) == [("nonleaf-grad", "ind_b", 10)]


def test_an_error_filter_adds_no_second_error_to_a_cell_that_raised(ip, capsys):
    run(ip, "import warnings\nfrom graphmagic import AutogradPitfall\n"
            "warnings.simplefilter('error', AutogradPitfall)")
    result, report = cell(ip, "x = torch.ones(2, requires_grad=True)\nx = x.double()\n1 / 0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    assert kinds(report) == [("leaf-moved", "x", 3)]
    out = capsys.readouterr()
    assert "AutogradPitfall" not in out.out + out.err


def test_reads_in_f_strings_getattr_and_comprehensions(ip):
    _, report = cell(ip, "h = torch.ones(1, requires_grad=True) * 2\nprint(f'grad: {h.grad}')\n"
                         "print(getattr(h, 'grad'))\nvals = [t.grad for t in [h]]")
    assert kinds(report) == [("nonleaf-grad", "h", 3), ("nonleaf-grad", "h", 4), ("nonleaf-grad", "t", 5)]


def test_a_torch_without_the_engine_hook_is_watched_through_trampolines(ip, monkeypatch):
    from graphmagic.pitfalls import backward

    monkeypatch.setattr(backward, "ENGINE_HOOK", False)
    original = torch.autograd.backward, torch.autograd.grad
    result, report = autograd(ip, "w = torch.ones(2, requires_grad=True)\n"
                                  "seen = torch.autograd.backward, torch.autograd.grad\n"
                                  "(w * 3).sum().backward()\n(w * 3).sum().backward()\n"
                                  "g, = torch.autograd.grad((w * w).sum(), [w])")
    assert result.error_in_exec is None
    assert ip.user_ns["seen"] != original and (torch.autograd.backward, torch.autograd.grad) == original
    assert kinds(report) == [("grad-accumulated", "w", 5)]
    assert {"(w * 3).sum()", "(w * w).sum()"} <= set(report.to_json()["graph"]["roots"])
