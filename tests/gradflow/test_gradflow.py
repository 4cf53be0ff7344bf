"""Gradient flow after backward: the section (norms against torch's own), its picture, and the
unused-parameter and nonfinite-grad findings (with --anomaly: the op and the cell line)."""
from __future__ import annotations

import base64
import gc
import math
import re
import warnings
import xml.etree.ElementTree as ET

import pytest
import torch
from support import cell, kinds, only

from support import needs_cuda, run

NET = """torch.manual_seed(0)
F = torch.nn.functional
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.fc2 = torch.nn.Linear(16, 4)
        self.head = torch.nn.Linear(16, 4)
    def forward(self, x, use_head=False, head_mode="plain"):
        h = torch.relu(self.fc1(x))
        out = self.fc2(h)
        if use_head and head_mode == "plain":
            out = out + self.head(h)
        elif use_head and head_mode == "no_grad":
            with torch.no_grad():
                extra = self.head(h)
            out = out + extra
        elif use_head and head_mode == "detach":
            out = out + self.head(h).detach()
        return out
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
X = torch.randn(32, 8)
y = torch.randint(0, 4, (32,))"""
STEP = "opt.zero_grad()\nloss = F.cross_entropy(model(X{args}), y)\nloss.backward()\nopt.step()"


@pytest.fixture
def net(ip):
    run(ip, NET)
    return ip


def step(args: str = "") -> str:
    return STEP.format(args=args)


def gradflow(report) -> dict:
    return report.to_json()["gradflow"]


def test_the_section_lists_parameters_with_their_norms(net):
    _, report = cell(net, step(", use_head=True"))
    data = gradflow(report)
    names = [p["name"] for p in data["parameters"]]
    assert names == ["model.fc1.weight", "model.fc1.bias", "model.fc2.weight", "model.fc2.bias",
                     "model.head.weight", "model.head.bias"]
    model = net.user_ns["model"]
    for p in data["parameters"]:
        grad = eval(p["name"], {"model": model}).grad
        assert p["norm"] == pytest.approx(grad.norm().item(), rel=1e-6)
        assert p["max"] == pytest.approx(grad.abs().max().item(), rel=1e-6)
        assert p["module"] == p["name"].rsplit(".", 1)[0] and p["finite"]
    assert [m["module"] for m in data["modules"]] == ["model.fc1", "model.fc2", "model.head"]
    assert data["line"] == 4 and data["wide_spread"] is False
    assert kinds(report) == []


def test_text_table_and_picture(net):
    _, report = cell(net, step(", use_head=True"))
    text = report.to_text()
    assert "Gradient flow · 6 parameter(s) in 3 module(s) got gradients (backward() at line 4)" in text
    assert re.search(r"model\.fc1\.weight\s+\(16, 8\)\s+\d\.\d\de-\d\d\s+\d\.\d\de-\d\d", text)
    html = report.to_html()
    found = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert found and "<svg" not in html.split("graphmagic-gradflow")[1]
    svg = ET.fromstring(base64.b64decode(found.group(1)))
    ns = "{http://www.w3.org/2000/svg}"
    labels = [e.text for e in svg.iter(ns + "text")]
    assert "model.head.bias" in labels and "1e-1" in labels or "1e-2" in labels
    bars = [e for e in svg.iter(ns + "rect") if e.get("fill") == "#4c78a8"]
    assert len(bars) == 6


def test_no_section_without_backward(net):
    _, report = cell(net, "out = model(X)")
    assert gradflow(report) is None and "Gradient flow" not in report.to_text()
    _, report = cell(net, "opt.zero_grad(set_to_none=False)")
    assert gradflow(report) is None


def test_a_backward_through_a_function_the_cell_calls(net):
    run(net, "def train_step():\n    opt.zero_grad()\n    F.cross_entropy(model(X), y).backward()\n    opt.step()")
    _, report = cell(net, "train_step()")
    assert len(gradflow(report)["parameters"]) == 4
    assert kinds(report) == [("unused-parameter", "model.head", None)]  # its .grad stayed None


