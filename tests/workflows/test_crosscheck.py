"""The cross-checks of cexsearch.workflows.crosscheck: PyTorch autograd and cvc5 as second opinions.

The torch tests run where PyTorch is installed (``pip install 'cexsearch[torch]'``)
and the cvc5 tests where cvc5 is (``pip install 'cexsearch[cvc5]'``); elsewhere
they are skipped with that reason.  The tests of the missing-package error run
everywhere.
"""

from __future__ import annotations

import itertools
import random
import sys
from fractions import Fraction as F

import numpy as np
import pytest

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.errors import InputError
from cexsearch.model.network import Network
from cexsearch.model.problem import Assignment
from cexsearch.semantics import numeric
from cexsearch.workflows import crosscheck

SEED_CONDITIONS = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"]


def seed_001(**settings: object) -> Assignment:
    """Seed question 001's witness: 1-1-1, w1 = w2 = 1, b1 = b2 = -1, x = (0, 2, 3), y = (-2, 2, 0)."""
    net = Network.parse("1-1-1", **settings)
    return Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
                               ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))


def random_assignment(rng: random.Random, net: Network, samples: int, force_zero: bool = False) -> Assignment:
    """Small rationals (halves in [-2, 2]); with ``force_zero``, one hidden pre-activation exactly 0.

    The zero is put at a random hidden unit j of layer k and sample m: with biases
    b_k[j] = -(A_{k-1}[m] . W_k[j]); without, x[m] = 0 (layer 1) or W_k[j] = 0.
    """
    values = {}
    for name in net.variable_names():
        size = int(np.prod(net.shape(name, samples)))
        values[name] = [F(rng.randint(-4, 4), 2) for _ in range(size)]

    def build() -> Assignment:
        return Assignment(net, samples, tuple((n, tuple(values[n])) for n in net.variable_names()))

    if force_zero and net.depth > 1:
        k = rng.randint(1, net.depth - 1)
        j = rng.randrange(net.widths[k])
        m = rng.randrange(samples)
        n_in = net.widths[k - 1]
        if net.bias:
            below = numeric.evaluate(build()).activations[k - 1][m]
            values[f"b{k}"][j] = -sum((values[f"W{k}"][j * n_in + i] * below[i] for i in range(n_in)), F(0))
        elif k == 1:
            values["x"][m * n_in:(m + 1) * n_in] = [F(0)] * n_in
        else:
            values[f"W{k}"][j * n_in:(j + 1) * n_in] = [F(0)] * n_in
    return build()


# ---------------------------------------------------------------------------
# missing packages: an InputError with the install hint (runs without either package)
# ---------------------------------------------------------------------------


def test_missing_torch_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert not crosscheck.torch_available()
    with pytest.raises(InputError) as e:
        crosscheck.torch_cross_check(seed_001(), numeric.exact_gradients(seed_001()))
    assert "--cross-check torch needs PyTorch" in str(e.value)
    assert "torch==2.13.0" in str(e.value)


def test_missing_cvc5_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cvc5", None)
    assert not crosscheck.cvc5_available()
    with pytest.raises(InputError) as e:
        crosscheck.cvc5_decide("(set-logic QF_NRA)\n(check-sat)\n", None)
    assert "cexsearch[cvc5]" in str(e.value)


# ---------------------------------------------------------------------------
# PyTorch autograd
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch not installed: pip install 'cexsearch[torch]'")


def test_seed_001_gradients_by_autograd(torch) -> None:
    a = seed_001()
    g = crosscheck.torch_gradients(a)
    assert set(g) == {"W1", "b1", "W2", "b2"}
    assert g["W1"].shape == (1, 1) and g["b1"].shape == (1,)
    assert all(v.dtype == np.float64 for v in g.values())
    assert g["W1"][0, 0] == pytest.approx(-2 / 3, rel=1e-15)
    assert g["b1"][0] == pytest.approx(-2 / 3, rel=1e-15)
    assert abs(g["W2"][0, 0]) < 1e-15 and abs(g["b2"][0]) < 1e-15
    report = crosscheck.torch_cross_check(a, numeric.exact_gradients(a))
    assert report.available and report.agrees
    assert report.max_abs_deviation < 1e-15
    assert report.zero_pre_activations == 0
    assert report.native_autograd_agrees is None


def test_shapes_follow_the_network(torch) -> None:
    net = Network.parse("3-2-4-2", bias=False)
    a = random_assignment(random.Random(1), net, 2)
    g = crosscheck.torch_gradients(a)
    assert list(g) == ["W1", "W2", "W3"]
    assert [g[p].shape for p in g] == [(2, 3), (4, 2), (2, 4)]


