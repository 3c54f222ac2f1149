"""The exhaustive grid search against the exact re-check, point by point, on random small problems."""

from __future__ import annotations

import random
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.engine import grid
from cexsearch.errors import InputError
from cexsearch.model.network import Network
from cexsearch.model.problem import Assignment
from cexsearch.semantics import numeric

SEED = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"]
NETS = ["1-1-1", "1-2-1", "2-1-1", "1-1-2", "1-2", "1-1-1-1"]
CONDITIONS = [
    "grad(W1) == 0", "grad(b1) != 0", "grad(W1)[0, 0] > 1/3", "yhat <= y", "all(grad(W1) >= -1)",
    "any(x != y)", "grad(W1) * 2 + grad(b1)[0] / 3 == 1", "not (grad(W1) == 0) or yhat == 0",
    "2 * W1[0, 0] - x[0, 0] < 1/2", "grad(W2) == 0", "grad(b2) == 0", "grad(W2) != 0", "all(yhat > -1)",
    "any(grad(W1) < 0) and grad(b1)[0] >= 0", "yhat[0, 0] == y[0, 0] + 1", "grad(W1)[0, 0] == -grad(b1)[0]",
]


def _problem(rng: random.Random):
    net = Network.parse(rng.choice(NETS), activation=rng.choice(["relu", "relu", "leaky_relu", "linear"]),
                        leaky_slope=Fraction(rng.choice([1, 2]), rng.choice([3, 10])), bias=rng.random() < 0.8,
                        loss=rng.choice(["mse", "sse"]), relu_grad_at_zero=rng.choice([0, 1]))
    samples = rng.choice([1, 2])
    conds = []
    for text in rng.sample(CONDITIONS, rng.choice([1, 2, 3])):
        try:
            build_problem(net, samples, [text])
            conds.append(text)
        except InputError:
            pass
    if not conds:
        return None
    p = build_problem(net, samples, conds)
    g = rng.choice([1, 1, 2])
    keys = p.free_keys()
    fixes = []
    while (3 if g == 1 else 5) ** (len(keys) - len(fixes)) > 3000:
        name, idx = keys[len(fixes)]
        fixes.append(f"{name}{list(idx)}={rng.choice(['1', '-1', '1/2', '3', '0', '-2/3'])}".replace(" ", ""))
    p = build_problem(net, samples, conds, fixes)
    return replace(p, domain=replace(p.domain, denominator=g, max_abs=Fraction(1)))


def _assignment(p, point):
    return Assignment.from_entries(p.network, p.samples, {**p.fixed.as_dict(), **point})


@pytest.mark.parametrize("seed", range(40))
def test_every_grid_point_agrees_with_the_exact_recheck(seed):
    rng = random.Random(seed)
    p = None
    while p is None:
        p = _problem(rng)
    g = grid.grid_of(p)
    assert g.points <= 3000
    [(combo, mask)] = list(grid.blocks(p, g))
    assert combo == ()
    full = np.broadcast_to(mask, (g.base,) * len(g.keys))
    everything = list(np.ndindex(full.shape))
    sample = everything if len(everything) <= 300 else rng.sample(everything, 300)
    sample += [tuple(int(i) for i in ix) for ix in zip(*np.nonzero(full))][:30]
    for digits in sample:
        exact = numeric.recheck(p, _assignment(p, g.point(digits))).confirmed
        assert bool(full[digits]) == exact, (p.network.describe(), [c.text for c in p.conditions], g.point(digits))
    answer = grid.search_grid(p)
    assert (answer.best is None) == (not full.any())
    if answer.best is not None:
        assert numeric.recheck(p, _assignment(p, answer.best)).confirmed


def test_the_best_point_is_the_simplest_and_blocks_cover_the_grid(monkeypatch):
    p = build_problem(NetworkSettings().network("1-1-1"), 3, SEED)
    q = replace(p, domain=replace(p.domain, denominator=1, max_abs=Fraction(1)))
    assert grid.search_grid(q).best is None  # seed 001 has no witness in [-1, 1]
    q = replace(p, domain=replace(p.domain, denominator=1, max_abs=Fraction(2)))
    whole = grid.search_grid(q)
    monkeypatch.setattr(grid, "CHUNK_POINTS", 5**6)  # 4 leading axes looped over instead of 2
    assert grid.search_grid(q).best == whole.best
    values = list(whole.best.values())
    assert max(abs(v) for v in values) == 2 and sum(v != 0 for v in values) == 8 and sum(map(abs, values)) == 10
    assert numeric.recheck(q, _assignment(q, whole.best)).confirmed


def test_declines_what_could_overflow_or_is_too_large():
    p = build_problem(NetworkSettings().network("1-1-1"), 3, SEED, ["W1=" + str(2**40), "W2=" + str(2**40)])
    q = replace(p, domain=replace(p.domain, denominator=1, max_abs=Fraction(1)))
    with pytest.raises(grid.Declined):
        grid.search_grid(q)
    q = replace(p, domain=replace(p.domain, denominator=1, max_abs=Fraction(100)))
    with pytest.raises(grid.Declined):
        grid.search_grid(q)
