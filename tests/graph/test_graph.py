"""The inline autograd graph in a real shell: the study notes' cells, names, state,
after-backward correctness, options, engines, and no lingering references."""
from __future__ import annotations

import gc
import weakref

import pytest
import torch

from support import NOTES_LEAF_CELL as LEAF_CELL
from support import needs_cuda, run
from graphmagic.graph.capture import WALK_LIMIT
from graph_support import graph_of, inputs, node_texts, ops, parse_svg, producer, tensors

MAKE_DOT_CELL = """x = torch.tensor([2.0], requires_grad=True)
y = torch.tensor([3.0], requires_grad=True)
z = x * y                  # MulBackward0
w = x + y                  # AddBackward0
out = z + w * 2            # AddBackward0
"""

BACKWARD_CELL = """z.backward()
print(x.requires_grad,y.requires_grad,ind_a.requires_grad,ind_b.requires_grad,z.requires_grad)
print(x.grad,y.grad)
"""


def test_make_dot_cell_names_every_tensor_and_points_forward(ip):
    rep, g = graph_of(ip, MAKE_DOT_CELL)
    t = tensors(g)
    assert set(t) == {"x", "y", "z", "w", "out"}
    assert g["roots"] == ["out"] and t["out"]["root"] and not t["z"]["root"]
    assert t["x"]["leaf"] and t["y"]["leaf"] and not t["z"]["leaf"]
    assert t["x"]["shape"] == [1] and t["x"]["dtype"] == "float32" and t["x"]["device"] == "cpu"
    mul = producer(g, t["z"]["id"])
    assert mul["name"] == "MulBackward0" and mul["op"] == "mul"
    assert {n["names"][0] for n in inputs(g, mul["id"])} == {"x", "y"}  # x -> mul -> z
    assert producer(g, t["w"]["id"])["name"] == "AddBackward0"
    assert g["after_backward"] is False and g["freed"] is False
    assert all(n["grad"] is None for n in t.values())


def test_leaf_retain_grad_and_detach_cell(ip):
    rep, g = graph_of(ip, LEAF_CELL)
    t = tensors(g)
    assert {"x", "y", "ind_a", "ind_b", "z", "c", "det_a"} <= set(t)
    assert sorted(g["roots"]) == ["c", "z"]
    assert t["ind_a"]["retains_grad"] and not t["ind_b"]["retains_grad"]
    assert not t["ind_a"]["leaf"] and not t["ind_b"]["leaf"]
    det = t["det_a"]
    assert det["leaf"] and det["requires_grad"]
    assert det["detached_from"] == t["ind_b"]["id"]
    assert {"src": t["ind_b"]["id"], "dst": det["id"], "kind": "detach", "count": 1} in g["edges"]
    svg = parse_svg(rep.to_html())
    lines = node_texts(svg)[det["id"]]
    assert lines[0] == "det_a" and "detached from ind_b" in lines


def test_backward_only_cell_shows_graph_with_grads_and_freed_saved(ip):
    run(ip, LEAF_CELL)
    rep, g = graph_of(ip, BACKWARD_CELL)
    assert g["roots"] == ["z"]
    t = tensors(g)
    assert t["x"]["grad"]["values"] == [31.0] and t["y"]["grad"]["values"] == [15.0]
    assert t["ind_a"]["grad"]["values"] == [4.0]          # retained
    assert t["ind_b"]["grad"] is None and t["ind_b"]["grad_dropped"]
    assert g["after_backward"] and g["freed"]
    muls = [o for o in ops(g) if o["name"] == "MulBackward0"]
    assert muls and any(o["freed"] for o in muls)
    lines = node_texts(parse_svg(rep.to_html()))
    assert "grad [31]" in lines[t["x"]["id"]]
    assert any(line.startswith("grad not kept") for line in lines[t["ind_b"]["id"]])


