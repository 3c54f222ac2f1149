"""Size sweeps: where does a witness start to exist?

``cexsearch sweep`` decides the same conditions over a grid of networks and
batch sizes, smallest first, and states the smallest size with a witness.

A witness at M samples often extends to M + 1: add a copy of sample 0 whose
target equals the network's output, so its residual is 0 and it adds nothing
to any gradient sum.  Under ``sse`` the gradients are then unchanged; under
``mse`` they are all scaled by M / (M + 1), which keeps every comparison of a
gradient expression with 0 (and between gradient expressions that scale
alike) true.  The shortcut is therefore tried only when the conditions never
read ``x``, ``y`` or ``yhat`` (the new sample would be seen) and, for ``mse``,
only compare linear combinations of gradients with 0.  Either way the extended
witness goes through the exact re-check before it counts; if it fails, the
cell is searched as usual.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import lang as C
from ..engine.options import SearchOptions
from ..engine.search import Outcome, SearchStats, search_or_unknown
from ..errors import SpecError
from ..model.network import Network
from ..model.problem import Assignment, Problem
from ..semantics import numeric

MAX_CELLS = 400


def expand_nets(text: str) -> list[str]:
    """``1-{1..4}-1`` -> ``1-1-1, 1-2-1, 1-3-1, 1-4-1``; several braces give every combination."""
    parts = re.split(r"(\{[^}]*\})", text.strip())
    choices: list[list[str]] = []
    for part in parts:
        m = re.fullmatch(r"\{\s*([0-9]+)\s*\.\.\s*([0-9]+)\s*\}", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise SpecError(f"--net {text!r}: the range {part} is empty", hint=f"write {{{hi}..{lo}}}")
            choices.append([str(i) for i in range(lo, hi + 1)])
        elif part.startswith("{"):
            inner = [p.strip() for p in part[1:-1].split(",")]
            if not all(re.fullmatch(r"[0-9]+", p) for p in inner):
                raise SpecError(f"--net {text!r}: {part} is not a range such as {{1..4}} or a list such as {{2,4,8}}")
            choices.append(inner)
        else:
            choices.append([part])
    nets = ["".join(combo) for combo in itertools.product(*choices)]
    if len(nets) > MAX_CELLS:
        raise SpecError(f"--net {text!r} expands to {len(nets)} networks", hint=f"sweep at most {MAX_CELLS} cells")
    return nets


@dataclass(frozen=True)
class Cell:
    net: str
    samples: int
    verdict: str  # found | none | unknown
    elapsed: float
    outcome: Outcome | None
    extended: bool = False


@dataclass(frozen=True)
class SweepResult:
    nets: tuple[str, ...]
    sizes: tuple[int, ...]
    cells: tuple[Cell, ...]

    def cell(self, net: str, samples: int) -> Cell | None:
        for c in self.cells:
            if c.net == net and c.samples == samples:
                return c
        return None

    @property
    def smallest(self) -> Cell | None:
        """The first cell with a witness, in sweep order (smallest network first, then size)."""
        return next((c for c in self.cells if c.verdict == "found"), None)

    @property
    def interrupted(self) -> bool:
        return any(c.outcome is not None and c.outcome.interrupted for c in self.cells)


def _gradient_linear(node: C.Expr) -> bool:
    if isinstance(node, C.Grad):
        return True
    if isinstance(node, C.Subscript):
        return _gradient_linear(node.base)
    if isinstance(node, C.Neg):
        return _gradient_linear(node.operand)
    if isinstance(node, C.Arith):
        if node.op in "+-":
            return _gradient_linear(node.left) and _gradient_linear(node.right)
        if node.op in "*/":
            return (_gradient_linear(node.left) and isinstance(node.right, C.Num)) or (
                node.op == "*" and isinstance(node.left, C.Num) and _gradient_linear(node.right))
    return False


def _scale_invariant(node: C.Expr) -> bool:
    """True when scaling every gradient by a positive number keeps the condition's truth."""
    if isinstance(node, C.Compare):
        zero = (isinstance(node.left, C.Num) and node.left.value == 0, isinstance(node.right, C.Num) and node.right.value == 0)
        if zero[0] or zero[1]:
            other = node.right if zero[0] else node.left
            return _gradient_linear(other)
        return _gradient_linear(node.left) and _gradient_linear(node.right)
    if isinstance(node, C.Logic):
        return all(_scale_invariant(o) for o in node.operands)
    if isinstance(node, (C.Not, C.Reduce)):
        return _scale_invariant(node.operand)
    return isinstance(node, C.BoolConst)


