"""Reading the namespace never runs user code (issue 9, points 1 and 4 for hints).

Each test runs the same cell after the same setup twice, plainly and under
``%%autograd --out r``, in a fresh namespace, and compares: the cell's stdout and stderr
(the report itself is published apart and left out), its exception, and a counter every
hostile object bumps whenever anything touches it -- 0 in both runs unless the cell itself
uses the object. The report must have no error lines and still list the namespace's tensors.
"""
from __future__ import annotations

import re
import warnings

import pytest
import torch
from support import run

from graphmagic import AutogradPitfall
from graphmagic.cell.device import mixed_device_hint
from graphmagic.code.frames import MISSING, resolve
from graphmagic.tensors import names, snapshot

HOSTILE = '''
import sys
import torch
CALLS = []

def called(what):
    CALLS.append(what)

class LazyProxy:  # lazy-import proxies answer __class__ by importing
    @property
    def __class__(self):
        called("__class__")
        raise RuntimeError("lazy proxy")

class RaisingGetattr:
    def __getattr__(self, name):
        called("__getattr__")
        raise RuntimeError(name)

class LoopingGetattr:
    def __getattr__(self, name):
        called("__getattr__ loop")
        return getattr(self, "_" + name)

class Everything:  # each protocol a reader might try: counted, and raising or endless
    def __getattribute__(self, name):
        called("__getattribute__")
        raise RuntimeError(name)
    def __bool__(self):
        called("__bool__")
        raise RuntimeError("bool")
    def __len__(self):
        called("__len__")
        return sys.maxsize
    def __iter__(self):
        called("__iter__")
        while True:
            yield torch.ones(1)
    def __getitem__(self, key):
        called("__getitem__")
        raise RuntimeError("item")
    def __repr__(self):
        called("__repr__")
        raise RuntimeError("repr")
    __str__ = __repr__

class Key:  # a dict key whose comparison raises
    def __hash__(self):
        called("__hash__")
        return 1
    def __eq__(self, other):
        called("__eq__")
        raise RuntimeError("eq")

class LoudList(list):
    def __iter__(self):
        called("list.__iter__")
        raise RuntimeError("iter")
    def __getitem__(self, i):
        called("list.__getitem__")
        raise RuntimeError("getitem")
    def __len__(self):
        called("list.__len__")
        return 2**62

class LoudTuple(tuple):
    def __iter__(self):
        called("tuple.__iter__")
        raise RuntimeError("iter")

class LoudDict(dict):
    def items(self):
        called("dict.items")
        raise RuntimeError("items")
    keys = values = __iter__ = items
    def __getitem__(self, key):
        called("dict.__getitem__")
        raise RuntimeError("getitem")
    def get(self, key, default=None):
        called("dict.get")
        raise RuntimeError("get")

class LoudModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(2, 2)
        self.register_buffer("scale", torch.ones(2))
    def __getattr__(self, name):
        called("Module.__getattr__ " + name)
        return super().__getattr__(name)
    @property
    def shadow(self):
        called("Module.shadow")
        raise RuntimeError("property")

class LoudSGD(torch.optim.SGD):
    def __getattribute__(self, name):
        called("SGD." + name)
        return super().__getattribute__(name)

torch.manual_seed(0)
lazy, rg, loop, every = LazyProxy(), RaisingGetattr(), LoopingGetattr(), Everything()
keyed = {Key(): torch.ones(1), "k": torch.ones(1)}
xs = LoudList([torch.ones(2), torch.zeros(2)])
tp = LoudTuple((torch.ones(3),))
d = LoudDict(a=torch.ones(2))
nested = [every, LoudDict(b=torch.ones(1))]
model = LoudModule()
opt = LoudSGD(list(torch.nn.Module.parameters(model)), lr=0.1, momentum=0.9)
w = torch.ones(3, requires_grad=True)
CALLS.clear()
'''

EXPECTED_NAMES = {"xs[0]", "xs[1]", "tp[0]", "d['a']", "keyed['k']", "model.fc1.weight",
                  "model.fc1.bias", "model.scale", "w"}


