"""A self-contained HTML page of outcomes: for a browser, a CI artefact, or a mail.

The page needs no network to be read: its style is inline, the plot is a PNG
``data:`` URI, and the mathematics is MathML, which browsers draw natively.
Nothing is computed here: the tables are report.py's Rich tables, the
derivation is the LaTeX document of ``--explain latex`` (output/explain.py) converted
block by block, its formulas by the maintained ``latex2mathml`` converter (the
optional ``html`` extra), and the plot is plot.py's figure.  Every text that a
user wrote (claim names, conditions, file names) passes through
:func:`html.escape`.

The page is also well-formed XML (polyglot XHTML), so tests can parse all of it.
A small inline script records, once the page is laid out, how many formulas the
browser drew with a non-empty box and whether a script error occurred, as
``data-*`` attributes on ``<body>``; a headless browser's dumped DOM shows them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from ..engine.search import Outcome
from ..errors import InputError
from . import report
from .explain import LATEX_ESCAPE_RE, explain, latex_unescape

if TYPE_CHECKING:
    from ..workflows.claims import ClaimOutcome

EXTRA_HINT = "pip install 'cexsearch[html]'"


def require_converter() -> None:
    """Refuse ``--html`` before any search when the LaTeX-to-MathML converter is missing."""
    try:
        import latex2mathml.converter  # noqa: F401
    except ImportError:
        raise InputError("--html needs the latex2mathml package (the html extra)", hint=EXTRA_HINT) from None


# --------------------------------------------------------------------------
# The LaTeX derivation as HTML with MathML


def mathml(tex: str, display: str = "inline") -> str:
    """One formula as MathML; a formula the converter cannot read stays visible as its LaTeX source."""
    from latex2mathml.converter import convert

    try:
        return str(convert(tex, display=display))
    except Exception:  # the converter's own errors are not one class; the page must still be written
        return f'<code class="tex-fallback">{escape(tex)}</code>'


_INLINE = re.compile(
    rf"(?P<esc>{LATEX_ESCAPE_RE})"
    r"|\$(?P<math>(?:\\.|[^$\\])*)\$"
    r"|\\texttt\{(?P<code>(?:\\[A-Za-z]+\{\}|\\.\{\}|\\.|[^{}\\])*)\}")


def inline_html(tex: str) -> str:
    """A line of LaTeX text mode (escapes, ``$math$``, ``\\texttt{code}``) as HTML."""
    out, pos = [], 0
    for m in _INLINE.finditer(tex):
        out.append(escape(tex[pos:m.start()]))
        if m.group("esc") is not None:
            out.append(escape(latex_unescape(m.group("esc"))))
        elif m.group("math") is not None:
            out.append(mathml(m.group("math")))
        else:
            out.append(f"<code>{escape(latex_unescape(m.group('code')))}</code>")
        pos = m.end()
    out.append(escape(tex[pos:]))
    return "".join(out)


_TABULAR = re.compile(r"\\begin\{tabular\}\{[^}]*\}\n(.*?)\n\\end\{tabular\}", re.S)


def _tabular_html(body: str) -> str:
    rows = [line.removesuffix("\\\\").strip() for line in body.splitlines() if line.strip() != "\\hline"]
    head, *rest = [[inline_html(cell) for cell in row.split(" & ")] for row in rows]
    html = ['<table class="derivation"><thead><tr>', *(f"<th>{c}</th>" for c in head), "</tr></thead><tbody>"]
    for row in rest:
        html += ["<tr>", *(f"<td>{c}</td>" for c in row), "</tr>"]
    return "".join(html + ["</tbody></table>"])


def derivation_html(tex: str) -> str:
    """The body of output/explain.py's LaTeX document, block by block, as HTML (its title left out)."""
    body = tex.split("\\begin{document}\n", 1)[-1].rsplit("\\end{document}", 1)[0]
    blocks = [b.strip() for b in body.strip().split("\n\n") if b.strip()]
    out = []
    for i, block in enumerate(blocks):
        heading = re.fullmatch(r"\\section\*\{(.*)\}", block, re.S)
        label = re.fullmatch(r"\\noindent\\texttt\{(.*)\}", block, re.S)
        if heading and i == 0:
            continue  # the document's title: the page says what this witness is
        if heading:
            out.append(f"<h4>{inline_html(heading.group(1))}</h4>")
        elif label:
            out.append(f'<p class="label"><code>{escape(latex_unescape(label.group(1)))}</code></p>')
        elif block.startswith("\\begin{align*}"):
            out.append(f'<div class="display">{mathml(block, "block")}</div>')
        elif block.startswith("{\\small"):
            out += [_tabular_html(t) for t in _TABULAR.findall(block)]
        elif block.startswith("\\begin{itemize}"):
            items = [line.removeprefix("\\item ").strip() for line in block.splitlines() if line.startswith("\\item ")]
            out.append("<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in items) + "</ul>")
        else:
            out.append(f"<p>{inline_html(block)}</p>")
    return "\n".join(out)


# --------------------------------------------------------------------------
# Tables and witness sections

MONO_COLUMNS = {"exact", "float", "x", "y", "yhat", "residual", "pattern", "m"}
LEFT_MONO_COLUMNS = {"name", "conditions"}  # names and conditions as typed: monospace, left-aligned


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def rich_table_html(table: Table) -> str:
    """A Rich table of report.py as an HTML table, its title as caption and its caption below."""
    headers = [_plain(c.header) for c in table.columns]
    columns = [[_plain(cell) for cell in c.cells] for c in table.columns]
    title = f"<caption>{escape(_plain(table.title))}</caption>" if table.title else ""
    html = [f'<table class="values">{title}<thead><tr>', *(f"<th>{escape(h)}</th>" for h in headers),
            "</tr></thead><tbody>"]
    for row in zip(*columns):
        html.append("<tr>")
        for h, cell in zip(headers, row):
            kind = "mono" if h in MONO_COLUMNS else "mono name" if h in LEFT_MONO_COLUMNS else "text"
            html.append(f'<td class="{kind}">{escape(cell)}</td>')
        html.append("</tr>")
    html.append("</tbody></table>")
    if table.caption:
        html.append(f'<p class="note">{escape(_plain(table.caption))}</p>')
    return "".join(html)


def plot_html(outcome: Outcome) -> str:
    """The plot as an embedded PNG where one applies (one input, one output, matplotlib installed)."""
    assert outcome.witness is not None
    net = outcome.problem.network
    from .plot import one_in_one_out, png_bytes

    if not one_in_one_out(net):
        return ""

    try:
        png = png_bytes(outcome.problem, outcome.witness)
    except InputError as e:  # matplotlib missing: the rest of the page stands without the picture
        return f'<p class="note">plot left out: {escape(e.message)} ({escape(e.hint or "")})</p>'
    data = base64.b64encode(png).decode("ascii")
    alt = f"the network's function over x with the data, residuals and gradients ({net.text})"
    return f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}"/></figure>'


