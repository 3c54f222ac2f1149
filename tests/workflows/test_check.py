"""cexsearch check: claim files, JUnit, the witness store and its replay, the Python API."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cexsearch import Claim, check_claim
from cexsearch.cli import app
from cexsearch.errors import ClaimFileError
from cexsearch.workflows.claimfile import parse_claims

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """
[defaults]
loss = "mse"

[[claim]]
name = "batch refutes"
net = "1-1-1"
samples = "1..3"
given = ["grad(W2) == 0", "grad(b2) == 0"]
then = ["grad(W1) == 0", "grad(b1) == 0"]
expect = "refuted"

[[claim]]
name = "one sample holds"
net = ["1-1-1", "1-2-1"]
samples = 1
given = ["grad(b2) == 0"]
then = ["grad(W1) == 0"]
expect = "holds"
"""


def test_api_check_claim():
    c = Claim(name="api", net="1-1-1", samples=1, given=["grad(b2) == 0"], then=["grad(W1) == 0"], expect="holds")
    assert check_claim(c).verdict == "holds"


def test_check_cli_junit_and_replay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "claims.toml"
    f.write_text(GOOD)
    r = runner.invoke(app, ["check", str(f), "--junit", "j.xml", "--json", "r.json"])
    assert r.exit_code == 0, r.output
    root = ET.parse(tmp_path / "j.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 5  # 3 sizes of the first claim (one skipped after the refutation) + 2 nets
    assert not root.findall(".//failure")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [c["verdict"] for c in doc["claims"]] == ["refuted", "holds"]
    stored = tmp_path / ".cexsearch" / "witnesses" / "batch-refutes.json"
    assert stored.is_file()
    # second run: replayed, no search
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 0
    assert "replayed" in r.output
    # the stored witness verifies
    assert runner.invoke(app, ["verify", str(stored)]).exit_code == 0
    # an edited witness is rejected
    wdoc = json.loads(stored.read_text())
    wdoc["values"]["W2"]["exact"] = [["12345"]]
    stored.write_text(json.dumps(wdoc))
    assert runner.invoke(app, ["verify", str(stored)]).exit_code == 1
    # ... and is not replayed: the search runs again and refutes anew
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 0 and "replayed" not in r.output


def test_changed_claim_is_searched_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "claims.toml"
    f.write_text(GOOD)
    assert runner.invoke(app, ["check", str(f)]).exit_code == 0
    f.write_text(GOOD.replace('samples = "1..3"', 'samples = "2..3"'))
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 0 and "replayed" not in r.output


def test_unexpected_verdict_exits_1_with_annotation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    f = tmp_path / "claims.toml"
    f.write_text(GOOD.replace('expect = "refuted"', 'expect = "holds"', 1))
    r = runner.invoke(app, ["check", str(f), "--no-store", "--junit", "j.xml"])
    assert r.exit_code == 1
    assert f"::error file={f},line=5::batch refutes: refuted, expected holds" in r.output
    assert ET.parse(tmp_path / "j.xml").getroot().findall(".//failure")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[[claim]\nname='x'", "TOML syntax error"),
        (GOOD.replace("given =", "gven =", 1), "unknown key 'gven'"),
        (GOOD.replace('expect = "refuted"', 'expect = "refutd"'), "did you mean 'refuted'"),
        (GOOD.replace('then = ["grad(W1) == 0", "grad(b1) == 0"]', "then = []"), "then is empty"),
        (GOOD.replace('samples = "1..3"', "samples = true"), "samples must be"),
        (GOOD.replace('net = "1-1-1"', 'net = "1-a-1"'), "not a width"),
        (GOOD.replace('"grad(W2) == 0", "grad(b2) == 0"', '"grad(W9) == 0"'), "not a parameter"),
        (GOOD.replace('loss = "mse"', 'los = "mse"'), "did you mean 'loss'"),
    ],
)
def test_bad_claim_files(tmp_path, text, needle):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert str(f) in r.output


def test_bad_claim_names_line_and_claim():
    text = GOOD.replace("given =", "gven =", 1)
    with pytest.raises(ClaimFileError) as e:
        parse_claims(text, "c.toml")
    assert "c.toml:9: claim 'batch refutes'" in str(e.value)


def test_unreadable_path():
    r = runner.invoke(app, ["check", "/nonexistent/claims.toml"])
    assert r.exit_code == 2 and "no such claim file" in r.output


def test_toml_decimals_are_exact():
    text = GOOD.replace('[defaults]\nloss = "mse"', '[defaults]\nloss = "mse"\nbound = 0.1')
    claims = parse_claims(text)
    from fractions import Fraction

    assert claims[0].bound == Fraction(1, 10)


def test_examples_all_as_expected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = [str(p) for p in sorted(EXAMPLES.glob("*.toml"))]
    r = runner.invoke(app, ["check", *files, "--junit", "j.xml"])
    assert r.exit_code == 0, r.output
    ET.parse(tmp_path / "j.xml")


LAYERS = """
[[claim]]
name = "cnn dense head"
net = "Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))"
input_shape = [1, 4]
samples = 2
given = ["grad(W2) == 0", "grad(b2) == 0"]
then = ["grad(W1) == 0"]
expect = "refuted"

