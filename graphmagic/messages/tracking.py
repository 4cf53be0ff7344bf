"""Texts of the tracking area (see graphmagic.messages)."""

EN: dict[str, str] = {}

ZH: dict[str, str] = {}
