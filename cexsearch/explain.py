"""A witness written out as a derivation a person can check by hand.

:func:`explain` turns a problem and an assignment into Markdown (math in
``$$`` blocks, tables in GitHub style, as StackExchange and GitHub render them)
or into a standalone LaTeX document (``article`` + ``amsmath`` only, so a basic
TeX install compiles it).  The layout follows a worked answer by hand: the
network's equations, the parameters, a table of every sample's forward pass
(x, pre-activations z, slopes σ'(z), activations a, predictions, targets,
residuals r = yhat - y), then every gradient entry as its chain-rule sum over
the samples, each term's exact value, and the total.

For networks with one or two weight layers the chain rule is written out in
full, with the loss scale c factored out (c = 2/(M n_L) for mse, 2 for sse)::

    dL/dW1[j,i] = c Σ_m (Σ_o r[m,o] W2[o,j]) σ'(z1[m,j]) x[m,i]

Deeper networks get a table of backprop deltas per layer and sample,
δ_L = c r and δ_{k-1} = (δ_k W_k) ⊙ σ'(z_{k-1}), and each gradient is written as
Σ_m δ_k[m,j] a_{k-1}[m,i].

Every number comes from :func:`cexsearch.numeric.evaluate` (the reference
semantics), every value is an exact :class:`~fractions.Fraction`, and every total
is compared with numeric's gradient before anything is returned.

>>> from fractions import Fraction as F
>>> from cexsearch.api import NetworkSettings, build_problem
>>> from cexsearch.model.problem import Assignment
>>> net = NetworkSettings().network("1-1-1")
>>> problem = build_problem(net, 3, ["grad(W2) == 0", "grad(W1) != 0"])
>>> a = Assignment(net, 3, (("W1", (F(1),)), ("b1", (F(-1),)), ("W2", (F(1),)), ("b2", (F(-1),)),
...                         ("x", (F(0), F(2), F(3))), ("y", (F(-2), F(2), F(0)))))
>>> text = explain(problem, a, "markdown")
>>> "&= 2/3 \\\\cdot (-1) = -2/3" in text
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import InputError
from .model.network import Network, entries
from .model.problem import Assignment, Problem
from .numeric import Evaluation, evaluate, recheck

FORMATS: tuple[str, ...] = ("markdown", "latex")

# LaTeX tabulars do not break across pages: split longer sample tables.
LATEX_ROWS_PER_TABLE = 30


# --------------------------------------------------------------------------
# Output formats: numbers, tables, math blocks and the document around them


class _Format:
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


class _Markdown(_Format):
    name = "markdown"

    def num(self, v: Fraction) -> str:
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"

    def factor(self, v: Fraction) -> str:
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


class _Latex(_Format):
    name = "latex"
    line_width = 60

    def num(self, v: Fraction) -> str:
        if v.denominator == 1:
            return str(v.numerator)
        sign = "-" if v < 0 else ""
        return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"

    def factor(self, v: Fraction) -> str:
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
class _Term:
    """One sample's contribution: its factors as written, and its exact value."""

    factors: tuple[str, ...]
    value: Fraction
    negative_lead: bool = False  # the first factor's minus sign is written as the sum's operator


def _product_term(fmt: _Format, values: Sequence[Fraction], first_text: str | None = None) -> _Term:
    """A product of numbers; a negative first factor lends its sign to the sum (1 - 2·3, not 1 + (-2)·3)."""
    value = Fraction(1)
    for v in values:
        value *= v
    if first_text is not None:
        texts = (first_text, *(fmt.factor(v) for v in values[1:]))
        return _Term(texts, value)
    lead = values[0]
    if lead < 0:
        first = fmt.num(-lead) if len(values) == 1 else fmt.factor(-lead)
        return _Term((first, *(fmt.factor(v) for v in values[1:])), value, negative_lead=True)
    return _Term((fmt.num(lead) if len(values) == 1 else fmt.factor(lead), *(fmt.factor(v) for v in values[1:])),
                 value)


def visible_width(text: str) -> int:
    """Roughly how many characters wide a piece of math is once typeset (\\frac stacks its parts)."""
    t = _FRAC_RE.sub(lambda m: "0" * max(len(m.group(1)), len(m.group(2))), text)
    t = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr)\b", "", t)
    t = re.sub(r"\\[A-Za-z]+", "xx", t)
    return len(t.replace("{", "").replace("}", ""))


