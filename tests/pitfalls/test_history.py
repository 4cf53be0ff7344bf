"""history-kept and graph-not-needed: PyTorch's FAQ "Don't accumulate history across your
training loop", found with the variable, the line, the iterations and the memory held --
and no finding where graphs are meant to live."""
from __future__ import annotations

import pytest
import torch
from test_pitfalls_clean import NOTES, line_of
from support import MLP, cell, ground_truth, kinds, only

from support import run
from graphmagic.tensors.info import human_bytes

NEW = {"history-kept", "graph-not-needed"}
TRAIN = ("opt = torch.optim.SGD(model.parameters(), lr=0.01)\n"
         "F = torch.nn.functional\n")
STEP = ("    opt.zero_grad()\n    loss = F.cross_entropy(model(X), y)\n    loss.backward()\n"
        "    opt.step()\n")


def new_kinds(report) -> list[tuple[str, str, int | None]]:
    return [k for k in kinds(report) if k[0] in NEW]


@pytest.fixture
def mlp(ip):
    run(ip, MLP + "\n" + TRAIN)
    return ip


@pytest.mark.parametrize("statement, fixed", [
    ("total_loss += loss", "total_loss += loss.item()"),
    ("total_loss = total_loss + loss", "total_loss = total_loss + loss.item()"),
    ("total_loss = total_loss * 0.9 + 0.1 * loss", "total_loss = total_loss * 0.9 + 0.1 * loss.item()"),
])
def test_a_training_loop_that_sums_the_loss_keeps_its_history(mlp, statement, fixed):
    body = "total_loss = 0\nfor step in range(20):\n" + STEP + "    " + statement
    result, report = cell(mlp, body)
    assert result.error_in_exec is None
    finding = only(report, "history-kept")
    assert (finding.variable, finding.line) == ("total_loss", line_of(body, statement))
    assert "20 iterations" in finding.message
    if "0.9" not in statement:  # the scalar 0.9 is saved as a small tensor each step
        assert "none, a backward pass freed them" in finding.message
    assert fixed in finding.fix
    autograd = report.to_json()["memory"]["autograd"]
    graph = next(g for g in autograd["graphs"] if g["roots"] == ["total_loss"])
    assert graph["freed"] and f"({graph['nodes']} backward nodes" in finding.message
    assert new_kinds(report) == [("history-kept", "total_loss", finding.line)]


def test_a_list_of_losses_keeps_every_graph(mlp):
    body = "losses = []\nfor step in range(20):\n" + STEP + "    losses.append(loss)"
    _, report = cell(mlp, body)
    finding = only(report, "history-kept")
    assert finding.variable == "losses" and "20 tensors" in finding.message
    assert "losses.append(loss.item())" in finding.fix


def test_one_step_per_cell_accumulates_across_cells(mlp):
    run(mlp, "total = 0")
    body = "opt.zero_grad()\nloss = F.cross_entropy(model(X), y)\nloss.backward()\nopt.step()\ntotal = total + loss"
    _, first = cell(mlp, body)
    assert new_kinds(first) == []          # one iteration so far
    _, second = cell(mlp, body)
    _, third = cell(mlp, body)
    assert new_kinds(second) == [("history-kept", "total", 6)]
    assert "2 iterations" in only(second, "history-kept").message
    assert "3 iterations" in only(third, "history-kept").message


def test_an_evaluation_loop_without_no_grad_holds_its_activations(mlp):
    body = "val = 0\nfor xb in Xs:\n    val += F.cross_entropy(model(xb), y)"
    truth, _ = ground_truth(mlp, "F = torch.nn.functional\n" + body)
    _, report = cell(mlp, body)
    finding = only(report, "graph-not-needed")
    assert (finding.variable, finding.line) == ("val", 4)
    assert "4 iterations" in finding.message
    assert f"{human_bytes(truth['cpu'])} (cpu)" in finding.message
    assert report.to_json()["memory"]["autograd"]["total"] == truth
    assert "torch.no_grad()" in finding.fix and "val += F.cross_entropy(model(xb), y).item()" in finding.fix
    assert new_kinds(report) == [("graph-not-needed", "val", 4)]


def test_outputs_collected_in_a_list_without_no_grad(mlp):
    _, report = cell(mlp, "outs = []\nfor xb in Xs:\n    outs.append(model(xb))")
    assert new_kinds(report) == [("graph-not-needed", "outs", 4)]


