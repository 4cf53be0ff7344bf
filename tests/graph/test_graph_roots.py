"""Which tensors a cell's graph is drawn from: roots have a grad_fn, are backward() targets
or the cell's value; a lone changed leaf draws nothing; lookups never parse the namespace."""
from __future__ import annotations

from support import run
from graph_support import graph_of, tensors
from graphmagic.graph import roots


def test_reinitialising_parameters_draws_no_graph(ip):
    run(ip, "model = torch.nn.Linear(3, 2)")
    rep, g = graph_of(ip, "for p_ in model.parameters():\n    p_.data.normal_(0, 0.01)")
    assert g is None and "<svg" not in rep.to_html()


def test_new_leaf_alone_draws_nothing_unless_named(ip):
    rep, g = graph_of(ip, "w = torch.randn(3, requires_grad=True)")
    assert g is None
    rep, g = graph_of(ip, "pass", "--graph w")
    assert g["roots"] == ["w"] and tensors(g)["w"]["leaf"]


def test_leaves_are_drawn_as_inputs_of_roots(ip):
    rep, g = graph_of(ip, "w = torch.randn(3, requires_grad=True)\n"
                          "u = torch.randn(3, requires_grad=True)\nv = (w * 2).sum()")
    assert g["roots"] == ["v"]
    assert "w" in tensors(g) and "u" not in tensors(g)


def test_autograd_backward_list_and_grad_targets(ip):
    run(ip, "x = torch.ones(2, requires_grad=True)\na = (x * 2).sum()\nb = (x * 3).sum()")
    rep, g = graph_of(ip, "torch.autograd.backward([a, b])")
    assert sorted(g["roots"]) == ["a", "b"] and g["after_backward"]
    assert tensors(g)["x"]["grad"]["values"] == [5.0, 5.0]
    run(ip, "c = (x * x).sum()")
    rep, g = graph_of(ip, "gx, = torch.autograd.grad(c, [x])")
    assert g["roots"] == ["c"]


def test_quoted_names_match_either_spelling(ip):
    run(ip, "x = torch.ones(2, requires_grad=True)\nd = {'k': (x * 2).sum()}")
    rep, g = graph_of(ip, 'd["k"].backward()')
    assert g["roots"] == ["d['k']"] and g["after_backward"]
    rep, g = graph_of(ip, "pass", '--graph d["k"]')
    assert g["roots"] == ["d['k']"]


def test_namespace_names_are_not_parsed(ip):
    run(ip, "for i in range(300):\n    globals()[f't{i}'] = torch.zeros(1)")
    roots.canonical.cache_clear()
    rep, g = graph_of(ip, "a = 1")
    info = roots.canonical.cache_info()
    assert g is None and info.hits + info.misses < 10


def test_keyword_backward_and_grad_targets_are_roots():
    from graphmagic.cell.source import CellSource
    from graphmagic.code.scan import scan

    facts = scan(CellSource("%%autograd\ntorch.autograd.grad(outputs=loss, inputs=[w])\n"
                            "torch.autograd.backward(tensors=total)\nz.backward()"))
    assert [(s.expr, s.line) for s in facts.backward_calls] == [("loss", 2), ("total", 3), ("z", 4)]
