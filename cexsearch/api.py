"""Building problems from what a person writes: the library entry points behind the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from . import conditions as C
from .errors import ConditionError
from .spec import Domain, FixedValues, Network, ParameterNames, Problem


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


def parse_conditions(texts: Sequence[str], where: str = "--require",
                     names: ParameterNames | None = None) -> tuple[C.Condition, ...]:
    out = []
    for text in texts:
        try:
            out.append(C.parse(text, names))
        except ConditionError as e:
            raise e.located(where) from None
    return tuple(out)


def check_conditions(conds: Sequence[C.Condition], network: Network, samples: int, where: str = "--require") -> None:
    for c in conds:
        try:
            C.check(c, network, samples)
        except ConditionError as e:
            raise e.located(where) from None


def build_problem(
    network: Network,
    samples: int,
    requires: Sequence[str] | Sequence[C.Condition],
    fixes: Sequence[str] = (),
    fixed: FixedValues | None = None,
    integers: bool = False,
    bound: Fraction | None = None,
) -> Problem:
    """Parse and check conditions and fixed values against a network and batch size."""
    network.check_samples(samples)  # before any shape is built from it
    if all(isinstance(c, C.Condition) for c in requires):
        conds: tuple[C.Condition, ...] = tuple(requires)  # type: ignore[arg-type]
    else:
        conds = parse_conditions([str(r) for r in requires], names=network.names)
    check_conditions(conds, network, samples)
    parts = [C.parse_fix(f, network, samples) for f in fixes]
    if fixed is not None:
        parts.insert(0, fixed)
    return Problem(network, samples, conds, C.combine_fixed(parts), Domain(integers, bound))
