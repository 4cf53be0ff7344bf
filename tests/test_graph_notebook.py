"""Headless notebook (nbclient): the graph arrives inside the report's text/html as an
``<img>`` with a data: URI, with the graph data in the report's JSON."""
from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from graph_helpers import node_texts, parse_svg
from graphmagic.report import JSON_MIME

CELLS = [
    "%load_ext graphmagic\nimport torch",
    "%%autograd\n"
    "x = torch.tensor([1.0], requires_grad=True)\n"
    "y = torch.tensor([3.0], requires_grad=True)\n"
    "ind_a = x * y * 2\nind_a.retain_grad()\nind_b = x + y\nz = ind_a * ind_b + ind_b",
    "%%autograd\nz.backward()\nprint(x.grad)",
]


def test_notebook_shows_the_graph_as_an_embedded_picture():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    reports = []
    for cell in nb.cells[1:]:
        assert not [o for o in cell.outputs if o.output_type == "error"]
        data = [o.data for o in cell.outputs if o.output_type == "display_data"
                and JSON_MIME in o.data]
        assert len(data) == 1
        reports.append(data[0])
    before, after = reports
    for bundle in reports:
        html = bundle["text/html"]
        assert '<img src="data:image/svg+xml;base64,' in html
        names = {lines[0] for lines in node_texts(parse_svg(html)).values()}
        assert {"x", "y", "ind_a", "ind_b", "z"} <= names
    assert before[JSON_MIME]["graph"]["after_backward"] is False
    graph = after[JSON_MIME]["graph"]
    assert graph["roots"] == ["z"] and graph["freed"] is True
    grads = {n["names"][0]: n["grad"] for n in graph["nodes"] if n["kind"] == "tensor"}
    assert grads["x"]["values"] == [31.0] and grads["ind_a"]["values"] == [4.0]
