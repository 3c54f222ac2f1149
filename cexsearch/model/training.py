"""Training over time: how K steps of gradient descent run, as a frozen spec (no numbers computed here).

Step t (0-based) computes the gradient ``g_t`` of the mean batch loss at the parameters ``θ_t``
on its batch and moves::

    v_1 = g_0,   v_{t+1} = μ v_t + g_t        (heavy ball, as PyTorch's SGD with momentum μ;
    θ_{t+1} = θ_t - lr v_{t+1}                 with μ = 0 this is plain gradient descent)

``gd`` uses the whole dataset at every step; ``sgd`` with batch size B uses samples
``tB, ..., tB + B - 1`` (mod M) at step t, cycling through the dataset in order.
``lr`` is a fixed exact value, or None: free, any ``lr > 0`` (a witness then gives one).
The semantics of a run is :func:`cexsearch.semantics.training.unroll`.

>>> Training(3, "sgd", batch_size=2).batch(1, 3)
(2, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..errors import SpecError

OPTIMIZERS = ("gd", "sgd")
MAX_STEPS = 50  # each step is a whole forward and backward pass in every query


@dataclass(frozen=True)
class Training:
    """K steps of training from the initial values: the optimizer, its batch size, lr and momentum."""

    steps: int
    optimizer: str = "gd"
    batch_size: int | None = None
    lr: Fraction | None = None
    momentum: Fraction = Fraction(0)
    first: int = 0  # the sample step 0's batch starts at (an induction step starts anywhere in the cycle)

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 0 <= self.steps <= MAX_STEPS:
            raise SpecError(f"--steps must be a whole number from 0 to {MAX_STEPS}, got {self.steps!r}",
                            hint="e.g. --steps 2")
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(f"--optimizer {self.optimizer!r} is not known", hint="use gd (full batch) or sgd")
        if self.optimizer == "gd" and self.batch_size is not None:
            raise SpecError("--batch-size needs --optimizer sgd: gd uses the whole dataset at every step",
                            hint="add --optimizer sgd, or drop --batch-size")
        if self.optimizer == "sgd" and (self.batch_size is None or self.batch_size < 1):
            raise SpecError(f"--optimizer sgd needs --batch-size of at least 1, got {self.batch_size!r}",
                            hint="e.g. --optimizer sgd --batch-size 1")
        if self.lr is not None and self.lr <= 0:
            raise SpecError(f"--lr must be positive, got {self.lr}", hint="e.g. --lr 1/10, or leave it free")
        if not 0 <= self.momentum < 1:
            raise SpecError(f"--momentum must be at least 0 and below 1, got {self.momentum}", hint="e.g. --momentum 9/10")

    def check_samples(self, samples: int) -> None:
        if self.batch_size is not None and self.batch_size > samples:
            raise SpecError(f"--batch-size {self.batch_size} is larger than the dataset ({samples} samples)",
                            hint=f"use --batch-size {samples} or less, or more samples")

    def batch(self, step: int, samples: int) -> tuple[int, ...]:
        """The samples step ``step`` trains on."""
        if self.batch_size is None:
            return tuple(range(samples))
        return tuple((self.first + step * self.batch_size + i) % samples for i in range(self.batch_size))

    @property
    def schedule(self) -> str:
        """``2 steps of sgd (batch 1)``: the steps and the optimizer, without lr."""
        what = self.optimizer if self.batch_size is None else f"{self.optimizer} (batch {self.batch_size}" + (
            f", from sample {self.first})" if self.first else ")")
        return f"{self.steps} step{'s' if self.steps != 1 else ''} of {what}"

    def describe(self) -> str:
        """``2 steps of sgd (batch 1), lr free > 0``: one line for a report."""
        lr = "lr free > 0" if self.lr is None else f"lr {self.lr}"
        mom = f", momentum {self.momentum}" if self.momentum else ""
        return f"{self.schedule}, {lr}{mom}"
