"""--explain of a training witness: one derivation per step, read from the exact replay, then each update."""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction as F

import numpy as np
import pytest

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


@pytest.mark.parametrize("widths_or_model", ["1-2-2-1", "2-2-2", "layers"])
def test_deeper_networks_are_written_from_the_deltas_the_replay_keeps(widths_or_model) -> None:
    """The exact replay keeps backprop's output gradients at every step, so deeper MLPs, several outputs and
    layer models are written too."""
    from cexsearch.model import parse_model

    if widths_or_model == "layers":
        net = parse_model("Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(4, 1))", (1, 3))
        rng = np.random.default_rng(3)
        a = Assignment(net, 2, tuple((n, tuple(F(int(v), 2) for v in rng.integers(-3, 4, int(np.prod(net.shape(n, 2))))))
                                     for n in net.variable_names()))  # type: ignore[arg-type]
    else:
        a = witness(widths_or_model, 2, seed=4)
    p = Problem(a.network, 2, training=Training(2, "sgd", 1, F(1, 2), F(1, 2)))
    text = explain(p, a, "markdown")
    assert "## Step 2: Gradients" in text and text.count(": the update") == 2
    assert ("## Step 1: Backprop deltas" in text) == (widths_or_model != "2-2-2")  # one hidden layer: no delta table


def test_find_and_verify_explain_a_training_witness(tmp_path) -> None:
    from typer.testing import CliRunner

    from cexsearch.cli import app

    runner = CliRunner()
    doc = tmp_path / "w.json"
    r = runner.invoke(app, ["find", "--net", "1-2-1", "--samples", "2", "--steps", "2", "-r", "W2 == 0",
                            "-r", "grad@2(W1) != 0", "--no-shrink", "--json", str(doc), "--explain", "markdown"])
    assert r.exit_code == 0, r.output
    assert "# Training witness: 1-2-1, M = 2 samples, 2 steps of gd" in r.output
    r2 = runner.invoke(app, ["verify", str(doc), "--explain", "markdown"])
    assert r2.exit_code == 0, r2.output
    assert "## Step 2: Gradients" in r2.output and "`grad@2(W1) != 0`: holds" in r2.output


def test_find_explains_a_deep_training_run() -> None:
    from typer.testing import CliRunner

    from cexsearch.cli import app

    r = CliRunner().invoke(app, ["find", "--net", "1-2-2-1", "--samples", "2", "--steps", "1", "-r", "grad@1(W1) != 0",
                                 "--explain", "markdown", "--no-shrink"])
    assert r.exit_code == 0, r.output
    assert "## Step 1: Backprop deltas" in r.output and "## Step 0: the update" in r.output
