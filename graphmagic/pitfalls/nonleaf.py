"""``nonleaf-grad``: PyTorch's warning about reading ``.grad`` of a non-leaf, made precise.

For the cell only: one ``always`` filter for that message read in the cells' code (so
Python's once-per-location registry cannot hide a repeat), and a hook on
``warnings._showwarnmsg`` (``hooks.py``) that turns the warning into a finding naming the
tensor (from the instruction's source position and the frame's variables at that moment)
and keeps graphmagic's own ``AutogradPitfall`` warnings off stderr. Everything else is shown
as before, through the user's ``showwarning``. The user's own filters still decide torch's
warning: our filter asks them first (``_applies``, while Python chooses a filter), and
where they make it an error it steps aside, so torch raises it at the cell's line from no
frame of ours, as in a plain cell (the finding is noted as ``raised``); ``ignore`` hides it. After the cell the filter list is the user's again (with the cell's own changes),
the once-per-location marks set aside are put back, and the hook passes straight through.
"""
from __future__ import annotations

import ast
import re
import sys
import warnings

from ..messages import t
from ..code.frames import MISSING, frame_scopes, grad_owner, resolve
from ..tensors.info import is_tensor, reading
from .hooks import take_filter, take_showwarnmsg
from .sink import filter_action, is_ours

NONLEAF_TEXT = "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed"
NONLEAF = re.compile(re.escape(NONLEAF_TEXT), re.I)


