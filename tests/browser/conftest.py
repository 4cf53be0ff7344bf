"""Shared set-up of the browser tests (marked ``browser``): headless Chromium through
selenium, the executed demo and a notebook of big graphs as ``.ipynb`` and nbconvert HTML
(made once per session with ``python -m graphmagic run``), JupyterLab on 127.0.0.1 with a
temporary home, and the DOM measurements the tests assert on.

Screenshots go to ``out/screenshots/`` (git-ignored) for a person to look at.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"]
SVG = "{http://www.w3.org/2000/svg}"

# Cells the demo does not have: the big graphs of the issue, a table of 10 tensors, Chinese.
BIG_CELLS = [
    "%load_ext graphmagic\nimport torch",
    # 25 ops with skip connections (an MLP-like stack)
    "%%autograd\nx = torch.randn(4, 3)\nw1 = torch.randn(3, 8, requires_grad=True)\n"
    "b1 = torch.zeros(8, requires_grad=True)\nw2 = torch.randn(8, 1, requires_grad=True)\nh = x\n"
    "for _ in range(3):\n    h = torch.tanh(h @ w1[:, :3] + b1[:3]) * 0.5 + h\n"
    "loss = (h @ w1 @ w2).pow(2).mean()",
    # a chain of 30 ops
    "%%autograd\na = torch.ones(3, requires_grad=True)\nc = a\nfor i in range(29):\n"
    "    c = c * 1.01\nchain = c.sum()",
    # a loop of 40 steps: 121 ops
    "%%autograd\nw = torch.tensor(0.5, requires_grad=True)\nh = torch.ones(3)\nfor _ in range(40):\n"
    "    h = torch.tanh(h * w + 1)\nloss = h.sum()",
    # 30 parallel branches
    "%%autograd\nx = torch.ones(3, requires_grad=True)\nouts = [torch.sin(x * i) for i in range(30)]\n"
    "total = torch.stack(outs).sum()",
    # 10 listed tensors
    "%%autograd\nt0, t1, t2, t3, t4 = (torch.ones(2, requires_grad=True) for _ in range(5))\n"
    "u0 = t0 * 2\nu1 = t1 + t2\nu2 = u0 * u1\nu3 = u2.exp()\nloss10 = u3.sum()",
    "%autograd_config --lang zh",
    "%%autograd\nx = torch.tensor([1.0, 2.0], requires_grad=True)\ny = x * x\nz = y.sum()\n"
    "z.backward()\nprint(y.grad)",
    "%autograd_config --lang en",
]


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


# ---- the browser -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def chrome():
    """``open(width, height=900)`` -> a headless Chromium webdriver (closed at the end)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install -e '.[test]', or bash scripts/setup.sh)")
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver_exe = shutil.which("chromedriver")
    if binary is None or driver_exe is None:
        pytest.skip("Chromium and chromedriver are not installed (Debian: apt-get install chromium "
                    "chromium-driver; scripts/setup.sh does it)")
    from selenium.webdriver.chrome.service import Service

    opened, profiles = [], []

    def open_browser(width: int, height: int = 900):
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        profile = tempfile.mkdtemp(prefix="graphmagic-chrome-")
        profiles.append(profile)
        for flag in CHROME_FLAGS + [f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_exe), options=options)
        driver.set_window_size(width, height)
        opened.append(driver)
        return driver

    yield open_browser
    for driver in opened:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


# ---- the executed notebooks --------------------------------------------------------------
@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    """``{"demo": (notebook, html), "big": (notebook, html)}``: demo.ipynb and ``BIG_CELLS``
    run headless by ``python -m graphmagic run`` (both at once), once per session."""
    out = tmp_path_factory.mktemp("executed")
    big = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in BIG_CELLS])
    nbformat.write(big, out / "big.ipynb")
    runs = {}
    for name, source in (("demo", ROOT / "demo.ipynb"), ("big", out / "big.ipynb")):
        cmd = [sys.executable, "-m", "graphmagic", "run", str(source), "--output",
               str(out / f"{name}.executed.ipynb"), "--html", str(out / f"{name}.html")]
        runs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    paths = {}
    for name, proc in runs.items():
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, output
        paths[name] = (out / f"{name}.executed.ipynb", out / f"{name}.html")
    return paths


