"""What a witness can be turned into besides the report: derivations, plots, cross-checks."""

from __future__ import annotations

import sys
from dataclasses import replace

from ..engine.search import Outcome
from ..errors import InputError
from .options import writable


class Extras:
    """What a witness can be turned into besides the report: derivations, plots, cross-checks."""

    def __init__(self, explain: str | None, explain_to: str | None, plot: str | None, checks: list[str],
                 json_path: str | None) -> None:
        self.explain, self.explain_to, self.plot, self.checks = explain, explain_to, plot, checks
        if explain is not None and explain.strip().lower() not in ("markdown", "latex"):
            raise InputError(f"--explain {explain!r} is not a format", hint="use markdown or latex")
        if explain_to is not None and explain is None:
            raise InputError("--explain-to needs --explain", hint="add --explain markdown or --explain latex")
        if explain is not None and explain_to is None and json_path == "-":
            raise InputError("--explain and --json - both want stdout", hint="add --explain-to FILE")
        for c in checks:
            if c not in ("torch", "cvc5"):
                raise InputError(f"--cross-check {c!r} is not known", hint="use torch or cvc5")
        if plot is not None:
            if not plot.lower().endswith((".png", ".svg")):
                raise InputError(f"--plot {plot!r} must end in .png or .svg")
            writable(plot, "--plot")
        writable(explain_to, "--explain-to")

    @classmethod
    def parse(cls, explain: str | None, explain_to: str | None, plot: str | None, checks: list[str] | None,
              json_path: str | None) -> Extras:
        return cls(explain, explain_to, plot, list(checks or []), json_path)

    def cross_check(self, outcome: Outcome) -> Outcome:

        notes: list[str] = []
        if "torch" in self.checks and outcome.recheck is not None and outcome.recheck.run is not None:
            from ..workflows.crosscheck import torch_training_cross_check

            assert outcome.witness is not None
            notes.append(torch_training_cross_check(outcome.witness, outcome.recheck.run).describe())
        elif "torch" in self.checks and outcome.witness is not None and outcome.recheck is not None:
            from ..workflows.crosscheck import torch_cross_check

            report = torch_cross_check(outcome.witness, outcome.recheck.evaluation.gradients)
            notes.append(f"torch: {'agrees' if report.agrees else 'DISAGREES'}, largest deviation "
                         f"{report.max_abs_deviation:.3g}; {report.note}")
        elif "torch" in self.checks and outcome.certificate is not None:
            from ..workflows.crosscheck import torch_at_centre

            notes.append(torch_at_centre(outcome.problem, outcome.certificate))
        exp = bool(getattr(getattr(outcome.problem.network, "loss", None), "link", ""))
        if "cvc5" in self.checks and exp:
            notes.append("cvc5: not run, the loss has exp in it (bce, ce), which the SMT-LIB text of the "
                         "If-encoding does not hold")
        elif "cvc5" in self.checks and outcome.verdict == "none":
            from ..engine.search import if_encoded_constraints
            from ..workflows.crosscheck import cvc5_cross_check_pattern

            second = cvc5_cross_check_pattern(if_encoded_constraints(outcome.problem), "unsat", 60_000)
            notes.append(f"cvc5 on the If-encoded problem: {second.describe()}")
            if second.status == "disagree":
                return replace(outcome, verdict="unknown", cross_checks=tuple(notes),
                               reason=f"z3 says unsat, cvc5 says {second.cvc5_answer}")
        elif "cvc5" in self.checks:
            notes.append("cvc5: nothing to re-decide (the exact re-check confirms a witness)")
        return replace(outcome, cross_checks=tuple(notes)) if notes else outcome

    def write(self, outcome: Outcome) -> None:
        if outcome.witness is None:
            return
        from ..files import write_atomic

        if self.explain is not None:
            from ..output.explain import explain

            text = explain(outcome.problem, outcome.witness, self.explain)
            if self.explain_to:
                write_atomic(self.explain_to, text)
            else:
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if self.plot is not None:
            from ..output.plot import plot

            plot(outcome.problem, outcome.witness, self.plot)
