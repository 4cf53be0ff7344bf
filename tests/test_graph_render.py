"""The picture itself: one escaping rule for every label, graph() outside the shell,
saving svg/png/pdf/dot, the graphviz-like API, the path without Graphviz's dot, and how
the picture is laid out and embedded (folded branches, straight chains, sizes)."""
from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import graphviz
import pytest
import torch
from torch import nn

import graphmagic
from conftest import run
from graph_helpers import SVG, graph_of, node_texts, parse_svg, tensors
from graphmagic.graph import GraphvizMissing, dot, render, section

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
    html = view.to_html()
    _assert_no_markup(parse_svg(html), html)
    assert set(ODD) <= _rendered_names(parse_svg(html))


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
    assert set(bundle) == {"text/plain", "text/html"}
    assert '<img src="data:image/svg+xml;base64,' in bundle["text/html"] and "<svg" not in bundle["text/html"]
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


def test_collapsed_note_and_legend_are_html_text_beside_the_picture(ip):
    rep, g = graph_of(ip, "cell = torch.nn.GRUCell(3, 4)\nh = torch.zeros(1, 4)\n"
                          "for _ in range(40):\n    h = cell(torch.randn(1, 3), h)\nloss = h.sum()",
                          "--max-nodes 150")
    assert g["collapsed"]["max_nodes"] == 150 and len(g["nodes"]) <= 150
    html = rep.graph.to_html()
    before_picture = html[:html.index("<img")]
    assert "--max-nodes 0 draws everything" in before_picture
    assert ">collapsed group</span>" in before_picture and ">leaf tensor</span>" in before_picture
    svg_text = " ".join((e.text or "") for e in parse_svg(html).iter(SVG + "text"))
    assert "--max-nodes" not in svg_text and "leaf tensor" not in svg_text  # not twice


def _loss_of_loop(steps=40):
    w = torch.tensor(0.5, requires_grad=True)
    h = torch.ones(3)
    for _ in range(steps):
        h = torch.tanh(h * w + 1)
    return w, h.sum()


