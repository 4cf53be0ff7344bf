"""The finding contract: one autograd pitfall, named after the user's variable and line.

A finding has ``kind`` (one of ``FINDING_KINDS``), ``variable`` (a pasteable name, as the
user wrote it), ``line`` (the cell's line as the notebook shows it, the ``%%autograd``
line being 1), ``code`` (that line's text), ``cell`` (``In[n]`` of the cell it happened
in), ``count`` (how many times in that cell), ``message`` (what happened) and ``fix``.
A cell holds at most one finding per kind, line and variable; repeats raise ``count``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

FINDING_KINDS = (
    "nonleaf-grad",
    "grad-accumulated",
    "nonscalar-backward",
    "backward-twice",
    "leaf-inplace",
    "saved-modified",
    "data-mutation",
    "leaf-moved",
    "detach-alias",
    "no-grad-path",
    "history-kept",
    "graph-not-needed",
    "unused-parameter",
    "nonfinite-grad",
)


class AutogradPitfall(UserWarning):
    """The warning category of graphmagic's findings.

    Findings pass through the user's warning filters under this category:
    ``warnings.filterwarnings("ignore", category=AutogradPitfall)`` drops them and
    ``"error"`` turns them into exceptions.
    """


@dataclass
class Finding:
    kind: str
    variable: str
    line: int | None
    cell: str
    message: str
    fix: str
    code: str = ""
    count: int = 1

    @property
    def key(self) -> tuple[str, int | None, str]:
        return (self.kind, self.line, self.variable)

    def to_json(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        from .messages import t

        where = t("finding.where", cell=self.cell, line=self.line) if self.line else self.cell
        head = f"[{self.kind}] {where}"
        if self.code:
            head += f": {self.code.strip()}"
        times = t("finding.times", count=self.count) if self.count > 1 else ""
        return f"{head}{times}\n    {self.message}\n    {t('finding.fix')}: {self.fix}"


def merge(findings: list[Finding], new: Finding) -> None:
    """Add ``new`` to ``findings``, counting it into an existing one of the same key."""
    for old in findings:
        if old.key == new.key:
            old.count += new.count
            return
    findings.append(new)
