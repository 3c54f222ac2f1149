"""Networks from PyTorch: a user's module file, questioned by its own parameter names."""

from __future__ import annotations

import json
import sys
import textwrap
from fractions import Fraction

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from cexsearch import lang as C  # noqa: E402
from cexsearch.api import build_problem, torch_network  # noqa: E402
from cexsearch.cli import app  # noqa: E402
from cexsearch.engine.search import search  # noqa: E402
from cexsearch.errors import InputError  # noqa: E402
from cexsearch.model.torchnet import SUPPORTED, load_torch_network  # noqa: E402
from cexsearch.output.schema import problems  # noqa: E402
from cexsearch.semantics.numeric import recheck  # noqa: E402
from cexsearch.workflows.claim import Claim  # noqa: E402
from cexsearch.workflows.claimfile import parse_claims  # noqa: E402
from cexsearch.workflows.claims import check_claim  # noqa: E402

runner = CliRunner()

MODULE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, hidden=1):
        super().__init__()
        self.fc1 = nn.Linear(1, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def zero_top():
    torch.manual_seed(0)
    net = Net(2)
    with torch.no_grad():
        net.fc2.weight.zero_()
    return net


def trained():
    torch.manual_seed(1)
    return Net(2)


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 2)
        self.fc = nn.Linear(1, 1)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 2)
        self.fc2 = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) + x


class SigmoidOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 3)
        self.fc2 = nn.Linear(3, 1)
        self.out = nn.Sigmoid()

    def forward(self, x):
        return self.out(self.fc2(torch.relu(self.fc1(x))))


class Skips(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 1)
        self.fc2 = nn.Linear(1, 1)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        return self.fc2(x)


class Reordered(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 1)
        self.fc2 = nn.Linear(2, 3)

    def forward(self, x):
        return self.fc1(F.leaky_relu(self.fc2(x), 0.2))


def mixed_bias():
    return nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1, bias=False))


def mixed_activations():
    return nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2), nn.LeakyReLU(0.5), nn.Linear(2, 1))


class Deep(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 2)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(2, 2)
        self.fc3 = nn.Linear(2, 2)
        self.fc4 = nn.Linear(2, 1)
        self.unused = nn.Linear(5, 5)

    def forward(self, x):
        h = torch.relu(self.fc2(self.act(self.fc1(x))))
        return self.fc4(self.fc3(h).relu())


