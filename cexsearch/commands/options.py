"""Options read and refused before any search: numbers, paths, the network, the search options."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..api import NetworkSettings, layer_network
from ..engine.options import MAX_TIMEOUT, SearchOptions, valid_timeout
from ..errors import InputError, TooLarge
from ..lang import parse_number
from ..model.problem import FixedValues
from ..model.training import Training


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


def html_option(path: str | None, option: str, directory: bool = False) -> None:
    """Refuse --html before any search when its converter is missing or its path cannot be written."""
    if path is None:
        return
    if path == "-":
        raise InputError(f"{option} writes a file, not stdout", hint=f"give {option} a path")
    from ..output.html_report import require_converter

    require_converter()
    writable(path, option, directory=directory)


def network_option(net: str | None, torch_model: str | None, weights_from_module: bool, activation: str | None,
                   leaky_slope: str | None, bias: bool | None, loss: Any, grad_at_zero: int,
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
    from ..api import parse_input_shape
    from ..model.torchnet import load_torch_network

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
                 leaky_slope: str | None, bias: bool | None, loss: Any, grad_at_zero: int,
                 huber_delta: str | None) -> Any:
    """The layer model of a --net in PyTorch's notation; the MLP shorthand's settings conflict with it."""
    if torch_model is not None:
        raise InputError("--net and --torch both give the network", hint="drop one of them")
    refuse_mlp_settings(activation, leaky_slope, bias, "a --net in PyTorch's notation: its layers decide it",
                        " and write it in the layers, e.g. LeakyReLU(0.1) or bias=False")
    delta = number_option(huber_delta, "--huber-delta") if huber_delta is not None else None
    return layer_network(net, input_shape, loss, grad_at_zero, delta)


def require_layer_plot(network: Any, plot: str | None) -> None:
    """A --plot of a layer net it cannot draw is exit 2 before any search."""
    if plot is not None:
        from ..output.plot import require_plottable

        require_plottable(network)


def search_options(seconds: float | None, seed: str, strategy: str, jobs: str | None, rlimit: str | None,
                   force: bool, cluster: str | None = None, learn: bool = True,
                   decompose: bool = True) -> SearchOptions:
    from ..engine.search import STRATEGIES

    if strategy not in STRATEGIES:
        raise InputError(f"--strategy {strategy!r} is not known", hint=f"use one of {', '.join(STRATEGIES)}")
    n_jobs = int_option(jobs, "--jobs") if jobs is not None else (os.cpu_count() or 1)
    if n_jobs < 1:
        raise InputError(f"--jobs {n_jobs} must be at least 1")
    limit = int_option(rlimit, "--rlimit") if rlimit is not None else None
    if limit is not None and limit < 1:
        raise InputError(f"--rlimit {limit} must be at least 1")
    return SearchOptions(timeout=seconds, seed=int_option(seed, "--seed"), strategy=strategy, jobs=n_jobs,
                         rlimit=limit, force=force, cluster=cluster_option(cluster), learn=learn,
                         decompose=decompose)


def cluster_option(address: str | None) -> str | None:
    """A Dask scheduler address, connected to (and its workers checked) before any search starts."""
    if address is None:
        return None
    if not address.strip():
        raise InputError("--cluster needs a scheduler address", hint="e.g. --cluster tcp://10.0.0.5:8786")
    from ..engine.cluster import client_for

    client_for(address)
    return address


def training_option(steps: str | None, optimizer: str | None, batch_size: str | None, lr: str | None,
                    momentum: str | None) -> Training | None:
    """``--steps K`` and the optimizer's settings, which need it."""
    if steps is None:
        given = [o for o, v in (("--optimizer", optimizer), ("--batch-size", batch_size), ("--lr", lr),
                                ("--momentum", momentum)) if v is not None]
        if given:
            raise InputError(f"{given[0]} sets up training steps, and --steps is not given",
                             hint="add --steps K, e.g. --steps 2")
        return None
    size = int_option(batch_size, "--batch-size") if batch_size is not None else None
    opt = optimizer or ("sgd" if size is not None else "gd")
    return Training(int_option(steps, "--steps"), opt, size, number_option(lr, "--lr"),
                    number_option(momentum, "--momentum") or Fraction(0))


CLASSIFICATION = ("bce", "ce")
DOMAINS = ("real", "rational")


def classification_option(loss: str, hard_labels: bool | None, domain: str | None) -> tuple[Any, str]:
    """``--hard-labels/--soft-labels`` and ``--domain`` of a loss with exp: (the loss to build, Problem.over).

    The loss is its name, or with labels given ``cexsearch.model.losses.loss(name, labels=...)``
    (defaults: bce soft, ce hard).  Both options need --loss bce or ce.
    """
    if domain is not None and domain not in DOMAINS:
        raise InputError(f"--domain {domain!r} is not known", hint="use real (witnesses over the real numbers, the "
                         "default) or rational (rational witnesses only)")
    for option, given in (("--hard-labels" if hard_labels else "--soft-labels", hard_labels is not None),
                          ("--domain", domain is not None)):
        if given and loss not in CLASSIFICATION:
            raise InputError(f"{option} needs a classification loss, and --loss is {loss}",
                             hint="add --loss bce (sigmoid, BCEWithLogitsLoss) or --loss ce (softmax, "
                             "CrossEntropyLoss), or drop " + option)
    if hard_labels is None:
        return loss, domain or "real"
    from ..model.losses import loss as make_loss

    return make_loss(loss, labels="hard" if hard_labels else "soft"), domain or "real"
