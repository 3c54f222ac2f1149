"""The Z3 encoding (cexsearch.engine.encoding) against the reference semantics (cexsearch.semantics.numeric).

The two are independent readings of one semantics.  Random small networks with
random small rationals (exact zeros often, so pre-activations of exactly 0
happen) are pushed through both:

* with every value fixed and numeric's activation pattern, every yhat and
  grad(P) entry of the encoding simplifies to numeric's Fraction, the pattern's
  sign constraints all hold and flipping any one bit violates one of them;
* the If-encoding (open bits) admits the model with numeric's gradients and
  no other;
* run_search() finds exactly numeric's values when they satisfy the
  conditions and answers "none" when numeric says a condition is false.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
import z3
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cexsearch.engine.encoding import Encoding, to_z3
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import search as run_search
from cexsearch.lang import parse
from cexsearch.model.network import Network, entries
from cexsearch.model.problem import Assignment, FixedValues, Problem
from cexsearch.semantics import numeric

# The property tests below are cheap (a few ms an example): run three times the profile's count.
MANY = settings(max_examples=3 * settings.default.max_examples)

# Small rationals, zero often: products and sums of these hit 0 exactly.
VALUES = [F(0)] * 4 + [F(v) for v in (-2, -1, 1, 2, 1, -1)] + [F(1, 2), F(-1, 2), F(1, 3), F(-3, 2), F(2, 3)]
values = st.sampled_from(VALUES)


@st.composite
def cases(draw) -> Assignment:
    depth = draw(st.integers(1, 3))
    widths = tuple(draw(st.integers(1, 3)) for _ in range(depth + 1))
    net = Network(
        widths,
        activation=draw(st.sampled_from(["relu", "leaky_relu", "linear"])),
        bias=draw(st.booleans()),
        loss=draw(st.sampled_from(["mse", "sse"])),
        relu_grad_at_zero=draw(st.sampled_from([0, 1])),
    )
    samples = draw(st.integers(1, 3))
    flat = []
    for name in net.variable_names():
        size = int(np.prod(net.shape(name, samples)))
        flat.append((name, tuple(draw(st.lists(values, min_size=size, max_size=size)))))
    return Assignment(net, samples, tuple(flat))


def seed_001() -> Assignment:
    net = Network.parse("1-1-1", activation="relu", bias=True, loss="mse")
    return Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
                               ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))


def flat_pattern(ev: numeric.Evaluation, samples: int) -> list[list[bool]]:
    """numeric's per-layer M x width patterns as the encoding's pattern[m][u] (units layer by layer)."""
    return [[bool(v) for layer in ev.pattern for v in layer[m]] for m in range(samples)]


def all_fixed(a: Assignment, conditions: tuple = ()) -> Problem:
    return Problem(a.network, a.samples, conditions, FixedValues(tuple(a.items())))


def exact(term) -> F:
    """A Z3 term that must simplify to a rational numeral, as a Fraction."""
    s = z3.simplify(to_z3(term))
    assert z3.is_rational_value(s), f"{term} does not simplify to a number: {s}"
    return F(s.numerator_as_long(), s.denominator_as_long())


def entry_text(key: str, idx: tuple) -> str:
    return key + ("[" + ", ".join(map(str, idx)) + "]" if idx else "")


# --------------------------------------------------------------------------
# Fixed pattern: every value, yhat and gradient agrees exactly


def check_pattern_encoding(a: Assignment) -> None:
    ev = numeric.evaluate(a)
    pattern = flat_pattern(ev, a.samples)
    enc = Encoding(all_fixed(a))
    assert enc.free == {}
    env = enc.environment(pattern)
    expected = numeric.environment(a, ev)
    assert set(env) == set(expected)
    for key, arr in expected.items():
        assert env[key].shape == arr.shape, key
        for idx in np.ndindex(arr.shape):
            assert exact(env[key][idx]) == arr[idx], (entry_text(key, idx), a.network.describe())

    # numeric's branch choice satisfies every sign constraint ...
    constraints = enc.pattern_constraints(pattern)
    assert all(z3.is_true(z3.simplify(c)) for c in constraints), constraints
    # ... and is the only one: flipping any single bit violates one (also at exactly 0).
    if a.network.has_patterns:
        for m in range(a.samples):
            for u in range(len(enc.units)):
                flipped = [row[:] for row in pattern]
                flipped[m][u] = not flipped[m][u]
                cs = enc.pattern_constraints(flipped)
                assert any(z3.is_false(z3.simplify(c)) for c in cs), (m, u, pattern, cs)
    else:
        assert constraints == []


@MANY
@given(cases())
@example(seed_001())
def test_fixed_pattern_encoding_agrees_with_numeric(a):
    check_pattern_encoding(a)


def test_fixed_pattern_encoding_seed_001():
    a = seed_001()
    check_pattern_encoding(a)
    ev = numeric.evaluate(a)
    env = Encoding(all_fixed(a)).environment(flat_pattern(ev, 3))
    assert [exact(env[f"grad({p})"].reshape(-1)[0]) for p in ("W1", "b1", "W2", "b2")] == \
        [F(-2, 3), F(-2, 3), 0, 0]
    assert [exact(t) for t in env["yhat"].reshape(-1)] == [-1, 0, 1]


@pytest.mark.parametrize("rgz", [0, 1])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_unit_at_exactly_zero_follows_the_setting(activation, rgz):
    # z1 = W1 x + b1 = 1 - 1 = 0 exactly for the only sample.
    net = Network.parse("1-1-1", activation=activation, relu_grad_at_zero=rgz)
    a = Assignment(net, 1, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(3),)), ("b2", (F(1),)),
                            ("x", (F(1),)), ("y", (F(0),))))
    ev = numeric.evaluate(a)
    assert ev.pre_activations[0][0, 0] == 0
    assert ev.pattern[0][0, 0] == bool(rgz)
    enc = Encoding(all_fixed(a))
    assert enc.pattern_constraints([[bool(rgz)]]) == []
    assert any(z3.is_false(z3.simplify(c)) for c in enc.pattern_constraints([[not rgz]]))
    check_pattern_encoding(a)


# --------------------------------------------------------------------------
# The If-encoding: every bit open


def open_pattern(a: Assignment) -> list[list[None]]:
    units = sum(a.network.hidden_widths)
    return [[None] * units for _ in range(a.samples)]


def grad_mismatch(env: dict, expected: dict) -> z3.BoolRef:
    """Some yhat or gradient entry differs from numeric's."""
    diffs = [to_z3(env[k][idx]) != to_z3(v[idx])
             for k, v in expected.items() if k == "yhat" or k.startswith("grad(")
             for idx in np.ndindex(v.shape)]
    return z3.Or(*diffs) if diffs else z3.BoolVal(False)


