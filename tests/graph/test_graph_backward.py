"""The graph of what a cell differentiated: roots from backward()/grad() calls (named or
not, computed in this cell or from earlier ones), drawn after backward() for custom
Functions, checkpointing, compiled functions and nested tensors, without keeping a tensor
alive."""
from __future__ import annotations

import weakref

import pytest
import torch
from support import run
from graph_support import by_id, graph_of, inputs, ops, parse_svg, producer, tensors

SQ = ("class Sq(torch.autograd.Function):\n"
      "    @staticmethod\n"
      "    def forward(ctx, a):\n"
      "        ctx.save_for_backward(a)\n"
      "        return a * a\n"
      "    @staticmethod\n"
      "    def backward(ctx, g):\n"
      "        a, = ctx.saved_tensors\n"
      "        return 2 * a * g")


def root_node(g: dict, label: str) -> dict:
    found = [n for n in g["nodes"] if n["kind"] == "tensor" and n["root"] and label in n["names"]]
    assert len(found) == 1, [n["names"] for n in g["nodes"] if n["kind"] == "tensor"]
    return found[0]


def test_an_unnamed_root_is_drawn_under_the_expression_as_written(ip):
    rep, g = graph_of(ip, "x = torch.arange(4.0, requires_grad=True)\n(x*x).sum().backward()\nx.grad")
    assert g["roots"] == ["(x*x).sum()"] and g["after_backward"]
    root = root_node(g, "(x*x).sum()")
    assert producer(g, root["id"])["name"] == "SumBackward0"
    mul = [o for o in ops(g) if o["name"] == "MulBackward0"][0]
    assert [n["names"] for n in inputs(g, mul["id"])] == [["x"]]
    assert tensors(g)["x"]["grad"]["values"] == [0.0, 2.0, 4.0, 6.0]
    assert "(x*x).sum()" in rep.to_text()


def test_a_root_computed_from_an_earlier_cells_tensor(ip):
    run(ip, "x = torch.arange(4.0, requires_grad=True)\ny = 2 * torch.dot(x, x)")
    rep, g = graph_of(ip, "y.sum().backward()")
    assert g["roots"] == ["y.sum()"]
    y = tensors(g)["y"]
    assert not y["root"] and producer(g, y["id"])["name"] == "MulBackward0"
    assert inputs(g, producer(g, root_node(g, "y.sum()")["id"])["id"])[0]["names"] == ["y"]


def test_autograd_grad_of_a_function_of_an_earlier_cell(ip):
    run(ip, "def f(t):\n    return (t ** 3).sum()")
    rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\ng, = torch.autograd.grad(f(x), x)")
    assert g["roots"] == ["f(x)"] and "x" in tensors(g)
    assert [o["name"] for o in ops(g)] == ["SumBackward0", "PowBackward0"]


def test_a_root_differentiated_inside_an_earlier_cells_function_names_that_cell(ip):
    first = run(ip, "def step(w):\n    loss = (w * 2).sum()\n    loss.backward()")
    rep, g = graph_of(ip, "w = torch.ones(2, requires_grad=True)\nstep(w)")
    assert g["roots"] == [f"loss (In[{first.execution_count}] line 3)"]   # a plain cell: no magic line
    assert "w" in tensors(g)


def test_a_loop_draws_one_chain_from_the_last_tensors(ip):
    rep, g = graph_of(ip, "x = torch.ones(3, requires_grad=True)\nfor i in range(5):\n"
                          "    l = (x * i).sum()\n    l.sum().backward()\n    x.grad.zero_()")
    assert g["roots"] == ["l.sum()"]
    names = [n["names"] for n in g["nodes"] if n["kind"] == "tensor"]
    assert sorted(names) == [["l"], ["l.sum()"], ["x"]]
    assert inputs(g, producer(g, root_node(g, "l.sum()")["id"])["id"])[0]["names"] == ["l"]


def test_named_and_unnamed_roots_together(ip):
    rep, g = graph_of(ip, "a = torch.ones(2, requires_grad=True)\nb = (a * 2).sum()\n"
                          "b.backward()\n(a * 3).sum().backward()")
    assert sorted(g["roots"]) == ["(a * 3).sum()", "b"]
    assert len([n for n in g["nodes"] if n["kind"] == "tensor" and "a" in n["names"]]) == 1


def test_a_custom_function_after_backward_shows_its_class_and_freed_saved_tensors(ip):
    run(ip, SQ)
    rep, g = graph_of(ip, "z = torch.randn(3, requires_grad=True)\nSq.apply(z).sum().backward()",
                      "--saved")
    sq = [o for o in ops(g) if o["name"] == "SqBackward"][0]
    assert sq["op"] == "Sq" and sq["freed"]
    assert sq["saved"] == [{"name": "saved_tensors", "text": "", "freed": True}]
    assert not any("second time" in n for n in g["notes"])
    assert parse_svg(rep.to_html()) is not None


def test_a_named_custom_function_output_after_backward(ip):
    run(ip, SQ)
    rep, g = graph_of(ip, "z = torch.randn(3, requires_grad=True)\ns = Sq.apply(z).sum()\ns.backward()",
                      "--saved --attrs")
    assert g["roots"] == ["s"] and [o["op"] for o in ops(g)] == ["sum", "Sq"]