# ---- measurements ------------------------------------------------------------------------
MEASURE_JS = r"""
function picture(i) {
  const b = i.parentElement.getBoundingClientRect(), p = i.getBoundingClientRect();
  return {src: i.getAttribute('src'), complete: i.complete, nw: i.naturalWidth, nh: i.naturalHeight,
          x: p.left, y: p.top, w: p.width, h: p.height,
          box: {x: b.left, y: b.top, w: i.parentElement.clientWidth, h: i.parentElement.clientHeight}};
}
const reports = [];
for (const r of document.querySelectorAll('.graphmagic-report')) {
  const area = r.parentElement.getBoundingClientRect(), box = r.getBoundingClientRect();
  const scrollers = [];
  for (const e of r.querySelectorAll('*')) {
    if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
      scrollers.push(e.tagName + ' by ' + (e.scrollWidth - e.clientWidth) + ' px');
  }
  const table = r.querySelector('.graphmagic-variables table');
  reports.push({width: box.width, area: area.width, right: box.right, areaRight: area.right,
    over: r.scrollWidth - r.clientWidth, scrollers: scrollers,
    rows: table ? table.querySelectorAll('tbody tr').length : 0,
    text: r.innerText, svgs: r.querySelectorAll('svg').length,
    findings: Array.from(r.querySelectorAll('.graphmagic-finding')).map(f => f.children.length)});
}
const pictures = Array.from(document.querySelectorAll('.jp-OutputArea-output img[src^="data:image/"]')).map(picture);
return {reports: reports, pictures: pictures};
"""

CONTRAST_JS = r"""
function rgba(s) { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return [0, 0, 0, 0];
  const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
function lum(c) { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); }
function background(el) { for (let e = el; e; e = e.parentElement) {
  const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) return c; } return [255, 255, 255, 1]; }
function opacity(el) { let a = 1; for (let e = el; e; e = e.parentElement) a *= Number(getComputedStyle(e).opacity); return a; }
return Array.from(document.querySelectorAll('.graphmagic-report')).map(r => {
  const el = r.firstElementChild, fg = rgba(getComputedStyle(el).color), bg = background(el);
  const a = fg[3] * opacity(el), seen = [0, 1, 2].map(i => fg[i] * a + bg[i] * (1 - a));
  const l1 = lum(seen), l2 = lum(bg);
  return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
});
"""

EDGE_TITLE = re.compile(r"\b[otgf]\d+->[otgf]\d+\b")  # an SVG edge's <title>, if shown as text


def measure(driver) -> dict:
    """``{"reports": [...], "pictures": [...]}`` of the page, as MEASURE_JS finds them."""
    return driver.execute_script(MEASURE_JS)


