"""plot(): a picture of a one-input, one-output witness, written atomically as PNG or SVG."""

from __future__ import annotations

import random
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest

from cexsearch.api import NetworkSettings, build_problem
from cexsearch.errors import InputError
from cexsearch.model.network import Network
from cexsearch.model.problem import Assignment, Problem
from cexsearch.output.plot import first_layer_kinks, plot, x_range

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def seed_problem() -> tuple[Problem, Assignment]:
    net = NetworkSettings().network("1-1-1")
    problem = build_problem(net, 3, ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"])
    a = Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
                            ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))
    return problem, a


def random_assignment(net: Network, samples: int, seed: int) -> Assignment:
    rng = random.Random(seed)
    values = []
    for name in net.variable_names():
        size = int(np.prod(net.shape(name, samples)))
        values.append((name, tuple(F(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(size))))
    return Assignment(net, samples, tuple(values))


# --------------------------------------------------------------------------
# Pure helpers (no matplotlib needed)


def test_kinks_and_range_of_the_seed() -> None:
    _, a = seed_problem()
    assert first_layer_kinks(a) == [F(1)]  # x = -b1/W1 = 1
    assert x_range(list(a.flat("x"))) == (F(-1, 2), F(7, 2))


def test_units_with_zero_weight_have_no_kink() -> None:
    net = NetworkSettings().network("1-3-1")
    a = Assignment(net, 1, (("W1", (F(0), F(2), F(-4))), ("b1", (F(1), F(1), F(-2))), ("W2", (F(1), F(1), F(1))),
                            ("b2", (F(0),)), ("x", (F(0),)), ("y", (F(0),))))
    assert first_layer_kinks(a) == [F(-1, 2)]  # -1/2 from unit 1 and from unit 2 (-(-2)/(-4)), once; none from unit 0


def test_linear_networks_have_no_kinks() -> None:
    net = NetworkSettings(activation="linear").network("1-2-1")
    assert first_layer_kinks(random_assignment(net, 2, 0)) == []


# --------------------------------------------------------------------------
# Input errors


def test_only_one_input_and_one_output(tmp_path: Path) -> None:
    net = NetworkSettings().network("2-3-2")
    a = random_assignment(net, 2, 0)
    with pytest.raises(InputError, match=r"width_0 = width_L = 1"):
        plot(build_problem(net, 2, []), a, str(tmp_path / "w.png"))
    net = NetworkSettings().network("1-3-2")
    with pytest.raises(InputError, match=r"width_0 = width_L = 1"):
        plot(build_problem(net, 2, []), random_assignment(net, 2, 0), str(tmp_path / "w.png"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["w.jpg", "w.pdf", "w", "w.png.txt"])
def test_unknown_suffix(tmp_path: Path, name: str) -> None:
    problem, a = seed_problem()
    with pytest.raises(InputError) as info:
        plot(problem, a, str(tmp_path / name))
    assert ".png" in (info.value.hint or "") and ".svg" in (info.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    problem, a = seed_problem()
    with pytest.raises(InputError) as info:
        plot(problem, a, str(tmp_path / "w.png"))
    assert info.value.message == "--plot needs matplotlib"
    assert info.value.hint == "pip install 'cexsearch[plot]'"
    assert list(tmp_path.iterdir()) == []


def test_a_witness_of_another_problem_is_refused(tmp_path: Path) -> None:
    _, a = seed_problem()
    with pytest.raises(InputError, match="same network"):
        plot(build_problem(a.network, 4, []), a, str(tmp_path / "w.png"))


# --------------------------------------------------------------------------
# Rendering


def test_png_of_the_seed(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    problem, a = seed_problem()
    target = tmp_path / "seed.png"
    plot(problem, a, str(target))
    data = target.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["seed.png"]  # no temporary file left behind


def test_svg_of_the_seed(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    problem, a = seed_problem()
    target = tmp_path / "out" / "seed.SVG"
    plot(problem, a, str(target))
    root = ET.parse(target).getroot()
    assert root.tag.rsplit("}", 1)[-1] == "svg"
    text = target.read_text(encoding="utf-8")
    assert "grad(W1)[0,0]" in text and "-2/3" in text  # gradient bar labels, exact values on the bars
    assert [p.name for p in target.parent.iterdir()] == ["seed.SVG"]


def test_overwrites_an_existing_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    problem, a = seed_problem()
    target = tmp_path / "w.png"
    target.write_bytes(b"old")
    plot(problem, a, str(target))
    assert target.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("widths", "settings"),
    [("1-2-2-1", {}), ("1-4-1", {"activation": "leaky_relu", "bias": False}), ("1-1", {}),
     ("1-3-1", {"activation": "linear", "loss": "sse"})],
)
def test_other_one_dimensional_networks(tmp_path: Path, widths: str, settings: dict) -> None:
    pytest.importorskip("matplotlib")
    net = NetworkSettings(**settings).network(widths)
    a = random_assignment(net, 5, 1)
    target = tmp_path / "w.svg"
    plot(build_problem(net, 5, []), a, str(target))
    assert ET.parse(target).getroot().tag.endswith("svg")


def test_one_sample_at_one_x(tmp_path: Path) -> None:
    """A single data point (zero x span) still gets a visible range around it."""
    pytest.importorskip("matplotlib")
    net = NetworkSettings().network("1-2-1")
    a = random_assignment(net, 1, 4)
    plot(build_problem(net, 1, []), a, str(tmp_path / "one.png"))
    assert (tmp_path / "one.png").read_bytes().startswith(PNG_MAGIC)


# --------------------------------------------------------------------------
# Layer models (--net in PyTorch's notation) whose input and output are one number each


def layer_assignment(text: str, samples: int, seed: int, loss: str = "mse") -> Assignment:
    from cexsearch.api import layer_network

    return random_assignment(layer_network(text, "1", loss=loss), samples, seed)  # type: ignore[arg-type]


def test_layer_kinks_are_at_every_breakpoint_of_the_first_activation() -> None:
    from cexsearch.api import layer_network

    model = layer_network("Sequential(Linear(1, 2), Hardtanh(), Linear(2, 1))", "1")
    a = Assignment(model, 1, (("W1", (F(2), F(0))), ("b1", (F(1), F(3))), ("W2", (F(1), F(1))), ("b2", (F(0),)),
                              ("x", (F(0),)), ("y", (F(0),))))
    assert first_layer_kinks(a) == [F(-1), F(0)]  # 2x + 1 = -1 and = 1; unit 1 has W1 = 0: none
    relu_first = layer_assignment("Sequential(Linear(1, 1), Linear(1, 1), ReLU(), Linear(1, 1))", 2, 0)
    assert first_layer_kinks(relu_first) == []  # no activation right after the first layer


def test_layer_model_curve_is_the_traces_function() -> None:
    from cexsearch.output.plot import _curve
    from cexsearch.semantics.numeric import evaluate

    a = layer_assignment("Sequential(Linear(1, 3), ReLU(), Residual(Linear(3, 3), Abs()), Linear(3, 1))", 4, 2)
    xs = list(a.flat("x"))
    assert _curve(a, xs) == [float(v) for v in evaluate(a, exact=False).yhat[:, 0]]


@pytest.mark.parametrize("net, loss", [("Sequential(Linear(1, 4), ReLU(), Linear(4, 1))", "mse"),
                                       ("Sequential(Linear(1, 2), LeakyReLU(0.5), Linear(2, 1))", "huber")])
def test_png_of_a_layer_model(tmp_path: Path, net: str, loss: str) -> None:
    pytest.importorskip("matplotlib")
    a = layer_assignment(net, 3, 1, loss)
    target = tmp_path / "w.svg"
    plot(build_problem(a.network, 3, []), a, str(target))
    text = target.read_text(encoding="utf-8")
    assert "grad(W2)[0,0]" in text and "Sequential(Linear(1," in text


def test_a_layer_model_of_another_shape_is_refused_naming_it(tmp_path: Path) -> None:
    from cexsearch.api import layer_network
    from cexsearch.output.plot import require_plottable

    model = layer_network("Sequential(Linear(2, 1))", "2")
    with pytest.raises(InputError) as info:
        require_plottable(model)
    assert "Sequential(Linear(2, 1)) takes input shape (2,) and gives (1,)" in info.value.message
    assert "--input-shape 1" in (info.value.hint or "")
    a = random_assignment(model, 2, 0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="one input and one output number"):
        plot(build_problem(model, 2, []), a, str(tmp_path / "w.png"))
    assert list(tmp_path.iterdir()) == []