def test_a_model_in_eval_mode_with_gradients_on(mlp):
    run(mlp, "model.eval()")
    truth, _ = ground_truth(mlp, "out = model(X)")
    _, report = cell(mlp, "out = model(X)")
    finding = only(report, "graph-not-needed")
    assert (finding.variable, finding.line) == ("out", 2)
    assert "model is in eval() mode" in finding.message and human_bytes(truth["cpu"]) in finding.message


CLEAN = {
    "no_grad evaluation": "val = 0\nwith torch.no_grad():\n    for xb in Xs:\n"
                          "        val += F.cross_entropy(model(xb), y)",
    "numbers accumulated": "total = 0\nfor step in range(5):\n" + STEP + "    total += loss.item()",
    "detached accumulated": "total = 0\nfor step in range(5):\n" + STEP + "    total += loss.detach()",
    "single forward kept": "out = model(X)\nloss = F.cross_entropy(out, y)",
    "accumulated and differentiated": "total = 0\nfor xb in Xs:\n    total = total + model(xb).sum()\n"
                                      "total.backward()",
    "list differentiated": "outs = []\nfor xb in Xs:\n    outs.append(model(xb).sum())\n"
                           "torch.stack(outs).sum().backward()",
    "loss reset each step": "for xb in Xs:\n    loss = model(xb).sum()\n    loss = loss + 0.01 * model[0].weight.pow(2).sum()\n"
                            "    loss.backward()",
    "recurrence": "h = torch.zeros(128, 10)\nW = torch.randn(10, 10, requires_grad=True)\n"
                  "for step in range(5):\n    h = h @ W + 1",
    "higher order": "x = torch.tensor(2.0, requires_grad=True)\nd = x ** 4\nfor k in range(3):\n"
                    "    d, = torch.autograd.grad(d, x, create_graph=True)",
    "gradient penalty": "gp = 0\nfor xb in Xs:\n    xb = xb.requires_grad_()\n    out = model(xb).sum()\n"
                        "    g, = torch.autograd.grad(out, xb, create_graph=True)\n"
                        "    gp = gp + g.pow(2).sum()\ngp.backward()",
    "sum of terms from one leaf": "b = torch.ones(3, requires_grad=True)\ns = b\nfor i in range(50):\n"
                                  "    s = s + 1",
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_no_finding_where_graphs_are_meant_to_live(mlp, name):
    result, report = cell(mlp, CLEAN[name])
    assert result.error_in_exec is None
    assert new_kinds(report) == []


def test_forward_in_one_cell_backward_in_the_next(mlp):
    _, forward = cell(mlp, "out = model(X)\nloss = F.cross_entropy(out, y)")
    _, backward = cell(mlp, "loss.backward()")
    assert new_kinds(forward) == new_kinds(backward) == []
    assert forward.to_json()["memory"]["autograd"]["total"]["cpu"] > 0   # held until backward
    assert backward.to_json()["memory"]["autograd"]["total"] == {}


def test_the_study_notes_stay_clean(ip, tmp_path, monkeypatch, recwarn):
    monkeypatch.chdir(tmp_path)
    for body in NOTES:
        result, report = cell(ip, body)
        assert result.error_in_exec is None
        assert new_kinds(report) == []


def test_the_kinds_can_be_silenced(mlp):
    body = "total_loss = 0\nfor step in range(3):\n" + STEP + "    total_loss += loss"
    _, report = cell(mlp, body, "--no-warn history-kept")
    assert new_kinds(report) == []


def test_in_chinese(mlp):
    run(mlp, "%autograd_config --lang zh")
    try:
        body = "total_loss = 0\nfor step in range(3):\n" + STEP + "    total_loss += loss"
        _, report = cell(mlp, body)
        assert "3 次迭代" in only(report, "history-kept").message
    finally:
        run(mlp, "%autograd_config --lang en")


def test_the_history_kept_finding_is_a_warning_users_can_filter(mlp):
    run(mlp, "import warnings\nfrom graphmagic import AutogradPitfall\n"
             "warnings.filterwarnings('ignore', category=AutogradPitfall, message=r'\\[history-kept\\]')")
    body = "total_loss = 0\nfor step in range(3):\n" + STEP + "    total_loss += loss"
    _, report = cell(mlp, body)
    assert new_kinds(report) == []
    assert torch.is_grad_enabled()
