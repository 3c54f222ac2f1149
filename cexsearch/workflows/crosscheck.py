"""Cross-checks that share no code with the solver path: PyTorch autograd and cvc5.

Two second opinions, each optional and each imported only when asked for:

* :func:`torch_cross_check` rebuilds the network of a witness as a PyTorch
  ``nn.Sequential`` (the torch oracle, :mod:`cexsearch.oracles.torch`: any layer,
  activation and loss of :mod:`cexsearch.model`, float64 tensors), lets autograd
  differentiate the batch loss and compares every gradient with the exact ones.
  The oracle reads only the model's layer descriptions and the exact values: the
  layers, activations and losses are PyTorch's own, except where the chosen
  derivative at a breakpoint is not PyTorch's.

  The derivative at exactly 0.  PyTorch's ``relu`` backward uses 0 there and
  ``leaky_relu``'s uses the negative slope: both are ``relu_grad_at_zero = 0``,
  so with that setting the built-in modules are used as they are.  With
  ``relu_grad_at_zero = 1`` a small ``torch.autograd.Function`` with the same
  forward values and derivative 1 at 0 stands in for them, so that torch
  computes the *same* convention; the report counts the pre-activations that are
  exactly at a breakpoint of their activation (exactly, from the Fractions) and
  says whether PyTorch's built-in activation would have given other gradients
  there.  That difference is a choice of convention, never reported as a
  disagreement.  The other activations' tables follow PyTorch at every breakpoint.

* :func:`torch_training_cross_check` does the same for a witness of a training problem
  (``--steps K``): a real PyTorch training loop (``torch.optim.SGD`` with the run's lr and
  momentum, the same batches in order, PyTorch's loss, float64; :mod:`cexsearch.oracles.torch_training`)
  from the initial values, compared at every step with the exact replay: θ_t, the gradient
  of step t's batch and its loss, each within 1e-9 of the sum of its terms' absolute values.

* :func:`cvc5_decide` decides an SMT-LIB 2 text with cvc5, and
  :func:`cvc5_cross_check_pattern` re-decides one activation pattern's
  constraints (written out by :func:`z3_to_smt2`) and compares with Z3.  cvc5
  reads the text with its own parser (``cvc5.InputParser`` and
  ``cvc5.SymbolManager``): no Z3 object crosses over, only the text.

Both raise :class:`cexsearch.errors.InputError` with an install hint when the
package is missing, so the CLI can map that to exit code 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..model import Model
from ..model.network import Network
from ..model.problem import Assignment, Problem
from ..oracles import torch as oracle
from ..oracles.cvc5 import (
    CVC5_HINT,
    CrossCheckError,
    Cvc5Decision,
    Cvc5Report,
    cvc5_available,
    cvc5_cross_check_pattern,
    cvc5_decide,
    cvc5_decide_detailed,
    z3_to_smt2,
)
from ..oracles.exact import exact_forward
from ..oracles.torch import TORCH_HINT, torch_available
from ..semantics.training import Run
from ..semantics.written import certified_deviation

__all__ = ["TORCH_HINT", "TORCH_RTOL", "CVC5_HINT", "CrossCheckError", "TorchReport", "Cvc5Decision", "Cvc5Report",
           "torch_available", "torch_gradients", "torch_cross_check", "TrainingReport", "torch_training_cross_check", "cvc5_available", "cvc5_decide",
           "cvc5_decide_detailed", "cvc5_cross_check_pattern", "z3_to_smt2"]

#: Relative tolerance of the torch comparison; see :func:`torch_cross_check`.
TORCH_RTOL = 1e-9

# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------


def model_of(network: Network | Model) -> Model:
    """The layer model of an assignment's network (a :class:`Model` is taken as it is)."""
    return network if isinstance(network, Model) else Model.from_network(network)


def _values(assignment: Assignment) -> tuple[Model, dict[str, np.ndarray]]:
    model = model_of(assignment.network)
    return model, model.values_of(assignment)


def torch_gradients(assignment: Assignment) -> dict[str, np.ndarray]:
    """The gradient of the batch loss for every parameter, by PyTorch autograd in float64.

    Keys ``W1, b1, ...`` in PyTorch's shapes (``Wk`` of a Linear layer (out, in)).  The
    derivative at 0 follows the network's ``relu_grad_at_zero``; values that are exactly
    at a breakpoint are kept there in float64 (see :mod:`cexsearch.oracles.torch`).
    """
    model, values = _values(assignment)
    return oracle.torch_pass(model, values).gradients


