"""``nonleaf-grad``: PyTorch's warning about reading ``.grad`` of a non-leaf, made precise.

For the cell only: one ``always`` filter that matches just that message (so Python's
once-per-location registry cannot hide a repeat), and a ``warnings.showwarning`` wrapper
that turns the warning into a finding naming the tensor (from the instruction's source
position and the frame's variables at that moment) and keeps graphmagic's own
``AutogradPitfall`` warnings off stderr. Everything else goes to the previous
``showwarning`` untouched. Both are undone after the cell: the filter entry is removed
by identity (filters the cell itself added stay), and a wrapper still referenced by a
user's own wrapper goes inert.
"""
from __future__ import annotations

import re
import sys
import warnings

from .messages import t
from .pitfall_frames import MISSING, frame_scopes, grad_owner, resolve
from .pitfall_sink import filter_action, is_ours

NONLEAF_TEXT = "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed"
NONLEAF = re.compile(re.escape(NONLEAF_TEXT), re.I)


class WarningInterceptor:
    def __init__(self, run, sink, locator, catch_nonleaf: bool) -> None:
        self.run = run
        self.sink = sink
        self.loc = locator
        self.catch_nonleaf = catch_nonleaf
        self.active = False
        self.previous = None
        self.entry = ("always", NONLEAF, UserWarning, None, 0)
        self._exprs: dict[tuple, tuple[str, str]] = {}  # (code, lasti) -> (variable, grad_fn)
        self._busy = False
        self.installed = None

    def install(self, stack) -> None:
        self.previous = warnings.showwarning
        self.active = True
        self.installed = self.showwarning  # one bound method, to compare by identity
        warnings.showwarning = self.installed
        stack.callback(self.uninstall)
        if self.catch_nonleaf:
            self._forget_shown()
            warnings.filters.insert(0, self.entry)

    def uninstall(self) -> None:
        self.active = False
        if warnings.showwarning is self.installed:
            warnings.showwarning = self.previous
        for i, entry in enumerate(warnings.filters):
            if entry is self.entry:
                del warnings.filters[i]
                break
        self._exprs.clear()

    def _forget_shown(self) -> None:
        """Drop the once-per-location marks of this warning from the cells' registries."""
        shell = self.run.shell
        for ns in {id(shell.user_ns): shell.user_ns, id(shell.user_global_ns): shell.user_global_ns}.values():
            registry = ns.get("__warningregistry__")
            if isinstance(registry, dict):
                for key in [k for k in registry if isinstance(k, tuple) and k
                            and isinstance(k[0], str) and k[0].startswith(NONLEAF_TEXT)]:
                    del registry[key]

    def showwarning(self, message, category, filename, lineno, file=None, line=None):
        if self.active:
            if is_ours(message):
                return None  # shown in the report
            if self.catch_nonleaf and not self._busy and isinstance(category, type) \
                    and issubclass(category, UserWarning) and NONLEAF.match(str(message)):
                if self._nonleaf(message, category, filename, lineno):
                    return None
        return self.previous(message, category, filename, lineno, file, line)

    def _nonleaf(self, message, category, filename, lineno) -> bool:
        """Handle torch's warning; False: not cell code, let it through as before."""
        if not self.loc.is_cell(filename):
            action = filter_action(category, str(message), filename, lineno, skip=self.entry)
            if action == "ignore":
                return True
            if action == "error":
                raise message if isinstance(message, Warning) else category(message)
            return False
        self._busy = True
        try:
            variable, grad_fn = self._which(filename, lineno)
        finally:
            self._busy = False
        if self.sink.repeat("nonleaf-grad", filename, lineno, variable):
            return True
        if variable:
            what = t("pitfalls.nonleaf.message", var=variable, grad_fn=grad_fn) if grad_fn \
                else t("pitfalls.nonleaf.message_nofn", var=variable)
            fix = t("pitfalls.nonleaf.fix", var=variable)
        else:
            what, fix = t("pitfalls.nonleaf.message_anon"), t("pitfalls.nonleaf.fix_anon")
        self.sink.add("nonleaf-grad", variable, filename, lineno, what, fix, when="now")
        return True

    def _which(self, filename: str, lineno: int) -> tuple[str, str]:
        """The tensor whose ``.grad`` is being read: the expression and its grad_fn."""
        frame = sys._getframe(2)
        while frame is not None and not (frame.f_code.co_filename == filename
                                         and frame.f_lineno == lineno):
            frame = frame.f_back
        if frame is None:
            return "", ""
        key = (frame.f_code, frame.f_lasti)
        known = self._exprs.get(key)
        if known is not None:
            return known
        variable = grad_owner(self.loc.expr_at(frame)) or ""
        grad_fn = ""
        value = resolve(variable, *frame_scopes(frame, self.run.namespace))
        if value is not MISSING and getattr(value, "grad_fn", None) is not None:
            grad_fn = type(value.grad_fn).__name__
        self._exprs[key] = (variable, grad_fn)
        return variable, grad_fn
