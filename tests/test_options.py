"""Options of %%autograd and %autograd_config: parsing, defaults, errors, language."""
from __future__ import annotations

import pytest
import torch
from conftest import run
from IPython.core.error import UsageError

from graphmagic.cell import options
from graphmagic.ipython import arguments
from graphmagic.messages import CATALOGUE


def _magics(ip):
    return ip.magics_manager.registry["AutogradMagics"]


BAD = [
    ("--bogus", "--bogus"),
    ("--max-nodes -1", "-1"),
    ("--max-nodes many", "many"),
    ("--engine paint", "paint"),
    ("--out 1bad", "1bad"),
    ("--out 'a b'", "a b"),
    ("--out class", "class"),
    ("--graph ,", "--graph"),
    ("--out \"unclosed", "unclosed"),
    ("--no-warn nonleaf-grad,nosuchkind", "nosuchkind"),
    ("--device", "--device"),
    ("--quiet=yes", "--quiet"),
]


@pytest.mark.parametrize("line,named", BAD)
def test_bad_cell_options_are_usage_errors_without_traceback(ip, capsys, line, named):
    result = run(ip, f"%%autograd {line}\nprint('body ran')\nbound = 1")
    assert type(result.error_in_exec) is UsageError
    assert named in str(result.error_in_exec)
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "UsageError" in shown
    assert "Traceback" not in shown
    assert "graphmagic/" not in shown and ".py" not in shown
    assert "body ran" not in shown
    assert "bound" not in ip.user_ns
    assert _magics(ip).active is None


@pytest.mark.parametrize("line,named", BAD[:3] + [("--lang fr", "fr"), ("--out r", "--out"),
                                                 ("--device banana", "banana")])
def test_bad_config_options_are_usage_errors(ip, capsys, line, named):
    result = run(ip, f"%autograd_config {line}")
    assert type(result.error_in_exec) is UsageError
    assert named in str(result.error_in_exec)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert _magics(ip).defaults == {}


def test_a_refused_config_changes_nothing(ip):
    run(ip, "%autograd_config --quiet")
    result = run(ip, "%autograd_config --reset --lang zh --device banana --no-quiet")
    assert type(result.error_in_exec) is UsageError
    assert _magics(ip).defaults == {"quiet": True}
    assert _magics(ip).state.lang is None


def test_bad_options_via_run_cell_magic_raise_usage_error(ip):
    with pytest.raises(UsageError, match="unknown finding kind nope"):
        ip.run_cell_magic("autograd", "--no-warn nope", "ran = True")
    assert "ran" not in ip.user_ns


def test_config_defaults_apply_to_later_cells(ip):
    run(ip, "%autograd_config --device cpu --quiet")
    run(ip, "%%autograd --out r\nx = 1")
    report = ip.user_ns["r"]
    assert report.device == torch.device("cpu")
    assert report.requested_device == "cpu"
    assert report.quiet is True


def test_quiet_default_hides_the_report(ip, capsys):
    run(ip, "%autograd_config --quiet")
    capsys.readouterr()
    run(ip, "%%autograd\nx = 1")
    assert " · " not in capsys.readouterr().out
    run(ip, "%%autograd --no-quiet --out r\nx = 1")
    assert ip.user_ns["r"].quiet is False
    assert f"{ip.user_ns['r'].cell} · " in capsys.readouterr().out


def test_cell_options_override_defaults(ip):
    run(ip, "%autograd_config --device meta --quiet --max-nodes 7 --engine torchviz")
    run(ip, "%%autograd --device cpu --no-quiet --max-nodes 0 --out r\nd = torch.zeros(1).device")
    assert ip.user_ns["r"].device == torch.device("cpu")
    assert ip.user_ns["r"].quiet is False
    assert ip.user_ns["d"] == torch.device("cpu")


def test_options_reach_the_probes(ip, monkeypatch):
    run(ip, "%autograd_config --no-warn leaf-inplace --max-nodes 7 --engine torchviz --all")
    seen = {}
    from graphmagic.cell import run as lifecycle

    original = lifecycle.begin

    def begin(ctx):
        seen["options"] = ctx.options
        return original(ctx)

    monkeypatch.setattr(lifecycle, "begin", begin)
    run(ip, "%%autograd --no-warn detach-alias --graph z,w --no-graph --saved --attrs -o r\nz = 1")
    opts = seen["options"]
    assert opts == options.CellOptions(
        device=None, quiet=False, show_all=True, trace=False, show_graph=False, max_nodes=7,
        saved=True, attrs=True, engine="torchviz",
        no_warn=frozenset({"leaf-inplace", "detach-alias"}), out="r", graph_roots=("z", "w"))


def test_no_warn_all_means_every_kind(ip):
    given = arguments.parse_line(_magics(ip).autograd, "--no-warn all")
    from graphmagic.findings import FINDING_KINDS

    assert options.build(given, {}).no_warn == frozenset(FINDING_KINDS)


def test_config_without_arguments_prints_defaults(ip, capsys):
    run(ip, "%autograd_config")
    out = capsys.readouterr().out
    assert CATALOGUE["en"]["config.none"] in out
    assert "language: en" in out
    run(ip, "%autograd_config --device cpu --no-quiet --no-warn leaf-inplace,detach-alias --max-nodes 9")
    capsys.readouterr()
    run(ip, "%autograd_config")
    out = capsys.readouterr().out
    assert "--device cpu" in out
    assert "--no-quiet" in out
    assert "--no-warn detach-alias,leaf-inplace" in out
    assert "--max-nodes 9" in out