CONFIGURATIONS = list(itertools.product(["relu", "leaky_relu", "linear"], ["mse", "sse"], [True, False], [0, 1]))


@pytest.mark.parametrize(("activation", "loss", "bias", "at_zero"), CONFIGURATIONS)
def test_random_networks_agree_with_exact(torch, activation: str, loss: str, bias: bool, at_zero: int) -> None:
    """Random 1..3-layer networks of every setting, many with hidden pre-activations exactly 0."""
    rng = random.Random(f"{activation}-{loss}-{bias}-{at_zero}")
    with_zeros = 0
    for _ in range(25):
        widths = [rng.randint(1, 3) for _ in range(rng.randint(2, 4))]
        net = Network(tuple(widths), activation=activation, leaky_slope=F(rng.choice([1, 3, 7]), 100),  # type: ignore[arg-type]
                      bias=bias, loss=loss, relu_grad_at_zero=at_zero)  # type: ignore[arg-type]
        a = random_assignment(rng, net, rng.randint(1, 3), force_zero=rng.random() < 0.6)
        report = crosscheck.torch_cross_check(a, numeric.exact_gradients(a))
        assert report.agrees, (a, report)
        assert report.max_abs_deviation < 1e-12
        with_zeros += report.zero_pre_activations > 0
    if activation == "linear":  # Identity has no breakpoint: nothing is counted, whatever is 0
        assert with_zeros == 0
    else:
        assert with_zeros >= 3, "the generator should reach pre-activations exactly 0"


def test_zero_pre_activation_both_conventions(torch) -> None:
    """b1 = -2 puts sample x = 2 exactly at 0: the derivative there decides dL/dW1."""
    values = dict(seed_001().values)
    values["b1"] = (F(-2),)
    # z = x - 2 = (-2, 0, 1); yhat - y = (1, -3, 0) either way, so delta = (2/3, -2, 0) and
    # dL/dW1 = sum delta * W2 * relu'(z) * x = 0 with relu'(0) = 0, -2 * 2 = -4 with relu'(0) = 1
    for at_zero, expected_w1 in ((0, F(0)), (1, F(-4))):
        net = Network.parse("1-1-1", relu_grad_at_zero=at_zero)
        a = Assignment(net, 3, tuple((n, values[n]) for n in net.variable_names()))
        exact = numeric.exact_gradients(a)
        assert exact["W1"][0, 0] == expected_w1
        report = crosscheck.torch_cross_check(a, exact)
        assert report.agrees and report.zero_pre_activations == 1
        assert crosscheck.torch_gradients(a)["W1"][0, 0] == float(expected_w1)
        if at_zero == 1:
            # PyTorch's own relu uses 0 at 0: said so, not counted as a disagreement
            assert report.native_autograd_agrees is False
            assert "not a disagreement" in report.note
        else:
            assert report.native_autograd_agrees is None


def test_builtin_conventions_are_as_documented(torch) -> None:
    """PyTorch's relu' (0) = 0 and leaky_relu' (0) = the negative slope: relu_grad_at_zero = 0."""
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    torch.relu(z).sum().backward()
    assert z.grad.item() == 0.0
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.leaky_relu(z, negative_slope=0.25).sum().backward()
    assert z.grad.item() == 0.25


def test_leaky_relu_zero_convention(torch) -> None:
    values = dict(seed_001().values)
    values["b1"] = (F(-2),)
    net = Network.parse("1-1-1", activation="leaky_relu", leaky_slope=F(1, 4), relu_grad_at_zero=1)
    a = Assignment(net, 3, tuple((n, values[n]) for n in net.variable_names()))
    report = crosscheck.torch_cross_check(a, numeric.exact_gradients(a))
    assert report.agrees and report.zero_pre_activations == 1
    assert report.native_autograd_agrees is False


def test_wrong_exact_gradient_is_a_disagreement(torch) -> None:
    a = seed_001()
    exact = numeric.exact_gradients(a)
    exact["W2"] = np.array([[F(1, 10**6)]], dtype=object)
    report = crosscheck.torch_cross_check(a, exact)
    assert not report.agrees
    assert "disagreement" in report.note and "W2" in report.note
    assert report.max_abs_deviation == pytest.approx(1e-6)


def test_cancellation_to_zero_within_tolerance(torch) -> None:
    """Large terms that cancel to an exact 0 still agree: the tolerance follows the terms' size."""
    net = Network.parse("1-1-1", loss="sse")
    a = Assignment(net, 2, (("W1", (F(1, 3),)), ("b1", (F(0),)), ("W2", (F(10**6, 7),)), ("b2", (F(0),)),
                            ("x", (F(3 * 10**5, 11), F(-(3 * 10**5), 11))), ("y", (F(1, 10), F(-1, 10)))))
    report = crosscheck.torch_cross_check(a, numeric.exact_gradients(a))
    assert report.agrees, report


