"""Tensor tracking: the study notes' memory cells, statuses, aliasing, names, display."""
from __future__ import annotations

import gc
import json
import weakref

import pytest
import torch

import support
from support import NOTES_LEAF_CELL as NOTES_99
from support import run
from graphmagic.report import JSON_MIME


def report(ip, cell: str, opts: str = ""):
    return support.report(ip, cell, f"--no-graph {opts}")


def rows(rep) -> dict[str, dict]:
    return {r["name"]: r for r in rep.variables.to_json()["rows"]}


NOTES_SETUP = """X = torch.arange(12, dtype=torch.float32).reshape((3,4))
Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])"""


def test_cat_result_shows_both_shapes_as_out(ip):
    rep = report(ip, NOTES_SETUP + "\ntorch.cat((X, Y), dim=0), torch.cat((X, Y), dim=1)")
    n = rep.cell[3:-1]
    found = rows(rep)
    assert found[f"Out[{n}][0]"]["shape"] == "(6, 4)"
    assert found[f"Out[{n}][1]"]["shape"] == "(3, 8)"
    assert found[f"Out[{n}][0]"]["status"] == "new"
    assert found[f"Out[{n}][0]"]["lines"][0]["line"] == 4
    assert found["X"]["status"] == found["Y"]["status"] == "new"


def test_y_equals_y_plus_x_is_rebound_new_memory(ip):
    run(ip, NOTES_SETUP)
    old = id(ip.user_ns["Y"])
    rep = report(ip, "before = id(Y)\nY = Y + X\nid(Y) == before")
    row = rows(rep)["Y"]
    assert row["status"] == "rebound" and row["detail_code"] == "new-memory"
    assert row["id"] == [old, id(ip.user_ns["Y"])]
    assert row["lines"] == [{"cell": rep.cell, "line": 3, "static": False, "count": None}]
    assert "X" not in rows(rep)  # unchanged: counted, not listed
    assert rep.variables.to_json()["counts"]["unchanged"] == 1


def test_slice_assign_is_in_place_and_notes_the_temporary(ip):
    run(ip, NOTES_SETUP)
    rep = report(ip, "Z = torch.zeros_like(Y)\nprint('id(Z):', id(Z))\nZ[:] = X + Y\n"
                     "print('id(Z):', id(Z))")
    row = rows(rep)["Z"]
    assert row["status"] == "new"  # created in this cell: new, whatever happened after
    assert row["detail_code"] == "new-then-in-place"
    assert "then changed in place at line 4" in row["detail"]
    assert row["id"] == [None, id(ip.user_ns["Z"])]
    assert [ln["line"] for ln in row["lines"]] == [2, 4]
    assert "X + Y" in row["detail"]
    note = rep.memory.to_json()["notes"][0]
    assert note["kind"] == "temporary" and note["line"] == 4 and note["bytes"] == 48
    assert note["alternative"] == "torch.add(X, Y, out=Z)"
    assert "torch.add(X, Y, out=Z)" in rep.memory.to_text()


def test_slice_assign_on_existing_tensor(ip):
    run(ip, NOTES_SETUP + "\nZ = torch.zeros_like(Y)")
    rep = report(ip, "Z[:] = X * Y")
    row = rows(rep)["Z"]
    assert row["status"] == "in-place" and row["detail_code"] == "temporary"
    assert row["version"] == [0, 1]
    assert rep.memory.to_json()["notes"][0]["alternative"] == "torch.mul(X, Y, out=Z)"


def test_augmented_add_is_in_place(ip):
    run(ip, NOTES_SETUP)
    old = id(ip.user_ns["Y"])
    rep = report(ip, "before = id(Y)\nY += X\nid(Y) == before")
    row = rows(rep)["Y"]
    assert row["status"] == "in-place" and row["id"] == [old, old]
    assert row["version"] == [0, 1]
    assert row["lines"][0]["line"] == 3
    assert ip.user_ns["Out"][int(rep.cell[3:-1])] is True


