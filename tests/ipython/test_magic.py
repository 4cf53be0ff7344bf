"""Loading the extension and running cells under %%autograd exactly as plain cells."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest
from support import run
from IPython.core.error import UsageError

import graphmagic
from graphmagic.ipython import arguments as gm_options
from graphmagic.report import Report


def _our_callbacks(ip):
    return {event: [cb for cb in cbs if type(getattr(cb, "__self__", None)).__module__.startswith("graphmagic")]
            for event, cbs in ip.events.callbacks.items()}


def _our_transformers(ip):
    return [f for f in ip.input_transformers_cleanup
            if getattr(f, "__module__", "").startswith("graphmagic")]


def _our_magics(ip):
    return {kind: sorted(name for name in table if name.startswith("autograd"))
            for kind, table in ip.magics_manager.magics.items()}


# ---- loading ------------------------------------------------------------------------
def test_load_ext_registers_magics(ip):
    assert _our_magics(ip) == {"line": ["autograd", "autograd_config"], "cell": ["autograd"]}
    assert len(_our_transformers(ip)) == 1
    counts = {event: len(cbs) for event, cbs in _our_callbacks(ip).items() if cbs}
    assert counts == {"pre_execute": 1, "pre_run_cell": 1, "post_execute": 1}


def test_reload_ext_keeps_exactly_one_of_everything(ip):
    ip.run_line_magic("reload_ext", "graphmagic")
    ip.run_line_magic("load_ext", "graphmagic")  # a second load is a no-op
    ip.run_line_magic("reload_ext", "graphmagic")
    assert len(_our_transformers(ip)) == 1
    counts = {event: len(cbs) for event, cbs in _our_callbacks(ip).items() if cbs}
    assert counts == {"pre_execute": 1, "pre_run_cell": 1, "post_execute": 1}
    assert [k for k in ip.magics_manager.registry if k == "AutogradMagics"] == ["AutogradMagics"]
    result = run(ip, "%%autograd --out r\n21 * 2")
    assert result.result == 42
    assert isinstance(ip.user_ns["r"], Report)


def test_unload_ext_leaves_nothing(ip):
    custom = (ip.custom_exceptions, ip.CustomTB)
    ip.run_line_magic("unload_ext", "graphmagic")
    assert _our_magics(ip) == {"line": [], "cell": []}
    assert _our_transformers(ip) == []
    assert all(not cbs for cbs in _our_callbacks(ip).values())
    assert "AutogradMagics" not in ip.magics_manager.registry
    assert (ip.custom_exceptions, ip.CustomTB) == custom
    result = run(ip, "%%autograd\n1")
    assert isinstance(result.error_in_exec, UsageError)  # "Cell magic not found"
    ip.run_line_magic("load_ext", "graphmagic")  # the fixture unloads again


def test_unload_ext_mid_cell_restores_state(ip):
    import torch

    custom = ip.custom_exceptions
    try:
        result = run(ip, "%%autograd --device meta\n"
                         "before = torch.zeros(1).device\n"
                         "get_ipython().run_line_magic('unload_ext', 'graphmagic')\n"
                         "torch.zeros(1).device")
    finally:
        ip.run_line_magic("load_ext", "graphmagic")
    # unloading finishes the tracked cell: its device context is closed at once
    assert ip.user_ns["before"] == torch.device("meta")
    assert result.result == torch.device("cpu")
    assert torch.get_default_device() == torch.device("cpu")
    assert ip.custom_exceptions == custom


IMPORT_PURITY = textwrap.dedent("""
    import builtins, json, sys, types, warnings
    import torch, IPython
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_cell("pass")
    shell.run_line_magic("pwd", "")  # IPython's own first-use changes (builtins.exit)

    def ids(d):
        return {k: id(v) for k, v in d.items() if not isinstance(v, types.ModuleType)}

    def snapshot():
        return {
            "torch": ids(vars(torch)),
            "Tensor": ids(vars(torch.Tensor)),
            "TensorBase": ids(vars(torch._C.TensorBase)),
            "Module": ids(vars(torch.nn.Module)),
            "autograd": ids(vars(torch.autograd)),
            "builtins": ids(vars(builtins)),
            "InteractiveShell": ids(vars(InteractiveShell)),
            "filters": [id(f) for f in warnings.filters],
            "warnings": [id(warnings.showwarning), id(warnings.formatwarning)],
            "hooks": [id(sys.excepthook), id(sys.displayhook)],
            "transformers": [id(f) for f in shell.input_transformers_cleanup],
            "modes": len(torch.overrides._get_current_function_mode_stack()),
            "device": str(torch.get_default_device()),
            "grad": torch.is_grad_enabled(),
            "module_hooks": [len(h) for h in (
                torch.nn.modules.module._global_forward_hooks,
                torch.nn.modules.module._global_forward_pre_hooks,
                torch.nn.modules.module._global_backward_hooks,
                torch.nn.modules.module._global_backward_pre_hooks)],
        }

    before = snapshot()
    import graphmagic
    after_import = snapshot()
    shell.run_line_magic("load_ext", "graphmagic")
    shell.run_line_magic("unload_ext", "graphmagic")
    after_unload = snapshot()

    def diff(a, b):
        out = {}
        for key in a:
            if isinstance(a[key], dict):
                changed = sorted(k for k in a[key] if b[key].get(k) != a[key][k])
                changed += sorted(k for k in b[key] if k not in a[key])
                if changed:
                    out[key] = changed
            elif a[key] != b[key]:
                out[key] = [a[key], b[key]]
        return out

    print(json.dumps({"import": diff(before, after_import), "load": diff(before, after_unload)}))