@pytest.fixture
def twice(ip, capsys, monkeypatch):
    """``twice(setup, body, opts)`` -> (plain, magic): each a dict with the body cell's out,
    err, warnings (other than our findings), error and the setup's CALLS afterwards; magic
    also the report ``r``."""
    published = []
    monkeypatch.setattr(ip.display_pub, "publish", lambda *a, **k: published.append(k))

    def both(setup: str, body: str, opts: str = ""):
        seen = []
        for prefix in ("", f"%%autograd --out r {opts}\n"):
            ip.reset(new_session=False)
            setup_result = run(ip, setup)
            assert setup_result.error_in_exec is None, setup_result.error_in_exec
            capsys.readouterr()
            with warnings.catch_warnings(record=True) as caught:  # pytest would hide them
                warnings.simplefilter("always")
                result = run(ip, prefix + body)
            out, err = capsys.readouterr()
            while torch._C._len_torch_dispatch_stack():  # a mode the setup left active
                torch._C._pop_torch_dispatch_stack(None)
            error = result.error_in_exec
            shown = [str(w.message) for w in caught if not issubclass(w.category, AutogradPitfall)]
            seen.append({"out": out, "err": err, "calls": list(ip.user_ns.get("CALLS", [])),
                         "warnings": shown,
                         "error": None if error is None else type(error),
                         "r": ip.user_ns.get("r")})
        assert published, "the report was not shown"
        return seen

    return both


def rows(report) -> dict[str, dict]:
    return {row["name"]: row for row in report.variables.to_json()["rows"]}


def _counted(text: str) -> str:
    return re.sub(r"(In|Out)\[\d+\]", r"\1[N]", text)


def assert_invisible(plain: dict, magic: dict) -> None:
    assert _counted(magic["out"]) == _counted(plain["out"])
    assert _counted(magic["err"]) == _counted(plain["err"])
    assert magic["error"] == plain["error"]
    assert magic["warnings"] == plain["warnings"]
    assert magic["calls"] == plain["calls"], (magic["calls"], plain["calls"])
    assert magic["r"].errors == []


BACKWARD = "y = (w * 2).sum()\ny.backward()\nprint(w.grad)"


def test_hostile_objects_are_never_touched(twice):
    plain, magic = twice(HOSTILE, BACKWARD, "--all")
    assert_invisible(plain, magic)
    assert plain["calls"] == []
    found = rows(magic["r"])
    assert EXPECTED_NAMES <= set(found)
    assert found["y"]["status"] == "new"
    assert "y" in magic["r"].to_text() and magic["r"].graph is not None


def test_a_later_cell_is_not_reduced_to_error_lines(ip, twice, capsys):
    plain, magic = twice(HOSTILE, BACKWARD)
    assert_invisible(plain, magic)
    result = run(ip, "%%autograd --out r2\nz = (w * 3).sum()\nz.backward()")
    assert result.error_in_exec is None
    assert ip.user_ns["r2"].errors == []
    assert "z" in rows(ip.user_ns["r2"])
    assert ip.user_ns["CALLS"] == []


def test_modules_and_optimizers_are_read_without_their_hooks(twice):
    body = ("out = model.fc1(torch.ones(2)).sum()\nout.backward()\nopt.step()\n"
            "model.fc1.weight.data.mul_(2)")
    plain, magic = twice(HOSTILE, body, "--all")
    assert_invisible(plain, magic)  # the cell's own attribute reads count the same
    assert plain["calls"]  # the cell itself did use them
    found = rows(magic["r"])
    assert "opt.state[model.fc1.weight]['momentum_buffer']" in found
    assert found["model.fc1.weight"]["status"] == "in-place"


PRINTING = '''
import torch
CALLS = []

class Printing(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        print("torch_function:", getattr(func, "__name__", "?"))
        CALLS.append(getattr(func, "__name__", "?"))
        return super().__torch_function__(func, types, args, kwargs or {})

class Raising(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        CALLS.append("raising")
        raise RuntimeError("no torch functions here")

p = torch.ones(3).as_subclass(Printing)
p.requires_grad_()
bad = torch.ones(2).as_subclass(Raising)
CALLS.clear()
'''


