"""The training run: the exact semantics by hand, and the Z3 encoding of it against the exact replay."""

from __future__ import annotations

import random
from fractions import Fraction as F

import numpy as np
import pytest

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import search
from cexsearch.errors import SpecError
from cexsearch.model import Model
from cexsearch.model.training import Training
from cexsearch.semantics import EXACT, FLOAT
from cexsearch.semantics.training import unroll


def test_momentum_by_hand():
    # L = (w x - y)^2 on x = 1, y = 1: g = 2 (w - 1).  w0 = 0, lr = 1/4, mu = 1/2:
    # g0 = -2, v1 = -2, w1 = 1/2; g1 = -1, v2 = 1/2 * -2 - 1 = -2, w2 = 1/2 + 1/2 = 1
    m = Model.from_mlp("1-1", bias=False)
    run = unroll(m, {"W1": [[0]]}, [[1]], [[1]], Training(2, lr=F(1, 4), momentum=F(1, 2)), F(1, 4), EXACT)
    assert [p["W1"][0, 0] for p in run.params] == [0, F(1, 2), 1]
    assert run.environment()["loss@2"] == 0


def test_sgd_cycles_through_the_dataset_in_order():
    t = Training(4, "sgd", batch_size=2)
    assert [t.batch(s, 3) for s in range(4)] == [(0, 1), (2, 0), (1, 2), (0, 1)]
    m = Model.from_mlp("1-1", bias=False)
    # each step trains on one sample: x = 1, y = 2 then x = 1, y = 0 (lr 1/4: w <- w - (w x - y) x / 2)
    run = unroll(m, {"W1": [[0]]}, [[1], [1]], [[2], [0]], Training(2, "sgd", batch_size=1, lr=F(1, 4)), F(1, 4), EXACT)
    assert [p["W1"][0, 0] for p in run.params] == [0, 1, F(1, 2)]
    # loss@t is over the whole dataset: mean of (w - 2)^2 and w^2
    assert run.environment()["loss@1"] == F(1 + 1, 2)


def test_float_run_follows_the_exact_one():
    rng = random.Random(3)
    m = Model.from_mlp("2-3-1")
    params = {p.name: np.array([F(rng.randint(-4, 4), 2) for _ in range(int(np.prod(p.shape)))], dtype=object)
              .reshape(p.shape) for p in m.parameters()}
    x = [[F(rng.randint(-3, 3)), F(rng.randint(-3, 3))] for _ in range(3)]
    y = [[F(rng.randint(-3, 3))] for _ in range(3)]
    exact = unroll(m, params, x, y, Training(3, lr=F(1, 10)), F(1, 10), EXACT)
    approx = unroll(m, params, x, y, Training(3, lr=F(1, 10)), 0.1, FLOAT)
    for e, a in zip(exact.params, approx.params):
        for name in e:
            assert np.allclose(np.asarray(e[name], dtype=float), np.asarray(a[name], dtype=float))


@pytest.mark.parametrize("training", [Training(2), Training(2, "sgd", batch_size=1), Training(1, momentum=F(1, 2)),
                                      Training(2, lr=F(1, 3))])
def test_the_encoded_run_is_the_exact_run(training):
    """Every value fixed: the solver must find W1@K and loss@K at exactly the replayed values, and nothing else."""
    rng = random.Random(hash(repr(training)) % 1000)
    net = NetworkSettings().network("1-2-1")
    m = Model.from_network(net)
    params = {p.name: np.array([F(rng.randint(-4, 4), 2) for _ in range(int(np.prod(p.shape)))], dtype=object)
              .reshape(p.shape) for p in m.parameters()}
    x = [[F(rng.randint(-3, 3))] for _ in range(2)]
    y = [[F(rng.randint(-3, 3))] for _ in range(2)]
    lr = training.lr if training.lr is not None else F(1, 2)
    run = unroll(m, params, x, y, training, lr, EXACT)
    K = training.steps
    def listed(a):
        return "[" + ",".join(listed(r) for r in a) + "]" if isinstance(a, (list, np.ndarray)) else str(a)

    fixes = [f"{name}={listed(np.asarray(params[name]))}" for name in params]
    fixes += [f"x={listed(np.asarray(x))}", f"y={listed(np.asarray(y))}"]
    pinned = [] if training.lr is not None else [f"lr == {lr}"]
    # step 0's plain grad(P) is the whole dataset's gradient, also under sgd (whose step 0 trains on a batch)
    pinned.append(f"grad(b2)[0] == {run.full[0].gradients['b2'][0]}")
    same = build_problem(net, 2, pinned + [f"loss@K == {run.full[K].loss}"]
                         + [f"W1@K[{i}, 0] == {v}" for i, v in enumerate(np.asarray(run.params[K]["W1"]).reshape(-1))],
                         fixes, training=training)
    found = search(same, SearchOptions(timeout=60))
    assert found.verdict == "found"
    other = build_problem(net, 2, pinned + [f"loss@K != {run.full[K].loss}"], fixes, training=training)
    assert search(other, SearchOptions(timeout=60)).verdict == "none"


def test_training_settings_are_checked():
    with pytest.raises(SpecError, match="--batch-size needs --optimizer sgd"):
        Training(1, batch_size=2)
    with pytest.raises(SpecError, match="--lr must be positive"):
        Training(1, lr=F(0))
    with pytest.raises(SpecError, match="larger than the dataset"):
        build_problem(NetworkSettings().network("1-1-1"), 2, ["W1@1 != 0"], training=Training(1, "sgd", batch_size=3))


def test_plain_gradients_under_sgd_are_the_whole_datasets():
    """grad(P) without a step is step 0's gradient of the dataset's loss, as without training; the
    gradient sgd's step 0 uses is grad@0(P), its batch's."""
    net = NetworkSettings().network("1-1-1")
    fixes = ["W1=1", "b1=0", "W2=1", "b2=0", "x=[[1],[2]]", "y=[[0],[0]]"]
    training = Training(1, "sgd", batch_size=1)
    # yhat = (1, 2), residuals (1, 2): the dataset's grad(b2) = (2/2)(1 + 2) = 3, the batch's (sample 0) 2
    for cond, verdict in (("grad(b2) == 3", "found"), ("grad@0(b2) == 2", "found"), ("grad(b2) != 3", "none")):
        problem = build_problem(net, 2, [cond, "lr == 1"], fixes, training=training)
        assert search(problem, SearchOptions(timeout=30)).verdict == verdict, cond
