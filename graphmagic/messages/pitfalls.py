"""Texts of the pitfalls area (see graphmagic.messages)."""

EN: dict[str, str] = {}

ZH: dict[str, str] = {}
