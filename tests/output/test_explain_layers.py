"""--explain for layer models: the chain rule through convolutions, pools, residual blocks, as sums.

Every derivation's total is compared with the gradient of the single trace
(``cexsearch.semantics.trace``): the tests compute no gradient of their own.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import cexsearch.output.explain_layers as layers_module
from cexsearch.api import build_problem, layer_network
from cexsearch.cli import app
from cexsearch.model.network import entries
from cexsearch.model.problem import Assignment
from cexsearch.output.explain import explain
from cexsearch.output.explain_format import formatter
from cexsearch.output.explain_layers import explained_gradients, model_trace
from cexsearch.workflows.witness import load_document

runner = CliRunner()

CNN = "Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))"
ISSUE_11 = ["find", "--net", CNN, "--input-shape", "1,4", "--samples", "2",
            "-r", "grad(W2) == 0", "-r", "grad(b2) == 0", "-r", "grad(W1) != 0"]

MODELS = {
    "cnn": (CNN, "1,4", "mse"),
    "max-pool": ("Sequential(Conv1d(1, 2, 2), MaxPool1d(2), Flatten(), Linear(4, 1))", "1,6", "mse"),
    "avg-pool": ("Sequential(Conv1d(1, 1, 2, bias=False), AvgPool1d(2), Flatten(), Linear(2, 2))", "1,5", "sse"),
    "residual": ("Sequential(Linear(2, 2), Residual(Linear(2, 2), ReLU(), Linear(2, 2)), Linear(2, 1))", "2", "mse"),
    "residual-first": ("Sequential(Residual(Linear(1, 1), LeakyReLU(0.5)), Linear(1, 1))", "1", "l1"),
    "conv2d-stride-padding": ("Sequential(Conv2d(1, 2, 2, stride=2, padding=1), ReLU(), Flatten(), Linear(8, 1))",
                              "1,3,3", "huber"),
    "conv-conv": ("Sequential(Conv1d(2, 2, 2, stride=2, padding=1), Hardtanh(), Conv1d(2, 1, 2), Flatten(), "
                  "Linear(2, 1))", "2,4", "mse"),
    "max-pool-2d": ("Sequential(Conv2d(1, 1, 1), MaxPool2d(2), Flatten(), Linear(2, 1))", "1,3,4", "hinge"),
}


def random_assignment(model, samples: int, seed: int) -> Assignment:
    rng = random.Random(seed)
    values = []
    for name in model.variable_names():
        size = int(np.prod(model.shape(name, samples)))
        if name == "y" and model.loss.targets:
            values.append((name, tuple(rng.choice(model.loss.targets) for _ in range(size))))
        else:
            values.append((name, tuple(F(rng.randint(-5, 5), rng.choice([1, 1, 2, 3])) for _ in range(size))))
    return Assignment(model, samples, tuple(values))


def summary_values(markdown: str) -> dict[str, F]:
    """The exact column of the Markdown summary table of gradients."""
    found = re.findall(r"^\| `(grad\([Wb]\d+\)\[[\d,]+\])` \| (-?\d+(?:/\d+)?) \|", markdown, re.M)
    return {label: F(value) for label, value in found}


def trace_gradients(a: Assignment, names) -> dict[str, F]:
    grads = model_trace(a).gradients
    return {f"grad({n})[{','.join(map(str, i))}]": F(grads[n][i]) for n in names for i in entries(grads[n].shape)}


# --------------------------------------------------------------------------
# The issue's CNN through the CLI


def test_issue_11_cnn_explains_the_convolution_as_sums(tmp_path: Path) -> None:
    doc_path = tmp_path / "w.json"
    r = runner.invoke(app, [*ISSUE_11, "--explain", "markdown", "--explain-to", str(tmp_path / "w.md"),
                            "--json", str(doc_path)])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "w.md").read_text(encoding="utf-8")
    problem, a, _ = load_document(doc_path.read_text(encoding="utf-8"), where="w.json")
    assert a is not None
    assert md.startswith(f"# Witness: {CNN}, input shape (1, 4), M = 2 samples")
    for heading in ("## Network", "## Parameters", "## Data and forward pass", "## Backprop deltas", "## Gradients"):
        assert heading in md
    # the convolution, the activation's slope and the reshape, each with its rule
    assert "a^{(1)}_{m,f,o} &= \\sum_{c=0}^{0} \\sum_{t=0}^{1} W_{1}[f,c,t]\\, x_{m,c,o + t} + b_{1}[f]" in md
    assert "\\delta^{(1)}_{m,e} &= \\sigma_{2}'\\bigl(a^{(1)}_{m,e}\\bigr)\\, \\delta^{(2)}_{m,e}" in md
    assert "\\delta^{(2)}_{m} &= \\delta^{(3)}_{m} \\text{ read back into the input's shape}" in md
    assert "| σ'(a(1)) |" in md and "| δ(1) |" in md
    # a kernel entry: the sum over samples and the three output positions of δ times the input under the tap
    assert ("\\frac{\\partial L}{\\partial W_{1}[0,0,1]} &= s \\sum_{m=0}^{M-1} \\sum_{o=0}^{2} "
            "\\delta^{(1)}_{m,0,o}\\, x_{m,0,o + 1}") in md
    # the entries of the gradients the conditions read: W1, W2, b2 (not b1), every total the trace's
    written = summary_values(md)
    assert written == trace_gradients(a, ["W1", "W2", "b2"])
    assert not any(label.startswith("grad(b1)") for label in written)
    assert "All 3 conditions hold" in md


def test_issue_11_cnn_latex_through_the_cli() -> None:
    r = runner.invoke(app, [*ISSUE_11, "--explain", "latex"])
    assert r.exit_code == 0, r.output
    tex = r.output[r.output.index("\\documentclass{article}"):]
    assert tex.rstrip().endswith("\\end{document}") and tex.isascii()
    assert "\\section*{Backprop deltas}" in tex and "\\noindent\\texttt{grad(W1)[1,0,1]}" in tex


def test_verify_and_check_explain_a_layer_witness(tmp_path: Path) -> None:
    doc = tmp_path / "w.json"
    assert runner.invoke(app, [*ISSUE_11, "--json", str(doc)]).exit_code == 0
    r = runner.invoke(app, ["verify", str(doc), "--explain", "markdown"])
    assert r.exit_code == 0, r.output
    assert f"# Witness: {CNN}" in r.output and "VERIFIED" in r.output
    claims = tmp_path / "c.toml"
    claims.write_text('[[claim]]\nname = "avg pool"\nnet = "Sequential(Conv1d(1, 1, 1, bias=False), AvgPool1d(2))"\n'
                      'input_shape = [1, 2]\nsamples = 1\ngiven = ["W1 > 0", "x[:, 0, 0] == 0", "x[:, 0, 1] < 0"]\n'
                      'then = ["grad(W1) == 0"]\nexpect = "refuted"\n', encoding="utf-8")
    r = runner.invoke(app, ["check", str(claims), "--no-store", "--explain", "markdown"])
    assert r.exit_code == 0, r.output
    assert "# Witness: Sequential(Conv1d(1, 1, 1, bias=False), AvgPool1d(2))" in r.output
    assert "\\frac{1}{2}\\, \\delta^{(2)}_{m,c,o}" in r.output  # δ/k spread over the window


# --------------------------------------------------------------------------
# Every layer kind, random exact values: each sum's total is the trace's gradient


@pytest.mark.parametrize("case", sorted(MODELS))
@pytest.mark.parametrize("seed", [0, 1])
def test_every_total_is_the_traces_gradient(case: str, seed: int) -> None:
    net, shape, loss = MODELS[case]
    model = layer_network(net, shape, loss=loss)
    a = random_assignment(model, 2, seed)
    problem = build_problem(model, 2, [])  # no condition reads a gradient: every entry is written
    expected = trace_gradients(a, model.parameter_names())
    for fmt in ("markdown", "latex"):
        totals = explained_gradients(problem, a, formatter(fmt))
        assert {f"grad({n})[{','.join(map(str, i))}]": v for (n, i), v in totals.items()} == expected
    md = explain(problem, a, "markdown")
    assert summary_values(md) == expected
    tex = explain(problem, a, "latex")
    assert tex.isascii() and "$$" not in tex
    for label in expected:
        assert f"**`{label}`**" in md and f"\\texttt{{{label}}}" in tex


def test_each_layer_kind_states_its_rule() -> None:
    def md(case: str) -> str:
        net, shape, loss = MODELS[case]
        model = layer_network(net, shape, loss=loss)
        return explain(build_problem(model, 2, []), random_assignment(model, 2, 0), "markdown")

    text = md("max-pool")
    assert "\\max_{t} a^{(1)}_{m,c,2o + t} = a^{(1)}_{m,c,2o + t^*}" in text
    assert "\\delta^{(1)}_{m,c,2o + t} &= \\delta^{(2)}_{m,c,o} \\text{ if } t = t^*_{m,c,o}, \\text{ else } 0" in text
    assert "| t* of a(2) |" in text and "0 \\text{ for entries past the last whole window}" in text
    text = md("avg-pool")
    assert "\\frac{1}{2} \\sum_{t} a^{(1)}_{m,c,2o + t}" in text
    text = md("residual")
    assert "a^{(2)} &= a^{(1)} + a^{(2.3)}" in text
    assert "\\delta^{(2.3)} &= \\delta^{(2)}" in text and "\\delta^{(1)} &= \\delta^{(2)} + \\bar\\delta^{(2)}" in text
    assert "\\bar\\delta^{(2)}_{m,i} &= \\sum_{j=0}^{1} \\delta^{(2.1)}_{m,j}\\, W_{2}[j,i]" in text
    text = md("conv2d-stride-padding")
    assert "x_{m,c,2o_{1} + t_{1} - 1,2o_{2} + t_{2} - 1}" in text and "the zero padding" in text
    assert "a kernel tap on the zero padding adds nothing and is left out" in text
    text = md("conv-conv")  # the delta through a convolution below another layer
    assert ("\\delta^{(2)}_{m,c,q} &= \\sum_{f} \\sum_{o,t:\\ (o + t) = (q)} \\delta^{(3)}_{m,f,o}\\, "
            "W_{2}[f,c,t]") in text
    assert "-1 \\text{ for } z \\le -1, \\quad z \\text{ for } -1 < z < 1, \\quad 1 \\text{ for } z \\ge 1" in text
    text = md("max-pool-2d")
    assert "g(u_{m,e})\\, y_{m,e}" in text and "u = y \\odot \\hat y" in text


def test_max_pool_sends_delta_to_the_winner_by_hand() -> None:
    """x = (3, 1, 2, 5): windows (3, 1) and (2, 5) pass entries 0 and 1; yhat = 8, r = 8, s = 2 (mse, M = n = 1)."""
    model = layer_network("Sequential(Conv1d(1, 1, 1, bias=False), MaxPool1d(2), Flatten(), Linear(2, 1, bias=False))",
                          "1,4")
    a = Assignment(model, 1, (("W1", (F(1),)), ("W2", (F(1), F(1))), ("x", (F(3), F(1), F(2), F(5))), ("y", (F(0),))))
    md = explain(build_problem(model, 1, ["grad(W1) != 0"]), a, "markdown")
    assert "| t* of a(2) | ((0, 1)) |" in md
    assert "| δ(1) | ((8, 0, 0, 8)) |" in md
    assert "&= 2 \\cdot \\bigl(8 \\cdot 3 + 0 \\cdot 1 + 0 \\cdot 2 + 8 \\cdot 5\\bigr)" in md
    assert summary_values(md) == trace_gradients(a, ["W1"]) == {"grad(W1)[0,0,0]": F(128)}


# --------------------------------------------------------------------------
# The numbers are the trace's


def _skewed(monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    real = layers_module.trace

    def skewed(*args, **kwargs):  # type: ignore[no-untyped-def]
        t = real(*args, **kwargs)
        if part == "gradients":
            t.gradients["W1"][(0,) * t.gradients["W1"].ndim] += 1  # type: ignore[index]
        else:  # the delta backprop handed the first layer
            path, d = next((p, d) for p, d in t.output_gradients if p == "0")
            d[(0,) * d.ndim] += 1
        return t

    monkeypatch.setattr(layers_module, "trace", skewed)


@pytest.mark.parametrize("part", ["gradients", "deltas"])
def test_a_total_the_trace_does_not_confirm_is_refused(monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    model = layer_network(CNN, "1,4")
    a = random_assignment(model, 2, 3)
    _skewed(monkeypatch, part)
    with pytest.raises(AssertionError, match=r"grad\(W1\)\[0,0,0\] sums to .*the trace says"):
        explain(build_problem(model, 2, ["grad(W1) != 0"]), a, "markdown")


def test_output_gradients_are_recorded_only_when_asked() -> None:
    from cexsearch.semantics import EXACT, trace

    model = layer_network(CNN, "1,4")
    a = random_assignment(model, 2, 0)
    values = model.values_of(a)
    params = {p: values[p] for p in model.parameter_names()}
    plain = trace(model, params, values["x"], values["y"], EXACT)
    full = trace(model, params, values["x"], values["y"], EXACT, output_gradients=True)
    assert plain.output_gradients == ()
    assert [p for p, _ in full.output_gradients] == ["3", "2", "1", "0"]  # backward order
    assert (full.output_gradient("3") == full.yhat_gradient).all()  # the last layer is handed dL/dyhat
    assert json.dumps(sorted(plain.gradients)) == json.dumps(sorted(full.gradients))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (apt-get install texlive-latex-base)")
@pytest.mark.parametrize("case", ["cnn", "max-pool", "residual", "conv2d-stride-padding", "conv-conv"])
def test_latex_compiles_with_pdflatex(case: str, tmp_path: Path) -> None:
    net, shape, loss = MODELS[case]
    model = layer_network(net, shape, loss=loss)
    a = random_assignment(model, 2, 0)
    (tmp_path / "witness.tex").write_text(explain(build_problem(model, 2, []), a, "latex"), encoding="ascii")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "witness.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "witness.pdf").stat().st_size > 1000
