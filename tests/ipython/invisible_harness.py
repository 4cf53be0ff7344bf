"""Runs the state-differential cases of ``invisible_cases.py`` and compares the two runs.

How a case runs (the "fresh shell" of every case):

- One worker process (``python invisible_harness.py OUT.json [CASE ...]``, started once
  by ``test_invisible.py``) builds a plain ``InteractiveShell`` (history in memory,
  ``IPYTHONDIR`` in a temporary folder), loads graphmagic, imports torch (and
  ``HEAVY_IMPORTS``) and warms both up with a few plain and ``%%autograd`` cells, so that
  lazy imports and torch's first-use warning filters are behind every case. That state is
  the baseline; one more ``%%autograd`` cell on it must change no global state.
- Each case then runs twice, each time in a child forked from that baseline (``os.fork``:
  a fresh copy of the whole process, shell singleton included, in a few milliseconds):
  once with every cell's ``plain`` source, once with its ``magic`` source (the body under
  ``%%autograd``). Nothing a case leaks can reach another case or the test process; a
  child that hangs is killed after ``HANG_GUARD`` seconds, one that dies is reported.
  Two children run at a time (``INVISIBLE_JOBS``). The ``random`` module reseeds itself
  in a forked child: each child first restores the baseline's random state.

What is recorded after every cell (``record_cell``), then compared (``differences``):

- ``stdout`` / ``stderr``: what Python code printed (``sys.stdout``/``sys.stderr`` swapped
  per cell), and ``fd``: what reached file descriptors 1 and 2 directly (c10 messages).
  Tracebacks are not in ``stdout``: the shell's ``_showtraceback`` is recorded instead (as
  a kernel sends them apart), as ``tracebacks``: exception name, message, whether a frame
  of graphmagic's own files shows, and IPython's "[... skipping hidden N frame]" lines.
  Text is normalised only for what differs by construction: the cell's file name
  (``<ipython-input-N-HASH>`` carries a hash of the source), its line numbers (the magic
  line is line 1, so a body line is one further down; a traceback printed as text shows
  that line 1 as the ``run_line_magic`` call IPython runs for it, which is left out) and
  memory addresses.
- ``displays``: what went through the display publisher (a ``CapturingDisplayPublisher``),
  except graphmagic's report. THE REPORT IS THE ONE DOCUMENTED DIFFERENCE: a bundle with
  graphmagic's JSON mime type is taken out of the displays and checked on its own: exactly
  one per ``%%autograd`` cell (none when its options are refused with ``UsageError`` or it
  does not compile; none or one, marked with the exception, when it was interrupted), no
  internal ``errors``, and its ``exception`` is the cell's own (type name) or None. When
  both runs are under the magic (two spellings of the same options), the reports must
  also say the same (device, findings, variables, graph roots).
- ``result``: the repr of the cell's value; ``error``: the type of ``error_in_exec``
  (or ``error_before_exec``); ``escaped``: an exception that escaped ``run_cell`` itself.
- ``namespace``: the user's names; ``state``: about 40 items of global state (``state``).

A cell may ask for a SIGINT (``interrupt``): a watcher thread samples the main thread's
stack (``sys._current_frames``) and sends ``SIGINT`` to the process once the main thread
has been, for ``HOLD`` seconds, in the cell body (``body``), in graphmagic's code under
the cell's first line (``start``: options, the before-snapshot) or in graphmagic's code
after the body (``end``: the post_execute work). The plain run has no graphmagic frames,
so there the signal always lands in the body. Where it landed and how long the cell took
to end after it are recorded (the time is shown, and asserted only as a hang guard).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
JSON_MIME = "application/vnd.graphmagic.report+json"
HANG_GUARD = 60.0     # seconds one run of a case may take before it is killed
HOLD = 0.02           # seconds the main thread must stay in a phase before the SIGINT
LATENCY_GUARD = 10.0  # seconds from SIGINT to the end of the cell (a hang guard only)

SETUP = "import sys, os, time, signal, threading, warnings\nimport torch\n"
# imported once in the baseline, not in each child: torch.use_deterministic_algorithms and
# FakeTensorMode import torch._dynamo (about 800 modules, 2-3 s)
HEAVY_IMPORTS = ("torch._dynamo", "torch._subclasses.fake_tensor", "torch.utils._python_dispatch")
WARM_UP = [
    "_w = torch.ones(3, requires_grad=True)\n(_w * 2).sum().backward()\n_w.grad",
    "%%autograd\n_w = torch.ones(3, requires_grad=True)\n_v = (_w.exp() * 2).sum()\n"
    "_v.backward()\n_w.grad",
    "%%autograd --trace --device cpu --saved --attrs\n_w = torch.ones(3, requires_grad=True)\n"
    "(_w * 2).sum().backward()",
    "%%autograd --engine torchviz\n_w = torch.ones(3, requires_grad=True)\n(_w * 2).sum()",
    "del _w, _v",
]
# names the shell itself needs; their type is part of the state
SHELL_NAMES = ("__builtins__", "__name__", "In", "Out", "get_ipython", "exit", "quit",
               "_", "__", "___", "_ih", "_oh", "_dh")

CELL_FILE = re.compile(r"<ipython-input-(\d+)-[0-9a-f]+>(:|\", line |, line )(\d+)")
CELL_IN = re.compile(r"Cell In\[(\d+)\], line (\d+)")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
SOURCE_LINE = re.compile(r"^(-*> |\s+)(\d+)( .*)?$")   # a traceback's numbered source line
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ---- describing objects without running their code ------------------------------------
def qualname(obj) -> str:
    """``module.qualname`` of a function, method or class; a type name for anything else.
    Reads attributes only from functions, methods and classes (never user instances)."""
    if obj is None:
        return "None"
    if isinstance(obj, types.MethodType):
        return f"{qualname(obj.__func__)} bound to {type(obj.__self__).__qualname__}"
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type)):
        name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
        inner = [qualname(c.cell_contents) for c in (getattr(obj, "__closure__", None) or ())
                 if _cell_callable(c)]
        return name + (f"[{', '.join(inner)}]" if inner else "")
    return f"<{type(obj).__module__}.{type(obj).__qualname__} object>"


def _cell_callable(cell) -> bool:
    try:
        return isinstance(cell.cell_contents, (types.FunctionType, types.MethodType))
    except ValueError:  # an empty cell
        return False


def named(obj, baseline) -> str:
    """``baseline`` when ``obj`` is the very object the baseline had, else its name."""
    return "baseline" if obj is baseline else qualname(obj)


def filter_entry(entry) -> list:
    action, message, category, module, lineno = entry
    pattern = getattr(message, "pattern", message)
    return [action, pattern, qualname(category), getattr(module, "pattern", module), lineno]


# ---- global state ---------------------------------------------------------------------
class Baseline:
    """The objects of the baseline, compared by identity after every cell."""

    def __init__(self, shell) -> None:
        import warnings

        self.filters = warnings.filters
        self.showwarning = warnings.showwarning
        self.formatwarning = warnings.formatwarning
        self.excepthook = sys.excepthook
        self.displayhook = sys.displayhook
        self.unraisablehook = sys.unraisablehook
        self.custom_tb = shell.CustomTB
        self.sigint = signal.getsignal(signal.SIGINT)
        self.entry_points = entry_points()
        self.builtins = shell.user_ns.get("__builtins__")
        self.owners = {name: dict(vars(owner)) for name, owner in patchable().items()}
        self.environ = dict(os.environ)
        self.random_state = __import__("random").getstate()


def entry_points() -> dict:
    import torch

    return {"torch.autograd.backward": torch.autograd.backward,
            "torch.autograd.grad": torch.autograd.grad,
            "torch.Tensor.backward": torch.Tensor.backward,
            "torch.autograd.Function.apply": torch.autograd.Function.__dict__.get("apply"),
            "torch.Tensor.register_hook": torch.Tensor.register_hook,
            "torch.nn.Module.__call__": torch.nn.Module.__call__}


def patchable() -> dict:
    import torch

    return {"torch.Tensor": torch.Tensor, "torch._C.TensorBase": torch._C.TensorBase,
            "torch.autograd": torch.autograd, "torch.autograd.graph": torch.autograd.graph,
            "torch.nn.Module": torch.nn.Module, "torch.nn.modules.module": torch.nn.modules.module}


def state(shell, base: Baseline) -> dict:
    """About 40 items of global state, as plain JSON data (an item that cannot be read
    says why, so that the comparison still shows it)."""
    items = {}
    for name, read in state_items(shell, base).items():
        try:
            items[name] = read()
        except BaseException as err:  # noqa: BLE001 - a user's mode may raise anything
            items[name] = f"<unreadable: {type(err).__name__}>"
    return items


def _rng_state() -> str:
    import torch

    with torch._C.DisableTorchFunction():  # the harness's own read, out of the user's modes
        return hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()[:12]


def _patched(base: Baseline) -> dict:
    changed = {}
    for name, owner in patchable().items():
        old = base.owners[name]
        now = vars(owner)
        moved = sorted(k for k, v in old.items() if now.get(k, old) is not v)
        added = sorted(k for k, v in now.items()
                       if k not in old and not isinstance(v, types.ModuleType))
        if moved or added:
            changed[name] = {"replaced or deleted": moved, "added": added}
    return changed


def state_items(shell, base: Baseline) -> dict:
    import gc
    import random
    import warnings

    import torch
    from torch.nn.modules import module as nn_module
    from torch.overrides import _get_current_function_mode_stack
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    def saved_hooks():
        hooks = torch._C._autograd._top_saved_tensors_default_hooks(False)
        return None if hooks is None else [qualname(h) for h in hooks]

    def numpy_state():
        numpy = sys.modules.get("numpy")
        return None if numpy is None else hashlib.sha1(
            repr(numpy.random.get_state(legacy=False)).encode()).hexdigest()[:12]

    ns = shell.user_ns
    return {
        "default device": lambda: str(torch.get_default_device()),
        "default dtype": lambda: str(torch.get_default_dtype()),
        "grad mode": torch.is_grad_enabled,
        "inference mode": torch.is_inference_mode_enabled,
        "anomaly mode": lambda: [torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()],
        "deterministic": lambda: [torch.are_deterministic_algorithms_enabled(),
                                  torch.is_deterministic_algorithms_warn_only_enabled()],
        "warnings.filters": lambda: [filter_entry(f) for f in warnings.filters],
        "warnings.filters list": lambda: "baseline" if warnings.filters is base.filters
        else "replaced",
        "warnings.showwarning": lambda: named(warnings.showwarning, base.showwarning),
        "warnings.formatwarning": lambda: named(warnings.formatwarning, base.formatwarning),
        "sys.gettrace": lambda: qualname(sys.gettrace()),
        "sys.getprofile": lambda: qualname(sys.getprofile()),
        "sys.excepthook": lambda: named(sys.excepthook, base.excepthook),
        "sys.displayhook": lambda: named(sys.displayhook, base.displayhook),
        "sys.unraisablehook": lambda: named(sys.unraisablehook, base.unraisablehook),
        "torch function modes": lambda: [qualname(type(m))
                                         for m in _get_current_function_mode_stack()],
        "torch dispatch modes": lambda: [qualname(type(m))
                                         for m in _get_current_dispatch_mode_stack()],
        "saved-tensor hooks": saved_hooks,
        "nn.Module global hooks": lambda: {name: len(getattr(nn_module, name)) for name in (
            "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
            "_global_backward_pre_hooks", "_global_module_registration_hooks",
            "_global_parameter_registration_hooks", "_global_buffer_registration_hooks")},
        "autograd entry points": lambda: {k: named(v, base.entry_points[k])
                                          for k, v in entry_points().items()},
        "patched torch attributes": lambda: _patched(base),
        "IPython events": lambda: {event: [qualname(cb) for cb in callbacks]
                                   for event, callbacks in shell.events.callbacks.items()},
        "shell.custom_exceptions": lambda: [qualname(t) for t in shell.custom_exceptions],
        "shell.CustomTB": lambda: named(shell.CustomTB, base.custom_tb),
        "input transformers": lambda: {
            "cleanup": [qualname(f) for f in shell.input_transformers_cleanup],
            "post": [qualname(f) for f in shell.input_transformers_post],
            "manager": [qualname(f) for f in shell.input_transformer_manager.line_transforms]},
        "AST transformers": lambda: [qualname(type(t)) for t in shell.ast_transformers],
        "python random state": lambda: hashlib.sha1(
            repr(random.getstate()).encode()).hexdigest()[:12],
        "torch random state": _rng_state,
        "numpy random state": numpy_state,
        "torch print options": lambda: dict(vars(torch._tensor_str.PRINT_OPTS)),
        "recursion limit": sys.getrecursionlimit,
        "SIGINT handler": lambda: named(signal.getsignal(signal.SIGINT), base.sigint),
        "torch threads": torch.get_num_threads,
        "gc": lambda: [gc.isenabled(), list(gc.get_threshold())],
        "cwd": os.getcwd,
        "environ": lambda: sorted(k for k in set(os.environ) | set(base.environ)
                                  if os.environ.get(k) != base.environ.get(k)),
        "shell names": lambda: {n: (type(ns[n]).__name__ if n in ns else None)
                                for n in SHELL_NAMES},
        "user __builtins__": lambda: "baseline" if ns.get("__builtins__") is base.builtins
        else qualname(type(ns.get("__builtins__"))),
        "execution count": lambda: shell.execution_count,
    }


# ---- where the main thread is, and a SIGINT when it is there ----------------------------
def graphmagic_dir() -> str:
    import graphmagic

    return str(Path(graphmagic.__file__).resolve().parent) + os.sep


def whereabouts(frame, ours_dir: str) -> tuple[str | None, str]:
    """(phase, innermost frame) of a stack: ``body`` when the innermost Python frame is a
    cell's own code (under ``time.sleep``, say), ``start`` when graphmagic's code runs
    under a cell's code, ``end`` when it runs with no cell code on the stack."""
    if frame is None:
        return None, ""
    innermost = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}"
    ours = cell = False
    top = True
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(ours_dir):
            ours = True
        back = frame.f_back
        if code.co_name == "<module>" and back is not None and back.f_code.co_name == "run_code":
            if top:
                return "body", innermost
            cell = True
        top = False
        frame = back
    if ours:
        return ("start" if cell else "end"), innermost
    return None, innermost


