"""The message catalogue: every user-facing text of graphmagic, in English and Chinese.

Each area keeps its texts in its own module here (``core``, ``tracking``, ``graph``,
``pitfalls``, ``gradflow``), as two dicts ``EN`` and ``ZH`` with the same keys. ``t(key, **fields)``
formats the text in the current language: ``%autograd_config --lang zh`` or the
environment variable ``GRAPHMAGIC_LANG=zh`` choose Chinese; English is the default.
"""
from __future__ import annotations

import contextlib
import os

from . import core, gradflow, graph, pitfalls, tracking

LANGUAGES = ("en", "zh")
_AREAS = (core, tracking, graph, pitfalls, gradflow)

CATALOGUE: dict[str, dict[str, str]] = {"en": {}, "zh": {}}
for _area in _AREAS:
    CATALOGUE["en"].update(_area.EN)
    CATALOGUE["zh"].update(_area.ZH)

_language: str | None = None   # while a cell runs or a report renders: its language


@contextlib.contextmanager
def language(lang: str | None):
    """Texts in ``lang`` inside the block (``None``: the environment's, GRAPHMAGIC_LANG)."""
    global _language
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(LANGUAGES)}")
    saved, _language = _language, lang
    try:
        yield
    finally:
        _language = saved


def current_language() -> str:
    if _language is not None:
        return _language
    env = os.environ.get("GRAPHMAGIC_LANG", "").strip().lower()
    return "zh" if env.startswith("zh") else "en"


def t(key: str, **fields: object) -> str:
    """The text for ``key`` in the current language, formatted with ``fields``."""
    texts = CATALOGUE[current_language()]
    text = texts.get(key) or CATALOGUE["en"][key]
    return text.format(**fields) if fields else text
