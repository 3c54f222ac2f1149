"""A thin wrapper around one Z3 solver: three-valued answers, exact models, seeds, budgets.

``unknown`` is an answer of its own (:class:`Unknown`), never folded into
``unsat``; model values come out as :class:`fractions.Fraction`; irrational
algebraic values are pushed to nearby rationals by re-solving when possible
(:meth:`PatternSolver.rational_model`) and otherwise reported exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import z3

from ..interrupt import check as check_interrupt
from ..model.network import Index
from .encoding import Encoding


@dataclass(frozen=True)
class Sat:
    values: dict


@dataclass(frozen=True)
class Unsat:
    pass


@dataclass(frozen=True)
class Unknown:
    reason: str


Answer = Sat | Unsat | Unknown


@dataclass(frozen=True)
class AlgebraicValue:
    """An irrational real algebraic number: a root of a polynomial, with a decimal."""

    name: str
    coefficients: tuple[int, ...]  # lowest degree first
    root_index: int
    decimal: str

    def describe(self) -> str:
        terms = []
        for power, coeff in enumerate(self.coefficients):
            if coeff == 0:
                continue
            terms.append(f"{coeff}" + (f"*t^{power}" if power > 1 else "*t" if power == 1 else ""))
        return f"{self.name} = root #{self.root_index} of {' + '.join(reversed(terms))} = 0 (≈ {self.decimal})"


class AlgebraicModel(Exception):
    """The solver's only model found has irrational values."""

    def __init__(self, values: list[AlgebraicValue]) -> None:
        self.values = values
        super().__init__("; ".join(v.describe() for v in values))


def z3_version() -> str:
    return z3.get_version_string()


def value_of(v: Any) -> Fraction | None:
    """A Z3 numeral as an exact Fraction, or None when it is irrational."""
    if z3.is_int_value(v):
        return Fraction(v.as_long())
    if z3.is_rational_value(v):
        return Fraction(v.numerator_as_long(), v.denominator_as_long())
    return None