# ---------------------------------------------------------------------------
# cvc5
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cvc5():
    return pytest.importorskip("cvc5", reason="cvc5 not installed: pip install 'cexsearch[cvc5]'")


def seed_encoding(samples: int, **problem: object):
    from cexsearch.engine.encoding import Encoding

    return Encoding(build_problem(NetworkSettings().network("1-1-1"), samples, SEED_CONDITIONS, **problem))  # type: ignore[arg-type]


def pattern_question(encoding, bits) -> list:
    """Everything Z3 decides at one leaf of the search: domain, sign constraints, conditions."""
    return list(encoding.domain) + encoding.pattern_constraints(bits) + [encoding.conditions(bits)]


def z3_answer(encoding, constraints) -> str:
    from cexsearch.engine.solver import PatternSolver, Sat, Unsat

    solver = PatternSolver(encoding)
    solver.add(*constraints)
    answer = solver.check()
    return "sat" if isinstance(answer, Sat) else "unsat" if isinstance(answer, Unsat) else "unknown"


@pytest.mark.parametrize(("samples", "expected_sat"), [(2, 0), (3, 3)])
def test_cvc5_agrees_with_z3_on_every_seed_pattern(cvc5, samples: int, expected_sat: int) -> None:
    encoding = seed_encoding(samples)
    sat = 0
    for combo in itertools.product([True, False], repeat=samples):
        bits = [[b] for b in combo]
        constraints = pattern_question(encoding, bits)
        z3a = z3_answer(encoding, constraints)
        assert z3a in ("sat", "unsat")
        report = crosscheck.cvc5_cross_check_pattern(constraints, z3a, timeout_ms=20_000)
        assert report.agrees, (combo, report.describe())
        assert report.status == "agree" and report.cvc5_answer == z3a
        sat += z3a == "sat"
    assert sat == expected_sat


@pytest.mark.parametrize(("samples", "expected"), [(2, "unsat"), (3, "sat")])
def test_cvc5_decides_the_if_encoded_problem(cvc5, samples: int, expected: str) -> None:
    encoding = seed_encoding(samples)
    open_bits = [[None] for _ in range(samples)]
    constraints = pattern_question(encoding, open_bits)
    assert crosscheck.cvc5_decide(crosscheck.z3_to_smt2(constraints), 30_000) == expected


def test_disagreement_and_unknown_are_reported_apart(cvc5) -> None:
    encoding = seed_encoding(2)
    constraints = pattern_question(encoding, [[True], [True]])  # unsat
    wrong = crosscheck.cvc5_cross_check_pattern(constraints, "sat", timeout_ms=20_000)
    assert not wrong.agrees and wrong.status == "disagree"
    assert "z3 sat, cvc5 unsat" in wrong.describe()
    z3_unknown = crosscheck.cvc5_cross_check_pattern(constraints, "unknown", timeout_ms=20_000)
    assert not z3_unknown.agrees and z3_unknown.status == "not confirmed"
    assert crosscheck.Cvc5Report("unsat", "unknown", False, "timeout").status == "not confirmed"


def test_z3_to_smt2_is_a_complete_script(cvc5) -> None:
    encoding = seed_encoding(2)
    text = crosscheck.z3_to_smt2(pattern_question(encoding, [[True], [False]]))
    assert text.startswith("(set-logic QF_NRA)")
    assert "(check-sat)" in text and "declare-fun W1_0_0 () Real" in text
    ints = seed_encoding(2, integers=True)
    text = crosscheck.z3_to_smt2(pattern_question(ints, [[True], [False]]))
    assert text.startswith("(set-logic QF_NIRA)")
    # nonlinear integer arithmetic: no coverings, and cvc5 answers unknown on most patterns;
    # this one is unsat by its sign constraints alone
    both_off = crosscheck.z3_to_smt2(pattern_question(ints, [[False], [False]]))
    assert crosscheck.cvc5_decide(both_off, 5_000) == "unsat"


def test_cvc5_decide_plain_scripts(cvc5) -> None:
    irrational = "(declare-fun a () Real)\n(assert (= (* a a) 2.0))\n(check-sat)\n"  # no set-logic: ALL
    assert crosscheck.cvc5_decide(irrational, 10_000) == "sat"
    unsat = "(set-logic QF_NRA)\n(declare-fun a () Real)\n(assert (< (* a a) 0.0))\n(check-sat)\n"
    assert crosscheck.cvc5_decide(unsat, 10_000) == "unsat"
    detail = crosscheck.cvc5_decide_detailed(unsat, None)
    assert detail.answer == "unsat" and detail.configuration == "coverings" and detail.reason is None


