"""Real teaching material, run as a learner would: the cells of tests/corpus/real_material.ipy
(an autograd chapter, linear regression from scratch, an nn.Module with an optimizer, a
custom Function, checkpointing, a micrograd-style lecture, the mistakes learners make) in
order in one shell, each under %%autograd. The report JSON of every cell: no errors of
graphmagic's, a graph rooted at what the cell differentiated, and exactly the findings a
teacher would give (none on clean cells)."""
from __future__ import annotations

import json
from pathlib import Path

from support import run

CORPUS = Path(__file__).parent / "corpus" / "real_material.ipy"


def read_cells() -> list[tuple[dict, str]]:
    cells: list[tuple[dict, list[str]]] = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            cells.append((json.loads(line[4:].strip() or "{}"), []))
        elif cells:
            cells[-1][1].append(line)
    return [(spec, "\n".join(body).strip("\n")) for spec, body in cells]


def test_the_corpus_reads():
    cells = read_cells()
    assert len(cells) > 30 and all(body for _, body in cells)
    assert sum(1 for spec, _ in cells if spec.get("roots")) >= 18


def test_real_material_as_a_learner_runs_it(ip, recwarn):
    problems = []
    for spec, body in read_cells():
        ip.user_ns.pop("r", None)
        result = run(ip, "%%autograd --out r\n" + body)
        rep = ip.user_ns.get("r")
        data = rep.to_json() if rep is not None else None
        label = body.splitlines()[0]
        raised = result.error_in_exec is not None
        if data is None:
            problems.append((label, "no report"))
            continue
        if raised != spec.get("raises", False):
            problems.append((label, f"raised: {result.error_in_exec!r}"))
        if data["errors"]:
            problems.append((label, f"errors: {data['errors']}"))
        found = sorted((f["kind"], f["variable"], f["line"]) for f in data["findings"])
        expected = sorted(tuple(f) for f in spec.get("findings", []))
        if found != expected:
            problems.append((label, f"findings {found} != {expected}",
                             [f["message"] for f in data["findings"]]))
        graph = data["graph"]
        if spec.get("roots"):
            roots = set(graph["roots"]) if graph else set()
            if not set(spec["roots"]) <= roots:
                problems.append((label, f"roots {sorted(roots)} lack {spec['roots']}"))
            elif graph["nodes"] is None or not graph["after_backward"]:
                problems.append((label, "no graph after backward"))
        for op in spec.get("ops", []):
            ops = {n["op"] for n in (graph or {}).get("nodes") or [] if n["kind"] == "op"}
            if op not in ops:
                problems.append((label, f"op {op} not in {sorted(ops)}"))
    assert problems == [], "\n".join(map(repr, problems))