seq = nn.Sequential(nn.Linear(2, 2), nn.LeakyReLU(0.25), nn.Linear(2, 1))
linear = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Identity(), nn.Linear(2, 1, bias=False))
not_a_module = 3
'''

SEED_001 = ["-r", "grad(fc2.weight) == 0", "-r", "grad(fc2.bias) == 0",
            "-r", "grad(fc1.weight) != 0", "-r", "grad(fc1.bias) != 0"]


@pytest.fixture
def model(tmp_path, monkeypatch):
    """The module file, named relative to the working directory as a user would (short messages)."""
    (tmp_path / "model.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    return "model.py"


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_free_weights_seed_001_is_found_by_the_module_names_and_verifies(model, tmp_path):
    out = tmp_path / "w.json"
    r = run("find", "--torch", f"{model}:Net", "-M", "3", *SEED_001, "--no-shrink", "--json", out)
    assert r.exit_code == 0, r.output
    assert "fc1.weight[0, 0]" in r.output and "grad(fc2.bias)[0]" in r.output  # the terminal tables
    assert "W1" not in r.output and "grad(b2)" not in r.output
    doc = json.loads(out.read_text())
    assert set(doc["values"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "x", "y"}
    assert set(doc["gradients"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert doc["conditions"][0] == "grad(fc2.weight) == 0"
    assert doc["network"]["parameter_names"]["W1"] == "fc1.weight"
    assert problems(doc) == []  # the shipped schema admits the module's names
    v = run("verify", "--strict", out)
    assert v.exit_code == 0, v.output
    assert "holds: grad(fc1.bias) != 0" in v.output
    # a tampered document fails the re-check: verify reads the module's names, not W1..
    doc["values"]["fc2.bias"]["exact"] = ["12345"]
    out.write_text(json.dumps(doc))
    assert run("verify", out).exit_code == 1


def test_weights_from_module_zero_top_layer_has_no_witness(model):
    r = run("find", "--torch", f"{model}:zero_top", "--weights-from-module", "-M", "2", "-r", "grad(fc1.weight) != 0")
    assert r.exit_code == 1, r.output
    assert "NONE" in r.output
    # the same question with the weights free has an answer
    r = run("find", "--torch", f"{model}:zero_top", "-M", "1", "-r", "grad(fc1.weight) != 0", "--no-shrink")
    assert r.exit_code == 0, r.output


def test_weights_from_module_are_the_exact_floats_and_only_the_data_are_free(model, tmp_path):
    out = tmp_path / "w.json"
    r = run("find", "--torch", f"{model}:trained", "--weights-from-module", "-M", "1",
            "-r", "grad(fc2.bias) != 0", "--no-shrink", "--json", out)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    module = torch_network(f"{model}:trained")
    net = module.network
    ref = dict(_load(model, "trained").named_parameters())  # trained() seeds itself: the same weights
    fixed = {(f["name"], tuple(f["index"])): Fraction(f["value"]) for f in doc["fixed"]}
    assert {n for n, _ in fixed} == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    for name, tensor in ref.items():
        flat = tensor.detach().reshape(-1).tolist()
        assert tensor.dtype == torch.float32
        got = [Fraction(v) for v in _flat(doc["values"][name]["exact"])]
        assert got == [Fraction(v) for v in flat]  # exactly the float32 values, not rounded decimals
        assert all(fixed[(name, idx)] == Fraction(v) for idx, v in zip(_indices(tensor.shape), flat))
    assert net.label("W2") == "fc2.weight"
    assert problems(doc) == []
    assert run("verify", out).exit_code == 0  # the fixed entries are read back by the module's names
    doc["fixed"][0]["value"] = "7"  # a fixed value the witness does not have
    out.write_text(json.dumps(doc))
    assert run("verify", out).exit_code == 1


def test_float32_value_is_read_as_its_exact_rational(model):
    lin = torch.nn.Linear(1, 1)
    with torch.no_grad():
        lin.weight.fill_(0.1)
        lin.bias.fill_(-1 / 3)
    found = torch_network(lin)
    values = {n: v for n, _, v in found.weights.items}
    assert values["W1"] == Fraction(13421773, 134217728)  # float32(0.1), not 1/10
    assert values["W1"] == Fraction(float(torch.tensor(0.1, dtype=torch.float32)))
    assert values["b1"] == Fraction(float(torch.tensor(-1 / 3, dtype=torch.float32)))
    assert found.network.names.externals() == ("weight", "bias")


def test_gradients_of_a_witness_agree_with_torch_autograd_on_the_same_module(model, tmp_path):
    out = tmp_path / "w.json"
    r = run("find", "--torch", f"{model}:Reordered", "-M", "2", "-r", "grad(fc2.weight)[0, :] != 0",
            "-r", "grad(fc1.bias) != 0", "-r", "x[0, 0] != x[1, 0]", "--no-shrink", "--json", out)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    module = _load(model, "Reordered").double()
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.tensor([float(Fraction(v)) for v in _flat(doc["values"][name]["exact"])],
                                 dtype=torch.float64).reshape(p.shape))
    x = torch.tensor(doc["values"]["x"]["float"], dtype=torch.float64)
    y = torch.tensor(doc["values"]["y"]["float"], dtype=torch.float64)
    loss = torch.nn.MSELoss()(module(x), y)
    loss.backward()
    for name, p in module.named_parameters():
        exact = [float(Fraction(v)) for v in _flat(doc["gradients"][name]["exact"])]
        assert p.grad.reshape(-1).tolist() == pytest.approx(exact, rel=1e-12, abs=1e-12), name
    assert float(loss.detach()) == pytest.approx(float(Fraction(doc["loss"]["exact"])), rel=1e-12)


@pytest.mark.parametrize("name, named", [
    ("SigmoidOut", "nn.Sigmoid (out)"),
    ("Skips", "the result of F.relu is computed but not used"),
])
def test_an_unsupported_module_or_operation_is_exit_2_naming_it(model, name, named):
    r = run("find", "--torch", f"{model}:{name}", "-r", "grad(fc1.weight) != 0")
    assert r.exit_code == 2, r.output
    assert named in r.output
    assert "nn.Linear" in r.output and "nn.Conv1d" in r.output and "nn.ReLU" in r.output  # what is supported
    assert "Traceback" not in r.output


@pytest.mark.parametrize("name, text", [
    ("Residual", "Sequential(Residual(Linear(2, 2), ReLU(), Linear(2, 2)))"),
    ("mixed_bias", "Sequential(Linear(1, 2), ReLU(), Linear(2, 1, bias=False))"),
    ("mixed_activations", "Sequential(Linear(1, 2), ReLU(), Linear(2, 2), LeakyReLU(1/2), Linear(2, 1))"),
])
def test_a_module_that_is_no_mlp_is_read_as_layers_named_by_their_order(model, name, text):
    found = load_torch_network(f"{model}:{name}")
    assert found.network.text == text and found.network.names is None
    assert found.network.parameter_names()[:2] == ("W1", "b1")
    r = run("find", "--torch", f"{model}:{name}", "-r", "grad(fc1.weight) != 0")  # the module's names are not kept
    assert r.exit_code == 2 and "grad(W1)" in r.output, r.output


def test_a_module_calling_a_conv_needs_the_input_shape(model):
    r = run("find", "--torch", f"{model}:Conv", "-r", "grad(W1) != 0")
    assert r.exit_code == 2, r.output
    assert "starts with conv (nn.Conv1d)" in r.output and "--input-shape 1,8" in r.output
    r = run("find", "--torch", f"{model}:Conv", "--input-shape", "1,3", "-r", "grad(W1) != 0")
    assert r.exit_code == 2, r.output  # nn.Linear(1, 1) on (1, 2): cexsearch's Linear reads one axis
    assert "fc (nn.Linear): Linear(1, 1) expects an input of shape (1,), got (1, 2)" in r.output
    assert "Flatten()" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("ref, message", [
    ("missing.py:Net", "no such file"),
    ("{model}:Nope", "has no 'Nope' (it defines Conv, Deep, Net"),
    ("{model}", "must be PATH.py:NAME"),
    ("{model}:not_a_module", "is not an nn.Module"),
])
def test_a_bad_reference_is_exit_2_with_a_message(model, tmp_path, ref, message):
    r = run("find", "--torch", ref.format(model=model), "-r", "grad(fc1.weight) != 0")
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_the_users_file_imports_its_neighbours(tmp_path):
    (tmp_path / "blocks.py").write_text("import torch.nn as nn\n\ndef mlp():\n    return nn.Sequential(nn.Linear(1, 1))\n")
    (tmp_path / "main_model.py").write_text("from blocks import mlp\n\nnet = mlp()\n")
    assert load_torch_network(f"{tmp_path / 'main_model.py'}:net").network.widths == (1, 1)


def test_an_import_error_in_the_users_file_is_exit_2(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\n\nraise RuntimeError('no GPU here')\n")
    r = run("find", "--torch", f"{bad}:Net", "-r", "grad(weight) != 0")
    assert r.exit_code == 2, r.output
    assert "importing" in r.output and "(line 3): RuntimeError: no GPU here" in r.output


def test_torch_not_installed_names_the_extra(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    r = run("find", "--torch", f"{model}:Net", "-r", "grad(fc1.weight) != 0")
    assert r.exit_code == 2, r.output
    assert "cexsearch[torch]" in r.output


def test_conflicting_options_are_refused(model):
    for extra in (["--net", "1-1-1"], ["--activation", "linear"], ["--no-bias"], ["--leaky-slope", "1/2"]):
        r = run("find", "--torch", f"{model}:Net", *extra, "-r", "grad(fc1.weight) != 0")
        assert r.exit_code == 2, (extra, r.output)
    r = run("find", "--net", "1-1-1", "--weights-from-module", "-r", "grad(W1) != 0")
    assert r.exit_code == 2 and "needs --torch" in r.output
    r = run("find", "-r", "grad(W1) != 0")
    assert r.exit_code == 2 and "--torch PATH.py:NAME" in r.output


def test_internal_and_unknown_names_are_refused_with_the_modules_names(model):
    r = run("find", "--torch", f"{model}:Net", "-r", "grad(W1) != 0")
    assert r.exit_code == 2 and "fc1.weight, fc1.bias, fc2.weight, fc2.bias" in r.output
    r = run("find", "--torch", f"{model}:Net", "-r", "fc1.wieght != 0")
    assert r.exit_code == 2 and "did you mean 'fc1.weight'?" in r.output
    r = run("find", "--torch", f"{model}:Net", "-r", "x != 0", "--fix", "W1=1")
    assert r.exit_code == 2 and "cannot fix unknown name 'W1'" in r.output


def test_sequential_names_and_fix_and_the_mapped_network(model):
    found = load_torch_network(f"{model}:seq")
    net = found.network
    assert net.widths == (2, 2, 1) and net.activation == "leaky_relu" and net.leaky_slope == Fraction(1, 4)
    assert net.names.externals() == ("0.weight", "0.bias", "2.weight", "2.bias")
    problem = build_problem(net, 1, ["grad(0.weight)[1, :] != 0", "2.bias == 1/2"], ["0.weight[0, 1]=3", "x=[[1, 2]]"])
    assert problem.conditions[0].text == "grad(0.weight)[1, :] != 0"
    assert problem.fixed.get("W1", (0, 1)) == 3 and problem.fixed.get("x", (0, 1)) == 2
    outcome = search(problem)
    assert outcome.verdict == "found"
    assert recheck(problem, outcome.witness).confirmed
    deep = load_torch_network(f"{model}:Deep").network  # nn.ReLU and torch.relu are one activation
    assert deep.widths == (1, 2, 2, 2, 1) and deep.activation == "relu"
    assert "unused.weight" not in deep.names.externals()  # defined but not called: not part of the network
    lin = load_torch_network(f"{model}:linear").network
    assert lin.activation == "linear" and not lin.bias and lin.names.externals() == ("0.weight", "2.weight")


def test_condition_columns_stay_where_the_user_wrote_them(model):
    net = load_torch_network(f"{model}:seq").network
    with pytest.raises(InputError) as e:
        C.check(C.parse("grad(0.weight)[5, 0] == 0", net.names), net, 1)
    assert e.value.column == 0 and "out of range" in e.value.message
    with pytest.raises(InputError) as e:
        C.parse("0.weight + 2.bais == 0", net.names)
    assert e.value.column == 11 and "did you mean '2.bias'?" in str(e.value)


def test_claim_file_with_torch_relative_to_it_and_the_python_api(model, tmp_path):
    text = textwrap.dedent('''
        [[claim]]
        name = "a zero top layer stops every lower gradient"
        torch = "model.py:zero_top"
        weights_from_module = true
        samples = "1..2"
        then = ["grad(fc1.weight) == 0", "grad(fc1.bias) == 0"]
        expect = "holds"

        [[claim]]
        name = "seed 001 by the module's names"
        torch = "model.py:Net"
        samples = 3
        given = ["grad(fc2.weight) == 0", "grad(fc2.bias) == 0"]
        fix.fc1.weight = 1
        then = ["grad(fc1.weight) == 0 or grad(fc1.bias) == 0"]
        expect = "refuted"
    ''')
    file = tmp_path / "claims.toml"
    file.write_text(text)
    claims = parse_claims(text, str(file))
    results = [check_claim(c, store=tmp_path / "store") for c in claims]
    assert [r.verdict for r in results] == ["holds", "refuted"]
    assert results[1].witness.witness.entry("W1", (0, 0)) == 1
    doc = json.loads(next((tmp_path / "store").iterdir()).read_text())
    assert "fc1.weight" in doc["values"]
    replayed = check_claim(claims[1], store=tmp_path / "store")  # the stored witness is read back by the names
    assert replayed.verdict == "refuted" and replayed.cases[0].replayed
    r = run("check", file, "--no-store", "--no-shrink")
    assert r.exit_code == 0, r.output

    api = Claim(name="api", model=_load(model, "zero_top"), weights_from_module=True, samples=1,
                then=["grad(fc1.bias) == 0"], expect="holds")
    assert check_claim(api).verdict == "holds"
    with pytest.raises(InputError, match="net conflicts with torch"):
        parse_claims(text.replace('torch = "model.py:Net"', 'torch = "model.py:Net"\nnet = "1-1-1"'), str(file))
    with pytest.raises(InputError, match="SigmoidOut|nn.Sigmoid"):
        Claim(name="bad", torch=f"{model}:SigmoidOut", samples=1, then=["x == 0"], expect="holds")


def test_supported_list_names_the_layers():
    for name in ("nn.Linear", "nn.LeakyReLU", "nn.Identity", "nn.Conv2d", "nn.MaxPool1d", "nn.Hardtanh", "residual"):
        assert name in SUPPORTED


# --------------------------------------------------------------------------


def _load(path, name):
    from cexsearch.model.torchnet import load_reference

    module, _ = load_reference(f"{path}:{name}")
    return module


def _flat(tree):
    if isinstance(tree, list):
        return [v for t in tree for v in _flat(t)]
    return [tree]


def _indices(shape):
    from cexsearch.model.network import entries

    return list(entries(tuple(shape)))