def test_unreadable_text_is_never_an_answer(cvc5) -> None:
    with pytest.raises(crosscheck.CrossCheckError):
        crosscheck.cvc5_decide("(set-logic QF_NRA)\n(assert (> a 0.0))\n(check-sat)\n", 1000)


def chain(b2: F, at_zero: int = 0) -> Assignment:
    """1-1-1-1 leaky_relu(1/10): z1 = -3, a1 = -3/10 (not binary: -0.30000000000000004), z2 = 3/10 + b2."""
    net = Network.parse("1-1-1-1", activation="leaky_relu", leaky_slope=F(1, 10), relu_grad_at_zero=at_zero)
    return Assignment(net, 1, (("W1", (F(1),)), ("b1", (F(0),)), ("W2", (F(-1),)), ("b2", (b2,)),
                               ("W3", (F(1),)), ("b3", (F(0),)), ("x", (F(-3),)), ("y", (F(1),))))


@pytest.mark.parametrize("at_zero", [0, 1])
def test_exact_zero_rounded_off_zero_is_kept_at_zero(torch, at_zero: int) -> None:
    """Regression: z2 is exactly 0 but 5.6e-17 in float64, which took leaky_relu's other branch."""
    assert 0.1 * -3.0 * -1.0 + float(F(-3, 10)) > 0  # the float64 rounding itself
    a = chain(F(-3, 10), at_zero)
    report = crosscheck.torch_cross_check(a, numeric.exact_gradients(a))
    assert report.agrees, report
    assert report.zero_pre_activations == 1
    assert "kept at 0" in report.note


def test_rounding_across_zero_is_explained(torch) -> None:
    """z2 = -1e-30 exactly, +5.6e-17 in float64: float64 cannot follow, and the note says why."""
    a = chain(-F(3, 10) - F(1, 10**30))
    report = crosscheck.torch_cross_check(a, numeric.exact_gradients(a))
    assert not report.agrees
    assert report.zero_pre_activations == 0
    assert "rounding changed their branch" in report.note


# ---------------------------------------------------------------------------
# any layer model: the oracle builds the same nn.Sequential for every layer
# ---------------------------------------------------------------------------


def model_assignment(model, samples: int, values: dict) -> Assignment:
    """An Assignment whose network is a layer Model (it needs only variable_names and shape)."""
    flat = {n: tuple(F(v) for v in np.asarray(values[n], dtype=object).reshape(-1)) for n in model.variable_names()}
    return Assignment(model, samples, tuple((n, flat[n]) for n in model.variable_names()))  # type: ignore[arg-type]


def exact_of(model, a: Assignment) -> dict:
    from cexsearch.semantics import EXACT, trace

    v = model.values_of(a)
    return dict(trace(model, {p: v[p] for p in model.parameter_names()}, v["x"], v["y"], EXACT).gradients)


MODELS = [
    ("Sequential(Conv1d(1, 2, 3), ReLU(), Flatten(), Linear(12, 1))", (1, 8), "mse", 0),
    ("Sequential(Conv1d(2, 3, 2, stride=2, padding=1, bias=False), Abs(), AvgPool1d(2), Flatten(), Linear(6, 2))",
     (2, 7), "l1", 0),
    ("Sequential(Conv2d(1, 2, 2, padding=1), ReLU6(), MaxPool2d(2), Flatten(), Linear(8, 1))", (1, 4, 4), "huber", 0),
    ("Sequential(Linear(3, 3), Residual(Linear(3, 3), LeakyReLU(0.25), Linear(3, 3)), Hardtanh(), Linear(3, 1))",
     (3,), "sse", 1),
    ("Sequential(Residual(Conv1d(2, 2, 3, padding=1), ReLU()), MaxPool1d(2), Flatten(), Linear(4, 1, bias=False))",
     (2, 4), "hinge", 1),
]


