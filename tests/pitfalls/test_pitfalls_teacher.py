"""Findings that read like a teacher wrote them: one grad-accumulated finding per model or
optimizer naming its tensors, fixes that name what the cell has, unnamed leaves named by
where they were made, distinct leaves kept apart, no placeholder variable in a fix."""
from __future__ import annotations

import pytest
from support import run
from support import cell, kinds, only

NET = ("from torch import nn\ntorch.manual_seed(0)\n"
       "net = nn.Sequential(*[nn.Linear(4, 4) for _ in range(5)])\nX = torch.randn(8, 4)")


def test_a_forgotten_zero_grad_on_a_net_is_one_finding_naming_its_parameters(ip):
    run(ip, NET)
    _, report = cell(ip, "for _ in range(3):\n    net(X).sum().backward()")
    f = only(report, "grad-accumulated")
    assert (f.variable, f.line, f.count) == ("net", 3, 2)
    assert "10 parameters of net (net[0].weight, net[0].bias, net[1].weight, net[1].bias, …)" in f.message
    assert "3 passes" in f.message
    assert f.fix == "call net.zero_grad() before each backward()"


def test_the_fix_names_the_optimizer_that_updates_the_parameters(ip):
    run(ip, NET + "\nopt = torch.optim.SGD(net.parameters(), lr=0.01)")
    _, report = cell(ip, "for _ in range(3):\n    loss = net(X).pow(2).mean()\n    loss.backward()\n"
                         "    opt.step()")
    f = only(report, "grad-accumulated")
    assert f.variable == "net" and f.fix == "call opt.zero_grad() before each backward()"


def test_an_optimizer_that_updates_no_involved_tensor_is_not_named(ip):
    run(ip, NET + "\nother = torch.nn.Linear(2, 2)\nopt = torch.optim.SGD(other.parameters(), lr=0.1)")
    _, report = cell(ip, "net(X).sum().backward()\nnet(X).sum().backward()")
    f = only(report, "grad-accumulated")
    assert f.fix == "call net.zero_grad() before each backward()" and "opt" not in f.fix


def test_loose_tensors_one_optimizer_updates_are_one_finding(ip):
    _, report = cell(ip, "w = torch.ones(3, requires_grad=True)\nb = torch.zeros(1, requires_grad=True)\n"
                         "opt = torch.optim.SGD([w, b], lr=0.1)\nfor _ in range(2):\n"
                         "    ((w * 2).sum() + b).sum().backward()\n    opt.step()")
    f = only(report, "grad-accumulated")
    assert f.variable == "opt" and "the 2 tensors opt updates (w, b)" in f.message
    assert f.fix == "call opt.zero_grad() before each backward()"


def test_a_loose_leaf_gets_its_own_fix(ip):
    _, report = cell(ip, "w = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()\n"
                         "(w * 3).sum().backward()")
    f = only(report, "grad-accumulated")
    assert f.variable == "w" and f.fix == "zero it before each backward(): w.grad = None (or w.grad.zero_())"


def test_an_unnamed_leaf_is_named_by_where_it_was_made(ip):
    run(ip, "x = torch.ones(3)")   # a tensor the fix must not name
    _, report = cell(ip, "a = torch.tensor(1., requires_grad=True)\ny = a * 3\n"
                         "y.backward(retain_graph=True)\na = torch.tensor(2.)\ny.backward()")
    f = only(report, "grad-accumulated")
    made = "the leaf made at line 2 (torch.tensor(1., requires_grad=True))"
    assert f.variable == made and f.line == 6
    assert f.message.startswith(f"The .grad of {made} was not zeroed") and "2 passes" in f.message
    assert f.fix == ("set the leaf's .grad to None before each backward(); keep a name for the "
                     "leaf so that you can")   # not x (uninvolved) nor a (another tensor now)


