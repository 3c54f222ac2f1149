"""The HTML report: a self-contained page of the claims, witnesses, derivations (MathML) and plots.

The page is checked as text (well-formed XML, every claim, no external address,
escaped user text) and, where Chromium is installed, as a browser renders it:
an inline script records how many formulas were laid out with a non-empty box.
"""

from __future__ import annotations

import base64
import glob
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app
from cexsearch.output.explain import latex_escape, latex_unescape
from cexsearch.output.html_report import derivation_html, inline_html
from cexsearch.output.plot import one_in_one_out
from cexsearch.workflows.claimfile import load_claims

pytest.importorskip("latex2mathml", reason="the html extra (latex2mathml) is not installed")

runner = CliRunner()
EXAMPLES = sorted(glob.glob(str(Path(__file__).parents[2] / "examples" / "*.toml")))
SEED_001 = ["--net", "1-1-1", "-r", "grad(W2) == 0", "-r", "grad(b2) == 0", "-r", "grad(W1) != 0",
            "-r", "grad(b1) != 0"]
XHTML = "{http://www.w3.org/1999/xhtml}"
MATHML = "{http://www.w3.org/1998/Math/MathML}"
VOID = {"meta", "img", "br", "hr", "link", "input", "mspace", "none", "mprescripts"}


