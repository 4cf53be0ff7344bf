"""Findings made after the cell from its code and tensors: leaf-moved, data-mutation,
detach-alias."""
from __future__ import annotations

from support import cell, kinds, only


# ---- leaf-moved ------------------------------------------------------------------------
def test_leaf_moved_by_a_dtype_move(ip):
    result, report = cell(ip, "x = torch.ones(2, requires_grad=True)\nx = x.double()\n"
                              "(x * 2).sum().backward()\nx.grad")
    assert result.error_in_exec is None
    f = only(report, "leaf-moved")
    assert (f.variable, f.line, f.code) == ("x", 3, "x = x.double()")
    assert "ToCopyBackward0" in f.message and "x.detach().to(...).requires_grad_()" in f.fix
    assert ("nonleaf-grad", "x", 5) in kinds(report)


def test_leaf_moved_to_meta(ip):
    _, report = cell(ip, "x = torch.ones(2, requires_grad=True)\nx = x.to('meta')")
    assert kinds(report) == [("leaf-moved", "x", 3)]


def test_leaf_moved_negatives(ip):
    for body in ("x = torch.ones(2, requires_grad=True)\nx = x.detach().double().requires_grad_()",
                 "x = torch.ones(2, requires_grad=True)\nx = x.to('cpu')",        # no copy: still the leaf
                 "x = torch.ones(2)\nx = x.double()",                             # no grad
                 "x = torch.ones(2, requires_grad=True)\nx = x.double()\nx = x.detach().requires_grad_()"):
        _, report = cell(ip, body)
        assert report.findings == [], body


# ---- data-mutation ---------------------------------------------------------------------
def test_data_mutation_between_forward_and_backward(ip):
    _, report = cell(ip, "x = torch.ones(2, requires_grad=True)\ny = (x * x).sum()\nx.data += 1\n"
                         "y.backward()")
    f = only(report, "data-mutation")
    assert (f.variable, f.line, f.code) == ("x", 4, "x.data += 1")
    assert "y" in f.message and "line 5" in f.message and "torch.no_grad()" in f.fix


def test_data_mutation_while_an_earlier_cells_graph_is_alive(ip):
    cell(ip, "w = torch.ones(2, requires_grad=True)\nloss = (w * w).sum()")
    _, report = cell(ip, "w.data = torch.zeros(2)")
    f = only(report, "data-mutation")
    assert (f.variable, f.line) == ("w", 2) and "loss" in f.message


def test_data_mutation_negatives(ip):
    bodies = (
        # the initialisation idiom, before any use
        "p = torch.empty(3, requires_grad=True)\np.data.normal_()\nloss = (p * 2).sum()\nloss.backward()",
        "m = torch.nn.Linear(3, 1)\nm.weight.data.normal_(0, 0.01)\nm.bias.data.fill_(0)\n"
        "m(torch.ones(2, 3)).sum().backward()",
        # an old-style update after backward, in a loop
        "w = torch.ones(2, requires_grad=True)\nfor _ in range(3):\n    loss = (w * w).sum()\n"
        "    loss.backward()\n    w.data -= 0.1 * w.grad\n    w.grad.data.zero_()",
        # a graph without saved tensors does not depend on the value
        "v = torch.ones(2, requires_grad=True)\ns = v + 1\nv.data += 1",
    )
    for body in bodies:
        _, report = cell(ip, body)
        assert report.findings == [], body


# ---- detach-alias ----------------------------------------------------------------------
def test_detach_alias_change_to_the_detached_copy(ip):
    _, report = cell(ip, "src = torch.tensor([1.0, 2.0], requires_grad=True)\ndet = src.detach()\n"
                         "det[0] = 5.0\nsrc")
    f = only(report, "detach-alias")
    assert (f.variable, f.line, f.code) == ("det", 4, "det[0] = 5.0")
    assert "det and src share memory" in f.message and "src.detach().clone()" in f.fix


def test_detach_alias_change_to_the_source_in_a_later_cell(ip):
    first, _ = cell(ip, "w = torch.ones(2, requires_grad=True)\nsnapshot = w.detach()")
    _, report = cell(ip, "with torch.no_grad():\n    w.mul_(3)")
    f = only(report, "detach-alias")
    assert (f.variable, f.line) == ("w", 3)
    assert f"In[{first.execution_count}] line 3" in f.message and "snapshot" in f.message


def test_detach_alias_negatives(ip):
    bodies = (
        "src = torch.ones(2, requires_grad=True)\ndet = src.detach().clone()\ndet[0] = 5.0",
        "src = torch.ones(2, requires_grad=True)\ndet = src.detach()\ndet.requires_grad_(True)\n"
        "(det * 2).sum().backward()\ndet.grad.zero_()",
        "src = torch.ones(2, requires_grad=True)\ndet = src.detach()\ndet = det + 1",
        "a = torch.ones(2)\na.add_(1)\nb = a.detach()",   # the change came before the detach
    )
    for body in bodies:
        _, report = cell(ip, body)
        assert report.findings == [], body


def test_detach_alias_forgets_a_name_bound_again(ip):
    cell(ip, "src = torch.ones(2, requires_grad=True)\ndet = src.detach()")
    _, report = cell(ip, "det = torch.zeros(2)\ndet.add_(1)\nprint(src)")
    assert report.findings == []
    _, report = cell(ip, "a = torch.ones(2)\nb = a.detach()\nb = torch.zeros(2)\nb.add_(1)\nprint(a)")
    assert report.findings == []


def test_an_earlier_cells_detach_pair_does_not_outlive_new_bindings(ip):
    cell(ip, "a = torch.ones(2, requires_grad=True)\nb = a.detach()")
    _, report = cell(ip, "a = torch.ones(2)\na.add_(1)\nb = a.detach()")
    assert report.findings == []