class Watcher(threading.Thread):
    """Calls ``fire`` once the main thread has stayed ``HOLD`` s in ``phase``."""

    def __init__(self, phase: str, fire, ours_dir: str, limit: float = 30.0) -> None:
        super().__init__(daemon=True, name="invisible-watcher")
        self.phase, self.fire, self.ours_dir, self.limit = phase, fire, ours_dir, limit
        self.main = threading.main_thread().ident
        self.stop = threading.Event()
        self.landed: str | None = None
        self.fired_at: float | None = None

    def run(self) -> None:
        since = None
        end = time.monotonic() + self.limit
        while not self.stop.is_set() and time.monotonic() < end:
            frame = sys._current_frames().get(self.main)
            phase, innermost = whereabouts(frame, self.ours_dir)
            del frame
            hit = phase == self.phase
            now = time.monotonic()
            if not hit:
                since = None
            elif since is None:
                since = now
            elif now - since >= HOLD:
                self.landed = f"{phase} ({innermost})"
                self.fired_at = time.perf_counter()
                self.fire()
                return
            time.sleep(0.001)


def sigint_self() -> None:
    """SIGINT to the main thread (a process-wide kill may be taken by another thread and
    reach Python later)."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


# ---- one cell ---------------------------------------------------------------------------
def normalise(text: str, offsets: dict[int, int]) -> str:
    """Take out what differs by construction: the cell file's hash, the line offset of
    the magic line (``offsets``: cell number -> 1 when that cell had one), addresses."""
    def line(number: str, lineno: str) -> int:
        return int(lineno) - offsets.get(int(number), 0)

    text = _source_lines(ANSI.sub("", text), offsets)
    text = CELL_FILE.sub(lambda m: f"<cell {m.group(1)}>{m.group(2)}{line(m.group(1), m.group(3))}", text)
    text = CELL_IN.sub(lambda m: f"Cell In[{m.group(1)}], line {line(m.group(1), m.group(2))}", text)
    return ADDRESS.sub("0x?", text)


def _source_lines(text: str, offsets: dict[int, int]) -> str:
    """The source lines a traceback shows under ``Cell In[n], line k``, numbered as in the
    plain cell; the magic line (line 1, shown as the ``run_line_magic`` call it runs, as
    IPython shows every line magic) is left out."""
    out, offset = [], 0
    for row in text.split("\n"):
        header = CELL_IN.search(row)
        if header:
            offset = offsets.get(int(header.group(1)), 0)
        elif not row.strip():
            offset = 0
        elif offset:
            source = SOURCE_LINE.match(row)
            if source:
                number = int(source.group(2)) - offset
                if number < 1:
                    continue
                row = f"{source.group(1)}{number}{source.group(3) or ''}"
        out.append(row)
    return "\n".join(out)


def safe_repr(value) -> str:
    try:
        return repr(value)
    except BaseException as err:  # noqa: BLE001 - a hostile repr, even KeyboardInterrupt
        return f"<repr raised {type(err).__name__}>"


def safe_str(value) -> str:
    try:
        return str(value)
    except BaseException as err:  # noqa: BLE001
        return f"<str raised {type(err).__name__}>"


class Recorder:
    """The shell's traceback display, kept as data (as a kernel sends it apart)."""

    def __init__(self, shell, ours_dir: str) -> None:
        self.shell, self.ours_dir, self.shown = shell, ours_dir, []
        self.offsets: dict[int, int] = {}  # cell number -> lines the magic line adds
        shell._showtraceback = self._show

    def _show(self, etype, evalue, stb) -> None:
        text = ANSI.sub("", self.shell.InteractiveTB.stb2text(stb))
        ours = self.ours_dir.rstrip(os.sep)
        if etype is KeyboardInterrupt:
            # a Ctrl-C that lands while graphmagic starts the cell ends it on the %%autograd
            # line, raised by the magic itself: that one frame is the documented difference
            text = text.replace(os.path.join(ours, "ipython", "magics.py"), "<the magic>")
        self.shown.append({
            "ename": getattr(etype, "__name__", safe_repr(etype)),
            "message": normalise(safe_str(evalue), self.offsets).splitlines()[:1],
            "graphmagic frames": ours in text,
            "hidden frames": len(re.findall(r"skipping hidden \d+ frame", text)),
        })