def check_if_encoding(a: Assignment, enc: Encoding, pins: list) -> None:
    ev = numeric.evaluate(a)
    expected = numeric.environment(a, ev)
    pattern = open_pattern(a)
    env = enc.environment(pattern)
    constraints = enc.pattern_constraints(pattern)
    solver = z3.Solver()
    solver.set("timeout", 20000)
    solver.add(*pins)
    solver.add(*constraints)
    assert solver.check() == z3.sat
    model = solver.model()
    for key, arr in expected.items():
        if key == "yhat" or key.startswith("grad("):
            for idx in np.ndindex(arr.shape):
                got = model.eval(to_z3(env[key][idx]), model_completion=True)
                assert z3.is_rational_value(got), got
                assert F(got.numerator_as_long(), got.denominator_as_long()) == arr[idx], \
                    (entry_text(key, idx), a.network.describe(), model)
    # The bits are determined by the values, so no model may give other gradients.
    solver.add(grad_mismatch(env, expected))
    assert solver.check() == z3.unsat, solver.model() if solver.check() == z3.sat else solver.reason_unknown()


@MANY
@given(cases())
@example(seed_001())
def test_if_encoding_values_pinned_by_equalities(a):
    # Values as solver equalities (not Problem.fixed): every pre-activation is a
    # Z3 term, so every open bit gets its sign constraint.
    enc = Encoding(Problem(a.network, a.samples))
    pins = [var == to_z3(a.entry(name, idx)) for (name, idx), var in enc.free.items()]
    assert len(pins) == sum(len(flat) for _, flat in a.values)
    check_if_encoding(a, enc, pins)


# Regression: a constant pre-activation with an open bit once left the bit free.
def test_if_encoding_fixed_values_seed_001():
    a = seed_001()
    check_if_encoding(a, Encoding(all_fixed(a)), [])


@given(cases())
@example(seed_001())
def test_if_encoding_fixed_values(a):
    check_if_encoding(a, Encoding(all_fixed(a)), [])