def test_graph_objects_behave_like_graphviz_sources(tmp_path):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    view = graphmagic.graph((x * x).sum(), names={"x": x})
    assert view.source.startswith("digraph autograd {")
    assert view.pipe(format="png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.pipe("svg", encoding="utf-8") == view.svg()
    assert view.pipe(format="dot").decode().startswith("digraph")   # any Graphviz format
    with pytest.raises(ValueError, match="choose from"):
        view.pipe(format="nosuch")
    out = view.render(tmp_path / "g", format="pdf")
    assert out == str(tmp_path / "g.pdf") and (tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "g").read_text() == view.source             # the DOT file, like graphviz
    out = view.render(outfile=tmp_path / "sub" / "pic.png", cleanup=True)
    assert out == str(tmp_path / "sub" / "pic.png") and (tmp_path / "sub" / "pic.png").exists()
    assert not (tmp_path / "sub" / "pic.gv").exists()
    assert view.render(directory=tmp_path) == str(tmp_path / "autograd.gv.svg")


def test_mimebundle_honours_graphviz_jupyter_format():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    view = graphmagic.graph((x * x).sum(), names={"x": x})
    assert set(view._repr_mimebundle_()) == {"text/plain", "text/html"}
    images = view._repr_mimebundle_(include=["image/png", "image/svg+xml"], exclude=["image/svg+xml"])
    assert set(images) == {"image/png"} and images["image/png"][:4] == b"\x89PNG"
    assert view._repr_mimebundle_(include=[]) == {}
    old = graphviz.set_jupyter_format("png")
    try:
        html = view._repr_mimebundle_()["text/html"]
        assert '<img src="data:image/png;base64,' in html and "image/svg+xml" not in html
        width = re.search(r"width:(\d+)px", html).group(1)
        png = base64.b64decode(re.search(r"base64,([^\"]+)", html).group(1))
        assert render.size(png, "png")[0] == float(width)     # shown at its natural size
    finally:
        graphviz.set_jupyter_format(old)
    assert "image/svg+xml;base64," in view.to_html()


def test_without_dot_pipe_and_render_raise_and_write_nothing(no_dot, tmp_path):
    x = torch.ones(2, requires_grad=True)
    view = graphmagic.graph((x * 2).sum(), names={"x": x})
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        view.pipe(format="png")
    with pytest.raises(GraphvizMissing):
        view.render(tmp_path / "g")
    assert list(tmp_path.iterdir()) == []


def test_identical_branches_are_folded_in_the_picture_only():
    x = torch.ones(3, requires_grad=True)
    outs = [torch.sin(x * i) for i in range(30)]
    total = torch.stack(outs).sum()
    view = graphmagic.graph(total, names={"x": x, "total": total})
    data = view.to_json()
    assert sum(1 for n in data["nodes"] if n["kind"] == "op") == 62     # the data keeps all
    svg = ET.fromstring(view.svg())
    titles = [g.find(SVG + "title").text for g in svg.iter(SVG + "g") if g.get("class", "").startswith("node")]
    assert sum(1 for t in titles if t.startswith("o")) == 2 * 2 + 2    # two branches drawn
    assert "f0" in titles
    labels = node_texts(svg)["f0"]
    assert labels[:2] == ["⋯ 28 more branches like these", "each the same 2 ops as the branches beside"]
    few = [torch.sin(x * i) for i in range(4)]
    assert "f0" not in graphmagic.graph(torch.stack(few).sum(), names={}).source  # below FOLD_MIN


def test_long_loops_are_drawn_as_a_straight_column():
    w, loss = _loss_of_loop()
    view = graphmagic.graph(loss, names={"w": w, "loss": loss})
    width_px, height_px = render.size(view.svg().encode(), "svg")
    assert view.to_json()["ops"] == 121
    assert width_px < 700 < 10_000 < height_px     # not a staircase 5,000 px wide


def test_picture_is_sized_to_the_page_and_tall_ones_open_at_the_roots():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    small = graphmagic.graph((x * x).sum(), names={"x": x}).to_html()
    w, h = render.size(base64.b64decode(re.search(r"base64,([^\"]+)", small).group(1)), "svg")
    assert f"width:{w:.0f}px" in small                     # small: natural size
    assert "max-height" not in small and "column-reverse" in small
    w_, loss = _loss_of_loop()
    tall = graphmagic.graph(loss, names={"w": w_, "loss": loss}).to_html()
    assert f"max-height:{section.BOX_HEIGHT}px" in tall and "opens at the roots" in tall
    assert "min-width:" in tall
    svg = parse_svg(tall)
    roots = [g for g in svg.iter(SVG + "g") if "root" in (g.get("class") or "").split()]
    assert [g.find(SVG + "title").text for g in roots] and node_texts(svg)[roots[0].find(SVG + "title").text][0] == "loss"


def test_chinese_label_lines_get_more_height(ip):
    run(ip, "%autograd_config --lang zh")
    try:
        rep, g = graph_of(ip, "x = torch.ones(2, requires_grad=True)\ny = (x * 2).sum()")
        source = rep.graph.source
    finally:
        run(ip, "%autograd_config --lang en")
    line = next(line for line in source.splitlines() if "叶子节点" in line)
    assert '叶子节点 · requires_grad</FONT><FONT POINT-SIZE="13"> </FONT>' in line
    assert '<B>x</B><BR/><FONT POINT-SIZE="9">(2) float32 · cpu</FONT><BR/>' in line   # Latin lines: as before


def test_sizes_of_raster_pictures():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    view = graphmagic.graph((x * x).sum(), names={"x": x})
    png, jpeg = view.pipe("png"), view.pipe("jpeg")
    assert render.size(png, "png") == render.size(jpeg, "jpeg")
    assert render.size(b"not a picture", "png") is None