@pytest.mark.parametrize("args", ["", ", use_head=True, head_mode='no_grad'",
                                  ", use_head=True, head_mode='detach'"])
def test_a_layer_outside_the_graph_is_an_unused_parameter(net, args):
    _, report = cell(net, step(args))
    finding = only(report, "unused-parameter")
    assert (finding.variable, finding.line) == ("model.head", 4)
    assert "model.head (weight, bias) got no gradient" in finding.message
    assert "4 other parameter(s) of model" in finding.message
    assert "requires_grad_(False)" in finding.fix and "find_unused_parameters" in finding.fix
    assert [p["name"] for p in gradflow(report)["parameters"]][-1] == "model.fc2.bias"


def test_unused_even_when_zero_grad_keeps_zeros(net):
    body = "opt.zero_grad(set_to_none=False)\nloss = F.cross_entropy(model(X), y)\nloss.backward()"
    run(net, "model(X, use_head=True).sum().backward()")   # the head has a .grad to zero
    _, report = cell(net, body)
    assert only(report, "unused-parameter").variable == "model.head"


def test_frozen_and_separate_models_are_not_unused(net):
    run(net, "model.head.requires_grad_(False)\nother = torch.nn.Linear(3, 3)")
    _, report = cell(net, step())
    assert kinds(report) == []


def test_one_unused_parameter_of_a_module(net):
    run(net, "model.fc2.bias.requires_grad_(True)")
    _, report = cell(net, "opt.zero_grad()\nloss = (model.fc2.weight * 2).sum() + model.fc1(X).sum()"
                          "\nloss.backward()")
    found = [f for f in report.findings if f.kind == "unused-parameter"]
    assert sorted(f.variable for f in found) == ["model.fc2.bias", "model.head"]


def test_an_optimizer_over_plain_tensors(ip):
    run(ip, "W1 = torch.randn(3, 3, requires_grad=True)\nW2 = torch.randn(3, 3, requires_grad=True)\n"
            "opt = torch.optim.SGD([W1, W2], lr=0.1)")
    _, report = cell(ip, "loss = (W1 * 2).sum()\nloss.backward()")
    assert only(report, "unused-parameter").variable == "W2"
    assert [p["name"] for p in gradflow(report)["parameters"]] == ["W1"]


def test_nonfinite_gradients_without_anomaly(net):
    body = ("opt.zero_grad()\nout = model(X)\nloss = (out - out.detach()).sqrt().sum()\n"
            "loss.backward()")
    _, report = cell(net, body)
    finding = only(report, "nonfinite-grad")
    assert (finding.variable, finding.line) == ("model.fc1.weight", 5)
    assert "NaN" in finding.message and "--anomaly" in finding.message
    bad = [p for p in gradflow(report)["parameters"] if not p["finite"]]
    assert bad and all(p["nonfinite"] in ("nan", "inf") and p["norm"] is None for p in bad)
    assert "NaN" in report.to_text()


SQRT = ("x = torch.tensor([0., 1., 4.], requires_grad=True)\n"
        "y = torch.where(x > 0, x.sqrt(), torch.zeros_like(x))\n"
        "y.sum().backward()")


def test_nan_from_sqrt_at_zero_without_anomaly_points_to_it(ip):
    _, report = cell(ip, SQRT)
    finding = only(report, "nonfinite-grad")
    assert (finding.variable, finding.line) == ("x", 4)
    assert "Run the cell again with --anomaly" in finding.message
    assert math.isnan(ip.user_ns["x"].grad[0])


def test_nan_from_sqrt_at_zero_found_with_anomaly(ip):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Error detected in")  # anomaly detection's own report
        result, report = cell(ip, SQRT, "--anomaly")
    assert isinstance(result.error_in_exec, RuntimeError)   # anomaly detection stops backward()
    assert "SqrtBackward0" in str(result.error_in_exec)
    finding = only(report, "nonfinite-grad")
    assert (finding.variable, finding.line, finding.cell) == ("x", 3, report.cell)
    assert "y = torch.where(x > 0, x.sqrt(), torch.zeros_like(x))" in finding.code
    assert "sqrt (SqrtBackward0" in finding.message and "It flows into x" in finding.message
    assert "torch.where(x > 0, x, 1).sqrt()" in finding.fix
    assert not torch.is_anomaly_enabled()


