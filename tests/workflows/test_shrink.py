"""Shrinking: simpler witnesses, every one confirmed, and honest statements about what was proven."""

from __future__ import annotations

from fractions import Fraction
from fractions import Fraction as F

import pytest

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import search
from cexsearch.semantics import numeric
from cexsearch.workflows.shrink import shrink

SEED = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"]


def seed_problem():
    return build_problem(NetworkSettings().network("1-1-1"), 3, SEED)


SEED_SCRIPT = """
from cexsearch.api import NetworkSettings, build_problem
from cexsearch.engine.search import search
from cexsearch.workflows.shrink import shrink
from cexsearch.semantics import numeric
p = build_problem(NetworkSettings().network("1-1-1"), 3, %r)
r = shrink(p, search(p), time_limit=120)
w = r.outcome.witness
values = [v for _, _, v in w.items()]
assert all(v.denominator == 1 for v in values), values
assert max(abs(v) for v in values) == 2, values
assert "no integer witness with every free value in [-1, 1]" in r.proven, r.proven
assert numeric.recheck(p, w).confirmed
print("ok")
"""


def test_seed_001_shrinks_to_integers_of_size_2_with_a_proof_for_size_1():
    # In a fresh interpreter, as a user runs it: Z3's term numbering carries over inside one
    # process, which changes which checks fit their resource budgets.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SEED_SCRIPT % (SEED,)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_shrink_respects_fixed_values_and_confirms():
    p = build_problem(NetworkSettings().network("1-1-1"), 3, SEED, ["W1=1", "W2=1"])
    result = shrink(p, search(p), time_limit=30)
    w = result.outcome.witness
    assert w.entry("W1", (0, 0)) == 1 and w.entry("W2", (0, 0)) == 1
    assert numeric.recheck(p, w).confirmed


def test_interrupted_by_its_time_limit_keeps_the_best_confirmed_witness():
    p = seed_problem()
    first = search(p)
    result = shrink(p, first, time_limit=0.0)
    assert result.outcome.witness == first.witness
    assert "best found within the time limit" in result.notes


def test_non_integer_problem_gets_small_denominators():
    # 2 r = 1/10 forces r = 1/20 (with x = 1 fixed): no integer witness, but a witness in halves... of tenths
    p = build_problem(NetworkSettings().network("1-1"), 1, ["grad(b1) == 1/10"], ["x=1"], )
    result = shrink(p, search(p), time_limit=30)
    w = result.outcome.witness
    assert numeric.recheck(p, w).confirmed
    assert any("integer" in s for s in result.proven)
    assert all((v * 20).denominator == 1 for _, _, v in w.items())


def test_every_step_is_rechecked(monkeypatch):
    p = seed_problem()
    calls = []
    real = numeric.recheck

    def spy(problem, a):
        out = real(problem, a)
        calls.append(out.confirmed)
        return out

    monkeypatch.setattr(numeric, "recheck", spy)
    shrink(p, search(p, SearchOptions()), time_limit=30)
    assert calls and all(calls)
    assert Fraction(1) > 0


FIND = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0"]


def headline(samples: int = 6):
    return build_problem(NetworkSettings().network("10-10-1"), samples, FIND)


def test_a_large_problem_is_shrunk_locally_and_says_what_it_achieved():
    p = headline()
    found = search(p)
    result = shrink(p, found)
    assert numeric.recheck(p, result.outcome.witness).confirmed
    assert "too large to shrink exhaustively" in result.statement
    before = sum(v != 0 for _, _, v in found.witness.items())
    after = sum(v != 0 for _, _, v in result.outcome.witness.items())
    assert after < before, result.statement


@pytest.mark.slow
def test_the_local_shrink_is_the_same_on_every_run(tmp_path):
    # Fresh processes, as a user runs the command: inside one process Z3's term numbering carries
    # over, which changes the models of the targets' re-solve.
    import json
    import subprocess
    import sys

    docs = []
    for run in range(2):
        out = tmp_path / f"w{run}.json"
        args = ["find", "--net", "10-10-1", "--samples", "6", *[a for c in FIND for a in ("-r", c)], "--json", str(out)]
        proc = subprocess.run([sys.executable, "-m", "cexsearch", *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(out.read_text())
        docs.append((doc["values"], doc["shrink"]))
    assert docs[0] == docs[1]


def test_the_time_limit_bounds_a_local_shrink_and_keeps_the_witness():
    p = headline()
    found = search(p)
    result = shrink(p, found, time_limit=0.0)
    assert result.outcome.witness == found.witness
    assert "time limit" in result.statement and "kept the solver's witness" in result.statement


def test_a_failing_step_keeps_the_confirmed_witness(monkeypatch):
    from cexsearch.engine import grid
    from cexsearch.workflows import shrink_local

    def broken(*args, **kwargs):
        raise RuntimeError("a sub-search crashed")

    p = seed_problem()
    found = search(p)
    monkeypatch.setattr(grid, "search_grid", broken)
    monkeypatch.setattr(shrink_local.numeric, "satisfies", broken)
    for problem, first in ((p, found), (headline(), search(headline()))):
        result = shrink(problem, first)  # what came before the crash (a Z3 re-solve) may be kept
        assert numeric.recheck(problem, result.outcome.witness).confirmed
        assert "a shrink step failed (RuntimeError: a sub-search crashed)" in result.statement
    assert shrink(p, found).outcome.witness == found.witness  # the grid was its first step


def test_a_solver_disagreement_is_never_swallowed(monkeypatch):
    from cexsearch.errors import SolverDisagreement
    from cexsearch.workflows import shrink_local

    def disagree(*args, **kwargs):
        raise SolverDisagreement("the re-check disagrees")

    monkeypatch.setattr(shrink_local.numeric, "satisfies", disagree)
    p = headline()
    with pytest.raises(SolverDisagreement):
        shrink(p, search(p))


def test_a_layer_witness_is_shrunk_locally_and_stays_confirmed():
    from cexsearch.api import build_problem, layer_network
    from cexsearch.engine.search import SearchStats, confirm
    from cexsearch.semantics.numeric import recheck
    from cexsearch.workflows.shrink import shrink
    from cexsearch.workflows.shrink_local import simplicity

    model = layer_network("Sequential(Linear(1, 2), Hardtanh(), Linear(2, 1))", "1")  # no MLP twin: local steps
    problem = build_problem(model, 2, ["grad(W2) != 0"])
    messy = {("W1", (0, 0)): F(3, 2), ("W1", (1, 0)): F(-5, 7), ("b1", (0,)): F(7, 3), ("b1", (1,)): F(1, 9),
             ("W2", (0, 0)): F(11, 4), ("W2", (0, 1)): F(-2, 3), ("b2", (0,)): F(1, 5),
             ("x", (0, 0)): F(5, 2), ("x", (1, 0)): F(-13, 6), ("y", (0, 0)): F(-1, 3), ("y", (1, 0)): F(8, 5)}
    outcome = confirm(problem, messy, SearchStats("test", 1))
    result = shrink(problem, outcome, time_limit=30)
    assert recheck(problem, result.outcome.witness).confirmed
    keys = problem.free_keys()
    after = {(n, i): v for n, i, v in result.outcome.witness.items()}
    assert simplicity(keys, after) < simplicity(keys, messy)
    assert "a layer network is shrunk by local steps only" in result.statement
