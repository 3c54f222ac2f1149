"""Networks from PyTorch read as layer models: convolutions, pooling, flatten, activations, residuals."""

from __future__ import annotations

import json
import textwrap
from fractions import Fraction

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from cexsearch.api import torch_network  # noqa: E402
from cexsearch.cli import app  # noqa: E402
from cexsearch.errors import ClaimFileError  # noqa: E402
from cexsearch.model import Model  # noqa: E402
from cexsearch.model.torchlayers import TorchModelError  # noqa: E402
from cexsearch.model.torchnet import network_from_module  # noqa: E402
from cexsearch.semantics import EXACT, trace  # noqa: E402
from cexsearch.workflows.claimfile import parse_claims  # noqa: E402
from cexsearch.workflows.claims import check_claim  # noqa: E402

runner = CliRunner()

CNN = '''
import torch
import torch.nn as nn


net = nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(6, 1))


def zero_top():
    torch.manual_seed(3)
    m = nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(6, 1))
    with torch.no_grad():
        m[3].weight.zero_()
        m[0].weight.fill_(0.1)
    return m


class Dilated(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(1, 2, 2, dilation=2), nn.ReLU())
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))
'''

E2E = ["--input-shape", "1,4", "--samples", "2", "-r", "grad(W2) == 0", "-r", "grad(b2) == 0", "-r", "grad(W1) != 0"]


@pytest.fixture
def cnn(tmp_path, monkeypatch):
    (tmp_path / "cnn.py").write_text(CNN)
    monkeypatch.chdir(tmp_path)
    return "cnn.py"


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_a_torch_cnn_gives_a_verified_witness_that_torch_agrees_with(cnn, tmp_path):
    out = tmp_path / "w.json"
    r = run("find", "--torch", f"{cnn}:net", *E2E, "--cross-check", "torch", "--json", out)
    assert r.exit_code == 0, r.output
    assert "FOUND" in r.output and "Conv1d(1, 2, 2)" in r.output and "W1 (2, 1, 2)" in r.output
    assert "cross-check torch: agrees" in r.output
    doc = json.loads(out.read_text())
    assert doc["network"]["notation"] == "Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))"
    assert doc["network"]["input_shape"] == [1, 4]
    assert run("verify", "--strict", out).exit_code == 0
    # the same question of the same layers written with --net gets the same kind of answer
    same = run("find", "--net", doc["network"]["notation"], *E2E, "--no-shrink")
    assert same.exit_code == 0, same.output


def test_a_conv_module_without_input_shape_is_exit_2_saying_so(cnn):
    r = run("find", "--torch", f"{cnn}:net", "--samples", "1", "-r", "grad(W1) != 0")
    assert r.exit_code == 2, r.output
    assert "starts with 0 (nn.Conv1d)" in r.output and "input shape is not known" in r.output
    assert "--input-shape 1,8" in r.output and "Traceback" not in r.output


def test_a_dilated_conv_deep_in_a_custom_module_is_refused_by_its_path(cnn):
    r = run("find", "--torch", f"{cnn}:Dilated", "--input-shape", "1,4", "-r", "grad(W1) != 0")
    assert r.exit_code == 2, r.output
    assert "features.0 (nn.Conv1d): dilation=(2,) is not supported" in r.output
    assert "Traceback" not in r.output


def test_weights_from_a_conv_module_are_its_exact_floats(cnn, tmp_path):
    found = torch_network(f"{cnn}:zero_top", input_shape=(1, 4))
    values = {(n, i): v for n, i, v in found.weights.items}
    assert values[("W1", (0, 0, 1))] == Fraction(13421773, 134217728)  # float32(0.1), not 1/10
    module = _load(cnn, "zero_top")
    assert values[("b1", (1,))] == Fraction(float(module[0].bias.detach()[1]))
    assert values[("W2", (0, 5))] == 0 and len(values) == 4 + 2 + 6 + 1
    # a zero output weight stops every lower gradient: no data make grad(W1) nonzero
    r = run("find", "--torch", f"{cnn}:zero_top", "--input-shape", "1,4", "--weights-from-module", "-M", "2",
            "-r", "grad(W1) != 0")
    assert r.exit_code == 1 and "NONE" in r.output, r.output
    out = tmp_path / "w.json"
    r = run("find", "--torch", f"{cnn}:zero_top", "--input-shape", "1,4", "--weights-from-module", "-M", "1",
            "-r", "grad(b2) != 0", "--no-shrink", "--json", out)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    fixed = {(f["name"], tuple(f["index"])): Fraction(f["value"]) for f in doc["fixed"]}
    assert fixed == values  # every parameter fixed, exactly; only x and y were free
    assert run("verify", out).exit_code == 0


def test_a_claim_about_a_conv_module_takes_input_shape(cnn, tmp_path):
    text = textwrap.dedent('''
        [[claim]]
        name = "seed 000's CNN follow-up: a zero top gradient does not stop the conv's"
        torch = "cnn.py:net"
        input_shape = [1, 4]
        samples = 2
        given = ["grad(W2) == 0", "grad(b2) == 0"]
        then = ["grad(W1) == 0"]
        expect = "refuted"
    ''')
    file = tmp_path / "claims.toml"
    file.write_text(text)
    (claim,) = parse_claims(text, str(file))
    assert check_claim(claim, store=tmp_path / "store").verdict == "refuted"
    with pytest.raises(ClaimFileError, match=r"input_shape = \[1, 8\]"):
        parse_claims(text.replace("input_shape = [1, 4]\n", ""), str(file))


