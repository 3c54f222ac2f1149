"""`cexsearch find` on networks in PyTorch's notation: issue 11's command, its documents, errors and proofs."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app
from cexsearch.output import schema

runner = CliRunner()

CNN = "Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))"
ISSUE_11 = ["find", "--net", CNN, "--input-shape", "1,4", "--samples", "2",
            "-r", "grad(W2) == 0", "-r", "grad(b2) == 0", "-r", "grad(W1) != 0"]


def run(*args: str):
    return runner.invoke(app, list(args))


def _flat(tree):
    return [v for sub in tree for v in _flat(sub)] if isinstance(tree, list) else [tree]


def hand_gradients(doc: dict) -> dict[str, list[Fraction]]:
    """The CNN's gradients (mse) from the document's values alone, by loops: no cexsearch code."""
    v = {k: [Fraction(x) for x in _flat(d["exact"])] for k, d in doc["values"].items()}
    M = doc["samples"]
    W1 = [[v["W1"][2 * c], v["W1"][2 * c + 1]] for c in range(2)]  # (2, 1, 2)
    b1, W2, b2 = v["b1"], v["W2"], v["b2"][0]
    g = {"W1": [Fraction(0)] * 4, "b1": [Fraction(0)] * 2, "W2": [Fraction(0)] * 6, "b2": [Fraction(0)]}
    for m in range(M):
        x, y = v["x"][4 * m: 4 * m + 4], v["y"][m]
        z = [[W1[c][0] * x[t] + W1[c][1] * x[t + 1] + b1[c] for t in range(3)] for c in range(2)]
        a = [max(zi, Fraction(0)) for row in z for zi in row]  # flattened channel-major, as Flatten()
        r = sum(W2[i] * a[i] for i in range(6)) + b2 - y
        d = 2 * r / M  # mse over M x 1 outputs
        g["b2"][0] += d
        for i in range(6):
            g["W2"][i] += d * a[i]
            c, t = divmod(i, 3)
            if z[c][t] > 0:  # relu'(0) = 0, as PyTorch
                g["b1"][c] += d * W2[i]
                g["W1"][2 * c] += d * W2[i] * x[t]
                g["W1"][2 * c + 1] += d * W2[i] * x[t + 1]
    return g


def test_issue_11_command_prints_a_confirmed_witness_with_its_convolution_laid_out():
    r = run(*ISSUE_11)
    assert r.exit_code == 0, r.output
    out = r.output
    assert "FOUND" in out and "confirmed by the exact" in out
    assert "Conv1d(1, 2, 2)" in out and "W1 (2, 1, 2)" in out and "(2, 3)" in out  # the layer table
    assert "W1[0, 0, 1]" in out and "grad(W1)[1, 0, 1]" in out  # full indices of a rank-3 tensor
    assert "a layer network is shrunk by local steps only" in out


def test_issue_11_json_is_schema_valid_independently_correct_and_verifies(tmp_path):
    path = tmp_path / "w.json"
    r = run(*ISSUE_11, "--json", str(path))
    assert r.exit_code == 0, r.output
    doc = json.loads(path.read_text())
    assert schema.problems(doc) == []
    net = doc["network"]
    assert net["notation"] == CNN and net["input_shape"] == [1, 4] and net["loss"] == "mse"
    assert [layer["notation"] for layer in net["layers"]] == ["Conv1d(1, 2, 2)", "ReLU()", "Flatten()", "Linear(6, 1)"]
    assert net["layers"][0]["parameters"] == [{"name": "W1", "shape": [2, 1, 2]}, {"name": "b1", "shape": [2]}]
    assert doc["values"]["x"]["shape"] == [2, 1, 4] and doc["values"]["W1"]["shape"] == [2, 1, 2]
    g = hand_gradients(doc)
    assert all(v == 0 for v in g["W2"] + g["b2"]) and any(v != 0 for v in g["W1"])
    for name, values in g.items():
        assert [Fraction(s) for s in _flat(doc["gradients"][name]["exact"])] == values
    v = run("verify", "--strict", str(path))
    assert v.exit_code == 0 and "VERIFIED" in v.output, v.output
    # a document whose values were changed is re-checked, not trusted
    doc["values"]["b2"]["exact"] = [str(Fraction(doc["values"]["b2"]["exact"][0]) + 1)]
    path.write_text(json.dumps(doc))
    assert run("verify", str(path)).exit_code == 1


def test_a_layer_list_edited_away_from_its_notation_is_refused(tmp_path):
    path = tmp_path / "w.json"
    assert run(*ISSUE_11, "--json", str(path), "--no-shrink").exit_code == 0
    doc = json.loads(path.read_text())
    doc["network"]["layers"][0]["output_shape"] = [2, 4]
    path.write_text(json.dumps(doc))
    r = run("verify", str(path))
    assert r.exit_code == 2 and "do not match network.notation" in r.output


def test_torch_cross_check_agrees_on_the_cnn_witness():
    pytest.importorskip("torch")
    r = run(*ISSUE_11, "--cross-check", "torch")
    assert r.exit_code == 0, r.output
    assert "cross-check torch: agrees" in r.output


def test_one_output_position_and_one_sample_has_no_witness():
    # The output bias's gradient is the one residual (up to 2/M): zero forces every gradient to zero.
    r = run("find", "--net", "Sequential(Conv1d(1, 2, 2), ReLU(), Conv1d(2, 1, 3))", "--input-shape", "1,4",
            "-r", "grad(b2) == 0", "-r", "grad(W1) != 0")
    assert r.exit_code == 1, r.output
    assert "NONE" in r.output


def test_cvc5_re_decides_a_layer_proof():
    pytest.importorskip("cvc5", reason="install the cvc5 extra: pip install cvc5")
    r = run("find", "--net", "Sequential(Conv1d(1, 2, 2), ReLU(), Conv1d(2, 1, 3))", "--input-shape", "1,4",
            "-r", "grad(b2) == 0", "-r", "grad(W1) != 0", "--cross-check", "cvc5")
    assert r.exit_code == 1, r.output
    assert "cvc5 on the If-encoded problem: z3 unsat, cvc5 unsat: agree" in r.output, r.output


def test_a_bias_shared_over_two_output_positions_allows_a_witness_with_one_sample():
    r = run("find", "--net", "Sequential(Conv1d(1, 1, 2), ReLU(), Conv1d(1, 1, 2))", "--input-shape", "1,4",
            "-r", "grad(b2) == 0", "-r", "grad(W1) != 0", "--no-shrink")
    assert r.exit_code == 0, r.output


def test_l1_loss_on_a_layer_network_agrees_with_torch():
    pytest.importorskip("torch")
    r = run("find", "--net", "Sequential(Linear(1, 2), ReLU(), Linear(2, 1))", "--input-shape", "1", "--loss", "l1",
            "--samples", "2", "-r", "grad(W2) == 0", "-r", "grad(W1) != 0", "--no-shrink", "--cross-check", "torch")
    assert r.exit_code == 0, r.output
    assert "l1 loss" in r.output and "cross-check torch: agrees" in r.output


def test_huber_delta_is_written_and_read_back(tmp_path):
    path = tmp_path / "h.json"
    r = run("find", "--net", "Sequential(Linear(1, 2), ReLU(), Linear(2, 1))", "--input-shape", "1", "--loss", "huber",
            "--huber-delta", "1/2", "--samples", "2", "-r", "grad(W2) == 0", "-r", "grad(W1) != 0", "--no-shrink",
            "--json", str(path))
    assert r.exit_code == 0, r.output
    doc = json.loads(path.read_text())
    assert doc["network"]["loss"] == "huber" and doc["network"]["loss_settings"] == {"delta": "1/2"}
    assert schema.problems(doc) == []
    assert run("verify", "--strict", str(path)).exit_code == 0


@pytest.mark.parametrize("net, shape, expected", [
    ("Sequential(Conv1d(1, 2, 2), Foo(), Flatten(), Linear(6, 1))", "1,4", "unknown layer 'Foo'"),
    ("Sequential(Conv1d(1, 2, kernel_size=x), ReLU(), Flatten(), Linear(6, 1))", "1,4", "a layer argument"),
    ("Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(5, 1))", "1,4", "expects an input of shape (5,), got (6,)"),
])
def test_bad_layers_exit_2_with_the_column(net, shape, expected):
    r = run("find", "--net", net, "--input-shape", shape, "-r", "grad(W1) != 0")
    assert r.exit_code == 2, r.output
    assert expected in r.output and "^" in r.output and "Traceback" not in r.output
    bad = {"unknown layer 'Foo'": "Foo(", "a layer argument": "x)", "expects": "Linear(5"}
    word = next(v for k, v in bad.items() if expected.startswith(k))
    lines = r.output.splitlines()
    caret = next(i for i, line in enumerate(lines) if line.strip() == "^")
    assert lines[caret].index("^") == lines[caret - 1].index(word)


@pytest.mark.parametrize("args, expected", [
    (["--net", CNN], "needs --input-shape"),
    (["--net", "1-1-1", "--input-shape", "1"], "--input-shape needs a --net in PyTorch's notation"),
    (["--net", CNN, "--input-shape", "1,x"], "'x' is not a positive size"),
    (["--net", CNN, "--input-shape", "1,5"], "expects an input of shape (6,), got (8,)"),
    (["--net", CNN, "--input-shape", "1,4", "--plot", "w.png"],
     "plots need one input and one output number per sample (input shape (1,), output shape (1,)); "
     f"{CNN} takes input shape (1, 4) and gives (1,)"),
    (["--net", CNN, "--input-shape", "1,4", "--loss", "foo"], "use one of mse, sse, l1, huber, hinge"),
    (["--net", CNN, "--input-shape", "1,4", "--huber-delta", "2"], "--huber-delta needs --loss huber"),
    (["--net", CNN, "--input-shape", "1,4", "--activation", "relu"], "--activation conflicts"),
    (["--net", "1-1-1", "--loss", "huber"], "--loss huber needs a --net in PyTorch's notation"),
])
def test_bad_arguments_exit_2_with_a_hint(args, expected):
    r = run("find", *args, "-r", "grad(W1) != 0")
    assert r.exit_code == 2, r.output
    assert expected in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output


def test_sweep_over_batch_sizes_of_a_layer_network(tmp_path):
    out = tmp_path / "s.json"
    r = run("sweep", "--net", CNN, "--input-shape", "1,4", "--samples", "1..3", "-r", "grad(W2) == 0",
            "-r", "grad(b2) == 0", "-r", "grad(W1) != 0", "--json", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert schema.problems(doc) == []
    verdicts = [c["verdict"] for c in doc["cells"]]
    assert verdicts == ["none", "found", "found"]  # one sample: a zero residual; two can cancel
    assert f"smallest size with a witness: {CNN} x 2" in r.output


def test_sweep_extends_an_l1_witness_by_a_zero_residual_sample():
    net = "Sequential(Linear(1, 1), ReLU(), Linear(1, 1))"
    r = run("sweep", "--net", net, "--input-shape", "1", "--loss", "l1", "--samples", "2..3",
            "-r", "grad(W2) == 0", "-r", "grad(b2) == 0", "-r", "grad(W1) != 0")
    assert r.exit_code == 0, r.output
    assert "found*" in r.output  # l1's subgradient at a zero residual is 0: the extra sample adds nothing


@pytest.mark.parametrize("args, expected", [
    (["--net", "1-1-1", "--input-shape", "1"], "--input-shape needs a --net in PyTorch's notation"),
    (["--net", "Sequential(Linear(1, 1))", "--input-shape", "1", "--no-bias"], "--bias/--no-bias conflicts"),
    (["--net", "Sequential(Linear(1, 1))"], "needs --input-shape"),
    (["--net", "Sequential(Linear(2, 1))", "--input-shape", "1"], "Linear(2, 1) expects an input of shape (2,)"),
])
def test_sweep_refuses_bad_layer_input(args, expected):
    r = run("sweep", *args, "-r", "grad(W1) != 0")
    assert r.exit_code == 2, r.output
    assert expected in r.output


HINGE = ["--net", "Sequential(Linear(1, 1), ReLU(), Linear(1, 1))", "--input-shape", "1", "--loss", "hinge"]


def test_hinge_targets_are_minus_one_or_one_in_the_search_and_the_re_check():
    # Found as a new user: seed 001's conditions under hinge at 3 samples were "found" with y = 2,
    # a target the loss does not take; with y in {-1, 1} no witness exists there.
    r = run("find", *HINGE, "--samples", "3", "-r", "grad(W2) == 0", "-r", "grad(b2) == 0",
            "-r", "grad(W1) != 0", "-r", "grad(b1) != 0")
    assert r.exit_code == 1, r.output
    r = run("find", *HINGE, "--samples", "2", "-r", "grad(W1) != 0", "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout[r.stdout.index("{"):])
    assert {v for v in _flat(doc["values"]["y"]["exact"])} <= {"-1", "1"}


def test_a_hinge_target_fixed_outside_minus_one_or_one_is_an_input_error():
    r = run("find", *HINGE, "-r", "grad(W1) != 0", "--fix", "y=2")
    assert r.exit_code == 2, r.output
    assert "takes targets -1 or 1 only" in r.output


def test_the_re_check_rejects_a_hinge_target_outside_minus_one_or_one():
    from cexsearch.api import build_problem, layer_network
    from cexsearch.model.problem import Assignment
    from cexsearch.semantics.numeric import recheck

    model = layer_network("Sequential(Linear(1, 1))", "1", loss="hinge")
    problem = build_problem(model, 1, ["grad(W1) != 0"])
    one = Fraction(1)
    bad = Assignment(model, 1, (("W1", (one,)), ("b1", (Fraction(0),)), ("x", (one,)), ("y", (Fraction(2),))))
    check = recheck(problem, bad)
    assert not check.confirmed
    assert "y[0, 0] is -1 or 1 (the loss's targets)" in check.failures()


def test_find_html_of_a_layer_network_has_its_layer_table(tmp_path):
    page = tmp_path / "w.html"
    r = run(*ISSUE_11, "--html", str(page))
    assert r.exit_code == 0, r.output
    text = page.read_text(encoding="utf-8")
    assert "<caption>layers</caption>" in text and "Conv1d(1, 2, 2)" in text
    assert '<details class="derivation"' in text and "Backprop deltas" in text and "<math" in text
    assert "<img" not in text  # the CNN takes (1, 4): no plot, and no note about one either


def test_find_plots_a_layer_network_of_one_input_and_one_output(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "w.png"
    r = run("find", "--net", "Sequential(Linear(1, 2), ReLU(), Linear(2, 1))", "--input-shape", "1", "--samples", "3",
            "-r", "grad(W2) == 0", "-r", "grad(W1) != 0", "--plot", str(target))
    assert r.exit_code == 0, r.output
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_plot_of_the_cnn_is_refused_before_any_search(tmp_path):
    r = run(*ISSUE_11, "--plot", str(tmp_path / "w.png"))
    assert r.exit_code == 2, r.output
    assert "FOUND" not in r.output and "Traceback" not in r.output
    assert CNN in " ".join(r.output.split()) and "--input-shape 1" in r.output
    assert list(tmp_path.iterdir()) == []
