"""A training witness written out step by step: each step's derivation, then its update.

:func:`explain_training` is :func:`cexsearch.output.explain.explain` for a problem with
training steps (``--steps K``).  Every number is read from the exact replay of the run
(:attr:`cexsearch.semantics.numeric.Recheck.run`), never from a pass of its own: step t's
forward pass, backprop and chain-rule sums are the step-0 derivation of
:mod:`cexsearch.output.explain` (or :mod:`cexsearch.output.explain_layers`) written from
the run's trace of θ_t on step t's batch, and each step ends with the update::

    v_{t+1} = μ v_t + g_t  (v_1 = g_0),      θ_{t+1} = θ_t - lr v_{t+1}

entry by entry, each result compared with the run's θ_{t+1} before anything is returned.
Step K's pass is the one a next step would take (what ``grad@K``, ``yhat@K`` read).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import InputError
from ..model.network import Network, entries
from ..model.problem import Assignment, Problem
from ..semantics.numeric import recheck
from ..semantics.training import Run
from .explain_format import Format, condition_blocks


def _step_assignment(a: Assignment, run: Run, t: int) -> Assignment:
    """θ_t and step t's batch (its samples in the batch's order) as an assignment of the batch's size."""
    net, batch = a.network, list(run.training.batch(t, a.samples))
    values = []
    for name in net.variable_names():
        if name in run.params[t]:
            flat = np.asarray(run.params[t][name], dtype=object).reshape(-1)
        else:  # x or y: the batch's rows
            whole = np.asarray(a.flat(name), dtype=object).reshape(net.shape(name, a.samples))
            flat = whole[batch].reshape(-1)
        values.append((name, tuple(Fraction(v) for v in flat)))
    return Assignment(net, len(batch), tuple(values))


def _explainer(problem: Problem, a: Assignment, fmt: Format, run: Run, t: int) -> Any:
    step = run.traces[t]
    assert step is not None  # the exact replay keeps every step's trace
    at = _step_assignment(a, run, t)
    if isinstance(a.network, Network):
        from .explain import _Explainer

        ex: Any = _Explainer(problem, at, fmt, step=step)
        needs = ex.reads_deltas
    else:
        from .explain_layers import _LayerExplainer

        ex = _LayerExplainer(problem, at, fmt, step=step)
        needs = True  # every layer derivation is written with backprop's deltas
    if needs and not step.output_gradients:
        raise no_deltas(a.network)
    ex.section = f"Step {t}: "
    return ex


def no_deltas(network: Any) -> InputError:
    """The refusal of --explain for a training run of a network whose derivation reads backprop's deltas."""
    return InputError(
        "--explain of a training run writes every step from the exact replay, whose traces keep no backprop "
        "deltas per layer: that covers MLPs of one hidden layer (or none) and one output",
        hint=f"this network ({network.text}) needs them; explain the witness without --steps, or read the run in "
        "the report's training table and the witness document's trajectory")


def _symbol(name: str, index: tuple[int, ...]) -> str:
    return f"{name[0]}_{{{name[1:]}}}[{','.join(map(str, index))}]"


