"""The message catalogue: every area in English and Chinese, same keys, same fields."""
from __future__ import annotations

import importlib
import pkgutil
import re
import string

import pytest

import graphmagic.messages as messages
from graphmagic.messages import CATALOGUE, LANGUAGES, t

AREAS = sorted(m.name for m in pkgutil.iter_modules(messages.__path__))
CJK = re.compile(r"[\u3400-\u9fff]")
ENGLISH_WORD = re.compile(r"(?<![\w.{])[A-Za-z]{3,}(?![\w.(}])")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_area_module_is_in_the_catalogue():
    assert AREAS, "no message areas found"
    for area in AREAS:
        module = importlib.import_module(f"graphmagic.messages.{area}")
        assert set(module.EN) <= set(CATALOGUE["en"]), area
        assert set(module.ZH) <= set(CATALOGUE["zh"]), area


@pytest.mark.parametrize("area", AREAS)
def test_area_has_identical_keys_in_both_languages(area):
    module = importlib.import_module(f"graphmagic.messages.{area}")
    assert set(module.EN) == set(module.ZH)
    assert all(isinstance(v, str) and v.strip() for v in [*module.EN.values(), *module.ZH.values()])


def test_areas_do_not_share_keys():
    owner: dict[str, str] = {}
    for area in AREAS:
        for key in importlib.import_module(f"graphmagic.messages.{area}").EN:
            assert key not in owner, f"{key!r} is in both {owner.get(key)} and {area}"
            owner[key] = area


def test_catalogue_languages_have_identical_keys():
    assert set(CATALOGUE) == set(LANGUAGES)
    assert set(CATALOGUE["en"]) == set(CATALOGUE["zh"])


@pytest.mark.parametrize("key", sorted(CATALOGUE["en"]))
def test_text_formats_with_its_fields_in_both_languages(key, monkeypatch):
    en, zh = CATALOGUE["en"][key], CATALOGUE["zh"][key]
    fields = _fields(en)
    assert _fields(zh) == fields, key
    values = {name: f"<{name}>" for name in fields}
    for lang, text in (("en", en), ("zh", zh)):
        monkeypatch.setattr(messages, "_language", lang)
        shown = t(key, **values)
        for value in values.values():
            assert value in shown
        if not fields:  # t() returns such texts unformatted: no escaped braces allowed
            assert "{" not in text and "}" not in text, key
            assert t(key) == text


@pytest.mark.parametrize("key", sorted(CATALOGUE["en"]))
def test_chinese_text_is_a_translation(key):
    en, zh = CATALOGUE["en"][key], CATALOGUE["zh"][key]
    if len(ENGLISH_WORD.findall(en)) >= 2:
        assert CJK.search(zh), f"{key}: {zh!r} is not Chinese"


def test_language_choice(monkeypatch):
    monkeypatch.delenv("GRAPHMAGIC_LANG", raising=False)
    assert messages.current_language() == "en"
    monkeypatch.setenv("GRAPHMAGIC_LANG", "zh_CN")
    assert messages.current_language() == "zh"
    assert t("report.as_written") == CATALOGUE["zh"]["report.as_written"]
    with messages.language("en"):
        assert t("report.as_written") == CATALOGUE["en"]["report.as_written"]
        with messages.language(None):  # None: the environment's
            assert messages.current_language() == "zh"
    assert messages.current_language() == "zh"
    with pytest.raises(ValueError):
        with messages.language("fr"):
            pass