def outcome_html(outcome: Outcome, conditions: bool = True) -> str:
    """What the terminal report says, then the tables, the plot and the derivation of a witness."""
    parts = [f'<p class="verdict-line {escape(outcome.verdict)}">{escape(report.verdict_line(outcome).plain)}</p>',
             f'<p class="note">{escape(report.problem_line(outcome))}</p>']
    if conditions and outcome.problem.conditions:
        parts.append('<ul class="conditions">' + "".join(f"<li><code>{escape(c.text)}</code></li>"
                                                          for c in outcome.problem.conditions) + "</ul>")
    if outcome.certificate is not None:  # a witness found over the reals: its certified box
        from .verdicts import certificate_text

        parts.append(f'<pre class="certificate">{escape(certificate_text(outcome.certificate, outcome.problem.network.label))}</pre>')
    if outcome.witness is not None and outcome.recheck is not None:
        layers = report.layer_table(outcome)
        if layers is not None:
            parts.append(rich_table_html(layers))
        parts += [rich_table_html(t(outcome)) for t in (report.parameter_table, report.dataset_table, report.gradient_table)]
        run = report.training_table(outcome)  # a training witness: its run, step by step
        if run is not None:
            parts.append(rich_table_html(run))
        parts.append(f'<p class="check">{escape(report.check_line(outcome).plain)}</p>')
        parts.append(plot_html(outcome))
        try:
            tex = explain(outcome.problem, outcome.witness, "latex")
            parts.append(f'<details class="derivation" open=""><summary>Derivation</summary>\n'
                         f"{derivation_html(tex)}\n</details>")
        except InputError as e:  # a training run of a network explain cannot write yet: say so, keep the page
            parts.append(f'<p class="note">no derivation: {escape(e.message)}</p>')
    notes = [f"shrinking: {'; '.join(outcome.shrink)}"] if outcome.shrink else []
    notes += [f"cross-check {n}" for n in outcome.cross_checks]
    parts += [f'<p class="note">{escape(n)}</p>' for n in notes]
    parts.append(f'<p class="note">{escape(report.stats_line(outcome).plain)}</p>')
    return "\n".join(p for p in parts if p)


