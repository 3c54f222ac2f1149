"""The torch cross-check of a training witness: a PyTorch training loop (torch.optim.SGD) against the exact replay.

Run where PyTorch is installed (``pip install 'cexsearch[torch]'``), skipped elsewhere with that reason.
"""

from __future__ import annotations

import dataclasses
import itertools
import zlib
from fractions import Fraction as F

import numpy as np
import pytest
from typer.testing import CliRunner

from cexsearch.cli import app
from cexsearch.model.network import Network
from cexsearch.model.problem import Assignment, Problem
from cexsearch.model.training import Training
from cexsearch.semantics.numeric import replay
from cexsearch.workflows import crosscheck


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch not installed: pip install 'cexsearch[torch]'")


def assignment(net, samples: int, values: dict, lr: F | None = None) -> Assignment:
    flat = {n: tuple(F(v) for v in np.asarray(values[n], dtype=object).reshape(-1)) for n in net.variable_names()}
    return Assignment(net, samples, tuple((n, flat[n]) for n in net.variable_names()), lr)


def random_values(rng: np.random.Generator, net, samples: int) -> dict:
    """Tenths in [-1, 1]: not exact in float64, so every step rounds."""
    names = list(net.parameter_names()) + ["x", "y"]
    return {n: rng.integers(-10, 11, size=net.shape(n, samples)) * F(1, 10) for n in names}


TRAININGS = [Training(3), Training(3, momentum=F(1, 2)), Training(4, "sgd", 1, momentum=F(9, 10)),
             Training(3, "sgd", 2, first=1)]


@pytest.mark.parametrize(("training", "activation", "at_zero"),
                         list(itertools.product(TRAININGS, ["relu", "leaky_relu"], [0, 1])))
def test_a_torch_training_loop_agrees_with_the_exact_replay(torch, training, activation, at_zero) -> None:
    net = Network.parse("2-3-1", activation=activation, relu_grad_at_zero=at_zero)
    rng = np.random.default_rng(zlib.crc32(f"{training}{activation}{at_zero}".encode()))
    deviations = []
    for _ in range(3):
        a = assignment(net, 3, random_values(rng, net, 3), lr=F(int(rng.integers(1, 6)), 10))
        run = replay(Problem(net, 3, training=training), a)
        report = crosscheck.torch_training_cross_check(a, run)
        assert report.agrees, report.describe()
        assert report.steps == training.steps
        assert f"momentum={float(training.momentum)!r}" in report.note
        deviations.append(report.max_abs_deviation)
    assert max(deviations) > 0  # tenths round in float64: the loop is PyTorch's own numbers, not the exact ones


def test_a_layer_model_trains_the_same(torch) -> None:
    from cexsearch.model import parse_model

    model = parse_model("Sequential(Conv1d(1, 2, 2), ReLU(), MaxPool1d(2), Flatten(), Linear(4, 1))", (1, 5))
    rng = np.random.default_rng(5)
    a = assignment(model, 2, random_values(rng, model, 2), lr=F(1, 10))
    run = replay(Problem(model, 2, training=Training(3, "sgd", 1, momentum=F(1, 2))), a)  # type: ignore[arg-type]
    report = crosscheck.torch_training_cross_check(a, run)
    assert report.agrees, report.describe()


@pytest.mark.parametrize("at_zero", [0, 1])
def test_a_pre_activation_that_reaches_zero_exactly_is_kept_there(torch, at_zero) -> None:
    """1-1-1, x = 1: δ = 2 r W2 = 3/2, so z_1 = (0 - lr δ) + (3/10 - lr δ) = 0 exactly after one step of lr 1/10,
    and about -3e-17 in float64; the derivative there must be the convention's (0 or 1), as the exact run has it."""
    net = Network.parse("1-1-1", relu_grad_at_zero=at_zero)
    a = assignment(net, 1, {"W1": [[0]], "b1": [F(3, 10)], "W2": [[1]], "b2": [0], "x": [[1]], "y": [[F(-9, 20)]]})
    run = replay(Problem(net, 1, training=Training(2, lr=F(1, 10))), a)
    assert run.traces[1].layers[0].output[0, 0] == 0
    report = crosscheck.torch_training_cross_check(a, run)
    assert report.agrees, report.describe()
    assert "put off it by float64 and kept there" in report.note
    grad_w1 = run.traces[1].gradients["W1"][0, 0]
    assert (grad_w1 != 0) == (at_zero == 1)  # the convention decides whether W1 moves at step 1


def test_another_optimizer_disagrees_and_says_where(torch) -> None:
    """Torch trains with momentum 1/2, the exact run had none: step 1 is the same (v_1 = g_0), step 2 is not."""
    net = Network.parse("1-2-1")
    rng = np.random.default_rng(2)
    a = assignment(net, 2, random_values(rng, net, 2), lr=F(1, 2))
    plain = replay(Problem(net, 2, training=Training(2)), a)
    assert any(plain.traces[1].gradients[p].any() for p in net.parameter_names())  # momentum has something to add
    wrong = dataclasses.replace(plain, training=Training(2, momentum=F(1, 2)))
    report = crosscheck.torch_training_cross_check(a, wrong)
    assert not report.agrees
    assert "disagreement" in report.note and "@2" in report.note and "@1" not in report.note.split("disagreement")[1]
    assert "@2" in report.worst
    assert "DISAGREES" in report.describe()


def test_find_cross_checks_a_training_witness(torch) -> None:
    r = CliRunner().invoke(app, ["find", "--net", "1-2-1", "--samples", "2", "--steps", "2", "--optimizer", "sgd",
                                 "--batch-size", "1", "--lr", "1/10", "--momentum", "1/2", "-r", "grad@1(W1) != 0",
                                 "--no-shrink", "--cross-check", "torch"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "cross-check torch training loop: agrees at every one of 3 steps" in text
    assert "torch.optim.SGD(lr=0.1, momentum=0.5)" in text
