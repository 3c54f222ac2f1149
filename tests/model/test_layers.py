"""Convolutions, poolings and residual blocks against PyTorch, on fixed and on randomly drawn architectures."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest
from architectures import ACTS, random_architecture

from cexsearch.errors import SpecError
from cexsearch.model import LAYERS, parse_model
from cexsearch.semantics import EXACT, FLOAT, trace


def _values(rng, shape, ties=False):
    """Multiples of 1/4 (exact in float64); with ``ties`` small integers, so windows tie often."""
    size = int(np.prod(shape))
    raw = rng.integers(-2, 3, size=size) * 4 if ties else rng.integers(-8, 9, size=size)
    return np.array([F(int(v), 4) for v in raw], dtype=object).reshape(shape)


def _check_against_torch(model, rng, samples=3, ties=False, loss_targets=None):
    from torch_models import torch_trace

    params = {p.name: _values(rng, p.shape, ties) for p in model.parameters()}
    x = _values(rng, model.shape("x", samples), ties)
    y = _values(rng, model.shape("y", samples))
    t = trace(model, params, x, y, EXACT)
    tl, tg_yhat, tg = torch_trace(model, params, x, y)
    assert float(t.loss) == pytest.approx(tl, rel=1e-12, abs=1e-12)
    for p in t.gradients:
        np.testing.assert_allclose(t.gradients[p].astype(float), tg[p], rtol=1e-12, atol=1e-12, err_msg=p)
    f = trace(model, params, x, y, FLOAT)
    for p in t.gradients:
        np.testing.assert_allclose(f.gradients[p], t.gradients[p].astype(float), rtol=1e-9, atol=1e-9)
    return t


FIXED = [
    ("Sequential(Conv1d(1, 2, 3), ReLU(), Flatten(), Linear(12, 1))", (1, 8)),
    ("Sequential(Conv1d(2, 3, 2, stride=2, padding=1, bias=False), Abs(), AvgPool1d(2), Flatten(), Linear(6, 2))",
     (2, 7)),
    ("Sequential(Conv2d(1, 2, 2, padding=1), ReLU6(), MaxPool2d(2), Flatten(), Linear(8, 1))", (1, 4, 4)),
    ("Sequential(Conv2d(2, 2, (2, 3), stride=(2, 1)), LeakyReLU(0.5), AvgPool2d(2), Flatten(), Linear(4, 1))",
     (2, 5, 6)),
    ("Sequential(MaxPool1d(3), Flatten(), Linear(4, 1))", (2, 7)),
    ("Sequential(Linear(3, 3), Residual(Linear(3, 3), ReLU(), Linear(3, 3)), Hardtanh(), Linear(3, 1))", (3,)),
    ("Sequential(Residual(Conv1d(2, 2, 3, padding=1), ReLU()), MaxPool1d(2), Flatten(), Linear(4, 1, bias=False))",
     (2, 4)),
    ("Sequential(Conv2d(1, 1, 3, padding=1, bias=False), Flatten())", (1, 3, 3)),
]


@pytest.mark.parametrize("text,shape", FIXED)
@pytest.mark.parametrize("loss", ["mse", "l1", "huber"])
def test_fixed_architectures_match_torch(text, shape, loss):
    pytest.importorskip("torch")
    model = parse_model(text, shape, loss=loss)
    assert parse_model(model.text, shape, loss=loss) == model
    rng = np.random.default_rng(abs(hash((text, loss))) % 2**32)
    for ties in (False, True):
        for _ in range(4):
            _check_against_torch(model, rng, ties=ties)


@pytest.mark.parametrize("seed", range(12))
def test_random_architectures_match_torch(seed):
    pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    text, shape = random_architecture(rng)
    loss = str(rng.choice(["mse", "sse", "l1", "huber"]))
    model = parse_model(text, shape, loss=loss, relu_grad_at_zero=0)
    for ties in (False, True):
        _check_against_torch(model, rng, samples=int(rng.integers(1, 4)), ties=ties)


def test_every_layer_is_covered_by_the_differential_tests():
    text = " ".join(t for t, _ in FIXED) + " ".join(ACTS)
    assert all(name in text for name in LAYERS), [n for n in LAYERS if n not in text]


def test_max_pool_ties_go_to_the_first_maximum_as_in_torch():
    torch = pytest.importorskip("torch")
    for text, shape, x in [("MaxPool1d(4)", (1, 4), [[[1, 3, 3, 2]]]),
                           ("MaxPool2d(2)", (1, 2, 2), [[[[3, 3], [3, 3]]]]),
                           ("MaxPool2d(2)", (1, 2, 2), [[[[1, 2], [2, 2]]]])]:
        model = parse_model(f"Sequential({text}, Flatten())", shape, loss="sse")
        xs = np.array(x, dtype=object) * F(1)
        t = trace(model, {}, xs, np.zeros(model.shape("y", 1), dtype=object), EXACT)
        xt = torch.tensor(np.array(x, dtype=float), dtype=torch.float64, requires_grad=True)
        getattr(torch.nn, text.split("(")[0])(int(text[-2]))(xt).sum().backward()
        first = int(np.flatnonzero(xt.grad.numpy().reshape(-1))[0])
        assert t.pattern_of("0").reshape(-1).tolist() == [first]


def test_conv_pattern_and_gradient_of_a_shared_bias():
    # Conv1d(1, 1, 1) with W = 1, b = 0 on x = (1, 2, 3), sse against 0: db = 2 Σ yhat = 12
    model = parse_model("Sequential(Conv1d(1, 1, 1), Flatten())", (1, 3), loss="sse")
    t = trace(model, {"W1": [[[1]]], "b1": [0]}, [[[F(1), F(2), F(3)]]], [[0, 0, 0]], EXACT)
    assert t.gradients["b1"].tolist() == [12] and t.gradients["W1"].reshape(-1).tolist() == [28]


@pytest.mark.parametrize("text,shape,fragment", [
    ("Sequential(Conv1d(2, 2, 3), Linear(4, 1))", (2, 5), "put Flatten() before it"),
    ("Sequential(Conv1d(3, 2, 3))", (2, 5), "in_channels = 3, got (2, 5)"),
    ("Sequential(Conv1d(2, 2, 9))", (2, 5), "the kernel does not fit"),
    ("Sequential(Conv2d(1, 1, 2))", (1, 5), "expects an input of shape (in_channels, H, W)"),
    ("Sequential(MaxPool2d(2))", (1, 1, 5), "the window does not fit"),
    ("Sequential(Residual(Linear(2, 3)))", (2,), "its output must have the input's shape (2,)"),
    ("Sequential(Residual())", (2,), "at least one layer"),
    ("Sequential(Residual(3))", (2,), "Residual takes layers"),
    ("Sequential(Conv2d(1, 1, (2, 2, 2)))", (1, 3, 3), "kernel_size needs 2 sizes"),
])
def test_layer_shape_errors_name_the_expected_shape(text, shape, fragment):
    with pytest.raises(SpecError) as e:
        parse_model(text, shape)
    assert fragment in str(e.value) and e.value.column is not None


@pytest.mark.parametrize("seed", range(12))
def test_sites_are_the_trace_pattern(seed):
    rng = np.random.default_rng(200 + seed)
    text, shape = random_architecture(rng)
    model = parse_model(text, shape, loss=str(rng.choice(["mse", "l1", "hinge"])))
    samples = int(rng.integers(1, 3))
    params = {p.name: _values(rng, p.shape) for p in model.parameters()}
    y = np.ones(model.shape("y", samples), dtype=object)
    t = trace(model, params, _values(rng, model.shape("x", samples)), y, EXACT)
    sites = model.sites(samples)
    assert [(s.path, s.shape) for s in sites] == [(p, a.shape) for p, a in t.pattern]
    assert all(0 <= a.min() and a.max() < s.pieces for s, (_, a) in zip(sites, t.pattern) if a.size)


def test_summary_lists_every_layer_with_its_parameters():
    model = parse_model("Sequential(Conv1d(1, 2, 2), ReLU(), Residual(Conv1d(2, 2, 1)), Flatten(), Linear(6, 1))",
                        (1, 4))
    rows = [(r.path, r.kind, r.input_shape, r.output_shape, r.parameters) for r in model.summary()]
    assert rows == [("0", "Conv1d", (1, 4), (2, 3), ("W1", "b1")), ("1", "Activation", (2, 3), (2, 3), ()),
                    ("2", "Residual", (2, 3), (2, 3), ()), ("2.0", "Conv1d", (2, 3), (2, 3), ("W2", "b2")),
                    ("3", "Flatten", (2, 3), (6,), ()), ("4", "Linear", (6,), (1,), ("W3", "b3"))]
