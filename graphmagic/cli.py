"""``python -m graphmagic run NOTEBOOK``: execute a notebook headless and summarise it.

The notebook runs with nbclient in a kernel of the Python running this command (a kernel
spec for it is written to a temporary directory when none is registered), stopping at the
first cell that raises unless the cell carries the ``raises-exception`` tag. The executed
notebook is written (default ``NAME.executed.ipynb`` beside the input), ``--html`` also
writes an HTML page with nbconvert. One line per code cell says whether it ran, raised or
was skipped, and which findings its ``%%autograd`` reports hold (read from their
``application/vnd.graphmagic.report+json`` outputs). Exit status: 0 when no cell raised
unexpectedly, 1 when one did (or the kernel died or a cell timed out), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

from .report import JSON_MIME

EXPECTED = "raises-exception"
OWN_KERNEL = "graphmagic-python"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m graphmagic",
                                     description="graphmagic's command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="execute a notebook headless and summarise its reports",
                         description=__doc__.split("\n\n")[1])
    run.add_argument("notebook", type=Path, metavar="NOTEBOOK.ipynb")
    run.add_argument("-o", "--output", type=Path, metavar="OUT.ipynb",
                     help="where to write the executed notebook "
                          "(default: NAME.executed.ipynb beside NOTEBOOK)")
    run.add_argument("--html", type=Path, metavar="OUT.html",
                     help="also write the executed notebook as an HTML page")
    run.add_argument("--timeout", type=_seconds, default=600.0, metavar="S",
                     help="seconds one cell may run (default 600; 0 means no limit)")
    run.add_argument("--kernel", metavar="NAME",
                     help="Jupyter kernel spec to use (default: one running this Python)")
    return parser


def _is_this_python(command: str) -> bool:
    # jupyter_client runs a bare "python"/"python3"/"python3.X" as sys.executable
    if command in {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}:
        return True
    spec, this = os.path.abspath(command), os.path.abspath(sys.executable)
    # same directory (same venv), same interpreter binary
    return spec == this or (os.path.dirname(spec) == os.path.dirname(this)
                            and os.path.realpath(spec) == os.path.realpath(this))


def this_python_kernel() -> str | None:
    """The name of a registered kernel spec that runs this Python, if there is one."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().get_all_specs()
    for name in sorted(specs, key=lambda n: (n != "python3", n)):
        argv = specs[name].get("spec", {}).get("argv") or []
        if argv and _is_this_python(argv[0]):
            return name
    return None


@contextlib.contextmanager
def kernel_for_this_python():
    """Yield a kernel name for this Python, writing a temporary spec when none exists."""
    name = this_python_kernel()
    if name is not None:
        yield name
        return
    with tempfile.TemporaryDirectory(prefix="graphmagic-kernel-") as tmp:
        spec_dir = Path(tmp, "kernels", OWN_KERNEL)
        spec_dir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python {sys.version_info[0]} (graphmagic)", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (tmp, old) if p)
        try:
            yield OWN_KERNEL
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


def _transport(tmp: str):
    from traitlets.config import Config

    # local sockets in a private directory: no network port, no "TCP without encryption" warning
    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(tmp, "kernel")}})


def execute(nb, kernel: str, timeout: float, cwd: Path) -> tuple[dict[int, dict], str | None]:
    """Run ``nb`` in place; return {cell index: execute reply content} and a fatal problem."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    replies: dict[int, dict] = {}
    started: list[int] = []
    with tempfile.TemporaryDirectory(prefix="graphmagic-run-") as tmp, \
            tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as kernel_log:
        client = NotebookClient(
            nb, kernel_name=kernel, config=_transport(tmp), timeout=timeout or None,
            resources={"metadata": {"path": str(cwd)}},
            on_cell_start=lambda cell, cell_index: started.append(cell_index),
            on_cell_executed=lambda cell, cell_index, execute_reply: replies.__setitem__(
                cell_index, execute_reply["content"]),
        )
        try:
            client.execute(stderr=kernel_log)  # the kernel process's own log, shown if it fails
            return replies, None
        except CellExecutionError:
            return replies, None  # the raising cell is in replies
        except (CellTimeoutError, TimeoutError) as err:
            problem = f"timed out after {timeout:g} s: {err}".splitlines()[0]
        except DeadKernelError as err:
            problem = f"the kernel died: {err}".splitlines()[0] + _tail(kernel_log)
        except Exception as err:  # the kernel did not start or answer
            problem = f"the kernel failed: {type(err).__name__}: {err}" + _tail(kernel_log)
        finally:
            atexit.unregister(client._cleanup_kernel)  # nbclient's, fails once km is gone
    if started and started[-1] not in replies:
        replies[started[-1]] = {"status": "error", "ename": "graphmagic run",
                                "evalue": problem.splitlines()[0]}
    return replies, problem


def _tail(log, lines: int = 15) -> str:
    log.seek(0)
    text = log.read().splitlines()[-lines:]
    return "\nkernel log:\n" + "\n".join(text) if text else ""


def findings_by_kind(cell) -> tuple[Counter, int]:
    """Finding kinds (how many findings of each) and graphmagic's own errors in a cell."""
    kinds: Counter = Counter()
    errors = 0
    for out in cell.get("outputs", []):
        report = out.get("data", {}).get(JSON_MIME)
        if isinstance(report, str):
            report = json.loads(report)
        if isinstance(report, dict):
            kinds.update(f.get("kind", "?") for f in report.get("findings") or [])
            errors += len(report.get("errors") or [])
    return kinds, errors