def magic_lines(source: str) -> int:
    return 1 if source.startswith("%%") else 0


def record_cell(shell, recorder: Recorder, base: Baseline, source: str,
                interrupt: str | None, variant: str, ours_dir: str) -> dict:
    offsets = recorder.offsets
    offsets[shell.execution_count] = magic_lines(source)  # the number this cell gets
    recorder.shown.clear()
    shell.display_pub.outputs.clear()
    out, err = io.StringIO(), io.StringIO()
    fd_file = tempfile.TemporaryFile()
    saved_fds = os.dup(1), os.dup(2)
    saved_std = sys.stdout, sys.stderr
    watcher = None
    if interrupt:
        watcher = Watcher(interrupt if variant == "magic" else "body", sigint_self, ours_dir)
    result, escaped, started = None, None, time.perf_counter()
    os.dup2(fd_file.fileno(), 1)
    os.dup2(fd_file.fileno(), 2)
    sys.stdout, sys.stderr = out, err
    try:
        try:
            if watcher:
                watcher.start()
            result = shell.run_cell(source, store_history=True)
            ended = time.perf_counter()
        finally:
            if watcher:
                watcher.stop.set()
                watcher.join()
            time.sleep(0.01)  # a signal already sent is handled here, inside the try
    except BaseException as exc:  # noqa: BLE001 - what escaped run_cell, KeyboardInterrupt too
        escaped = type(exc).__name__
        ended = time.perf_counter()
    finally:
        sys.stdout, sys.stderr = saved_std
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in saved_fds:
            os.close(fd)
    fd_file.seek(0)
    raw = fd_file.read().decode("utf-8", "replace")
    fd_file.close()
    error = stage = None
    if result is not None:
        problem = result.error_before_exec or result.error_in_exec
        error = type(problem).__name__ if problem is not None else None
        stage = "before" if result.error_before_exec is not None else "in" if error else None
    displays, reports = [], []
    for output in shell.display_pub.outputs:
        data = output.get("data") or {}
        if JSON_MIME in data:
            reports.append(report_summary(data[JSON_MIME]))
        else:
            displays.append({k: normalise(str(v), offsets) for k, v in data.items()})
    record = {
        "source": source,
        "stdout": normalise(out.getvalue(), offsets),
        "stderr": normalise(err.getvalue(), offsets),
        "fd": normalise(raw, offsets),
        "result": normalise(safe_repr(result.result), offsets) if result is not None else None,
        "error": error,
        "stage": stage,
        "escaped": escaped,
        "tracebacks": list(recorder.shown),
        "displays": displays,
        "reports": reports,
        "namespace": sorted(k for k in shell.user_ns if not k.startswith("_")
                            and k not in shell.user_ns_hidden),
        "state": state(shell, base),
        "seconds": round(ended - started, 3),
    }
    if watcher is not None:
        record["interrupt"] = {
            "wanted": watcher.phase, "landed": watcher.landed,
            "latency": None if watcher.fired_at is None else round(ended - watcher.fired_at, 3)}
    return record


