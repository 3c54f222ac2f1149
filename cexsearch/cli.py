"""The command line: parses, calls the library, renders, sets the exit code.

Exit codes: 0 success (a witness found, every claim as expected), 1 the
negative answer (no witness exists at this size, a claim not as expected, a
witness that fails), 2 bad input, 3 inconclusive (or solver and re-check
disagree), 130 interrupted.  The only module that prints or exits.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .api import NetworkSettings, build_problem, is_layer_notation, layer_network
from .conditions import parse_number
from .entry import settle
from .errors import CexsearchError, InputError, SolverDisagreement, TooLarge
from .search import Outcome, SearchStats, search
from .spec import MAX_TIMEOUT, FixedValues, Network, SearchOptions, valid_timeout

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


Activation = Annotated[str, typer.Option(help="Hidden activation: relu, leaky_relu or linear.")]
Cluster = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://HOST:8786): send enumeration subtrees there (needs the optional dask extra).")]


@app.command()
def find(
    net: Annotated[str | None, typer.Option("--net", help="Widths, input first: 1-1-1, 10-10-1, 2-3-3-2; or PyTorch "
        "layers: \"Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))\" with --input-shape.")] = None,
    input_shape: Annotated[str | None, typer.Option(
        "--input-shape", help="One sample's shape for a --net in PyTorch's notation, e.g. 1,4 (channels, length).")] = None,
    samples: Annotated[str, typer.Option("--samples", "-M", help="Batch size M.")] = "1",
    require: Annotated[list[str] | None, typer.Option("--require", "-r", help="A condition that must hold (repeatable).")] = None,
    fix: Annotated[list[str] | None, typer.Option("--fix", help="NAME=VALUE or NAME\\[i,j]=VALUE (repeatable).")] = None,
    torch_model: Annotated[str | None, typer.Option(
        "--torch", help="PATH.py:NAME: the network is this PyTorch module (an instance, an nn.Module class or a "
        "function returning one), its parameters called by the module's names.")] = None,
    weights_from_module: Annotated[bool, typer.Option(
        "--weights-from-module", help="With --torch: fix every parameter to the module's current values, "
        "exactly; only x and y are free.")] = False,
    activation: Annotated[str | None, typer.Option(help="Hidden activation: relu (default), leaky_relu or linear.")] = None,
    leaky_slope: Annotated[str | None, typer.Option(help="Slope of leaky_relu below 0 (default 1/100).")] = None,
    bias: Annotated[bool | None, typer.Option("--bias/--no-bias", help="Biases in every layer (default on).")] = None,
    loss: Annotated[str, typer.Option(help="mse (mean over all M x width_L errors, as PyTorch) or sse (sum); for a "
                                           "network in PyTorch's notation also l1, huber or hinge.")] = "mse",
    huber_delta: Annotated[str | None, typer.Option(help="delta of --loss huber (default 1).")] = None,
    relu_grad_at_zero: Annotated[str, typer.Option(help="Derivative used at a pre-activation of exactly 0: 0 or 1.")] = "0",
    integers: Annotated[bool, typer.Option("--integers", help="Every free value is an integer.")] = False,
    bound: Annotated[str | None, typer.Option(help="Every free value lies in [-B, B].")] = None,
    timeout: Annotated[str | None, typer.Option(help="Seconds for the whole search.")] = None,
    seed: Annotated[str, typer.Option(help="Solver seed, for reproducible runs.")] = "0",
    json_path: Annotated[str | None, typer.Option("--json", help="Write the witness document here ('-' for stdout).")] = None,
    strategy: Annotated[str, typer.Option(help="auto (portfolio), enumerate, enumerate-plain, ifencode or linear.")] = "auto",
    jobs: Annotated[str | None, typer.Option(help="Worker processes for enumeration (default: the number of cores).")] = None,
    cluster: Cluster = None,
    rlimit: Annotated[str | None, typer.Option(help="Z3 resource limit per check: a machine-independent budget.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Enumerate even a pattern count far beyond reach.")] = False,
    shrink: Annotated[bool, typer.Option("--shrink/--no-shrink", help="Look for a simpler witness (default on).")] = True,
    shrink_time: Annotated[str, typer.Option(help="Seconds for shrinking (a safety net: each check has a resource budget).")] = "10",
    explain: Annotated[str | None, typer.Option(help="Also print the witness as a derivation: markdown or latex.")] = None,
    explain_to: Annotated[str | None, typer.Option(help="Write the derivation to this file instead.")] = None,
    plot: Annotated[str | None, typer.Option(help="Draw a 1-input, 1-output witness to PATH.png or PATH.svg.")] = None,
    cross_check: Annotated[list[str] | None, typer.Option("--cross-check", help="torch and/or cvc5 (repeatable).")] = None,
    html: Annotated[str | None, typer.Option("--html", help="Write a self-contained HTML page of the outcome to FILE (needs the html extra).")] = None,
) -> None:
    """Search for weights and a dataset meeting every --require condition, or prove none exists at this size."""

    def body() -> int:
        if activation is not None and activation not in ("relu", "leaky_relu", "linear"):
            raise InputError(f"--activation {activation!r} is not known", hint="use relu, leaky_relu or linear")
        layers = net is not None and is_layer_notation(net)
        if loss not in ("mse", "sse") and not layers and torch_model is None:
            raise InputError(f"--loss {loss!r} is not known", hint="use mse or sse (l1, huber and hinge need a --net "
                             "in PyTorch's notation, e.g. \"Sequential(Linear(1, 1))\" --input-shape 1)")
        grad_at_zero = int_option(relu_grad_at_zero, "--relu-grad-at-zero")
        if grad_at_zero not in (0, 1):
            raise InputError(f"--relu-grad-at-zero {grad_at_zero} must be 0 or 1", hint="write 0 (as PyTorch) or 1")
        if not layers and torch_model is None:
            refuse_layer_settings(input_shape, huber_delta)
        seconds = timeout_option(timeout)
        if not require:
            raise InputError("no --require condition given", hint='add one, e.g. --require "grad(W1) != 0"')
        writable(json_path, "--json")
        html_option(html, "--html")
        if layers:
            network, weights = layer_option(net or "", input_shape, torch_model, activation, leaky_slope, bias, loss,
                                            grad_at_zero, huber_delta), None
        else:
            network, weights = network_option(net, torch_model, weights_from_module, activation, leaky_slope, bias,
                                              loss, grad_at_zero, input_shape, huber_delta)
        problem = build_problem(network, int_option(samples, "--samples"), require, fix or (), fixed=weights,
                                integers=integers, bound=number_option(bound, "--bound"))
        extras = Extras.parse(explain, explain_to, plot, cross_check, json_path)
        if not isinstance(network, Network):
            refuse_for_layers(network=network, plot=plot, strategy=strategy)
        options = search_options(seconds, seed, strategy, jobs, rlimit, force, cluster)
        with progress_reporter(True, "patterns") as progress:
            outcome = search(problem, options, progress)
        if outcome.verdict == "found" and shrink:
            outcome = shrunk(outcome, options, number_option(shrink_time, "--shrink-time") or Fraction(0))
        outcome = extras.cross_check(outcome)
        code = render_outcome(outcome, json_path, options)
        extras.write(outcome)
        if html:
            from .html_report import write_find_report

            write_find_report(html, outcome)
            out_console(to_stderr=json_path == "-").print(f"HTML report written to {html}", style="dim")
        return code

    run_command(body)


def html_option(path: str | None, option: str, directory: bool = False) -> None:
    """Refuse --html before any search when its converter is missing or its path cannot be written."""
    if path is None:
        return
    if path == "-":
        raise InputError(f"{option} writes a file, not stdout", hint=f"give {option} a path")
    from .html_report import require_converter

    require_converter()
    writable(path, option, directory=directory)


def network_option(net: str | None, torch_model: str | None, weights_from_module: bool, activation: str | None,
                   leaky_slope: str | None, bias: bool | None, loss: str, grad_at_zero: int,
                   input_shape: str | None = None, huber_delta: str | None = None) -> tuple[Any, FixedValues | None]:
    """The network of --net and its settings, or of --torch (with its weights when --weights-from-module)."""
    if torch_model is None:
        if weights_from_module:
            raise InputError("--weights-from-module needs --torch", hint="add --torch PATH.py:NAME")
        if net is None:
            raise InputError("no network given", hint="add --net WIDTHS (e.g. --net 1-1-1) or --torch PATH.py:NAME")
        slope = number_option(leaky_slope, "--leaky-slope") if leaky_slope is not None else Fraction(1, 100)
        settings = NetworkSettings(activation or "relu", slope or Fraction(0), True if bias is None else bias, loss,
                                   grad_at_zero)
        return settings.network(net), None
    if net is not None:
        raise InputError("--net and --torch both give the network", hint="drop one of them")
    refuse_mlp_settings(activation, leaky_slope, bias, "--torch: the module's layers decide it", "")
    from .api import parse_input_shape
    from .torchnet import load_torch_network

    found = load_torch_network(torch_model, loss=loss, relu_grad_at_zero=grad_at_zero,
                               input_shape=parse_input_shape(input_shape) if input_shape is not None else None,
                               huber_delta=number_option(huber_delta, "--huber-delta") if huber_delta is not None else None)
    return found.network, found.weights if weights_from_module else None


def refuse_mlp_settings(activation: str | None, leaky_slope: str | None, bias: bool | None, source: str,
                        fix: str) -> None:
    """The MLP shorthand's settings, given beside a network that decides them itself, are an input error."""
    given = [o for o, v in (("--activation", activation), ("--leaky-slope", leaky_slope),
                            ("--bias/--no-bias", bias)) if v is not None]
    if given:
        raise InputError(f"{given[0]} conflicts with {source}", hint=f"drop {given[0]}{fix}")