def test_distinct_unnamed_leaves_stay_distinct(ip):
    _, report = cell(ip, "a = torch.tensor(1., requires_grad=True)\nb = torch.tensor(2., requires_grad=True)\n"
                         "y = a * b\ny.backward(retain_graph=True)\na = b = None\ny.backward()")
    assert sorted(f.variable for f in report.findings) == [
        "the leaf made at line 2 (torch.tensor(1., requires_grad=True))",
        "the leaf made at line 3 (torch.tensor(2., requires_grad=True))"]


def test_the_chinese_texts(ip):
    run(ip, NET)
    run(ip, "%autograd_config --lang zh")
    try:
        _, report = cell(ip, "net(X).sum().backward()\nnet(X).sum().backward()")
    finally:
        run(ip, "%autograd_config --reset")
    f = only(report, "grad-accumulated")
    assert "net 的 10 个参数" in f.message and f.fix == "每次 backward() 之前调用 net.zero_grad()"


@pytest.mark.parametrize("body, kind, fix", [
    # exec'd code is no cell: the failing cell line has no backward() or in-place call to read
    ("exec('(torch.ones(2, 2, requires_grad=True) * 2).backward()')", "nonscalar-backward",
     "call .sum().backward() on it, or pass .backward() a gradient of its shape "
     "(torch.ones_like of it) — the two are the same"),
    ("exec('torch.ones(2, requires_grad=True).add_(1)')", "leaf-inplace",
     "do parameter updates under `with torch.no_grad():`, or set the value before requires_grad_()"),
])
def test_fixes_of_unnamed_tensors_name_no_placeholder(ip, body, kind, fix):
    run(ip, "out = torch.ones(1)\nw = torch.ones(1)")   # what the old fixes said: uninvolved here
    result, report = cell(ip, body)
    assert result.error_in_exec is not None
    assert only(report, kind).fix == fix


def test_accumulation_from_a_function_of_an_earlier_cell_reports_once(ip):
    run(ip, "def sgd(params, lr):\n    with torch.no_grad():\n        for p in params:\n"
            "            p -= lr * p.grad")
    _, report = cell(ip, "w = torch.ones(2, requires_grad=True)\nb = torch.zeros(1, requires_grad=True)\n"
                         "for _ in range(3):\n    ((w * 2).sum() + b).sum().backward()\n    sgd([w, b], 0.1)")
    assert sorted(kinds(report)) == [("grad-accumulated", "b", 5), ("grad-accumulated", "w", 5)]


def test_a_computed_tensor_in_a_fix_is_parenthesised(ip):
    result, report = cell(ip, "x = torch.ones(2, requires_grad=True)\n(x * 2).backward()")
    f = only(report, "nonscalar-backward")
    assert f.variable == "x * 2" and f.fix.replace("`", "").startswith("(x * 2).sum().backward(), or (x * 2).backward(")


def test_a_loop_that_stops_zeroing_after_many_clean_passes_is_caught(ip):
    # after 16 passes in a row with .grad None before each, the leaves are read on every
    # 8th pass only: the sum is still found, with every pass since the last zeroing counted
    _, report = cell(ip, "w = torch.ones(2, requires_grad=True)\nfor i in range(40):\n"
                         "    if i < 30:\n        w.grad = None\n    (w * 2).sum().backward()")
    f = only(report, "grad-accumulated")
    assert f.variable == "w" and "the sum of 11 passes" in f.message   # passes 30 to 40
    assert ip.user_ns["w"].grad.tolist() == [22.0, 22.0]


def test_a_loop_that_stops_zeroing_in_place_is_caught(ip):
    # zeroed in place for 30 passes (no finding), then not: found, counted from the versions
    _, report = cell(ip, "w = torch.ones(2, requires_grad=True)\nw.grad = torch.zeros(2)\n"
                         "for i in range(40):\n    if i < 30:\n        w.grad.zero_()\n"
                         "    (w * 2).sum().backward()")
    f = only(report, "grad-accumulated")
    assert f.variable == "w" and "the sum of 11 passes" in f.message
    assert ip.user_ns["w"].grad.tolist() == [22.0, 22.0]
