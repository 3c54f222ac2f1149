"""explain(): the witness as a hand-checkable derivation in Markdown and LaTeX.

The seed example is the accepted answer of shared/seeds/001: a 1-1-1 ReLU
network with w1 = w2 = 1, b1 = b2 = -1, x = (0, 2, 3), y = (-2, 2, 0), whose
gradients are dL/dw1 = dL/db1 = -2/3 and dL/dw2 = dL/db2 = 0.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest

import cexsearch.output.explain as explain_module
from cexsearch.api import NetworkSettings, build_problem
from cexsearch.errors import InputError
from cexsearch.model.network import Network, entries
from cexsearch.model.problem import Assignment, Problem
from cexsearch.output.explain import explain, visible_width
from cexsearch.output.explain_format import Latex, Markdown
from cexsearch.semantics.numeric import exact_gradients

SEED_CONDITIONS = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"]


def seed_problem() -> tuple[Problem, Assignment]:
    net = NetworkSettings().network("1-1-1")
    problem = build_problem(net, 3, SEED_CONDITIONS)
    a = Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
                            ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))
    return problem, a


def random_assignment(net: Network, samples: int, seed: int) -> Assignment:
    rng = random.Random(seed)
    values = []
    for name in net.variable_names():
        size = int(np.prod(net.shape(name, samples)))
        values.append((name, tuple(F(rng.randint(-9, 9), rng.randint(1, 7)) for _ in range(size))))
    return Assignment(net, samples, tuple(values))


def gradient_labels(net: Network, samples: int) -> list[str]:
    return [f"grad({p})[{','.join(str(i) for i in idx)}]"
            for p in net.parameter_names() for idx in entries(net.shape(p, samples))]


def summary_values(markdown: str) -> dict[str, F]:
    """The exact column of the Markdown summary table of gradients."""
    found = re.findall(r"^\| `(grad\([Wb]\d+\)\[[\d,]+\])` \| (-?\d+(?:/\d+)?) \|", markdown, re.M)
    return {label: F(value) for label, value in found}


# --------------------------------------------------------------------------
# The seed example


def test_markdown_seed_lays_out_the_forward_pass_and_every_chain_rule_sum() -> None:
    problem, a = seed_problem()
    md = explain(problem, a, "markdown")
    # the sample table: m | x | z | σ'(z) | a | yhat | y | r
    assert "| 0 | 0 | -1 | 0 | 0 | -1 | -2 | 1 |" in md
    assert "| 1 | 2 | 1 | 1 | 1 | 0 | 2 | -2 |" in md
    assert "| 2 | 3 | 2 | 1 | 2 | 1 | 0 | 1 |" in md
    # dL/dW1: c Σ r · W2 · σ'(z) · x, per-sample terms 0, -4, 3, total -2/3
    assert "2/3 \\cdot \\bigl(1 \\cdot 1 \\cdot 0 \\cdot 0 - 2 \\cdot 1 \\cdot 1 \\cdot 2 + 1 \\cdot 1 \\cdot 1 \\cdot 3\\bigr)" in md
    assert "2/3 \\cdot \\bigl(0 - 4 + 3\\bigr)" in md
    # dL/db1: terms 0, -2, 1
    assert "2/3 \\cdot \\bigl(1 \\cdot 1 \\cdot 0 - 2 \\cdot 1 \\cdot 1 + 1 \\cdot 1 \\cdot 1\\bigr)" in md
    assert "2/3 \\cdot \\bigl(0 - 2 + 1\\bigr)" in md
    assert md.count("&= 2/3 \\cdot (-1) = -2/3") == 2
    # dL/dW2: terms 0, -2, 2; dL/db2: 1 - 2 + 1
    assert "2/3 \\cdot \\bigl(1 \\cdot 0 - 2 \\cdot 1 + 1 \\cdot 2\\bigr)" in md
    assert "2/3 \\cdot \\bigl(1 - 2 + 1\\bigr)" in md
    assert md.count("&= 2/3 \\cdot 0 = 0") == 2
    assert summary_values(md) == {"grad(W1)[0,0]": F(-2, 3), "grad(b1)[0]": F(-2, 3),
                                  "grad(W2)[0,0]": F(0), "grad(b2)[0]": F(0)}


def test_markdown_seed_states_the_network_loss_and_conditions() -> None:
    problem, a = seed_problem()
    md = explain(problem, a, "markdown")
    assert md.startswith("# Witness: 1-1-1 relu")
    assert "$$\n\\begin{aligned}" in md and "\\end{aligned}\n$$" in md
    assert md.count("$$") % 2 == 0
    assert "c = \\frac{2}{M n_{2}}" in md
    assert "c &= 2/3" in md
    assert "L &= 1/3 \\cdot 6 = 2" in md
    assert "\\sigma'(0) = 0" in md
    for cond in SEED_CONDITIONS:
        assert f"- `{cond}`: holds" in md
    assert "All 4 conditions hold" in md
    parameters = md.split("## Parameters")[1].split("## Data")[0]
    assert "\\frac{" not in parameters and "b_{1} &= -1" in parameters  # numbers are a/b in Markdown


def test_latex_seed_is_a_standalone_document_with_exact_fractions() -> None:
    problem, a = seed_problem()
    tex = explain(problem, a, "latex")
    assert tex.startswith("\\documentclass{article}\n")
    assert re.findall(r"\\usepackage\{([^}]*)\}", tex) == ["amsmath"]
    assert "\\begin{document}" in tex and tex.rstrip().endswith("\\end{document}")
    assert "-\\frac{2}{3}" in tex or "\\frac{-2}{3}" in tex
    assert "\\frac{2}{3} \\cdot (-1) = -\\frac{2}{3}" in tex
    assert "\\begin{align*}" in tex and "\\begin{tabular}" in tex
    assert "\\texttt{grad(W2) == 0}: holds" in tex
    assert tex.isascii(), "pdflatex without extra packages needs plain ASCII input"
    assert "$$" not in tex


def test_format_names_are_checked() -> None:
    problem, a = seed_problem()
    with pytest.raises(InputError) as info:
        explain(problem, a, "html")
    assert "html" in str(info.value) and "markdown" in (info.value.hint or "")
    assert explain(problem, a, " LaTeX ") == explain(problem, a, "latex")


def test_a_witness_of_another_problem_is_refused() -> None:
    problem, a = seed_problem()
    other = build_problem(NetworkSettings().network("1-2-1"), 3, [])
    with pytest.raises(InputError, match="same network"):
        explain(other, a, "markdown")


def test_failing_conditions_are_reported_not_hidden() -> None:
    net = NetworkSettings().network("1-1-1")
    problem = build_problem(net, 3, ["grad(W1) == 0", "grad(b2) == 0"])
    _, a = seed_problem()
    md = explain(problem, a, "markdown")
    assert "- `grad(W1) == 0`: does NOT hold" in md
    assert "- `grad(b2) == 0`: holds" in md
    assert "1 of 2 conditions do not hold" in md


def test_totals_are_checked_against_numeric(monkeypatch: pytest.MonkeyPatch) -> None:
    """explain() refuses to write a total that numeric's gradients do not confirm."""
    real = explain_module.mlp_evaluation

    def skewed(t):  # type: ignore[no-untyped-def]
        ev = real(t)
        ev.gradients["W1"] = ev.gradients["W1"] + F(1)
        return ev

    monkeypatch.setattr(explain_module, "mlp_evaluation", skewed)
    problem, a = seed_problem()
    with pytest.raises(AssertionError, match=r"grad\(W1\)\[0,0\]"):
        explain(problem, a, "markdown")


