"""Review fixes: the user's own filters on torch's warning, intended gradient
accumulation, names of reads in functions, warning registries, texts."""
from __future__ import annotations

import warnings

from support import run
from support import cell, kinds, only

from graphmagic.messages import pitfalls as texts
from graphmagic.pitfalls.nonleaf import NONLEAF_TEXT

SETUP = ("x = torch.tensor([1.], requires_grad=True)\nb = x + 1\nimport warnings\n"
         "warnings.filterwarnings('{action}', message='The .grad attribute')")
PROBE = "try:\n    b.grad\n    print('no exception')\nexcept UserWarning:\n    print('raised')"


def test_users_error_filter_on_torchs_warning_raises_as_in_a_plain_cell(ip, capsys):
    run(ip, SETUP.format(action="error"))
    run(ip, PROBE)
    assert capsys.readouterr().out.strip() == "raised"
    result, report = cell(ip, PROBE)
    assert result.error_in_exec is None
    out = capsys.readouterr().out
    assert "raised" in out and "no exception" not in out
    assert kinds(report) == [("nonleaf-grad", "b", 3)]
    result, _ = cell(ip, "b.grad\ndone = True")  # uncaught: the cell fails at that line
    assert isinstance(result.error_in_exec, UserWarning) and NONLEAF_TEXT in str(result.error_in_exec)
    assert "done" not in ip.user_ns


def test_users_ignore_filter_on_torchs_warning_hides_it(ip, capsys):
    run(ip, SETUP.format(action="ignore"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="The .grad attribute")
        _, report = cell(ip, "b.grad")
    assert [w for w in seen if NONLEAF_TEXT in str(w.message)] == []
    assert NONLEAF_TEXT not in capsys.readouterr().err
    assert kinds(report) == [("nonleaf-grad", "b", 2)]


LOOP = ("w = torch.ones(2, requires_grad=True)\nopt = torch.optim.SGD([w], lr=0.1)\n"
        "for i in range(6):\n    (w * 2).sum().backward()\n{tail}")


def test_accumulate_then_step_then_zero_is_not_reported(ip):
    for tail in ("    if i % 2 == 1:\n        opt.step(); opt.zero_grad()",
                 "    if i % 3 == 2:\n        opt.step()\n        opt.zero_grad(set_to_none=False)"):
        _, report = cell(ip, LOOP.format(tail=tail))
        assert report.findings == [], tail
    _, report = cell(ip, "(w * 2).sum().backward()\n(w * 2).sum().backward()")  # later cell: still fine
    assert report.findings == []


def test_never_zeroed_loops_are_still_reported(ip):
    _, report = cell(ip, LOOP.format(tail="    opt.step()"))
    f = only(report, "grad-accumulated")
    assert (f.variable, f.line) == ("w", 5)
    _, report = cell(ip, LOOP.format(tail="    if i % 2 == 1:\n        opt.step()"))
    assert only(report, "grad-accumulated").line == 5


def test_summed_then_never_used_by_a_step_is_reported_after_the_cell(ip):
    _, report = cell(ip, "w = torch.ones(2, requires_grad=True)\nopt = torch.optim.SGD([w], lr=0.1)\n"
                         "(w * 2).sum().backward()\n(w * 2).sum().backward()\nprint(w.grad)")
    f = only(report, "grad-accumulated")
    assert (f.variable, f.line) == ("w", 5) and "2 passes" in f.message


def test_a_read_in_a_function_names_the_callers_argument(ip):
    _, report = cell(ip, "def f(t):\n    return t.grad\nx = torch.ones(1, requires_grad=True)\n"
                         "b = x + 1\nf(b)")
    f = only(report, "nonleaf-grad")
    assert (f.variable, f.line) == ("b", 3)
    assert "b.retain_grad()" in f.fix


def test_a_read_of_a_functions_own_local_says_in_which_function(ip):
    _, report = cell(ip, "x = torch.ones(1, requires_grad=True)\ndef g():\n    h = x * 2\n"
                         "    return h.grad\ng()")
    f = only(report, "nonleaf-grad")
    assert (f.variable, f.line) == ("h (in g)", 5)
    assert "h.retain_grad()" in f.fix


def test_names_come_from_the_cells_code_not_its_text(ip):
    run(ip, "w = torch.ones(2, requires_grad=True)\nweights = w")
    _, report = cell(ip, "# not w\n(weights * 2).sum().backward()\n(weights * 2).sum().backward()")
    assert kinds(report) == [("grad-accumulated", "weights", 4)]


def test_the_users_warning_registry_is_kept(ip):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        run(ip, "x = torch.ones(1, requires_grad=True)\nh = x * 2")
        run(ip, "h.grad")
        registry = dict(ip.user_ns["__warningregistry__"])
        assert len([k for k in registry if NONLEAF_TEXT in str(k)]) == 1
        for _ in range(2):  # magic run straight after it: the registry is not cleared first
            ip.run_cell_magic("autograd", "--out r --no-graph --quiet", "h.grad")
            assert kinds(ip.user_ns["r"]) == [("nonleaf-grad", "h", 2)]
        assert dict(ip.user_ns["__warningregistry__"]) == registry
        assert len([w for w in seen if NONLEAF_TEXT in str(w.message)]) == 1


def test_saved_fix_text():
    assert texts.EN["pitfalls.saved.fix"].endswith("or modify a .clone() instead")
    assert texts.ZH["pitfalls.saved.fix"].endswith("或者改为修改它的 .clone() 副本")