def summarise(nb, replies: dict[int, dict]) -> tuple[list[str], int]:
    """One line per code cell, and how many cells raised without the tag."""
    lines, unexpected = [], 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        reply = replies.get(index)
        count = f"In[{cell.get('execution_count')}]" if cell.get("execution_count") else ""
        if not cell.source.strip():
            status = "empty"
        elif reply is None:
            status = "skipped"
        elif reply.get("status") == "error":
            tagged = EXPECTED in cell.get("metadata", {}).get("tags", [])
            unexpected += not tagged
            status = f"error{' (expected: ' + EXPECTED + ')' if tagged else ''}  " \
                     f"{reply.get('ename')}: {reply.get('evalue')}".splitlines()[0]
        else:
            status = "ran"
        kinds, errors = findings_by_kind(cell)
        extra = ""
        if kinds:
            extra += "  findings: " + ", ".join(k if n == 1 else f"{k} x{n}" for k, n in sorted(kinds.items()))
        if errors:
            extra += f"  graphmagic errors: {errors}"
        lines.append(f"cell {index:>3} {count:>7}  {status}{extra}")
    return lines, unexpected


def print_tracebacks(nb, replies: dict[int, dict]) -> None:
    for index, reply in sorted(replies.items()):
        cell = nb.cells[index]
        if reply.get("status") == "error" and EXPECTED not in cell.get("metadata", {}).get("tags", []):
            trace = "\n".join(reply.get("traceback") or [])
            if trace:
                print(f"--- cell {index} ---\n{ANSI.sub('', trace)}", file=sys.stderr)


def write_html(nb, path: Path, name: str) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(embed_images=True).from_notebook_node(
        nb, resources={"metadata": {"name": name}})
    path.write_text(body, encoding="utf-8")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import nbformat

    path: Path = args.notebook
    if not path.is_file():
        parser.error(f"no such notebook: {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # not JSON, not a notebook
        parser.error(f"cannot read {path} as a notebook: {err}".splitlines()[0])
    output = args.output or path.with_name(f"{path.stem}.executed.ipynb")
    for target in (output, args.html):
        if target is not None and not target.parent.is_dir():
            parser.error(f"no such directory for {target}")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if args.kernel:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        try:
            KernelSpecManager().get_kernel_spec(args.kernel)
        except NoSuchKernel:
            known = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
            parser.error(f"no kernel spec named {args.kernel!r}; known: {known}")
        kernel = contextlib.nullcontext(args.kernel)
    else:
        if importlib.util.find_spec("ipykernel") is None:
            parser.error(f"ipykernel is not installed in {sys.executable}")
        kernel = kernel_for_this_python()
    with kernel as name:
        replies, problem = execute(nb, name, args.timeout, path.resolve().parent)
    nbformat.write(nb, output)
    lines, unexpected = summarise(nb, replies)
    print(f"{path}: kernel {name}")
    print("\n".join(lines))
    print_tracebacks(nb, replies)
    print(f"wrote {output}")
    if args.html:
        write_html(nb, args.html, path.stem)
        print(f"wrote {args.html}")
    if problem:
        print(f"stopped: {problem}", file=sys.stderr)
    elif unexpected:
        print(f"stopped: a cell raised and is not tagged {EXPECTED!r}", file=sys.stderr)
    return 1 if problem or unexpected else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, parser)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