# --------------------------------------------------------------------------
# Other shapes: random rational values, explain's own assertion checks every total


@pytest.mark.parametrize(
    ("widths", "samples", "settings"),
    [
        ("2-3-2", 3, {}),
        ("1-2-2-1", 4, {}),
        ("2-3-2", 2, {"activation": "leaky_relu", "bias": False, "loss": "sse"}),
        ("1-2-2-1", 3, {"activation": "leaky_relu", "relu_grad_at_zero": 1}),
        ("2-2-2-2-1", 3, {"loss": "sse"}),
        ("3-1", 4, {"activation": "linear"}),
        ("1-2-1", 2, {"activation": "linear", "bias": False}),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_networks_explain_every_gradient(widths: str, samples: int, settings: dict, seed: int) -> None:
    net = NetworkSettings(**settings).network(widths)
    problem = build_problem(net, samples, ["grad(W1) != 0"])
    a = random_assignment(net, samples, seed)
    md = explain(problem, a, "markdown")
    tex = explain(problem, a, "latex")
    labels = gradient_labels(net, samples)
    grads = exact_gradients(a)
    expected = {f"grad({p})[{','.join(str(i) for i in idx)}]": F(grads[p][idx])
                for p in net.parameter_names() for idx in entries(net.shape(p, samples))}
    assert summary_values(md) == expected
    for label in labels:
        assert f"**`{label}`**" in md
        assert f"\\texttt{{{label}}}" in tex
    if net.depth > 2:
        assert "## Backprop deltas" in md and "\\delta^{(1)}_m" in tex
    else:
        assert "## Backprop deltas" not in md
    assert tex.isascii()


def test_zero_at_the_kink_follows_relu_grad_at_zero() -> None:
    """A pre-activation of exactly 0 takes the slope the network's setting says, in the table and the sums."""
    for at_zero in (0, 1):
        net = NetworkSettings(relu_grad_at_zero=at_zero).network("1-1-1")
        a = Assignment(net, 2, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(2),)), ("b2", (F(0),)),
                                ("x", (F(1), F(3))), ("y", (F(1), F(1)))))
        md = explain(build_problem(net, 2, []), a, "markdown")
        assert f"| 0 | 1 | 0 | {at_zero} | 0 | 0 | 1 | -1 |" in md
        assert summary_values(md)["grad(W1)[0,0]"] == F(exact_gradients(a)["W1"][0, 0])
        assert "The problem states no conditions." in md


