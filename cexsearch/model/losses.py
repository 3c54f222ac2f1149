"""Losses with their piece tables: the value and dL/dyhat of each, per output entry.

Every loss here is ``L = s * sum_e G(t_e)`` over the M x n entries of the output,
where ``t`` is the loss's *argument* per entry and ``g = G'`` is piecewise linear:

* argument ``residual``: ``t = yhat - y``, so ``dL/dyhat = s * g(t)``;
* argument ``margin``: ``t = y * yhat``, so ``dL/dyhat = s * g(t) * y``.

``g`` is a :class:`~cexsearch.model.activations.PiecewiseLinear` (not necessarily
continuous), and on piece i ``G(t) = slope_i t^2 / 2 + intercept_i t + constant_i``.
Backprop is linear in ``dL/dyhat``, so it runs on the unscaled ``g(t) [* y]`` (in
integers where the data are) and every gradient is multiplied by ``s`` at the end,
as :mod:`cexsearch.semantics.numeric` does with ``c = 2/(M n)``.

=======  =================================  ============  ====================================
loss     G                                  s             g (derivative at the kinks)
=======  =================================  ============  ====================================
mse      r^2 / 2   (MSELoss, mean)          2/(M n)       r
sse      r^2 / 2   (the plain sum)          2             r
l1       |r|       (L1Loss, mean)           1/(M n)       sign(r), 0 at r = 0 (PyTorch's)
huber    r^2/2 for |r| <= d, else           1/(M n)       clamp(r, -d, d) (continuous: no
         d (|r| - d/2)  (HuberLoss, mean)                 convention needed; |r| = d is middle)
hinge    max(0, 1 - u), u = y yhat          1/(M n)       -1 for u < 1, 0 for u >= 1: at the
         (binary, targets in {-1, 1})                     kink u = 1 the derivative is 0, as
                                                          autograd of relu(1 - u) gives
=======  =================================  ============  ====================================

A piecewise loss records its piece per output entry in the pattern, like an activation.

The classification losses put a *link* between the logits yhat and the loss, and
are not piecewise: their values live in Q(exp(1/q)) (:mod:`cexsearch.semantics.transcendental`).

=======  ===============================================  =======  =========================
loss     per entry (bce) or per sample (ce)               s        dL/dyhat
=======  ===============================================  =======  =========================
bce      softplus(z) - y z  (BCEWithLogitsLoss, mean)     1/(M n)  s (sigmoid(z) - y)
ce       logsumexp(z) - Σ_k y_k z_k  (CrossEntropyLoss    1/M      s (softmax(z) - y)
         with probability targets, mean over samples)
=======  ===============================================  =======  =========================

``labels``: ``"hard"`` targets are 0 or 1 (ce: one-hot rows, a class index each),
``"soft"`` targets lie in [0, 1] (ce: rows summing to 1).
A new loss is one factory and one ``register`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from ..errors import SpecError
from .activations import Piece, PiecewiseLinear

F = Fraction


@dataclass(frozen=True)
class Loss:
    """A loss: its argument, the piece table of g = G' with G's constants, and its scale.

    ``factor / (M n)`` when ``mean`` (PyTorch's default reduction), else ``factor``.
    ``targets`` lists the only values y may take (hinge: -1 and 1), or is empty.
    """

    name: str
    derivative: PiecewiseLinear
    constants: tuple[Fraction, ...]
    argument: Literal["residual", "margin"] = "residual"
    mean: bool = True
    factor: Fraction = F(1)
    targets: tuple[Fraction, ...] = ()
    settings: tuple[tuple[str, Fraction], ...] = ()
    #: "" (y compared with yhat directly), "sigmoid" (bce) or "softmax" (ce)
    link: str = ""
    #: "hard" or "soft" targets of a classification loss ("" for the others)
    labels: str = ""

    def __post_init__(self) -> None:
        if len(self.constants) != len(self.derivative.pieces):
            raise ValueError(f"{self.name}: one constant per piece")

    def gradient_scale(self, samples: int, outputs: int) -> Fraction:
        """s in dL/dyhat = s * g(t) [* y]; ``outputs`` is the number of entries per sample."""
        if self.link == "softmax":
            return self.factor / samples  # CrossEntropyLoss's mean is over the samples
        return self.factor / (samples * outputs) if self.mean else self.factor

    @property
    def target_range(self) -> tuple[Fraction, Fraction] | None:
        """The interval soft targets lie in (a classification loss's), or None."""
        return (F(0), F(1)) if self.link and self.labels == "soft" else None

    @property
    def rows_sum_to_one(self) -> bool:
        """Whether each sample's targets must sum to 1 (ce: a probability vector)."""
        return self.link == "softmax"

    @property
    def is_piecewise(self) -> bool:
        """Whether entries choose among pieces (a pattern of their own)."""
        return not self.link and not self.derivative.is_linear

    @property
    def linear_in_residual(self) -> bool:
        """g linear in the residual (mse, sse): the linear strategy applies."""
        return not self.link and self.argument == "residual" and self.derivative.is_linear

    def entry_value(self, t: Any) -> Any:
        """G(t) for one concrete entry (tests and explanations)."""
        i = self.derivative.index(t)
        p = self.derivative.pieces[i]
        return p.slope * t * t / 2 + p.intercept * t + self.constants[i]

    def describe(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.settings)
        labels = f", {self.labels} labels" if self.labels else ""
        return f"{self.name}{extra}{labels}"


def _quadratic(name: str, mean: bool) -> Loss:
    return Loss(name, PiecewiseLinear(f"{name}'", (Piece(None, False, None, False, F(1)),)), (F(0),),
                mean=mean, factor=F(2))


def mse() -> Loss:
    return _quadratic("mse", True)


def sse() -> Loss:
    return _quadratic("sse", False)


def l1() -> Loss:
    sign = PiecewiseLinear("sign", (Piece(None, False, F(0), False, F(0), F(-1)),
                                    Piece(F(0), True, F(0), True, F(0), F(0)),
                                    Piece(F(0), False, None, False, F(0), F(1))), continuous=False)
    return Loss("l1", sign, (F(0), F(0), F(0)))


def huber(delta: Fraction = F(1)) -> Loss:
    d = F(delta)
    if d <= 0:
        raise SpecError(f"the Huber delta must be positive, got {d}", hint="e.g. --huber-delta 1")
    clamp = PiecewiseLinear("clamp", (Piece(None, False, -d, False, F(0), -d),
                                      Piece(-d, True, d, True, F(1)),
                                      Piece(d, False, None, False, F(0), d)))
    return Loss("huber", clamp, (-d * d / 2, F(0), -d * d / 2), settings=(("delta", d),))


def hinge() -> Loss:
    step = PiecewiseLinear("hinge'", (Piece(None, False, F(1), False, F(0), F(-1)),
                                      Piece(F(1), True, None, False, F(0), F(0))), continuous=False)
    return Loss("hinge", step, (F(1), F(0)), argument="margin", targets=(F(-1), F(1)))


def _labels(labels: str) -> str:
    if labels not in ("hard", "soft"):
        raise SpecError(f"labels must be 'hard' or 'soft', got {labels!r}",
                        hint="hard: targets 0 or 1 (a class index); soft: probabilities")
    return labels


def bce(labels: str = "soft") -> Loss:
    """Sigmoid with binary cross-entropy on the logits (BCEWithLogitsLoss, mean)."""
    hard = _labels(labels) == "hard"
    return Loss("bce", _quadratic("bce", True).derivative, (F(0),), link="sigmoid", labels=labels,
                targets=(F(0), F(1)) if hard else ())


def ce(labels: str = "hard") -> Loss:
    """Softmax with cross-entropy (CrossEntropyLoss, mean over samples)."""
    hard = _labels(labels) == "hard"
    return Loss("ce", _quadratic("ce", True).derivative, (F(0),), link="softmax", labels=labels,
                targets=(F(0), F(1)) if hard else ())


#: name -> factory; keyword arguments are the loss's settings (huber: delta).
LOSSES: dict[str, Callable[..., Loss]] = {}


def register(name: str, factory: Callable[..., Loss]) -> None:
    LOSSES[name] = factory


register("mse", mse)
register("sse", sse)
register("l1", l1)
register("huber", huber)
register("hinge", hinge)
register("bce", bce)
register("ce", ce)


def loss(name: str, **settings: Any) -> Loss:
    """The registered loss ``name`` with its settings."""
    try:
        factory = LOSSES[name]
    except KeyError:
        raise SpecError(f"unknown loss {name!r}", hint=f"use one of {', '.join(LOSSES)}") from None
    return factory(**settings)
