"""The MLP network, its parameter names, the size limits; the problem and assignment are in
:mod:`cexsearch.model.problem`.

Frozen dataclasses only: no Z3, no floats.  Every semantic decision that both
the exact re-check (:mod:`cexsearch.semantics.numeric`) and the encoding
(:mod:`cexsearch.engine.encoding`) depend on is made *here*, once: the layer order, the
activation's two slopes, which side of 0 counts as active, the loss scaling.

>>> net = Network.parse("1-1-1")
>>> net.parameter_names()
('W1', 'b1', 'W2', 'b2')
>>> net.shape("W2", samples=3), net.shape("x", samples=3)
((1, 1), (3, 1))
>>> net.loss_gradient_scale(samples=3)
Fraction(2, 3)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from ..errors import SpecError, TooLarge

Activation = Literal["relu", "leaky_relu", "linear"]
Loss = Literal["mse", "sse"]
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "linear")
LOSSES: tuple[str, ...] = ("mse", "sse")
DATA_NAMES: tuple[str, ...] = ("x", "y")

Index = tuple[int, ...]

# Sizes far beyond what the search can decide (or memory hold), refused up front with a message
# rather than met later as a hang, an overflow or an allocation error.
MAX_WIDTH = 4096
MAX_VALUES = 10**6  # parameters, plus the data entries x and y
MAX_SAMPLES = 10**5
def nearest(name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The closest valid name to a misspelt one, for 'did you mean' hints."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.4)
    if not found:
        lowered = {c.lower(): c for c in choices}
        return lowered.get(name.lower())
    return found[0]


@dataclass(frozen=True)
class ParameterNames:
    """The names a person uses for the parameters, when they are not ``W1, b1, ...``.

    A network read from a PyTorch module (:mod:`cexsearch.model.torchnet`) calls its
    parameters by the module's own names (``fc1.weight``, ``0.bias``).  The engine
    keeps ``W1, b1, ...`` throughout; this alias table is applied at the border only:
    parsing conditions and ``--fix``, and showing or writing values.

    >>> names = ParameterNames((("W1", "fc1.weight"), ("b1", "fc1.bias")))
    >>> names.label("W1"), names.internal("fc1.bias"), names.label("x")
    ('fc1.weight', 'b1', 'x')
    """

    aliases: tuple[tuple[str, str], ...]  # (internal, external) in parameter order

    def __post_init__(self) -> None:
        externals = [e for _, e in self.aliases]
        if len(set(externals)) != len(externals):
            raise SpecError(f"two parameters share a name in {externals}")
        clash = [e for e in externals if e in DATA_NAMES + ("yhat", "grad", "all", "any")]
        if clash:
            raise SpecError(f"a parameter is named {clash[0]!r}, which conditions use for something else",
                            hint="rename the module's attribute")

    def label(self, internal: str) -> str:
        """The person's name of an internal name (``x``, ``y``, ``yhat`` are their own)."""
        for i, e in self.aliases:
            if i == internal:
                return e
        return internal

    def internal(self, external: str) -> str | None:
        for i, e in self.aliases:
            if e == external:
                return i
        return None

    def externals(self) -> tuple[str, ...]:
        return tuple(e for _, e in self.aliases)