@pytest.fixture(scope="module")
def example_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = runner.invoke(app, ["check", *EXAMPLES, "--no-store", "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert f"HTML report written to {out / 'index.html'}" in result.output
    return out / "index.html"


def example_claims() -> list:
    return [c for f in EXAMPLES for c in load_claims(f)]


class NestingChecker(HTMLParser):
    """Every element closed, in order: what a browser's parser would otherwise repair silently."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def test_page_is_well_formed_html_and_xml(example_page: Path) -> None:
    text = example_page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    checker = NestingChecker()
    checker.feed(text)
    checker.close()
    assert checker.stack == []
    root = ET.fromstring(text)  # polyglot: the whole page parses as XML, MathML included
    assert root.tag == f"{XHTML}html"
    maths = root.findall(f".//{MATHML}math")
    assert len(maths) > 100  # every formula of every derivation
    for m in re.findall(r"<math\b.*?</math>", text, re.S):
        ET.fromstring(m)  # and each formula stands on its own as MathML
    assert 'class="tex-fallback"' not in text, "a formula the converter could not read"


def test_every_claim_is_a_row_with_its_verdict_expectation_and_time(example_page: Path) -> None:
    root = ET.fromstring(example_page.read_text(encoding="utf-8"))
    rows = [tr for tr in root.iter(f"{XHTML}tr") if "claim" in tr.get("class", "").split()]
    claims = example_claims()
    assert len(rows) == len(claims)
    for tr, claim in zip(rows, claims):
        cells = ["".join(td.itertext()) for td in tr.findall(f"{XHTML}td")]
        assert claim.name in cells[1]
        assert tr.get("data-verdict") == claim.expect  # every example claim is as expected
        verdict = tr.findall(f"{XHTML}td")[2]
        assert "".join(verdict.find(f"{XHTML}span").itertext()) == claim.expect and cells[3] == claim.expect
        # a bce/ce claim's verdict says what it covers (none over the rationals, a certified box, ...)
        notes = ["".join(d.itertext()) for d in verdict.findall(f"{XHTML}div")]
        assert notes == ([notes[0]] if claim.loss in ("bce", "ce") else []) and all(notes)
        assert re.fullmatch(r"\d+\.\d\d s", cells[5])
        assert "ok" in tr.get("class", "").split()


def test_every_refuted_claim_has_a_witness_section_with_tables_derivation_and_plot(example_page: Path) -> None:
    text = example_page.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    sections = [s for s in root.iter(f"{XHTML}section") if s.get("class") == "witness"]
    refuted = [c for c in example_claims() if c.expect == "refuted"]
    assert [s.find(f"{XHTML}h2").text for s in sections] == [f"Witness: {c.name}" for c in refuted]
    assert any(s.find(f".//{XHTML}pre[@class='certificate']") is not None for s in sections), "a certified box"
    for s, claim in zip(sections, refuted):
        captions = [c.text for c in s.iter(f"{XHTML}caption")]
        # a layer network's witness has its layer table first, then the same tables and its own derivation
        trained = claim.steps is not None  # a training run's table, and a derivation per step
        # a witness over the reals (bce, ce) is shown at its certified box's centre, the box printed above
        boxed = s.find(f".//{XHTML}pre[@class='certificate']") is not None
        assert captions[:len(captions) - trained] == ["layers"] * claim.layer_nets + [
            "parameters (box centre)" if boxed else "parameters", "dataset", "gradients of the batch loss"]
        assert not trained or captions[-1].startswith("training run:")
        assert s.findall(f".//{MATHML}math"), "the derivation is MathML"
        headings = [h.text for h in s.iter(f"{XHTML}h4")]
        if trained:
            assert "Step 0: Gradients" in headings and "Step 0: the update" in headings
            continue
        assert headings[:2] == ["Network", "Parameters"] and "Gradients" in headings
        if claim.layer_nets:  # the chain rule layer by layer: the deltas every layer is handed
            assert "Backprop deltas" in headings
        assert "not yet" not in ET.tostring(s, encoding="unicode")
    # a witness with one input and one output gets its plot, embedded (10-10-1 and the CNNs have none)
    plottable = [[one_in_one_out(n) for n in c.networks()] for c in refuted]
    assert all(len(set(p)) == 1 for p in plottable), "a claim mixing plottable and other nets: which one is shown?"
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == sum(p[0] for p in plottable) > 0
    assert any(p[0] for c, p in zip(refuted, plottable) if c.layer_nets), "a layer network's plot is on the page"
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_external_address(example_page: Path) -> None:
    text = example_page.read_text(encoding="utf-8")
    for attr, value in re.findall(r'\b(src|href|action|poster|data)="([^"]*)"', text):
        assert value.startswith(("#", "data:")), f"{attr}={value!r} points outside the page"
    addresses = set(re.findall(r"(?:https?:|ftp:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*", text))
    assert addresses <= {"http://www.w3.org/1999/xhtml", "http://www.w3.org/1998/Math/MathML"}, addresses
    assert "@import" not in text and "url(" not in text and "<link" not in text


def test_user_text_is_escaped(tmp_path: Path) -> None:
    name = 'refuted <script>alert("x")</script> & <b>bold</b>'
    claim = tmp_path / "claims.toml"
    claim.write_text(f"[[claim]]\nname = '{name}'\nnet = \"1-1-1\"\nsamples = 2\n"
                     'given = ["grad(W2) == 0", "grad(b2) == 0"]\nthen = ["grad(W1) == 0"]\nexpect = "refuted"\n',
                     encoding="utf-8")
    out = tmp_path / "report"
    result = runner.invoke(app, ["check", str(claim), "--no-store", "--html", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "index.html").read_text(encoding="utf-8")
    assert escape(name) in text
    assert "<script>alert" not in text and "<b>bold" not in text
    assert text.count("<script>") == 1  # the page's own
    ET.fromstring(text)


def test_claims_not_as_expected_and_inconclusive_are_marked(tmp_path: Path) -> None:
    claims = tmp_path / "claims.toml"
    claims.write_text(
        '[[claim]]\nname = "wrongly expected to hold"\nnet = "1-1-1"\nsamples = 2\n'
        'given = ["grad(W2) == 0", "grad(b2) == 0"]\nthen = ["grad(W1) == 0"]\nexpect = "holds"\n\n'
        '[[claim]]\nname = "too little time"\nnet = "2-4-4-1"\nsamples = 4\ngiven = ["grad(W3) == 0"]\n'
        'then = ["grad(W1) == 0"]\nexpect = "holds"\ntimeout = 0.01\n', encoding="utf-8")
    result = runner.invoke(app, ["check", str(claims), "--no-store", "--html", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    root = ET.fromstring((tmp_path / "r" / "index.html").read_text(encoding="utf-8"))
    rows = [tr for tr in root.iter(f"{XHTML}tr") if "claim" in tr.get("class", "").split()]
    assert [(tr.get("class"), tr.get("data-verdict"), tr.findtext(f"{XHTML}td")) for tr in rows] == [
        ("claim fail", "refuted", "FAIL"), ("claim unknown", "unknown", "??")]
    assert "(timeout)" in "".join(rows[1].itertext())  # the reason, beside the claim
    summary = next(p for p in root.iter(f"{XHTML}p") if "summary" in p.get("class", ""))
    assert summary.get("class") == "summary fail" and summary.text.startswith("0 of 2 claims as expected, 1 not")
    sections = [s for s in root.iter(f"{XHTML}section") if s.get("class") == "witness"]
    assert [s.findtext(f"{XHTML}h2") for s in sections] == ["Witness: wrongly expected to hold"]


def test_a_replayed_witness_says_so_as_in_the_terminal(tmp_path: Path) -> None:
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nname = "two inputs"\nnet = "2-1-1"\nsamples = 2\n'
                      'given = ["grad(W2) == 0", "grad(b2) == 0"]\nthen = ["grad(W1) == 0"]\nexpect = "refuted"\n',
                      encoding="utf-8")
    store = tmp_path / "store"
    for _ in range(2):
        result = runner.invoke(app, ["check", str(claims), "--store", str(store), "--html", str(tmp_path / "r")])
        assert result.exit_code == 0, result.output
    assert "(replayed)" in result.output
    text = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert '<td class="mono">2-1-1 x 2 (replayed)</td>' in text


def test_find_page_has_the_witness_the_derivation_and_the_plot(tmp_path: Path) -> None:
    page = tmp_path / "out" / "find.html"
    result = runner.invoke(app, ["find", "--net", "1-2-1", "-M", "2", "-r", "grad(W2) == 0", "-r", "grad(W1) != 0",
                                 "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert "FOUND" in "".join(root.itertext())
    assert len(root.findall(f".//{MATHML}math")) > 10
    assert "data:image/png;base64," in text
    grads = [tr for t in root.iter(f"{XHTML}table") if t.findtext(f"{XHTML}caption") == "gradients of the batch loss"
             for tr in t.iter(f"{XHTML}tr")][1:]
    assert len(grads) == 7  # W1 (2), b1 (2), W2 (2), b2 (1)
    assert all(tr.find(f"{XHTML}td").get("class") == "mono name" for tr in grads)


FIXED_121 = ["--net", "1-2-1", "-r", "W2 == 0", "-r", "grad@2(W1) != 0"]
FIXED_1221 = ["--net", "1-2-2-1", "--lr", "1/10", "-r", "loss@2 != loss@0"] + [
    a for fix in ("W1 = 1", "b1 = 1", "W2 = 1", "b2 = 0", "W3 = 1", "b3 = 0", "x = 1", "y = 0") for a in ("--fix", fix)]


@pytest.mark.parametrize("args", [FIXED_121, FIXED_1221])
def test_a_training_witness_page_has_its_run_and_a_derivation_per_step(tmp_path: Path, args: list[str]) -> None:
    page = tmp_path / "train.html"
    result = runner.invoke(app, ["find", *args, "-M", "2", "--steps", "2", "--no-shrink", "--html", str(page)])
    assert result.exit_code == 0, result.output
    root = ET.fromstring(page.read_text(encoding="utf-8"))
    captions = [t.findtext(f"{XHTML}caption") or "" for t in root.iter(f"{XHTML}table")]
    run = [t for t, c in zip(root.iter(f"{XHTML}table"), captions) if c.startswith("training run: 2 steps of gd")]
    assert len(run) == 1 and len(list(run[0].iter(f"{XHTML}tr"))) == 1 + 3  # a header and steps 0, 1, 2
    text = "".join(root.itertext())
    assert "Step 2: Gradients" in text  # deeper networks too: the exact replay keeps backprop's deltas


def test_find_without_a_witness_still_writes_its_page(tmp_path: Path) -> None:
    page = tmp_path / "none.html"
    result = runner.invoke(app, ["find", *SEED_001, "-M", "2", "--html", str(page)])
    assert result.exit_code == 1, result.output
    root = ET.fromstring(page.read_text(encoding="utf-8"))
    assert "NONE" in "".join(root.itertext())
    assert root.findall(f".//{MATHML}math") == []


def test_a_plot_that_does_not_apply_is_left_out(tmp_path: Path) -> None:
    page = tmp_path / "wide.html"
    result = runner.invoke(app, ["find", "--net", "2-1-2", "-r", "grad(W1) != 0", "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text and "<math" in text


def test_without_matplotlib_the_plot_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = tmp_path / "find.html"
    result = runner.invoke(app, ["find", *SEED_001, "-M", "3", "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text and "plot left out: a plot needs matplotlib" in text and "cexsearch[plot]" in text


def test_without_latex2mathml_html_is_refused_before_any_search(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "latex2mathml", None)
    monkeypatch.setitem(sys.modules, "latex2mathml.converter", None)
    for args in (["check", EXAMPLES[0], "--no-store", "--html", str(tmp_path / "r")],
                 ["find", *SEED_001, "-M", "3", "--html", str(tmp_path / "f.html")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "latex2mathml" in result.output and "cexsearch[html]" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "f.html").exists()


@pytest.mark.parametrize("args, needle", [
    (["find", *SEED_001, "--html", "-"], "--html writes a file"),
    (["check", EXAMPLES[0], "--html", __file__], "it is a file"),
])
def test_bad_html_paths_exit_2(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and needle in result.output, result.output


def test_latex_text_mode_to_html() -> None:
    text = 'a_b {c} & <d> ~ 50% $x "q"'
    assert latex_unescape(latex_escape(text)) == text
    assert inline_html(latex_escape(text)) == escape(text)
    html = inline_html(f"see \\texttt{{{latex_escape('grad(W1)[0,0] <= {1}')}}} and $\\sigma$.")
    assert html.startswith("see <code>grad(W1)[0,0] &lt;= {1}</code> and <math")
    assert "&#x003C3;" in html and html.endswith("</math>.")


def test_derivation_blocks() -> None:
    tex = ("\\begin{document}\n\\section*{Title}\n\n\\section*{Parameters}\n\n\\noindent\\texttt{grad(b1)[0]}\n\n"
           "\\begin{align*}\nb_{1} &= -1 \\\\\nc &= \\frac{1}{2}\n\\end{align*}\n\n"
           "{\\small\n\\begin{center}\n\\begin{tabular}{r|r}\n$m$ & $x_m$ \\\\\n\\hline\n0 & $\\frac{-1}{3}$ \\\\\n"
           "\\end{tabular}\n\\end{center}\n}\n\n\\begin{itemize}\n\\item \\texttt{grad(W2) == 0}: holds\n"
           "\\end{itemize}\n\nAll \\& done.\n\n\\end{document}\n")
    html = derivation_html(tex)
    root = ET.fromstring(f"<div>{html}</div>")
    assert "Title" not in html
    assert [h.text for h in root.iter("h4")] == ["Parameters"]
    assert root.find("p/code").text == "grad(b1)[0]"
    table = root.find(f"div/{MATHML}math/{MATHML}mrow/{MATHML}mtable")
    assert table is not None and len(table.findall(f"{MATHML}mtr")) == 2  # the aligned lines stay lines
    assert len(root.findall("table/thead/tr/th")) == 2 and root.find("table/tbody/tr/td").text == "0"
    assert root.find("ul/li/code").text == "grad(W2) == 0"
    assert root.findall("p")[-1].text == "All & done."


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); "
                    "the page is not checked in a browser")
def test_chromium_renders_every_claim_and_formula(example_page: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", example_page.as_uri()],
            capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body is not None, done.stdout[:500]
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs.get("data-rendered") == "yes", attrs
    assert attrs["data-errors"] == "0"
    total = len(re.findall(r"<math\b", example_page.read_text(encoding="utf-8")))
    assert int(attrs["data-math-total"]) == total > 100
    assert int(attrs["data-math-drawn"]) == total, "some formulas have an empty box"
    assert "math" in attrs["data-math-display"], "the browser did not lay <math> out as MathML"
    assert int(attrs["data-claims-drawn"]) == len(example_claims())
    for claim in example_claims():
        assert escape(claim.name, quote=False) in done.stdout
