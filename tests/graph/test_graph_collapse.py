"""Big graphs: shared leaves drawn once per use, collapsing past --max-nodes into repeated
blocks or bands, named tensors kept visible, --max-nodes 0 drawing everything."""
from __future__ import annotations

import torch

import graphmagic
from graph_support import by_id, tensors
from graphmagic.graph.copies import SPLIT_FROM


def gru(steps: int, keep: bool = False):
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(3, 4)
    h = torch.zeros(1, 4)
    hs = []
    for _ in range(steps):
        h = cell(torch.randn(1, 3), h)
        hs.append(h)
    names = {"cell": cell, "h": h, "loss": h.sum()}
    if keep:
        names["hs"] = hs
    return names["loss"], names


def nodes_named(data, name):
    return [n for n in data["nodes"] if n["kind"] == "tensor" and name in n["names"]]


def test_shared_weights_are_drawn_once_per_use_without_long_edges():
    loss, names = gru(12)
    data = graphmagic.graph(loss, names=names, max_nodes=0).to_json()
    assert len(data["nodes"]) > SPLIT_FROM and data["collapsed"] is None
    copies = nodes_named(data, "cell.weight_hh")
    assert len(copies) > 5 and {c["copies"] for c in copies} == {len(copies)}
    assert sorted(c["copy"] for c in copies) == list(range(1, len(copies) + 1))
    consumers = {}
    for e in data["edges"]:
        if e["src"] in {c["id"] for c in copies}:
            consumers.setdefault(e["src"], []).append(e["dst"])
    assert all(len(v) <= 2 for v in consumers.values())   # each copy feeds one step


def test_small_graphs_keep_one_node_per_tensor():
    x = torch.tensor([2.0], requires_grad=True)
    y = torch.tensor([3.0], requires_grad=True)
    out = x * y + (x + y) * 2
    data = graphmagic.graph(out, names={"x": x, "y": y}).to_json()
    assert len(nodes_named(data, "x")) == 1 and nodes_named(data, "x")[0]["copies"] == 1


def test_unrolled_rnn_collapses_into_one_repeated_block():
    loss, names = gru(300)
    data = graphmagic.graph(loss, names=names).to_json()
    c = data["collapsed"]
    assert c["max_nodes"] == 300 and c["total_nodes"] > 4000 and len(data["nodes"]) <= 300
    groups = [n for n in data["nodes"] if n["kind"] == "group"]
    assert len(groups) == 1 and groups[0]["repeat"] > 100 and groups[0]["block_ops"] == 16
    assert dict(groups[0]["op_counts"])["AddmmBackward0"] > 200
    assert data["roots"] == ["loss"] and tensors(data)["loss"]["root"]
    assert nodes_named(data, "cell.weight_ih")        # the weights stay visible at both ends
    ids = set(by_id(data))
    assert all(e["src"] in ids and e["dst"] in ids for e in data["edges"])


def test_named_tensors_inside_the_collapsed_middle_are_kept_or_listed():
    loss, names = gru(200, keep=True)
    data = graphmagic.graph(loss, names=names).to_json()
    group = [n for n in data["nodes"] if n["kind"] == "group"][0]
    drawn = {name for n in data["nodes"] if n["kind"] == "tensor" for name in n["names"]}
    hidden = {f"hs[{i}]" for i in range(200)} - drawn
    assert hidden and group["named_count"] == len(hidden)   # too many to draw: listed
    assert set(group["named"]) <= hidden
    # a plain variable in the middle is pulled out of the group
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(3, 4)
    h = torch.zeros(1, 4)
    for i in range(200):
        h = cell(torch.randn(1, 3), h)
        if i == 100:
            middle = h
    data = graphmagic.graph(h.sum(), names={"cell": cell, "middle": middle, "h": h}).to_json()
    assert data["collapsed"]["pulled"] == 1 and nodes_named(data, "middle")


def test_wide_graph_is_cut_into_bands():
    x = torch.randn(4, requires_grad=True)
    total = torch.stack([torch.tanh(x * i) for i in range(2000)]).sum()
    data = graphmagic.graph(total, names={"x": x, "total": total}, max_nodes=100).to_json()
    assert len(data["nodes"]) <= 100
    groups = [n for n in data["nodes"] if n["kind"] == "group"]
    assert groups and sum(g["ops"] for g in groups) >= 3999
    counts = {op for g in groups for op, _ in g["op_counts"]}
    assert {"TanhBackward0", "MulBackward0"} <= counts
    assert nodes_named(data, "x") and nodes_named(data, "total")


def test_max_nodes_zero_draws_everything():
    loss, names = gru(40)
    data = graphmagic.graph(loss, names=names, max_nodes=0).to_json()
    assert data["collapsed"] is None
    assert len([n for n in data["nodes"] if n["kind"] == "op"]) == data["ops"] == 40 * 16 + 1


def test_transformer_stack_is_one_repeated_layer_block():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0)
    model = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)
    loss = model(torch.randn(2, 3, 8)).pow(2).mean()
    data = graphmagic.graph(loss, names={"model": model, "loss": loss}).to_json()
    group = [n for n in data["nodes"] if n["kind"] == "group"][0]
    assert group["repeat"] >= 5 and 40 <= group["block_ops"] <= 80
    assert group["named_count"] > 20 and group["named"][0].startswith("model.layers[")
    assert nodes_named(data, "model.layers[0].linear1.weight")   # the input end stays drawn