def pictures_in(nb_path: Path) -> int:
    """How many pictures the notebook's HTML outputs embed."""
    nb = nbformat.read(nb_path, as_version=4)
    return sum(str(o.get("data", {}).get("text/html", "")).count('src="data:image/')
               for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def decode_text(src: str) -> str:
    assert src.startswith("data:image/svg+xml;base64,"), src[:40]
    return base64.b64decode(src.split(",", 1)[1]).decode("utf-8")


def decode_svg(src: str) -> ET.Element:
    return ET.fromstring(decode_text(src))


def roots_in_view(picture: dict) -> list[bool]:
    """For each root node of a measured picture: is it inside its box as first shown?"""
    box = picture["box"]
    inside = []
    for left, top, right, bottom in root_boxes(decode_svg(picture["src"])):
        x0, x1 = picture["x"] + left * picture["w"], picture["x"] + right * picture["w"]
        y0, y1 = picture["y"] + top * picture["h"], picture["y"] + bottom * picture["h"]
        inside.append(x0 >= box["x"] - 1 and x1 <= box["x"] + box["w"] + 1
                      and y0 >= box["y"] - 1 and y1 <= box["y"] + box["h"] + 1)
    return inside


def root_boxes(svg: ET.Element) -> list[tuple[float, float, float, float]]:
    """``(left, top, right, bottom)`` of each root node, as fractions of the picture."""
    _, _, width, height = map(float, svg.get("viewBox").split())
    tx, ty = map(float, re.search(r"translate\(([-\d.]+) ([-\d.]+)\)",
                                  svg.find(SVG + "g").get("transform")).groups())
    out = []
    for g in svg.iter(SVG + "g"):
        if "root" not in (g.get("class") or "").split():
            continue
        xs, ys = [], []
        for shape in g:
            tag = shape.tag.removeprefix(SVG)
            if tag == "ellipse":
                cx, cy, rx, ry = (float(shape.get(k)) for k in ("cx", "cy", "rx", "ry"))
                xs += [cx - rx, cx + rx]
                ys += [cy - ry, cy + ry]
            elif tag in ("path", "polygon"):
                nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("d") or shape.get("points"))]
                xs += nums[0::2]
                ys += nums[1::2]
        out.append(((min(xs) + tx) / width, (min(ys) + ty) / height,
                    (max(xs) + tx) / width, (max(ys) + ty) / height))
    return out


def op_count(svg: ET.Element) -> int:
    return sum(1 for g in svg.iter(SVG + "g") if g.get("class") == "node"
               and re.fullmatch(r"o\d+", g.find(SVG + "title").text or ""))


def load(driver, path: Path, wait_for: int) -> None:
    driver.get(path.as_uri())
    for _ in range(100):
        done = driver.execute_script("return Array.from(document.images).every(i => i.complete) "
                                     "&& document.querySelectorAll('.graphmagic-report').length")
        if done and done >= wait_for:
            return
        time.sleep(0.1)


def shoot(driver, element, path: Path, frame: int = 160) -> None:
    """A screenshot of ``element``; the window is made tall enough to hold it and ``frame``
    pixels of the page around it (JupyterLab's menus and toolbars need more)."""
    height = driver.execute_script("return Math.ceil(arguments[0].getBoundingClientRect().height)", element)
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(600, height + frame))
    driver.execute_script("arguments[0].scrollIntoView()", element)
    time.sleep(0.2)
    element.screenshot(str(path))


# ---- JupyterLab -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab(home: Path, theme: str):
    """A JupyterLab server on 127.0.0.1 with its own home, config, data and settings (the
    theme set there, cells rendered all at once); yields its base URL with the token."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install -e '.[test]')")
    env = dict(os.environ)
    for var, sub in {"HOME": "home", "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                     "JUPYTER_RUNTIME_DIR": "runtime", "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
                     "JUPYTERLAB_SETTINGS_DIR": "settings", "IPYTHONDIR": "ipython"}.items():
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    for path, data in {"apputils-extension/themes": {"theme": theme},
                       "notebook-extension/tracker": {"windowingMode": "none"},
                       "apputils-extension/notification": {"fetchNews": "false",
                                                           "checkForUpdates": False}}.items():
        f = home / "settings" / "@jupyterlab" / f"{path}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(data))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home / 'notebooks'}",
           "--ServerApp.terminals_enabled=False", "--LabApp.news_url="]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    (home / "notebooks").mkdir(exist_ok=True)
    log = open(home / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                raise RuntimeError("JupyterLab did not start:\n" + (home / "jupyterlab.log").read_text()[-3000:])
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.25)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def open_in_lab(driver, url: str, token: str, name: str, reports: int, timeout: float = 90) -> None:
    driver.get(f"{url}/lab/tree/{name}?token={token}")
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready = driver.execute_script(
            "const r = document.querySelectorAll('.graphmagic-report');"
            "return r.length >= arguments[0] && Array.from(document.images).every(i => i.complete);",
            reports)
        if ready:
            time.sleep(0.5)   # the last layout pass
            return
        time.sleep(0.25)
    raise AssertionError(f"JupyterLab did not show {reports} reports within {timeout:g} s")
