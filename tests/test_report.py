"""The Report contract: fields, sections, mime bundle, JSON, escaping."""
from __future__ import annotations

import json
import re

import pytest
import torch
from support import run

from graphmagic import Finding, Report
from graphmagic.display import CODE_STYLE, html_text
from graphmagic.report import JSON_MIME, REPORT_VERSION

EVIL = "<script>alert('x')</script>&"


class Section:
    """A minimal section per the protocol; counts what was rendered."""

    def __init__(self, name, filled=True, html_body=None):
        self.name, self.filled, self.calls = name, filled, []
        self.html_body = html_body

    def __bool__(self):
        return self.filled

    def to_json(self):
        self.calls.append("json")
        return {"section": self.name, "rows": [1, 2]}

    def to_text(self):
        self.calls.append("text")
        return f"{self.name} section text"

    def to_html(self):
        self.calls.append("html")
        return self.html_body or f"<p>{self.name} section html</p>"


class Broken(Section):
    """A section with a bug in every method."""

    def __bool__(self):
        raise KeyError("bool")

    def to_json(self):
        raise KeyError("json")

    def to_text(self):
        raise KeyError("text")

    def to_html(self):
        raise KeyError("<html>")


def _finding(**kw):
    fields = dict(kind="nonleaf-grad", variable="y", line=3, cell="In[7]",
                  message="y.grad is None", fix="call y.retain_grad()", code="y.grad", count=1)
    fields.update(kw)
    return Finding(**fields)


def _report(**kw):
    fields = dict(cell="In[7]", device=torch.device("cpu"), requested_device="cpu",
                  wall_time=0.25, graph=Section("graph"), variables=Section("variables"),
                  memory=Section("memory"), findings=[_finding()])
    fields.update(kw)
    return Report(**fields)


def test_bundle_has_the_three_types():
    bundle = _report()._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", JSON_MIME}
    assert isinstance(bundle["text/plain"], str)
    assert bundle["text/html"].startswith('<div class="graphmagic-report"')
    assert bundle[JSON_MIME]["cell"] == "In[7]"


@pytest.mark.parametrize("include,exclude,expected", [
    ({"text/plain"}, None, {"text/plain"}),
    (None, {"text/html"}, {"text/plain", JSON_MIME}),
    ({"text/html", JSON_MIME}, {JSON_MIME}, {"text/html"}),
    ({"image/png"}, None, set()),
])
def test_include_and_exclude_are_honoured(include, exclude, expected):
    report = _report()
    bundle = report._repr_mimebundle_(include=include, exclude=exclude)
    assert set(bundle) == expected
    if "text/html" not in expected:
        assert "html" not in report.graph.calls  # only what is asked for is rendered
    if JSON_MIME not in expected:
        assert "json" not in report.graph.calls


def test_json_round_trips_and_has_every_field():
    report = _report(exception="ValueError: boom", errors=["TrackingProbe: oops"],
                     device_note="note")
    data = report._repr_mimebundle_(include={JSON_MIME})[JSON_MIME]
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "version": REPORT_VERSION, "cell": "In[7]", "device": "cpu", "requested_device": "cpu",
        "device_note": "note", "wall_time": 0.25,
        "variables": {"section": "variables", "rows": [1, 2]},
        "memory": {"section": "memory", "rows": [1, 2]},
        "graph": {"section": "graph", "rows": [1, 2]},
        "gradflow": None,
        "findings": [_finding().to_json()],
        "exception": "ValueError: boom", "errors": ["TrackingProbe: oops"], "interrupted": False,
    }
    assert data["findings"][0] == {"kind": "nonleaf-grad", "variable": "y", "line": 3,
                                   "cell": "In[7]", "message": "y.grad is None",
                                   "fix": "call y.retain_grad()", "code": "y.grad", "count": 1}


def test_empty_report_json():
    data = Report()._repr_mimebundle_()[JSON_MIME]
    assert data["device"] is None
    assert data["variables"] is data["memory"] is data["graph"] is None
    assert data["findings"] == [] and data["errors"] == []


