"""Claims for every step: an invariant proven by induction over the steps of training.

A claim with ``invariant = [I, ...]`` says: from every state the ``given`` conditions allow,
training keeps I true at every step, for every dataset allowed and every ``lr > 0`` (or the
claim's lr).  It is decided in three parts, each an ordinary search:

1. *base*: ``given and not I`` at step 0 has no witness;
2. *step*: ``D and I and not I@1`` has no witness, where D are the given conditions on the
   data alone (the data never change, so D holds at every step) and I@1 is I read after one
   step.  For sgd every place the cycle of batches can start is a case of its own.
   Then by induction I holds after every number of steps: it holds at step 0 (1), and a state
   reached by training satisfies D and I, so the next one satisfies I (2).  The step assumes
   nothing about where the state came from, so this is sound for every run.
3. when the step fails (its witness is a *counterexample to induction*, a state that satisfies
   I from which one step breaks it, maybe never reached from ``given``), runs of 1 .. K steps
   from ``given`` are searched for one that breaks I at its end, I holding before:
   *refuted* with that run, or else *not proven: not inductive*, never *holds*.

Momentum is refused: its step's state holds the velocity too, which I does not speak of.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from .. import lang as C
from ..engine.options import SearchOptions
from ..engine.search import Outcome, SearchStats, search_or_unknown
from ..model.network import Network
from ..model.problem import Problem


@dataclass(frozen=True)
class InvariantProblems:
    base: Problem
    steps: tuple[Problem, ...]  # one step from I, per place a batch cycle can start
    runs: tuple[Problem, ...]  # runs of 1 .. K steps from given, breaking I at their end


def _conj(conds: list[C.Condition], label: str) -> C.Condition:
    return C.Condition(label, C.Logic("and", tuple(c.root for c in conds), 0) if len(conds) > 1 else conds[0].root)


def _not(cond: C.Condition, text: str) -> C.Condition:
    return C.Condition(text, C.Not(cond.root, 0))


def problems(claim: Any, network: Network, samples: int) -> InvariantProblems:
    """The base, step and run problems of an invariant claim at one network and batch size."""
    params = [k for k in claim.fix if str(k).split("[")[0] not in ("x", "y")]
    if params or claim.weights_from_module:
        from ..errors import ClaimFileError

        shown = params[0] if params else "weights_from_module"
        raise ClaimFileError(f"an invariant claim cannot fix {shown}: its induction step starts from any state, "
                             "and training moves the parameters", where=claim.where,
                             hint=f"state the start in given instead, e.g. given = [\"{shown} == 0\"]")
    given = list(claim.given_conditions())
    inv = list(parse_invariant(claim))
    joined = " and ".join(f"({c.text})" for c in inv)
    invariant = _conj(inv, joined)
    data = [g for g in given if C.names_used(g.root) <= {"x", "y"}]
    training = claim.training()
    if claim.all_sizes:  # decided at one sample (see .allsizes): a step on it is any optimizer's step on a batch
        training = replace(training, optimizer="gd", batch_size=None)
    base = claim.problem(network, samples, given + [_not(invariant, f"not ({joined})")], None)
    one = replace(training, steps=1)
    starts = sorted({(t * one.batch_size) % samples for t in range(samples)}) if one.batch_size else [0]
    after = C.Condition(f"not ({joined}) after one step", C.Not(C.at_step(invariant.root, 1), 0))
    steps = tuple(claim.problem(network, samples, data + [invariant, after], replace(one, first=s)) for s in starts)
    runs = []
    for k in range(1, training.steps + 1):
        held = [C.Condition(f"({joined}) at step {t}", C.at_step(invariant.root, t)) for t in range(k)]
        broken = C.Condition(f"not ({joined}) at step {k}", C.Not(C.at_step(invariant.root, k), 0))
        runs.append(claim.problem(network, samples, given + held + [broken], replace(training, steps=k)))
    return InvariantProblems(base, steps, tuple(runs))


def parse_invariant(claim: Any) -> tuple[C.Condition, ...]:
    from ..api import parse_conditions

    return parse_conditions(claim.invariant, "invariant", claim.names)


@dataclass(frozen=True)
class InvariantAnswer:
    """What the three parts decided: the claim's verdict at this size, the outcome to show, and why."""

    verdict: str  # holds | refuted | unknown
    outcome: Outcome
    reason: str
    counterexample: Outcome | None = None  # to induction: a state from which one step breaks I


def decide_invariant(claim: Any, network: Network, samples: int, options: SearchOptions) -> InvariantAnswer:
    """Decide an invariant claim at one size (see the module's docstring)."""
    ps = problems(claim, network, samples)
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    training = claim.training()

    def run(problem: Problem) -> Outcome:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.01)
        return search_or_unknown(problem, replace(options, timeout=left))

    def unknown(problem: Problem, why: str) -> InvariantAnswer:
        return InvariantAnswer("unknown", Outcome("unknown", problem, SearchStats("induction", 0), reason=why), why)

    base = run(ps.base)
    if base.verdict == "found":
        return InvariantAnswer("refuted", base, "the given values break the invariant at step 0")
    if base.verdict == "unknown" or base.interrupted:
        return InvariantAnswer("unknown", base, f"step 0 undecided: {base.reason}")
    cti: Outcome | None = None
    for problem in ps.steps:
        step = run(problem)
        if step.interrupted:
            return InvariantAnswer("unknown", step, "interrupted")
        if step.verdict == "found":
            cti = step
            break
        if step.verdict == "unknown":
            return unknown(problem, f"the induction step is undecided: {step.reason}")
    if cti is None:
        what = training.optimizer + (f" (batch {training.batch_size})" if training.batch_size else "")
        lr = "every lr > 0" if training.lr is None else f"lr {training.lr}"
        return InvariantAnswer("holds", step, f"holds for every step: true at step 0, and one step of {what} keeps it "
                                              f"for every dataset and {lr}")
    open_runs = []
    for problem in ps.runs:
        broken = run(problem)
        if broken.verdict == "found":
            k = problem.training.steps if problem.training is not None else 0
            return InvariantAnswer("refuted", broken, f"a training run breaks the invariant at step {k}")
        if broken.verdict == "unknown":
            open_runs.append(f"{problem.training.steps if problem.training else 0} steps: {broken.reason}")
        if broken.interrupted:
            break
    why = ("not proven: not inductive: one step from a state that meets the invariant breaks it (the counterexample "
           f"to induction below), and no run of up to {training.steps} steps from the given values breaks it")
    if open_runs:
        why += f" (undecided: {'; '.join(open_runs)})"
    return InvariantAnswer("unknown", Outcome("unknown", cti.problem, cti.stats, reason=why), why, cti)