def test_detach_shares_storage_with_its_source(ip):
    rep = report(ip, NOTES_99)
    data = rep.variables.to_json()
    relations = [rel for g in data["aliases"] for rel in g["relations"]]
    assert {"name": "det_a", "other": "ind_b", "how": "detach"} in relations
    found = rows(rep)
    assert found["det_a"]["shares_storage"] == [{"other": "ind_b", "how": "detach"}]
    assert found["ind_a"]["retains_grad"] == [None, True]
    assert found["ind_a"]["grad_fn"] == [None, "MulBackward0"]
    assert found["det_a"]["is_leaf"] == [None, True]
    assert found["det_a"]["requires_grad"] == [None, True]
    assert "det_a shares storage with ind_b (detach)" in rep.variables.to_text()


def test_backward_sets_grad_as_an_autograd_state_change(ip):
    run(ip, NOTES_99)
    rep = report(ip, "z.backward()\nprint(x.grad, y.grad)")
    found = rows(rep)
    assert found["x"]["kind"] == "state" and found["x"]["status"] == "unchanged"
    assert found["x"]["grad"] == [False, True]
    assert "grad" in found["x"]["state_changes"]
    assert "ind_b" not in found


def test_in_place_through_a_view_marks_the_base(ip):
    run(ip, "a = torch.zeros(4)\nv = a[:2]")
    rep = report(ip, "v += 1")
    found = rows(rep)
    assert found["v"]["status"] == "in-place"
    assert found["a"]["status"] == "in-place"
    relations = [rel for g in rep.variables.to_json()["aliases"] for rel in g["relations"]]
    assert {"name": "v", "other": "a", "how": "view"} in relations


def test_new_tensor_changed_through_its_detached_alias(ip):
    rep = report(ip, "a = torch.ones(4)\nb = a.detach()\nb += 1")
    found = rows(rep)
    assert found["b"]["status"] == "new" and found["b"]["detail_code"] == "new-then-in-place"
    assert found["a"]["status"] == "new" and found["a"]["detail_code"] == "new-then-via-alias"
    assert [ln["line"] for ln in found["a"]["lines"]] == [2, 3, 4]
    assert "changed through b" in found["a"]["detail"]


def test_view_rebinding_keeps_the_storage(ip):
    run(ip, "Y = torch.ones(2, 3)")
    rep = report(ip, "Y = Y.view(3, 2)")
    row = rows(rep)["Y"]
    assert row["status"] == "rebound" and row["detail_code"] == "same-storage"


def test_data_mutation_is_in_place_behind_autograds_back(ip):
    run(ip, "w = torch.ones(3, requires_grad=True)")
    rep = report(ip, "w.data += 1")
    row = rows(rep)["w"]
    assert row["version"] == [0, 0]  # the version counter did not move
    assert row["status"] == "in-place" and row["detail_code"] == "via-data"
    assert row["detail"] == "in-place via .data: autograd did not see it"
    assert row["lines"][0]["line"] == 2
    assert list(rows(rep)) [0] == "w"


def test_data_mutation_site_that_did_not_run_is_not_reported(ip):
    run(ip, "w = torch.ones(3, requires_grad=True)")
    rep = report(ip, "if False:\n    w.data.add_(1)")
    assert "w" not in rows(rep)


def test_data_assignment_replaces_the_storage(ip):
    run(ip, "w = torch.ones(3, requires_grad=True)")
    rep = report(ip, "w.data = torch.zeros(3)")
    row = rows(rep)["w"]
    assert row["status"] == "in-place" and row["detail_code"] == "storage-replaced"
    assert row["detail"] == "in-place: storage replaced"


def test_inference_tensor_has_no_version_and_does_not_break(ip):
    rep = report(ip, "with torch.inference_mode():\n    t = torch.ones(2)\n    t.add_(1)")
    row = rows(rep)["t"]
    assert row["status"] == "new" and row["version"] == [None, None]