def report_summary(data: dict) -> dict:
    variables = data.get("variables") if isinstance(data.get("variables"), dict) else {}
    graph = data.get("graph") if isinstance(data.get("graph"), dict) else {}
    rows = [r for r in variables.get("rows") or [] if isinstance(r, dict)]
    return {
        "exception": data.get("exception"),
        "errors": data.get("errors"),
        "device": data.get("device"),
        "findings": sorted([f.get("kind"), f.get("variable")] for f in data.get("findings") or []),
        "variables": [[r.get("name"), r.get("status")] for r in rows[:40]],
        "graph roots": graph.get("roots"),
        "graph ops": graph.get("ops"),
    }


# ---- the worker: one shell, one fork per case and variant -----------------------------------
def make_shell():
    from IPython.core.displaypub import CapturingDisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = CapturingDisplayPublisher()
    shell.colors = "nocolor"
    shell.run_line_magic("load_ext", "graphmagic")
    for module in HEAVY_IMPORTS:
        __import__(module)
    for cell in [SETUP, *WARM_UP]:
        shell.run_cell(cell, store_history=True)
    return shell


def run_variant(shell, base, case, variant: str, path: str, ours_dir: str) -> None:
    records = []
    __import__("random").setstate(base.random_state)  # the random module reseeds after a fork
    try:
        recorder = Recorder(shell, ours_dir)
        for cell in case.cells:
            source = cell.magic if variant == "magic" else cell.plain
            records.append(record_cell(shell, recorder, base, source, cell.interrupt,
                                       variant, ours_dir))
    except BaseException as exc:  # noqa: BLE001
        records.append({"harness error": f"{type(exc).__name__}: {safe_str(exc)}"})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(records, handle, default=str)