def refuse_layer_settings(input_shape: str | None, huber_delta: str | None) -> None:
    """The layer notation's settings, given beside the MLP shorthand, are an input error."""
    for option, value in (("--input-shape", input_shape), ("--huber-delta", huber_delta)):
        if value is not None:
            raise InputError(f"{option} needs a --net in PyTorch's notation", hint=f"drop {option}, or write "
                             "the network as layers, e.g. --net \"Sequential(Linear(1, 1))\"")


def layer_option(net: str, input_shape: str | None, torch_model: str | None, activation: str | None,
                 leaky_slope: str | None, bias: bool | None, loss: str, grad_at_zero: int,
                 huber_delta: str | None) -> Any:
    """The layer model of a --net in PyTorch's notation; the MLP shorthand's settings conflict with it."""
    if torch_model is not None:
        raise InputError("--net and --torch both give the network", hint="drop one of them")
    refuse_mlp_settings(activation, leaky_slope, bias, "a --net in PyTorch's notation: its layers decide it",
                        " and write it in the layers, e.g. LeakyReLU(0.1) or bias=False")
    delta = number_option(huber_delta, "--huber-delta") if huber_delta is not None else None
    return layer_network(net, input_shape, loss, grad_at_zero, delta)


def refuse_for_layers(**options: Any) -> None:
    """Exit 2 before any search for what does not read layer models yet, or a --plot of a net it cannot draw."""
    if options["plot"] is not None:
        from .plot import require_plottable

        require_plottable(options["network"])
    if options["strategy"] == "linear":
        raise InputError(f"--strategy {options['strategy']} is not yet supported for layer models",
                         hint="use --strategy auto")


