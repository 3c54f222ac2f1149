"""The condition language: parsing, static checks with error columns, and its meaning.

Meaning is pinned with lang.ExactBackend over small object arrays of
Fractions, and every condition is read a second time through encode.Z3Backend
over the same arrays (converted with encode.to_z3): z3.simplify must give the
same truth value, so the exact re-check and the encoding read conditions alike.
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st

from cexsearch import lang as C
from cexsearch.engine.encoding import Z3Backend, to_z3
from cexsearch.errors import ConditionError, InputError
from cexsearch.model.network import Network


def obj(rows) -> np.ndarray:
    """A nested list as an object array of Fractions."""
    shape = np.array(rows, dtype=object).shape
    out = np.empty(shape, dtype=object)
    src = np.array(rows, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = F(src[idx])
    return out


# A 2-3-2 network with M = 2: W1 (3, 2), b1 (3,), W2 (2, 3), b2 (2,), x, y, yhat (2, 2).
NET = Network.parse("2-3-2")
M = 2
ENV = {
    "x": obj([[0, F(1, 10)], [1, 2]]),
    "y": obj([[1, 1], [1, 1]]),
    "yhat": obj([[1, 2], [3, 4]]),
    "W1": obj([[1, 2], [3, 4], [5, 6]]),
    "b1": obj([0, 0, 1]),
    "W2": obj([[1, -1, 0], [0, 0, 0]]),
    "b2": obj([-1, 1]),
    "grad(W1)": obj([[0, 0], [0, F(1, 3)], [0, 0]]),
    "grad(b1)": obj([0, 0, 0]),
    "grad(W2)": obj([[F(-2, 3), 0, 0], [0, 0, 0]]),
    "grad(b2)": obj([F(-2, 3), 5]),
}


def as_z3(env: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for k, arr in env.items():
        z = np.empty(arr.shape, dtype=object)
        for idx in np.ndindex(arr.shape):
            z[idx] = to_z3(arr[idx])
        out[k] = z
    return out


def truth(text: str, env: dict[str, np.ndarray] = ENV, net: Network = NET, samples: int = M) -> bool:
    """Decide a condition with both backends; they must agree."""
    cond = C.parse(text)
    C.check(cond, net, samples)
    exact = C.holds(cond, env, C.ExactBackend())
    assert isinstance(exact, bool), (text, exact)
    formula = z3.simplify(C.holds(cond, as_z3(env), Z3Backend()))
    assert z3.is_true(formula) or z3.is_false(formula), (text, formula)
    assert z3.is_true(formula) == exact, f"{text!r}: exact says {exact}, Z3 says {formula}"
    return exact


def error(text: str, net: Network = NET, samples: int = M) -> ConditionError:
    with pytest.raises(ConditionError) as info:
        C.check(C.parse(text), net, samples)
    err = info.value
    assert isinstance(err, InputError)
    return err


# --------------------------------------------------------------------------
# Numbers are exact


@pytest.mark.parametrize("text, value", [
    ("0.1", F(1, 10)),
    ("0.10", F(1, 10)),
    ("1e-1", F(1, 10)),
    ("1e-3", F(1, 1000)),
    ("2.5e2", F(250)),
    ("1_000", F(1000)),
    ("0.1 + 0.2", F(3, 10)),
    ("1/3", F(1, 3)),
    ("-2/3", F(-2, 3)),
    ("2/-3", F(-2, 3)),
    ("-(4/6)", F(-2, 3)),
    ("0.3333333333333333", F(3333333333333333, 10**16)),
    ("1/3 + 1/6", F(1, 2)),
    ("3 * 0.1", F(3, 10)),
    ("+7", F(7)),
])
def test_numbers_are_read_exactly(text, value):
    root = C.parse(f"{text} == x").root
    assert isinstance(root, C.Compare)
    assert isinstance(root.left, C.Num) and root.left.value == value
    assert type(root.left.value) is F


def test_decimal_means_its_exact_value():
    assert truth("0.1 + 0.2 == 0.3")  # false in floats
    assert truth("x[0, 1] == 0.1")
    assert truth("x[0, 1] == 1/10")
    assert truth("1e-1 == x[0, 1]")
    assert truth("3 * x[0, 1] == 0.3")
    # float(0.1) == float(0.10000000000000001), but the exact values differ
    assert not truth("x[0, 1] == 0.10000000000000001")
    assert truth("grad(W1)[1, 1] == 1/3")
    assert not truth("grad(W1)[1, 1] == 0.3333333333333333")
    assert truth("grad(b2)[0] == -2/3")
    assert truth("grad(b2)[0] == 2/-3")
    assert truth("grad(b2)[0] == -4/6")
    assert truth("grad(b2)[0] == -0.6666666666666666 - 1/15000000000000000")


def test_parse_keeps_the_text_and_strips_blanks():
    c = C.parse("  grad(W1)[0, :] != 0 ")
    assert c.text == "grad(W1)[0, :] != 0"
    assert str(c) == c.text
    assert c.root == C.Compare("!=", C.Subscript(C.Grad("W1", 0), (0, (None, None, None)), 0), C.Num(F(0), 18), 0)


def test_chained_comparison_is_a_conjunction():
    root = C.parse("0 < x < 1").root
    assert isinstance(root, C.Logic) and root.op == "and"
    assert [type(o) for o in root.operands] == [C.Compare, C.Compare]
    assert root.operands[0].right == root.operands[1].left == C.Var("x", 4)


# --------------------------------------------------------------------------
# Meaning, with both backends


SEMANTICS = [
    # indexing and slices
    ("W1[2, 1] == 6", True),
    ("W1[0, 0] == 2", False),
    ("W1[2] == W1[2, :]", True),
    ("W1[:, 0] < 6", True),
    ("W1[:, 0] < 5", False),
    ("W1[0:2, 1] == W1[:2, -1]", True),
    ("W1[::2, 0] < 6", True),
    ("W1[1:, :] > 2", True),
    ("W1[1:, :] > 3", False),
    ("W1[::-1, 0] == W1[:, 0]", False),
    ("x[::-1, 1] == x[:, 1][::-1]", True),
    ("grad(W1)[1, 1] > 0", True),
    ("grad(W1)[1] == grad(W1)[1, 0:2]", True),
    # negative indices
    ("W1[-1, -1] == 6", True),
    ("W1[-3, -2] == 1", True),
    ("x[-1] == W1[0]", True),
    ("b2[-1] == 1", True),
    ("yhat[-2, -1] == 2", True),
    # chained comparisons
    ("0 < x[0, 1] < 1", True),
    ("0 < x[0, 0] < 1", False),
    ("1 <= x[1, 0] < x[1, 1] <= 2", True),
    ("b2[0] < 0 < b2[1]", True),
    ("b2[0] < 0 < b2[1] < 1", False),
    ("0 <= W1 <= 6", True),
    ("0 <= W1 < 6", False),
    ("yhat[1, 1] > yhat[1, 0] > yhat[0, 1] > yhat[0, 0]", True),
    # == on tensors: every entry
    ("y == 1", True),
    ("yhat == 1", False),
    ("W1 == W1", True),
    ("grad(b1) == 0", True),
    ("grad(W1) == 0", False),
    ("x == y", False),
    # != : some entry differs
    ("grad(W1) != 0", True),
    ("grad(b1) != 0", False),
    ("yhat != y", True),
    ("y != 1", False),
    ("W2[1] != 0", False),
    ("W2[0] != 0", True),  # entry 2 is 0, yet some entry differs
    ("not (W2[0] == 0)", True),
    # < and friends: every entry
    ("yhat < 4", False),
    ("yhat < 5", True),
    ("yhat <= 4", True),
    ("W2 >= -1", True),
    ("W2 > -1", False),
    ("yhat > y", False),  # yhat[0, 0] == y[0, 0]
    ("yhat >= y", True),
    ("x < yhat", True),
    # all()/any() entry by entry
    ("all(W2[0] != 0)", False),
    ("any(W2[0] != 0)", True),
    ("any(W2 < 0)", True),
    ("all(W2 <= 1)", True),
    ("any(grad(b1) != 0)", False),
    ("all(grad(b1) == 0)", True),
    ("all(yhat > y or yhat == 1)", True),
    ("all(yhat > y)", False),
    ("any(x == 0 and y == 1)", True),
    ("any(x == 0 and yhat == 2)", False),
    ("all(not (x < 0))", True),
    ("any(not (x >= 0))", False),
    ("any(x >= yhat)", False),
    ("all(x[0, :] < x[1, :])", True),
    ("all(0 < W1 < 7)", True),
    ("any(W1 < 1 or W1 > 5)", True),
    ("all(W1 == W1[0, 0] or W1 > 1)", True),
    ("all(True)", True),
    ("any(False)", False),
    ("all(any(W2 < 0) or y == 2)", True),
    ("any(W2 != 0) and all(b1 >= 0)", True),
    # broadcasting of a single entry
    ("x[0:1, 0:1] == 0", True),
    ("y == y[0:1, 1:2]", True),
    ("y[1:2, 0:1] == y", True),
    ("yhat == yhat[0, 0]", False),
    ("yhat >= yhat[0:1, 0:1]", True),
    ("b1[0:1] + W1 == W1", True),
    ("W1 - W1[0:1, 0:1] >= 0", True),
    ("all(x[0:1, 0:1] <= x)", True),
    # arithmetic and division by a number
    ("2 * y == y + y", True),
    ("W1 / 2 == W1 * 0.5", True),
    ("-W1 < 0", True),
    ("grad(b2)[1] / -5 == -1", True),
    ("grad(W2)[0, 0] * 3 + 2 == 0", True),
    ("yhat - y == yhat + -1", True),
    ("(yhat - y) / (1/2) <= 6", True),
    # Boolean structure outside all/any
    ("y == 1 and yhat != y", True),
    ("y != 1 or grad(b1) == 0", True),
    ("not y == 1", False),
    ("not (y == 1 and yhat == 1)", True),
    ("True", True),
    ("False", False),
    ("True and not False", True),
]


@pytest.mark.parametrize("text, expected", SEMANTICS)
def test_semantics(text, expected):
    assert truth(text) is expected


def test_z3_backend_reads_tensor_operators_as_quantifier_free_formulas():
    # With symbolic entries, "!=" is "some entry differs" and "==" is "every entry".
    a = np.array([z3.Real("a0"), z3.Real("a1")], dtype=object)
    env = dict(as_z3(ENV))
    env["b2"] = a
    backend = Z3Backend()
    ne = C.holds(C.parse("b2 != 0"), env, backend)
    eq = C.holds(C.parse("b2 == 0"), env, backend)
    lt = C.holds(C.parse("b2 < 0"), env, backend)
    an = C.holds(C.parse("any(b2 < 0)"), env, backend)
    a0, a1 = a
    for claim in (ne == z3.Or(a0 != 0, a1 != 0), eq == z3.And(a0 == 0, a1 == 0), lt == z3.And(a0 < 0, a1 < 0),
                  an == z3.Or(a0 < 0, a1 < 0), ne == z3.Not(eq)):
        s = z3.Solver()
        s.add(z3.Not(claim))
        assert s.check() == z3.unsat, claim


small = st.sampled_from([F(0), F(0), F(1), F(-1), F(2), F(1, 2), F(-1, 3)])


def arrays(shape):
    size = int(np.prod(shape))
    return st.lists(small, min_size=size, max_size=size).map(lambda v: obj(np.array(v, dtype=object).reshape(shape).tolist()))


@st.composite
def envs(draw):
    env = {}
    for name in NET.value_names():
        env[name] = draw(arrays(NET.shape(name, M)))
    for p in NET.parameter_names():
        env[f"grad({p})"] = draw(arrays(NET.shape(p, M)))
    return env


ONE = Network.parse("1-1-1")


@pytest.mark.parametrize("text", ["(W1 + 0)[0] == W1", "W1 == (W1 - 0)[0]", "(-W1)[0] == -W1", "(W1 * 2)[0, 0] == W1[0] * 2",
                                  "(b1 + W1)[0] == b1 + W1[0, 0]"])
def test_single_entries_of_different_shapes_keep_the_checked_shape(text):
    # Both sides single entries of different shapes: evaluation used to collapse the sum to a bare
    # scalar, which a subscript then failed on (found by the fuzzer as a traceback in find).
    env = {"W1": obj([[3]]), "b1": obj([2]), "W2": obj([[1]]), "b2": obj([0]), "x": obj([[1]]), "y": obj([[0]]),
           "yhat": obj([[1]])}
    for p in ONE.parameter_names():
        env[f"grad({p})"] = obj(np.zeros(ONE.shape(p, 1), dtype=int).tolist())
    assert truth(text, env, ONE, 1) is True


@given(envs(), st.sampled_from([t for t, _ in SEMANTICS]))
def test_exact_and_z3_backends_agree_on_random_values(env, text):
    truth(text, env)


# --------------------------------------------------------------------------
# Errors, with the column of the bad part


def test_unknown_name_with_did_you_mean():
    e = error("W1 == yht")
    assert e.column == 6
    assert "unknown name 'yht'" in e.message
    assert e.hint is not None and "did you mean 'yhat'" in e.hint
    # the caret stands under the bad name
    assert str(e).endswith("W1 == yht\n          ^")


def test_unknown_name_not_in_this_network():
    e = error("grad(W1) == 0 and W3[0, 0] == 1")
    assert e.column == 18
    assert "'W3'" in e.message
    assert e.hint is not None and "did you mean" in e.hint
    e = error("b1 == 0", net=Network.parse("2-3-2", bias=False))
    assert e.column == 0 and "no biases" in e.message


def test_unknown_name_far_from_anything():
    e = error("W1 == qqqqqqq")
    assert e.column == 6 and "qqqqqqq" in e.message


def test_unknown_function_with_did_you_mean():
    e = error("x == 0 or grd(W1) == 0")
    assert e.column == 10
    assert e.hint is not None and "did you mean 'grad'" in e.hint


@pytest.mark.parametrize("text, column", [
    ("grad(x) == 0", 5),
    ("grad(yhat) == 0", 5),
    ("y == 0 and grad(W3) == 0", 16),
    ("grad(b4)[0] == 0", 5),
])
def test_grad_of_a_non_parameter(text, column):
    e = error(text)
    assert e.column == column
    assert "parameter" in e.message


def test_grad_of_a_bias_in_a_network_without_biases():
    e = error("grad(b1) == 0", net=Network.parse("2-3-2", bias=False))
    assert e.column == 5


@pytest.mark.parametrize("text, column", [
    ("yhat[0] == W1[0, 0, 0]", 11),
    ("b1[0, 0] == 1", 0),
    ("x == 0 or grad(b2)[1, 1] == 0", 10),
    ("x[0][0][0] == 1", 0),
])
def test_wrong_number_of_indices(text, column):
    e = error(text)
    assert e.column == column
    assert "too many indices" in e.message


@pytest.mark.parametrize("text, column", [
    ("y == x[5, 0]", 5),
    ("y == x[0, -3]", 5),
    ("W1[3] == 0", 0),
    ("W1[-4, 0] == 0", 0),
    ("yhat[0, 0] == 0 and grad(W2)[0, 3] == 0", 20),
])
def test_index_out_of_range(text, column):
    e = error(text)
    assert e.column == column
    assert "out of range" in e.message


def test_index_out_of_range_depends_on_samples():
    assert truth("x[1, 0] == 1")
    e = error("x[1, 0] == 1", samples=1)
    assert e.column == 0 and "out of range" in e.message


@pytest.mark.parametrize("text, column", [
    ("(W1 == 0", 0),
    ("W1 == 0)", 7),
    ("W1[0 == 0", 2),
    ("grad(W1[0] == 0", 4),
    ("all((x == 0)", 3),
])
def test_unbalanced_brackets(text, column):
    with pytest.raises(ConditionError) as info:
        C.parse(text)
    e = info.value
    assert e.column == column, (e.column, e.message)
    assert e.hint == "balance the brackets"


@pytest.mark.parametrize("text, column", [
    ("W1 = 0", 3),
    ("W1[0, 0] = 0", 9),
    ("grad(W1) = 0", 9),
])
def test_single_equals(text, column):
    with pytest.raises(ConditionError) as info:
        C.parse(text)
    e = info.value
    assert e.column == column, (e.column, e.message)
    assert e.hint is not None and "==" in e.hint


def test_comparing_shapes_2_3_with_3_2():
    net = Network.parse("3-2-3")  # W1 (2, 3), W2 (3, 2)
    e = error("W1 == W2", net=net)
    assert e.column == 0
    assert "(2, 3) and (3, 2)" in e.message
    e = error("b1[0] == 0 and W1 < W2", net=net)
    assert e.column == 15
    e = error("all(W1 != grad(W2))", net=net)
    assert e.column == 4
    # arithmetic on mismatched shapes too
    e = error("W1 + W2 == 0", net=net)
    assert e.column == 0 and "(2, 3) and (3, 2)" in e.message


@pytest.mark.parametrize("text, start, end", [
    ("x / y == 1", 0, 5),
    ("1 + x / y[0, 0] == 1", 4, 15),
    ("x == W1[0, 0] / b1[0]", 5, 21),
])
def test_division_by_a_non_constant(text, start, end):
    e = error(text)
    assert "division" in e.message
    assert e.column is not None and start <= e.column < end  # the caret is on the division


def test_division_by_zero():
    e = error("x == 1 / 0")
    assert e.column == 9
    e = error("x / (2 - 2) == 0")
    assert "division by zero" in e.message


@pytest.mark.parametrize("text", ["W1", "grad(W1)", "grad(W1)[0, 0] + 1", "x[0, 0]", "1/3"])
def test_a_bare_value_is_not_a_condition(text):
    e = error(text)
    assert e.column == 0
    assert "true or false" in e.message
    assert e.hint is not None and "==" in e.hint


@pytest.mark.parametrize("text, column, words", [
    ("W1 ** 2 == 0", 2, "not supported"),
    ("x[0.5, 0] == 1", 2, "not an integer"),
    ("all(W1)", 0, "comparison"),
    ("(x == 0) == (y == 1)", 1, "values on both sides"),
    ("x == 0 and 1", 11, "needs conditions"),
    ("W1.T == 0", 0, "not allowed"),
    ("'a' == x", 0, "not a number"),
    ("grad(W1, W2) == 0", 0, "one argument"),
])
def test_other_errors_have_columns(text, column, words):
    e = error(text)
    assert e.column == column, (e.column, e.message)
    assert words in e.message


def test_empty_condition():
    with pytest.raises(ConditionError):
        C.parse("   ")


def test_non_decimal_integer_literal_is_a_condition_error_or_its_value():
    try:
        root = C.parse("x == 0x10").root
    except ConditionError:
        return
    assert root.right == C.Num(F(16), 5)


def test_slice_step_zero_is_a_condition_error_under_the_step():
    e = error("x[::0] == 1")
    assert e.column == 4 and "step" in e.message


# --------------------------------------------------------------------------
# names_used


def test_names_used():
    c = C.parse("all(grad(W1)[0] > yhat[0, 0]) or x[0, 0] + b1[1] == 0 and not grad(b2) != 0")
    assert C.names_used(c.root) == {"grad(W1)", "yhat", "x", "b1", "grad(b2)"}
