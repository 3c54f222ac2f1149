"""The scalar equations of a problem at a centre, evaluated over boxes (intervals) and at points (float64).

Mode "conditions": the entries of the conditions' equalities (:func:`.boxeval.split`).
Mode "delta": the entries of p - y, the seed of backprop of a classification loss: where
it is 0, every gradient is 0 (backprop is linear in it), so a certificate of p = y
proves every ``grad(P)[...] == 0`` at once, when those equalities alone are singular
(``grad(W1) == 0`` on one sample is ``(p - y) x = 0``: one equation per input, one unknown).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..model.problem import Assignment, Problem
from .boxeval import (
    Equality,
    FloatBackend,
    IntervalBackend,
    Key,
    entry_labels,
    entry_shapes,
    environment,
    problem_values,
    residuals,
    split,
)
from .identities import class_sum_groups
from .intervalalgebra import BITS, Interval


class System:
    """The scalar equations of a problem at a centre, over boxes (intervals) and at points (float64)."""

    def __init__(self, problem: Problem, center: Assignment, bits: int = BITS, mode: str = "conditions") -> None:
        self.problem, self.center, self.bits, self.mode = problem, center, bits, mode
        self.equalities: list[Equality]
        self.equalities, self.rest = split(problem)
        self.lr: Any = None
        if problem.training is not None:
            from .numeric import learning_rate

            self.lr = learning_rate(problem, center)

    def interval_env(self, box: dict[Key, Interval]) -> dict[str, np.ndarray]:
        values = problem_values(self.problem, self.center, box)
        return environment(self.problem, values, "interval", self.bits, self.lr)

    def vector(self, env: Mapping[str, np.ndarray], backend: Any) -> list[Any]:
        """The scalar equations of the mode: the equalities' entries, or (mode "delta") p - y."""
        if self.mode == "delta":
            return list(np.asarray(env["p"] - env["y"], dtype=object).reshape(-1))
        return residuals(self.equalities, env, backend)

    def intervals(self, box: dict[Key, Interval]) -> list[Interval]:
        env = self.interval_env(box)
        return [Interval.of(v, self.bits) for v in self.vector(env, IntervalBackend())]

    def floats(self, point: dict[Key, float]) -> np.ndarray:
        values = problem_values(self.problem, self.center, point)
        env = environment(self.problem, values, "float", lr=self.lr)
        return np.array([float(v) for v in self.vector(env, FloatBackend())], dtype=np.float64)

    def shapes(self) -> list[tuple[int, ...]]:
        env = environment(self.problem, problem_values(self.problem, self.center, {}), "float", lr=self.lr)
        return entry_shapes(self.equalities, env, FloatBackend())

    def labels(self) -> list[str]:
        if self.mode == "delta":
            shape = self.problem.network.shape("y", self.problem.samples)
            return [f"p{list(i)} == y{list(i)}" for i in np.ndindex(shape)]
        return entry_labels(self.equalities, self.shapes())

    def implied_groups(self) -> list[list[int]]:
        """Groups of equations that sum to 0 identically (:mod:`.identities`); mode "delta": the rows of
        p - y under a softmax with targets summing to 1."""
        if self.mode == "delta":
            loss = getattr(self.problem.network, "loss", None)
            if not getattr(loss, "rows_sum_to_one", False):
                return []
            shape = self.problem.network.shape("y", self.problem.samples)
            width = math.prod(shape[1:])
            return [list(range(m * width, (m + 1) * width)) for m in range(shape[0])]
        return class_sum_groups(self.problem, self.equalities, [math.prod(s) for s in self.shapes()])

    def jacobian(self, keys: Sequence[Key], point: dict[Key, float]) -> np.ndarray:
        """dF/dv by central differences in float64 (only a preconditioner and Newton steps read it)."""
        cols = []
        for key in keys:
            h = 1e-6 * max(1.0, abs(point[key]))
            plus, minus = dict(point), dict(point)
            plus[key] += h
            minus[key] -= h
            cols.append((self.floats(plus) - self.floats(minus)) / (2 * h))
        return np.array(cols, dtype=np.float64).T.reshape(-1, len(keys))

    def rest_holds_in_floats(self, point: dict[Key, float]) -> bool:
        """The non-equality conditions at a float point (a screen for the numerical step, not a proof)."""
        from .. import lang as C

        values = problem_values(self.problem, self.center, point)
        try:
            env = environment(self.problem, values, "float", lr=self.lr)
            return all(bool(C.evaluate(e, env, FloatBackend())) for _, e in self.rest)
        except (ArithmeticError, ValueError):
            return False
