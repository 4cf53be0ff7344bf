"""The picture itself: one escaping rule for every label, graph() outside the shell,
saving svg/png/pdf/dot, and the path without Graphviz's dot."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch
from torch import nn

import graphmagic
from graph_helpers import SVG, graph_of, node_texts, parse_svg, tensors
from graphmagic.graph import GraphvizMissing, dot

# The names the issue lists: HTML-like markup, Graphviz escapes, a trailing backslash,
# an entity, spaces, quotes and Chinese.
ODD = ["<script>", "<b>x</b>", "\\N", "\\l", "trail\\", "&amp;", "two  spaces", 'say "hi"',
       "it's", "权重"]


def _rendered_names(svg: ET.Element) -> set[str]:
    return {lines[0] for lines in node_texts(svg).values() if lines}


def _assert_no_markup(svg: ET.Element, html: str) -> None:
    tags = {e.tag.split("}")[-1] for e in svg.iter()}
    assert not tags & {"script", "b", "foreignObject", "iframe"}
    assert "<script" not in html and "<b>x</b>" not in html


def test_odd_names_in_modules_render_literally(ip):
    ip.user_ns["ODD"] = ODD
    ip.user_ns["nn"] = nn
    rep, g = graph_of(ip, "m = nn.Module()\n"
                          "m.md = nn.ModuleDict({k: nn.Linear(1, 1, bias=False) for k in ODD})\n"
                          "m.pd = nn.ParameterDict({k: nn.Parameter(torch.ones(1)) for k in ODD})\n"
                          "for k in ODD:\n"
                          "    setattr(m, k, nn.Parameter(torch.ones(1)))\n"
                          "loss = sum(l(torch.ones(1)) for l in m.md.values()).sum()"
                          " + sum(m.pd.values()).sum() + sum(getattr(m, k) for k in ODD).sum()",
                          "--max-nodes 0")
    names = set(tensors(g))
    expected = ({f"m.md[{k!r}].weight" for k in ODD} | {f"m.pd[{k!r}]" for k in ODD}
                | {f"m.{k}" if k.isidentifier() else f"getattr(m, {k!r})" for k in ODD})
    assert expected <= names
    html = rep.to_html()
    svg = parse_svg(html)
    assert expected <= _rendered_names(svg)
    _assert_no_markup(svg, html)


def test_odd_raw_names_render_literally():
    leaves = {k: torch.ones(1, requires_grad=True) for k in ODD}
    loss = sum(v * 2 for v in leaves.values()).sum()
    view = graphmagic.graph(loss, names={**leaves, "loss": loss}, max_nodes=0)
    svg = ET.fromstring(view.svg())
    rendered = _rendered_names(svg)
    assert set(ODD) <= rendered           # \N is not the node id, <b> is not bold, &amp; stays
    assert "\\N" in rendered and not any(r.startswith("t") and r[1:].isdigit() for r in rendered)
    _assert_no_markup(svg, view.to_html())
    assert "&lt;script&gt;" in view.to_html()


def test_escape_is_one_rule_for_everything():
    assert dot.escape("<a&b>") == "&#60;a&#38;b&#62;"
    assert dot.escape("\\N]") == "&#92;&#92;N&#93;"
    assert dot.escape("a\nb") == "a&#92;&#92;nb"   # control characters shown as escapes
    assert dot.escape("权重 'q'") == "权重 &#39;q&#39;"


def test_graph_outside_the_shell_names_the_callers_variables(tmp_path):
    w = torch.tensor([[1.0, 2.0]], requires_grad=True)
    h = w.exp()
    loss = h.sum()
    view = graphmagic.graph(loss)
    data = view.to_json()
    assert data["roots"] == ["loss"]
    assert {"w", "h", "loss"} <= set(tensors(data))
    assert view.source.startswith("digraph autograd {")
    assert ET.fromstring(view.svg()).tag == SVG + "svg"
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"} and "<svg" in bundle["text/html"]
    unnamed = graphmagic.graph((w * 3).sum(), names={})
    assert unnamed.to_json()["roots"] == ["output"]


def test_save_formats(tmp_path):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    view = graphmagic.graph((x * x).sum(), names={"x": x, "权重": x})
    assert view.save(tmp_path / "g.svg").read_text().lstrip().startswith("<?xml")
    assert ET.parse(tmp_path / "g.svg").getroot().tag == SVG + "svg"
    assert (tmp_path / "g.dot").exists() is False
    assert view.save(tmp_path / "g.dot").read_text() == view.source
    assert view.save(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.save(tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="suffixes"):
        view.save(tmp_path / "g.jpg")


def test_graph_rejects_bad_arguments():
    with pytest.raises(TypeError, match="at least one tensor"):
        graphmagic.graph()
    with pytest.raises(TypeError, match="argument 1 is a list"):
        graphmagic.graph([torch.ones(1)])
    with pytest.raises(ValueError, match="max_nodes"):
        graphmagic.graph(torch.ones(1, requires_grad=True), max_nodes=-1)


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))   # an empty folder: no dot anywhere


def test_without_dot_the_report_shows_how_to_install_and_the_source(ip, no_dot, capsys):
    rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()")
    assert g["roots"] == ["y"]                     # the data is all there
    bundle = rep._repr_mimebundle_()
    html = bundle["text/html"]
    for text in ("apt-get install graphviz", "brew install graphviz",
                 "conda install -c conda-forge graphviz", "winget install graphviz"):
        assert text in html
    assert "<svg" not in html and "digraph autograd {" in html and "<pre" in html
    assert "Traceback" not in html + capsys.readouterr().err
    assert rep.errors == []


def test_without_dot_the_api_raises_a_clear_error_but_keeps_dot_source(no_dot, tmp_path):
    x = torch.ones(2, requires_grad=True)
    view = graphmagic.graph((x * 2).sum(), names={"x": x})
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        view.svg()
    with pytest.raises(GraphvizMissing):
        view.save(tmp_path / "g.png")
    assert view.save(tmp_path / "g.dot").read_text().startswith("digraph")
    assert "brew install graphviz" in view.to_html()


def test_a_failing_dot_is_a_message_not_a_traceback(ip, monkeypatch, tmp_path):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()")
    html = rep.to_html()
    assert "could not draw the graph" in html and "syntax error in line 1" in html
    assert "digraph autograd {" in html


def test_collapsed_note_and_legend_are_on_the_picture(ip):
    rep, g = graph_of(ip, "cell = torch.nn.GRUCell(3, 4)\nh = torch.zeros(1, 4)\n"
                          "for _ in range(40):\n    h = cell(torch.randn(1, 3), h)\nloss = h.sum()",
                          "--max-nodes 150")
    assert g["collapsed"]["max_nodes"] == 150 and len(g["nodes"]) <= 150
    svg = parse_svg(rep.to_html())
    text = " ".join((e.text or "") for e in svg.iter(SVG + "text"))
    assert "--max-nodes 0 draws everything" in text
    assert "collapsed group" in text and "leaf tensor" in text