def _update_blocks(fmt: Format, a: Assignment, run: Run, t: int, velocity: dict[str, Any]) -> list[str]:
    """θ_{t+1} = θ_t - lr v_{t+1} entry by entry (and v_{t+1} = μ v_t + g_t with momentum); updates ``velocity``."""
    training, net, lr = run.training, a.network, Fraction(run.lr)
    mu = Fraction(training.momentum)
    step = run.traces[t]
    assert step is not None
    lines = []
    for name in net.parameter_names():
        g = step.gradients[name]
        before, after = run.params[t][name], run.params[t + 1][name]
        v_prev = velocity.get(name)
        v = np.empty(g.shape, dtype=object)
        for index in entries(g.shape):
            gv = Fraction(g[index])
            sym = _symbol(name, index)
            if mu and v_prev is not None:
                v[index] = mu * Fraction(v_prev[index]) + gv
                lines.append(f"v^{{({t + 1})}}_{{{sym}}} &= {fmt.num(mu)} \\cdot {fmt.factor(Fraction(v_prev[index]))}"
                             f" + {fmt.factor(gv)} = {fmt.num(v[index])}")
            else:
                v[index] = gv
            new = Fraction(before[index]) - lr * v[index]
            if new != after[index]:
                raise AssertionError(f"explain: {name}{list(index)} after step {t} is {new}, the run says {after[index]}")
            what = "v" if mu else "g"
            lines.append(f"{sym}^{{({t + 1})}} &= {sym}^{{({t})}} - \\eta\\, {what}^{{({t + 1 if mu else t})}}_{{{sym}}} = "
                         f"{fmt.num(Fraction(before[index]))} - {fmt.factor(lr)} \\cdot {fmt.factor(v[index])} = "
                         f"{fmt.num(new)}")
        velocity[name] = v
    text = (f"Step {t} moves every parameter by the learning rate η = {fmt.num(lr)} times "
            + ("its velocity v, v(t+1) = μ v(t) + g(t) with μ = " + fmt.num(mu) + " and v(1) = g(0)"
               if mu else "the gradient g(t) of the batch loss above") + ":")
    return [fmt.heading(f"Step {t}: the update"), text, fmt.math(lines)]


def explain_training(problem: Problem, assignment: Assignment, fmt: Format) -> str:
    """The derivation of a training witness, step by step (the format already chosen by ``explain``)."""
    training = problem.training
    assert training is not None
    check = recheck(problem, assignment)
    run = check.run
    assert run is not None  # a training problem's re-check replays its run
    net, M = assignment.network, assignment.samples
    explainers = [_explainer(problem, assignment, fmt, run, t) for t in range(training.steps + 1)]
    lr = f"learning rate η = {fmt.num(Fraction(run.lr))}" + (" (free in the problem: the witness's)"
                                                              if training.lr is None else "")
    title = f"Training witness: {net.text}, M = {M} sample{'s' if M != 1 else ''}, {training.describe().split(',')[0]}"
    blocks = explainers[0].network_blocks()
    sgd = training.batch_size is not None
    blocks.append(f"{training.describe()}: {lr}. Step t computes the gradient g(t) of the loss of its batch at the "
                  "parameters θ(t) and moves them; "
                  + (f"each batch is {training.batch_size} of the {M} samples, taken in order and cycling, so M above "
                     "is the batch size and m counts the batch's samples" if sgd else "every batch is the whole dataset")
                  + ". Every value below is read from cexsearch's exact replay of the run.")
    blocks.append(fmt.heading("The dataset"))
    blocks.append(fmt.math([f"x &= {_rows(fmt, assignment, 'x')}", f"y &= {_rows(fmt, assignment, 'y')}"]))
    velocity: dict[str, Any] = {}
    for t, ex in enumerate(explainers):
        batch = ", ".join(map(str, training.batch(t, M)))
        end = " (the end of the run: the pass a next step would take)" if t == training.steps else ""
        blocks += ex.parameter_blocks(f"Step {t}: parameters θ({t}){end}")
        if sgd:
            full = run.full[t]
            size = len(training.batch(t, M))
            rows = "m = 0" if size == 1 else f"m = 0, ..., {size - 1}"
            blocks.append(f"The batch of step {t}: sample{'s' if size != 1 else ''} {batch} ({rows} "
                          "below)." + (f" The loss on the whole dataset at θ({t}) is {fmt.num(Fraction(full.loss))}."
                                       if full is not None else ""))
        pass_blocks, _ = ex.pass_blocks() if isinstance(net, Network) else _layer_pass(ex)
        blocks += pass_blocks
        if t < training.steps:
            blocks += _update_blocks(fmt, assignment, run, t, velocity)
    blocks += condition_blocks(fmt, check)
    return fmt.document(title, blocks)


def _layer_pass(ex: Any) -> tuple[list[str], Any]:
    grad_blocks, totals = ex.gradient_blocks()
    return ex.forward_blocks() + ex.backward_blocks() + grad_blocks, totals


def _rows(fmt: Format, a: Assignment, name: str) -> str:
    from .explain_format import matrix

    arr = np.asarray(a.flat(name), dtype=object).reshape(a.network.shape(name, a.samples))
    return matrix(fmt, [list(r.reshape(-1)) for r in arr])