class PatternSolver:
    """One incremental Z3 solver over an encoding: push/pop around patterns and conditions."""

    def __init__(self, encoding: Encoding, seed: int = 0, rlimit: int | None = None, kind: str = "nlsat",
                 cores: bool = False) -> None:
        self.encoding = encoding
        integers = encoding.problem.domain.grid is not None
        if kind == "smt":
            # The If-encoding: Boolean structure over the ReLU branches, so the SMT core
            # (CDCL over the branch literals with nonlinear arithmetic underneath).
            self.solver = z3.Solver()
            self.solver.set("random_seed", seed)
        else:
            # Each pattern is a conjunction of polynomial constraints: nlsat (a complete
            # decision procedure for nonlinear real arithmetic) run as a tactic on the
            # current assertions beats the incremental SMT core by orders of magnitude
            # here (10 s against 3 ms on one seed-001 pattern).  Integers go to qfnia.
            # propagate-values: a tracked constraint is ``indicator => constraint``; with the indicators
            # asserted (:meth:`assert_tracked`) it turns them back into plain constraints, which nlsat
            # needs (one 2-8-1 pattern: 0.03 s plain, over 60 s in the implication form).
            tactic = z3.Then("simplify", "propagate-values", "qfnia" if integers else "qfnra-nlsat")
            self.solver = tactic.solver()
            self.solver.set("seed", seed)
        self.rlimit = rlimit
        if rlimit is not None:
            self.solver.set("rlimit", rlimit)
        if cores:
            self.solver.set("unsat_core", True)
        self.solver.add(*encoding.domain)
        self.checks = 0
        # Tracked constraints: each is asserted as ``indicator => constraint`` and every check assumes
        # every indicator on the stack, so an unsat answer's core names the constraints it used.
        self.tracked: list[Any] = []
        self._frames: list[int] = []

    @property
    def depth(self) -> int:
        """How many frames are pushed (0: the base frame, the domain only)."""
        return len(self._frames)

    def push(self) -> None:
        self.solver.push()
        self._frames.append(len(self.tracked))

    def pop(self) -> None:
        self.solver.pop()
        del self.tracked[self._frames.pop():]

    def add(self, *constraints: Any) -> None:
        self.solver.add(*constraints)

    def add_tracked(self, name: str, *constraints: Any) -> None:
        """Assert ``constraints`` so that an unsat core can name them, by ``name`` (a fresh Boolean's)."""
        indicator = z3.Bool(name, self.solver.ctx)
        self.solver.add(z3.Implies(indicator, z3.And(*constraints)))
        self.tracked.append(indicator)

    def assert_tracked(self) -> None:
        """Assert every tracked constraint in the current frame: checks with ``only=()`` then see them as
        plain constraints (nlsat can stall for a minute on the implications and assumptions)."""
        self.solver.add(*self.tracked)

    def core(self) -> list[str]:
        """After an unsat check: the names of the tracked indicators its unsat core used."""
        return [str(e) for e in self.solver.unsat_core()]

    def check(self, deadline: float | None = None, budget: int | None = None,
              only: Iterable[str] | None = None) -> Answer:
        """Decide the current assertions; the deadline is a ``time.monotonic()`` instant, ``budget``
        a Z3 resource limit for this check alone (within ``--rlimit`` if that is smaller).  Tracked
        constraints all hold, or with ``only`` just those of these indicators (a subset, to shrink a core).

        The nlsat tactic does not honour Z3's ``timeout`` parameter, so a timer thread
        interrupts the context at the deadline (Z3 supports that from another thread).
        """
        timer = None
        fired: list[bool] = []
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return Unknown("timeout")
            self.solver.set("timeout", max(1, int(left * 1000)))

            def interrupt() -> None:
                fired.append(True)
                self.solver.ctx.interrupt()

            timer = threading.Timer(left, interrupt)
            timer.daemon = True
            timer.start()
        self.checks += 1
        limited = budget is not None and (self.rlimit is None or budget < self.rlimit)
        if limited:
            self.solver.set("rlimit", budget)
        try:
            assumed = self.tracked if only is None else [z3.Bool(n, self.solver.ctx) for n in only]
            result = self.solver.check(*assumed)
        except z3.Z3Exception as e:  # a crash on one branch is never a proof
            return Unknown(f"solver error: {e}")
        finally:
            if limited:
                self.solver.set("rlimit", self.rlimit or 0)
            if timer is not None:
                timer.cancel()
                timer.join()
                if fired:
                    # An interrupt that lands after the check returned stays pending on the shared
                    # context and would make the next push fail ("push canceled"); a check clears it.
                    z3.Solver(ctx=self.solver.ctx).check()
        check_interrupt()  # a Ctrl-C during the check may have been swallowed by a finalizer
        if result == z3.sat:
            return Sat({})
        if result == z3.unsat:
            return Unsat()
        reason = self.solver.reason_unknown()
        if deadline is not None and time.monotonic() >= deadline:
            return Unknown("timeout")
        if reason == "interrupted from keyboard":  # Ctrl-C reaches Z3 first; pass it on
            raise KeyboardInterrupt
        if reason == "canceled" and (self.rlimit is not None or limited):
            reason = "resource limit reached (--rlimit)"  # how the tactic solvers report it
        if "timeout" in reason:
            reason = "timeout"
        return Unknown(reason or "unknown")

    def interrupt(self) -> None:
        """Stop the running check from another thread (it answers unknown)."""
        self.solver.ctx.interrupt()

    def model_values(self) -> tuple[dict[tuple[str, Index], Fraction], list[AlgebraicValue]]:
        model = self.solver.model()
        values: dict[tuple[str, Index], Fraction] = {}
        irrational: list[AlgebraicValue] = []
        for key, var in self.encoding.free.items():
            v = model.eval(var, model_completion=True)
            exact = value_of(v)
            if exact is not None:
                values[key] = exact
            else:
                name = key[0] + "".join(f"[{i}]" for i in key[1])
                if z3.is_algebraic_value(v):
                    irrational.append(AlgebraicValue(name, tuple(c.as_long() for c in v.poly()), int(v.index()),
                                                     v.as_decimal(12).rstrip("?")))
                else:
                    irrational.append(AlgebraicValue(name, (), 0, str(v)))
        return values, irrational

    def rational_model(self, deadline: float | None) -> dict[tuple[str, Index], Fraction]:
        """The current model with every value rational.

        When Z3's model has irrational algebraic values, fix those variables to
        nearby rationals (coarse first) and re-solve; raise
        :class:`AlgebraicModel` if no attempt gives a rational model.
        """
        values, irrational = self.model_values()
        if not irrational:
            return values
        first = irrational
        model = self.solver.model()
        keys = [k for k in self.encoding.free if k not in values]
        approx = {k: Fraction(model.eval(self.encoding.free[k], model_completion=True).as_decimal(30).rstrip("?"))
                  for k in keys}
        for den in (1, 2, 10, 100, 10**4, 10**8):
            for keys_to_fix in (keys, keys[:1]):
                self.push()
                for k in keys_to_fix:
                    self.add(self.encoding.free[k] == _q(approx[k].limit_denominator(den)))
                answer = self.check(deadline)
                if isinstance(answer, Sat):
                    values, irrational = self.model_values()
                    if not irrational:
                        self.pop()
                        return values
                self.pop()
        raise AlgebraicModel(first)


def _q(f: Fraction) -> z3.ArithRef:
    return z3.Q(f.numerator, f.denominator)


def conjunction(items: Iterable[Any]) -> Any:
    items = list(items)
    return z3.And(*items) if items else z3.BoolVal(True)
