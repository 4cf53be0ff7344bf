"""The case table of the state-differential harness (issue 9): a ``%%autograd`` cell must
be invisible to the user's code.

Each case is a short sequence of cells. Every cell has a ``plain`` source (the run without
the magic) and a ``magic`` source (usually the same body under ``%%autograd``); both runs
start from the same fresh shell (see ``invisible_harness.py``), and after every cell their
output, result, exception, displays, names and global state must be the same, and every
``%%autograd`` cell must show exactly one normal report whose exception is the cell's own.

``KNOWN`` (at the end) lists the difference each case shows today (issue 9); the test marks
those cases ``xfail(strict=True)``, so a fix makes the test fail until its line is removed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

MAGIC = "%%autograd"
# the plain stand-in for a cell whose options graphmagic must refuse: the same exception type
REFUSED = "raise __import__('IPython').core.error.UsageError('refused')"
BIG = "xs = [torch.zeros(1) for _ in range(50_000)]"  # a namespace that is slow to snapshot
PROBE = ("probe = torch.ones(3, requires_grad=True)\n"
         "(probe * 2).sum().backward()\n"
         "print(probe.grad)")


@dataclass(frozen=True)
class Cell:
    plain: str
    magic: str
    interrupt: str | None = None     # SIGINT while the main thread is in: body, start, end
    ignore: frozenset = frozenset()  # comparisons left out for this cell
    reports: tuple[int, ...] | None = None  # allowed report counts (default: see harness)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    cells: tuple[Cell, ...]
    known: str | None = None  # today's difference (issue 9): the test is xfail(strict)


def under(body: str, line: str = MAGIC, **kw) -> Cell:
    """The body plainly, and under the magic line."""
    return Cell(plain=body, magic=f"{line}\n{body}", **kw)


def plain(body: str, **kw) -> Cell:
    """A cell that runs plainly in both runs (what a later plain cell sees)."""
    return Cell(plain=body, magic=body, **kw)


def refused(line: str, body: str = "refused_body = 1") -> Cell:
    """Options graphmagic must refuse with UsageError before anything runs (the message
    differs from the stand-in's, so stderr is not compared)."""
    return Cell(plain=REFUSED, magic=f"{line}\n{body}", ignore=frozenset({"stderr"}))


def same_as(line: str, reference: str, body: str) -> Cell:
    """Two spellings of the same options: both runs are under the magic."""
    return Cell(plain=f"{reference}\n{body}", magic=f"{line}\n{body}")


def case(name: str, kind: str, *cells: Cell, known: str | None = None, probe: bool = True) -> Case:
    """A case; by default it ends with a probe cell: the next cell must be normal."""
    return Case(name, kind, tuple(cells) + ((under(PROBE),) if probe else ()), known)


BACKWARD = "x = torch.ones(3, requires_grad=True)\nloss = (x * x).sum()\nloss.backward()\nx.grad"

# ---- hostile namespace objects -------------------------------------------------------------
LAZY = ("class LazyProxy:\n"
        "    @property\n"
        "    def __class__(self):\n"
        "        raise RuntimeError('lazy import failed')\n"
        "lazy = LazyProxy()")
HOSTILE = [
    case("class-property-raises", "hostile object", under(LAZY), under(BACKWARD),
         under("again = (x * 3).sum()\nagain.backward()\nprint(x.grad)")),
    case("getattr-proxy", "hostile object",
         under("class Recorder:\n"
               "    def __init__(self):\n"
               "        object.__setattr__(self, 'seen', [])\n"
               "    def __getattr__(self, name):\n"
               "        self.seen.append(name)\n"
               "        raise AttributeError(name)\n"
               "rec = Recorder()"),
         under(BACKWARD), under("print(rec.seen)")),
    case("getattribute-proxy", "hostile object",
         under("touched = []\n"
               "class Watched:\n"
               "    def __getattribute__(self, name):\n"
               "        touched.append(name)\n"
               "        return object.__getattribute__(self, name)\n"
               "w = Watched()"),
         under(BACKWARD), under("print(touched)")),
    case("dunder-methods-raise", "hostile object",
         under("class Touchy:\n"
               "    def __eq__(self, other): raise RuntimeError('eq')\n"
               "    def __hash__(self): raise RuntimeError('hash')\n"
               "    def __bool__(self): raise RuntimeError('bool')\n"
               "    def __len__(self): raise RuntimeError('len')\n"
               "    def __iter__(self): raise RuntimeError('iter')\n"
               "    def __dir__(self): raise RuntimeError('dir')\n"
               "    def __repr__(self): raise RuntimeError('repr')\n"
               "touchy = Touchy()"),
         under(BACKWARD)),
    case("lazy-module", "hostile object",
         under("import types\n"
               "class LazyModule(types.ModuleType):\n"
               "    def __getattr__(self, name):\n"
               "        print('lazy load', name)\n"
               "        raise AttributeError(name)\n"
               "lazymod = LazyModule('lazymod')"),
         under(BACKWARD)),
    case("weakref-proxies", "hostile object",
         under("import weakref\n"
               "class Gone: pass\n"
               "gone = Gone()\n"
               "dead = weakref.proxy(gone)\n"
               "del gone\n"
               "live = torch.ones(2)\n"
               "alive = weakref.proxy(live)"),
         under(BACKWARD), under("del live\nprint(type(alive).__name__)")),
    case("module-overrides", "hostile object",
         under("class Loud(torch.nn.Module):\n"
               "    def __init__(self):\n"
               "        super().__init__()\n"
               "        self.fc = torch.nn.Linear(2, 1)\n"
               "    def forward(self, x):\n"
               "        return self.fc(x)\n"
               "    def named_parameters(self, *a, **k):\n"
               "        print('named_parameters called')\n"
               "        return super().named_parameters(*a, **k)\n"
               "    def parameters(self, *a, **k):\n"
               "        print('parameters called')\n"
               "        return super().parameters(*a, **k)\n"
               "    def named_modules(self, *a, **k):\n"
               "        print('named_modules called')\n"
               "        return super().named_modules(*a, **k)\n"
               "    def children(self):\n"
               "        print('children called')\n"
               "        return super().children()\n"
               "    def __getattr__(self, name):\n"
               "        print('getattr', name)\n"
               "        return super().__getattr__(name)\n"
               "m = Loud()"),
         under("out = m(torch.ones(1, 2)).sum()\nout.backward()")),
    case("exception-str-raises", "hostile object",
         under("class BadStr(Exception):\n"
               "    def __str__(self):\n"
               "        raise RuntimeError('no str')"),
         under("raise BadStr()"), under("print('after')")),
    case("exception-repr-raises", "hostile object",
         under("class BadRepr(Exception):\n"
               "    def __repr__(self):\n"
               "        raise RuntimeError('no repr')"),
         under("raise BadRepr('shown')")),
    case("mixed-device-hint-hostile-namespace", "hostile object", under(LAZY),
         under("a = torch.ones(2)\nraise RuntimeError('Expected all tensors to be on the same "
               "device, but found at least two devices, cpu and meta!')")),
]

# ---- tensor subclasses and modes -------------------------------------------------------------
LOGGED = ("calls = []\n"
          "class Logged(torch.Tensor):\n"
          "    @classmethod\n"
          "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
          "        calls.append(getattr(func, '__name__', str(func)))\n"
          "        return super().__torch_function__(func, types, args, kwargs or {})\n")
OPLOG = ("from torch.utils._python_dispatch import TorchDispatchMode\n"  # a mode logging ops
         "class OpLog(TorchDispatchMode):\n"
         "    def __init__(self):\n"
         "        super().__init__()\n"
         "        self.ops = []\n"
         "    def __torch_dispatch__(self, func, types, args=(), kwargs=None):\n"
         "        self.ops.append(str(func))\n"
         "        return func(*args, **(kwargs or {}))\n")

SUBCLASSES = [
    case("printing-torch-function", "tensor subclass",
         under("class Loud(torch.Tensor):\n"
               "    @classmethod\n"
               "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
               "        print('torch_function', getattr(func, '__name__', func))\n"
               "        return super().__torch_function__(func, types, args, kwargs or {})\n"
               "a = torch.ones(3).as_subclass(Loud)"),
         under("b = a * 2"), under("c = b.sum()")),
    case("logging-torch-function-backward", "tensor subclass",
         under(LOGGED + "w = torch.ones(3, requires_grad=True).as_subclass(Logged)"),
         under("loss = (w * w).sum()\nloss.backward()"),
         under("print(len(calls), sorted(set(calls)))")),
    case("logging-torch-function-trace", "tensor subclass",
         under(LOGGED + "w = torch.ones(3, requires_grad=True).as_subclass(Logged)"),
         under("loss = (w * w).sum()\nloss.backward()", line="%%autograd --trace"),
         under("print(len(calls), sorted(set(calls)))")),
    case("raising-torch-function", "tensor subclass",
         under("class Strict(torch.Tensor):\n"
               "    @classmethod\n"
               "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
               "        raise RuntimeError('Strict forbids ' + getattr(func, '__name__', '?'))\n"
               "s = torch.Tensor._make_subclass(Strict, torch.ones(3))"),
         under("y = 1")),
    case("fake-tensor-in-namespace", "tensor subclass",
         under("from torch._subclasses.fake_tensor import FakeTensorMode\n"
               "with FakeTensorMode():\n"
               "    fake = torch.empty(4)"),
         under(BACKWARD)),
    case("dispatch-wrapper-subclass", "tensor subclass",
         under("from torch.utils._pytree import tree_map\n"
               "log = []\n"
               "class Wrapped(torch.Tensor):\n"
               "    @staticmethod\n"
               "    def __new__(cls, elem):\n"
               "        return torch.Tensor._make_wrapper_subclass(cls, elem.shape, "
               "dtype=elem.dtype, device=elem.device)\n"
               "    def __init__(self, elem):\n"
               "        self.elem = elem\n"
               "    __torch_function__ = torch._C._disabled_torch_function_impl\n"
               "    @classmethod\n"
               "    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):\n"
               "        log.append(str(func))\n"
               "        unwrap = lambda t: t.elem if isinstance(t, Wrapped) else t\n"
               "        wrap = lambda t: Wrapped(t) if isinstance(t, torch.Tensor) else t\n"
               "        return tree_map(wrap, func(*tree_map(unwrap, args), "
               "**tree_map(unwrap, kwargs or {})))\n"
               "wt = Wrapped(torch.ones(3))"),
         under("u = wt * 2"), under("print(log)")),
    case("dispatch-mode-left-active", "dispatch mode",
         under(OPLOG + "oplog = OpLog()\n"
               "oplog.__enter__()"),
         under("y = torch.ones(2) * 3"), under(BACKWARD),
         under("oplog.__exit__(None, None, None)\nprint(oplog.ops)")),
    case("function-mode-left-active", "dispatch mode",
         under("from torch.overrides import TorchFunctionMode\n"
               "class FnLog(TorchFunctionMode):\n"
               "    def __init__(self):\n"
               "        super().__init__()\n"
               "        self.names = []\n"
               "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
               "        self.names.append(getattr(func, '__name__', str(func)))\n"
               "        return func(*args, **(kwargs or {}))\n"
               "fnlog = FnLog()\n"
               "fnlog.__enter__()"),
         under("y = torch.ones(2) * 3"),
         under("fnlog.__exit__(None, None, None)\nprint(fnlog.names)")),
    case("dispatch-mode-within-cell", "dispatch mode",
         under(OPLOG + "x = torch.ones(3, requires_grad=True)\n"
               "with OpLog() as seen:\n"
               "    (x * 2).sum().backward()\n"
               "print(seen.ops)")),
    case("saved-tensor-hooks-left-active", "dispatch mode",
         under("packed = []\n"
               "def pack(t):\n"
               "    packed.append(tuple(t.shape))\n"
               "    return t\n"
               "hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)\n"
               "hooks.__enter__()"),
         under("x = torch.ones(3, requires_grad=True)\ny = (x * x).sum()\ny.backward()"),
         under("hooks.__exit__(None, None, None)\nprint(packed)")),
]

# ---- container subclasses ------------------------------------------------------------------------
CONTAINERS = [
    case("list-subclass-overrides", "container subclass",
         under("class CountingList(list):\n"
               "    calls = []\n"
               "    def __iter__(self):\n"
               "        CountingList.calls.append('iter')\n"
               "        return super().__iter__()\n"
               "    def __getitem__(self, i):\n"
               "        CountingList.calls.append('getitem')\n"
               "        return super().__getitem__(i)\n"
               "    def __len__(self):\n"
               "        CountingList.calls.append('len')\n"
               "        return super().__len__()\n"
               "items = CountingList([torch.ones(2), torch.zeros(2)])"),
         under(BACKWARD), under("print(CountingList.calls)")),
    case("list-subclass-raises", "container subclass",
         under("class NoIter(list):\n"
               "    def __iter__(self): raise RuntimeError('no iteration')\n"
               "    def __len__(self): raise RuntimeError('no len')\n"
               "    def __getitem__(self, i): raise RuntimeError('no getitem')\n"
               "blocked = NoIter([torch.ones(2)])"),
         under(BACKWARD), under("y = torch.ones(2) * 2")),
    case("dict-subclass-overrides", "container subclass",
         under("class CountingDict(dict):\n"
               "    calls = []\n"
               "    def items(self):\n"
               "        CountingDict.calls.append('items')\n"
               "        return super().items()\n"
               "    def keys(self):\n"
               "        CountingDict.calls.append('keys')\n"
               "        return super().keys()\n"
               "    def values(self):\n"
               "        CountingDict.calls.append('values')\n"
               "        return super().values()\n"
               "    def __iter__(self):\n"
               "        CountingDict.calls.append('iter')\n"
               "        return super().__iter__()\n"
               "    def __getitem__(self, k):\n"
               "        CountingDict.calls.append('getitem')\n"
               "        return super().__getitem__(k)\n"
               "params = CountingDict(w=torch.ones(2, requires_grad=True))"),
         under("loss = (params.get('w') * 3).sum()\nloss.backward()"),
         under("print(CountingDict.calls)")),
    case("dict-subclass-raises", "container subclass",
         under("class Sealed(dict):\n"
               "    def items(self): raise RuntimeError('no items')\n"
               "    def keys(self): raise RuntimeError('no keys')\n"
               "    def values(self): raise RuntimeError('no values')\n"
               "    def __iter__(self): raise RuntimeError('no iter')\n"
               "    def __len__(self): raise RuntimeError('no len')\n"
               "sealed = Sealed(t=torch.ones(2))"),
         under(BACKWARD), under("y = torch.ones(2) * 2")),
    case("tuple-subclass-overrides", "container subclass",
         under("from collections import namedtuple\n"
               "class LoudPair(namedtuple('Pair', 'a b')):\n"
               "    def __iter__(self):\n"
               "        print('pair iter')\n"
               "        return super().__iter__()\n"
               "    def __getitem__(self, i):\n"
               "        print('pair getitem', i)\n"
               "        return super().__getitem__(i)\n"
               "pair = LoudPair(torch.ones(1), torch.zeros(1))"),
         under(BACKWARD)),
    case("defaultdict-factory", "container subclass",
         under("from collections import defaultdict\n"
               "def make():\n"
               "    print('default made')\n"
               "    return torch.zeros(1)\n"
               "dd = defaultdict(make, a=torch.ones(1))"),
         under(BACKWARD), under("print(sorted(dd))")),
    case("cyclic-and-deep-containers", "container subclass",
         under("loop = [torch.ones(1)]\nloop.append(loop)\n"
               "d = {'t': torch.ones(1)}\nd['self'] = d\n"
               "deep = cur = []\n"
               "for _ in range(50_000):\n"
               "    cur.append([])\n"
               "    cur = cur[0]\n"
               "cur.append(torch.ones(1))"),
         under(BACKWARD)),
]

# ---- wrappers captured by the user -----------------------------------------------------------------
NONLEAF_USE = ("x = torch.ones(2, requires_grad=True)\n"
               "y = x * 2\n"
               "{call}\n"
               "print(x.grad)\n"
               "print(y.grad)")
CAPTURED = [
    case("captured-autograd-backward", "captured wrapper",
         under("bw = torch.autograd.backward"),
         plain(NONLEAF_USE.format(call="bw(y.sum())")),
         plain(NONLEAF_USE.format(call="bw(y.sum())\nbw((y * 1).sum())"))),
    case("from-import-backward-and-grad", "captured wrapper",
         under("from torch.autograd import backward, grad"),
         plain(NONLEAF_USE.format(call="backward(y.sum())")),
         plain("g, = grad((x * 3).sum(), x)\nprint(g)"),
         plain("w = torch.ones(2, requires_grad=True)\n"
               "for _ in range(2):\n"
               "    backward((w * 2).sum())\n"
               "print(w.grad)\n"
               "h = (w * 2).sum()\n"
               "backward(h)\n"
               "backward(h)")),
    case("captured-tensor-backward", "captured wrapper",
         under("tbw = torch.Tensor.backward"),
         plain(NONLEAF_USE.format(call="tbw(y.sum())"))),
    case("captured-showwarning", "captured wrapper",
         under("prev = warnings.showwarning"),
         plain("def mine(message, category, filename, lineno, file=None, line=None):\n"
               "    print('mine:', message)\n"
               "warnings.showwarning = mine\n"
               "warnings.warn('hello')"),
         plain("warnings.showwarning = prev\nwarnings.warn('again')"),
         plain("warnings.warn('third', RuntimeWarning)")),
    case("user-wraps-showwarning", "captured wrapper",
         under("orig = warnings.showwarning\n"
               "def logged(message, *args, **kwargs):\n"
               "    print('logged:', message)\n"
               "    return orig(message, *args, **kwargs)\n"
               "warnings.showwarning = logged"),
         plain("warnings.warn('w1')"), under("warnings.warn('w2', RuntimeWarning)")),
    case("captured-custom-tb", "captured wrapper",
         under("shell = get_ipython()\nsaved_tb = (shell.custom_exceptions, shell.CustomTB)"),
         plain("shell.custom_exceptions, shell.CustomTB = saved_tb\nraise ValueError('later')"),
         plain("raise TypeError('plain')")),
]

# ---- custom exception handlers ----------------------------------------------------------------------
HANDLER = ("def handler(shell, etype, value, tb, tb_offset=None):\n"
           "    print('handled', etype.__name__, value)\n")
CUSTOM_EXC = [
    case("set-custom-exc-in-cell", "custom exception handler",
         under(HANDLER + "get_ipython().set_custom_exc((ValueError,), handler)"),
         under("raise ValueError('in a magic cell')"), plain("raise ValueError('in a plain cell')")),
    case("set-custom-exc-before", "custom exception handler",
         plain(HANDLER + "get_ipython().set_custom_exc((ValueError,), handler)"),
         under("raise ValueError('one')"), under("raise TypeError('two')"),
         plain("raise ValueError('three')")),
    case("set-custom-exc-then-raise", "custom exception handler",
         under(HANDLER + "get_ipython().set_custom_exc((ValueError,), handler)\n"
               "raise ValueError('same cell')"),
         plain("raise ValueError('next cell')")),
    case("custom-exc-handler-raises", "custom exception handler",
         plain("def broken(shell, etype, value, tb, tb_offset=None):\n"
               "    raise LookupError('handler broke')\n"
               "get_ipython().set_custom_exc((ValueError,), broken)"),
         under("raise ValueError('boom')"), plain("raise ValueError('again')")),
]

# ---- warnings ---------------------------------------------------------------------------------------------
WARNINGS = [
    case("catch-warnings-left-open", "warnings context",
         under("cm = warnings.catch_warnings()\ncm.__enter__()\nwarnings.simplefilter('ignore')"),
         under("warnings.warn('hidden')"),
         under("cm.__exit__(None, None, None)"),
         under("warnings.warn('shown')"), plain("warnings.warn('shown in a plain cell')")),
    case("catch-warnings-record-left-open", "warnings context",
         under("cm = warnings.catch_warnings(record=True)\nlog = cm.__enter__()\n"
               "warnings.simplefilter('always')"),
         under("warnings.warn('one')\n" + BACKWARD),
         under("cm.__exit__(None, None, None)\nprint([str(w.message) for w in log])"),
         plain("warnings.warn('after')")),
    case("simplefilter-error-nonleaf-grad", "warnings context",
         under("warnings.simplefilter('error')"),
         under("x = torch.ones(2, requires_grad=True)\ny = x * 2\ny.sum().backward()\ny.grad"),
         plain("warnings.resetwarnings()\nwarnings.simplefilter('default')")),
    case("warning-raised-inside-backward", "pytorch warning",
         under("m = torch.nn.Linear(2, 2)\n"
               "h = m.register_full_backward_hook(lambda mod, gi, go: None)\n"
               "out = m(torch.ones(1, 2)).sum()\n"
               "out.backward()")),
    case("warning-once-per-location", "pytorch warning",
         under("def f():\n    warnings.warn('once per location')"),
         under("f()"), under("f()"), plain("f()")),
    case("user-filter-by-module", "pytorch warning",
         under("warnings.filterwarnings('ignore', message='Full backward hook', module='torch')\n"
               "m = torch.nn.Linear(2, 2)\n"
               "h = m.register_full_backward_hook(lambda mod, gi, go: None)\n"
               "out = m(torch.ones(1, 2)).sum()\n"
               "out.backward()")),
    case("error-through-backward", "pytorch warning",
         under("y = (torch.ones(2, requires_grad=True) * 2).sum()\ny.backward()\ny.backward()")),
]

# IPython's own run_cell_magic frame shows as "[... skipping hidden 1 frame]": not ours
RUN_CELL_MAGIC = frozenset({"tracebacks"})
# ---- nested run_cell ------------------------------------------------------------------------------------
NESTED = [
    case("nested-run-cell-raises", "nested run_cell",
         under("get_ipython().run_cell('1/0')\nx = torch.ones(2)")),
    case("nested-run-cell-ok", "nested run_cell",
         under("get_ipython().run_cell('inner = torch.ones(2)')\nouter = inner * 2\nouter")),
    case("nested-magic-cell", "nested run_cell",
         Cell(plain="get_ipython().run_cell('x = torch.ones(2) * 2');",
              magic="get_ipython().run_cell('%%autograd\\nx = torch.ones(2) * 2');", reports=(1,))),
    case("run-cell-magic-interrupted", "nested run_cell",
         Cell(plain="raise KeyboardInterrupt",
              magic="get_ipython().run_cell_magic('autograd', '', 'raise KeyboardInterrupt')",
              reports=(1,), ignore=RUN_CELL_MAGIC)),
    case("run-cell-magic-raises", "nested run_cell",
         Cell(plain="x = torch.ones(2)\n1/0",
              magic="get_ipython().run_cell_magic('autograd', '', 'x = torch.ones(2)\\n1/0')",
              reports=(1,), ignore=RUN_CELL_MAGIC)),
]

# ---- options ---------------------------------------------------------------------------------------------------
GRAPH_BODY = "x = torch.ones(2, requires_grad=True)\ny = x * 2\nz = x + 1\nw = x - 1"
OPTIONS = [
    case("out-builtins", "bad option", refused("%%autograd --out __builtins__"),
         plain("print(len([1, 2]))"), plain("total = sum(range(3))\ntotal")),
    case("out-In", "bad option", refused("%%autograd --out In"),
         plain("print(type(In).__name__)")),
    case("out-get_ipython", "bad option", refused("%%autograd --out get_ipython"),
         plain("print(type(get_ipython()).__name__)")),
    case("out-underscore", "bad option", plain("41 + 1"), refused("%%autograd --out _"),
         plain("print(_)")),
    case("out-exit", "bad option", refused("%%autograd --out exit"),
         plain("print(type(exit).__name__)")),
    case("out-not-var-expanded", "bad option", plain("n = 1"), refused("%%autograd --out r$n"),
         plain("print(sorted(k for k in dir() if k.startswith('r') and k[1:].isdigit()))")),
    case("device-single-quoted", "option quoting",
         same_as("%%autograd --device 'cpu'", "%%autograd --device cpu", BACKWARD)),
    case("device-double-quoted", "option quoting",
         same_as('%%autograd --device "cpu"', "%%autograd --device cpu", BACKWARD)),
    case("device-quoted-with-comment", "option quoting",
         same_as("%%autograd --device 'cpu'  # note", "%%autograd --device cpu", BACKWARD)),
    case("graph-quoted", "option quoting",
         same_as("%%autograd --graph 'y,z'", "%%autograd --graph y,z", GRAPH_BODY)),
    case("graph-quoted-with-comment", "option quoting",
         same_as("%%autograd --graph 'y,z'  # two roots", "%%autograd --graph y,z", GRAPH_BODY)),
    case("long-option-line", "option quoting",
         same_as("%%autograd --device cpu" + " " * 3000 + "--all", "%%autograd --device cpu --all",
                 BACKWARD)),
    case("bad-device", "bad option", refused("%%autograd --device banana")),
    case("unbalanced-quote", "bad option", refused("%%autograd --device 'cpu")),
    case("negative-max-nodes", "bad option", refused("%%autograd --max-nodes -1")),
    case("unknown-option", "bad option", refused("%%autograd --bogus")),
]

# ---- interrupts ------------------------------------------------------------------------------------------------------
INTERRUPTS = [
    case("keyboardinterrupt-raised-in-body", "interrupt",
         under("x = torch.ones(2, requires_grad=True)\nraise KeyboardInterrupt")),
    case("sigint-in-body", "interrupt",
         under("with torch.no_grad():\n    time.sleep(3)\nprint('body finished')", interrupt="body")),
    case("sigint-in-body-trace", "interrupt",
         under("for _ in range(300):\n    time.sleep(0.01)\nprint('body finished')",
               line="%%autograd --trace", interrupt="body")),
    case("sigint-in-allocating-loop-trace", "interrupt",   # --trace's profiler records each
         under("x = torch.ones(10)\nfor _ in range(10**7):\n    z = x * 2\nprint('body finished')",
               line="%%autograd --trace", interrupt="body")),
    case("sigint-in-start-snapshot", "interrupt", plain(BIG),
         under("time.sleep(3)\nprint('body finished')", interrupt="start")),
    case("sigint-in-end-of-cell", "interrupt", plain(BIG),
         under("y = 1\ntime.sleep(0.3)", interrupt="end")),
    case("sigint-in-end-of-cell-trace", "interrupt", plain(BIG),
         under("y = 1\ntime.sleep(0.3)", line="%%autograd --trace", interrupt="end")),
]

# ---- the user's own changes stay -------------------------------------------------------------------------------
USER = [
    case("user-global-settings", "user change",
         under("import random\n"
               "torch.set_default_dtype(torch.float64)\n"
               "torch.set_printoptions(precision=2)\n"
               "sys.setrecursionlimit(4000)\n"
               "torch.manual_seed(1)\n"
               "random.seed(2)\n"
               "torch.use_deterministic_algorithms(True, warn_only=True)\n"
               "torch.autograd.set_detect_anomaly(True)"),
         under("print(torch.ones(1) / 3, torch.get_default_dtype())"),
         plain("print(torch.randn(2), random.random())")),
    case("user-grad-and-device", "user change",
         under("torch.set_grad_enabled(False)"),
         under("y = torch.ones(2, requires_grad=True) * 2\nprint(y.requires_grad)"),
         under("torch.set_grad_enabled(True)\ntorch.set_default_device('meta')"),
         under("z = torch.ones(2)\nprint(z.device)"), plain("torch.set_default_device(None)")),
    case("user-profile-function", "user change",
         under("def prof(frame, event, arg):\n    pass\nsys.setprofile(prof)"),
         under("x = 1"), plain("sys.setprofile(None)")),
    case("user-events-and-transformers", "user change",
         under("import ast\n"
               "def on_post(result):\n"
               "    print('post_run_cell', result.success)\n"
               "get_ipython().events.register('post_run_cell', on_post)\n"
               "def keep(lines):\n"
               "    return lines\n"
               "get_ipython().input_transformers_cleanup.append(keep)\n"
               "class Noop(ast.NodeTransformer):\n"
               "    pass\n"
               "get_ipython().ast_transformers.append(Noop())"),
         under("x = 1"), plain("y = 2")),
    case("user-module-hook", "user change",
         under("h = torch.nn.modules.module.register_module_forward_hook(\n"
               "    lambda mod, args, out: print('forward', type(mod).__name__))"),
         under("torch.nn.Linear(2, 1)(torch.ones(1, 2)).shape"), plain("h.remove()")),
    case("random-state-untouched", "user change",
         plain("torch.manual_seed(0)\nimport random\nrandom.seed(0)"),
         under("x = torch.randn(3, requires_grad=True)\n(x * 2).sum().backward()"),
         plain("print(torch.randn(2), random.random())")),
]

# ---- ordinary cells (the harness's own sanity: these match today) ---------------------------------------------------------
ORDINARY = [
    case("display-and-result", "ordinary",
         under("from IPython.display import display\ndisplay({'a': 1})\nprint('printed')\n6 * 7")),
    case("trailing-semicolon", "ordinary", under("x = torch.ones(2)\nx * 2;")),
    case("raising-cell", "ordinary",
         under("x = torch.ones(2, requires_grad=True)\nraise ValueError('boom')"),
         under("print('after')")),
    case("syntax-error", "ordinary", under("x = (")),
    case("inplace-leaf-error", "ordinary",
         under("x = torch.ones(2, requires_grad=True)\nx.add_(1)")),
    case("warning-from-cell", "ordinary", under("warnings.warn('cell warning', UserWarning)")),
    case("top-level-await", "ordinary", under("import asyncio\nawait asyncio.sleep(0)\n5")),
    case("system-exit", "ordinary", under("raise SystemExit(3)")),
]

# ---- what differs today (issue 9): one line per case; remove a line once it is fixed --------
KNOWN: dict[str, str] = {}

CASES: list[Case] = [
    replace(c, known=KNOWN.get(c.name)) for c in
    [*HOSTILE, *SUBCLASSES, *CONTAINERS, *CAPTURED, *CUSTOM_EXC, *WARNINGS, *NESTED, *OPTIONS,
     *INTERRUPTS, *USER, *ORDINARY]]

# ---- canaries: the magic source differs on purpose, the harness must see it ----------------------
# (name, cell, a text the list of differences must contain)
CANARIES = [
    ("grad-mode", Cell(plain="x = 1", magic="%%autograd\nx = 1\ntorch.set_grad_enabled(False)"),
     "state 'grad mode'"),
    ("stdout", Cell(plain="x = 1", magic="%%autograd\nx = 1\nprint('extra')"), "stdout"),
    ("showwarning", Cell(plain="x = 1", magic="%%autograd\nx = 1\nwarnings.showwarning = print"),
     "state 'warnings.showwarning'"),
    ("dispatch-mode", Cell(plain="x = 1", magic="%%autograd\nx = 1\n"
                           "from torch.utils._python_dispatch import TorchDispatchMode\n"
                           "TorchDispatchMode().__enter__()"), "state 'torch dispatch modes'"),
    ("events", Cell(plain="x = 1", magic="%%autograd\nx = 1\n"
                    "get_ipython().events.register('post_execute', lambda: None)"),
     "state 'IPython events'"),
    ("traceback", Cell(plain="1/0", magic="%%autograd\nraise ZeroDivisionError('other')"),
     "tracebacks"),
]
CANARY_CASES = [Case(f"canary-{name}", "canary", (cell,)) for name, cell, _ in CANARIES]