[[claim]]
name = "l1 one sample"
net = "Sequential(Linear(1, 2), ReLU(), Linear(2, 1))"
input_shape = "1"
loss = "l1"
samples = 1
given = ["grad(b2) == 0"]
then = ["grad(W1) == 0", "grad(b1) == 0"]
expect = "holds"
"""


def test_claims_in_pytorch_notation_are_decided_stored_and_replayed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "layers.toml"
    f.write_text(LAYERS)
    r = runner.invoke(app, ["check", str(f), "--json", "r.json"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [c["verdict"] for c in doc["claims"]] == ["refuted", "holds"]
    from cexsearch.output import schema

    assert schema.problems(doc) == []
    stored = tmp_path / ".cexsearch" / "witnesses" / "cnn-dense-head.json"
    assert schema.problems(json.loads(stored.read_text())) == []
    assert runner.invoke(app, ["verify", str(stored)]).exit_code == 0
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 0 and "replayed" in r.output
    # a changed input shape is another claim: searched again, not replayed
    f.write_text(LAYERS.replace("input_shape = [1, 4]", "input_shape = [1, 5]").replace("Linear(6, 1)", "Linear(8, 1)"))
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 0 and "replayed" not in r.output, r.output


@pytest.mark.parametrize(
    "edit, needle",
    [
        (("input_shape = [1, 4]\n", ""), "needs input_shape"),
        (("input_shape = [1, 4]", "input_shape = [1, 0]"), "input_shape must be one sample's sizes"),
        (("input_shape = [1, 4]", "input_shape = 4"), "input_shape must be one sample's sizes"),
        (("input_shape = [1, 4]", "input_shape = []"), "input_shape must be one sample's sizes"),
        (("input_shape = [1, 4]", 'input_shape = "1,,4"'), "input_shape must be one sample's sizes"),
        (("Linear(6, 1)", "Linear(5, 1)"), "Linear(5, 1)"),
        (('net = "Sequential(Conv1d', 'activation = "leaky_relu"\nnet = "Sequential(Conv1d'), "activation conflicts"),
        (('loss = "l1"', 'loss = "l3"'), "'l3' is not known"),
        (('loss = "l1"', 'huber_delta = 2'), "huber_delta needs loss huber"),
        (('net = "Sequential(Linear(1, 2), ReLU(), Linear(2, 1))"', 'net = ["1-1-1", "Sequential(Linear(1, 1))"]'),
         "mixes PyTorch's notation and widths"),
    ],
)
def test_bad_claims_in_pytorch_notation(tmp_path, edit, needle):
    f = tmp_path / "bad.toml"
    f.write_text(LAYERS.replace(*edit, 1))
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 2, r.output
    assert needle in r.output, r.output
    assert "Traceback" not in r.output


def test_input_shape_needs_pytorch_notation(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(GOOD.replace('net = "1-1-1"', 'net = "1-1-1"\ninput_shape = [1]', 1))
    r = runner.invoke(app, ["check", str(f)])
    assert r.exit_code == 2 and "input_shape needs a net in PyTorch's notation" in r.output, r.output


def test_check_reads_a_directory_as_its_claim_files(tmp_path):
    claim = '[[claim]]\nname = "{n}"\nnet = "1-1-1"\nsamples = 1\ngiven = ["grad(W2) == 0"]\nthen = ["grad(W1) == 0"]\n' \
            'bias = false\nexpect = "holds"\n'
    for n in ("b", "a"):
        (tmp_path / f"{n}.toml").write_text(claim.format(n=f"claim {n}"))
    (tmp_path / "notes.txt").write_text("not a claim file")
    r = runner.invoke(app, ["check", str(tmp_path), "--no-store"])
    assert r.exit_code == 0, r.output
    assert "2 of 2 claims as expected" in r.output
    assert r.output.index("claim a") < r.output.index("claim b")  # name order
