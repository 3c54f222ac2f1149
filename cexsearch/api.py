"""Building problems from what a person writes: the library entry points behind the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from . import lang as C
from .errors import ConditionError, InputError
from .model.network import Network, ParameterNames
from .model.problem import Domain, FixedValues, Problem
from .model.training import Training
from .semantics.numeric import loss_targets

if TYPE_CHECKING:
    from .model.torchnet import TorchNetwork


@dataclass(frozen=True)
class NetworkSettings:
    """Everything about a network but its widths."""

    activation: str = "relu"
    leaky_slope: Fraction = Fraction(1, 100)
    bias: bool = True
    loss: str = "mse"
    relu_grad_at_zero: int = 0

    def network(self, widths: str | Sequence[int]) -> Network:
        kwargs = dict(activation=self.activation, leaky_slope=self.leaky_slope, bias=self.bias, loss=self.loss,
                      relu_grad_at_zero=self.relu_grad_at_zero)
        if isinstance(widths, str):
            return Network.parse(widths, **kwargs)
        return Network(tuple(widths), **kwargs)  # type: ignore[arg-type]


def torch_network(model: Any, loss: Any = "mse", relu_grad_at_zero: int = 0, input_shape: Sequence[int] | None = None,
                  huber_delta: Fraction | None = None) -> TorchNetwork:
    """A network read from PyTorch: ``model`` is an ``nn.Module``, an ``nn.Module`` class or a function
    returning one, or the text ``"PATH.py:NAME"``.  Its ``.network`` (pass it to :func:`build_problem`)
    is an MLP :class:`Network` carrying the module's parameter names, or for any other module a layer
    :class:`cexsearch.model.Model` named ``W1, b1, ...`` (``input_shape``, one sample's shape, is
    needed when the first layer does not fix it); its ``.weights`` are the module's current values,
    exactly (pass them as ``fixed=`` to question the trained network with only the data free).
    """
    from .model.torchnet import instantiate, load_torch_network, network_from_module

    shape = tuple(input_shape) if input_shape is not None else None
    if isinstance(model, str):
        return load_torch_network(model, loss=loss, relu_grad_at_zero=relu_grad_at_zero, input_shape=shape,
                                  huber_delta=huber_delta)
    return network_from_module(instantiate(model, "model"), "model", loss, relu_grad_at_zero, shape, huber_delta)


def parse_conditions(texts: Sequence[str], where: str = "--require",
                     names: ParameterNames | None = None) -> tuple[C.Condition, ...]:
    out = []
    for text in texts:
        try:
            out.append(C.parse(text, names))
        except ConditionError as e:
            raise e.located(where) from None
    return tuple(out)


def check_conditions(conds: Sequence[C.Condition], network: Network, samples: int, where: str = "--require",
                     steps: int = 0) -> tuple[C.Condition, ...]:
    """The conditions checked against the network, with their training steps counted from the start."""
    out = []
    for c in conds:
        try:
            out.append(C.check(c, network, samples, steps))
        except ConditionError as e:
            raise e.located(where) from None
    return tuple(out)


def build_problem(
    network: Network,
    samples: int,
    requires: Sequence[str] | Sequence[C.Condition],
    fixes: Sequence[str] = (),
    fixed: FixedValues | None = None,
    integers: bool = False,
    bound: Fraction | None = None,
    training: Training | None = None,
    over: str = "real",
) -> Problem:
    """Parse and check conditions and fixed values against a network and batch size (and training steps);
    ``over``: the numbers a witness of a loss with exp (bce, ce) ranges over, "real" or "rational"."""
    network.check_samples(samples)  # before any shape is built from it
    if all(isinstance(c, C.Condition) for c in requires):
        conds: tuple[C.Condition, ...] = tuple(requires)  # type: ignore[arg-type]
    else:
        conds = parse_conditions([str(r) for r in requires], names=network.names)
    conds = check_conditions(conds, network, samples, steps=training.steps if training is not None else 0)
    parts = [C.parse_fix(f, network, samples) for f in fixes]
    if fixed is not None:
        parts.insert(0, fixed)
    combined = C.combine_fixed(parts, network)
    targets = loss_targets(network)
    for name, index, value in combined.items:
        if name == "y" and targets and value not in targets:
            allowed = " or ".join(str(t) for t in targets)
            raise InputError(f"y{list(index)} is fixed to {value}, but the loss takes targets {allowed} only",
                             hint=f"fix y to {allowed}")
    return Problem(network, samples, conds, combined, Domain(integers, bound), training, over=over)


def is_layer_notation(text: str) -> bool:
    """Whether ``--net`` text is PyTorch's notation (``Sequential(...)`` or a layer) rather than widths."""
    from .model.layers import LAYERS

    head = text.strip().split("(", 1)[0].strip()
    for prefix in ("torch.nn.", "nn."):
        head = head[len(prefix):] if head.startswith(prefix) else head
    return "(" in text and (head == "Sequential" or head in LAYERS)


def parse_input_shape(text: str, option: str = "--input-shape") -> tuple[int, ...]:
    """``1,4`` -> (1, 4): one sample's shape, comma-separated positive integers."""
    parts = [p.strip() for p in text.strip().strip("()[]").split(",")]
    parts = parts[:-1] if len(parts) > 1 and parts[-1] == "" else parts
    column = 0
    for part in parts:
        if not part.isdigit() or int(part) < 1:
            raise InputError(f"bad {option} {text!r}: {part!r} is not a positive size", source=text, column=column,
                             hint=f"comma-separated sizes of one sample, e.g. {option} 1,8")
        column += len(part) + 1
    return tuple(int(p) for p in parts)


def layer_network(text: str, input_shape: str | None, loss: Any = "mse", relu_grad_at_zero: int = 0,
                  huber_delta: Fraction | None = None) -> Any:
    """The :class:`cexsearch.model.Model` of ``--net "Sequential(...)" --input-shape ...``; ``loss`` is a
    registered name or a :class:`~cexsearch.model.losses.Loss` (``loss("bce", labels="hard")``)."""
    from .model.losses import LOSSES
    from .model.notation import parse_model

    if input_shape is None:
        raise InputError("a network in PyTorch's notation needs --input-shape",
                         hint="give one sample's shape, e.g. --input-shape 1,8 for Conv1d(1, ...) on length 8")
    if isinstance(loss, str) and loss not in LOSSES:
        raise InputError(f"--loss {loss!r} is not known", hint=f"use one of {', '.join(LOSSES)}")
    if huber_delta is not None and loss != "huber":
        raise InputError("--huber-delta needs --loss huber", hint="add --loss huber or drop --huber-delta")
    settings = {"delta": huber_delta} if huber_delta is not None else {}
    return parse_model(text, parse_input_shape(input_shape), loss=loss, relu_grad_at_zero=relu_grad_at_zero,
                       **settings)