def test_anomaly_names_the_right_one_of_two_sqrt_ops(ip):
    body = ("a = torch.tensor([4., 9.], requires_grad=True)\nb = torch.tensor([0., 1.], requires_grad=True)\n"
            "u = a.sqrt()\nv = torch.where(b > 0, b.sqrt(), torch.zeros_like(b))\n(u.sum() + v.sum()).backward()")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Error detected in")
        result, report = cell(ip, body, "--anomaly")
    finding = only(report, "nonfinite-grad")
    assert (finding.variable, finding.line) == ("b", 5)


def test_anomaly_mode_is_on_only_inside_the_cell(ip):
    result, _ = cell(ip, "on = torch.is_anomaly_enabled()", "--anomaly")
    assert ip.user_ns["on"] is True and not torch.is_anomaly_enabled()
    cell(ip, "on = torch.is_anomaly_enabled()")
    assert ip.user_ns["on"] is False


def test_anomaly_passes_infinite_gradients_and_says_so(ip):
    _, report = cell(ip, "x = torch.tensor([0., 1.], requires_grad=True)\nx.sqrt().sum().backward()",
                     "--anomaly")
    finding = only(report, "nonfinite-grad")
    assert "Inf" in finding.message and "first NaN only" in finding.message


def test_norms_spanning_six_orders_are_noted(net):
    _, report = cell(net, "opt.zero_grad()\nloss = model.fc1(X).sum() * 1e-9 + model.fc2(model.fc1(X)).sum()\n"
                          "loss.backward()")
    data = gradflow(report)
    assert data["wide_spread"] is False   # fc1 also gets fc2's large gradient
    _, report = cell(net, "opt.zero_grad()\nloss = model.fc1(X).sum() * 1e-9 + model.head(torch.ones(32, 16)).sum()\n"
                          "loss.backward()")
    data = gradflow(report)
    assert data["wide_spread"] is True and data["spread"] > 1e6
    assert "more than six orders of magnitude" in report.to_text()


def test_the_section_keeps_no_tensor_alive(net):
    from torch.multiprocessing.reductions import StorageWeakRef

    gc.disable()
    try:
        cell(net, step())
        ref = StorageWeakRef(net.user_ns["model"].fc1.weight.grad.untyped_storage())
        run(net, "del model, opt, loss")
        assert ref.expired()
        assert gradflow(net.user_ns["r"])["parameters"]
    finally:
        gc.enable()


def test_in_chinese(net):
    run(net, "%autograd_config --lang zh")
    try:
        _, report = cell(net, step())
        assert "梯度流" in report.to_text()
        assert "没有从" in only(report, "unused-parameter").message
    finally:
        run(net, "%autograd_config --lang en")


def test_the_option_in_the_manual_and_as_a_default(ip):
    run(ip, "%autograd_config --anomaly")
    out = ip.run_line_magic("autograd_config", "")
    assert out is None or "--anomaly" in str(out)
    _, report = cell(ip, "on = torch.is_anomaly_enabled()")
    assert ip.user_ns["on"] is True
    run(ip, "%autograd_config --no-anomaly")
    assert "--anomaly" in ip.find_cell_magic("autograd").__doc__


@needs_cuda
def test_norms_on_cuda_cost_one_synchronisation(net):
    from graphmagic.gradflow import probe

    run(net, "model = model.cuda()\nopt = torch.optim.SGD(model.parameters(), lr=0.01)\n"
             "X, y = X.cuda(), y.cuda()")
    syncs = []
    original = probe.grad_stats

    def counted(grads):
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                return original(grads)
        finally:
            torch.cuda.set_sync_debug_mode(0)
            syncs.extend(w for w in caught if "synchroniz" in str(w.message))

    probe.grad_stats = counted
    try:
        _, report = cell(net, step(", use_head=True"))
    finally:
        probe.grad_stats = original
    assert len(gradflow(report)["parameters"]) == 6
    assert len(syncs) == 1
