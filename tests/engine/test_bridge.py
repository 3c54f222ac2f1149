"""An MLP written in PyTorch's notation is decided by the MLP engine and re-checked by its own trace."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cexsearch.api import NetworkSettings, build_problem, layer_network
from cexsearch.cli import app
from cexsearch.engine.bridge import mlp_twin
from cexsearch.engine.options import SearchOptions
from cexsearch.engine.search import search

SEED_001 = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"]


@pytest.mark.parametrize("notation, shape, loss, widths, settings", [
    ("Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", "1", "mse", "1-1-1", {}),
    ("Sequential(Linear(2, 3), LeakyReLU(0.5), Linear(3, 1))", "2", "sse", "2-3-1",
     {"activation": "leaky_relu", "leaky_slope": "1/2"}),
    ("Sequential(Linear(2, 2, bias=False), Identity(), Linear(2, 2, bias=False))", "2", "mse", "2-2-2",
     {"activation": "linear", "bias": False}),
    ("Sequential(Linear(1, 2), ReLU(), Linear(2, 2), ReLU(), Linear(2, 1))", "1", "mse", "1-2-2-1", {}),
])
def test_an_mlp_in_layers_has_the_shorthand_as_twin(notation, shape, loss, widths, settings):
    from fractions import Fraction

    twin = mlp_twin(layer_network(notation, shape, loss))
    kw = dict(settings)
    if "leaky_slope" in kw:
        kw["leaky_slope"] = Fraction(kw["leaky_slope"])
    assert twin == NetworkSettings(loss=loss, **kw).network(widths)


@pytest.mark.parametrize("notation, shape, loss", [
    ("Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", "1", "l1"),  # not an MLP loss
    ("Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", "1", "huber"),
    ("Sequential(Linear(1, 1), ReLU(), Linear(1, 1, bias=False))", "1", "mse"),  # bias in one layer only
    ("Sequential(Linear(1, 2), ReLU(), Linear(2, 2), LeakyReLU(), Linear(2, 1))", "1", "mse"),  # two activations
    ("Sequential(Linear(1, 1), Linear(1, 1))", "1", "mse"),  # no activation between
    ("Sequential(Linear(1, 1), ReLU())", "1", "mse"),  # ends in an activation
    ("Sequential(Linear(1, 1), Hardtanh(), Linear(1, 1))", "1", "mse"),
    ("Sequential(Conv1d(1, 1, 2), ReLU(), Flatten(), Linear(3, 1))", "1,4", "mse"),
])
def test_anything_else_stays_a_layer_model(notation, shape, loss):
    assert mlp_twin(layer_network(notation, shape, loss)) is None


def test_the_twin_gives_the_shorthands_verdict_and_witness_and_the_models_recheck():
    model = layer_network("Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", "1")
    net = NetworkSettings().network("1-1-1")
    for m in (2, 3):
        layered = search(build_problem(model, m, SEED_001), SearchOptions())
        plain = search(build_problem(net, m, SEED_001), SearchOptions())
        assert layered.verdict == plain.verdict
        if plain.witness is not None:
            assert layered.witness.network is model  # reported about the model, re-checked by its trace
            assert layered.recheck.confirmed
            assert layered.witness.values == plain.witness.values


def test_the_default_command_on_an_mlp_in_layers_works_at_the_readmes_sizes():
    # As layers this was one If query with a 60 s budget: unknown at 10-10-1 x 64
    r = CliRunner().invoke(app, ["find", "--net", "Sequential(Linear(10, 10), ReLU(), Linear(10, 1))",
                                 "--input-shape", "10", "--samples", "64", "-r", "grad(W2) == 0",
                                 "-r", "grad(b2) == 0", "-r", "grad(W1) != 0"])
    assert r.exit_code == 0, r.output
    assert "FOUND" in r.output and "Linear(10, 10)" in r.output