def test_deleted_tensor(ip):
    run(ip, "gone = torch.ones(3)\nkept = torch.ones(2)\nalias = kept")
    rep = report(ip, "del gone\ndel alias")
    found = rows(rep)
    assert found["gone"]["status"] == "deleted" and found["gone"]["detail_code"] == "freed"
    assert found["alias"]["detail_code"] == "still-referenced"
    assert found["gone"]["lines"][0]["line"] == 2


def test_module_parameters_and_optimizer_state_by_pasteable_names(ip):
    run(ip, "torch.manual_seed(0)\nmodel = torch.nn.Sequential(torch.nn.Linear(3, 2))\n"
            "opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
            "inp = torch.randn(4, 3)")
    rep = report(ip, "opt.zero_grad()\nloss = model(inp).sum()\nloss.backward()\nopt.step()")
    found = rows(rep)
    assert found["model[0].weight"]["status"] == "in-place"
    assert found["model[0].weight"]["lines"][0]["line"] == 5  # the optimizer step
    state = [n for n in found if n.startswith("opt.state[model[0].weight]")]
    assert state and found[state[0]]["status"] == "new"
    assert found["loss"]["status"] == "new"


def test_static_lines_inside_a_loop_are_labelled(ip):
    run(ip, "acc = torch.zeros(2)")
    rep = report(ip, "for i in range(3):\n    acc += 1")
    row = rows(rep)["acc"]
    assert row["status"] == "in-place" and row["lines"][0]["static"] is True
    assert "static" in rep.variables.to_text()


def test_all_lists_unchanged_tensors(ip):
    run(ip, "a = torch.ones(2)\nb = torch.ones(3)")
    assert "a" not in rows(report(ip, "c = 1"))
    found = rows(report(ip, "c = 1", "--all"))
    assert found["a"]["status"] == "unchanged" and found["b"]["status"] == "unchanged"


def test_ipython_names_are_not_user_variables(ip):
    run(ip, "torch.ones(1)")
    run(ip, "_keep = _")
    rep = report(ip, "1", "--all")
    names = set(rows(rep))
    assert "_keep" in names
    assert not names & {"_", "__", "___"} and not any(n.startswith(("_i", "_o", "Out[")) for n in names)


def test_ordering_puts_changes_that_matter_first(ip):
    run(ip, "w = torch.ones(2, requires_grad=True)\ny = torch.ones(2)\nold = torch.ones(2)")
    rep = report(ip, "new = torch.ones(2)\ny = y + 1\nw.data += 1\ndel old")
    assert [r["name"] for r in rep.variables.to_json()["rows"]] == ["w", "y", "new", "old"]


def test_table_html_is_escaped_and_ids_are_integers(ip):
    run(ip, "d = {}")
    rep = report(ip, "d['<b>'] = torch.ones(2)")
    html = rep.variables.to_html()
    assert "d[&#x27;&lt;b&gt;&#x27;]" in html and "<b>'" not in html
    row = rows(rep)["d['<b>']"]
    assert isinstance(row["id"][1], int) and str(row["id"][1]) in rep.variables.to_text()


def test_same_data_in_report_json(ip):
    run(ip, NOTES_SETUP)
    rep = report(ip, "Y = Y + X")
    bundle = rep._repr_mimebundle_()
    data = bundle[JSON_MIME]["variables"]
    assert json.loads(json.dumps(data)) == data
    assert data["changed"] == {"Y": "rebound"}
    assert data["rows"][0]["id"][1] == id(ip.user_ns["Y"])


def test_chinese_labels(ip):
    run(ip, "%autograd_config --lang zh")
    run(ip, NOTES_SETUP)
    text = report(ip, "Y = Y + X").to_text()
    assert "重新绑定" in text and "新分配的内存" in text