def run_all(cases, out_path: str, jobs: int = 2) -> dict:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with it ignored
    shell = make_shell()
    ours_dir = graphmagic_dir()
    base = Baseline(shell)
    before_warm = state(shell, base)
    shell.run_cell(WARM_UP[1], store_history=True)  # one more %%autograd cell: nothing changes
    results: dict = {"baseline": {"before": before_warm, "after": state(shell, base)},
                     "cases": {}}
    folder = tempfile.mkdtemp(prefix="invisible-")
    pending = [(case, variant) for case in cases for variant in ("plain", "magic")]
    running: dict[int, tuple] = {}
    started_all = time.perf_counter()
    while pending or running:
        while pending and len(running) < jobs:
            case, variant = pending.pop(0)
            path = os.path.join(folder, f"{case.name}.{variant}.json")
            pid = os.fork()
            if pid == 0:  # the child: run, write, leave without cleanup of the parent's
                try:
                    run_variant(shell, base, case, variant, path, ours_dir)
                finally:
                    os._exit(0)
            running[pid] = (case, variant, path, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for other, (case, variant, path, since) in list(running.items()):
                if time.monotonic() - since > HANG_GUARD:
                    os.kill(other, signal.SIGKILL)
            time.sleep(0.005)
            continue
        case, variant, path, since = running.pop(pid)
        entry = results["cases"].setdefault(case.name, {})
        try:
            with open(path, encoding="utf-8") as handle:
                entry[variant] = json.load(handle)
        except (OSError, ValueError):
            entry[variant] = [{"harness error": f"no result (exit status {status}; "
                                                f"killed after {HANG_GUARD:.0f} s if -9)"}]
        entry[f"{variant} seconds"] = round(time.monotonic() - since, 2)
    results["seconds"] = round(time.perf_counter() - started_all, 2)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, default=str)
    return results