def search_options(seconds: float | None, seed: str, strategy: str, jobs: str | None, rlimit: str | None,
                   force: bool, cluster: str | None = None) -> SearchOptions:
    from .search import STRATEGIES

    if strategy not in STRATEGIES:
        raise InputError(f"--strategy {strategy!r} is not known", hint=f"use one of {', '.join(STRATEGIES)}")
    n_jobs = int_option(jobs, "--jobs") if jobs is not None else (os.cpu_count() or 1)
    if n_jobs < 1:
        raise InputError(f"--jobs {n_jobs} must be at least 1")
    limit = int_option(rlimit, "--rlimit") if rlimit is not None else None
    if limit is not None and limit < 1:
        raise InputError(f"--rlimit {limit} must be at least 1")
    return SearchOptions(timeout=seconds, seed=int_option(seed, "--seed"), strategy=strategy, jobs=n_jobs,
                         rlimit=limit, force=force, cluster=cluster_option(cluster))


def cluster_option(address: str | None) -> str | None:
    """A Dask scheduler address, connected to (and its workers checked) before any search starts."""
    if address is None:
        return None
    if not address.strip():
        raise InputError("--cluster needs a scheduler address", hint="e.g. --cluster tcp://10.0.0.5:8786")
    from .cluster import client_for

    client_for(address)
    return address