def test_torch_function_subclasses_see_only_the_cells_own_calls(twice):
    plain, magic = twice(PRINTING, "q = (p * 2).sum()\nq.backward()\nx = torch.ones(2) + 1")
    assert_invisible(plain, magic)
    assert plain["calls"]  # the cell's own operations went through __torch_function__
    found = rows(magic["r"])
    assert found["q"]["status"] == found["x"]["status"] == "new"


def test_an_untouched_subclass_tensor_is_listed_without_a_call(twice):
    plain, magic = twice(PRINTING, "x = torch.ones(2) + 1", "--all")
    assert_invisible(plain, magic)
    assert plain["calls"] == []
    found = rows(magic["r"])
    assert found["p"]["shape"] == "(3)" and found["bad"]["shape"] == "(2)"


DISPATCH = '''
import torch
from torch.utils._pytree import tree_map
from torch.utils._python_dispatch import TorchDispatchMode
CALLS = []

def unwrap(x):
    return x.elem if type(x) in (Logging, CustomSizes) else x

class Logging(torch.Tensor):
    __torch_function__ = torch._C._disabled_torch_function_impl
    @staticmethod
    def __new__(cls, elem):
        return torch.Tensor._make_wrapper_subclass(cls, elem.shape, dtype=elem.dtype,
                                                   device=elem.device)
    def __init__(self, elem):
        self.elem = elem
    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        CALLS.append(str(func))
        out = func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs or {}))
        return tree_map(lambda v: cls(v) if type(v) is torch.Tensor else v, out)

class CustomSizes(Logging):  # asks __torch_dispatch__ for its sizes and device
    @staticmethod
    def __new__(cls, elem):
        return torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, dtype=elem.dtype, device=elem.device,
            dispatch_sizes_strides_policy="sizes", dispatch_device=True)

class Watching(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        CALLS.append("mode " + str(func))
        return func(*args, **(kwargs or {}))

lg = Logging(torch.ones(2))
cs = CustomSizes(torch.ones(4))
w = torch.ones(3, requires_grad=True)
v = torch.ones(3)
CALLS.clear()
'''


def test_torch_dispatch_subclasses_are_not_dispatched_to(twice):
    plain, magic = twice(DISPATCH, "v.data.add_(1)\nx = torch.ones(2)", "--all")
    assert_invisible(plain, magic)
    assert plain["calls"] == []
    found = rows(magic["r"])
    assert found["lg"]["shape"] == "(2)"
    assert found["cs"]["shape"] == "?"  # its shape is the subclass's answer: not asked
    assert found["v"]["status"] == "in-place"  # the digest still saw the .data change


def test_a_dispatch_mode_left_active_sees_only_the_cells_ops(ip, twice):
    setup = DISPATCH + "mode = Watching()\nmode.__enter__()\nCALLS.clear()\n"
    body = "y = (w * 2).sum()\ny.backward()\nv.data.add_(1)"
    plain, magic = twice(setup, body, "--all")
    assert_invisible(plain, magic)
    assert "mode aten.mul.Tensor" in plain["calls"]
    assert rows(magic["r"])["v"]["status"] == "in-place"


def test_the_users_dispatch_mode_stack_is_the_same_object_afterwards(ip, capsys):
    run(ip, DISPATCH + "mode = Watching()\nmode.__enter__()")
    try:
        before = torch._C._len_torch_dispatch_stack()
        result = run(ip, "%%autograd --out r\ny = (w * 2).sum()")
        after = torch._C._len_torch_dispatch_stack()
        top = torch._C._get_dispatch_stack_at(after - 1)
    finally:
        while torch._C._len_torch_dispatch_stack():
            torch._C._pop_torch_dispatch_stack(None)
    assert result.error_in_exec is None
    assert before == after == 1 and top is ip.user_ns["mode"]


FAKE = '''
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
with FakeTensorMode():
    fake = torch.ones(3, requires_grad=True)
CALLS = []
'''


def test_fake_tensors_print_no_torch_warning(twice):
    # the graph looks for the tensor fd was detached from among those sharing its storage
    plain, magic = twice(FAKE, "fd = fake.detach()\nfz = fake * 2", "--all")
    assert_invisible(plain, magic)
    found = rows(magic["r"])
    assert found["fake"]["shape"] == found["fd"]["shape"] == "(3)"
    assert found["fz"]["status"] == "new"