@pytest.mark.parametrize("text,shape,loss,at_zero", MODELS)
def test_model_built_assignments_agree_with_exact(torch, text, shape, loss, at_zero) -> None:
    """Convolutions, poolings, residual blocks and every activation, in tenths (not exact in float64)."""
    from cexsearch.model import parse_model

    model = parse_model(text, shape, loss=loss, relu_grad_at_zero=at_zero)
    rng = np.random.default_rng(len(text))
    for _ in range(6):
        samples = int(rng.integers(1, 4))
        values = {p.name: rng.integers(-6, 7, size=p.shape) * F(1, 10) for p in model.parameters()}
        values["x"] = rng.integers(-6, 7, size=model.shape("x", samples)) * F(1, 10)
        values["y"] = (rng.choice([-1, 1], size=model.shape("y", samples)) * F(1) if loss == "hinge"
                       else rng.integers(-6, 7, size=model.shape("y", samples)) * F(1, 10))
        a = model_assignment(model, samples, values)
        report = crosscheck.torch_cross_check(a, exact_of(model, a))
        assert report.agrees, report.note
        assert set(crosscheck.torch_gradients(a)) == set(model.parameter_names())


def test_hardtanh_exactly_at_its_breakpoint_is_kept_there(torch) -> None:
    """z = (2/10 + 7/10) + 1/10 is exactly 1 (Hardtanh' (1) = 0) but 0.9999999999999999 in float64."""
    from cexsearch.model import parse_model

    model = parse_model("Sequential(Linear(2, 1), Hardtanh(), Linear(1, 1))", (2,), loss="sse")
    values = {"W1": [[1, 1]], "b1": [F(1, 10)], "W2": [[2]], "b2": [0], "x": [[F(2, 10), F(7, 10)]], "y": [[0]]}
    a = model_assignment(model, 1, values)
    exact = exact_of(model, a)
    assert exact["W1"].tolist() == [[0, 0]]
    report = crosscheck.torch_cross_check(a, exact)
    assert report.agrees, report.note
    assert report.zero_pre_activations == 1 and "kept at 1" in report.note
    # without the pin, PyTorch's Hardtanh sees 0.999..., on the middle piece: another gradient
    net = torch.nn.Sequential(torch.nn.Linear(2, 1, dtype=torch.float64), torch.nn.Hardtanh(),
                              torch.nn.Linear(1, 1, dtype=torch.float64))
    with torch.no_grad():
        net[0].weight[:] = 1.0
        net[0].bias[:] = 0.1
        net[2].weight[:] = 2.0
        net[2].bias[:] = 0.0
    (net(torch.tensor([[0.2, 0.7]], dtype=torch.float64)) ** 2).sum().backward()
    assert net[0].weight.grad.abs().sum().item() > 1


def test_max_pool_tie_broken_by_rounding_is_kept_tied(torch) -> None:
    """Two window entries are exactly 3/10; float64 makes the second 0.30000000000000004."""
    from cexsearch.model import parse_model

    model = parse_model("Sequential(Conv1d(2, 1, 1, bias=False), MaxPool1d(2), Flatten())", (2, 2), loss="sse")
    values = {"W1": [[[1], [1]]], "x": [[[F(3, 10), F(1, 10)], [0, F(2, 10)]]], "y": [[0]]}
    a = model_assignment(model, 1, values)
    report = crosscheck.torch_cross_check(a, exact_of(model, a))
    assert report.agrees, report.note
    assert "1 max-pool window with tied maxima" in report.note


def test_l1_residual_exactly_zero_is_kept_at_the_kink(torch) -> None:
    """yhat = 1/10 + 2/10 = y exactly (L1' = 0 there), 5.6e-17 above y in float64 (sign 1)."""
    from cexsearch.model import parse_model

    model = parse_model("Sequential(Linear(1, 1))", (1,), loss="l1")
    a = model_assignment(model, 1, {"W1": [[F(1, 10)]], "b1": [F(2, 10)], "x": [[1]], "y": [[F(3, 10)]]})
    exact = exact_of(model, a)
    assert exact["W1"].tolist() == [[0]]
    report = crosscheck.torch_cross_check(a, exact)
    assert report.agrees, report.note
    assert "1 output entry exactly at a kink of the l1 loss" in report.note


def test_relu_grad_at_zero_one_in_a_convolution(torch) -> None:
    """A conv ReLU input exactly 0 with relu_grad_at_zero = 1: the custom Function, and the native difference said."""
    from cexsearch.model import parse_model

    model = parse_model("Sequential(Conv1d(1, 1, 2), ReLU(), Flatten(), Linear(2, 1))", (1, 3), relu_grad_at_zero=1)
    values = {"W1": [[[1, 1]]], "b1": [F(-3, 10)], "W2": [[1, 1]], "b2": [0],
              "x": [[[F(1, 10), F(2, 10), F(5, 10)]]], "y": [[1]]}
    a = model_assignment(model, 1, values)
    report = crosscheck.torch_cross_check(a, exact_of(model, a))
    assert report.agrees, report.note
    assert report.zero_pre_activations == 1
    assert report.native_autograd_agrees is False and "not a disagreement" in report.note