def _mean_loss(network: Any) -> bool:
    """Whether the loss divides by the batch size (mse, l1, huber), so one more sample rescales every gradient."""
    return network.loss == "mse" if isinstance(network, Network) else network.loss.mean


def extension_valid(problem: Problem) -> bool:
    """Whether a zero-residual extra sample keeps every condition (see the module docstring)."""
    for c in problem.conditions:
        if C.names_used(c.root) & {"x", "y", "yhat"}:
            return False
        if _mean_loss(problem.network) and not _scale_invariant(c.root):
            return False
    loss = getattr(problem.network.loss, "argument", "residual")
    if loss != "residual":  # hinge: y is -1 or 1, so a sample cannot be given yhat as its target
        return False
    if getattr(problem.network.loss, "link", ""):  # bce, ce: y = yhat leaves p - y, not 0 (and y may leave [0, 1])
        return False
    return not any(name in ("x", "y") for name, _, _ in problem.fixed.items)


def extend(outcome: Outcome, problem: Problem) -> Outcome | None:
    """The witness of ``outcome`` with one more sample (a copy of sample 0 with zero residual), if it checks."""
    w = outcome.witness
    if w is None or outcome.recheck is None or problem.samples != w.samples + 1:
        return None
    net = w.network
    x = np.array(w.flat("x"), dtype=object).reshape(net.shape("x", w.samples))
    y = np.array(w.flat("y"), dtype=object).reshape(net.shape("y", w.samples))
    yhat0 = np.array(outcome.recheck.evaluation.yhat[0], dtype=object).reshape(-1)
    values = [(n, w.flat(n)) for n in net.parameter_names()]
    values.append(("x", tuple(x.reshape(-1)) + tuple(x[0].reshape(-1))))
    values.append(("y", tuple(y.reshape(-1)) + tuple(yhat0)))
    bigger = Assignment(net, problem.samples, tuple(values))
    check = numeric.recheck(problem, bigger)
    if not check.confirmed:
        return None
    stats = SearchStats("extended from the previous size", outcome.stats.total_patterns)
    return Outcome("found", problem, stats, witness=bigger, recheck=check)


def sweep(build: Callable[[Network, int], Problem], networks: Sequence[Network], sizes: Sequence[int],
          options: SearchOptions, progress: Callable[[str], None] | None = None) -> SweepResult:
    """Decide every (network, size) cell, smallest first; ``options.timeout`` is per cell."""
    if len(networks) * len(sizes) > MAX_CELLS:
        raise SpecError(f"a sweep of {len(networks) * len(sizes)} cells is too large", hint=f"at most {MAX_CELLS}")
    cells: list[Cell] = []
    for net in networks:
        previous: Outcome | None = None
        for m in sorted(sizes):
            problem = build(net, m)
            if progress:
                progress(f"{net.text} x {m}")
            t = time.monotonic()
            out = None
            if previous is not None and previous.verdict == "found" and extension_valid(problem):
                out = extend(previous, problem)
            extended = out is not None
            if out is None:
                out = search_or_unknown(problem, options)
            cells.append(Cell(net.text, m, out.verdict, time.monotonic() - t, out, extended))
            previous = out
            if out.interrupted:
                return SweepResult(tuple(n.text for n in networks), tuple(sorted(sizes)), tuple(cells))
    return SweepResult(tuple(n.text for n in networks), tuple(sorted(sizes)), tuple(cells))


def sweep_document(result: SweepResult) -> dict:
    from .witness import outcome_document

    smallest = result.smallest
    return {
        "schema": "cexsearch.sweep/1",
        "nets": list(result.nets),
        "samples": list(result.sizes),
        "smallest_with_witness": None if smallest is None else {"net": smallest.net, "samples": smallest.samples},
        "cells": [
            {"net": c.net, "samples": c.samples, "verdict": c.verdict, "elapsed_seconds": round(c.elapsed, 6),
             "extended": c.extended, "reason": c.outcome.reason if c.outcome else None,
             "witness": outcome_document(c.outcome) if c.outcome is not None and c.verdict == "found" else None}
            | ({"domain": c.outcome.domain} if c.outcome is not None and c.outcome.domain else {})
            for c in result.cells
        ],
    }