_FRAC_RE = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")


def _signed(parts: Sequence[tuple[bool, str]], width: int | None) -> list[str]:
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


def _sum_lines(fmt: _Format, scale_text: str | None, chunks: Sequence[str]) -> list[str]:
    """Right-hand sides of aligned lines for one (possibly scaled) parenthesised sum."""
    if scale_text is None:
        return ["&= " + chunks[0]] + [f"&\\qquad {c if c.startswith(('+', '-')) else '+ ' + c}" for c in chunks[1:]]
    if len(chunks) == 1:
        return [f"&= {scale_text} \\cdot \\bigl({chunks[0]}\\bigr)"]
    lines = [f"&= {scale_text} \\cdot \\bigl({chunks[0]}"]
    lines += [f"&\\qquad {c}" for c in chunks[1:-1]]
    lines.append(f"&\\qquad {chunks[-1]}\\bigr)")
    return lines


def _derivation(fmt: _Format, lhs: str, symbolic: str, scale: Fraction | None, terms: Sequence[_Term]) -> tuple[
        list[str], Fraction]:
    """lhs = symbolic = (scale ·) products = (scale ·) values = total; returns the lines and the total."""
    inner = sum((t.value for t in terms), Fraction(0))
    total = inner if scale is None else scale * inner
    scale_text = None if scale is None else fmt.num(scale)
    products = [(t.negative_lead, " \\cdot ".join(t.factors)) for t in terms]
    values = [(t.value < 0, fmt.num(abs(t.value))) for t in terms]
    lines = [f"{lhs} &= {symbolic}"]
    lines += _sum_lines(fmt, scale_text, _signed(products, fmt.line_width))
    if any(len(t.factors) > 1 for t in terms):
        lines += _sum_lines(fmt, scale_text, _signed(values, fmt.line_width))
    if scale is None:
        lines.append(f"&= {fmt.num(total)}")
    else:
        lines.append(f"&= {scale_text} \\cdot {fmt.factor(inner)} = {fmt.num(total)}")
    return lines, total


# --------------------------------------------------------------------------
# The pieces of the derivation


def _w(k: int) -> str:
    return f"W_{{{k}}}"


def _act(k: int) -> str:
    """a^{(k)}, with a^{(0)} = x."""
    return "x" if k == 0 else f"a^{{({k})}}"


def _sigma_text(fmt: _Format, net: Network) -> list[str]:
    """The hidden activation and its derivative, including the convention at 0."""
    on, off = net.slopes()
    if net.activation == "linear":
        return ["\\sigma(t) &= t, \\qquad \\sigma'(t) = 1"]
    if net.activation == "relu":
        sigma = "\\max(0, t)"
    else:
        sigma = f"t \\text{{ for }} t \\ge 0, \\quad {fmt.factor(off)}\\, t \\text{{ for }} t < 0"
    at_zero = on if net.relu_grad_at_zero == 1 else off
    return [
        f"\\sigma(t) &= {sigma}",
        f"\\sigma'(t) &= {fmt.num(on)} \\text{{ for }} t > 0, \\quad {fmt.num(off)} \\text{{ for }} t < 0, "
        f"\\quad \\sigma'(0) = {fmt.num(at_zero)}",
    ]


