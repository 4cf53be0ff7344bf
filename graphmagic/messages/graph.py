"""Texts of the graph area (see graphmagic.messages)."""

EN: dict[str, str] = {}

ZH: dict[str, str] = {}