def test_if_encoding_fixed_values_without_hidden_units():
    # No hidden units (or no kinks): nothing for the bug above to reach.
    for net, flat in [
        (Network.parse("2-1"), (("W1", (F(1), F(-2))), ("b1", (F(1, 2),)), ("x", (F(1), F(0), F(2), F(1))),
                                ("y", (F(0), F(1))))),
        (Network.parse("1-2-1", activation="linear"),
         (("W1", (F(1), F(-2))), ("b1", (F(0), F(1))), ("W2", (F(3), F(1))), ("b2", (F(0),)),
          ("x", (F(1), F(2))), ("y", (F(0), F(0))))),
    ]:
        a = Assignment(net, 2, flat)
        check_if_encoding(a, Encoding(all_fixed(a)), [])


# --------------------------------------------------------------------------
# search(): every value fixed, conditions taken from numeric


def exact_text(v: F) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def true_conditions(a: Assignment, ev: numeric.Evaluation) -> list[str]:
    """One condition per gradient and yhat entry, with numeric's value."""
    out = []
    env = numeric.environment(a, ev)
    for key in ["yhat"] + [f"grad({p})" for p in a.network.parameter_names()]:
        arr = env[key]
        for idx in np.ndindex(arr.shape):
            out.append(f"{entry_text(key, idx)} == {exact_text(arr[idx])}")
    return out


def check_search(a: Assignment) -> None:
    ev = numeric.evaluate(a)
    texts = true_conditions(a, ev)
    conds = tuple(parse(t) for t in texts)
    outcome = run_search(all_fixed(a, conds), SearchOptions(timeout=60))
    assert outcome.verdict == "found", (outcome.reason, texts)
    assert outcome.witness == a
    assert outcome.recheck is not None and outcome.recheck.confirmed
    for p, g in ev.gradients.items():
        assert outcome.recheck.evaluation.gradients[p].tolist() == g.tolist()
    if a.network.has_patterns:
        assert [list(row) for row in outcome.pattern] == flat_pattern(ev, a.samples)

    # A condition numeric says is false: off by 1/7 in the last gradient entry.
    last = texts[-1]
    lhs, value = last.split(" == ")
    wrong = parse(f"{lhs} == {value} + 1/7")
    outcome = run_search(all_fixed(a, conds[:-1] + (wrong,)), SearchOptions(timeout=60))
    assert outcome.verdict == "none", outcome.reason
    assert outcome.witness is None
    # Tensor-wide conditions: every yhat entry is at least the smallest one, none is below it.
    low = exact_text(min(ev.yhat.reshape(-1)))
    assert run_search(all_fixed(a, (parse(f"all(yhat >= {low})"), parse(f"yhat >= {low}"))),
                         SearchOptions(timeout=60)).verdict == "found"
    assert run_search(all_fixed(a, (parse(f"any(yhat < {low})"),)), SearchOptions(timeout=60)).verdict == "none"


@given(cases())
@example(seed_001())
def test_search_with_every_value_fixed_agrees_with_numeric(a):
    check_search(a)


def test_search_seed_001():
    a = seed_001()
    check_search(a)
    conds = tuple(parse(t) for t in ("grad(W2) == 0", "grad(b2) == 0", "grad(W1) == -2/3", "grad(b1) == -2/3"))
    outcome = run_search(all_fixed(a, conds))
    assert outcome.verdict == "found"
    assert outcome.pattern == ((False,), (True,), (True,))
    assert outcome.witness == a
    assert run_search(all_fixed(a, (parse("grad(W1) != 0"), parse("grad(W2) != 0")))).verdict == "none"


def test_search_seed_001_with_relu_grad_at_zero_one_sees_no_difference():
    # No unit of seed-001 is at exactly 0, so the setting does not change its gradients.
    a = seed_001()
    net = Network.parse("1-1-1", relu_grad_at_zero=1)
    b = Assignment(net, 3, a.values)
    assert {p: g.tolist() for p, g in numeric.exact_gradients(b).items()} == \
        {p: g.tolist() for p, g in numeric.exact_gradients(a).items()}
    check_pattern_encoding(b)
    check_search(b)


def test_fixed_values_cover_every_entry():
    # all_fixed really fixes every entry (the premise of the tests above).
    a = seed_001()
    p = all_fixed(a)
    wanted = {(n, i) for n in a.network.variable_names() for i in entries(a.network.shape(n, a.samples))}
    assert set(p.fixed.as_dict()) == wanted