def _network_lines(net: Network, samples: int) -> list[str]:
    L = net.depth
    b = lambda k, j: f" + b_{{{k}}}[{j}]" if net.bias else ""  # noqa: E731
    lines = []
    for k in range(1, L + 1):
        z = "\\hat y_{m,j}" if k == L else f"z^{{({k})}}_{{m,j}}"
        if net.widths[k - 1] == 1:
            product = f"{_w(k)}[j,0]\\, {_act(k - 1)}_{{m,0}}"
        else:
            product = f"\\sum_{{i=0}}^{{{net.widths[k - 1] - 1}}} {_w(k)}[j,i]\\, {_act(k - 1)}_{{m,i}}"
        lines.append(f"{z} &= {product}{b(k, 'j')}")
        if k < L:
            lines.append(f"{_act(k)}_{{m,j}} &= \\sigma\\bigl(z^{{({k})}}_{{m,j}}\\bigr)")
    nL = net.widths[-1]
    # One output: write r_{m,0} and no sum over j.
    outputs = "r_{m,0}^2" if nL == 1 else f"\\sum_{{j=0}}^{{{nL - 1}}} r_{{m,j}}^2"
    if net.loss == "mse":
        lines.append(f"L &= \\frac{{1}}{{M n_{{{L}}}}} \\sum_{{m=0}}^{{M-1}} {outputs}, "
                     f"\\qquad r_{{m,j}} = \\hat y_{{m,j}} - y_{{m,j}}, \\quad M = {samples},\\ n_{{{L}}} = {nL}")
        lines.append(f"\\frac{{\\partial L}}{{\\partial \\hat y_{{m,j}}}} &= c\\, r_{{m,j}}, \\qquad "
                     f"c = \\frac{{2}}{{M n_{{{L}}}}}")
    else:
        lines.append(f"L &= \\sum_{{m=0}}^{{M-1}} {outputs}, "
                     f"\\qquad r_{{m,j}} = \\hat y_{{m,j}} - y_{{m,j}}, \\quad M = {samples}")
        lines.append("\\frac{\\partial L}{\\partial \\hat y_{m,j}} &= c\\, r_{m,j}, \\qquad c = 2")
    return lines


def _matrix(fmt: _Format, rows: Sequence[Sequence[Fraction]], transpose_mark: bool = False) -> str:
    if len(rows) == 1 and len(rows[0]) == 1:
        return fmt.num(rows[0][0])
    body = " \\\\ ".join(" & ".join(fmt.num(v) for v in row) for row in rows)
    matrix = f"\\begin{{pmatrix}} {body} \\end{{pmatrix}}"
    # A braced base: a bare environment before ^ is fine for TeX, but MathML converters split it up.
    return f"{{{matrix}}}^{{\\top}}" if transpose_mark else matrix


def _parameter_lines(fmt: _Format, a: Assignment) -> list[str]:
    net = a.network
    lines = []
    for name in net.parameter_names():
        shape = net.shape(name, a.samples)
        flat = a.flat(name)
        k = name[1:]
        if name[0] == "W":
            rows = [list(flat[r * shape[1]:(r + 1) * shape[1]]) for r in range(shape[0])]
            lines.append(f"W_{{{k}}} &= {_matrix(fmt, rows)}")
        else:
            lines.append(f"b_{{{k}}} &= {_matrix(fmt, [list(flat)], transpose_mark=len(flat) > 1)}")
    return lines


def _slope_arrays(net: Network, ev: Evaluation) -> list[np.ndarray]:
    """σ'(z_k) per hidden layer and sample, exactly, from numeric's activation pattern."""
    on, off = net.slopes()
    out = []
    for pattern in ev.pattern:
        arr = np.empty(pattern.shape, dtype=object)
        for idx in np.ndindex(pattern.shape):
            arr[idx] = on if pattern[idx] else off
        out.append(arr)
    return out


def _sample_table(fmt: _Format, a: Assignment, ev: Evaluation, slopes: Sequence[np.ndarray]) -> str:
    net = a.network
    L = net.depth
    y = np.array(a.flat("y"), dtype=object).reshape(net.shape("y", a.samples))
    header = [("m", "m"), ("x", "x_m")]
    for k in range(1, L):
        header += [(f"z({k})", f"z^{{({k})}}_m"), (f"σ'(z({k}))", f"\\sigma'(z^{{({k})}}_m)"), (f"a({k})", f"a^{{({k})}}_m")]
    header += [("yhat", "\\hat y_m"), ("y", "y_m"), ("r = yhat - y", "r_m = \\hat y_m - y_m")]
    rows = []
    for m in range(a.samples):
        row = [str(m), fmt.vector(list(ev.activations[0][m]))]
        for k in range(1, L):
            row += [fmt.vector(list(ev.pre_activations[k - 1][m])), fmt.vector(list(slopes[k - 1][m])),
                    fmt.vector(list(ev.activations[k][m]))]
        row += [fmt.vector(list(ev.yhat[m])), fmt.vector(list(y[m])), fmt.vector(list(ev.residual[m]))]
        rows.append(row)
    return fmt.table(header, rows)


