"""Helpers for the graph tests: run a cell, read the graph section as data, parse SVG."""
from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from conftest import run

SVG = "{http://www.w3.org/2000/svg}"


def graph_of(ip, body: str, opts: str = ""):
    """Run ``body`` under ``%%autograd`` and return (report, graph JSON or None)."""
    result = run(ip, f"%%autograd --out r {opts}\n{body}")
    assert result.error_in_exec is None, result.error_in_exec
    rep = ip.user_ns["r"]
    assert rep.errors == []
    return rep, (rep.graph.to_json() if rep.graph else None)


def tensors(data: dict) -> dict[str, dict]:
    """Tensor nodes by their first name (first copy only)."""
    return {n["names"][0]: n for n in data["nodes"]
            if n["kind"] == "tensor" and n["names"] and n["copy"] <= 1}


def ops(data: dict) -> list[dict]:
    return [n for n in data["nodes"] if n["kind"] == "op"]


def by_id(data: dict) -> dict[str, dict]:
    return {n["id"]: n for n in data["nodes"]}


def producer(data: dict, node_id: str) -> dict | None:
    nodes = by_id(data)
    for e in data["edges"]:
        if e["dst"] == node_id and e["kind"] == "data" and nodes[e["src"]]["kind"] == "op":
            return nodes[e["src"]]
    return None


def inputs(data: dict, node_id: str) -> list[dict]:
    nodes = by_id(data)
    return [nodes[e["src"]] for e in data["edges"] if e["dst"] == node_id and e["kind"] == "data"]


def parse_svg(text: str) -> ET.Element:
    """The SVG in ``text``: inline, or the report's ``<img src="data:image/svg+xml;base64,...">``."""
    picture = re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', text)
    if picture:
        text = base64.b64decode(picture.group(1)).decode("utf-8")
    match = re.search(r"<svg\b.*</svg>", text, re.S)
    assert match, "no <svg> in the output"
    return ET.fromstring(match.group(0))


def node_texts(svg: ET.Element) -> dict[str, list[str]]:
    """``node title (our node id) -> its text lines`` (dot writes two spaces as ' \\xa0')."""
    out = {}
    for g in svg.iter(SVG + "g"):
        if "node" in (g.get("class") or "").split():    # a root is "node root"
            title = g.find(SVG + "title").text
            out[title] = [(e.text or "").replace("\xa0", " ") for e in g.iter(SVG + "text")]
    return out