""")


def test_import_and_load_change_nothing_global():
    # a fresh interpreter: the test session has long imported graphmagic
    done = subprocess.run([sys.executable, "-c", IMPORT_PURITY], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout.strip().splitlines()[-1])
    assert changes == {"import": {}, "load": {}}


def test_help_shows_docstring_and_every_option(ip, capsys):
    run(ip, "%%autograd?")
    shown = capsys.readouterr().out
    doc = graphmagic.ipython.magics.AutogradMagics.autograd.__doc__
    first = doc.strip().splitlines()[0]
    assert first in shown
    parser = graphmagic.ipython.magics.AutogradMagics.autograd.parser
    helps = [a for a in parser._actions if a.help and a.help != "show this help message and exit"]
    assert len(helps) >= len(gm_options.SHARED) + len(gm_options.CELL_ONLY)
    flat = " ".join(shown.split())
    for action in helps:
        assert max(action.option_strings, key=len) in shown
        words = " ".join(action.help.split()).split(" ")
        assert " ".join(words[:4]) in flat.replace("- ", "-")


def test_config_help_lists_its_options(ip, capsys):
    run(ip, "%autograd_config?")
    shown = capsys.readouterr().out
    for flag in ("--device", "--quiet", "--lang", "--reset", "--no-warn"):
        assert flag in shown
    assert "--out" not in shown


# ---- faithful execution -------------------------------------------------------------
def test_last_expression_is_the_result_and_out(ip, capsys):
    result = run(ip, "%%autograd\nx = 20\nx + 22")
    n = result.execution_count
    assert result.error_in_exec is None
    assert result.result == 42
    assert ip.user_ns["Out"][n] == 42
    assert ip.user_ns["_"] == 42
    assert f"Out[{n}]: 42" in capsys.readouterr().out


def test_trailing_semicolon_silences(ip, capsys):
    ip.user_ns["_"] = "before"
    result = run(ip, "%%autograd\nx = 20\nx + 22;")
    assert result.result is None
    assert result.execution_count not in ip.user_ns["Out"]
    assert ip.user_ns["_"] == "before"
    assert "Out[" not in capsys.readouterr().out


def test_prints_in_order_with_line_magic_and_shell_escape(ip, capfd):
    result = run(ip, "%%autograd\nprint('one')\n%time y = 3\nprint('two')\n"
                     "!echo three\nprint('four')\ny")
    assert result.error_in_exec is None
    assert result.result == 3
    out = capfd.readouterr().out
    positions = [out.index(word) for word in ("one", "Wall time", "two", "three", "four")]
    assert positions == sorted(positions)


def test_top_level_await(ip):
    result = run(ip, "%%autograd --out r\nimport asyncio\nawait asyncio.sleep(0)\nv = 5\nv")
    assert result.error_in_exec is None
    assert result.result == 5
    assert ip.user_ns["r"].exception is None


def test_exception_propagates_once_with_its_type_and_line(ip, capsys):
    result = run(ip, "%%autograd --out r\nx = 1\n\nraise LookupError('boom')\ny = 2")
    assert type(result.error_in_exec) is LookupError
    out = capsys.readouterr().out
    assert out.count("LookupError: boom") == 1
    assert out.count("Traceback") == 1
    assert "----> 4 raise LookupError('boom')" in out
    assert "graphmagic" not in out.split("Traceback", 1)[1].split("LookupError: boom")[0]
    assert "y" not in ip.user_ns
    report = ip.user_ns["r"]
    assert report.exception == "LookupError: boom"


def test_traceback_line_numbers_inside_functions(ip, capsys):
    result = run(ip, "%%autograd\ndef f(v):\n    return 1 / v\n\nf(0)")
    assert type(result.error_in_exec) is ZeroDivisionError
    out = capsys.readouterr().out
    assert "----> 5 f(0)" in out
    assert "----> 3     return 1 / v" in out


def _traceback_text(ip, capsys, cell):
    result = run(ip, cell)
    out = capsys.readouterr().out.replace(f"In[{result.execution_count}]", "In[N]")
    lines = out.splitlines()
    assert any(line.startswith("----> ") for line in lines)
    tb = [line for line in lines if not line.startswith("In[N] · ")]  # the report header
    return "\n".join(line for line in tb if not line.lstrip().startswith(("1 ", "---->  1 ")))


def test_traceback_is_the_plain_cells(ip, capsys):
    """Same frames, same lines, same statement grouping as a plain cell (line 1 aside)."""
    body = "def f(a, b):\n    return a / b\nx = 1\ny = f(\n    x,\n    0,\n)\nz = 2\n"
    plain = _traceback_text(ip, capsys, "pass\n" + body)
    magic = _traceback_text(ip, capsys, "%%autograd\n" + body)
    assert "----> 5 y = f(" in magic and "      8 )" in magic
    assert magic == plain


def test_keyboard_interrupt_propagates(ip, capsys):
    result = run(ip, "%%autograd --out r\nx = 1\nraise KeyboardInterrupt\nx = 2")
    assert type(result.error_in_exec) is KeyboardInterrupt
    assert ip.user_ns["x"] == 1
    assert "KeyboardInterrupt" in capsys.readouterr().out
    assert ip.user_ns["r"].exception == "KeyboardInterrupt: "


def test_user_error_filter_applies_as_in_a_plain_cell(ip):
    body = "import warnings\nwarnings.warn('x')\nreached = True"
    saved = list(warnings.filters)
    try:
        warnings.simplefilter("error")
        plain = run(ip, body)
        magic = run(ip, "%%autograd\n" + body)
    finally:
        warnings.filters[:] = saved
    assert type(plain.error_in_exec) is UserWarning
    assert type(magic.error_in_exec) is UserWarning
    assert str(magic.error_in_exec) == str(plain.error_in_exec) == "x"
    assert "reached" not in ip.user_ns


def test_user_ignore_filter_applies(ip, capsys):
    saved = list(warnings.filters)
    try:
        warnings.simplefilter("ignore")
        result = run(ip, "%%autograd\nimport warnings\nwarnings.warn('quiet please')\n1")
    finally:
        warnings.filters[:] = saved
    assert result.error_in_exec is None
    captured = capsys.readouterr()
    assert "quiet please" not in captured.out + captured.err


def test_syntax_error_is_a_plain_syntax_error_and_leaves_no_session(ip, capsys):
    plain = run(ip, "x = (\n")
    plain_out = capsys.readouterr().out
    result = run(ip, "%%autograd --out r\nx = (\n")
    out = capsys.readouterr().out
    assert type(result.error_before_exec) is type(plain.error_before_exec)
    assert result.error_before_exec.lineno == 2
    assert "SyntaxError" in out and "SyntaxError" in plain_out
    assert "r" not in ip.user_ns
    assert ip.magics_manager.registry["AutogradMagics"].active is None
    assert run(ip, "%%autograd --out r\n1").result == 1
    assert ip.user_ns["r"].exception is None


def test_report_is_stored_after_a_raising_cell(ip):
    result = run(ip, "%%autograd --out r\nimport torch\nt = torch.ones(2)\nt @ torch.ones(3)")
    assert type(result.error_in_exec) is RuntimeError
    report = ip.user_ns["r"]
    assert isinstance(report, Report)
    assert report.cell == f"In[{result.execution_count}]"
    assert report.exception.startswith("RuntimeError: ")
    assert report.wall_time > 0


def test_report_is_displayed_once_per_cell(ip):
    shown = []
    publish = ip.display_pub.publish

    def spy(data, metadata=None, **kw):
        shown.append(data)
        return publish(data, metadata=metadata, **kw)

    ip.display_pub.publish = spy
    try:
        run(ip, "%%autograd\nx = 1")
        run(ip, "%%autograd\nraise ValueError('v')")
        run(ip, "y = 2")
    finally:
        del ip.display_pub.publish
    reports = [d for d in shown if "application/vnd.graphmagic.report+json" in d]
    assert len(reports) == 2
    assert reports[1]["application/vnd.graphmagic.report+json"]["exception"] == "ValueError: v"


def test_run_cell_magic_returns_value_and_same_report(ip):
    body = "a = 6\nb = a * 7\nb"
    via_cell = run(ip, "%%autograd --device cpu --out r1\n" + body)
    value = ip.run_cell_magic("autograd", "--device cpu --out r2", body)
    assert value == via_cell.result == 42
    r1, r2 = ip.user_ns["r1"].to_json(), ip.user_ns["r2"].to_json()
    assert set(r1) == set(r2)
    for key in ("device", "requested_device", "device_note", "exception", "errors", "findings"):
        assert r1[key] == r2[key], key
    assert r2["cell"].startswith("In[")


def test_run_cell_magic_raises_the_cells_exception_with_report(ip):
    with pytest.raises(KeyError) as info:
        ip.run_cell_magic("autograd", "--out r", "d = {}\nd['missing']")
    assert info.value.args == ("missing",)
    assert ip.user_ns["r"].exception == "KeyError: 'missing'"
    assert ip.magics_manager.registry["AutogradMagics"].active is None


def test_run_cell_magic_line_numbers_and_semicolon(ip):
    assert ip.run_cell_magic("autograd", "", "x = 3\nx * 2;") is None
    with pytest.raises(ZeroDivisionError) as info:
        ip.run_cell_magic("autograd", "", "x = 3\n\n1 / 0")
    lines = [frame.lineno for frame in __import__("traceback").extract_tb(info.value.__traceback__)]
    assert lines[-1] == 4


def test_run_cell_magic_await_and_ipython_syntax(ip, capfd):
    value = ip.run_cell_magic("autograd", "", "import asyncio\nawait asyncio.sleep(0)\n%time z = 1\nz + 1")
    assert value == 2
    assert "Wall time" in capfd.readouterr().out


def test_run_cell_magic_await_inside_a_running_loop_is_refused(ip):
    import asyncio

    async def from_a_kernel_cell(body):
        return ip.run_cell_magic("autograd", "--out r", body)

    with pytest.raises(UsageError, match="%%autograd"):
        asyncio.run(from_a_kernel_cell("ran = 1\nimport asyncio\nawait asyncio.sleep(0)"))
    with pytest.raises(UsageError):
        asyncio.run(from_a_kernel_cell("ran = 1\nawait asyncio.sleep(0)"))
    assert "ran" not in ip.user_ns and "r" not in ip.user_ns
    assert asyncio.run(from_a_kernel_cell("ran = 1\nran + 1")) == 2  # no await: fine


def test_run_cell_magic_syntax_error_runs_nothing(ip):
    with pytest.raises(SyntaxError):
        ip.run_cell_magic("autograd", "--out r", "print('ran')\nx = (")
    assert "r" not in ip.user_ns
    assert ip.magics_manager.registry["AutogradMagics"].active is None


def test_line_magic_outside_a_cell_is_a_usage_error(ip):
    with pytest.raises(UsageError):
        ip.run_line_magic("autograd", "")


def test_line_magic_mid_cell_tracks_to_the_end(ip):
    result = run(ip, "a = 1\n%autograd --out r\nb = 2\nb")
    assert result.error_in_exec is None
    assert result.result == 2
    assert ip.user_ns["r"].cell == f"In[{result.execution_count}]"


def test_nested_autograd_is_a_usage_error(ip):
    result = run(ip, "%%autograd\nget_ipython().run_cell_magic('autograd', '', 'x = 1')")
    assert type(result.error_in_exec) is UsageError
    assert ip.magics_manager.registry["AutogradMagics"].active is None


def test_run_cell_magic_traceback_shows_no_graphmagic_frames(ip, capsys):
    result = run(ip, "get_ipython().run_cell_magic('autograd', '', 'x = 1\\n1 / 0')")
    assert type(result.error_in_exec) is ZeroDivisionError
    out = capsys.readouterr().out
    assert "----> 3 1 / 0" in out
    assert "graphmagic" not in out.split("ZeroDivisionError: division by zero")[0]


def _break(monkeypatch, where: str) -> str:
    """Make one part of the report fail at ``where``; returns the part's name."""
    from graphmagic.graph import probe as graph_probe
    from graphmagic.pitfalls.probe import PitfallProbe
    from graphmagic.tracking.probe import TrackingProbe

    def broke(*args, **kwargs):
        raise RuntimeError(f"{where} broke")

    if where == "start":
        monkeypatch.setattr(TrackingProbe, "__init__", broke)
        return "tracking"
    if where == "on_exception":
        monkeypatch.setattr(PitfallProbe, "on_exception", broke)
        return "pitfalls"
    monkeypatch.setattr(graph_probe, "graph_section", broke)
    return "graph"


@pytest.mark.parametrize("where", ["start", "on_exception", "collect"])
@pytest.mark.parametrize("raises", [False, True])
def test_a_broken_part_never_breaks_the_cell(ip, capsys, monkeypatch, where, raises):
    part = _break(monkeypatch, where)
    body = "x = torch.ones(2, requires_grad=True)\n" + ("raise ValueError('own')" if raises else "41 + 1")
    result = run(ip, "%%autograd --out r\n" + body)
    if raises:
        assert type(result.error_in_exec) is ValueError
    else:
        assert result.error_in_exec is None and result.result == 42
    report = ip.user_ns["r"]
    broke = where != "on_exception" or raises
    assert report.errors == ([f"{part}: RuntimeError('{where} broke')"] if broke else [])
    assert report.memory is not None  # the healthy parts still reported
    assert (report.variables is None) == (where == "start")
    out = capsys.readouterr().out
    assert out.count("Traceback") == (1 if raises else 0)
    assert ("could not finish this part of the report" in out) == broke
