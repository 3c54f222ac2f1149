"""--explain of a training witness: one derivation per step, read from the exact replay, then each update."""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction as F

import numpy as np
import pytest

from cexsearch.errors import InputError
from cexsearch.model.network import Network
from cexsearch.model.problem import Assignment, Problem
from cexsearch.model.training import Training
from cexsearch.output import explain as explain_module
from cexsearch.output import explain_training as training_module
from cexsearch.output.explain import explain
from cexsearch.semantics.numeric import recheck, replay


def witness(widths: str = "1-2-1", samples: int = 2, seed: int = 0) -> Assignment:
    net = Network.parse(widths)
    rng = np.random.default_rng(seed)
    values = []
    for name in net.variable_names():
        size = int(np.prod(net.shape(name, samples)))
        values.append((name, tuple(F(int(v), 2) for v in rng.integers(-3, 4, size=size))))
    return Assignment(net, samples, tuple(values))


def problem(a: Assignment, training: Training) -> Problem:
    return Problem(a.network, a.samples, training=training)


@pytest.mark.parametrize("training", [Training(2, lr=F(1, 2)), Training(3, "sgd", 1, F(1, 3), F(1, 2))])
def test_one_derivation_per_step_and_every_update(training) -> None:
    a = witness()
    p = problem(a, training)
    text = explain(p, a, "markdown")
    for t in range(training.steps + 1):
        assert f"## Step {t}: parameters θ({t})" in text
        assert f"## Step {t}: Data and forward pass" in text
        assert f"## Step {t}: Gradients" in text
    assert text.count(": the update") == training.steps
    assert f"## Step {training.steps}: the update" not in text
    # one update line per parameter entry and step, ending in the run's θ_{t+1}
    run = replay(p, a)
    entries = sum(int(np.prod(a.network.shape(n, 1))) for n in a.network.parameter_names())
    updates = re.findall(r"\^\{\((\d+)\)\} &= .*\^\{\((\d+)\)\} - \\eta.* = (\S+?)(?: \\\\)?$", text, re.M)
    assert len(updates) == entries * training.steps
    last = [F(v) for after, _, v in updates if after == str(training.steps)]
    assert last == [F(v) for n in a.network.parameter_names() for v in run.params[-1][n].reshape(-1)]
    if training.momentum:
        assert "v^{(2)}_{W_{1}[0,0]} &= 1/2 \\cdot" in text
    if training.batch_size:
        assert "The batch of step 1: sample 1 (m = 0 below)." in text


def test_the_steps_are_read_from_the_replay_not_traced_again(monkeypatch) -> None:
    def no_trace(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("explain traced a step itself")

    monkeypatch.setattr(explain_module, "trace", no_trace)
    a = witness()
    assert "## Step 2: Gradients" in explain(problem(a, Training(2, lr=F(1, 4))), a, "markdown")


def test_an_update_that_differs_from_the_run_is_refused(monkeypatch) -> None:
    real = training_module.recheck

    def skewed(p, a):  # type: ignore[no-untyped-def]
        check = real(p, a)
        run = check.run
        moved = dict(run.params[1])
        moved["b2"] = moved["b2"] + 1
        return dataclasses.replace(check, run=dataclasses.replace(run, params=(run.params[0], moved, *run.params[2:])))

    monkeypatch.setattr(training_module, "recheck", skewed)
    a = witness()
    with pytest.raises(AssertionError, match=r"b2\[0\] after step 0"):
        explain(problem(a, Training(2, lr=F(1, 2))), a, "markdown")


def test_latex_and_the_conditions() -> None:
    a = witness()
    p = Problem(a.network, 2, training=Training(1, lr=F(1, 2)))
    text = explain(p, a, "latex")
    assert "\\section*{Step 0: the update}" in text and "\\section*{Step 1: Gradients}" in text
    assert "\\begin{document}" in text and recheck(p, a).confirmed


def test_a_network_whose_derivation_needs_backprop_deltas_is_refused_with_the_reason() -> None:
    a = witness("1-2-2-1", 2)
    with pytest.raises(InputError, match="keep no backprop deltas per layer") as e:
        explain(problem(a, Training(1, lr=F(1, 2))), a, "markdown")
    assert "1-2-2-1" in (e.value.hint or "")
