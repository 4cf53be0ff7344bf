"""What a cell changes globally stays scoped to it, even when the cell's own code captured
or replaced what graphmagic installed; what the user changed during the cell survives it."""
from __future__ import annotations

import warnings

import torch
from support import run

LEAF = "x = torch.ones(2, requires_grad=True)\nh = x * 2\n"


def _filters():
    return [(a, getattr(m, "pattern", m), c, getattr(mod, "pattern", mod), ln)
            for a, m, c, mod, ln in warnings.filters]


def test_catch_warnings_left_open_across_cells(ip, capsys):
    run(ip, "import warnings")
    before = (_filters(), warnings.showwarning)
    run(ip, f"%%autograd\n{LEAF}cm = warnings.catch_warnings()\ncm.__enter__()\nh.grad")
    run(ip, "cm.__exit__(None, None, None)")
    assert (_filters(), warnings.showwarning) == before
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        run(ip, "h.grad\nfor _ in range(3):\n    h.grad")  # once per location, as ever
    assert len([w for w in seen if "is not a leaf Tensor" in str(w.message)]) == 2


def test_filters_added_in_a_cell_stay(ip):
    run(ip, "%%autograd\nimport warnings\nwarnings.filterwarnings('ignore', message='zzz-mine')")
    assert any(getattr(m, "pattern", None) == "zzz-mine" for _, m, *_ in warnings.filters)
    assert not any(getattr(m, "pattern", "") and "not a leaf" in m.pattern.lower()
                   for _, m, *_ in warnings.filters)
    warnings.filters[:] = [f for f in warnings.filters if getattr(f[1], "pattern", None) != "zzz-mine"]


def test_captured_autograd_entry_points_are_torchs_own(ip, capsys):
    original = torch.autograd.backward, torch.autograd.grad
    run(ip, f"%%autograd\nfrom torch.autograd import backward, grad\nbw = torch.autograd.backward\n{LEAF}")
    assert (ip.user_ns["backward"], ip.user_ns["grad"]) == original
    assert ip.user_ns["bw"] is original[0]
    capsys.readouterr()
    run(ip, "w = torch.ones(2, requires_grad=True)\n"
            "backward([(w * 2).sum()])\nbw([(w * 2).sum()])\nprint(w.grad.tolist())")
    out = capsys.readouterr()
    assert "[4.0, 4.0]" in out.out
    assert "AutogradPitfall" not in out.err and "grad-accumulated" not in out.out + out.err


def test_a_cell_runs_with_torchs_autograd_functions_and_the_users_exception_handler(ip):
    from torch.autograd import graph

    before = (torch.autograd.backward, torch.autograd.grad, graph.log,
              graph._register_logging_hooks_on_whole_graph, ip.custom_exceptions, ip.CustomTB)
    run(ip, "%%autograd\nseen = (torch.autograd.backward, torch.autograd.grad, "
            "get_ipython().custom_exceptions, get_ipython().CustomTB)")
    assert ip.user_ns["seen"] == before[:2] + before[4:]
    after = (torch.autograd.backward, torch.autograd.grad, graph.log,
             graph._register_logging_hooks_on_whole_graph, ip.custom_exceptions, ip.CustomTB)
    assert after == before and "showtraceback" not in vars(ip)


def test_torchs_own_autograd_logging_still_runs_in_a_cell(ip):
    import logging

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    log = logging.getLogger("torch.autograd.graph")
    handler, level = Keep(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        run(ip, "%%autograd --out r\nw = torch.ones(2, requires_grad=True)\n"
                "(w * 3).sum().backward()\n(w * 3).sum().backward()")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert sum("Executing: <MulBackward0" in m for m in records) == 2
    assert [f.kind for f in ip.user_ns["r"].findings] == ["grad-accumulated"]


def test_a_filter_list_saved_in_a_cell_and_put_back_later_is_inert(ip, capsys):
    run(ip, f"%%autograd\nimport warnings\nsaved = list(warnings.filters)\n{LEAF}")
    assert any("graphmagic" in repr(f[1]) for f in ip.user_ns["saved"])  # ours was in force
    run(ip, "warnings.filters[:] = saved")
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("default")
            warnings.filters[:0] = [f for f in ip.user_ns["saved"] if "graphmagic" in repr(f[1])]
            run(ip, "h.grad\nh.grad")   # two lines: the user's default filter shows both
        assert len([w for w in seen if "is not a leaf Tensor" in str(w.message)]) == 2
        assert "graphmagic" not in capsys.readouterr().out
    finally:
        warnings.filters[:] = [f for f in warnings.filters if "graphmagic" not in repr(f[1])]


def test_a_custom_exception_handler_set_in_a_cell_stays(ip, capsys):
    run(ip, "%%autograd\n"
            "def mine(shell, etype, value, tb, tb_offset=None):\n    print('MINE', etype.__name__)\n"
            "get_ipython().set_custom_exc((ZeroDivisionError,), mine)")
    try:
        run(ip, "1 / 0")
        assert "MINE ZeroDivisionError" in capsys.readouterr().out
    finally:
        ip.set_custom_exc((), None)


def test_a_nested_run_cell_error_is_not_the_cells(ip, capsys):
    result = run(ip, "%%autograd --out r\nget_ipython().run_cell('1/0')\nok = 1")
    assert result.error_in_exec is None and ip.user_ns["ok"] == 1
    assert ip.user_ns["r"].exception is None


def test_an_exception_whose_str_raises_gets_no_traceback_of_ours(ip, capsys):
    odd = "class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise Odd()"
    plain = run(ip, odd)  # IPython's own history formatting trips on it too
    result = run(ip, "%%autograd --out r\n" + odd)
    assert type(result.error_in_exec) is type(plain.error_in_exec)
    out = capsys.readouterr()
    assert "Custom TB Handler failed" not in out.out + out.err
    assert "graphmagic" not in out.out.split("In[")[0] + out.err
    assert ip.user_ns["r"].exception.startswith("Odd: ")
