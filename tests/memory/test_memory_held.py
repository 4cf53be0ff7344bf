"""Memory held by autograd graphs (``memory.autograd``), checked against the tensors the ops
really saved: the ground truth comes from running the same code under
``torch.autograd.graph.saved_tensors_hooks`` in the test, storages told apart by their data
pointers, minus the storages of the namespace's own tensors."""
from __future__ import annotations

import pytest
import torch

from support import MLP, ground_truth, needs_cuda, run

def held(ip, body: str, opts: str = "--no-graph") -> dict:
    result = run(ip, f"%%autograd --out r {opts}\n{body}")
    assert result.error_in_exec is None, result.error_in_exec
    return ip.user_ns["r"].to_json()["memory"]["autograd"]


def test_saved_bytes_of_a_chain_are_the_tensors_the_ops_saved(ip):
    run(ip, "a = torch.randn(256, 256, requires_grad=True)")
    body = "out = a.sin().cos().sum()"
    truth, nodes = ground_truth(ip, body)
    data = held(ip, body)
    assert truth == {"cpu": 256 * 256 * 4}   # cos saved sin's output; sin saved a (a variable)
    assert data["total"] == truth
    assert data["nodes"] == nodes == 3
    assert [g["roots"] for g in data["graphs"]] == [["out"]]


def test_a_kept_forward_holds_its_activations_once_each(ip):
    run(ip, MLP)
    body = "out = model(X)"
    truth, nodes = ground_truth(ip, body)
    data = held(ip, body)
    assert truth == {"cpu": 128 * 256 * 4}   # the ReLU output, saved by relu and by addmm
    assert data["total"] == truth and data["nodes"] == nodes
    top = data["top"][0]
    assert (top["module"], top["op"], top["bytes"]) == ("model[2]", "addmm", 128 * 256 * 4)


def test_an_evaluation_loop_holds_every_iterations_graph(ip):
    run(ip, MLP)
    body = "val = 0\nfor xb in Xs:\n    val = val + torch.nn.functional.cross_entropy(model(xb), y)"
    truth, nodes = ground_truth(ip, body)
    data = held(ip, body)
    assert data["total"] == truth
    assert truth["cpu"] > 4 * 128 * 256 * 4   # four batches of activations, plus the losses'
    assert data["nodes"] == nodes
    text = ip.user_ns["r"].memory.to_text()
    assert "Autograd graphs your variables keep" in text and "model[2] addmm" in text


def test_backward_frees_the_saved_tensors_but_the_nodes_stay(ip):
    run(ip, "a = torch.randn(256, 256, requires_grad=True)")
    data = held(ip, "out = a.sin().cos().sum()\nout.backward()")
    assert data["total"] == {}
    assert data["graphs"][0]["freed"] is True and data["nodes"] == 3


def test_a_saved_tensor_that_is_a_variable_is_not_counted_again(ip):
    run(ip, "a = torch.randn(1000, requires_grad=True)")
    data = held(ip, "h = a.exp()")   # exp saves its result: h itself
    assert data["total"] == {} and data["nodes"] == 1


def test_names_inside_a_bigger_history_join_its_graph(ip):
    run(ip, "a = torch.randn(64, requires_grad=True)")
    data = held(ip, "h = a.sin()\nout = h.cos().sum()")
    assert [(g["roots"], g["inside"]) for g in data["graphs"]] == [(["out"], ["h"])]


def test_graphs_sharing_only_parameters_stay_apart(ip):
    run(ip, MLP)
    data = held(ip, "o1 = model(Xs[0])\no2 = model(Xs[1])")
    assert sorted(g["roots"][0] for g in data["graphs"]) == ["o1", "o2"]


def test_the_cells_value_keeps_its_graph_as_out(ip):
    run(ip, "a = torch.randn(256, 256, requires_grad=True)")
    data = held(ip, "a.sin().cos()")
    count = ip.user_ns["r"].cell
    assert [g["roots"] for g in data["graphs"]] == [[f"Out[{count[3:-1]}]"]]
    assert data["total"] == {"cpu": 256 * 256 * 4}


def test_hooked_saved_tensors_are_not_unpacked(ip):
    run(ip, "a = torch.randn(64, requires_grad=True)\nunpacked = []")
    data = held(ip, "with torch.autograd.graph.saved_tensors_hooks(lambda t: t, "
                    "lambda t: unpacked.append(1) or t):\n    out = a.sin().cos()")
    assert ip.user_ns["unpacked"] == []
    assert data["graphs"][0]["hooked"] == 2 and data["total"] == {}


def test_no_graph_no_line(ip):
    data = held(ip, "t = torch.ones(3)")
    assert data == {"graphs": [], "nodes": 0, "total": {}, "truncated": False, "top": []}
    assert "Autograd graphs" not in ip.user_ns["r"].to_text()


def test_the_memory_line_in_chinese(ip):
    run(ip, "a = torch.randn(256, 256, requires_grad=True)\n%autograd_config --lang zh")
    held(ip, "out = a.sin().cos().sum()")
    assert "变量保留的 autograd 计算图" in ip.user_ns["r"].to_text()
    run(ip, "%autograd_config --lang en")


def test_held_memory_keeps_nothing_alive(ip):
    import gc

    from torch.multiprocessing.reductions import StorageWeakRef

    run(ip, "a = torch.randn(256, 256, requires_grad=True)")
    gc.disable()
    try:
        held(ip, "out = a.sin().cos().sum()")
        cos = ip.user_ns["out"].grad_fn.next_functions[0][0]
        ref = StorageWeakRef(cos._raw_saved_self.data.untyped_storage())  # sin's output
        del cos
        assert not ref.expired()
        run(ip, "del out")
        assert ref.expired()
    finally:
        gc.enable()


@needs_cuda
def test_saved_bytes_per_device_on_cuda(ip):
    run(ip, "a = torch.randn(256, 256, device='cuda', requires_grad=True)\nb = torch.randn(64, requires_grad=True)")
    body = "out = a.sin().cos().sum()\nc = b.sin().cos()"
    truth, _ = ground_truth(ip, body)
    data = held(ip, body)
    dev = f"cuda:{torch.cuda.current_device()}"
    assert data["total"] == truth == {dev: 256 * 256 * 4, "cpu": 64 * 4}


@pytest.mark.parametrize("opts", ["", "--trace"])
def test_html_shows_the_autograd_lines(ip, opts):
    run(ip, "a = torch.randn(256, 256, requires_grad=True)")
    held(ip, "out = a.sin().cos().sum()", "--no-graph " + opts)
    assert "Biggest holders: cos 256.0 KiB" in ip.user_ns["r"].to_html()


def test_a_walk_past_the_safe_limit_stops_and_says_so(ip):
    from graphmagic.tensors.info import SAFE_WALK_LIMIT

    run(ip, "a = torch.ones(3, requires_grad=True)")
    data = held(ip, f"b = a\nfor _ in range({SAFE_WALK_LIMIT + 5000}):\n    b = b * 1.0")
    assert data["truncated"] is True and SAFE_WALK_LIMIT - 1 <= data["nodes"] <= SAFE_WALK_LIMIT
    assert "The walk stopped after 20,000 backward nodes" in ip.user_ns["r"].to_text()
