"""A tensors table that is true: rebound to a non-tensor, who still holds a deleted tensor,
rebound then changed in place, .grad zeroed and refilled, Out[n] that is x.grad, lines of
changes made inside functions, before -> after for every changed column, natural order,
one row per tensor."""
from __future__ import annotations

from support import run


def report(ip, cell: str, opts: str = ""):
    result = run(ip, f"%%autograd --out r --no-graph {opts}\n{cell}")
    assert result.error_in_exec is None, result.error_in_exec
    return ip.user_ns["r"]


def rows(rep) -> dict[str, dict]:
    return {r["name"]: r for r in rep.variables.to_json()["rows"]}


def texts(rep) -> dict[str, list[str]]:
    """Each row's cells as the text table shows them, by the row's first name."""
    section = rep.variables
    return {r["name"]: section.cells(r) for r in section.rows}


def line_numbers(row: dict) -> list[int]:
    return [ln["line"] for ln in row["lines"]]


def test_rebound_to_a_non_tensor_says_what_it_is_now(ip):
    run(ip, "u = torch.ones(2)")
    rep = report(ip, "u = 'text'")
    row = rows(rep)["u"]
    assert (row["status"], row["detail"]) == ("rebound", "now a str")
    assert line_numbers(row) == [2]
    assert rep.variables.counts()["rebound"] == 1 and rep.variables.counts()["deleted"] == 0


def test_deleted_says_referenced_elsewhere_only_when_something_else_holds_it(ip):
    run(ip, "u = torch.ones(2)\nv = torch.ones(2)\nkeep = {'u': u}")
    rep = report(ip, "del u, v")
    found = rows(rep)
    assert found["u"]["detail_code"] == "still-referenced"    # the user's dict holds it
    assert found["v"]["detail_code"] == "freed"


def test_deleted_but_held_by_a_graph(ip):
    run(ip, "w = torch.ones(2, requires_grad=True)\nloss = (w * 2).sum()")
    rep = report(ip, "del w")
    row = rows(rep)["w"]
    assert row["detail_code"] == "kept-by-torch" and "autograd graph" in row["detail"]


def test_rebound_then_changed_in_place_says_both(ip):
    run(ip, "a = torch.ones(2)")
    rep = report(ip, "a = torch.ones(2)\na += 1")
    row = rows(rep)["a"]
    assert row["status"] == "rebound"
    assert row["detail"] == "new memory, then changed in place at line 3"
    assert line_numbers(row) == [2, 3] and row["version"] == [0, 1]


def test_grad_zeroed_then_refilled_names_both_lines(ip):
    run(ip, "x = torch.arange(4.0, requires_grad=True)\ny = 2 * torch.dot(x, x)\ny.backward()")
    rep = report(ip, "x.grad.zero_()\ny = x.sum()\ny.backward()")
    cells = texts(rep)["x"]
    assert cells[1] == "unchanged: .grad zeroed at line 2, then set by backward() at line 4"
    rep = report(ip, "y = x.sum()\ny.backward()")
    assert texts(rep)["x"][1] == "unchanged: .grad added to by backward() at line 3 (accumulated)"


def test_out_that_is_an_existing_grad_says_so(ip):
    run(ip, "x = torch.arange(4.0, requires_grad=True)\n(x * x).sum().backward()")
    rep = report(ip, "x.grad")
    n = rep.cell[3:-1]
    row = rows(rep)[f"Out[{n}]"]
    assert row["detail"] == "same tensor as x.grad"


def test_in_place_changes_inside_a_function_get_the_calling_line(ip):
    run(ip, "def sgd(params, lr):\n    with torch.no_grad():\n        for p in params:\n"
            "            p -= lr * p.grad\n            p.grad.zero_()")
    run(ip, "w = torch.ones(2, requires_grad=True)\nb = torch.zeros(1, requires_grad=True)")
    rep = report(ip, "loss = ((w * 3).sum() + b).sum()\nloss.backward()\nsgd([w, b], 0.1)")
    found = rows(rep)
    assert found["w"]["status"] == found["b"]["status"] == "in-place"
    assert line_numbers(found["w"]) == line_numbers(found["b"]) == [4]


def test_every_changed_column_shows_before_and_after(ip):
    run(ip, "w = torch.ones(2, requires_grad=True) + 1")
    rep = report(ip, "with torch.no_grad():\n    w = w - 0.1")
    cells = dict(zip(("name", "status", "id", "version", "tensor", "bytes", "requires_grad",
                      "is_leaf", "grad_fn", "retains_grad", "grad", "lines"), texts(rep)["w"]))
    assert cells["grad_fn"] == "AddBackward0 → None"
    assert cells["is_leaf"] == "False → True" and cells["requires_grad"] == "True → False"
    rep = report(ip, "z = torch.ones(1)")   # new: no before, and None is shown as it is
    assert texts(rep)["z"][8] == "None"


def test_rows_sort_naturally(ip):
    rep = report(ip, "parts = [torch.ones(1) for _ in range(12)]")
    names = [r["name"] for r in rep.variables.to_json()["rows"]]
    assert names == [f"parts[{i}]" for i in range(12)]


def test_one_row_per_tensor_listing_all_its_names(ip):
    run(ip, "net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))\n"
            "params = list(net.parameters())")
    rep = report(ip, "net(torch.ones(1, 3)).sum().backward()")
    data = rep.variables.to_json()
    assert [r["names"] for r in data["rows"]] == [
        ["net[0].bias", "params[1]"], ["net[0].weight", "params[0]"],
        ["net[1].bias", "params[3]"], ["net[1].weight", "params[2]"]]
    assert data["counts"]["state"] == 4 and data["counts"]["unchanged"] == 0
    assert "net[0].weight = params[0]" in rep.variables.to_text()
    assert "4 autograd state changed" in rep.variables.summary()
