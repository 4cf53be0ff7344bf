"""Tracking review fixes: loop-variable .data writes, remembered detach relations, the
summary's autograd-state count, sampled digests."""
from __future__ import annotations

import torch

import support
from support import run
from graphmagic.tensors import snapshot


def report(ip, cell: str, opts: str = ""):
    return support.report(ip, cell, f"--no-graph {opts}")


def rows(rep) -> dict[str, dict]:
    return {r["name"]: r for r in rep.variables.to_json()["rows"]}


def test_data_writes_through_a_loop_variable_mark_every_parameter(ip):
    run(ip, "model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))")
    before = [p.detach().clone() for p in ip.user_ns["model"].parameters()]
    rep = report(ip, "for p_ in model.parameters():\n    p_.data.normal_(0, 0.01)")
    after = list(ip.user_ns["model"].parameters())
    assert all(not torch.equal(b, a) for b, a in zip(before, after))
    found = rows(rep)
    params = [n for n in found if n.startswith("model")]
    assert len(params) == 4, found.keys()
    for name in params:
        assert found[name]["status"] == "in-place" and found[name]["detail_code"] == "via-data"
        assert found[name]["lines"] == [{"cell": rep.cell, "line": 3, "static": True, "count": None}]
    assert found["p_"]["status"] == "new" and found["p_"]["detail_code"] == "same-tensor"
    assert [ln["line"] for ln in found["p_"]["lines"]] == [2]
    assert rep.variables.to_json()["counts"]["unchanged"] == 0
    assert "line 0" not in rep.variables.to_text()


def test_loop_data_write_that_did_not_run_changes_nothing(ip):
    run(ip, "w = torch.ones(3, requires_grad=True)")
    rep = report(ip, "for p_ in []:\n    p_.data.zero_()")
    assert "w" not in rows(rep)
    assert rep.variables.to_json()["counts"]["unchanged"] == 1


def test_detach_relation_is_remembered_in_later_cells(ip):
    run(ip, "src = torch.ones(3, requires_grad=True)")
    first = report(ip, "det_a = src.detach()")
    later = report(ip, "det_a.add_(1)")
    for rep in (first, later):
        relations = [rel for g in rep.variables.to_json()["aliases"] for rel in g["relations"]]
        assert {"name": "det_a", "other": "src", "how": "detach"} in relations
    assert "det_a shares storage with src (detach)" in later.variables.to_text()
    run(ip, "det_a = torch.zeros(3)\ndet_a.set_(src.detach().untyped_storage())")
    rep = report(ip, "det_a.add_(1)")  # a different tensor now: the relation is forgotten
    relations = [rel for g in rep.variables.to_json()["aliases"] for rel in g["relations"]]
    assert {"name": "det_a", "other": "src", "how": "shares storage"} in relations
    text = rep.variables.to_text()
    assert "det_a shares storage with src ·" in text and "no view relation" not in text


def test_summary_counts_autograd_state_changes_apart_from_unchanged(ip):
    run(ip, "w = torch.ones(2, requires_grad=True)\nx = torch.ones(2)\ny = torch.ones(2)")
    rep = report(ip, "(w * 2).sum().backward()")
    counts = rep.variables.to_json()["counts"]
    assert counts["state"] == 1 and counts["unchanged"] == 2
    summary = rep.variables.to_text().splitlines()[0]
    assert summary == "Tensors · 1 autograd state changed · 2 unchanged (not listed; --all lists them)"
    assert "1 autograd state changed · 2 unchanged" in rep.variables.to_html()
    run(ip, "%autograd_config --lang zh")
    try:
        rep = report(ip, "(w * 2).sum().backward()")
        assert "autograd 状态改变 1 个 · 未改变 2 个" in rep.to_text()
    finally:
        run(ip, "%autograd_config --lang en")


def test_large_tensor_digest_sees_a_data_change_and_no_change(ip):
    big = torch.ones(17 * 2**20)  # 68 MiB: sampled
    d0 = snapshot.digest(big)
    assert d0 is not None and snapshot.digest(big) == d0
    big.data.mul_(2)
    assert snapshot.digest(big) != d0
    strided = torch.ones(64, 64).t()  # non-contiguous, small: hashed whole
    s0 = snapshot.digest(strided)
    strided[3, 5] = 2
    assert s0 is not None and snapshot.digest(strided) != s0
    run(ip, "H = torch.ones(17 * 2**20)")
    rep = report(ip, "if False:\n    H.data.mul_(2)")
    assert "H" not in rows(rep)
    rep = report(ip, "H.data.mul_(2)")
    assert rows(rep)["H"]["detail_code"] == "via-data"
