"""``cexsearch sweep``: the same conditions over sizes, smallest first."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any

import typer

from ..api import NetworkSettings, build_problem, is_layer_notation
from ..engine.options import SearchOptions
from ..errors import InputError
from .common import (
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_NEGATIVE,
    EXIT_OK,
    emit_json,
    out_console,
    progress_reporter,
    run_command,
)
from .options import classification_option, int_option, layer_option, refuse_layer_settings, timeout_option, writable


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
    loss: Annotated[str, typer.Option(help="mse or sse; for a network in PyTorch's notation also l1, huber, hinge, bce or ce.")] = "mse",
    huber_delta: Annotated[str | None, typer.Option(help="delta of --loss huber (default 1).")] = None,
    hard_labels: Annotated[bool | None, typer.Option("--hard-labels/--soft-labels", help="With --loss bce or ce: "
        "targets 0 or 1, or probabilities (default: bce soft, ce hard).")] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="With --loss bce or ce: real (default) or rational.")] = None,
    relu_grad_at_zero: Annotated[str, typer.Option(help="0 or 1.")] = "0",
    timeout: Annotated[str | None, typer.Option(help="Seconds per cell.")] = None,
    seed: Annotated[str, typer.Option(help="Solver seed.")] = "0",
    json_path: Annotated[str | None, typer.Option("--json", help="Write the grid here ('-' for stdout).")] = None,
) -> None:
    """Decide the same conditions over sizes, smallest first, and state the smallest size with a witness."""

    def body() -> int:
        from ..lang import parse_fix
        from ..output.report import sweep_table
        from ..workflows.claim import parse_sizes
        from ..workflows.claimfile import load_claims
        from ..workflows.sweep import expand_nets, sweep_document
        from ..workflows.sweep import sweep as run_sweep

        writable(json_path, "--json")
        sizes = parse_sizes(samples, "--samples")
        options = SearchOptions(timeout=timeout_option(timeout), seed=int_option(seed, "--seed"))
        if claim is not None:
            if hard_labels is not None or domain is not None:
                raise InputError("--claim takes its labels and domain from the claim file",
                                 hint="drop --hard-labels/--soft-labels and --domain, or set labels and domain there")
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
            if chosen.invariant:
                raise InputError(f"--claim {name!r} is an invariant, decided by induction, not one search per cell",
                                 hint="check it with cexsearch check")
            build: Any = chosen.problem
        else:
            if net is None:
                raise InputError("--net is required without --claim", hint="e.g. --net 1-{1..4}-1")
            if not require:
                raise InputError("no --require condition given", hint='add one, e.g. --require "grad(W1) != 0"')
            grad_at_zero = int_option(relu_grad_at_zero, "--relu-grad-at-zero")
            chosen_loss, over = classification_option(loss, hard_labels, domain)
            if is_layer_notation(net):
                nets = [layer_option(n, input_shape, None, activation, None, bias, chosen_loss, grad_at_zero,
                                     huber_delta) for n in expand_nets(net)]
            else:
                refuse_layer_settings(input_shape, huber_delta)
                settings = NetworkSettings(activation or "relu", Fraction(1, 100), True if bias is None else bias, loss,
                                           grad_at_zero)
                nets = [settings.network(n) for n in expand_nets(net)]

            def build(network: Any, m: int) -> Any:
                fixed = [parse_fix(f, network, m) for f in fix or ()]
                from ..lang import combine_fixed

                return build_problem(network, m, require, fixed=combine_fixed(fixed) if fixed else None, over=over)

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
