"""Deep graphs under every probe: no RecursionError, and freeing them does not crash.

PyTorch 2.13 frees backward nodes that Python touched recursively; walking a 100,000-node
chain and then freeing it overflows the C stack (a segfault, so this runs in a child
process). Every walk of ours stops at ``tensorinfo.SAFE_WALK_LIMIT``.
"""
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    from IPython.testing.globalipapp import start_ipython
    ip = start_ipython()
    ip.run_line_magic("load_ext", "graphmagic")
    ip.run_cell("import torch")
    cell = """%%autograd --out r
    x = torch.ones(1, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0001
    BACKWARD
    """
    result = ip.run_cell(cell, store_history=True)
    assert result.error_in_exec is None, result.error_in_exec
    assert ip.user_ns["r"].graph.to_json()["nodes"], "no graph drawn"
    assert not ip.user_ns["r"].errors, ip.user_ns["r"].errors
    ip.run_cell("del x, y, r; import gc; gc.collect()", store_history=True)
    print("FREED")
''')


def _run(backward: str) -> subprocess.CompletedProcess:
    code = SCRIPT.replace("BACKWARD", backward)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_100k_chain_with_backward_is_drawn_and_freed():
    done = _run("y.sum().backward()")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FREED" in done.stdout


def test_100k_chain_without_backward_is_drawn_and_freed():
    done = _run("z = y * 2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FREED" in done.stdout
