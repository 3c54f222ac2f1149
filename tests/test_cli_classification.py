"""What a user sees of bce and ce: --hard-labels/--soft-labels and --domain, the claim keys labels and
domain, verdict lines that say their numbers, symbolic values with decimals, the witness document and
its verify round trip, certificates, and the torch cross-check.  The engine's search is replaced by
hand-built outcomes (the z3 side of bce and ce is not here yet)."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from fractions import Fraction as F

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cexsearch.api import build_problem, layer_network
from cexsearch.cli import app
from cexsearch.engine.outcome import Outcome, SearchStats
from cexsearch.errors import ClaimFileError
from cexsearch.model.losses import loss
from cexsearch.model.problem import Assignment
from cexsearch.output import schema
from cexsearch.output.report import outcome_renderable, verdict_line
from cexsearch.semantics import numeric
from cexsearch.workflows.claim import Claim
from cexsearch.workflows.claims import check_claim, settled
from cexsearch.workflows.witness import dumps, load_document, outcome_document

runner = CliRunner()
NET = "Sequential(Linear(2, 1))"
CONDITIONS = ["grad(b1) == 0", "grad(W1)[0,1] == 0", "grad(W1)[0,0] != 0"]
FIND = ["find", "--net", NET, "--input-shape", "2", "--samples", "2", "--loss", "bce", "--no-shrink"]
FIND += [a for c in CONDITIONS for a in ("-r", c)]


def run(*args: str):
    return runner.invoke(app, list(args))


def symmetric_witness(labels: str = "hard", over: str = "rational"):
    """z = 1 and -1 with y = 1 and 0: grad(b1) and grad(W1)[0,1] cancel exactly, grad(W1)[0,0] = -1 + sigmoid(1)."""
    net = layer_network(NET, "2", loss=loss("bce", labels=labels))
    problem = build_problem(net, 2, CONDITIONS, over=over)
    a = Assignment.from_entries(net, 2, {("W1", (0, 0)): F(1), ("W1", (0, 1)): F(0), ("b1", (0,)): F(0),
                                         ("x", (0, 0)): F(1), ("x", (0, 1)): F(1), ("x", (1, 0)): F(-1),
                                         ("x", (1, 1)): F(1), ("y", (0, 0)): F(1), ("y", (1, 0)): F(0)})
    return problem, a


def found_outcome(problem, a, domain: str = "rational") -> Outcome:
    check = numeric.recheck(problem, a)
    assert check.confirmed
    return Outcome("found", problem, SearchStats("hand", 1, tried=1), witness=a, recheck=check, domain=domain)


@dataclass(frozen=True)
class FakeCertificate:
    """What semantics.certify.Certificate offers the presentation: a method, a box, a centre."""

    method: str
    box: tuple
    centre: tuple = ()


def rendered(outcome: Outcome) -> str:
    console = Console(width=200, record=True)
    console.print(outcome_renderable(outcome))
    return console.export_text()


# -- options and keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["--loss", "mse", "--hard-labels"], "--hard-labels needs a classification loss"),
    (["--loss", "mse", "--soft-labels"], "--soft-labels needs a classification loss"),
    (["--loss", "mse", "--domain", "real"], "--domain needs a classification loss"),
    (["--loss", "bce", "--domain", "complex"], "use real"),
])
def test_bad_classification_options_exit_2_naming_the_option(args, needle):
    r = run("find", "--net", NET, "--input-shape", "2", "-r", "grad(W1) == 0", *args)
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output


def test_bce_on_the_mlp_shorthand_asks_for_the_layer_notation():
    r = run("find", "--net", "1-1-1", "--loss", "bce", "-r", "grad(W1) == 0")
    assert r.exit_code == 2 and "PyTorch's notation" in r.output


@pytest.mark.parametrize("flags, labels, over", [
    ([], "soft", "real"), (["--hard-labels"], "hard", "real"), (["--domain", "rational"], "soft", "rational"),
    (["--hard-labels", "--domain", "real"], "hard", "real"),
])
def test_flags_reach_the_problem_and_a_none_verdict_says_its_numbers(monkeypatch, flags, labels, over):
    seen = {}

    def fake_search(problem, options, progress=None):
        seen["problem"] = problem
        return Outcome("none", problem, SearchStats("hand", 1, tried=1), domain=problem.over)

    monkeypatch.setattr("cexsearch.commands.find.search", fake_search)
    r = run(*FIND, *flags)
    assert r.exit_code == 1, r.output
    problem = seen["problem"]
    assert problem.network.loss.name == "bce" and problem.network.loss.labels == labels and problem.over == over
    assert ("NONE over the rationals" if over == "rational" else "NONE over the reals") in r.output


def test_ce_labels_default_hard_and_soft_labels_flag(monkeypatch):
    seen = {}
    monkeypatch.setattr("cexsearch.commands.find.search", lambda problem, options, progress=None: seen.setdefault(
        "o", Outcome("unknown", problem, SearchStats("hand", 1), reason="hand")))
    net = "Sequential(Linear(2, 3))"
    for flags, labels in (([], "hard"), (["--soft-labels"], "soft")):
        seen.clear()
        r = run("find", "--net", net, "--input-shape", "2", "--loss", "ce", "-r", "grad(b1) != 0", *flags)
        assert r.exit_code == 3 and "UNKNOWN  inconclusive" in r.output and "witnesses over the reals" in r.output
        assert seen["o"].problem.network.loss.labels == labels


def test_claim_keys_labels_and_domain():
    c = Claim(name="bce", net=NET, input_shape=[2], loss="bce", labels="hard", domain="rational", samples=2,
              then=["grad(b1) == 0"], expect="holds")
    problem = c.problem(c.networks()[0], 2)
    assert problem.over == "rational" and problem.network.loss.labels == "hard"
    default = Claim(name="bce", net=NET, input_shape=[2], loss="bce", samples=2, then=["grad(b1) == 0"], expect="holds")
    assert default.over == "real" and default.networks()[0].loss.labels == "soft"
    assert c.fingerprint() != default.fingerprint()
    for key, value, needle in (("labels", "medium", "labels must be 'hard' or 'soft'"),
                               ("domain", "complex", "domain must be 'real' or 'rational'")):
        with pytest.raises(ClaimFileError, match=needle):
            Claim(name="bad", net=NET, input_shape=[2], loss="bce", samples=2, then=["grad(b1) == 0"],
                  expect="holds", **{key: value})
    with pytest.raises(ClaimFileError, match="labels needs a classification loss"):
        Claim(name="bad", net=NET, input_shape=[2], labels="hard", samples=2, then=["grad(b1) == 0"], expect="holds")


def test_a_bad_claim_key_value_exits_2(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(f'[[claim]]\nname = "x"\nnet = "{NET}"\ninput_shape = [2]\nloss = "bce"\nlabels = "sharp"\n'
                 'samples = 2\nthen = ["grad(b1) == 0"]\nexpect = "holds"\n')
    r = run("check", str(f))
    assert r.exit_code == 2, r.output
    assert "labels must be 'hard' or 'soft'" in r.output and "sharp" in r.output


def test_claims_are_settled_only_by_verdicts_over_their_numbers(monkeypatch):
    def claim(domain):
        return Claim(name=f"c-{domain}", net=NET, input_shape=[2], loss="bce", domain=domain, samples=2,
                     then=["grad(b1) == 0"], expect="holds")

    problem = claim("real").problem(claim("real").networks()[0], 2)
    none_q = Outcome("none", problem, SearchStats("hand", 1), domain="rational")
    assert settled(claim("real"), none_q).verdict == "unknown"
    assert "does not settle a claim over the reals" in settled(claim("real"), none_q).reason
    assert settled(claim("rational"), none_q).verdict == "none"
    none_r = Outcome("none", problem, SearchStats("hand", 1), domain="real")
    assert settled(claim("rational"), none_r).verdict == "none" and settled(claim("real"), none_r).verdict == "none"
    box = Outcome("found", problem, SearchStats("hand", 1), domain="real", certificate=FakeCertificate("m", ()))
    assert settled(claim("rational"), box).verdict == "unknown" and settled(claim("real"), box) is box

    monkeypatch.setattr("cexsearch.workflows.claims.search_or_unknown",
                        lambda p, options: Outcome("none", p, SearchStats("hand", 1), domain="rational"))
    assert check_claim(claim("real")).verdict == "unknown"
    result = check_claim(claim("rational"))
    assert result.verdict == "holds"
    from cexsearch.output.export import report_document, verdict_message

    assert "holds (none over the rationals)" in verdict_message(result)
    doc = report_document([result])
    assert doc["claims"][0]["cases"][0]["domain"] == "rational" and schema.problems(doc) == []
    from cexsearch.output.html_report import claims_table_html
    from cexsearch.output.report import claims_table

    assert '<div class="note">none over the rationals</div>' in claims_table_html([result])
    console = Console(width=200, record=True)
    console.print(claims_table([result]))
    assert "holds (none over the rationals)" in console.export_text()


# -- the report, the document, verify ------------------------------------------------------------


def test_verdict_lines_state_their_domain():
    problem, a = symmetric_witness()
    stats = SearchStats("hand", 1, tried=1)
    lines = {(v, d): verdict_line(Outcome(v, problem, stats, domain=d)).plain
             for v in ("none", "unknown") for d in ("rational", "real", "")}
    assert lines[("none", "rational")].startswith("NONE over the rationals  no rational witness exists")
    assert lines[("none", "real")].startswith("NONE over the reals  no witness over the reals exists")
    assert lines[("none", "")].startswith("NONE  no witness exists")
    assert all(lines[("unknown", d)].startswith("UNKNOWN  inconclusive") for d in ("rational", "real", ""))
    assert verdict_line(found_outcome(problem, a)).plain.startswith("FOUND (a rational witness, exact)  a witness")
    cert = FakeCertificate("interval Newton", (("W1", (0, 0), F(1, 2), F(3, 2)),))
    boxed = Outcome("found", problem, stats, domain="real", certificate=cert)
    assert verdict_line(boxed).plain.startswith("FOUND over the reals (a certified box)")
    text = rendered(boxed)
    assert "certificate (interval Newton)" in text and "W1[0, 0] in [1/2, 3/2]" in text


def test_the_report_shows_symbolic_values_with_decimals():
    text = rendered(found_outcome(*symmetric_witness()))
    assert "-1 + sigmoid(1)" in text and "-0.268941" in text  # grad(W1)[0,0] and its decimal
    assert "sigmoid(1) ~ 0.731059" in text and "1 - sigmoid(1) ~ 0.268941" in text  # p per sample
    assert "yhat (logits)" in text and "all 3 conditions hold" in text


def test_find_json_document_is_valid_and_verify_reproves_it(monkeypatch, tmp_path):
    problem, a = symmetric_witness(over="rational")
    outcome = found_outcome(problem, a)
    monkeypatch.setattr("cexsearch.commands.find.search", lambda p, options, progress=None: outcome)
    path = tmp_path / "w.json"
    r = run(*FIND, "--hard-labels", "--domain", "rational", "--json", str(path), "--cross-check", "torch")
    assert r.exit_code == 0, r.output
    assert "FOUND (a rational witness, exact)" in r.output and "cross-check torch: agrees" in r.output
    doc = json.loads(path.read_text())
    assert schema.problems(doc) == []
    assert doc["network"]["loss"] == "bce" and doc["network"]["labels"] == "hard"
    assert doc["domain"]["over"] == "rational" and doc["verdict_domain"] == "rational"
    assert doc["yhat"]["exact"] == [["1"], ["-1"]]  # the logits stay rational
    assert doc["gradients"]["W1"]["exact"] == [["-1 + sigmoid(1)", "0"]]
    assert doc["gradients"]["W1"]["decimal"][0][0].startswith("-0.2689414213")
    assert doc["p"]["exact"] == [["sigmoid(1)"], ["1 - sigmoid(1)"]]
    assert doc["loss"]["exact"] == "-1 + softplus(1)" and doc["loss"]["decimal"].startswith("0.3132616875")
    back, assignment, _ = load_document(path.read_text())
    assert back.network.loss.labels == "hard" and back.over == "rational" and assignment == a
    r = run("verify", "--strict", str(path))
    assert r.exit_code == 0 and "VERIFIED (a rational witness, exact)" in r.output, r.output
    # hard labels are part of the problem: a soft target read back is refused by the re-check
    doc["values"]["y"]["exact"] = [["1"], ["1/2"]]
    path.write_text(json.dumps(doc))
    r = run("verify", str(path))
    assert r.exit_code == 1 and "FAILS: y[1, 0] is 0 or 1" in r.output, r.output


def test_a_near_miss_document_fails_verify(tmp_path):
    problem, a = symmetric_witness()
    doc = outcome_document(found_outcome(problem, a))
    doc["values"]["W1"]["exact"] = [["1", "1/1000"]]  # z = 1001/1000 and -999/1000: no cancellation
    path = tmp_path / "near.json"
    path.write_text(dumps(doc))
    r = run("verify", str(path))
    assert r.exit_code == 1 and "FAILS: grad(b1) == 0" in r.output
    assert "sigmoid(1001/1000)" in r.output  # the failing value, exact and symbolic


def test_a_certificate_document_is_checked_by_certify_when_it_is_there(monkeypatch, tmp_path):
    problem, a = symmetric_witness(over="real")
    cert = FakeCertificate("miranda", (("W1", (0, 0), F(1, 2), F(3, 2)), ("W1", (0, 1), F(-1, 8), F(1, 8))), a)
    doc = outcome_document(Outcome("found", problem, SearchStats("hand", 1), witness=a,
                                   recheck=numeric.recheck(problem, a), domain="real", certificate=cert))
    assert schema.problems(doc) == []
    bare = outcome_document(Outcome("found", problem, SearchStats("hand", 1), domain="real", certificate=cert))
    assert "values" not in bare and schema.problems(bare) == []  # the box stands for the witness
    assert doc["certificate"]["box"][0] == {"name": "W1", "index": [0, 0], "lo": "1/2", "hi": "3/2",
                                            "lo_decimal": "0.5", "hi_decimal": "1.5"}
    path = tmp_path / "box.json"
    path.write_text(dumps(doc))
    seen = {}

    @dataclass(frozen=True)
    class Certificate:  # the fields of semantics.certify.Certificate
        center: Assignment
        box: tuple
        equations: tuple
        labels: tuple
        preconditioner: tuple
        method: str = "miranda"
        bits: int = 64

    @dataclass(frozen=True)
    class CertificateCheck:
        ok: bool
        reasons: tuple = ()

    def check_certificate(problem, certificate):
        seen["cert"] = certificate
        return CertificateCheck(seen.get("ok", True), () if seen.get("ok", True) else ("a face fails",))

    fake = types.ModuleType("cexsearch.semantics.certify")
    fake.check_certificate = check_certificate  # type: ignore[attr-defined]
    fake.Certificate = Certificate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cexsearch.semantics.certify", fake)
    monkeypatch.setattr("cexsearch.semantics.certify", fake, raising=False)
    r = run("verify", str(path))
    assert r.exit_code == 0 and "VERIFIED over the reals" in r.output, r.output
    cert = seen["cert"]
    assert isinstance(cert, Certificate) and cert.box[0] == ("W1", (0, 0), F(1, 2), F(3, 2))
    assert cert.center.entry("W1", (0, 0)) == 1 and cert.center.entry("x", (1, 0)) == -1  # the whole centre
    seen["ok"] = False
    r = run("verify", str(path))
    assert r.exit_code == 1 and "FAILED" in r.output and "a face fails" in r.output, r.output


def test_torch_cross_check_of_ce_gradients_and_at_a_box_centre():
    from cexsearch.workflows.crosscheck import torch_at_centre, torch_cross_check

    net = layer_network("Sequential(Linear(2, 3))", "2", loss=loss("ce", labels="soft"))
    values = {("W1", (j, i)): F(j - i, 2) for j in range(3) for i in range(2)}
    values |= {("b1", (j,)): F(j, 3) for j in range(3)}
    values |= {("x", (m, i)): F(m + i, 1 + i) for m in range(2) for i in range(2)}
    values |= {("y", (m, j)): F((1, 1, 2)[j], 4) for m in range(2) for j in range(3)}
    a = Assignment.from_entries(net, 2, values)
    report = torch_cross_check(a, numeric.exact_gradients(a))
    assert report.agrees and report.max_abs_deviation < 1e-12
    problem = build_problem(net, 2, ["grad(b1)[0] != 0"])
    box = FakeCertificate("m", tuple((n, i, v - F(1, 8), v + F(1, 8)) for (n, i), v in values.items()))
    assert torch_at_centre(problem, box).startswith("torch at the box centre: agrees")


def test_shrinking_keeps_the_verdicts_numbers_and_a_box_is_not_shrunk(monkeypatch):
    problem, a = symmetric_witness(over="rational")
    outcome = found_outcome(problem, a)
    monkeypatch.setattr("cexsearch.commands.find.search", lambda p, options, progress=None: outcome)
    r = run(*[x for x in FIND if x != "--no-shrink"], "--hard-labels", "--domain", "rational", "--shrink-time", "5")
    assert r.exit_code == 0 and "FOUND (a rational witness, exact)" in r.output and "shrinking:" in r.output
    from cexsearch.commands.find import shrunk
    from cexsearch.engine.options import SearchOptions

    box = Outcome("found", problem, SearchStats("hand", 1), domain="real", certificate=FakeCertificate("m", ()))
    assert shrunk(box, SearchOptions(), F(5)) is box


@pytest.mark.parametrize("text, name, labels", [
    ("Sequential(Linear(2, 3))", "ce", "soft"),
    ("Sequential(Conv1d(1, 2, 2), ReLU(), Flatten(), Linear(6, 1))", "bce", "hard"),
])
def test_derivations_and_the_html_page_write_values_with_exp(text, name, labels, tmp_path):
    from cexsearch.output.explain import explain
    from cexsearch.output.explain_format import Latex, Markdown
    from cexsearch.output.explain_layers import explained_gradients

    shape = "2" if text.startswith("Sequential(Linear") else "1,4"
    net = layer_network(text, shape, loss=loss(name, labels=labels))
    n = net.output_shape[0]
    values = {}
    for var in net.parameter_names():
        for k, idx in enumerate(__import__("numpy").ndindex(net.shape(var, 2))):
            values[(var, idx)] = F((k % 5) - 2, 2)
    for k, idx in enumerate(__import__("numpy").ndindex(net.shape("x", 2))):
        values[("x", idx)] = F(k % 3 - 1)
    for m in range(2):
        row = [F(1, n)] * n if name == "ce" else [F(m)]
        for j, v in enumerate(row):
            values[("y", (m, j))] = v
    a = Assignment.from_entries(net, 2, values)
    problem = build_problem(net, 2, [f"grad({net.parameter_names()[-1]}) != 0"])  # the last bias: p - y summed
    for fmt in (Markdown(), Latex()):  # every written sum is checked against the trace, exactly
        totals = explained_gradients(problem, a, fmt)
        exact = numeric.exact_gradients(a)
        assert all(v == exact[p][i] for (p, i), v in totals.items())
    md, tex = explain(problem, a, "markdown"), explain(problem, a, "latex")
    word = "softmax" if name == "ce" else "sigmoid"
    assert word in md and "p_{m,e} - y_{m,e}" in md
    assert ("\\operatorname{softmax}" if name == "ce" else "\\sigma(") in tex and "\\text{gradient}" in tex
    from cexsearch.output.html_report import outcome_html

    page = outcome_html(found_outcome(problem, a))
    assert "FOUND (a rational witness, exact)" in page and word in page


def test_a_refuted_claims_report_is_valid_with_symbolic_values(monkeypatch, tmp_path):
    problem, a = symmetric_witness(labels="soft", over="rational")
    claim = Claim(name="no-cancel", net=NET, input_shape=[2], loss="bce", domain="rational", samples=2,
                  given=["grad(W1)[0,0] != 0"], then=["grad(b1) != 0"], expect="holds")

    def fake(p, options):
        check = numeric.recheck(p, a)
        assert check.confirmed  # the symmetric witness refutes it: grad(b1) cancels to 0
        return Outcome("found", p, SearchStats("hand", 1, tried=1), witness=a, recheck=check, domain="rational")

    monkeypatch.setattr("cexsearch.workflows.claims.search_or_unknown", fake)
    result = check_claim(claim, store=tmp_path)
    assert result.verdict == "refuted"
    from cexsearch.output.export import report_document, verdict_message

    assert "refuted (a rational witness, exact)" in verdict_message(result)
    assert "-1 + sigmoid(1)" in verdict_message(result)
    doc = report_document([result])
    assert schema.problems(doc) == []
    stored = tmp_path / "no-cancel.json"
    assert schema.problems(json.loads(stored.read_text())) == []
    assert run("verify", str(stored)).exit_code == 0
    again = check_claim(claim, store=tmp_path)  # replayed from the store, without a search
    assert again.verdict == "refuted" and again.witness.domain == "rational"
    assert "replayed" in (again.witness.reason or "")


def test_a_box_centre_that_misses_the_conditions_is_shown_as_the_centre_not_as_a_witness():
    problem, a = symmetric_witness(over="real")
    near = Assignment.from_entries(problem.network, 2, {**{(n, i): v for n, i, v in a.items()},
                                                        ("W1", (0, 1)): F(1, 1000)})
    cert = FakeCertificate("miranda", (("W1", (0, 1), F(-1, 100), F(1, 100)),), near)
    boxed = Outcome("found", problem, SearchStats("hand", 1), witness=near, recheck=numeric.recheck(problem, near),
                    domain="real", certificate=cert)
    text = rendered(boxed)
    assert "FOUND over the reals (a certified box)" in text and "parameters (box centre)" in text
    assert "exact re-check at the box centre: 2 of 3 conditions not confirmed" in text
    assert "the certificate above is the verdict's proof" in text


def test_cvc5_says_it_does_not_run_on_a_loss_with_exp():
    from cexsearch.commands.extras import Extras

    problem, _ = symmetric_witness()
    none = Outcome("none", problem, SearchStats("hand", 1), domain="rational")
    checked = Extras.parse(None, None, None, ["cvc5"], None).cross_check(none)
    assert checked.verdict == "none" and "cvc5: not run, the loss has exp in it" in checked.cross_checks[0]


def test_sweep_takes_the_options_and_says_what_its_cells_cover(monkeypatch, tmp_path):
    seen = []

    def fake(problem, options):
        seen.append(problem)
        return Outcome("none", problem, SearchStats("hand", 1, tried=1), domain=problem.over)

    monkeypatch.setattr("cexsearch.workflows.sweep.search_or_unknown", fake)
    r = run("sweep", "--net", NET, "--input-shape", "2", "--samples", "1..2", "--loss", "bce", "--hard-labels",
            "--domain", "rational", "-r", "grad(b1) == 0", "--json", str(tmp_path / "s.json"))
    assert r.exit_code == 1, r.output
    assert [p.samples for p in seen] == [1, 2] and all(p.over == "rational" for p in seen)
    assert all(p.network.loss.labels == "hard" for p in seen)
    assert "verdicts: none over the rationals" in r.output
    doc = json.loads((tmp_path / "s.json").read_text())
    assert [c["domain"] for c in doc["cells"]] == ["rational", "rational"] and schema.problems(doc) == []
    r = run("sweep", "--net", NET, "--input-shape", "2", "--loss", "mse", "--domain", "real", "-r", "grad(b1) == 0")
    assert r.exit_code == 2 and "--domain needs a classification loss" in r.output


def test_verify_says_undecided_when_the_exact_arithmetic_cannot_settle_a_condition(tmp_path):
    problem, a = symmetric_witness()
    doc = outcome_document(found_outcome(problem, a))
    doc["conditions"] = ["p[0,0] * p[1,0] < 1/4"]  # a product of two values with exp: not kept exactly
    path = tmp_path / "u.json"
    path.write_text(dumps(doc))
    r = run("verify", str(path))
    assert r.exit_code == 3, r.output
    assert "UNDECIDED  the exact arithmetic cannot settle" in r.output and "UNDECIDED (a product" in r.output