# ---- comparing the two runs -------------------------------------------------------------------
COMPARED = ("stdout", "stderr", "fd", "result", "error", "escaped", "tracebacks", "displays",
            "namespace", "state")


def differences(case, runs: dict) -> list[str]:
    """Every way the magic run differs from the plain one, one line each."""
    plain, magic = runs.get("plain"), runs.get("magic")
    problems = []
    for name, records in (("plain", plain), ("magic", magic)):
        if not records or any("harness error" in r for r in records):
            return [f"{name} run failed: {records}"]
    for i, (cell, p, m) in enumerate(zip(case.cells, plain, magic), start=1):
        where = f"cell {i}"
        for key in COMPARED:
            if key in cell.ignore:
                continue
            if key == "state":
                for item in p["state"]:
                    if p["state"][item] != m["state"][item]:
                        problems.append(f"{where}: state {item!r}: plain {p['state'][item]!r} "
                                        f"!= magic {m['state'][item]!r}")
            elif p[key] != m[key]:
                problems.append(f"{where}: {key}: plain {p[key]!r} != magic {m[key]!r}")
        problems += [f"{where}: {p}" for p in report_problems(cell, m)]
        if cell.plain.startswith("%%autograd"):  # both runs are under the magic: same reports
            if [strip(r) for r in p["reports"]] != [strip(r) for r in m["reports"]]:
                problems.append(f"{where}: reports: plain {p['reports']!r} != magic {m['reports']!r}")
        for name, rec in (("plain", p), ("magic", m)):
            info = rec.get("interrupt")
            if info and (info["latency"] is None or info["latency"] > LATENCY_GUARD):
                problems.append(f"{where}: {name} run: SIGINT never sent or the cell went on "
                                f"for more than {LATENCY_GUARD} s after it: {info}")
        info = m.get("interrupt")
        if info and info["landed"] and not info["landed"].startswith(info["wanted"]):
            problems.append(f"{where}: harness: the SIGINT landed in {info['landed']}, "
                            f"not in {info['wanted']}")
    return problems