def _load(path, name):
    from cexsearch.model.torchnet import load_reference

    module, _ = load_reference(f"{path}:{name}")
    return module


# --------------------------------------------------------------------------
# every layer type: the model read from the module has the module's gradients


class AbsResidual(nn.Module):
    """torch.abs, x.abs(), torch.flatten(x, 1), F.leaky_relu and two residual blocks (one by +=)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3, padding=1)
        self.block = nn.Sequential(nn.ReLU(), nn.Conv1d(2, 2, 3, padding="same"))
        self.fc1 = nn.Linear(10, 4)
        self.fc0 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 1)

    def forward(self, x):
        h = self.conv(x)
        h = h + self.block(h)
        h = F.leaky_relu(self.fc1(torch.abs(torch.flatten(h.abs(), 1))), 0.2)
        h += self.fc0(F.relu(h))  # in place: nothing autograd keeps reads h
        return self.fc2(h)


class Functional(nn.Module):
    """The functional spellings: F.hardtanh, F.relu6, abs(x), x.flatten(1), torch.add, padding="valid"."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 2, padding="valid")
        self.fc = nn.Linear(8, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        h = abs(F.hardtanh(self.conv(x), -0.5, 2.0)).flatten(1)
        h = torch.add(h, self.fc(F.relu6(h)))
        return self.out(h)


LAYER_CASES = {
    "Conv1d stride padding, ReLU, Flatten, Linear": (
        lambda: nn.Sequential(nn.Conv1d(2, 3, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2)),
        (2, 7)),
    "Conv2d tuples, LeakyReLU": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, (2, 3), stride=(2, 1), padding=(1, 0)), nn.LeakyReLU(0.2),
                              nn.Flatten(), nn.Linear(18, 1)), (1, 5, 5)),
    "MaxPool1d, no bias": (
        lambda: nn.Sequential(nn.Conv1d(1, 2, 2, bias=False), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(8, 1)),
        (1, 9)),
    "AvgPool2d, Hardtanh": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 2), nn.AvgPool2d(2), nn.Hardtanh(-0.5, 0.5), nn.Flatten(),
                              nn.Linear(8, 1)), (1, 5, 5)),
    "MaxPool2d tuple, ReLU6": (
        lambda: nn.Sequential(nn.Conv2d(1, 1, 1), nn.MaxPool2d((2, 1)), nn.ReLU6(), nn.Flatten(), nn.Linear(6, 1)),
        (1, 4, 3)),
    "AvgPool1d, Identity": (
        lambda: nn.Sequential(nn.Conv1d(1, 2, 1), nn.AvgPool1d(3), nn.Identity(), nn.Flatten(), nn.Linear(4, 1)),
        (1, 6)),
    "abs, residuals, torch.flatten, F.leaky_relu": (AbsResidual, (1, 5)),
    "functional forms": (Functional, (1, 2, 5)),
    "an MLP with an activation after its last layer": (
        lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU()), None),
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_the_model_read_from_a_module_has_its_autograd_gradients(case):
    build, shape = LAYER_CASES[case]
    torch.manual_seed(sorted(LAYER_CASES).index(case))
    module = build().double()
    with torch.no_grad():
        for p in module.parameters():  # about half the units active, pools without ties
            p.copy_(torch.randn(p.shape, dtype=torch.float64))
    found = network_from_module(module, "module", input_shape=shape)
    model = found.network
    assert isinstance(model, Model)
    samples = 3
    x = torch.randn(samples, *model.input_shape, dtype=torch.float64) * (4 if "ReLU6" in case else 1)
    y = torch.randn(samples, *model.output_shape, dtype=torch.float64)
    # the weights read are the module's parameters, exactly, in forward() order
    params = {}
    for name, tensor in zip(model.parameter_names(), module.parameters(), strict=True):
        values = np.empty(tensor.numel(), dtype=object)
        values[:] = [v for n, _, v in found.weights.items if n == name]
        assert list(values) == [Fraction(v) for v in tensor.detach().reshape(-1).tolist()], name
        params[name] = values.reshape(tuple(tensor.shape))
    exact = trace(model, params, _fractions(x), _fractions(y), EXACT)
    loss = F.mse_loss(module(x), y)
    loss.backward()
    assert float(exact.loss) == pytest.approx(loss.item(), rel=1e-12)
    for name, tensor in zip(model.parameter_names(), module.parameters()):
        ours = np.array([float(v) for v in exact.gradients[name].reshape(-1)])
        assert ours == pytest.approx(tensor.grad.reshape(-1).numpy(), rel=1e-9, abs=1e-12), (case, name)