@dataclass(frozen=True)
class TorchReport:
    """PyTorch autograd's gradients against the exact ones.

    ``agrees`` when every entry satisfies ``|torch - exact| <= 1e-9 * magnitude``,
    the magnitude being the sum of absolute values of the entry's terms (so an
    exact 0 reached by cancellation gets a tolerance that fits its terms).
    ``max_abs_deviation`` is the largest ``|torch - exact|``.
    ``zero_pre_activations`` counts pre-activations exactly at a breakpoint of
    their activation (0 for ReLU and LeakyReLU; -1 and 1 for Hardtanh, ...),
    where the derivative convention matters; ``native_autograd_agrees`` says,
    when it could matter (``relu_grad_at_zero = 1`` and some exact 0 there), whether
    PyTorch's built-in activation would have agreed too (None otherwise).
    A report is only returned when PyTorch is installed, so ``available`` is
    True; without PyTorch :func:`torch_cross_check` raises InputError.
    """

    available: bool
    max_abs_deviation: float
    agrees: bool
    zero_pre_activations: int
    note: str
    native_autograd_agrees: bool | None = None
    elapsed_seconds: float = 0.0


def _compare(exact: dict[str, np.ndarray], approx: dict[str, np.ndarray],
             mags: dict[str, np.ndarray]) -> tuple[float, bool, list[str]]:
    worst = 0.0
    ok = True
    bad: list[str] = []
    for p, e in exact.items():
        if p not in approx:
            ok = False
            bad.append(f"{p} missing")
            continue
        ev = np.asarray(e, dtype=object).reshape(-1)
        tv = np.asarray(approx[p], dtype=np.float64).reshape(-1)
        mv = np.asarray(mags.get(p, np.zeros(len(ev))), dtype=np.float64).reshape(-1)
        if len(ev) != len(tv):
            ok = False
            bad.append(f"{p} has {len(tv)} entries, not {len(ev)}")
            continue
        for i, (x, t, m) in enumerate(zip(ev, tv, mv)):
            if not np.isfinite(t):
                ok = False
                bad.append(f"{p}[{i}] = {t}")
                continue
            dev = certified_deviation(x, float(t))  # x: a Fraction, or a Value with exp (bce, ce)
            worst = max(worst, dev)
            scale = max(float(m), abs(float(x)))
            if dev > TORCH_RTOL * scale:
                ok = False
                bad.append(f"{p}[{i}]: torch {t!r}, exact {x}")
    return worst, ok, bad


def _activations(model: Model) -> tuple[list[str], list[str]]:
    """(labels of the piecewise activations, those computed by the custom Function), each once."""
    seen: list[str] = []
    custom: list[str] = []
    for _, layer, _, _ in model.walk():
        table = getattr(layer, "table", None)
        if table is None or table.is_linear:
            continue
        label = layer.notation()
        if label not in seen:
            seen.append(label)
            if oracle.uses_custom_function(table):
                custom.append(label)
    return seen, custom


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _numbers(values: tuple[Fraction, ...]) -> str:
    return ", ".join(str(v) for v in values)


