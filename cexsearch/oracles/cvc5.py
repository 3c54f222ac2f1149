"""The cvc5 oracle: an SMT-LIB 2 text decided by cvc5, and one question re-decided against Z3's answer.

:func:`cvc5_decide` decides an SMT-LIB 2 text with cvc5, and
:func:`cvc5_cross_check_pattern` re-decides one activation pattern's constraints
(written out by :func:`z3_to_smt2`) and compares with Z3.  cvc5 reads the text
with its own parser (``cvc5.InputParser`` and ``cvc5.SymbolManager``): no Z3
object crosses over, only the text.  cvc5 and z3 are imported inside the functions.
Re-exported by :mod:`cexsearch.workflows.crosscheck`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import CexsearchError, InputError

if TYPE_CHECKING:  # z3 is imported inside the functions that need it
    import z3

SolverAnswer = Literal["sat", "unsat", "unknown"]

CVC5_HINT = "pip install 'cexsearch[cvc5]'"


class CrossCheckError(CexsearchError):
    """A cross-check could not run: e.g. cvc5 could not read the SMT-LIB text it was given."""


def _import_cvc5() -> Any:
    try:
        import cvc5
    except ImportError as e:
        raise InputError("--cross-check cvc5 needs cvc5", hint=CVC5_HINT) from e
    return cvc5


def cvc5_available() -> bool:
    """Whether ``--cross-check cvc5`` can run here (cvc5 importable)."""
    try:
        _import_cvc5()
    except InputError:
        return False
    return True


def _uses_integers(constraints: list[Any]) -> bool:
    """Whether any constant in the constraints is of sort Int (``--integers``)."""
    import z3

    seen: set[int] = set()
    stack = list(constraints)
    while stack:
        t = stack.pop()
        key = t.get_id()
        if key in seen:
            continue
        seen.add(key)
        if z3.is_const(t) and t.sort() == z3.IntSort() and not z3.is_int_value(t):
            return True
        stack.extend(t.children())
    return False


def z3_to_smt2(constraints: list[z3.BoolRef]) -> str:
    """A self-contained SMT-LIB 2 script asserting ``constraints``, with (set-logic) and (check-sat).

    The logic is QF_NRA, or QF_NIRA when a variable is an integer.  Pass every
    constraint of the question: for one pattern that is the encoding's domain
    constraints, ``encoding.pattern_constraints(bits)`` and
    ``encoding.conditions(bits)``.
    """
    import z3

    solver = z3.Solver()
    solver.add(*constraints)
    logic = "QF_NIRA" if _uses_integers(list(constraints)) else "QF_NRA"
    body = solver.to_smt2()  # declarations, asserts and a final (check-sat)
    return f"(set-logic {logic})\n{body}"


@dataclass(frozen=True)
class Cvc5Decision:
    """cvc5's answer to one script, with why it is unknown and which configuration decided."""

    answer: SolverAnswer
    reason: str | None
    configuration: str | None
    elapsed_seconds: float


# cvc5's configurations, tried in order until one decides.  For real arithmetic
# (QF_NRA, or ALL when the script sets no logic) the first is
# cylindrical algebraic coverings alone (nl-cov, a complete decision procedure),
# without incremental linearization (nl-ext), which on one seed-001 pattern runs
# for minutes where coverings alone answers in 10 ms.  Coverings can end in
# "unknown (INCOMPLETE)" after preprocessing has eliminated variables (another
# seed-001 pattern), which the second configuration avoids; the default strategy
# comes last.  Any of them answering sat or unsat is a sound answer.
_NRA_CONFIGURATIONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("coverings", {"nl-ext": "none", "nl-cov": "true"}),
    ("coverings without preprocessing", {"nl-ext": "none", "nl-cov": "true", "simplification": "none"}),
    ("default", {}),
)
_DEFAULT_CONFIGURATIONS: tuple[tuple[str, dict[str, str]], ...] = (("default", {}),)


def _logic_of(smt2: str) -> str | None:
    marker = "(set-logic"
    at = smt2.find(marker)
    if at < 0:
        return None
    end = smt2.find(")", at)
    return smt2[at + len(marker):end].strip() if end > 0 else None


def _has_integers(logic: str | None) -> bool:
    """Whether a logic has integer arithmetic (QF_NIA, QF_NIRA, QF_LIA, ...), where coverings do not apply."""
    return logic is not None and any(part in logic for part in ("IA", "IRA", "IDL"))


