"""A problem and its answer: fixed values, the domain, search options, the problem, an assignment.

Frozen dataclasses only: no Z3, no floats.  A :class:`Problem` is a network
(:mod:`cexsearch.model.network`), a batch size, parsed conditions, the values a
person fixed and where the free ones may lie; an :class:`Assignment` gives every
parameter and data entry an exact value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import SpecError
from .network import Index, Network, entries
from .training import Training


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
    shrinker (:mod:`cexsearch.workflows.shrink`) and bind the free values only: each a multiple
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
class Problem:
    """Everything the engine needs: network, batch size, conditions, fixed values, domain.

    ``conditions`` are parsed :class:`cexsearch.lang.Condition` objects; all must hold.
    With ``training`` the conditions may read the run of that many steps from the
    initial values (``W1@t``, ``grad@t(W1)``, ``yhat@t``, ``loss@t``, ``lr``).
    """

    network: Network
    samples: int
    conditions: tuple = field(default_factory=tuple)
    fixed: FixedValues = field(default_factory=FixedValues)
    domain: Domain = field(default_factory=Domain)
    training: Training | None = None
    #: the numbers a witness ranges over, for a loss with exp (bce, ce): "real" or "rational"
    over: str = "real"

    def __post_init__(self) -> None:
        self.network.check_samples(self.samples)
        if self.over not in ("real", "rational"):
            raise SpecError(f"the domain must be 'real' or 'rational', got {self.over!r}",
                            hint="real: witnesses over the real numbers; rational: rational witnesses only")
        if self.training is not None:
            self.training.check_samples(self.samples)
        if self.domain.bound is not None and self.domain.bound < 0:
            raise SpecError(f"--bound must be at least 0, got {self.domain.bound}")
        self._check_labels()
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

    def _check_labels(self) -> None:
        """A classification loss: ce needs two classes; fixed targets must be labels of the loss's kind."""
        loss = getattr(self.network, "loss", None)
        if not getattr(loss, "link", ""):
            return
        classes = math.prod(self.network.output_shape)  # type: ignore[attr-defined]
        if loss.link == "softmax" and classes < 2:  # type: ignore[union-attr]
            raise SpecError(f"--loss ce needs at least 2 classes, and this network has {classes} output",
                            hint="give the last layer 2 or more outputs, or use --loss bce for one")
        fixed = self.fixed.as_dict()
        for (name, index), value in fixed.items():
            if name == "y" and not 0 <= value <= 1:
                raise SpecError(f"y{list(index)} is fixed to {value}, but {loss.describe()} targets lie in [0, 1]",  # type: ignore[union-attr]
                                hint="fix y to a probability (hard labels: 0 or 1)")
        if loss.rows_sum_to_one:  # type: ignore[union-attr]
            for m in range(self.samples):
                row = [fixed.get(("y", (m, k))) for k in range(classes)]
                if all(v is not None for v in row) and sum(row) != 1:  # type: ignore[arg-type]
                    raise SpecError(f"y[{m}] is fixed to {[str(v) for v in row]}, which sums to {sum(row)}: "  # type: ignore[arg-type]
                                    "ce targets are probabilities", hint="fix each row of y to sum to 1 (one-hot for a class)")

    def shape(self, name: str) -> tuple[int, ...]:
        return self.network.shape(name, self.samples)

    def free_keys(self) -> list[tuple[str, Index]]:
        """Every entry the search chooses: all values but the fixed ones, in variable order."""
        fixed = self.fixed.as_dict()
        return [(n, i) for n in self.network.variable_names() for i in entries(self.shape(n)) if (n, i) not in fixed]


@dataclass(frozen=True)
class Assignment:
    """Exact values for every parameter and for x and y: what a witness is made of.

    ``values`` holds (name, entries row-major) pairs in ``network.variable_names()`` order;
    ``lr`` the learning rate a witness of a training problem chose (when the problem left it free).
    """

    network: Network
    samples: int
    values: tuple[tuple[str, tuple[Fraction, ...]], ...]
    lr: Fraction | None = None

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
        """From (name, index) -> value; a learning rate is the entry ``("lr", ())``."""
        values = []
        for name in network.variable_names():
            shape = network.shape(name, samples)
            values.append((name, tuple(get[(name, idx)] for idx in entries(shape))))
        return cls(network, samples, tuple(values), get.get(("lr", ())))
