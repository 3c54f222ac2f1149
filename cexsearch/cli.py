"""The command line: parses, calls the library, renders, sets the exit code.

Exit codes: 0 success (a witness found, every claim as expected), 1 the
negative answer (no witness exists at this size, a claim not as expected, a
witness that fails), 2 bad input, 3 inconclusive (or solver and re-check
disagree), 130 interrupted.  The only module that prints or exits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .api import NetworkSettings, build_problem
from .conditions import parse_number
from .errors import CexsearchError, InputError, SolverDisagreement, TooLarge
from .search import Outcome, SearchStats, search
from .spec import MAX_TIMEOUT, SearchOptions, valid_timeout

EXIT_OK, EXIT_NEGATIVE, EXIT_INPUT, EXIT_INCONCLUSIVE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Settle claims about neural-network gradients: search weights and datasets with Z3, "
    "re-check every witness exactly.\n\nExit codes: 0 success, 1 negative answer, 2 bad input, "
    "3 inconclusive, 130 interrupted.",
)


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


def number_option(text: str | None, option: str) -> Fraction | None:
    if text is None:
        return None
    try:
        return parse_number(text)
    except InputError as e:
        raise type(e)(f"{option} {text!r}: {e.message}", hint=e.hint) from None


def int_option(text: str, option: str) -> int:
    """An integer option, read here so that a bad one is named with its value (Typer's message is not)."""
    try:
        value = parse_number(text)
    except TooLarge as e:
        raise e.located(option) from None
    except InputError:
        value = None
    if value is None or value.denominator != 1:
        raise InputError(f"{option} {text!r} is not a valid integer", hint=f"write a whole number, e.g. {option} 3")
    return int(value)


def timeout_option(text: str | None) -> float | None:
    if text is None:
        return None
    value = number_option(text, "--timeout")
    if not valid_timeout(value):
        raise InputError(f"--timeout {text} must be positive and at most {MAX_TIMEOUT} seconds",
                         hint="give seconds, e.g. --timeout 60")
    return float(value)  # type: ignore[arg-type]


def writable(path: str | None, option: str, directory: bool = False) -> None:
    """Refuse, before any search, an output path that cannot be written (a file, or with directory=True a folder).

    Missing folders are created on writing, so the nearest one that exists must be a writable folder.
    """
    if path is None or path == "-":
        return
    target = Path(os.path.abspath(path))
    problem = None
    if target.is_dir() != directory and target.exists():
        problem = "it is a directory" if target.is_dir() else "it is a file"
    else:
        existing = next(p for p in (target if directory else target.parent, *target.parents) if p.exists())
        if not existing.is_dir():
            problem = f"{str(existing)!r} is not a directory"
        elif not os.access(existing, os.W_OK | os.X_OK):
            problem = f"{str(existing)!r} is not writable"
    if problem:
        raise InputError(f"cannot write {option} {path!r}: {problem}",
                         hint=f"give {option} a path in a writable directory")


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
            done = stats.tried + stats.pruned + stats.undecided
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
        err_console().print("interrupted", markup=False)
        code = EXIT_INTERRUPTED
    except CexsearchError as e:
        err_console().print(printable(f"error: {e}"), markup=False)
        code = EXIT_INCONCLUSIVE
    raise typer.Exit(code)


Activation = Annotated[str, typer.Option(help="Hidden activation: relu, leaky_relu or linear.")]


@app.command()
def find(
    net: Annotated[str, typer.Option("--net", help="Widths, input first: 1-1-1, 10-10-1, 2-3-3-2.")],
    samples: Annotated[str, typer.Option("--samples", "-M", help="Batch size M.")] = "1",
    require: Annotated[list[str] | None, typer.Option("--require", "-r", help="A condition that must hold (repeatable).")] = None,
    fix: Annotated[list[str] | None, typer.Option("--fix", help="NAME=VALUE or NAME[i,j]=VALUE (repeatable).")] = None,
    activation: Activation = "relu",
    leaky_slope: Annotated[str, typer.Option(help="Slope of leaky_relu below 0.")] = "1/100",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Biases in every layer.")] = True,
    loss: Annotated[str, typer.Option(help="mse (mean over all M x width_L errors, as PyTorch) or sse (sum).")] = "mse",
    relu_grad_at_zero: Annotated[str, typer.Option(help="Derivative used at a pre-activation of exactly 0: 0 or 1.")] = "0",
    integers: Annotated[bool, typer.Option("--integers", help="Every free value is an integer.")] = False,
    bound: Annotated[str | None, typer.Option(help="Every free value lies in [-B, B].")] = None,
    timeout: Annotated[str | None, typer.Option(help="Seconds for the whole search.")] = None,
    seed: Annotated[str, typer.Option(help="Solver seed, for reproducible runs.")] = "0",
    json_path: Annotated[str | None, typer.Option("--json", help="Write the witness document here ('-' for stdout).")] = None,
) -> None:
    """Search for weights and a dataset meeting every --require condition, or prove none exists at this size."""

    def body() -> int:
        if activation not in ("relu", "leaky_relu", "linear"):
            raise InputError(f"--activation {activation!r} is not known", hint="use relu, leaky_relu or linear")
        if loss not in ("mse", "sse"):
            raise InputError(f"--loss {loss!r} is not known", hint="use mse or sse")
        grad_at_zero = int_option(relu_grad_at_zero, "--relu-grad-at-zero")
        if grad_at_zero not in (0, 1):
            raise InputError(f"--relu-grad-at-zero {grad_at_zero} must be 0 or 1", hint="write 0 (as PyTorch) or 1")
        seconds = timeout_option(timeout)
        if not require:
            raise InputError("no --require condition given", hint='add one, e.g. --require "grad(W1) != 0"')
        writable(json_path, "--json")
        settings = NetworkSettings(activation, number_option(leaky_slope, "--leaky-slope") or Fraction(0), bias, loss,
                                   grad_at_zero)
        network = settings.network(net)
        problem = build_problem(network, int_option(samples, "--samples"), require, fix or (), integers=integers,
                                bound=number_option(bound, "--bound"))
        options = SearchOptions(timeout=seconds, seed=int_option(seed, "--seed"))
        with progress_reporter(True, "patterns") as progress:
            outcome = search(problem, options, progress)
        return render_outcome(outcome, json_path)

    run_command(body)


def render_outcome(outcome: Outcome, json_path: str | None) -> int:
    from .report import outcome_renderable
    from .witness import dumps, outcome_document, write_atomic

    json_to_stdout = json_path == "-"
    console = out_console(to_stderr=json_to_stdout)
    console.print(outcome_renderable(outcome))
    if json_path:
        text = dumps(outcome_document(outcome))
        if json_to_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_atomic(json_path, text)
            console.print(f"witness document written to {json_path}", style="dim")
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return {"found": EXIT_OK, "none": EXIT_NEGATIVE, "unknown": EXIT_INCONCLUSIVE}[outcome.verdict]


@app.command()
def verify(
    witness: Annotated[str, typer.Argument(help="A witness document written by find or check.")],
) -> None:
    """Re-check a witness document exactly, without Z3: exit 0 when every condition holds, 1 when one fails."""

    def body() -> int:
        from .numeric import recheck
        from .witness import load_document

        try:
            text = open(witness, encoding="utf-8").read() if witness != "-" else sys.stdin.read()
        except OSError as e:
            raise InputError(f"cannot read {witness!r}: {e.strerror}", hint="check the path") from None
        except UnicodeDecodeError as e:
            raise InputError(f"cannot read {witness!r}: byte {e.object[e.start]:#04x} at offset {e.start} is not "
                             "UTF-8", hint="a witness document is UTF-8 JSON, as find and check write it") from None
        problem, assignment, _ = load_document(text, where=witness)
        if assignment is None:
            raise InputError(f"{witness}: the document holds no values to check (its verdict was not 'found')")
        check = recheck(problem, assignment)
        console = out_console()
        if check.confirmed:
            console.print(f"VERIFIED  every condition holds exactly ({len(check.conditions)} checked); "
                          f"float64 deviation {check.float_deviation:.3g}", markup=False)
            for c in check.conditions:
                console.print(f"  holds: {c.text}", markup=False)
            return EXIT_OK
        console.print("FAILED  the witness does not meet its conditions", markup=False)
        for c in check.conditions:
            console.print(f"  {'holds' if c.holds else 'FAILS'}: {c.text}", markup=False)
        from .report import fmt_exact

        console.print("the values the failing conditions read:", markup=False)
        shown: set[str] = set()
        for c in check.conditions:
            for label, values in c.reads if not c.holds else ():
                if label not in shown:
                    shown.add(label)
                    flat = ", ".join(fmt_exact(v) for v in values.reshape(-1))
                    console.print(f"  {label} = {flat if values.ndim == 0 else f'[{flat}]'}", markup=False,
                                  soft_wrap=True)  # an exact value stays on one line, however long
        return EXIT_NEGATIVE

    run_command(body)


@app.command()
def check(
    files: Annotated[list[str], typer.Argument(help="Claim files (TOML).")],
    junit: Annotated[str | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    json_path: Annotated[str | None, typer.Option("--json", help="Write every outcome with its witness ('-' for stdout).")] = None,
    timeout: Annotated[str | None, typer.Option(help="Seconds per claim.")] = None,
    store: Annotated[str, typer.Option(help="Where refuting witnesses are kept and replayed from.")] = ".cexsearch/witnesses",
    no_store: Annotated[bool, typer.Option("--no-store", help="Neither replay nor save witnesses.")] = False,
    seed: Annotated[str, typer.Option(help="Solver seed.")] = "0",
) -> None:
    """Decide every claim in the files: exit 0 when all are as expected, 1 when one is not, 3 when some are unknown."""

    def body() -> int:
        from .claims import check_claim, load_claims
        from .export import github_annotation, junit_xml, report_document
        from .report import claims_table
        from .witness import dumps, write_atomic

        seconds, solver_seed = timeout_option(timeout), int_option(seed, "--seed")
        for path, option in ((junit, "--junit"), (json_path, "--json")):
            writable(path, option)
        if not no_store:
            writable(store, "--store", directory=True)
        claims = [c for f in files for c in load_claims(f)]  # every file validated before any search
        json_to_stdout = json_path == "-"
        console = out_console(to_stderr=json_to_stdout)
        results = []
        interrupted = False
        with progress_reporter(True, "claims") as progress:
            for i, claim in enumerate(claims):
                if progress is not None:
                    progress(SearchStats("claims", len(claims), tried=i))
                result = check_claim(claim, timeout=seconds, store=None if no_store else store,
                                     options=SearchOptions(seed=solver_seed))
                results.append(result)
                if result.interrupted:
                    interrupted = True
                    break
        console.print(claims_table(results))
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for r in results:
                if not r.as_expected:
                    print(github_annotation(r), file=sys.stderr if json_to_stdout else sys.stdout)
        if junit:
            write_atomic(junit, junit_xml(results))
        if json_path:
            text = dumps(report_document(results))
            if json_to_stdout:
                sys.stdout.write(text)
            else:
                write_atomic(json_path, text)
        if interrupted:
            return EXIT_INTERRUPTED
        if any(r.verdict != "unknown" and not r.as_expected for r in results):
            return EXIT_NEGATIVE
        if any(r.verdict == "unknown" for r in results):
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    run_command(body)


@app.command()
def version() -> None:
    """Print the versions of cexsearch and Z3."""
    from .solver import z3_version

    print(f"cexsearch {__version__} (z3 {z3_version()})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