def shrunk(outcome: Outcome, options: SearchOptions, seconds: Fraction) -> Outcome:
    """The simplest confirmed witness shrinking finds in the time given, with what it proved."""
    from dataclasses import replace

    from .shrink import shrink

    if seconds <= 0:
        return outcome
    with progress_reporter(True, "shrinking") as _:
        result = shrink(outcome.problem, outcome, replace(options, timeout=None), float(seconds))
    best = result.outcome
    return replace(best, stats=outcome.stats, shrink=result.proven + result.notes or ("no simpler witness found",))


class Extras:
    """What a witness can be turned into besides the report: derivations, plots, cross-checks."""

    def __init__(self, explain: str | None, explain_to: str | None, plot: str | None, checks: list[str],
                 json_path: str | None) -> None:
        self.explain, self.explain_to, self.plot, self.checks = explain, explain_to, plot, checks
        if explain is not None and explain.strip().lower() not in ("markdown", "latex"):
            raise InputError(f"--explain {explain!r} is not a format", hint="use markdown or latex")
        if explain_to is not None and explain is None:
            raise InputError("--explain-to needs --explain", hint="add --explain markdown or --explain latex")
        if explain is not None and explain_to is None and json_path == "-":
            raise InputError("--explain and --json - both want stdout", hint="add --explain-to FILE")
        for c in checks:
            if c not in ("torch", "cvc5"):
                raise InputError(f"--cross-check {c!r} is not known", hint="use torch or cvc5")
        if plot is not None:
            if not plot.lower().endswith((".png", ".svg")):
                raise InputError(f"--plot {plot!r} must end in .png or .svg")
            writable(plot, "--plot")
        writable(explain_to, "--explain-to")

    @classmethod
    def parse(cls, explain: str | None, explain_to: str | None, plot: str | None, checks: list[str] | None,
              json_path: str | None) -> Extras:
        return cls(explain, explain_to, plot, list(checks or []), json_path)

    def cross_check(self, outcome: Outcome) -> Outcome:
        from dataclasses import replace

        notes: list[str] = []
        if "torch" in self.checks and outcome.witness is not None and outcome.recheck is not None:
            from .crosscheck import torch_cross_check

            report = torch_cross_check(outcome.witness, outcome.recheck.evaluation.gradients)
            notes.append(f"torch: {'agrees' if report.agrees else 'DISAGREES'}, largest deviation "
                         f"{report.max_abs_deviation:.3g}; {report.note}")
        if "cvc5" in self.checks and outcome.verdict == "none":
            from .crosscheck import cvc5_cross_check_pattern
            from .search import if_encoded_constraints

            second = cvc5_cross_check_pattern(if_encoded_constraints(outcome.problem), "unsat", 60_000)
            notes.append(f"cvc5 on the If-encoded problem: {second.describe()}")
            if second.status == "disagree":
                return replace(outcome, verdict="unknown", cross_checks=tuple(notes),
                               reason=f"z3 says unsat, cvc5 says {second.cvc5_answer}")
        elif "cvc5" in self.checks:
            notes.append("cvc5: nothing to re-decide (the exact re-check confirms a witness)")
        return replace(outcome, cross_checks=tuple(notes)) if notes else outcome

    def write(self, outcome: Outcome) -> None:
        if outcome.witness is None:
            return
        from .files import write_atomic

        if self.explain is not None:
            from .explain import explain

            text = explain(outcome.problem, outcome.witness, self.explain)
            if self.explain_to:
                write_atomic(self.explain_to, text)
            else:
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if self.plot is not None:
            from .plot import plot

            plot(outcome.problem, outcome.witness, self.plot)


def emit_json(path: str, doc: object) -> None:
    """A JSON document alone on stdout ('-'), or written atomically to a file."""
    from .files import write_atomic
    from .witness import dumps

    text = dumps(doc)
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(path, text)


def render_outcome(outcome: Outcome, json_path: str | None, options: SearchOptions = SearchOptions()) -> int:
    from .report import outcome_renderable
    from .witness import outcome_document

    json_to_stdout = json_path == "-"
    console = out_console(to_stderr=json_to_stdout)
    console.print(outcome_renderable(outcome))
    if json_path:
        emit_json(json_path, outcome_document(outcome, options.seed, options.rlimit))
        if not json_to_stdout:
            console.print(f"witness document written to {json_path}", style="dim")
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return {"found": EXIT_OK, "none": EXIT_NEGATIVE, "unknown": EXIT_INCONCLUSIVE}[outcome.verdict]