def _anchor(i: int) -> str:
    return f"claim-{i}"


def covers(r: ClaimOutcome) -> str:
    """What a bce/ce claim's verdict covers (none over the reals, ...), as a note under it."""
    from .verdicts import claim_phrase

    phrase = claim_phrase(r)
    return f'<div class="note">{escape(phrase)}</div>' if phrase else ""


def claims_table_html(results: Sequence[ClaimOutcome]) -> str:
    rows = []
    for i, r in enumerate(results):
        state = "ok" if r.as_expected else "unknown" if r.verdict == "unknown" else "fail"
        mark = {"ok": "ok", "unknown": "??", "fail": "FAIL"}[state]
        name = escape(r.claim.name)
        if r.witness is not None and r.witness.witness is not None:
            name = f'<a href="#{_anchor(i)}">{name}</a>'
        where = f"{r.claim.file}:{r.claim.line}" if r.claim.file and r.claim.line else r.claim.file or ""
        size = report.claim_size_text(r)
        reason = f'<div class="note">{escape(r.reason)}</div>' if r.verdict == "unknown" and r.reason else ""
        rows.append(
            f'<tr class="claim {state}" data-verdict="{escape(r.verdict)}"><td class="mark">{mark}</td>'
            f'<td>{name}<div class="where">{escape(where)}</div>{reason}</td>'
            f'<td><span class="verdict {escape(r.verdict)}">{escape(r.verdict)}</span>{covers(r)}</td>'
            f'<td><span class="verdict {escape(r.expected)}">{escape(r.expected)}</span></td>'
            f'<td class="mono">{escape(size)}</td><td class="mono right nowrap">{r.elapsed:.2f} s</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("", "claim", "verdict", "expected", "size", "time"))
    return f'<table class="claims"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


# --------------------------------------------------------------------------
# Pages

# The math font stack names fonts with an OpenType MATH table that a system may have (none is
# downloaded): with one, brackets stretch around matrices.
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0 auto;
max-width:72rem;padding:1.5rem 2rem 4rem;color:#1f2328;line-height:1.45;background:#fff}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin-top:2.5rem;border-bottom:1px solid #d0d7de;
padding-bottom:.3rem}h4{margin:1.4rem 0 .4rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.88em}
table{border-collapse:collapse;margin:.6rem 0 1rem}th,td{padding:.25rem .7rem;border-bottom:1px solid #e5e7eb;
vertical-align:top}th{text-align:left;background:#f6f8fa;font-weight:600}caption{text-align:left;font-weight:600;
padding:.3rem 0}td.mono,td.right{text-align:right}table.claims td.mono{text-align:left}table.claims td.right{text-align:right}
.verdict{font-weight:600;padding:.05rem .45rem;border-radius:.6rem;font-size:.9em}
.verdict.holds,.verdict.found{background:#dafbe1;color:#116329}.verdict.refuted,.verdict.none{background:#ffebe9;
color:#a40e26}.verdict.unknown{background:#fff8c5;color:#7d4e00}
tr.claim.ok td.mark{color:#116329}tr.claim.fail td.mark{color:#a40e26;font-weight:700}tr.claim.unknown td.mark{color:#9a6700}
tr.claim.fail{background:#fff5f5}.where,.note{color:#59636e;font-size:.85em}
.summary{font-weight:600;font-size:1.05rem}.summary.ok,.check{color:#116329}.summary.fail{color:#a40e26}
.summary.unknown{color:#9a6700}.verdict-line{font-weight:600}.verdict-line.found{color:#116329}
.verdict-line.none{color:#a40e26}.verdict-line.unknown{color:#9a6700}
section.witness{border-left:4px solid #d0d7de;padding-left:1rem}
figure{margin:1rem 0}figure img{max-width:min(100%,46rem);height:auto;border:1px solid #e5e7eb}
details.derivation{margin-top:1rem}details.derivation summary{font-weight:600;cursor:pointer}
.display{overflow-x:auto;overflow-y:hidden;padding:.3em 0;margin:.3rem 0 .6rem}p.label{margin:.9rem 0 .2rem}
table.derivation td{text-align:right}td.name{text-align:left}td.nowrap{white-space:nowrap}
math{font-family:"Latin Modern Math","STIX Two Math","Cambria Math","DejaVu Math TeX Gyre",math}
mtd[columnalign=right]{text-align:right}mtd[columnalign=left]{text-align:left}mtd{padding:.1em .35em}
mtable[columnspacing]>mtr>mtd{padding:.12em 0}
.tex-fallback{color:#a40e26}
"""

# Records, after layout, whether the browser drew the formulas and whether any script error occurred.
# No "<" or "&" in it: the page stays well-formed XML.
SCRIPT = """
var errors = 0;
window.addEventListener("error", function () { errors += 1; document.body.setAttribute("data-errors", errors); });
window.addEventListener("load", function () {
  var maths = document.getElementsByTagName("math"), drawn = 0, rows = 0, i, box;
  for (i = 0; maths.length > i; i++) {
    box = maths[i].getBoundingClientRect();
    if (box.width > 0 ? box.height > 0 : false) { drawn += 1; }
  }
  var claims = document.querySelectorAll("tr.claim");
  for (i = 0; claims.length > i; i++) { if (claims[i].getBoundingClientRect().height > 0) { rows += 1; } }
  var display = maths.length > 0 ? getComputedStyle(maths[0]).display : "";
  document.body.setAttribute("data-math-total", maths.length);
  document.body.setAttribute("data-math-drawn", drawn);
  document.body.setAttribute("data-math-display", display);
  document.body.setAttribute("data-claims-drawn", rows);
  document.body.setAttribute("data-errors", errors);
  document.body.setAttribute("data-rendered", "yes");
});
"""


def page(title: str, body: str) -> str:
    from .. import __version__

    return (f'<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"/><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n"
            f'<p class="note">written by cexsearch {escape(__version__)}; every value exact, every witness '
            f"re-checked with rational arithmetic</p>\n<script>{SCRIPT}</script>\n</body></html>\n")


def check_page(results: Sequence[ClaimOutcome], files: Sequence[str] = ()) -> str:
    """The page of ``cexsearch check``: summary, the claims table, then every witness."""
    summary_text = report.claims_summary(results)
    summary = summary_text.plain
    state = {"bold green": "ok", "bold red": "fail"}.get(str(summary_text.style), "unknown")
    parts = ["<header><h1>cexsearch check</h1>", f'<p class="summary {state}">{escape(summary)}</p>']
    if files:
        parts.append('<p class="note">claim files: ' + ", ".join(f"<code>{escape(f)}</code>" for f in files) + "</p>")
    parts += ["</header>", '<section id="claims"><h2>Claims</h2>', claims_table_html(results), "</section>"]
    for i, r in enumerate(results):
        if r.witness is None or r.witness.witness is None:
            continue
        given = "".join(f"<li>given <code>{escape(t)}</code></li>" for t in r.claim.given)
        then = "".join(f"<li>then <code>{escape(t)}</code></li>" for t in r.claim.then)
        parts += [f'<section class="witness" id="{_anchor(i)}"><h2>Witness: {escape(r.claim.name)}</h2>',
                  f'<p>claim <span class="verdict {escape(r.verdict)}">{escape(r.verdict)}</span>, expected '
                  f'<span class="verdict {escape(r.expected)}">{escape(r.expected)}</span></p>'
                  f'<ul class="conditions">{given}{then}</ul>',
                  outcome_html(r.witness, conditions=False), "</section>"]
    return page(f"cexsearch check: {summary}", "\n".join(parts))


def find_page(outcome: Outcome) -> str:
    """The page of ``cexsearch find``: the verdict, and the witness when one was found."""
    body = f'<header><h1>cexsearch find</h1></header>\n<section class="witness" id="outcome">{outcome_html(outcome)}</section>'
    return page(f"cexsearch find: {outcome.verdict}", body)


def write_check_report(directory: str, results: Sequence[ClaimOutcome], files: Sequence[str] = ()) -> str:
    """Write DIR/index.html atomically; returns its path."""
    from pathlib import Path

    from ..workflows.witness import write_atomic

    path = str(Path(directory) / "index.html")
    write_atomic(path, check_page(results, files))
    return path


def write_find_report(path: str, outcome: Outcome) -> None:
    from ..workflows.witness import write_atomic

    write_atomic(path, find_page(outcome))