def test_long_sums_are_broken_into_lines() -> None:
    net = NetworkSettings().network("1-1-1")
    samples = 20
    a = random_assignment(net, samples, 5)
    for fmt, width in (("markdown", Markdown.line_width), ("latex", Latex.line_width)):
        text = explain(build_problem(net, samples, []), a, fmt)
        continuation = [line for line in text.splitlines() if line.startswith("&\\qquad")]
        assert continuation, "a 20-term sum should not sit on one line"
        for line in continuation:
            body = line.removeprefix("&\\qquad ").removesuffix(" \\\\").removesuffix("\\bigr)")
            assert visible_width(body) <= width + 40


# --------------------------------------------------------------------------
# The LaTeX compiles


def _compile(tex: str, where: Path) -> subprocess.CompletedProcess[str]:
    (where / "witness.tex").write_text(tex, encoding="ascii")
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "witness.tex"],
        cwd=where, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (apt-get install texlive-latex-base)")
@pytest.mark.parametrize("case", ["seed", "deep", "wide-batch"])
def test_latex_compiles_with_pdflatex(case: str, tmp_path: Path) -> None:
    if case == "seed":
        problem, a = seed_problem()
    elif case == "deep":
        net = NetworkSettings(activation="leaky_relu").network("1-2-2-1")
        a = random_assignment(net, 3, 2)
        problem = build_problem(net, 3, ["grad(W1) != 0", "yhat[0,0] < 100"])
    else:
        net = NetworkSettings().network("2-3-2")
        a = random_assignment(net, 16, 3)
        problem = build_problem(net, 16, [])
    result = _compile(explain(problem, a, "latex"), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "witness.pdf").stat().st_size > 1000