@app.command()
def verify(
    witness: Annotated[str, typer.Argument(help="A witness document written by find or check.")],
    explain: Annotated[str | None, typer.Option(help="Also print the witness as a derivation: markdown or latex.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="First validate the document against its shipped JSON Schema "
                                         "(needs jsonschema).")] = False,
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
        Extras.parse(explain, None, None, None, None)  # validates the format before reading
        problem, assignment, doc = load_document(text, where=witness)
        if strict:
            from .schema import require_valid

            require_valid(doc, where=witness)
        if assignment is None:
            raise InputError(f"{witness}: the document holds no values to check (its verdict was not 'found')")
        check = recheck(problem, assignment)
        console = out_console()
        if explain is not None:
            from .explain import explain as derivation

            sys.stdout.write(derivation(problem, assignment, explain).rstrip("\n") + "\n")
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
    jobs: Annotated[str | None, typer.Option(help="Worker processes for each claim's enumeration.")] = "1",
    cluster: Cluster = None,
    shrink: Annotated[bool, typer.Option("--shrink/--no-shrink", help="Shrink refuting witnesses (default on).")] = True,
    shrink_time: Annotated[str, typer.Option(help="Seconds for shrinking each refuting witness.")] = "10",
    explain: Annotated[str | None, typer.Option(help="Print each refuting witness as a derivation: markdown or latex.")] = None,
    html: Annotated[str | None, typer.Option("--html", help="Write a self-contained HTML report to DIR/index.html (needs the html extra).")] = None,
) -> None:
    """Decide every claim in the files: exit 0 when all are as expected, 1 when one is not, 3 when some are unknown."""

    def body() -> int:
        from .claims import check_claim, load_claims
        from .export import github_annotation, junit_xml, report_document
        from .files import write_atomic
        from .report import claims_table

        seconds = timeout_option(timeout)
        options = search_options(None, seed, "auto", jobs, None, False, cluster)
        extras = Extras.parse(explain, None, None, None, json_path)
        shrink_seconds = float(number_option(shrink_time, "--shrink-time") or 0) if shrink else 0.0
        for path, option in ((junit, "--junit"), (json_path, "--json")):
            writable(path, option)
        html_option(html, "--html", directory=True)
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
                                     options=options, shrink_time=shrink_seconds)
                results.append(result)
                if result.interrupted:
                    interrupted = True
                    break
        console.print(claims_table(results))
        for r in results:
            if r.witness is not None:
                extras.write(r.witness)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for r in results:
                if not r.as_expected:
                    print(github_annotation(r), file=sys.stderr if json_to_stdout else sys.stdout)
        if junit:
            write_atomic(junit, junit_xml(results))
        if json_path:
            emit_json(json_path, report_document(results))
        if html:
            from .html_report import write_check_report

            console.print(f"HTML report written to {write_check_report(html, results, files)}", style="dim")
        if interrupted:
            return EXIT_INTERRUPTED
        if any(r.verdict != "unknown" and not r.as_expected for r in results):
            return EXIT_NEGATIVE
        if any(r.verdict == "unknown" for r in results):
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    run_command(body)


