"""Fixtures of the browser tests (their helpers live in browser_support.py)."""
from browser_support import chrome, executed, shots  # noqa: F401  (pytest finds them here)
