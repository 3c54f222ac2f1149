"""The network, the dataset shape, fixed values and search options.

Frozen dataclasses only: no Z3, no floats.  Every semantic decision that both
the exact re-check (:mod:`cexsearch.numeric`) and the encoding
(:mod:`cexsearch.encode`) depend on is made *here*, once: the layer order, the
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
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from .errors import SpecError, TooLarge

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
MAX_TIMEOUT = 10**9  # seconds: far past any search, and within what a solver's millisecond count holds


def valid_timeout(seconds: object) -> bool:
    """Whether a timeout is a number of seconds in (0, MAX_TIMEOUT]: not NaN, not infinite, not a bool."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, Decimal, Fraction)):
        return False
    try:
        return 0 < float(seconds) <= MAX_TIMEOUT  # NaN compares False
    except (OverflowError, ValueError):  # an integer beyond float range; a signalling NaN
        return False


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

    A network read from a PyTorch module (:mod:`cexsearch.torchnet`) calls its
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


@dataclass(frozen=True)
class FixedValues:
    """Values a person fixed: (name, index, value) triples, each entry once."""

    items: tuple[tuple[str, Index, Fraction], ...] = ()

    def as_dict(self) -> dict[tuple[str, Index], Fraction]:
        return {(n, i): v for n, i, v in self.items}

    def get(self, name: str, index: Index) -> Fraction | None:
        return self.as_dict().get((name, index))

    def merged(self, other: FixedValues) -> FixedValues:
        d = self.as_dict()
        d.update(other.as_dict())
        return FixedValues(tuple(sorted((n, i, v) for (n, i), v in d.items())))


@dataclass(frozen=True)
class Domain:
    """Where free values may lie.

    ``integers`` and ``bound`` are the person's; the other limits are added by the
    shrinker (:mod:`cexsearch.shrink`) and bind the free values only: each a multiple
    of ``1/denominator``, at most ``max_abs`` in size, at most ``max_nonzero`` of them
    non-zero, and their absolute values summing to at most ``max_abs_sum``.
    """

    integers: bool = False
    bound: Fraction | None = None
    denominator: int | None = None
    max_abs: Fraction | None = None
    max_nonzero: int | None = None
    max_abs_sum: Fraction | None = None

    @property
    def grid(self) -> int | None:
        """Free values are multiples of 1/grid (1 for integers), or any rational (None)."""
        return 1 if self.integers else self.denominator


@dataclass(frozen=True)
class SearchOptions:
    """How to search: one frozen object instead of flags threaded through calls."""

    timeout: float | None = None
    seed: int = 0
    strategy: str = "auto"
    jobs: int = 1
    cluster: str | None = None  # a Dask scheduler address: enumeration subtrees go there
    rlimit: int | None = None
    max_patterns: int = 2**22
    force: bool = False


@dataclass(frozen=True)
class Problem:
    """Everything the engine needs: network, batch size, conditions, fixed values, domain.

    ``conditions`` are parsed :class:`cexsearch.conditions.Condition` objects; all must hold.
    """

    network: Network
    samples: int
    conditions: tuple = field(default_factory=tuple)
    fixed: FixedValues = field(default_factory=FixedValues)
    domain: Domain = field(default_factory=Domain)

    def __post_init__(self) -> None:
        self.network.check_samples(self.samples)
        if self.domain.bound is not None and self.domain.bound < 0:
            raise SpecError(f"--bound must be at least 0, got {self.domain.bound}")
        for internal, index, value in self.fixed.items:
            name = self.network.label(internal)
            if self.domain.integers and value.denominator != 1:
                raise SpecError(
                    f"--integers conflicts with the fixed value {name}{list(index)} = {value}",
                    hint="drop --integers or fix an integer",
                )
            if self.domain.bound is not None and abs(value) > self.domain.bound:
                raise SpecError(
                    f"--bound {self.domain.bound} is below the fixed value {name}{list(index)} = {value}",
                    hint=f"raise --bound to at least {abs(value)}",
                )

    def shape(self, name: str) -> tuple[int, ...]:
        return self.network.shape(name, self.samples)

    def free_keys(self) -> list[tuple[str, Index]]:
        """Every entry the search chooses: all values but the fixed ones, in variable order."""
        fixed = self.fixed.as_dict()
        return [(n, i) for n in self.network.variable_names() for i in entries(self.shape(n)) if (n, i) not in fixed]


@dataclass(frozen=True)
class Assignment:
    """Exact values for every parameter and for x and y: what a witness is made of.

    ``values`` holds (name, entries row-major) pairs in ``network.variable_names()`` order.
    """

    network: Network
    samples: int
    values: tuple[tuple[str, tuple[Fraction, ...]], ...]

    def __post_init__(self) -> None:
        names = tuple(n for n, _ in self.values)
        if names != self.network.variable_names():
            raise SpecError(f"an assignment needs {self.network.variable_names()}, got {names}")
        for name, flat in self.values:
            size = 1
            for s in self.network.shape(name, self.samples):
                size *= s
            if len(flat) != size:
                raise SpecError(f"{name} needs {size} values, got {len(flat)}")

    def flat(self, name: str) -> tuple[Fraction, ...]:
        for n, flat in self.values:
            if n == name:
                return flat
        raise KeyError(name)

    def entry(self, name: str, index: Index) -> Fraction:
        shape = self.network.shape(name, self.samples)
        pos = 0
        for i, s in zip(index, shape):
            pos = pos * s + i
        return self.flat(name)[pos]

    def items(self) -> Iterator[tuple[str, Index, Fraction]]:
        for name, flat in self.values:
            for index, value in zip(entries(self.network.shape(name, self.samples)), flat):
                yield name, index, value

    @classmethod
    def from_entries(cls, network: Network, samples: int, get: dict[tuple[str, Index], Fraction]) -> Assignment:
        values = []
        for name in network.variable_names():
            shape = network.shape(name, samples)
            values.append((name, tuple(get[(name, idx)] for idx in entries(shape))))
        return cls(network, samples, tuple(values))
