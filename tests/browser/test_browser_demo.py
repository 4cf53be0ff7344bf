"""The executed demo's HTML page (nbconvert, as ``python -m graphmagic run --html`` writes
it) and a notebook of big graphs, in headless Chromium at 1024 and 1280 px: every report
fits its output area, every picture is drawn, each graph's roots are in the first view of
its box, no Markdown backticks are left, findings keep their lines."""
from __future__ import annotations

import pytest

from .conftest import (BIG_CELLS, decode_svg, decode_text, load, measure, op_count, pictures_in,
                       roots_in_view, shoot)

WIDTHS = (1024, 1280)


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda w: f"{w}px")
def pages(request, chrome, executed):
    """``(width, {"demo": measurements, "big": measurements}, driver)``."""
    driver = chrome(request.param, 900)
    measured = {}
    for name, (nb, html) in executed.items():
        load(driver, html, wait_for=1)
        measured[name] = measure(driver)
    return request.param, measured, driver


def _reports(pages):
    _, measured, _ = pages
    return [r for m in measured.values() for r in m["reports"]]


def _pictures(pages):
    _, measured, _ = pages
    return [p for m in measured.values() for p in m["pictures"]]


def test_no_report_is_wider_than_its_output_area(pages):
    reports = _reports(pages)
    assert len(reports) >= 25 + 6
    for r in reports:
        assert r["over"] <= 0, r["text"][:200]
        assert r["right"] <= r["areaRight"] + 0.5, r["text"][:200]


def test_nothing_scrolls_sideways_with_up_to_ten_tensors(pages):
    reports = _reports(pages)
    assert 10 in {r["rows"] for r in reports}   # the big notebook's table of 10 tensors
    for r in reports:
        if r["rows"] <= 10:
            assert r["scrollers"] == [], r["text"][:200]


def test_every_picture_is_drawn(pages, executed):
    _, measured, _ = pages
    for name, (nb, _) in executed.items():
        pictures = measured[name]["pictures"]
        assert len(pictures) == pictures_in(nb) > 0
        for p in pictures:
            assert p["complete"] and p["nw"] > 0 and p["nh"] > 0, p["src"][:60]
            assert p["w"] > 0 and p["h"] > 0
    assert len(measured["demo"]["pictures"]) >= 16


def test_roots_are_in_the_first_view_of_every_picture(pages):
    pictures = [p for p in _pictures(pages) if "<title>t" in decode_text(p["src"])]
    assert len(pictures) >= 15 + 6          # all but --engine torchviz's (no root marked)
    for p in pictures:
        svg = decode_svg(p["src"])
        inside = roots_in_view(p)
        assert inside and all(inside), (op_count(svg), p["box"], p["h"])
        if op_count(svg) <= 30:       # shown whole: its box does not scroll
            assert p["box"]["h"] >= p["h"] - 1


def test_no_literal_backticks_and_findings_keep_their_lines(pages):
    reports = _reports(pages)
    assert any(r["findings"] for r in reports)
    for r in reports:
        assert "`" not in r["text"]
        for children in r["findings"]:
            assert children >= 3          # where, what happened, the fix: each a block


def test_big_graphs_show_their_roots_and_structure(pages):
    width, measured, _ = pages
    big = measured["big"]
    loop, branches = big["pictures"][2], big["pictures"][3]
    assert "h * w + 1" in BIG_CELLS[3] and "torch.sin" in BIG_CELLS[4]
    # the 40-step loop: a straight column in a box that opens at the root
    assert op_count(decode_svg(loop["src"])) == 121
    assert loop["box"]["h"] <= 722 < loop["h"] and loop["w"] < width / 2
    # 30 parallel branches: two drawn, the rest folded into one box; it fits the page
    svg_text = " ".join(t.text or "" for t in decode_svg(branches["src"]).iter() if t.tag.endswith("text"))
    assert "28 more branches like these" in svg_text
    assert branches["w"] <= branches["box"]["w"] + 1


def test_screenshots(chrome, shots, executed):
    driver = chrome(1024, 900)
    load(driver, executed["demo"][1], wait_for=1)
    reports = driver.find_elements("css selector", ".graphmagic-report")
    with_finding = next(r for r in reports if r.find_elements("css selector", ".graphmagic-finding")
                        and r.find_elements("css selector", "img"))
    shoot(driver, with_finding, shots / "light-report.png")
    load(driver, executed["big"][1], wait_for=1)
    chinese = next(r for r in driver.find_elements("css selector", ".graphmagic-report")
                   if "自动求导计算图" in r.text)
    shoot(driver, chinese, shots / "chinese-report.png")
    assert (shots / "light-report.png").stat().st_size > 10_000
    assert (shots / "chinese-report.png").stat().st_size > 10_000