def test_mixed_device_hint_with_hostile_namespace(ip, twice):
    body = "raise RuntimeError('Expected all tensors to be on the same device, but found at " \
           "least two devices, cpu and meta!')"
    plain, magic = twice(HOSTILE + "m = torch.ones(2, device='meta')\n", body)
    assert magic["error"] is plain["error"] is RuntimeError
    assert magic["calls"] == plain["calls"] == []
    assert magic["r"].errors == []
    shown = magic["out"] + magic["err"]
    assert "graphmagic/" not in shown and shown.count("Traceback") == 1  # no frame of ours
    assert "meta: m" in magic["out"] + magic["err"]  # the hint, as a note on the exception


def test_mixed_device_hint_reads_no_exception_str_and_no_tensor_hook():
    calls = []

    class Loud(RuntimeError):
        def __str__(self):
            calls.append("__str__")
            raise ValueError("str")

    class Printing(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            calls.append(func)
            return super().__torch_function__(func, types, args, kwargs or {})

    ns = {"p": torch.ones(1).as_subclass(Printing), "m": torch.ones(1, device="meta")}
    hint = mixed_device_hint(Loud("Expected all tensors to be on the same device"), ns)
    assert "cpu: p" in hint and "meta: m" in hint
    assert calls == []


def test_resolve_reads_stored_values_only():
    calls = []

    class Owner(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(1, 1)
            self.plain = 3

        def __getattr__(self, name):
            calls.append(name)
            return super().__getattr__(name)

        @property
        def computed(self):
            calls.append("computed")
            return torch.ones(1)

    class Items(dict):
        def __getitem__(self, key):
            calls.append(key)
            return torch.zeros(1)

    model = Owner()
    t = torch.ones(1)
    ns = {"model": model, "d": Items(a=t), "opt_state": {model.fc1.weight: {"m": t}}}
    assert resolve("model.fc1.weight", ns) is model.fc1.weight
    assert resolve("model.plain", ns) == 3
    assert resolve("model.computed", ns) is MISSING
    assert resolve("model.missing", ns) is MISSING
    assert resolve("d['a']", ns) is t
    assert resolve("opt_state[model.fc1.weight]['m']", ns) is t
    assert calls == ["fc1", "fc1"]  # only the test's own two reads of model.fc1


def test_named_tensors_and_snapshot_of_hostile_objects_directly(ip):
    run(ip, HOSTILE)
    ns = ip.user_ns
    named = list(names.named_tensors(ns))
    assert EXPECTED_NAMES <= {n for n, _ in named}
    snap = snapshot.take(named, keep_refs=True)
    assert snap.facts["w"].shape == "(3)"
    assert ns["CALLS"] == []


def test_trace_reads_no_subclass_hook(twice):
    body = "q = (p * 2).sum()\np.data.add_(1)\nq2 = p * 3"
    plain, magic = twice(PRINTING, body, "--trace")
    assert_invisible(plain, magic)
    assert rows(magic["r"])["q2"]["status"] == "new"


def test_error_hints_read_no_subclass_hook(twice):
    body = "q = (p * 2).sum()\nq.backward()\nq.backward()"
    plain, magic = twice(PRINTING, body)
    assert magic["error"] is plain["error"] is RuntimeError
    assert magic["calls"] == plain["calls"]
    assert magic["r"].errors == []
    assert [f.kind for f in magic["r"].findings] == ["backward-twice"]


def test_pitfall_checks_read_no_subclass_hook(twice):
    body = "h = p * 2\nh.sum().backward()\nloss = (p * 3).sum()\np.data.mul_(2)\nloss.backward()"
    plain, magic = twice(PRINTING, body)
    assert_invisible(plain, magic)
    # grad-accumulated on a __torch_function__ subclass leaf is not seen since the backward
    # watch finds the cell's frame without Tensor.backward's (a known gap, see the notes)
    assert "data-mutation" in {f.kind for f in magic["r"].findings}


def test_a_hostile_cell_result_is_read_by_the_builtin_methods(twice):
    plain, magic = twice(HOSTILE, "xs")
    assert_invisible(plain, magic)
    n = magic["r"].cell[3:-1]
    assert {f"Out[{n}][0]", f"Out[{n}][1]"} <= set(rows(magic["r"]))
