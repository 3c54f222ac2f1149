"""What every derivation shares: Markdown and LaTeX output, and sums written term by term.

:class:`Markdown` and :class:`Latex` say how numbers, tables, math displays and the
document around them are written; :func:`derivation` writes one gradient entry as
``lhs = symbolic = (scale ·) products = (scale ·) values = total``, breaking long sums
into lines.  Used by :mod:`cexsearch.output.explain` (MLPs) and :mod:`cexsearch.output.explain_layers`
(layer models).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import InputError
from ..semantics.transcendental import Prob, Value

FORMATS: tuple[str, ...] = ("markdown", "latex")

# LaTeX tabulars do not break across pages: split longer sample tables.
LATEX_ROWS_PER_TABLE = 30


# --------------------------------------------------------------------------
# Output formats: numbers, tables, math blocks and the document around them


class Format:
    """What differs between Markdown and LaTeX; the derivation itself is shared."""

    name = ""
    line_width = 72  # about how many typeset characters one line of a long sum holds before it breaks

    def num(self, v: Fraction) -> str:
        raise NotImplementedError

    def factor(self, v: Fraction) -> str:
        """A number as a factor in a product: negatives (and, in Markdown, fractions) in parentheses."""
        raise NotImplementedError

    def heading(self, text: str) -> str:
        raise NotImplementedError

    def label(self, text: str) -> str:
        """A gradient's name as the tool writes it, e.g. grad(W1)[0,0], set apart from the text."""
        raise NotImplementedError

    def code(self, text: str) -> str:
        raise NotImplementedError

    def math(self, lines: Sequence[str]) -> str:
        """A display of aligned lines (each line uses ``&`` once, before its relation)."""
        raise NotImplementedError

    def table(self, header: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
        """``header`` holds (plain text, LaTeX math) pairs; cells are already formatted."""
        raise NotImplementedError

    def bullets(self, items: Sequence[str]) -> str:
        raise NotImplementedError

    def float_text(self, v: Fraction) -> str:
        return f"{float(v):.6g}"

    def document(self, title: str, blocks: Sequence[str]) -> str:
        raise NotImplementedError

    def vector(self, values: Sequence[Fraction]) -> str:
        """A row of values in a table cell: the value alone, or a tuple."""
        inner = ", ".join(self.num(v) for v in values)
        return inner if len(values) == 1 else f"({inner})"


class Markdown(Format):
    name = "markdown"

    def num(self, v: Fraction) -> str:
        if isinstance(v, Value):  # bce, ce: the exact symbolic form
            return str(v)
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"

    def factor(self, v: Fraction) -> str:
        if isinstance(v, Value):
            return f"({v})"
        return self.num(v) if v >= 0 and v.denominator == 1 else f"({self.num(v)})"

    def heading(self, text: str) -> str:
        return f"## {text}"

    def label(self, text: str) -> str:
        return f"**`{text}`**"

    def code(self, text: str) -> str:
        return f"`{text}`"

    def math(self, lines: Sequence[str]) -> str:
        body = " \\\\\n".join(lines)
        return f"$$\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n$$"

    def table(self, header: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
        out = ["| " + " | ".join(h for h, _ in header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out)

    def bullets(self, items: Sequence[str]) -> str:
        return "\n".join(f"- {item}" for item in items)

    def document(self, title: str, blocks: Sequence[str]) -> str:
        return "\n\n".join([f"# {title}", *blocks]) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "~": r"\~{}",
    "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&", "<": r"\textless{}", ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Plain text made safe for LaTeX's text mode."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


_LATEX_UNESCAPE = {v: k for k, v in _LATEX_SPECIAL.items()}
LATEX_ESCAPE_RE = "|".join(re.escape(v) for v in sorted(_LATEX_SPECIAL.values(), key=len, reverse=True))


def latex_unescape(text: str) -> str:
    """The inverse of :func:`latex_escape`: ``latex_unescape(latex_escape(t)) == t``."""
    return re.sub(LATEX_ESCAPE_RE, lambda m: _LATEX_UNESCAPE[m.group(0)], text)


class Latex(Format):
    name = "latex"
    line_width = 60

    def num(self, v: Fraction) -> str:
        if isinstance(v, Value):  # bce, ce: sigma, softmax, softplus, logsumexp atoms with rational coefficients
            return value_latex(self, v)
        if v.denominator == 1:
            return str(v.numerator)
        sign = "-" if v < 0 else ""
        return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"

    def factor(self, v: Fraction) -> str:
        if isinstance(v, Value):
            return f"\\left({self.num(v)}\\right)"
        if v >= 0:
            return self.num(v)
        return f"({self.num(v)})" if v.denominator == 1 else f"\\left({self.num(v)}\\right)"

    def heading(self, text: str) -> str:
        return f"\\section*{{{latex_escape(text)}}}"

    def label(self, text: str) -> str:
        return f"\\noindent\\texttt{{{latex_escape(text)}}}"

    def code(self, text: str) -> str:
        return f"\\texttt{{{latex_escape(text)}}}"

    def math(self, lines: Sequence[str]) -> str:
        body = " \\\\\n".join(lines)
        return f"\\begin{{align*}}\n{body}\n\\end{{align*}}"

    def vector(self, values: Sequence[Fraction]) -> str:
        inner = ", ".join(self.num(v) for v in values)
        return f"${inner}$" if len(values) == 1 else f"$\\left({inner}\\right)$"

    def float_text(self, v: Fraction) -> str:
        return f"${float(v):.6g}$"

    def table(self, header: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
        parts = []
        for start in range(0, max(len(rows), 1), LATEX_ROWS_PER_TABLE):
            chunk = rows[start:start + LATEX_ROWS_PER_TABLE]
            lines = [
                "\\begin{center}",
                "\\begin{tabular}{" + "|".join("r" for _ in header) + "}",
                " & ".join(f"${t}$" for _, t in header) + " \\\\",
                "\\hline",
            ]
            lines += [" & ".join(row) + " \\\\" for row in chunk]
            lines += ["\\end{tabular}", "\\end{center}"]
            parts.append("\n".join(lines))
        return "{\\small\n" + "\n".join(parts) + "\n}"

    def bullets(self, items: Sequence[str]) -> str:
        return "\\begin{itemize}\n" + "\n".join(f"\\item {item}" for item in items) + "\n\\end{itemize}"

    def document(self, title: str, blocks: Sequence[str]) -> str:
        preamble = [
            "\\documentclass{article}",
            "\\usepackage{amsmath}",
            "\\allowdisplaybreaks",
            # Wider text than article's default, without the geometry package.
            "\\setlength{\\textwidth}{6.5in}",
            "\\setlength{\\oddsidemargin}{0in}",
            "\\setlength{\\evensidemargin}{0in}",
            "\\setlength{\\parindent}{0pt}",
            "\\setlength{\\parskip}{0.5em}",
            "\\begin{document}",
            f"\\section*{{{latex_escape(title)}}}",
        ]
        return "\n".join(preamble) + "\n\n" + "\n\n".join(blocks) + "\n\n\\end{document}\n"


# --------------------------------------------------------------------------
# Sums written term by term


@dataclass(frozen=True)
class Term:
    """One sample's contribution: its factors as written, and its exact value."""

    factors: tuple[str, ...]
    value: Fraction
    negative_lead: bool = False  # the first factor's minus sign is written as the sum's operator


def product_term(fmt: Format, values: Sequence[Fraction], first_text: str | None = None) -> Term:
    """A product of numbers; a negative first factor lends its sign to the sum (1 - 2·3, not 1 + (-2)·3)."""
    value = Fraction(1)
    for v in values:
        value *= v
    if first_text is not None:
        texts = (first_text, *(fmt.factor(v) for v in values[1:]))
        return Term(texts, value)
    lead = values[0]
    if lead < 0:
        first = _magnitude(fmt, -lead) if len(values) == 1 else fmt.factor(-lead)
        return Term((first, *(fmt.factor(v) for v in values[1:])), value, negative_lead=True)
    return Term((_magnitude(fmt, lead) if len(values) == 1 else fmt.factor(lead), *(fmt.factor(v) for v in values[1:])),
                 value)


def visible_width(text: str) -> int:
    """Roughly how many characters wide a piece of math is once typeset (\\frac stacks its parts)."""
    t = _FRAC_RE.sub(lambda m: "0" * max(len(m.group(1)), len(m.group(2))), text)
    t = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr)\b", "", t)
    t = re.sub(r"\\[A-Za-z]+", "xx", t)
    return len(t.replace("{", "").replace("}", ""))


_FRAC_RE = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")


def signed(parts: Sequence[tuple[bool, str]], width: int | None) -> list[str]:
    """Join (negative, text) parts with + and -, breaking into lines of about ``width`` characters.

    The first line starts bare ("1 - 2 + 1"), later lines with their operator;
    ``width=None`` keeps everything on one line.
    """
    chunks: list[str] = []
    current = ""
    for pos, (negative, body) in enumerate(parts):
        piece = (f"-{body}" if negative else body) if pos == 0 else f"{'-' if negative else '+'} {body}"
        if current and width is not None and visible_width(current) + visible_width(piece) > width:
            chunks.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    chunks.append(current)
    return chunks


def sum_lines(fmt: Format, scale_text: str | None, chunks: Sequence[str]) -> list[str]:
    """Right-hand sides of aligned lines for one (possibly scaled) parenthesised sum."""
    if scale_text is None:
        return ["&= " + chunks[0]] + [f"&\\qquad {c if c.startswith(('+', '-')) else '+ ' + c}" for c in chunks[1:]]
    if len(chunks) == 1:
        return [f"&= {scale_text} \\cdot \\bigl({chunks[0]}\\bigr)"]
    lines = [f"&= {scale_text} \\cdot \\bigl({chunks[0]}"]
    lines += [f"&\\qquad {c}" for c in chunks[1:-1]]
    lines.append(f"&\\qquad {chunks[-1]}\\bigr)")
    return lines


def derivation(fmt: Format, lhs: str, symbolic: str, scale: Fraction | None, terms: Sequence[Term]) -> tuple[
        list[str], Fraction]:
    """lhs = symbolic = (scale ·) products = (scale ·) values = total; returns the lines and the total."""
    inner = sum((t.value for t in terms), Fraction(0))
    total = inner if scale is None else scale * inner
    scale_text = None if scale is None else fmt.num(scale)
    products = [(t.negative_lead, " \\cdot ".join(t.factors)) for t in terms]
    values = [(t.value < 0, _magnitude(fmt, -t.value if t.value < 0 else t.value)) for t in terms]
    lines = [f"{lhs} &= {symbolic}"]
    lines += sum_lines(fmt, scale_text, signed(products, fmt.line_width))
    if any(len(t.factors) > 1 for t in terms):
        lines += sum_lines(fmt, scale_text, signed(values, fmt.line_width))
    if scale is None:
        lines.append(f"&= {fmt.num(total)}")
    else:
        lines.append(f"&= {scale_text} \\cdot {fmt.factor(inner)} = {fmt.num(total)}")
    return lines, total


def _magnitude(fmt: Format, v: Any) -> str:
    """|v| after a sign: a value with exp of several parts in parentheses (- (1 - sigma(1)), not - 1 - sigma(1))."""
    if isinstance(v, Value) and len(v.terms) + (v.const != 0) > 1:
        return fmt.factor(v)  # type: ignore[arg-type]
    return fmt.num(v)


def matrix(fmt: Format, rows: Sequence[Sequence[Fraction]], transpose_mark: bool = False) -> str:
    if len(rows) == 1 and len(rows[0]) == 1:
        return fmt.num(rows[0][0])
    body = " \\\\ ".join(" & ".join(fmt.num(v) for v in row) for row in rows)
    matrix = f"\\begin{{pmatrix}} {body} \\end{{pmatrix}}"
    # A braced base: a bare environment before ^ is fine for TeX, but MathML converters split it up.
    return f"{{{matrix}}}^{{\\top}}" if transpose_mark else matrix


def grad_lhs(name: str, index: tuple[int, ...]) -> str:
    idx = ",".join(str(i) for i in index)
    return f"\\frac{{\\partial L}}{{\\partial {name[0]}_{{{name[1:]}}}[{idx}]}}"


def grad_label(name: str, index: tuple[int, ...]) -> str:
    return f"grad({name})[{','.join(str(i) for i in index)}]"


def formatter(fmt: str) -> Format:
    """The format named ``fmt`` (case and spaces ignored); InputError naming the choices otherwise."""
    formats: dict[str, Format] = {"markdown": Markdown(), "latex": Latex()}
    chosen = formats.get(str(fmt).strip().lower())
    if chosen is None:
        raise InputError(f"unknown explanation format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    return chosen


def gradient_summary(fmt: Format, totals: dict[tuple[str, tuple[int, ...]], Fraction]) -> str:
    """The table of every written gradient entry: its label, exact value and float."""
    return fmt.table(
        [("gradient", "\\text{gradient}"), ("exact", "\\text{exact}"), ("float", "\\text{float}")],
        [[fmt.code(grad_label(n, i)), fmt.vector([v]), fmt.float_text(v)] for (n, i), v in totals.items()],
    )


def condition_blocks(fmt: Format, check: Any) -> list[str]:
    """The Conditions section: each condition's exact verdict (a :class:`cexsearch.semantics.numeric.Recheck`)."""
    blocks = [fmt.heading("Conditions")]
    items = [f"{fmt.code(c.text)}: {'holds' if c.holds else 'does NOT hold'}" for c in check.conditions]
    if items:
        blocks.append(fmt.bullets(items))
    n = len(check.conditions)
    if n == 0:
        blocks.append("The problem states no conditions.")
    elif check.confirmed:
        what = "The condition holds" if n == 1 else f"All {n} conditions hold"
        how = ("rational arithmetic" if not any(not isinstance(v, (int, Fraction)) for c in check.conditions
                                                for _, arr in c.reads for v in np.asarray(arr, dtype=object).reshape(-1))
               else "rational arithmetic and, for the values with exp, the exact zero tests of "
                    "cexsearch.semantics.transcendental and certified intervals")
        blocks.append(f"{what}, decided exactly with {how} by cexsearch's re-check.")
    else:
        blocks.append(f"{len(check.failures())} of {n} conditions do not hold: this assignment is not a witness.")
    return blocks


def _atom_latex(fmt: Format, atom: Any) -> str:
    args = ", ".join(fmt.num(v) for v in atom.logits)
    if isinstance(atom, Prob):
        if len(atom.logits) == 2:
            return f"\\sigma({fmt.num(atom.logits[1])})"
        return f"\\operatorname{{softmax}}_{{{fmt.num(atom.w)}}}({args})"
    if len(atom.logits) == 2:
        return f"\\operatorname{{softplus}}({fmt.num(atom.logits[1])})"
    return f"\\operatorname{{logsumexp}}({args})"


def value_latex(fmt: Format, v: Value) -> str:
    """A value with exp in LaTeX: its constant, then each atom with its rational coefficient (as ``str(v)``)."""
    parts: list[tuple[bool, str]] = [] if v.const == 0 else [(v.const < 0, fmt.num(abs(v.const)))]
    for atom in sorted(v.terms, key=str):
        c = v.terms[atom]
        body = _atom_latex(fmt, atom) if abs(c) == 1 else f"{fmt.num(abs(c))} {_atom_latex(fmt, atom)}"
        parts.append((c < 0, body))
    return signed(parts, None)[0]