def strip(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "errors"}


def expected_reports(cell, record: dict) -> tuple[int, ...]:
    """One report per %%autograd cell; none when its options are refused or it did not
    compile; an interrupted cell may show one (marked interrupted) or none."""
    if cell.reports is not None:
        return cell.reports
    if not cell.magic.startswith("%%autograd") or record["error"] == "UsageError" \
            or record["stage"] == "before":
        return (0,)
    return (0, 1) if cell.interrupt else (1,)


def report_problems(cell, record: dict) -> list[str]:
    """The magic run's reports: as many as expected, normal, the cell's own exception."""
    expected = expected_reports(cell, record)
    reports = record["reports"]
    problems = []
    if len(reports) not in expected:
        problems.append(f"reports: {len(reports)} shown, {' or '.join(map(str, expected))} expected")
    for report in reports:
        if report["errors"]:
            problems.append(f"report errors: {report['errors']!r}")
        own = (report["exception"] or "").split(":")[0] or None
        # IPython's own history formatting fails on an exception whose __str__ raises, and
        # then records that RuntimeError; the report names the exception the cell raised
        unprintable = "cannot be printed" in (report["exception"] or "")
        if own != record["error"] and not (unprintable and record["error"] == "RuntimeError"):
            problems.append(f"report exception {report['exception']!r}, "
                            f"the cell's own is {record['error']!r}")
    return problems


def load_cases():
    """The case table and the canaries (run as a script, this folder is on sys.path)."""
    import invisible_cases

    return invisible_cases.CASES + invisible_cases.CANARY_CASES


if __name__ == "__main__":
    chosen = set(sys.argv[2:])
    all_cases = [c for c in load_cases() if not chosen or c.name in chosen]
    os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp(prefix="invisible-ipython-"))
    run_all(all_cases, sys.argv[1], jobs=int(os.environ.get("INVISIBLE_JOBS", "2")))
