"""The layer model: activation and loss tables against PyTorch's autograd, the notation parser, the MLP shorthand."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from cexsearch.errors import SpecError
from cexsearch.model import ACTIVATIONS, LAYERS, LOSSES, Model, activation, loss, parse_model
from cexsearch.model.network import Network
from cexsearch.semantics import EXACT, trace

# -- activations -------------------------------------------------------------------

ACTIVATION_CASES = [("relu", {}), ("leaky_relu", {"negative_slope": F(1, 10)}), ("identity", {}),
                    ("hardtanh", {}), ("hardtanh", {"min_val": F(-2), "max_val": F(3)}), ("relu6", {}), ("abs", {})]


def test_every_registered_activation_has_a_case():
    assert {name for name, _ in ACTIVATION_CASES} == set(ACTIVATIONS)


def _torch_fn(torch, name, settings):
    F_ = torch.nn.functional
    return {"relu": torch.relu,
            "leaky_relu": lambda z: F_.leaky_relu(z, float(settings.get("negative_slope", 0.01))),
            "identity": lambda z: z,
            "hardtanh": lambda z: F_.hardtanh(z, float(settings.get("min_val", -1)), float(settings.get("max_val", 1))),
            "relu6": F_.relu6, "abs": torch.abs}[name]


@pytest.mark.parametrize("name,settings", ACTIVATION_CASES)
def test_activation_value_and_derivative_match_torch_at_breakpoints_and_between(name, settings):
    torch = pytest.importorskip("torch")
    table = activation(name, **settings)
    points = {F(0), F(1), F(-1), F(6), F(-7, 2), F(11, 2), F(13, 2), F(1, 4), F(-1, 4)}
    for b in table.breakpoints:
        points |= {b, b - F(1, 8), b + F(1, 8)}
    fn = _torch_fn(torch, name, settings)
    for v in sorted(points):
        z = torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
        out = fn(z)
        out.backward()
        assert float(table.value(v)) == pytest.approx(out.item(), rel=1e-15), (name, v)
        assert float(table.derivative(v)) == z.grad.item(), (name, v)


def test_relu_grad_at_zero_moves_zero_to_the_positive_piece():
    for name, s in (("relu", {}), ("leaky_relu", {"negative_slope": F(1, 5)})):
        assert activation(name, grad_at_zero=0, **s).derivative(0) == (0 if name == "relu" else F(1, 5))
        assert activation(name, grad_at_zero=1, **s).derivative(0) == 1
        assert activation(name, grad_at_zero=1, **s).value(0) == 0
    with pytest.raises(SpecError):
        activation("relu", grad_at_zero=2)


def test_tables_reject_gaps_and_discontinuity():
    from cexsearch.model.activations import Piece, PiecewiseLinear

    with pytest.raises(ValueError):
        PiecewiseLinear("gap", (Piece(None, False, F(0), False, F(0)), Piece(F(0), False, None, False, F(1))))
    with pytest.raises(ValueError):
        PiecewiseLinear("jump", (Piece(None, False, F(0), True, F(0), F(1)), Piece(F(0), False, None, False, F(1))))


# -- losses ---------------------------------------------------------------------------

LOSS_CASES = [("mse", {}), ("sse", {}), ("l1", {}), ("huber", {}), ("huber", {"delta": F(1, 2)}), ("hinge", {})]


def test_every_registered_loss_has_a_case():
    # the classification losses (values in Q(exp(1/q))) are checked in tests/semantics/test_classification.py
    assert {name for name, _ in LOSS_CASES} == set(LOSSES) - {"bce", "ce"}


@pytest.mark.parametrize("name,settings", LOSS_CASES)
def test_loss_value_and_output_gradient_match_torch_including_kinks(name, settings):
    torch = pytest.importorskip("torch")
    from torch_models import torch_trace

    n = 4
    model = Model((LAYERS["Identity"](None),), (n,), loss(name, **settings))
    rng = np.random.default_rng(7)
    for _ in range(20):
        y = rng.choice([-1, 1], size=(3, n)) if name == "hinge" else rng.integers(-3, 4, size=(3, n))
        # residuals at 0, ±delta, ±1/2 and margins at exactly 1 appear often on this grid
        yhat = y + rng.choice([0, 0, 1, -1, F(1, 2), F(-1, 2), 2, F(3, 2)], size=(3, n))
        x = np.array(yhat, dtype=object)
        t = trace(model, {}, x, y, EXACT)
        tl, tg, _ = torch_trace(model, {}, x, y)
        assert float(t.loss) == pytest.approx(tl, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(t.yhat_gradient.astype(float), tg, rtol=1e-12, atol=1e-15)
        assert t.loss == model.loss.gradient_scale(3, n) * sum(model.loss.entry_value(v)
                                                                 for v in t.loss_argument.reshape(-1))
    assert torch is not None


def test_loss_conventions_at_the_kinks():
    assert loss("l1").derivative.value(0) == 0
    assert loss("hinge").derivative.value(1) == 0 and loss("hinge").derivative.value(F(99, 100)) == -1
    h = loss("huber", delta=F(2))
    assert h.entry_value(F(2)) == 2 and h.entry_value(F(-3)) == 4 and h.derivative.value(F(-3)) == -2
    assert loss("mse").linear_in_residual and not loss("l1").linear_in_residual
    with pytest.raises(SpecError, match="delta"):
        loss("huber", delta=0)
    with pytest.raises(SpecError, match="unknown loss"):
        loss("cross_entropy")


# -- the model and the MLP shorthand --------------------------------------------------

@pytest.mark.parametrize("text", ["1-1", "1-10-1", "3-2-2-4", "2-5-1"])
@pytest.mark.parametrize("bias", [True, False])
def test_from_mlp_names_and_shapes_match_network(text, bias):
    net = Network.parse(text, bias=bias)
    model = Model.from_mlp(text, bias=bias)
    assert model.parameter_names() == net.parameter_names()
    for name in net.variable_names() + ("yhat",):
        assert model.shape(name, 3) == net.shape(name, 3)


def test_from_mlp_rejects_bad_widths_with_a_column():
    with pytest.raises(SpecError) as e:
        Model.from_mlp("2-x-1")
    assert e.value.column == 2
    with pytest.raises(SpecError, match="activation"):
        Model.from_mlp("1-1-1", activation="tanh")


def test_parameters_are_numbered_by_the_layers_that_have_them():
    m = parse_model("Sequential(Linear(2, 3, bias=False), ReLU(), Linear(3, 3), Abs(), Linear(3, 1))", (2,))
    assert m.parameter_names() == ("W1", "W2", "b2", "W3", "b3")
    assert m.shape("W3", 5) == (1, 3) and m.shape("y", 5) == (5, 1)


# -- the notation parser --------------------------------------------------------------

def test_notation_round_trips():
    text = "Sequential(Linear(2, 3), LeakyReLU(1/3), Hardtanh(-2, 1/2), ReLU6(), Abs(), Identity(), Linear(3, 1))"
    m = parse_model(text, (2,))
    assert m.text == text
    assert parse_model(m.text, (2,)) == m


def test_notation_accepts_nn_prefix_keywords_and_decimal_floats():
    m = parse_model("torch.nn.Sequential(nn.Linear(in_features=2, out_features=1, bias=False), "
                    "nn.LeakyReLU(negative_slope=0.01))", (2,))
    assert m.layers[1].table.pieces[0].slope == F(1, 100)
    assert m.parameter_names() == ("W1",)


def test_a_single_layer_is_a_network():
    assert parse_model("Linear(4, 2)", (4,)).output_shape == (2,)


# the column is where ``marker`` starts in the text (the bad token)
@pytest.mark.parametrize("text,marker,fragment", [
    ("Sequential(Linear(2, 3), Relu(), Linear(3, 1))", "Relu", "did you mean ReLU"),
    ("Sequential(Linear(2, 0))", "0)", "out_features must be at least 1"),
    ("Sequential(Linear(2, 3.5))", "3.5", "out_features must be an integer"),
    ("Sequential(Linear(2, 3, bias=1))", "1)", "bias must be True or False"),
    ("Sequential(Linear(2, 3), ReLU(), Linear(4, 1))", "Linear(4", "expects an input of shape (4,), got (3,)"),
    ("Sequential(Linear(2, 3), ReLU(), Linear(3, 1), Linear(2, 1))", "Linear(2, 1)",
     "expects an input of shape (2,), got (1,)"),
    ("Sequential(Linear(2, 3), print)", "print", "expected a layer"),
    ("Sequential(Linear(2, n))", "n)", "must be an int, a float"),
    ("Sequential(Linear(2, __import__('os')))", "__import__", "unknown layer"),
    ("Sequential(Linear(2, 3, 4, 5))", "Linear", "bad arguments to Linear"),
    ("Sequential(Linear(2, 3), ReLU(inplace=True))", "ReLU", "bad arguments to ReLU"),
    ("Sequential(Linear(2, 3)", "(", "never closed"),
    ("Sequential(Hardtanh(1, -1))", "-1", "min_val must be below max_val"),
    ("[Linear(2, 1)]", "[", "expected Sequential"),
])
def test_parse_errors_carry_the_column_and_the_fix(text, marker, fragment):
    with pytest.raises(SpecError) as e:
        parse_model(text, (2,))
    assert fragment in str(e.value)
    assert e.value.source == text
    assert e.value.column == text.index(marker), str(e.value)


def test_a_shape_mismatch_names_the_expected_shape():
    with pytest.raises(SpecError) as e:
        parse_model("Sequential(Linear(3, 1))", (2,))
    assert "expects an input of shape (3,), got (2,)" in e.value.message and e.value.column == 11