class WarningInterceptor:
    def __init__(self, ctx, sink, locator, catch_nonleaf: bool) -> None:
        self.ctx = ctx
        self.sink = sink
        self.loc = locator
        self.catch_nonleaf = catch_nonleaf
        self.active = False
        self.entry: tuple | None = None   # our warning filter (hooks.take_filter)
        self._exprs: dict[tuple, tuple[str, str]] = {}  # (code, lasti) -> (variable, grad_fn)
        self._busy = False

    def install(self, stack) -> None:
        self.active = True
        self._shown_by = _shown_by()
        take_showwarnmsg(stack, self.on_warning)
        stack.callback(self.uninstall)
        if self.catch_nonleaf:
            stack.callback(self._restore_shown, self._forget_shown())
            self.entry = take_filter(stack, "always", UserWarning, self._applies)

    def uninstall(self) -> None:
        self.active = False
        self._exprs.clear()

    def _forget_shown(self) -> list[tuple[dict, tuple, object]]:
        """Set aside the once-per-location marks of this warning in the cells' registries
        (Python checks them before any filter); returns them for ``_restore_shown``."""
        shell = self.ctx.shell
        taken = []
        for ns in {id(shell.user_ns): shell.user_ns, id(shell.user_global_ns): shell.user_global_ns}.values():
            registry = ns.get("__warningregistry__")
            if isinstance(registry, dict):
                for key in [k for k in registry if isinstance(k, tuple) and k
                            and isinstance(k[0], str) and k[0].startswith(NONLEAF_TEXT)]:
                    taken.append((registry, key, registry.pop(key)))
        return taken

    @staticmethod
    def _restore_shown(taken: list[tuple[dict, tuple, object]]) -> None:
        for registry, key, value in taken:
            registry.setdefault(key, value)

    def on_warning(self, msg) -> bool:
        """A warning about to be shown; True when it is ours to keep (or report)."""
        __tracebackhide__ = True  # noqa: F841
        if not self.active:
            return False
        message, category = msg.message, msg.category
        if is_ours(message):  # shown in the report; recorded where the cell itself records
            return _shown_by() == self._shown_by
        if self.catch_nonleaf and not self._busy and isinstance(category, type) \
                and issubclass(category, UserWarning) and NONLEAF.match(str(message)):
            return self._nonleaf(msg.filename, msg.lineno)
        return False

    def _applies(self, text: str) -> bool:
        """Whether our filter takes this warning (Python is choosing its filter): torch's
        warning read in the cells' code, unless the user's filters make it an error (then
        it is raised by them, as in a plain cell, and noted here)."""
        if self._busy or not NONLEAF.match(text):
            return False
        frame = sys._getframe(2)  # 0: here, 1: FilterMessage.match, 2: the code that warned
        while frame is not None and frame.f_code.co_filename == warnings.__file__:
            frame = frame.f_back  # Python's own warnings module, where the C one is missing
        if frame is None or not self.loc.is_cell(frame.f_code.co_filename):
            return False   # not the cells' code: the user's filters alone decide
        module = frame.f_globals.get("__name__")
        action = filter_action(UserWarning, text, None, frame.f_lineno, skip=self.entry,
                               module=module if isinstance(module, str) else "<string>")
        if action != "error":
            return True
        self._record(frame.f_code.co_filename, frame.f_lineno, when="raised", frame=frame)
        return False

    def _nonleaf(self, filename, lineno) -> bool:
        """Torch's warning, taken by our filter (or shown by one of the user's)."""
        if not self.loc.is_cell(filename):
            return False  # shown by a filter of the user's: as in a plain cell
        self._record(filename, lineno, when="now")
        return True  # shown in the report (or, under the user's ignore, nowhere)

    def _record(self, filename, lineno, when: str, frame=None) -> None:
        self._busy = True
        try:
            variable, grad_fn = self._which(filename, lineno, frame)
        finally:
            self._busy = False
        if self.sink.repeat("nonleaf-grad", filename, lineno, variable):
            return
        if variable:
            what = t("pitfalls.nonleaf.message", var=variable, grad_fn=grad_fn) if grad_fn \
                else t("pitfalls.nonleaf.message_nofn", var=variable)
            fix = t("pitfalls.nonleaf.fix", var=variable.split(" (")[0])
        else:
            what, fix = t("pitfalls.nonleaf.message_anon"), t("pitfalls.nonleaf.fix_anon")
        self.sink.add("nonleaf-grad", variable, filename, lineno, what, fix, when=when)

    def _which(self, filename: str, lineno: int, frame=None) -> tuple[str, str]:
        """The tensor whose ``.grad`` is being read (in ``frame``, else the first frame up
        the stack at ``filename:lineno``): the expression and its grad_fn."""
        if frame is None:
            frame = sys._getframe(2)
        while frame is not None and not (frame.f_code.co_filename == filename
                                         and frame.f_lineno == lineno):
            frame = frame.f_back
        if frame is None:
            return "", ""
        # a function called from the cell (comprehensions and lambdas are part of theirs)
        caller = frame.f_back if not frame.f_code.co_name.startswith("<") else None
        key = (frame.f_code, frame.f_lasti) + ((caller.f_code, caller.f_lasti) if caller else ())
        known = self._exprs.get(key)
        if known is not None:
            return known
        variable = grad_owner(self.loc.expr_at(frame)) or ""
        grad_fn = ""
        value = resolve(variable, *frame_scopes(frame, self.ctx.namespace))
        if is_tensor(value):
            with reading():  # without a subclass's __torch_function__
                fn = value.grad_fn
            grad_fn = type(fn).__name__ if fn is not None else ""
        if caller is not None and variable:
            variable = self._in_caller(frame, caller, variable, value)
        self._exprs[key] = (variable, grad_fn)
        return variable, grad_fn

    def _in_caller(self, frame, caller, variable: str, value: object) -> str:
        """A function's local as the calling cell wrote it (``f(b)``: ``b``), else
        ``t (in f)``."""
        where = f"{variable} (in {frame.f_code.co_name})"
        if value is MISSING or not self.loc.is_cell(caller.f_code.co_filename):
            return where
        code = frame.f_code
        params = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        if variable not in params:
            return where
        try:
            call = ast.parse((self.loc.expr_at(caller) or "").strip(), mode="eval").body
        except SyntaxError:
            return where
        if not isinstance(call, ast.Call):
            return where
        index = params.index(variable)
        candidates = [k.value for k in call.keywords if k.arg == variable]
        if index < code.co_argcount and not any(isinstance(a, ast.Starred) for a in call.args):
            bound = isinstance(call.func, ast.Attribute) and "self" == params[0]
            at = index - 1 if bound else index
            if 0 <= at < len(call.args):
                candidates.append(call.args[at])
        for node in candidates:
            text = ast.unparse(node)
            if resolve(text, *frame_scopes(caller, self.ctx.namespace)) is value:
                return text
        return where


def _shown_by() -> tuple:
    """What shows warnings now: set up by the cell itself (``catch_warnings(record=True)``)
    when it differs from what it was at the cell's start."""
    return warnings.showwarning, warnings._showwarnmsg_impl