def _run_cvc5(cvc5: Any, smt2: str, options: dict[str, str], timeout_ms: int | None) -> tuple[SolverAnswer, str | None]:
    # cvc5 >= 1.2 has a TermManager that the solver must be built on; 1.1 builds its own
    term_manager = cvc5.TermManager() if hasattr(cvc5, "TermManager") else None
    solver = cvc5.Solver(term_manager) if term_manager is not None else cvc5.Solver()
    if timeout_ms is not None:
        solver.setOption("tlimit-per", str(max(1, int(timeout_ms))))
    for key, value in options.items():
        solver.setOption(key, value)
    if _logic_of(smt2) is None:
        solver.setLogic("ALL")
    parser = cvc5.InputParser(solver)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, smt2, "cexsearch")
    symbols = parser.getSymbolManager()
    result = None
    while True:
        try:
            command = parser.nextCommand()
        except RuntimeError as e:
            raise CrossCheckError(f"cvc5 cannot read the SMT-LIB text: {e}") from e
        if command.isNull():
            break
        if command.getCommandName() == "check-sat":
            result = solver.checkSat()  # the same as invoking it, but with a Result object
        else:
            try:
                command.invoke(solver, symbols)
            except RuntimeError as e:
                raise CrossCheckError(f"cvc5 rejects {command.getCommandName()}: {e}") from e
    if result is None:  # a script without (check-sat): decide what it asserted
        result = solver.checkSat()
    if result.isSat():
        return "sat", None
    if result.isUnsat():
        return "unsat", None
    return "unknown", str(result.getUnknownExplanation())


def cvc5_decide_detailed(smt2: str, timeout_ms: int | None = None) -> Cvc5Decision:
    """Like :func:`cvc5_decide`, with the reason for unknown and the deciding configuration.

    The answer is that of the script's last (check-sat).  ``timeout_ms`` bounds
    all configurations together, through cvc5's ``tlimit-per``, which cvc5
    checks only now and then: a check can overrun it (by up to 2.5 times
    measured on a hard nonlinear query).  A solver error is an unknown answer
    (never unsat); a text cvc5 cannot parse raises :class:`CrossCheckError`.
    """
    cvc5 = _import_cvc5()
    started = time.monotonic()
    logic = _logic_of(smt2)
    configurations = _DEFAULT_CONFIGURATIONS if _has_integers(logic) else _NRA_CONFIGURATIONS
    reasons: list[str] = []
    for name, options in configurations:
        left = None
        if timeout_ms is not None:
            left = timeout_ms - int((time.monotonic() - started) * 1000)
            if left <= 0:
                reasons.append("timeout")
                break
        try:
            answer, reason = _run_cvc5(cvc5, smt2, options, left)
        except CrossCheckError:
            raise
        except RuntimeError as e:  # a crash on one configuration is never a proof
            answer, reason = "unknown", f"cvc5 error: {e}"
        if answer != "unknown":
            return Cvc5Decision(answer, None, name, time.monotonic() - started)
        reasons.append(f"{name}: {reason}")
    return Cvc5Decision("unknown", "; ".join(reasons), None, time.monotonic() - started)


def cvc5_decide(smt2: str, timeout_ms: int | None) -> SolverAnswer:
    """Decide an SMT-LIB 2 script with cvc5: ``"sat"``, ``"unsat"`` or ``"unknown"``.

    cvc5 parses the text itself (``cvc5.InputParser`` with its ``SymbolManager``,
    command by command).  Without a ``(set-logic ...)`` the logic is ALL.
    Unless the logic has integers, cylindrical algebraic coverings decide first
    (see ``_NRA_CONFIGURATIONS``).  Raises :class:`InputError` when cvc5 is not installed.
    """
    return cvc5_decide_detailed(smt2, timeout_ms).answer


@dataclass(frozen=True)
class Cvc5Report:
    """Z3's and cvc5's answers to one question.

    ``agrees`` only when both decided and gave the same answer.  ``status``
    tells the other cases apart: ``"disagree"`` (one says sat, the other unsat:
    the verdict must become unknown, showing both answers) and
    ``"not confirmed"`` (either answered unknown: no evidence either way).
    """

    z3_answer: str
    cvc5_answer: str
    agrees: bool
    reason: str | None = None
    configuration: str | None = None
    elapsed_seconds: float = 0.0

    @property
    def status(self) -> Literal["agree", "disagree", "not confirmed"]:
        if self.agrees:
            return "agree"
        if "unknown" in (self.z3_answer, self.cvc5_answer):
            return "not confirmed"
        return "disagree"

    def describe(self) -> str:
        text = f"z3 {self.z3_answer}, cvc5 {self.cvc5_answer}: {self.status}"
        return text + (f" ({self.reason})" if self.reason else "")


def cvc5_cross_check_pattern(constraints: list[z3.BoolRef], z3_answer: str, timeout_ms: int | None) -> Cvc5Report:
    """Re-decide one question (a pattern's constraints, or the If-encoded problem) with cvc5.

    ``constraints`` must be all of it: domain, sign constraints and conditions.
    ``z3_answer`` is ``"sat"``, ``"unsat"`` or ``"unknown"``.  A text cvc5
    cannot read gives an unknown answer with the reason, never an agreement.
    """
    started = time.monotonic()
    try:
        decision = cvc5_decide_detailed(z3_to_smt2(constraints), timeout_ms)
    except CrossCheckError as e:
        return Cvc5Report(z3_answer, "unknown", False, str(e), None, time.monotonic() - started)
    agrees = decision.answer != "unknown" and decision.answer == z3_answer
    return Cvc5Report(z3_answer, decision.answer, agrees, decision.reason, decision.configuration,
                      time.monotonic() - started)