def test_saved_and_attrs_before_and_after_backward(ip):
    rep, g = graph_of(ip, "a = torch.tensor([2.0, 3.0], requires_grad=True)\n"
                          "b = a * a\nloss = (b + a).sum()", "--saved --attrs")
    mul = producer(g, tensors(g)["b"]["id"])
    saved = {s["name"]: s for s in mul["saved"]}
    assert set(saved) == {"self", "other"}
    assert saved["self"]["text"] == "(2) float32 = a" and not saved["self"]["freed"]
    add = [o for o in ops(g) if o["name"] == "AddBackward0"][0]
    assert {"name": "alpha", "text": "1", "freed": False} in add["attrs"]
    rep, g = graph_of(ip, "loss.backward()", "--saved --attrs")
    mul = producer(g, tensors(g)["b"]["id"])
    assert all(s["freed"] for s in mul["saved"]) and mul["freed"]
    add = [o for o in ops(g) if o["name"] == "AddBackward0"][0]
    assert {"name": "alpha", "text": "1", "freed": False} in add["attrs"]  # still readable
    lines = node_texts(parse_svg(rep.to_html()))[mul["id"]]
    assert "saved self: freed by backward()" in lines


def test_cell_result_is_a_root_named_out(ip):
    run(ip, "x = torch.ones(3, requires_grad=True)")
    result = run(ip, "%%autograd --out r\n(x * 3).sum()")
    g = ip.user_ns["r"].graph.to_json()
    name = f"Out[{result.execution_count}]"
    assert g["roots"] == [name]
    assert tensors(g)[name]["root"] and tensors(g)["x"]["leaf"]
    assert g["after_backward"] is False and tensors(g)[name]["grad_dropped"] is False


def test_no_graph_without_autograd_tensors(ip):
    rep, g = graph_of(ip, "a = torch.ones(3)\nb = a * 2\nprint(b)")
    assert rep.graph is None and g is None
    assert "autograd graph" not in rep.to_text() and "<svg" not in rep.to_html()
    assert rep.to_json()["graph"] is None


def test_no_graph_option_hides_it(ip):
    rep, g = graph_of(ip, MAKE_DOT_CELL, "--no-graph")
    assert rep.graph is None and "<svg" not in rep.to_html()


def test_graph_option_picks_the_roots(ip):
    run(ip, LEAF_CELL)
    rep, g = graph_of(ip, "pass", "--graph ind_a")
    assert g["roots"] == ["ind_a"]
    assert set(tensors(g)) == {"x", "y", "ind_a"}
    rep, g = graph_of(ip, "pass", "--graph nosuch,ind_b")
    assert g["roots"] == ["ind_b"]
    assert any("nosuch" in n for n in g["notes"])
    rep, g = graph_of(ip, "pass", "--graph nosuch")
    assert g["nodes"] == [] and "no tensor named nosuch" in rep.to_html()
    assert "<svg" not in rep.to_html()


def test_two_names_for_one_tensor_and_module_parameters(ip):
    rep, g = graph_of(ip, "model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh())\n"
                          "class Net(torch.nn.Module):\n"
                          "    def __init__(self):\n"
                          "        super().__init__()\n"
                          "        self.fc1 = torch.nn.Linear(3, 1)\n"
                          "net = Net()\n"
                          "h = model(torch.ones(4, 2))\n"
                          "alias = h\n"
                          "loss = net.fc1(h).sum()")
    t = tensors(g)
    assert {"model[0].weight", "model[0].bias", "net.fc1.weight", "net.fc1.bias"} <= set(t)
    both = [n for n in g["nodes"] if n["kind"] == "tensor" and "h" in n["names"]]
    assert len(both) == 1 and set(both[0]["names"]) == {"h", "alias"}
    assert g["roots"] == ["loss"]


def test_run_cell_magic_path(ip):
    ip.run_cell_magic("autograd", "--out r", "p = torch.ones(2, requires_grad=True)\nq = p.exp().sum()")
    g = ip.user_ns["r"].graph.to_json()
    assert g["roots"] == ["q"]
    assert [o["name"] for o in ops(g)] == ["SumBackward0", "ExpBackward0"]