def test_warnings_is_an_alias_of_findings():
    report = _report()
    assert report.warnings is report.findings
    report.findings.append(_finding(kind="backward-twice"))
    assert [f.kind for f in report.warnings] == ["nonleaf-grad", "backward-twice"]


def test_sections_shown_in_order_and_falsy_ones_skipped():
    report = _report(variables=Section("variables", filled=False))
    text = report.to_text()
    assert "graph section text" in text and "memory section text" in text
    assert "variables section" not in text
    assert text.index("graph section") < text.index("memory section")
    html = report.to_html()
    assert '<div class="graphmagic-graph"><p>graph section html</p></div>' in html
    assert "variables section" not in html
    assert [name for name, _ in report.sections()] == ["graph", "memory"]


def test_quiet_hides_sections_but_not_findings_or_notes():
    report = _report(quiet=True, device_note="cuda is not available", errors=["boom"])
    for shown in (report.to_text(), report.to_html()):
        assert "section" not in shown
        assert "y.grad is None" in shown
        assert "cuda is not available" in shown
        assert "boom" in shown
    assert report.to_json()["graph"] == {"section": "graph", "rows": [1, 2]}  # data stays


def test_is_empty():
    assert Report().is_empty()
    assert Report(graph=Section("graph")).is_empty()  # a quiet report shows only findings
    assert not Report(findings=[_finding()]).is_empty()
    assert not Report(device_note="fell back").is_empty()
    assert not Report(errors=["x"]).is_empty()


def test_html_escapes_everything():
    report = _report(cell=EVIL, device_note=EVIL, errors=[EVIL],
                     findings=[_finding(variable=EVIL, message=EVIL, fix=EVIL, code=EVIL)],
                     graph=None, variables=None, memory=None)
    html = report.to_html()
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "&amp;" in html
    assert html.count("<div") == html.count("</div>")


def test_text_shows_header_finding_and_fix():
    report = _report(findings=[_finding(count=3)], wall_time=1.5)
    text = report.to_text()
    assert text.splitlines()[0] == "In[7] · device cpu · 1.50 s"
    assert "[nonleaf-grad] In[7] line 3: y.grad (3 times)" in text
    assert "fix: call y.retain_grad()" in text
    assert repr(report) == text
    assert Report(cell="In[1]", wall_time=0.0021).header() == "In[1] · device as written · 2.1 ms"


def test_displayed_through_ipythons_formatter(ip):
    data, _ = ip.display_formatter.format(_report())
    assert {"text/plain", "text/html", JSON_MIME} <= set(data)
    assert data[JSON_MIME]["device"] == "cpu"


def test_displayed_report_of_a_cell_carries_json(ip):
    shown = []
    ip.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
    try:
        result = run(ip, "%%autograd --device cpu --out r\nx = torch.ones(2)")
    finally:
        del ip.display_pub.publish
    assert len(shown) == 1
    data = shown[0][JSON_MIME]
    assert data == json.loads(json.dumps(ip.user_ns["r"].to_json(), default=str))
    assert data["cell"] == f"In[{result.execution_count}]"
    assert data["device"] == "cpu" and data["wall_time"] > 0


def test_a_broken_section_does_not_take_the_report_down(ip, capsys):
    report = _report(variables=Broken("variables"))
    data, _ = ip.display_formatter.format(report)
    shown = capsys.readouterr()
    assert "Traceback" not in shown.out + shown.err
    assert {"text/plain", "text/html", JSON_MIME} <= set(data)
    assert "graph section text" in data["text/plain"] and "memory section text" in data["text/plain"]
    assert "Broken.to_text: KeyError('text')" in data["text/plain"]
    assert "graph section html" in data["text/html"]
    assert "Broken.to_html: KeyError(&#x27;&lt;html&gt;&#x27;)" in data["text/html"]
    assert data[JSON_MIME]["variables"] is None
    assert data[JSON_MIME]["errors"] == ["Broken.to_json: KeyError('json')"]
    assert data[JSON_MIME]["graph"] == {"section": "graph", "rows": [1, 2]}
    assert report.errors == []  # rendering does not change the report


