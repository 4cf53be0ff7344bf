"""The executed demo opened in JupyterLab as a notebook someone else ran (untrusted, so
its HTML goes through JupyterLab's sanitizer), in the light and the dark theme: every
picture is drawn, no SVG text is left on the page, the header reads (contrast >= 4.5:1)."""
from __future__ import annotations

import nbformat
import pytest

from .conftest import CONTRAST_JS, EDGE_TITLE, jupyterlab, measure, open_in_lab, pictures_in, shoot

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
# inline SVG, which JupyterLab strips from untrusted notebooks: proof that this one is untrusted
CANARY = '<div class="graphmagic-canary"><svg width="8" height="8"><text>canary</text></svg></div>'


@pytest.fixture(scope="module", params=sorted(THEMES))
def lab(request, chrome, executed, tmp_path_factory):
    """``(theme, driver, measurements, the notebook opened)`` with JupyterLab showing it."""
    home = tmp_path_factory.mktemp(f"jupyterlab-{request.param}")
    nb = nbformat.read(executed["demo"][0], as_version=4)
    canary = nbformat.v4.new_code_cell("canary", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": CANARY, "text/plain": "canary"})])
    nb.cells.insert(0, canary)
    opened = home / "notebooks" / "demo.ipynb"
    opened.parent.mkdir(parents=True)
    nbformat.write(nb, opened)       # not signed: JupyterLab treats it as untrusted
    reports = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if "graphmagic-report" in str(o.get("data", {}).get("text/html", "")))
    with jupyterlab(home, THEMES[request.param]) as (url, token):
        driver = chrome(1280, 1000)
        open_in_lab(driver, url, token, "demo.ipynb", reports)
        assert driver.execute_script("return document.body.dataset.jpThemeName") == THEMES[request.param]
        yield request.param, driver, measure(driver), opened


def test_the_notebook_is_untrusted(lab):
    _, driver, _, _ = lab
    assert driver.find_elements("css selector", ".graphmagic-canary")
    assert not driver.find_elements("css selector", ".graphmagic-canary svg")


def test_every_report_keeps_its_picture(lab):
    _, _, measured, opened = lab
    pictures = measured["pictures"]
    assert len(measured["reports"]) >= 25
    assert len(pictures) == pictures_in(opened) >= 16
    for p in pictures:
        assert p["complete"] and p["nw"] > 0 and p["nh"] > 0 and p["w"] > 0 and p["h"] > 0


def test_no_svg_text_on_the_page(lab):
    _, driver, measured, _ = lab
    assert all(r["svgs"] == 0 for r in measured["reports"])
    page = driver.execute_script("return document.querySelector('.jp-Notebook').innerText")
    assert not EDGE_TITLE.search(page)
    for r in measured["reports"]:
        assert "`" not in r["text"] and r["over"] <= 0


def test_header_contrast(lab, shots):
    theme, driver, _, _ = lab
    ratios = driver.execute_script(CONTRAST_JS)
    assert len(ratios) >= 25
    assert min(ratios) >= 4.5, ratios
    reports = driver.find_elements("css selector", ".graphmagic-report")
    with_finding = next(r for r in reports if r.find_elements("css selector", ".graphmagic-finding")
                        and r.find_elements("css selector", "img"))
    shoot(driver, with_finding, shots / f"jupyterlab-untrusted-{theme}.png", frame=360)
    assert (shots / f"jupyterlab-untrusted-{theme}.png").stat().st_size > 10_000