@dataclass(frozen=True)
class Network:
    """A multilayer perceptron: widths input first, hidden activation, output linear.

    ``names`` (optional) is the alias table of a network read from a PyTorch module: the
    names conditions, fixed values and every output use for ``W1, b1, ...``.
    """

    widths: tuple[int, ...]
    activation: Activation = "relu"
    leaky_slope: Fraction = Fraction(1, 100)
    bias: bool = True
    loss: Loss = "mse"
    relu_grad_at_zero: int = 0
    names: ParameterNames | None = None

    def __post_init__(self) -> None:
        if len(self.widths) < 2:
            raise SpecError(
                f"a network needs at least an input and an output width, got {self.text!r}",
                hint="write the widths input first, e.g. --net 1-1-1",
            )
        for w in self.widths:
            if w < 1:
                raise SpecError(f"every width must be at least 1, got {w} in {self.text!r}")
            if w > MAX_WIDTH:
                raise TooLarge(f"width {w} in {self.text!r} is above the limit of {MAX_WIDTH}",
                               hint=f"use a smaller network: at most {MAX_WIDTH} units a layer")
        if self.parameter_count() > MAX_VALUES:
            raise TooLarge(f"{self.text!r} has {self.parameter_count()} parameters, above the limit of {MAX_VALUES}",
                           hint="use a smaller network: fewer or narrower layers")
        if self.activation not in ACTIVATIONS:
            raise SpecError(f"unknown activation {self.activation!r}", hint=f"use one of {', '.join(ACTIVATIONS)}")
        if self.loss not in LOSSES:
            raise SpecError(f"unknown loss {self.loss!r}", hint=f"use one of {', '.join(LOSSES)}")
        if self.relu_grad_at_zero not in (0, 1):
            raise SpecError(f"relu_grad_at_zero must be 0 or 1, got {self.relu_grad_at_zero!r}")
        if not isinstance(self.leaky_slope, Fraction):
            object.__setattr__(self, "leaky_slope", Fraction(self.leaky_slope))
        if self.names is not None and tuple(i for i, _ in self.names.aliases) != self.parameter_names():
            raise SpecError(f"the parameter names {list(self.names.externals())} do not fit {self.text!r}",
                            hint=f"give one name for each of {', '.join(self.parameter_names())}")

    def label(self, name: str) -> str:
        """How a person calls an internal name: the module's name with an alias table, else the name itself."""
        return self.names.label(name) if self.names is not None else name

    def labels(self) -> dict[str, str]:
        """Internal name -> the person's name, for every value name."""
        return {n: self.label(n) for n in self.value_names()}

    @classmethod
    def parse(cls, text: str, **settings: object) -> Network:
        """Read ``1-10-1`` style widths; settings are passed to the constructor."""
        raw = text.strip()
        if not raw:
            raise SpecError("--net is empty", hint="write the widths input first, e.g. --net 1-1-1")
        parts = raw.split("-")
        widths = []
        column = 0
        for part in parts:
            p = part.strip()
            if not re.fullmatch(r"[0-9]+", p):
                what = "an empty width" if not p else f"{p!r} is not a width"
                raise SpecError(
                    f"bad --net {raw!r}: {what}",
                    source=raw,
                    column=column,
                    hint="widths are positive integers joined by '-', e.g. 2-3-1",
                )
            if len(p.lstrip("0")) > len(str(MAX_WIDTH)):
                raise TooLarge(f"bad --net {raw!r}: width {p} is above the limit of {MAX_WIDTH}", source=raw,
                               column=column, hint=f"use a smaller network: at most {MAX_WIDTH} units a layer")
            if int(p) < 1:
                raise SpecError(
                    f"bad --net {raw!r}: width {p} must be at least 1",
                    source=raw,
                    column=column,
                    hint="every layer needs one unit or more",
                )
            widths.append(int(p))
            column += len(part) + 1
        if len(widths) < 2:
            raise SpecError(
                f"bad --net {raw!r}: one layer only",
                hint="give the input and output widths at least, e.g. 1-1 or 1-1-1",
            )
        return cls(tuple(widths), **settings)  # type: ignore[arg-type]

    # -- structure -------------------------------------------------------
    @property
    def text(self) -> str:
        return "-".join(str(w) for w in self.widths)

    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return len(self.widths) - 1

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return self.widths[1:-1]

    @property
    def hidden_units(self) -> int:
        return sum(self.hidden_widths)

    @property
    def has_patterns(self) -> bool:
        """Whether hidden units have two regimes (linear has one)."""
        return self.activation != "linear" and self.hidden_units > 0

    def parameter_count(self) -> int:
        return sum(w * v + (w if self.bias else 0) for v, w in zip(self.widths, self.widths[1:]))

    def check_samples(self, samples: int, label: str = "--samples") -> None:
        """Refuse a batch size below 1, or one whose data make the problem too large."""
        if samples < 1:
            raise SpecError(f"{label} must be at least 1, got {samples}", hint="a batch has one sample or more")
        if samples > MAX_SAMPLES:
            raise TooLarge(f"{label} {samples} is above the limit of {MAX_SAMPLES}", hint="use a smaller batch")
        values = self.parameter_count() + samples * (self.widths[0] + self.widths[-1])
        if values > MAX_VALUES:
            raise TooLarge(f"{self.text} with {label} {samples} has {values} parameters and data entries, above the "
                           f"limit of {MAX_VALUES}", hint="use a smaller batch or a smaller network")

    def parameter_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for k in range(1, self.depth + 1):
            names.append(f"W{k}")
            if self.bias:
                names.append(f"b{k}")
        return tuple(names)

    def variable_names(self) -> tuple[str, ...]:
        """Everything a witness assigns: parameters, then x and y."""
        return self.parameter_names() + DATA_NAMES

    def value_names(self) -> tuple[str, ...]:
        """Every name a condition may use as a value (not counting grad(...))."""
        return self.variable_names() + ("yhat",)

    def shape(self, name: str, samples: int) -> tuple[int, ...]:
        if name == "x":
            return (samples, self.widths[0])
        if name in ("y", "yhat"):
            return (samples, self.widths[-1])
        m = re.fullmatch(r"([Wb])([0-9]+)", name)
        if m and 1 <= int(m.group(2)) <= self.depth and (m.group(1) == "W" or self.bias):
            k = int(m.group(2))
            return (self.widths[k], self.widths[k - 1]) if m.group(1) == "W" else (self.widths[k],)
        raise SpecError(f"unknown name {name!r}")

    # -- semantics shared by numeric.py and the encoding ---------------------
    def slopes(self) -> tuple[Fraction, Fraction]:
        """(slope when active, slope when inactive) of the hidden activation."""
        if self.activation == "relu":
            return Fraction(1), Fraction(0)
        if self.activation == "leaky_relu":
            return Fraction(1), self.leaky_slope
        return Fraction(1), Fraction(1)

    def is_active(self, pre_activation: Fraction) -> bool:
        """Which branch backprop takes at a pre-activation value.

        Active means the derivative is the 'positive side' slope 1.  At exactly 0
        the setting ``relu_grad_at_zero`` decides: 1 makes 0 active, 0 makes it
        inactive (PyTorch's choice for ReLU).  The value of the activation is the
        same either way at 0, so only the derivative depends on it.
        """
        if pre_activation > 0:
            return True
        if pre_activation < 0:
            return False
        return self.relu_grad_at_zero == 1

    def loss_gradient_scale(self, samples: int) -> Fraction:
        """c in dL/dyhat = c * (yhat - y).

        mse is PyTorch's MSELoss(): the mean over all M x width_L squared errors,
        so c = 2 / (M * width_L); sse is the plain sum, c = 2.
        """
        if self.loss == "mse":
            return Fraction(2, samples * self.widths[-1])
        return Fraction(2)

    def loss_scale(self, samples: int) -> Fraction:
        """s in L = s * sum of squared residuals."""
        return self.loss_gradient_scale(samples) / 2

    def describe(self) -> str:
        act = self.activation if self.activation != "leaky_relu" else f"leaky_relu({self.leaky_slope})"
        return (
            f"{self.text} {act}, {'with' if self.bias else 'no'} bias, {self.loss} loss, "
            f"relu'(0) = {self.relu_grad_at_zero}"
        )


def entries(shape: tuple[int, ...]) -> Iterator[Index]:
    """Every index of a tensor of that shape, row-major."""
    if not shape:
        yield ()
        return
    for i in range(shape[0]):
        for rest in entries(shape[1:]):
            yield (i,) + rest