def test_describe_round_trips(ip):
    line = "--device meta --quiet --no-all --trace --no-graph --max-nodes 5 --saved --no-attrs " \
           "--engine torchviz --no-warn leaf-inplace"
    given = arguments.parse_line(_magics(ip).autograd_config, line)
    again = arguments.parse_line(_magics(ip).autograd_config, options.describe(given))
    assert again == given


def test_reset_forgets_defaults_and_language(ip, capsys):
    run(ip, "%autograd_config --device cpu --quiet --lang zh")
    assert _magics(ip).defaults == {"device": "cpu", "quiet": True}
    assert _magics(ip).state.lang == "zh"
    run(ip, "%autograd_config --reset")
    assert _magics(ip).defaults == {}
    assert _magics(ip).state.lang is None
    run(ip, "%%autograd --out r\nx = 1")
    assert ip.user_ns["r"].device is None
    assert ip.user_ns["r"].quiet is False


def test_lang_zh_switches_texts(ip, capsys):
    run(ip, "%autograd_config --lang zh")
    run(ip, "%%autograd --out r\nx = 1")
    assert "设备" in ip.user_ns["r"].to_text()
    result = run(ip, "%%autograd --device banana\nx = 2")
    assert "不是设备名" in str(result.error_in_exec)
    result = run(ip, "%%autograd --max-nodes -1\nx = 2")
    assert "需要 0 或更大的数" in str(result.error_in_exec)
    run(ip, "%autograd_config --lang en")
    assert "设备" in ip.user_ns["r"].to_text()  # a stored report keeps its language
    run(ip, "%%autograd --out r2\nx = 1")
    assert "device" in ip.user_ns["r2"].to_text() and "设备" not in ip.user_ns["r2"].to_text()


def test_lang_from_environment(ip, monkeypatch):
    monkeypatch.setenv("GRAPHMAGIC_LANG", "zh_CN.UTF-8")
    run(ip, "%%autograd --out r\nx = 1")
    assert "设备" in ip.user_ns["r"].to_text()
    run(ip, "%autograd_config --lang en")  # an explicit choice wins over the environment
    run(ip, "%%autograd --out r\nx = 1")
    assert "设备" not in ip.user_ns["r"].to_text()
    run(ip, "%autograd_config --reset")
    run(ip, "%%autograd --out r\nx = 1")
    assert "设备" in ip.user_ns["r"].to_text()


def test_unload_resets_language(ip):
    run(ip, "%autograd_config --lang zh")
    ip.run_line_magic("unload_ext", "graphmagic")
    ip.run_line_magic("load_ext", "graphmagic")
    assert _magics(ip).state.lang is None
    run(ip, "%%autograd --out r\nx = 1")
    assert "设备" not in ip.user_ns["r"].to_text()


def test_a_comment_after_the_options_is_ignored(ip):
    from conftest import run

    result = run(ip, "%%autograd --device cpu --out r  # run on the CPU\nv = torch.zeros(1)\nv.device")
    assert result.error_in_exec is None
    assert str(ip.user_ns["r"].device) == "cpu"
    result = run(ip, "%%autograd --out r2 --graph 'a#b'\nq = 1")
    assert ip.user_ns["r2"].cell  # a quoted '#' is an option value, not a comment


@pytest.mark.parametrize("name", ["__builtins__", "In", "Out", "_", "__", "___", "_i3", "_5",
                                  "get_ipython", "exit", "quit", "__name__", "_oh"])
def test_out_refuses_names_the_shell_needs(ip, name):
    result = run(ip, f"%%autograd --out {name}\nx = 1")
    assert type(result.error_in_exec) is UsageError and "x" not in ip.user_ns
    assert run(ip, "1 + 1").result == 2  # the shell still works


@pytest.mark.parametrize("line", ["--device 'cpu'", '--device "cpu"', "--device 'cpu' # note",
                                  "--device cpu"])
def test_quoting_is_the_same_on_every_path(ip, line):
    run(ip, f"%%autograd --out r {line}\nx = 1")
    assert str(ip.user_ns["r"].device) == "cpu"
    ip.run_cell_magic("autograd", f"--out r2 {line}", "x = 2")
    assert str(ip.user_ns["r2"].device) == "cpu"


def test_quoted_graph_names(ip):
    run(ip, "%%autograd --out r --graph 'y,,z'\n"
            "x = torch.ones(2, requires_grad=True)\ny = x * 2\nz = x * 3")
    assert set(ip.user_ns["r"].graph.to_json()["roots"]) == {"y", "z"}


def test_option_lines_are_not_variable_expanded(ip):
    ip.user_ns["dev"] = "meta"
    result = run(ip, "%%autograd --device $dev\nx = 1")
    assert type(result.error_in_exec) is UsageError and "$dev" in str(result.error_in_exec)
    long = "--no-warn " + ",".join(["leaf-inplace"] * 20_000)
    result = run(ip, f"%%autograd --out r {long}\nx = 1")
    assert result.error_in_exec is None and ip.user_ns["r"].cell