def test_residual_blocks_are_read_from_the_dataflow():
    assert network_from_module(AbsResidual(), "m", input_shape=(1, 5)).network.text == (
        "Sequential(Conv1d(1, 2, 3, padding=1), Residual(ReLU(), Conv1d(2, 2, 3, padding=1)), Abs(), Flatten(), "
        "Abs(), Linear(10, 4), LeakyReLU(1/5), Residual(ReLU(), Linear(4, 4)), Linear(4, 1))")
    assert network_from_module(Functional(), "m", input_shape=(1, 2, 5)).network.text == (
        "Sequential(Conv2d(1, 2, 2), Hardtanh(-1/2, 2), Abs(), Flatten(), Residual(ReLU6(), Linear(8, 8)), "
        "Linear(8, 1))")


def _fractions(t):
    arr = np.empty(t.numel(), dtype=object)
    arr[:] = [Fraction(v) for v in t.reshape(-1).tolist()]
    return arr.reshape(tuple(t.shape))


# --------------------------------------------------------------------------
# what does not map is refused, naming the module path and the attribute


class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 2)

    def forward(self, x):
        return self.a(x) + self.b(x)


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(self.fc(x))


class Viewed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 1)

    def forward(self, x):
        return self.conv(x).view(x.size(0), -1)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return 2 * self.fc(x)


def _tied():
    m = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    m[2].weight = m[0].weight
    return m


@pytest.mark.parametrize("build, message", [
    (lambda: nn.Conv1d(1, 1, 2, groups=1, dilation=2), "the module (nn.Conv1d): dilation=(2,) is not supported"),
    (lambda: nn.Sequential(nn.Conv1d(2, 2, 2, groups=2)), "0 (nn.Conv1d): groups=2 is not supported"),
    (lambda: nn.Sequential(nn.Sequential(nn.Conv2d(1, 1, 2, padding=1, padding_mode="circular"))),
     "0.0 (nn.Conv2d): padding_mode='circular' is not supported"),
    (lambda: nn.Sequential(nn.Conv1d(1, 1, 2, padding="same")), "0 (nn.Conv1d): padding='same' is not supported"),
    (lambda: nn.Sequential(nn.MaxPool1d(2, stride=1)), "0 (nn.MaxPool1d): stride=1 is not supported"),
    (lambda: nn.Sequential(nn.AvgPool2d(2, padding=1)), "0 (nn.AvgPool2d): padding=1 is not supported"),
    (lambda: nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), "0 (nn.MaxPool2d): ceil_mode=True is not supported"),
    (lambda: nn.Sequential(nn.MaxPool1d(2, dilation=2)), "0 (nn.MaxPool1d): dilation=2 is not supported"),
    (lambda: nn.Sequential(nn.AvgPool2d(2, divisor_override=3)), "divisor_override=3 is not supported"),
    (lambda: nn.Sequential(nn.Flatten(0)), "0 (nn.Flatten): start_dim=0 is not supported"),
    (lambda: nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()), "unsupported module nn.Sigmoid (1)"),
    (TwoBranches, "operator.add adds the output of a and the output of b, neither computed from the other"),
    (Shared, "the layer fc is used twice (shared weights)"),
    (_tied, "2.weight is the same tensor as 0.weight (tied weights)"),
    (lambda: nn.ModuleList([nn.Linear(1, 1)]), "unsupported module nn.ModuleList (the module)"),
    (Viewed, "unsupported operation .size() in forward() (write nn.Flatten() or torch.flatten(x, 1))"),
    (Scaled, "unsupported operation operator.mul (*)"),
])
def test_what_has_no_layer_is_refused_by_name(build, message):
    with pytest.raises(TorchModelError) as e:
        network_from_module(build(), "m", input_shape=(1, 4, 4))
    assert message in str(e.value)


def test_a_residual_block_must_keep_the_shape_and_the_shapes_are_checked_by_module():
    class Grows(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3)

        def forward(self, x):
            return x + self.fc(x)

    with pytest.raises(TorchModelError, match=r"the block maps \(2,\) to \(3,\)"):
        network_from_module(Grows(), "m")
    with pytest.raises(TorchModelError, match=r"m: 2 \(nn.Linear\): Linear\(5, 1\) expects an input of shape \(5,\)"):
        network_from_module(nn.Sequential(nn.Conv1d(1, 2, 2), nn.Flatten(), nn.Linear(5, 1)), "m", input_shape=(1, 4))


def test_an_mlp_module_keeps_its_names_unless_the_loss_needs_layers():
    mlp = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    assert network_from_module(mlp, "m").network.names.externals() == ("0.weight", "0.bias", "2.weight", "2.bias")
    assert network_from_module(mlp, "m", input_shape=(2,)).network.names is not None
    layered = network_from_module(mlp, "m", loss="huber", huber_delta=Fraction(1, 2)).network
    assert isinstance(layered, Model) and layered.loss.describe() == Model.from_mlp(
        "2-2-1", loss="huber", huber_delta=Fraction(1, 2)).loss.describe()
    with pytest.raises(TorchModelError, match=r"0 \(nn.Linear\): Linear\(2, 2\) expects an input of shape \(2,\)"):
        network_from_module(mlp, "m", input_shape=(3,))