def test_tensor_deleted_in_the_cell_is_freed_and_not_held(ip):
    run(ip, "big = torch.ones(1024, 1024)")
    ref = weakref.ref(ip.user_ns["big"])
    rep = report(ip, "del big")
    assert ref() is None  # freed at del, as in plain Python: no gc.collect() first
    assert rows(rep)["big"]["status"] == "deleted"
    seen, stack = set(), [rep]
    while stack:  # nothing the report reaches is a tensor
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, int, float, type)):
            continue
        seen.add(id(obj))
        assert not isinstance(obj, torch.Tensor), obj
        stack.extend(gc.get_referents(obj))


def tracked(ip, body: str):
    """Run ``body`` with the tracking part alone and return its ``Tracking``."""
    from graphmagic.cell.context import CellContext, CellEnd
    from graphmagic.cell.device import choose_device
    from graphmagic.cell.options import CellOptions
    from graphmagic.cell.source import CellSource
    from graphmagic.cell.state import ShellState
    from graphmagic.ipython import execution
    from graphmagic.tensors.names import named_tensors
    from graphmagic.tracking.probe import TrackingProbe

    filename, code, last = execution.compile_body(ip, body, 99)
    source = CellSource("%%autograd\n" + body, filename=filename)
    ctx = CellContext(shell=ip, state=ShellState(), options=CellOptions(), source=source,
                      choice=choose_device(None), execution_count=99)
    probe = TrackingProbe(ctx)
    result = execution.run_body(ip, code, last)
    end = CellEnd(named=list(named_tensors(ip.user_ns)), result=result, exception=None)
    return probe.collect(ctx, end, None), "Out[99]"


def test_published_contract_for_other_probes(ip):
    run(ip, NOTES_SETUP + "\nw = torch.ones(2, requires_grad=True)")
    tr, out = tracked(ip, "Y += X\nv = Y.detach()\nw.data.mul_(2)\ndel X\nY[0]")
    assert tr.changed == {"Y": "in-place", "v": "new", "w": "in-place", "X": "deleted", out: "new"}
    assert tr.details["w"] == "via-data"
    assert tr.shares_storage_with("v") == [("Y", "detach")]
    assert tr.shares_storage_with(out) == [("Y", "view")]
    assert tr.before["Y"].version == 0 and tr.after["Y"].version == 1
    assert tr.after["w"].requires_grad and tr.after["w"].is_leaf and not tr.after["w"].grad
    assert tr.lines["Y"][0].line == 2 and not tr.exact_lines
    assert tr.before["X"].id == tr.before["X"].id and "X" not in tr.after
    for facts in (*tr.before.values(), *tr.after.values()):  # plain data only
        assert all(not isinstance(v, torch.Tensor) for v in facts._asdict().values())


@pytest.mark.parametrize("direct", [False, True])
def test_run_cell_magic_path(ip, direct):
    run(ip, NOTES_SETUP)
    if direct:
        ip.run_cell_magic("autograd", "--out r --no-graph", "Y += X\n")
    else:
        run(ip, "%%autograd --out r --no-graph\nY += X\n")
    row = rows(ip.user_ns["r"])["Y"]
    assert row["status"] == "in-place" and row["lines"][0]["line"] == 2


def test_reused_id_of_a_freed_tensor_is_not_called_the_same_tensor(ip):
    # the notes' second round: z is rebound, its old tensor freed; CPython may give a new
    # tensor the freed one's id. Only a live, identical object is "the same tensor".
    from support import run

    run(ip, "x = torch.ones(1, requires_grad=True)\nz = x * 2")
    for _ in range(20):
        run(ip, "%%autograd --out r\nz = x * 3\nc = x * 4")
        rows = {row["name"]: row for row in ip.user_ns["r"].variables.to_json()["rows"]}
        assert "same" not in rows["c"].get("detail", ""), rows["c"]
        run(ip, "del c")