def torch_cross_check(assignment: Assignment, exact_gradients: dict[str, np.ndarray]) -> TorchReport:
    """Recompute every gradient with PyTorch autograd (float64) and compare with ``exact_gradients``.

    ``assignment.network`` is a :class:`~cexsearch.model.network.Network` (read through
    ``Model.from_network``) or a :class:`~cexsearch.model.Model`.  Raises
    :class:`InputError` when PyTorch is not installed.
    """
    started = time.monotonic()
    model, values = _values(assignment)
    exact = exact_forward(model, values)
    run = oracle.torch_pass(model, values, exact=exact)
    mags = oracle.magnitudes(model, values, exact=exact)
    worst, ok, bad = _compare(exact_gradients, run.gradients, mags)
    acts, custom = _activations(model)
    notes: list[str] = []
    native_agrees: bool | None = None
    if not acts:
        notes.append("no piecewise activation: no derivative convention at a breakpoint involved")
    elif custom:
        own = ["relu uses 0" if c == "ReLU()" else f"{c} the negative slope" for c in custom]
        notes.append(f"relu_grad_at_zero = 1 computed by a custom autograd.Function (PyTorch's built-in "
                     f"{', '.join(own)} at 0)")
        if run.custom_at_breakpoint:
            native = oracle.torch_pass(model, values, native=True, exact=exact)
            _, native_agrees, _ = _compare(exact_gradients, native.gradients, mags)
            notes.append(_plural(run.custom_at_breakpoint, "pre-activation", "pre-activations")
                         + f" exactly 0 at {', '.join(custom)}: PyTorch's built-in activation "
                         + ("would give the same gradients here" if native_agrees else
                            "would give other gradients here (a different convention, not a disagreement)"))
    else:
        notes.append(f"PyTorch's built-in {', '.join(acts)}: derivatives at the breakpoints as in the piece "
                     "tables (relu_grad_at_zero = 0)")
    others = run.at_breakpoint - run.custom_at_breakpoint
    if others:
        notes.append(_plural(others, "pre-activation", "pre-activations") + " exactly at a breakpoint")
    if run.rounded_off:
        notes.append(f"{run.rounded_off} of them came out of float64 off the breakpoint and were kept at "
                     f"{_numbers(run.kept_at)}")
    if run.flips:
        notes.append(_plural(run.flips, "pre-activation", "pre-activations") + " on another piece in float64 "
                     "than exactly: rounding changed their branch")
    if run.ties:
        notes.append(_plural(run.ties, "max-pool window", "max-pool windows") + " with tied maxima, kept tied in "
                     "float64 (the gradient goes to the first, as in PyTorch)")
    if run.moved_maxima:
        notes.append(_plural(run.moved_maxima, "max-pool window", "max-pool windows") + " whose float64 maximum "
                     "is another entry than the exact one: rounding changed their branch")
    if run.loss_kinks:
        notes.append(_plural(run.loss_kinks, "output entry", "output entries")
                     + f" exactly at a kink of the {model.loss.name} loss, kept there in float64")
    if not ok:
        notes.append("disagreement: " + "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else ""))
    return TorchReport(True, worst, ok, run.at_breakpoint, "; ".join(notes), native_agrees,
                       time.monotonic() - started)


def torch_at_centre(problem: Problem, certificate: object) -> str:
    """The torch cross-check of a witness found over the reals, at its box's centre (a rational point):
    PyTorch's float64 gradients there against the exact ones (:func:`torch_cross_check`)."""
    from ..semantics.numeric import exact_gradients
    from ..semantics.written import box_rows, centre_rows

    values = dict(problem.fixed.as_dict())
    centre = centre_rows(certificate)
    if centre:
        values.update({(n, i): Fraction(v) for n, i, v in centre})
    else:
        values.update({(n, i): (Fraction(lo) + Fraction(hi)) / 2 for n, i, lo, hi in box_rows(certificate)})
    missing = [f"{n}{list(i)}" for n, i in problem.free_keys() if (n, i) not in values]
    if missing:
        return f"torch at the box centre: not run, the certificate gives no value of {', '.join(missing[:3])}"
    centre_point = Assignment.from_entries(problem.network, problem.samples, values)
    report = torch_cross_check(centre_point, exact_gradients(centre_point))
    return (f"torch at the box centre: {'agrees' if report.agrees else 'DISAGREES'}, largest deviation "
            f"{report.max_abs_deviation:.3g}; {report.note}")


@dataclass(frozen=True)
class TrainingReport:
    """A PyTorch training loop against the exact replay of a training witness, step by step.

    ``agrees`` when at every step t = 0 .. K every entry of θ_t and of the gradient of step
    t's batch, and the batch loss, is within ``TORCH_RTOL`` of its magnitude (the sum of the
    absolute values of its terms: for θ_t, |θ_0| plus lr times the velocities' magnitudes);
    ``max_abs_deviation`` is the largest ``|torch - exact|`` over all of them, at ``worst``.
    """

    steps: int
    max_abs_deviation: float
    agrees: bool
    worst: str
    note: str
    elapsed_seconds: float = 0.0

    def describe(self) -> str:
        return (f"torch training loop: {'agrees' if self.agrees else 'DISAGREES'} at every one of "
                f"{self.steps + 1} steps (parameters, gradients, loss), largest deviation {self.max_abs_deviation:.3g}"
                + (f" ({self.worst})" if self.worst else "") + f"; {self.note}")


def torch_training_cross_check(assignment: Assignment, run: Run) -> TrainingReport:
    """Train the witness's network with ``torch.optim.SGD`` as ``run.training`` says and compare with ``run``.

    ``run`` is the exact replay (:attr:`cexsearch.semantics.numeric.Recheck.run`).  Raises
    :class:`InputError` when PyTorch is not installed.
    """
    from ..oracles.torch_training import torch_training

    started = time.monotonic()
    model, values = _values(assignment)
    training = run.training
    loop = torch_training(model, values["x"], values["y"], training, run.lr, run.params)
    label = assignment.network.label
    worst, ok, where = 0.0, True, ""  # where: the value of the largest deviation ("" while all are 0)
    bad: list[str] = []
    scale = {n: np.array([abs(float(v)) for v in np.asarray(run.params[0][n]).reshape(-1)]) for n in loop.params[0]}
    velocity: dict[str, np.ndarray] | None = None
    lr, mu = float(run.lr), float(training.momentum)
    for t in range(training.steps + 1):
        tr = run.traces[t]
        assert tr is not None  # the exact replay keeps every step's trace
        exact = {f"{label(n)}@{t}": run.params[t][n] for n in loop.params[t]}
        exact |= {f"grad@{t}({label(n)})": tr.gradients[n] for n in loop.params[t]}
        exact[f"loss@{t} (batch)"] = np.array([tr.loss], dtype=object)
        approx = {f"{label(n)}@{t}": v for n, v in loop.params[t].items()}
        approx |= {f"grad@{t}({label(n)})": g for n, g in loop.gradients[t].items()}
        approx[f"loss@{t} (batch)"] = np.array([loop.losses[t]])
        mags = {f"{label(n)}@{t}": scale[n] for n in loop.params[t]}
        mags |= {f"grad@{t}({label(n)})": g for n, g in loop.grad_scale[t].items()}
        mags[f"loss@{t} (batch)"] = np.array([loop.loss_scale[t]])
        for key in exact:  # one value at a time, to say where the largest deviation is
            dev, key_ok, key_bad = _compare({key: exact[key]}, {key: approx[key]}, {key: mags[key]})
            if dev > worst:
                worst, where = dev, key
            ok, bad = ok and key_ok, bad + key_bad
        if t < training.steps:  # |θ_{t+1}|'s terms: |θ_t| + lr (μ V_t + G_t)
            g = {n: np.abs(np.asarray(loop.grad_scale[t][n], dtype=np.float64)).reshape(-1) for n in scale}
            velocity = g if velocity is None or mu == 0 else {n: mu * velocity[n] + g[n] for n in g}
            scale = {n: scale[n] + lr * velocity[n] for n in scale}
    acts, custom = _activations(model)
    notes = [f"torch.optim.SGD(lr={lr!r}, momentum={mu!r}) on the same batches in order, float64"]
    if custom:
        notes.append(f"relu_grad_at_zero = 1 computed by a custom autograd.Function at {', '.join(custom)}")
    elif acts:
        notes.append(f"PyTorch's built-in {', '.join(acts)}")
    if loop.at_breakpoint:
        notes.append(_plural(loop.at_breakpoint, "pre-activation", "pre-activations") + " exactly at a breakpoint "
                     "over the steps" + (f", {loop.rounded_off} of them put off it by float64 and kept there"
                                         if loop.rounded_off else ""))
    if loop.flips:
        notes.append(_plural(loop.flips, "pre-activation", "pre-activations") + " on another piece in float64 "
                     "than exactly: rounding changed their branch")
    if loop.ties or loop.moved_maxima:
        notes.append(f"{loop.ties} tied and {loop.moved_maxima} moved max-pool maxima over the steps")
    if loop.loss_kinks:
        notes.append(_plural(loop.loss_kinks, "output entry", "output entries") + " exactly at a kink of the loss")
    if not ok:
        notes.append("disagreement: " + "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else ""))
    return TrainingReport(training.steps, worst, ok, where, "; ".join(notes),
                          time.monotonic() - started)