def test_html_embeds_the_picture_as_an_img_with_the_legend_beside(ip):
    rep, g = graph_of(ip, MAKE_DOT_CELL)
    html = rep.to_html()
    assert '<img src="data:image/svg+xml;base64,' in html and "<svg" not in html
    svg = parse_svg(html)
    texts = {line for lines in node_texts(svg).values() for line in lines}
    assert {"x", "y", "z", "w", "out", "mul", "AddBackward0"} <= texts
    assert "backward() sends gradients against the arrows" in html   # legend: HTML text


def _contains_torch_objects(obj, seen=None) -> bool:
    """True if ``obj`` reaches a tensor or autograd node through plain containers/dataclasses."""
    stack, seen = [obj], set()
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, torch.Tensor) or type(o).__module__ in ("torch", "torch._C") and \
                hasattr(o, "next_functions"):
            return True
        if type(o).__name__.endswith("Backward0") or type(o).__name__ == "AccumulateGrad":
            return True
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
        elif hasattr(o, "__dict__"):
            stack.extend(vars(o).values())
    return False


def test_report_keeps_no_tensor_or_grad_fn_alive(ip):
    run(ip, "class Marker:\n    pass\n"
            "class Keep(torch.autograd.Function):\n"
            "    @staticmethod\n"
            "    def forward(ctx, a):\n"
            "        ctx.marker = Marker()\n"
            "        ctx.save_for_backward(a)\n"
            "        return a * 2\n"
            "    @staticmethod\n"
            "    def backward(ctx, g):\n"
            "        return g * 2")
    rep, g = graph_of(ip, "big = torch.randn(1000, 1000, requires_grad=True)\n"
                          "mid = Keep.apply(big.exp())\nloss = mid.sum()", "--saved --attrs")
    assert rep.graph.svg()
    assert not _contains_torch_objects(rep.graph)
    assert any(o["name"] == "KeepBackward" for o in ops(g))
    ref = weakref.ref(ip.user_ns["big"])
    marker = weakref.ref(ip.user_ns["mid"].grad_fn.marker)   # lives as long as the grad_fn
    run(ip, "del big, mid, loss")  # freed at del, as in plain Python: no gc.collect() first
    assert ref() is None and marker() is None
    assert "big" in {n for node in rep.graph.to_json()["nodes"] for n in node.get("names", [])}


def test_engine_torchviz(ip):
    rep, g = graph_of(ip, MAKE_DOT_CELL, "--engine torchviz")
    assert g["engine"] == "torchviz" and g["roots"] == ["out"]
    assert rep.graph.source.startswith("digraph") and "MulBackward0" in rep.graph.source
    assert parse_svg(rep.to_html()) is not None
    rep, g = graph_of(ip, "out.backward()", "--engine torchviz --saved --attrs")
    assert any("RuntimeError" in n for n in g["notes"])   # torchviz's own limit, as a note
    assert "MulBackward0" in rep.graph.source


def test_engine_torchviz_recursion_is_a_note(ip):
    rep, g = graph_of(ip, "a = torch.ones(1, requires_grad=True)\nb = a\n"
                          "for _ in range(3000):\n    b = b * 1.0", "--engine torchviz")
    assert any("recursion" in n for n in g["notes"])
    assert "Traceback" not in rep.to_html()