def test_reentrant_checkpoint_after_backward(ip):
    rep, g = graph_of(ip, "from torch.utils.checkpoint import checkpoint\n"
                          "w = torch.randn(3, requires_grad=True)\n"
                          "out = checkpoint(lambda t: t.sin() * 2, w, use_reentrant=True).sum()\n"
                          "out.backward()", "--saved")
    assert g["roots"] == ["out"]
    block = [o for o in ops(g) if o["name"] == "CheckpointFunctionBackward"][0]
    assert block["op"] == "CheckpointFunction" and block["freed"]
    assert tensors(g)["w"]["grad"] is not None


def test_compiled_function_after_backward(ip):
    # backend="aot_eager": the same autograd node as inductor (CompiledFunctionBackward),
    # without a C compiler run in the test suite
    rep, g = graph_of(ip, "x = torch.randn(3, requires_grad=True)\n"
                          "f = torch.compile(lambda t: (t.sin() * t).sum(), backend='aot_eager')\n"
                          "f(x).backward()", "--saved")
    assert g["roots"] == ["f(x)"]
    compiled = [o for o in ops(g) if o["name"] == "CompiledFunctionBackward"][0]
    assert compiled["op"] == "CompiledFunction" and compiled["freed"]


def test_nested_tensors_after_backward(ip):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # nested tensors are a prototype
        rep, g = graph_of(ip, "a = torch.nested.nested_tensor([torch.randn(2), torch.randn(3)], "
                              "requires_grad=True)\n"
                              "torch.nested.to_padded_tensor(a * 2, 0.0).sum().backward()", "--saved")
    assert [o["name"] for o in ops(g)] == ["SumBackward0", "ToPaddedTensorBackward0", "MulBackward0"]
    assert tensors(g)["a"]["shape"] is None


@pytest.mark.parametrize("opts", ["--engine torchviz", "--engine torchviz --saved"])
def test_torchviz_falls_back_with_a_note(ip, opts):
    run(ip, SQ)
    rep, g = graph_of(ip, "z = torch.randn(3, requires_grad=True)\ns = Sq.apply(z).sum()\ns.backward()",
                      opts)
    assert g["engine"] == "graphmagic" and g["roots"] == ["s"]
    assert any("graphmagic's own engine drew it" in n for n in g["notes"])
    assert not any("second time" in n for n in g["notes"])


def test_torchviz_with_a_gone_root_draws_with_the_own_engine(ip):
    rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\n(x * 2).sum().backward()",
                      "--engine torchviz")
    assert g["roots"] == ["(x * 2).sum()"] and any("torchviz draws only" in n for n in g["notes"])


def test_roots_without_pitfall_checks(ip):
    rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\n(x * 2).sum().backward()",
                      "--no-warn all")
    assert g["roots"] == ["(x * 2).sum()"]


def test_no_tensor_is_kept_alive_by_the_roots(ip):
    run(ip, "import weakref, gc\ngc.disable()")
    try:
        run(ip, "big = torch.randn(500, 500, requires_grad=True)\nref = weakref.ref(big)")
        rep, g = graph_of(ip, "(big * 2).sum().backward()\n(big * 3).sum().backward()\n"
                              "del big\nalive_in_cell = ref() is not None")
        assert ip.user_ns["alive_in_cell"] is False     # freed at del, as in a plain cell
        assert g["roots"] == ["(big * 2).sum()", "(big * 3).sum()"]
        assert "big (before line 4)" in {name for n in g["nodes"] for name in n.get("names", [])}
    finally:
        run(ip, "gc.enable()")


def test_a_rebound_leaf_is_named_with_its_former_name(ip):
    run(ip, "x = torch.ones(2, requires_grad=True)")
    rep, g = graph_of(ip, "y = (x * 2).sum()\nx = torch.zeros(2)")
    assert "x (before line 3)" in tensors(g)
    rep, g = graph_of(ip, "a = torch.ones(2, requires_grad=True)\nb = (a * a).sum()\n"
                          "b.backward(retain_graph=True)\na = torch.zeros(2)")
    assert "a (before line 5)" in tensors(g)


def test_a_detached_tensor_made_a_leaf_is_drawn_as_a_leaf(ip):
    from graphmagic.graph import dot

    rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\nind_b = x * 2\n"
                          "det_a = ind_b.detach()\ndet_a.requires_grad_(True)\n"
                          "out = (det_a * 3).sum() + ind_b.sum()\nout.backward()")
    det = tensors(g)["det_a"]
    assert det["leaf"] and det["requires_grad"]
    assert by_id(g)[det["detached_from"]]["names"] == ["ind_b"]
    node = rep.graph.graph.nodes[det["id"]]
    style = dot.tensor_style(node)
    assert style["fillcolor"] == dot.COLORS["leaf"][0] and "dashed" not in style["style"]
    assert any(e["kind"] == "detach" and e["dst"] == det["id"] for e in g["edges"])


def test_the_graph_holds_no_torch_object_after_backward(ip):
    rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\n(x * 2).sum().backward()")
    seen, stack = set(), [rep.graph]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        assert not isinstance(obj, (torch.Tensor, weakref.ReferenceType))
        assert "torch" not in type(obj).__module__
        if isinstance(obj, dict):
            stack += list(obj.keys()) + list(obj.values())
        elif isinstance(obj, (list, tuple, set)):
            stack += list(obj)
        elif hasattr(obj, "__dict__"):
            stack += list(vars(obj).values())
