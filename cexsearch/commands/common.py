"""What every command shares: exit codes, consoles, the body runner that maps errors to exit codes.

The commands are the only code that prints or exits.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..engine.search import SearchStats
from ..entry import settle
from ..errors import CexsearchError, InputError, SolverDisagreement

EXIT_OK, EXIT_NEGATIVE, EXIT_INPUT, EXIT_INCONCLUSIVE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _plain() -> bool:
    return bool(os.environ.get("CI")) or bool(os.environ.get("NO_COLOR"))


def out_console(to_stderr: bool = False) -> Console:
    plain = _plain()
    return Console(stderr=to_stderr, highlight=False, no_color=plain, force_terminal=False if plain else None,
                   soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, no_color=_plain(), soft_wrap=True)


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def printable(text: str) -> str:
    """Text that any console can print: a lone surrogate (a non-UTF-8 byte of argv) as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fail_input(e: InputError) -> Exit:
    err_console().print(printable(f"error: {e}"), markup=False)
    return Exit(EXIT_INPUT)


@contextmanager
def progress_reporter(enabled: bool, label: str) -> Iterator:
    """A progress bar over patterns on an interactive terminal; nothing under CI or a pipe."""
    if not enabled or _plain() or not sys.stderr.isatty():
        yield None
        return
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None, counts="")

        def update(stats: SearchStats) -> None:
            done = stats.tried + stats.pruned + stats.undecided + stats.blocked
            bar.update(task, total=stats.total_patterns, completed=done,
                       counts=f"{stats.tried} decided, {stats.pruned} pruned, {stats.remaining} left")

        yield update


def run_command(body) -> None:  # type: ignore[no-untyped-def]
    """Run a command body that returns an exit code; map errors to exit codes, never a traceback."""
    try:
        code = body()
    except Exit as e:
        code = e.code
    except InputError as e:
        code = fail_input(e).code
    except SolverDisagreement as e:
        err_console().print(f"SOLVER DISAGREEMENT: {e}\nThis is a bug in cexsearch or in Z3; please report it "
                            "with the command you ran.", markup=False, style="bold red")
        code = EXIT_INCONCLUSIVE
    except KeyboardInterrupt:
        settle()
        err_console().print("interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except ctypes.ArgumentError as e:
        # Ctrl-C landing while ctypes converts an argument for Z3 arrives wrapped in this
        if "KeyboardInterrupt" not in str(e):
            raise
        err_console().print("interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except CexsearchError as e:
        err_console().print(printable(f"error: {e}"), markup=False)
        code = EXIT_INCONCLUSIVE
    settle()
    raise typer.Exit(code)


def emit_json(path: str, doc: object) -> None:
    """A JSON document alone on stdout ('-'), or written atomically to a file."""
    from ..files import write_atomic
    from ..workflows.witness import dumps

    text = dumps(doc)
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(path, text)


Activation = Annotated[str, typer.Option(help="Hidden activation: relu, leaky_relu or linear.")]


Cluster = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://HOST:8786): send enumeration subtrees there (needs the optional dask extra).")]
