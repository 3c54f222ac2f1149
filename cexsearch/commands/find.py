"""``cexsearch find``: search for a witness, shrink it, render it."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Annotated

import typer

from ..api import build_problem, is_layer_notation
from ..engine.options import SearchOptions
from ..engine.search import Outcome, search
from ..errors import InputError
from ..model.network import Network
from .common import (
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_NEGATIVE,
    EXIT_OK,
    Cluster,
    emit_json,
    out_console,
    progress_reporter,
    run_command,
)
from .extras import Extras
from .options import (
    classification_option,
    html_option,
    int_option,
    layer_option,
    network_option,
    number_option,
    refuse_layer_settings,
    require_layer_plot,
    search_options,
    timeout_option,
    training_option,
    writable,
)


def find(
    net: Annotated[str | None, typer.Option("--net", help="Widths, input first: 1-1-1, 10-10-1, 2-3-3-2; or PyTorch "
        "layers: \"Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))\" with --input-shape.")] = None,
    input_shape: Annotated[str | None, typer.Option(
        "--input-shape", help="One sample's shape for a --net in PyTorch's notation, e.g. 1,4 (channels, length).")] = None,
    samples: Annotated[str, typer.Option("--samples", "-M", help="Batch size M, or all: every batch size, decided at "
        "one sample where that is sound (conditions on the parameters and one such as grad(W1) != 0).")] = "1",
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
                                           "network in PyTorch's notation also l1, huber, hinge, bce or ce.")] = "mse",
    huber_delta: Annotated[str | None, typer.Option(help="delta of --loss huber (default 1).")] = None,
    hard_labels: Annotated[bool | None, typer.Option("--hard-labels/--soft-labels", help="With --loss bce or ce: "
        "targets 0 or 1 (ce: one-hot rows), or probabilities (default: bce soft, ce hard).")] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="With --loss bce or ce: real (witnesses over the "
        "reals, a certified box; default) or rational (exact rational witnesses only).")] = None,
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
    learn: Annotated[bool, typer.Option("--learn/--no-learn", help="Enumeration learns cores of sign decisions from "
                                        "its conflicts and skips the patterns they block (default on).")] = True,
    decompose: Annotated[bool, typer.Option("--decompose/--no-decompose", help="Prove a claim that separates unit "
                                            "by unit on a single hidden unit first (default on).")] = True,
    shrink: Annotated[bool, typer.Option("--shrink/--no-shrink", help="Look for a simpler witness (default on).")] = True,
    shrink_time: Annotated[str, typer.Option(help="Seconds for shrinking (a safety net: each check has a resource budget).")] = "10",
    explain: Annotated[str | None, typer.Option(help="Also print the witness as a derivation: markdown or latex.")] = None,
    explain_to: Annotated[str | None, typer.Option(help="Write the derivation to this file instead.")] = None,
    plot: Annotated[str | None, typer.Option(help="Draw a 1-input, 1-output witness to PATH.png or PATH.svg.")] = None,
    cross_check: Annotated[list[str] | None, typer.Option("--cross-check", help="torch and/or cvc5 (repeatable).")] = None,
    html: Annotated[str | None, typer.Option("--html", help="Write a self-contained HTML page of the outcome to FILE (needs the html extra).")] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="Unroll K steps of training from the values: conditions "
        "may read W1@t, grad@t(W1), yhat@t, loss@t (t from 0 to K, or K, (K-1)) and lr.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="With --steps: gd (the whole dataset each step, default) or sgd.")] = None,
    batch_size: Annotated[str | None, typer.Option(help="With --optimizer sgd: samples per step, taken in order, cycling.")] = None,
    lr: Annotated[str | None, typer.Option(help="With --steps: a fixed learning rate (default: free, any lr > 0).")] = None,
    momentum: Annotated[str | None, typer.Option(help="With --steps: heavy-ball momentum in [0, 1), as PyTorch's SGD (default 0).")] = None,
) -> None:
    """Search for weights and a dataset meeting every --require condition, or prove none exists at this size."""

    def body() -> int:
        if activation is not None and activation not in ("relu", "leaky_relu", "linear"):
            raise InputError(f"--activation {activation!r} is not known", hint="use relu, leaky_relu or linear")
        layers = net is not None and is_layer_notation(net)
        chosen, over = classification_option(loss, hard_labels, domain)
        if loss not in ("mse", "sse") and not layers and torch_model is None:
            known = loss in ("l1", "huber", "hinge", "bce", "ce")
            raise InputError(f"--loss {loss} needs a --net in PyTorch's notation" if known
                             else f"--loss {loss!r} is not known",
                             hint="the MLP shorthand takes mse or sse; l1, huber, hinge, bce and ce take a --net in PyTorch's "
                             "notation, e.g. \"Sequential(Linear(1, 1), ReLU(), Linear(1, 1))\" --input-shape 1")
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
            network, weights = layer_option(net or "", input_shape, torch_model, activation, leaky_slope, bias, chosen,
                                            grad_at_zero, huber_delta), None
        else:
            network, weights = network_option(net, torch_model, weights_from_module, activation, leaky_slope, bias,
                                              chosen, grad_at_zero, input_shape, huber_delta)
        training = training_option(steps, optimizer, batch_size, lr, momentum)
        every = samples.strip() == "all"
        problem = build_problem(network, 1 if every else int_option(samples, "--samples"), require, fix or (),
                                fixed=weights, integers=integers, bound=number_option(bound, "--bound"), training=training,
                                over=over)
        if every:
            from ..workflows.allsizes import check_find_form

            if training is not None:
                raise InputError("--samples all decides one gradient, not a training run", hint="drop --steps, or give --samples M")
            if any(name in ("x", "y") for name, _, _ in problem.fixed.items):
                raise InputError("--samples all cannot fix data: they differ between batch sizes", hint="fix parameters only")
            check_find_form(problem.conditions, network)
        extras = Extras.parse(explain, explain_to, plot, cross_check, json_path)
        if not isinstance(network, Network):
            require_layer_plot(network, plot)
        options = search_options(seconds, seed, strategy, jobs, rlimit, force, cluster, learn, decompose)
        with progress_reporter(True, "patterns") as progress:
            outcome = search(problem, options, progress)
        if outcome.verdict == "found" and shrink:
            outcome = shrunk(outcome, options, number_option(shrink_time, "--shrink-time") or Fraction(0))
        if every and outcome.verdict in ("found", "none"):
            from ..workflows.allsizes import FIND_SCOPE

            outcome = replace(outcome, scope=FIND_SCOPE[outcome.verdict])
        outcome = extras.cross_check(outcome)
        code = render_outcome(outcome, json_path, options)
        extras.write(outcome)
        if html:
            from ..output.html_report import write_find_report

            write_find_report(html, outcome)
            out_console(to_stderr=json_path == "-").print(f"HTML report written to {html}", style="dim")
        return code

    run_command(body)


def shrunk(outcome: Outcome, options: SearchOptions, seconds: Fraction) -> Outcome:
    """The simplest confirmed witness shrinking finds in the time given, with what it proved."""

    from ..workflows.shrink import shrink

    if seconds <= 0 or outcome.certificate is not None:  # a certified box over the reals is its own proof
        return outcome
    with progress_reporter(True, "shrinking") as _:
        result = shrink(outcome.problem, outcome, replace(options, timeout=None), float(seconds))
    best = result.outcome
    return replace(best, stats=outcome.stats, shrink=result.proven + result.notes or ("no simpler witness found",),
                   domain=outcome.domain)  # a simpler exact witness answers the same numbers


def render_outcome(outcome: Outcome, json_path: str | None, options: SearchOptions = SearchOptions()) -> int:
    from ..output.report import outcome_renderable
    from ..workflows.witness import outcome_document

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