def test_chain_of_100000_builds_without_recursion_and_frees_safely(ip):
    rep, g = graph_of(ip, "a = torch.ones(1, requires_grad=True)\nb = a\n"
                          "for _ in range(100_000):\n    b = b + 1")
    assert g["roots"] == ["b"] and "b" in tensors(g)
    assert g["walk_limit"] == WALK_LIMIT and g["ops"] == WALK_LIMIT   # walked from the root
    c = g["collapsed"]
    assert c and c["total_nodes"] == WALK_LIMIT + 1 and len(g["nodes"]) <= 300
    group = [n for n in g["nodes"] if n["kind"] == "group"][0]
    assert group["repeat"] > 15_000 and group["op_counts"][0][0] == "AddBackward0"
    lines = node_texts(parse_svg(rep.to_html()))
    assert any("collapsed" in line for line in lines[group["id"]])
    assert "deeper than graphmagic walks" in rep.graph.to_text()
    run(ip, "del a, b")        # freeing the walked graph must not overflow the C stack
    gc.collect()
    assert run(ip, "1 + 1").result == 2


@pytest.mark.parametrize("lang,word", [("zh", "叶子张量"), ("en", "leaf tensor")])
def test_legend_language(ip, lang, word):
    run(ip, f"%autograd_config --lang {lang}")
    rep, g = graph_of(ip, MAKE_DOT_CELL)
    assert f">{word}</span>" in rep.to_html()
    run(ip, "%autograd_config --reset")


@needs_cuda
def test_graph_on_cuda_device(ip):
    rep, g = graph_of(ip, "x = torch.tensor([1.0, 2.0], requires_grad=True)\n"
                          "y = (x * x).sum()\ny.backward()", "--device cuda --saved")
    t = tensors(g)
    assert t["x"]["device"].startswith("cuda") and t["x"]["grad"]["values"] == [2.0, 4.0]
    assert g["freed"] and any(s["freed"] for o in ops(g) for s in o["saved"])
    assert "autograd graph" in rep.to_html()      # a picture, or the no-dot message
    rep, g = graph_of(ip, "w = torch.ones(3, requires_grad=True)\nv = (w * 2).sum()",
                      "--device cuda --engine torchviz")
    assert g["engine"] == "torchviz" and "MulBackward0" in rep.graph.source


def test_a_raising_cell_still_shows_what_it_built(ip):
    result = run(ip, "%%autograd --out r\nx = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()\n"
                     "raise ValueError('boom')")
    assert isinstance(result.error_in_exec, ValueError)
    rep = ip.user_ns["r"]
    assert rep.errors == [] and rep.exception == "ValueError: boom"
    assert rep.graph.to_json()["roots"] == ["y"]


def test_tuple_result_roots(ip):
    run(ip, "x = torch.ones(2, requires_grad=True)")
    result = run(ip, "%%autograd --out r\n(x * 2).sum(), x.exp(), 3")
    n = result.execution_count
    assert ip.user_ns["r"].graph.to_json()["roots"] == [f"Out[{n}][0]", f"Out[{n}][1]"]


def test_saved_shows_each_ops_saved_bytes_and_none_after_backward(ip):
    run(ip, "a = torch.randn(50, 20, requires_grad=True)\nb = torch.randn(20, 30, requires_grad=True)")
    body = "y = (a @ b).relu().sum()"
    rep, g = graph_of(ip, body, "--saved")
    truth = {}  # what each op saved, measured independently with saved-tensor hooks
    packed = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t) or t, lambda t: t):
        a, b = ip.user_ns["a"], ip.user_ns["b"]
        (a @ b).relu().sum()
    assert sorted(t.untyped_storage().nbytes() for t in packed) == sorted([30 * 50 * 4, 20 * 30 * 4, 50 * 20 * 4])
    truth["relu"] = 50 * 30 * 4                 # its result
    truth["mm"] = 50 * 20 * 4 + 20 * 30 * 4     # self and mat2 (a and b)
    got = {n["op"]: n["saved_bytes"] for n in g["nodes"] if n["kind"] == "op"}
    assert got == {"sum": None, **truth}
    assert "holds 5.9 KiB saved for backward()" in rep.graph.source
    rep, g = graph_of(ip, "y.backward()", "--saved")
    assert all(n["saved_bytes"] is None for n in g["nodes"] if n["kind"] == "op")