def test_a_broken_finding_does_not_raise_from_the_bundle(ip, capsys):
    report = _report(findings=[object()])
    data, _ = ip.display_formatter.format(report)
    assert "Traceback" not in capsys.readouterr().out
    assert "AttributeError" in data["text/plain"]
    assert "AttributeError" in data["text/html"] and "<object" not in data["text/html"]
    assert data[JSON_MIME]["cell"] == "In[7]" and "AttributeError" in data[JSON_MIME]["errors"][0]


# ---- HTML that every frontend keeps (JupyterLab's sanitizer, dark themes, narrow pages) ----
_STYLE = re.compile(r'style="([^"]*)"')


def test_findings_are_blocks_with_code_and_no_backticks():
    report = _report(findings=[_finding(message="wrote `Z[:] = X + Y` in place",
                                        fix="put it under `with torch.no_grad():`", count=2)],
                     graph=None, variables=None, memory=None)
    html = report.to_html()
    finding = html[html.index('class="graphmagic-finding"'):]
    assert "`" not in html
    assert "<code" in finding and ">Z[:] = X + Y</code>" in finding and ">y.grad</code>" in finding
    assert ">with torch.no_grad():</code>" in finding
    assert finding.count("<div>") >= 2 and "white-space:pre" not in finding   # lines as blocks
    text = report.to_text()
    assert "`Z[:] = X + Y`" in text and "<code" not in text


def test_html_text_escapes_before_marking_code():
    assert html_text("a `<b>` & c") == f'a <code style="{CODE_STYLE}">&lt;b&gt;</code> &amp; c'
    assert html_text("no code `here") == "no code `here"


def test_styles_survive_sanitizers_and_themes(ip):
    run(ip, "x = torch.ones(2, requires_grad=True)")
    run(ip, "%%autograd --out r\ny = (x * 2).sum()\ny.backward()\nprint(y.grad)")
    html = ip.user_ns["r"].to_html()
    assert "<style" not in html and "<script" not in html and "<svg" not in html
    for style in _STYLE.findall(html):
        seen = set()
        for decl in filter(None, (d.strip() for d in style.split(";"))):
            prop, _, value = decl.partition(":")
            if "var(" in value:   # dropped by JupyterLab's sanitizer: a plain value comes first
                assert any(prop == p or prop.startswith(p + "-") for p in seen), style
            seen.add(prop)
    header = html.split("\n")[1]
    assert "graphmagic" in header and "opacity" in header and "color" not in header


def test_table_ids_are_short_with_the_full_id_on_hover(ip):
    run(ip, "a = torch.ones(2)\nb = torch.ones(2)")
    run(ip, "%%autograd --out r\na = a + 1\nc = b.exp()")
    rep = ip.user_ns["r"]
    html = rep.variables.to_html()
    rows = {r["name"]: r for r in rep.variables.to_json()["rows"]}
    before, after = rows["a"]["id"]
    shown = re.findall(r'<span title="(\d+)" style="white-space:nowrap">…(\d+)</span>', html)
    assert (str(before), str(before)[-len(shown[0][1]):]) in shown
    assert all(full.endswith(short) and len(short) >= 4 for full, short in shown)
    assert len({short for _, short in shown}) == len({full for full, _ in shown})
    main, folded = html.split("<details", 1)
    assert ">is_<wbr>leaf</th>" not in main and ">is_<wbr>leaf</th>" in folded
    assert f">{after}</span>" in folded                 # the full ids, under the table
    assert main.count('<div style="overflow-x:auto;max-width:100%;">') == 1   # only the table scrolls
    assert str(after) in rep.variables.to_text()         # the terminal table keeps full ids