def _delta_table(fmt: _Format, deltas: Sequence[np.ndarray], samples: int) -> str:
    L = len(deltas) - 1
    header = [("m", "m")] + [(f"δ({k})", f"\\delta^{{({k})}}_m") for k in range(L, 0, -1)]
    rows = [[str(m)] + [fmt.vector(list(deltas[k][m])) for k in range(L, 0, -1)] for m in range(samples)]
    return fmt.table(header, rows)


def _grad_lhs(name: str, index: tuple[int, ...]) -> str:
    idx = ",".join(str(i) for i in index)
    return f"\\frac{{\\partial L}}{{\\partial {name[0]}_{{{name[1:]}}}[{idx}]}}"


def _grad_label(name: str, index: tuple[int, ...]) -> str:
    return f"grad({name})[{','.join(str(i) for i in index)}]"


class _Explainer:
    """Builds every block of one explanation in one format."""

    def __init__(self, problem: Problem, a: Assignment, fmt: _Format) -> None:
        self.problem, self.a, self.fmt, self.net = problem, a, fmt, a.network
        self.ev = evaluate(a, exact=True)
        self.slopes = _slope_arrays(self.net, self.ev)
        self.W = {k: np.array(a.flat(f"W{k}"), dtype=object).reshape(self.net.shape(f"W{k}", a.samples))
                  for k in range(1, self.net.depth + 1)}
        self.c = self.net.loss_gradient_scale(a.samples)

    # -- gradient entries, two layouts ----------------------------------
    def _shallow_terms(self, name: str, index: tuple[int, ...]) -> tuple[str, list[_Term]]:
        """Seed layout for L <= 2: the full chain rule with c factored out."""
        fmt, net, ev, M = self.fmt, self.net, self.ev, self.a.samples
        L, k = net.depth, int(name[1:])
        r = ev.residual
        j = index[0]
        a_prev = ev.activations[k - 1]
        if k == L:
            if name[0] == "b":
                return f"c \\sum_{{m=0}}^{{M-1}} r_{{m,{j}}}", [_product_term(fmt, [r[m, j]]) for m in range(M)]
            i = index[1]
            symbolic = f"c \\sum_{{m=0}}^{{M-1}} r_{{m,{j}}}\\, {_act(k - 1)}_{{m,{i}}}"
            return symbolic, [_product_term(fmt, [r[m, j], a_prev[m, i]]) for m in range(M)]
        # k == 1 and L == 2: dL/dz1[m,j] = c (Σ_o r[m,o] W2[o,j]) σ'(z1[m,j])
        W2 = self.W[2]
        nL = net.widths[-1]
        tail = "" if name[0] == "b" else f"\\, x_{{m,{index[1]}}}"
        if nL == 1:
            symbolic = f"c \\sum_{{m=0}}^{{M-1}} r_{{m,0}}\\, W_{{2}}[0,{j}]\\, \\sigma'(z^{{(1)}}_{{m,{j}}}){tail}"
        else:
            symbolic = (f"c \\sum_{{m=0}}^{{M-1}} \\Bigl(\\sum_{{o=0}}^{{{nL - 1}}} r_{{m,o}}\\, W_{{2}}[o,{j}]\\Bigr)"
                        f"\\, \\sigma'(z^{{(1)}}_{{m,{j}}}){tail}")
        terms = []
        for m in range(M):
            rest = [self.slopes[0][m, j]] + ([] if name[0] == "b" else [a_prev[m, index[1]]])
            if nL == 1:
                terms.append(_product_term(fmt, [r[m, 0], W2[0, j], *rest]))
            else:
                inner = [_product_term(fmt, [r[m, o], W2[o, j]]) for o in range(nL)]
                back = sum((t.value for t in inner), Fraction(0))
                text = "(" + _signed([(t.negative_lead, " \\cdot ".join(t.factors)) for t in inner], None)[0] + ")"
                terms.append(_product_term(fmt, [back, *rest], first_text=text))
        return symbolic, terms

    def _delta_terms(self, name: str, index: tuple[int, ...], deltas: Sequence[np.ndarray]) -> tuple[str, list[_Term]]:
        """Deep layout: Σ_m δ_k[m,j] a_{k-1}[m,i], δ from the table."""
        fmt, M = self.fmt, self.a.samples
        k, j = int(name[1:]), index[0]
        d = deltas[k]
        if name[0] == "b":
            return (f"\\sum_{{m=0}}^{{M-1}} \\delta^{{({k})}}_{{m,{j}}}",
                    [_product_term(fmt, [d[m, j]]) for m in range(M)])
        i = index[1]
        a_prev = self.ev.activations[k - 1]
        return (f"\\sum_{{m=0}}^{{M-1}} \\delta^{{({k})}}_{{m,{j}}}\\, {_act(k - 1)}_{{m,{i}}}",
                [_product_term(fmt, [d[m, j], a_prev[m, i]]) for m in range(M)])

    def gradient_blocks(self) -> tuple[list[str], dict[tuple[str, tuple[int, ...]], Fraction]]:
        net, fmt = self.net, self.fmt
        deep = net.depth > 2
        deltas = self._deltas() if deep else []
        blocks: list[str] = []
        totals: dict[tuple[str, tuple[int, ...]], Fraction] = {}
        for name in net.parameter_names():
            expected = self.ev.gradients[name]
            for index in entries(net.shape(name, self.a.samples)):
                if deep:
                    symbolic, terms = self._delta_terms(name, index, deltas)
                    scale = None
                else:
                    symbolic, terms = self._shallow_terms(name, index)
                    scale = self.c
                lines, total = _derivation(fmt, _grad_lhs(name, index), symbolic, scale, terms)
                if total != expected[index]:
                    raise AssertionError(
                        f"explain: {_grad_label(name, index)} sums to {total}, numeric says {expected[index]}")
                totals[(name, index)] = total
                blocks += [fmt.label(_grad_label(name, index)), fmt.math(lines)]
        return blocks, totals

    def _deltas(self) -> list[np.ndarray]:
        net, M = self.net, self.a.samples
        L = net.depth
        out: list[np.ndarray] = [np.empty((0, 0), dtype=object)] * (L + 1)
        delta = self.ev.residual * self.c
        out[L] = delta
        for k in range(L, 1, -1):
            W = self.W[k]
            back = np.empty((M, net.widths[k - 1]), dtype=object)
            for m in range(M):
                for i in range(net.widths[k - 1]):
                    s = sum((delta[m, j] * W[j, i] for j in range(net.widths[k])), Fraction(0))
                    back[m, i] = s * self.slopes[k - 2][m, i]
            delta = back
            out[k - 1] = delta
        return out

    # -- the whole text -------------------------------------------------
    def render(self) -> str:
        fmt, net, a, ev = self.fmt, self.net, self.a, self.ev
        M = a.samples
        check = recheck(self.problem, a)
        plural = "s" if M != 1 else ""
        title = f"Witness: {net.describe()}, M = {M} sample{plural}"
        blocks: list[str] = []

        blocks.append(fmt.heading("Network"))
        sigma = "σ" if fmt.name == "markdown" else "$\\sigma$"
        hidden = "no hidden layer" if net.depth == 1 else f"hidden units use {sigma}"
        blocks.append(
            f"Widths {net.text} (input first), {hidden}, linear output, "
            f"{'with' if net.bias else 'without'} biases, {net.loss} loss. "
            "Indices start at 0 as in cexsearch's names: "
            f"{fmt.code('W1[j,i]')} is row j (unit j of layer 1), column i (input i); samples are m = 0, ..., M-1.")
        if net.names is not None:  # a network from PyTorch: say which module parameter each symbol is
            blocks.append("The parameters as the PyTorch module calls them: " + ", ".join(
                f"{fmt.code(i)} is {fmt.code(e)}" for i, e in net.names.aliases) + ".")
        lines = _network_lines(net, M)
        if net.depth > 1:
            lines += _sigma_text(fmt, net)
        blocks.append(fmt.math(lines))

        blocks.append(fmt.heading("Parameters"))
        blocks.append(fmt.math(_parameter_lines(fmt, a)))

        blocks.append(fmt.heading("Data and forward pass"))
        blocks.append(_sample_table(fmt, a, ev, self.slopes))
        scale = net.loss_scale(M)
        sq = sum((v * v for v in ev.residual.reshape(-1)), Fraction(0))
        blocks.append(fmt.math([
            f"c &= {fmt.num(self.c)}",
            f"L &= {fmt.num(scale)} \\cdot {fmt.factor(sq)} = {fmt.num(ev.loss)}" if scale != 1 else f"L &= {fmt.num(ev.loss)}",
        ]))
        if Fraction(ev.loss) != scale * sq:
            raise AssertionError(f"explain: loss {scale} * {sq} differs from numeric's {ev.loss}")

        if net.depth > 2:
            blocks.append(fmt.heading("Backprop deltas"))
            blocks.append("Per sample and layer, δ(k) = ∂L/∂z(k) with z(L) = yhat:" if fmt.name == "markdown"
                          else "Per sample and layer, $\\delta^{(k)} = \\partial L / \\partial z^{(k)}$ with "
                               "$z^{(L)} = \\hat y$:")
            blocks.append(fmt.math([
                f"\\delta^{{({net.depth})}}_{{m,j}} &= c\\, r_{{m,j}}",
                "\\delta^{(k-1)}_{m,i} &= \\sigma'\\bigl(z^{(k-1)}_{m,i}\\bigr) "
                "\\sum_{j} \\delta^{(k)}_{m,j}\\, W_{k}[j,i]",
                "\\frac{\\partial L}{\\partial W_k[j,i]} &= \\sum_{m=0}^{M-1} \\delta^{(k)}_{m,j}\\, a^{(k-1)}_{m,i}"
                + (", \\qquad \\frac{\\partial L}{\\partial b_k[j]} = \\sum_{m=0}^{M-1} \\delta^{(k)}_{m,j}"
                   if net.bias else ""),
            ]))
            blocks.append(_delta_table(fmt, self._deltas(), M))

        blocks.append(fmt.heading("Gradients"))
        blocks.append("Each entry as its chain-rule sum over the samples, each sample's term, and the total.")
        grad_blocks, totals = self.gradient_blocks()
        blocks += grad_blocks
        blocks.append(fmt.table(
            [("gradient", "\\text{gradient}"), ("exact", "\\text{exact}"), ("float", "\\text{float}")],
            [[fmt.code(_grad_label(n, i)), fmt.vector([v]), fmt.float_text(v)] for (n, i), v in totals.items()],
        ))

        blocks.append(fmt.heading("Conditions"))
        items = [f"{fmt.code(c.text)}: {'holds' if c.holds else 'does NOT hold'}" for c in check.conditions]
        if items:
            blocks.append(fmt.bullets(items))
        n = len(check.conditions)
        if n == 0:
            blocks.append("The problem states no conditions.")
        elif check.confirmed:
            what = "The condition holds" if n == 1 else f"All {n} conditions hold"
            blocks.append(f"{what}, decided exactly with rational arithmetic by cexsearch's re-check.")
        else:
            blocks.append(f"{len(check.failures())} of {n} conditions do not hold: this assignment is not a witness.")
        return fmt.document(title, blocks)


def explain(problem: Problem, assignment: Assignment, fmt: str) -> str:
    """The witness as a derivation to check by hand: ``fmt`` is ``"markdown"`` or ``"latex"``.

    Raises :class:`~cexsearch.errors.InputError` for another format or for an
    assignment of another network or batch size than the problem's.  Raises
    :class:`AssertionError` if a written total ever differs from
    :func:`cexsearch.numeric.evaluate`'s gradient (a bug, never expected).
    """
    formats: dict[str, _Format] = {"markdown": _Markdown(), "latex": _Latex()}
    chosen = formats.get(str(fmt).strip().lower())
    if chosen is None:
        raise InputError(f"unknown explanation format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if assignment.network != problem.network or assignment.samples != problem.samples:
        raise InputError(
            f"the witness is for {assignment.network.text} with {assignment.samples} samples, "
            f"the problem for {problem.network.text} with {problem.samples}",
            hint="explain a witness of the same network and batch size",
        )
    return _Explainer(problem, assignment, chosen).render()