@app.command()
def sweep(
    net: Annotated[str | None, typer.Option("--net", help="Widths with brace ranges: 1-{1..4}-1; or PyTorch layers "
        "with --input-shape.")] = None,
    input_shape: Annotated[str | None, typer.Option(
        "--input-shape", help="One sample's shape for a --net in PyTorch's notation, e.g. 1,4.")] = None,
    samples: Annotated[str, typer.Option("--samples", "-M", help="A size or a range: 1..6.")] = "1",
    require: Annotated[list[str] | None, typer.Option("--require", "-r", help="A condition (repeatable).")] = None,
    claim: Annotated[str | None, typer.Option("--claim", help="FILE:NAME: sweep a claim's given and not-then.")] = None,
    fix: Annotated[list[str] | None, typer.Option("--fix", help="NAME=VALUE (repeatable).")] = None,
    activation: Annotated[str | None, typer.Option(help="Hidden activation: relu (default), leaky_relu or linear.")] = None,
    bias: Annotated[bool | None, typer.Option("--bias/--no-bias", help="Biases in every layer (default on).")] = None,
    loss: Annotated[str, typer.Option(help="mse or sse; for a network in PyTorch's notation also l1, huber or hinge.")] = "mse",
    huber_delta: Annotated[str | None, typer.Option(help="delta of --loss huber (default 1).")] = None,
    relu_grad_at_zero: Annotated[str, typer.Option(help="0 or 1.")] = "0",
    timeout: Annotated[str | None, typer.Option(help="Seconds per cell.")] = None,
    seed: Annotated[str, typer.Option(help="Solver seed.")] = "0",
    json_path: Annotated[str | None, typer.Option("--json", help="Write the grid here ('-' for stdout).")] = None,
) -> None:
    """Decide the same conditions over sizes, smallest first, and state the smallest size with a witness."""

    def body() -> int:
        from .claims import load_claims, parse_sizes
        from .conditions import parse_fix
        from .report import sweep_table
        from .sweep import expand_nets, sweep_document
        from .sweep import sweep as run_sweep

        writable(json_path, "--json")
        sizes = parse_sizes(samples, "--samples")
        options = SearchOptions(timeout=timeout_option(timeout), seed=int_option(seed, "--seed"))
        if claim is not None:
            if require or fix:
                raise InputError("--claim takes its conditions and fixed values from the claim file",
                                 hint="drop --require and --fix, or drop --claim")
            # a claim name may hold colons itself: split after the file's .toml when there is one
            path, _, name = claim.partition(".toml:")
            path, name = (path + ".toml", name) if name else claim.rpartition(":")[::2]
            if not path or not name:
                raise InputError(f"--claim {claim!r} must be FILE:NAME", hint='e.g. --claim examples/001.toml:"seed 001"')
            found = [c for c in load_claims(path) if c.name == name]
            if not found:
                raise InputError(f"--claim: no claim named {name!r} in {path}")
            chosen = found[0]
            if net and chosen.torch_network is not None:
                raise InputError("--net conflicts with a claim about a PyTorch module", hint="drop --net")
            nets = [chosen.network_for(n) for n in (expand_nets(net) if net else chosen.net)]
            build = chosen.problem
        else:
            if net is None:
                raise InputError("--net is required without --claim", hint="e.g. --net 1-{1..4}-1")
            if not require:
                raise InputError("no --require condition given", hint='add one, e.g. --require "grad(W1) != 0"')
            grad_at_zero = int_option(relu_grad_at_zero, "--relu-grad-at-zero")
            if is_layer_notation(net):
                nets = [layer_option(n, input_shape, None, activation, None, bias, loss, grad_at_zero, huber_delta)
                        for n in expand_nets(net)]
            else:
                refuse_layer_settings(input_shape, huber_delta)
                settings = NetworkSettings(activation or "relu", Fraction(1, 100), True if bias is None else bias, loss,
                                           grad_at_zero)
                nets = [settings.network(n) for n in expand_nets(net)]

            def build(network, m):  # type: ignore[no-untyped-def]
                fixed = [parse_fix(f, network, m) for f in fix or ()]
                from .conditions import combine_fixed

                return build_problem(network, m, require, fixed=combine_fixed(fixed) if fixed else None)

            for n in nets:  # every cell validated before any search
                for m in sizes:
                    build(n, m)
        json_to_stdout = json_path == "-"
        console = out_console(to_stderr=json_to_stdout)
        with progress_reporter(True, "cells") as _:
            result = run_sweep(build, nets, sizes, options)
        console.print(sweep_table(result))
        if json_path:
            emit_json(json_path, sweep_document(result))
        if result.interrupted:
            return EXIT_INTERRUPTED
        if result.smallest is not None:
            return EXIT_OK
        return EXIT_INCONCLUSIVE if any(c.verdict == "unknown" for c in result.cells) else EXIT_NEGATIVE

    run_command(body)


@app.command()
def version() -> None:
    """Print the versions of cexsearch and Z3."""
    from .solver import z3_version

    print(f"cexsearch {__version__} (z3 {z3_version()})")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        # Ctrl-C outside a command body: while Typer parses the arguments or imports what it needs
        # to print a usage error (Rich's markdown and Pygments take a second on a loaded machine).
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
