"""The condition language: parsed once into a small frozen AST, evaluated by any backend.

A condition is a Python-like expression over the names of a network
(``W1, b1, ..., x, y, yhat``) and the gradients of the batch loss
(``grad(W1)``).  Python's own :mod:`ast` module is the front end; only a safe
subset is accepted, and numbers are read exactly from their source text, so
``0.1`` means 1/10.

Tensor meaning:

* ``A == B`` holds when every entry is equal (a single entry broadcasts);
  ``A != B`` is its negation, so it holds when *some* entry differs;
  ``<, <=, >, >=`` hold when they hold for every entry.
* inside ``all(...)`` / ``any(...)`` comparisons (and ``and``/``or``/``not``)
  are taken entry by entry, and ``all``/``any`` reduce them.
* ``/`` divides by a non-zero number only, so a condition never divides by 0.

The meaning is defined once, in :func:`evaluate`, over a :class:`Backend`; the
exact re-check passes Fractions and Python booleans, the encoding passes Z3
terms.  So the two can never read a condition differently.

>>> c = parse("grad(W1)[0, :] != 0")
>>> c.text
'grad(W1)[0, :] != 0'
>>> parse("0.1 + 1/3 == x").root.left
Num(value=Fraction(13, 30), col=0)
"""

from __future__ import annotations

import ast
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol, TypeVar, Union

import numpy as np

from .errors import ConditionError, InputError, SpecError, TooLarge
from .model.network import Index, Network, ParameterNames, nearest
from .model.problem import FixedValues

# --------------------------------------------------------------------------
# AST


@dataclass(frozen=True)
class Num:
    value: Fraction
    col: int


@dataclass(frozen=True)
class BoolConst:
    value: bool
    col: int


@dataclass(frozen=True)
class Var:
    """A network value: a parameter, ``x``, ``y`` or ``yhat``."""

    name: str
    col: int


@dataclass(frozen=True)
class Grad:
    """``grad(P)``: the gradient of the batch loss with respect to parameter P."""

    param: str
    col: int


@dataclass(frozen=True)
class Subscript:
    """``base[i, j:k]``: each item an int or a (start, stop, step) slice."""

    base: Expr
    items: tuple[Union[int, tuple[int | None, int | None, int | None]], ...]
    col: int


@dataclass(frozen=True)
class Neg:
    operand: Expr
    col: int


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr
    col: int


@dataclass(frozen=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    col: int


@dataclass(frozen=True)
class Logic:
    op: str  # and | or
    operands: tuple[Expr, ...]
    col: int


@dataclass(frozen=True)
class Not:
    operand: Expr
    col: int


@dataclass(frozen=True)
class Reduce:
    op: str  # all | any
    operand: Expr
    col: int


Expr = Union[Num, BoolConst, Var, Grad, Subscript, Neg, Arith, Compare, Logic, Not, Reduce]


@dataclass(frozen=True)
class Condition:
    """A parsed condition with the text it was written as."""

    text: str
    root: Expr

    def __str__(self) -> str:
        return self.text


_NAME_RE = re.compile(r"^(W|b)[0-9]+$|^x$|^y$|^yhat$")
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_OP_NAMES = {ast.Pow: "**", ast.MatMult: "@", ast.Mod: "%", ast.FloorDiv: "//", ast.BitAnd: "&", ast.BitOr: "|",
             ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
_KNOWN_WORDS = ("W1", "b1", "W2", "b2", "W3", "b3", "x", "y", "yhat", "grad", "all", "any")


# Fraction("1e999999999") computes 10**999999999, and Python refuses to print an integer of more
# than 4300 digits: numbers beyond these sizes are refused before they are read.
MAX_DIGITS = 1000
MAX_EXPONENT = 1000
NUMBER_HINT = "write an integer, a decimal such as 0.1, or a fraction such as -2/3"
SIZE_HINT = (f"{NUMBER_HINT}, with at most {MAX_DIGITS} digits and an exponent within ±{MAX_EXPONENT}: "
             "rescale the problem to smaller numbers")
MAX_DEPTH = 200  # levels of nesting in a condition or a value list; each later stage recurses once a level


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number_size_problem(text: str) -> str | None:
    """Why a number as written is too large to read, or None when it is fine."""
    digits = sum(c.isalnum() for c in text)
    if digits > MAX_DIGITS:
        return f"{brief(text)} has {digits} digits, more than the {MAX_DIGITS} cexsearch reads"
    hexadecimal = text.lstrip("+-").lower().startswith("0x")  # its e is a digit
    for m in [] if hexadecimal else re.finditer(r"[eE]\s*([+-]?[0-9_]+)", text):
        if abs(int(m.group(1).replace("_", "") or 0)) > MAX_EXPONENT:
            return f"{brief(text)} has the exponent {m.group(1)}, beyond ±{MAX_EXPONENT}"
    return None


def parse_number(text: str) -> Fraction:
    """An exact rational from ``"3"``, ``"-2/3"``, ``"0.1"``, ``"1e-3"``; never through a float."""
    t = str(text).strip()
    problem = number_size_problem(t)
    if problem:
        raise TooLarge(problem, hint=SIZE_HINT)
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = Fraction(num.strip()) / Fraction(den.strip())
        else:
            value = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"{brief(text)} is not a number", hint=NUMBER_HINT) from None
    return value


def _too_large(value: Fraction) -> bool:
    """A value too long to print: Python prints integers of at most 4300 digits (about 14000 bits)."""
    return max(abs(value.numerator).bit_length(), value.denominator.bit_length()) > 13000


def syntax_tree(source: str, error: type[InputError], what: str) -> ast.expr:
    """``ast.parse`` of an expression, with every way it can fail as ``error``.

    A non-UTF-8 byte on the command line arrives as a lone surrogate, which
    ``ast.parse`` cannot encode; deep nesting overflows its stack (or, a little
    less deep, every later stage that walks the tree).
    """
    try:
        tree = ast.parse(source, mode="eval").body
    except UnicodeEncodeError as e:
        bad = e.object[e.start]
        raise error(f"{what} contains the character {bad!r}, which is not text", source=source, column=e.start,
                    hint="was a byte not in UTF-8 passed? write the text in UTF-8") from None
    except (RecursionError, MemoryError):
        raise error(f"{what} is nested too deeply", hint=f"simplify it: at most {MAX_DEPTH} levels of nesting") from None
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error(f"{what} is nested too deeply (more than {MAX_DEPTH} levels)", source=source,
                        column=getattr(node, "col_offset", 0), hint="simplify it, or split it into several")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


class _Parser:
    def __init__(self, text: str, names: ParameterNames | None = None, placeholders: Mapping[str, str] = {}) -> None:
        self.text = text
        self.names = names  # the module's parameter names, when the network has them
        self.placeholders = placeholders  # identifier standing for a module name in the parsed text -> internal

    def parameter(self, node: ast.AST) -> str | None:
        """The internal name of a parameter written by the module's name, or None."""
        return self.placeholders.get(node.id) if isinstance(node, ast.Name) else None

    def unknown_dotted(self, node: ast.AST) -> ConditionError:
        """A dotted name that is none of the module's parameters."""
        shown = ast.get_source_segment(self.text, node) or "?"
        known = self.names.externals() if self.names is not None else ()
        guess = nearest(shown, known) if known else None
        hint = (f"did you mean {guess!r}? " if guess else "") + (
            f"the module's parameters are {', '.join(known)}" if known else "names are W1, b1, ..., x, y, yhat")
        return self.fail(f"unknown name {shown!r}", getattr(node, "col_offset", 0), hint=hint)

    def fail(self, message: str, col: int, hint: str | None = None) -> ConditionError:
        return ConditionError(message, source=self.text, column=col, hint=hint)

    def number(self, node: ast.Constant) -> Num:
        segment = ast.get_source_segment(self.text, node) or repr(node.value)
        problem = number_size_problem(segment)
        if problem:
            raise self.fail(problem, node.col_offset, hint=SIZE_HINT)
        if isinstance(node.value, int):  # also 0x10, 0o7, 0b1, 1_000
            return Num(Fraction(node.value), node.col_offset)
        try:
            return Num(Fraction(segment.replace("_", "")), node.col_offset)
        except ValueError:
            raise self.fail(f"{segment!r} is not a number cexsearch reads", node.col_offset, hint=NUMBER_HINT) from None

    def expr(self, node: ast.AST) -> Expr:  # noqa: C901 - one case per syntax form
        col = getattr(node, "col_offset", 0)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return BoolConst(node.value, col)
            if isinstance(node.value, (int, float)):
                return self.number(node)
            raise self.fail(f"{brief(node.value)} is not a number", col, hint="write a number such as 0, -2/3 or 0.1")
        if isinstance(node, ast.Attribute) and self.names is not None:
            raise self.unknown_dotted(node)
        if isinstance(node, ast.Name):
            internal = self.parameter(node)
            if internal is not None:
                return Var(internal, col)
            if self.names is not None and re.fullmatch(r"[Wb][0-9]+", node.id):
                raise self.fail(f"{node.id!r}: this network's parameters go by the module's names", col,
                                hint=f"use one of {', '.join(self.names.externals())}")
            if _NAME_RE.match(node.id):
                return Var(node.id, col)
            if node.id in ("grad", "all", "any"):
                raise self.fail(f"{node.id} is a function", col, hint=f"call it, e.g. {node.id}(...)")
            if node.id in ("True", "False"):
                return BoolConst(node.id == "True", col)
            guess = nearest(node.id, _KNOWN_WORDS)
            raise self.fail(
                f"unknown name {node.id!r}",
                col,
                hint=f"did you mean {guess!r}?" if guess else "names are W1, b1, ..., x, y, yhat and grad(P)",
            )
        if isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname not in ("grad", "all", "any"):
                shown = fname or ast.get_source_segment(self.text, node.func) or "?"
                guess = nearest(shown, ("grad", "all", "any"))
                raise self.fail(
                    f"unknown function {shown!r}",
                    col,
                    hint=f"did you mean {guess!r}?" if guess else "the functions are grad, all and any",
                )
            if node.keywords or len(node.args) != 1:
                raise self.fail(f"{fname}(...) takes exactly one argument", col)
            arg = node.args[0]
            if fname == "grad":
                internal = self.parameter(arg)
                if internal is not None:
                    return Grad(internal, col)
                if self.names is not None:
                    if isinstance(arg, (ast.Name, ast.Attribute)):
                        raise self.unknown_dotted(arg)
                    shown = ast.get_source_segment(self.text, arg) or "?"
                    raise self.fail(f"grad(...) takes a parameter name, got {shown!r}", arg.col_offset,
                                    hint=f"one of {', '.join(self.names.externals())}")
                if not isinstance(arg, ast.Name) or not re.fullmatch(r"[Wb][0-9]+", arg.id):
                    shown = ast.get_source_segment(self.text, arg) or "?"
                    raise self.fail(
                        f"grad(...) takes a parameter name, got {shown!r}",
                        arg.col_offset,
                        hint="e.g. grad(W1) or grad(b2); index the result: grad(W1)[0, 1]",
                    )
                return Grad(arg.id, col)
            return Reduce(fname, self.expr(arg), col)  # type: ignore[arg-type]
        if isinstance(node, ast.Subscript):
            return Subscript(self.expr(node.value), self.index_items(node.slice), col)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                inner = self.expr(node.operand)
                if isinstance(inner, Num):
                    return Num(-inner.value, col)
                return Neg(inner, col)
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return Not(self.expr(node.operand), col)
            raise self.fail("operator ~ is not supported", col)
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if op is None:
                shown = _OP_NAMES.get(type(node.op), type(node.op).__name__)
                raise self.fail(f"operator {shown} is not supported", node.left.end_col_offset or col,
                                hint="use + - * / (multiply instead of **)")
            left, right = self.expr(node.left), self.expr(node.right)
            if isinstance(left, Num) and isinstance(right, Num):  # fold constants: 1/3 is one number
                if op == "/" and right.value == 0:
                    raise self.fail("division by zero", right.col, hint="divide by a non-zero number")
                folded = {"+": lambda: left.value + right.value, "-": lambda: left.value - right.value,
                          "*": lambda: left.value * right.value, "/": lambda: left.value / right.value}[op]()
                if _too_large(folded):
                    raise self.fail("this constant has too many digits to print", col, hint=SIZE_HINT)
                return Num(folded, col)
            return Arith(op, left, right, col)
        if isinstance(node, ast.BoolOp):
            return Logic("and" if isinstance(node.op, ast.And) else "or",
                         tuple(self.expr(v) for v in node.values), col)
        if isinstance(node, ast.Compare):
            parts: list[Expr] = []
            left = self.expr(node.left)
            for op_node, right_node in zip(node.ops, node.comparators):
                op = _COMPARE.get(type(op_node))
                if op is None:
                    raise self.fail(f"comparison {type(op_node).__name__} is not supported", col,
                                    hint="use == != < <= > >=")
                right = self.expr(right_node)
                parts.append(Compare(op, left, right, col))
                left = right
            return parts[0] if len(parts) == 1 else Logic("and", tuple(parts), col)
        segment = ast.get_source_segment(self.text, node) or type(node).__name__
        raise self.fail(f"{segment!r} is not allowed in a condition", col,
                        hint="use names, grad(P), numbers, indexing, + - * /, comparisons, and/or/not, all/any")

    def index_items(self, node: ast.AST) -> tuple:
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        items: list = []
        for e in elts:
            if isinstance(e, ast.Slice):
                item = tuple(self.int_of(p) if p is not None else None for p in (e.lower, e.upper, e.step))
                if item[2] == 0:
                    raise self.fail("slice step cannot be zero", getattr(e.step, "col_offset", 0),
                                    hint="use a step of 1 or more (or -1 to reverse), e.g. x[::2]")
                items.append(item)
            else:
                items.append(self.int_of(e))
        return tuple(items)

    def int_of(self, node: ast.AST) -> int:
        sign = 1
        inner = node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sign, inner = -1, node.operand
        if isinstance(inner, ast.Constant) and type(inner.value) is int:
            return sign * inner.value
        shown = ast.get_source_segment(self.text, node)
        raise self.fail(f"index {shown!r} is not an integer", getattr(node, "col_offset", 0),
                        hint="indices are integers or slices such as 0, -1, 1:3, :")


def substitute_names(text: str, names: ParameterNames | None) -> tuple[str, dict[str, str]]:
    """The text with each module parameter name replaced by an identifier, and identifier -> internal name.

    Python's parser cannot read every module name (``0.weight`` of an ``nn.Sequential``), so
    each is replaced before parsing by an identifier of the same length (columns in error
    messages stay right), which the parser maps back to ``W1, b1, ...``.
    """
    if names is None or not names.aliases:
        return text, {}
    placeholders: dict[str, str] = {}
    by_external: dict[str, str] = {}
    for k, (internal, external) in enumerate(names.aliases):
        ident = f"_{k}_".ljust(len(external), "_")
        placeholders[ident] = internal
        by_external[external] = ident
    pattern = "|".join(re.escape(e) for e in sorted(by_external, key=len, reverse=True))
    return re.sub(rf"(?<![\w.])(?:{pattern})(?![\w])", lambda m: by_external[m.group(0)], text), placeholders


def _refuse_unknown_dotted(parsed: str, source: str, names: ParameterNames) -> None:
    """A dotted name left after substitution is none of the module's (Python cannot even read ``2.bais``)."""
    for m in re.finditer(r"(?<![\w.])\w+(?:\.\w+)*\.[A-Za-z_]\w*", parsed):
        try:
            float(m.group(0))  # 1.e5 is a number
            continue
        except ValueError:
            pass
        shown = source[m.start():m.end()] if len(parsed) == len(source) else m.group(0)
        guess = nearest(shown, names.externals())
        raise ConditionError(f"unknown name {shown!r}", source=source, column=m.start(),
                             hint=(f"did you mean {guess!r}? " if guess else "")
                             + f"the module's parameters are {', '.join(names.externals())}")


def parse(text: str, names: ParameterNames | None = None) -> Condition:
    """Parse a condition; raise :class:`ConditionError` with the column on bad syntax.

    With ``names`` (a network read from a PyTorch module), parameters are written by the
    module's names (``grad(fc1.weight)``) and read as ``W1, b1, ...``; the condition's
    text stays as written.
    """
    source = text.strip()
    if not source:
        raise ConditionError("empty condition", source=text, hint='write e.g. "grad(W1) != 0"')
    parsed, placeholders = substitute_names(source, names)
    if names is not None:
        _refuse_unknown_dotted(parsed, source, names)
    try:
        tree = syntax_tree(parsed, ConditionError, "the condition")
    except SyntaxError as e:
        col = max((e.offset or 1) - 1, 0)
        msg = e.msg
        if msg.startswith("invalid syntax"):
            msg = "invalid syntax"
        if "digits" in msg:  # an integer literal beyond Python's 4300 digits
            msg, hint = f"a number has more than {MAX_DIGITS} digits", SIZE_HINT
        elif "'='" in msg or re.search(r"(?<![=!<>])=(?!=)", source):
            hint = "compare with ==, not ="
        elif "never closed" in msg or "does not match" in msg or "unmatched" in msg:
            hint = "balance the brackets"
        elif "nested" in msg:
            hint = "simplify it: fewer brackets"
        else:
            hint = None
        raise ConditionError(msg, source=source, column=min(col, len(source)), hint=hint) from None
    # segments (numbers, quoted parts of messages) are read from the text as written when the
    # substitution kept every column in place, which it does unless a name is shorter than its stand-in
    segments = source if len(parsed) == len(source) else parsed
    return Condition(source, _Parser(segments, names, placeholders).expr(tree))


# --------------------------------------------------------------------------
# Static check against a network: names, shapes, indices, kinds


@dataclass(frozen=True)
class Type:
    kind: str  # "num" | "bool"
    shape: tuple[int, ...]
    const: Fraction | None = None  # value of a constant numeric scalar


def _single(shape: tuple[int, ...]) -> bool:
    return math.prod(shape) == 1


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    if a == b:
        return a
    if _single(b):
        return a
    if _single(a):
        return b
    return None


def shape_text(shape: tuple[int, ...]) -> str:
    return "scalar" if not shape else "(" + ", ".join(str(s) for s in shape) + ")"


class _Checker:
    def __init__(self, cond: Condition, network: Network, samples: int) -> None:
        self.cond = cond
        self.network = network
        self.samples = samples

    def fail(self, message: str, col: int, hint: str | None = None) -> ConditionError:
        return ConditionError(message, source=self.cond.text, column=col, hint=hint)

    def unknown(self, name: str, valid: tuple[str, ...]) -> tuple[str, str]:
        """Why a name is not known here, and what to write instead."""
        if re.fullmatch(r"b[0-9]+", name) and not self.network.bias:
            return "this network has no biases", "drop the condition on them, or give the network biases (--bias)"
        guess = nearest(name, valid)
        return (f"this {self.network.text} network has {', '.join(valid)}",
                f"did you mean {guess!r}?" if guess else f"names: {', '.join(valid)}")

    def check(self, node: Expr, entrywise: bool) -> Type:  # noqa: C901
        if isinstance(node, Num):
            return Type("num", (), node.value)
        if isinstance(node, BoolConst):
            return Type("bool", ())
        if isinstance(node, Var):
            valid = self.network.value_names()
            if node.name not in valid:
                why, hint = self.unknown(node.name, valid)
                raise self.fail(f"unknown name {node.name!r}: {why}", node.col, hint=hint)
            return Type("num", self.network.shape(node.name, self.samples))
        if isinstance(node, Grad):
            valid = self.network.parameter_names()
            if node.param not in valid:
                why, hint = self.unknown(node.param, valid)
                raise self.fail(f"grad({node.param}): {node.param!r} is not a parameter: {why}", node.col + 5, hint=hint)
            return Type("num", self.network.shape(node.param, self.samples))
        if isinstance(node, Subscript):
            base = self.check(node.base, entrywise)
            if base.kind != "num":
                raise self.fail("only values can be indexed", node.col)
            if len(node.items) > len(base.shape):
                raise self.fail(
                    f"too many indices: {len(node.items)} for a tensor of shape {shape_text(base.shape)}", node.col)
            for axis, (item, size) in enumerate(zip(node.items, base.shape)):
                if isinstance(item, int) and not -size <= item < size:
                    raise self.fail(f"index {item} is out of range for axis {axis} of size {size} "
                                    f"(shape {shape_text(base.shape)})", node.col,
                                    hint=f"use 0..{size - 1}, or -1 for the last")
            selected = tuple(len(r) for r in _selection(node.items, base.shape) if isinstance(r, range))
            if 0 in selected:  # an empty tensor would make every comparison vacuous
                raise self.fail(f"this slice selects no entries (shape {shape_text(selected)})", node.col,
                                hint="check the slice bounds, e.g. x[0:2] rather than x[2:0]")
            return Type("num", selected)
        if isinstance(node, Neg):
            t = self.num(node.operand, entrywise, "-")
            return Type("num", t.shape, -t.const if t.const is not None else None)
        if isinstance(node, Arith):
            left = self.num(node.left, entrywise, node.op)
            right = self.num(node.right, entrywise, node.op)
            shape = _broadcast(left.shape, right.shape)
            if shape is None:
                raise self.fail(f"cannot combine shapes {shape_text(left.shape)} and {shape_text(right.shape)} with {node.op}",
                                node.col, hint="index one side, e.g. W1[0, :], so both have the same shape")
            if node.op == "/":
                if right.const is None:
                    raise self.fail("division is only by a number", node.col,
                                    hint="multiply out instead, e.g. a == 2 * b rather than a / b == 2")
                if right.const == 0:
                    raise self.fail("division by zero", getattr(node.right, "col", node.col),
                                    hint="divide by a non-zero number")
            const = None
            if left.const is not None and right.const is not None:
                const = {"+": left.const + right.const, "-": left.const - right.const,
                         "*": left.const * right.const, "/": left.const / right.const if right.const else None}[node.op]
            return Type("num", shape, const)
        if isinstance(node, Compare):
            left = self.num(node.left, entrywise, node.op)
            right = self.num(node.right, entrywise, node.op)
            shape = _broadcast(left.shape, right.shape)
            if shape is None:
                raise self.fail(f"cannot compare shapes {shape_text(left.shape)} and {shape_text(right.shape)}",
                                node.col, hint="index one side so both have the same shape, or compare with a number")
            return Type("bool", shape if entrywise else ())
        if isinstance(node, (Logic, Not)):
            operands = node.operands if isinstance(node, Logic) else (node.operand,)
            combined: tuple[int, ...] = ()
            for o in operands:
                t = self.check(o, entrywise)
                if t.kind != "bool":
                    raise self.fail(f"'{node.op if isinstance(node, Logic) else 'not'}' needs conditions, got a value",
                                    getattr(o, "col", node.col), hint="compare it, e.g. grad(W1) != 0")
                s = _broadcast(combined, t.shape)
                if s is None:
                    raise self.fail(f"cannot combine shapes {shape_text(combined)} and {shape_text(t.shape)}", node.col,
                                    hint="index one side so both have the same shape, or compare with a number")
                combined = s
            return Type("bool", combined)
        if isinstance(node, Reduce):
            inner = self.check(node.operand, True)
            if inner.kind != "bool":
                raise self.fail(f"{node.op}(...) needs a comparison inside", node.col,
                                hint=f"e.g. {node.op}(grad(W1) != 0)")
            return Type("bool", ())
        raise AssertionError(node)

    def num(self, node: Expr, entrywise: bool, op: str) -> Type:
        t = self.check(node, entrywise)
        if t.kind != "num":
            raise self.fail(f"{op} needs values on both sides, got a condition", getattr(node, "col", 0),
                            hint="put comparisons inside and/or/not, or add brackets")
        return t


def _np_index(items: tuple) -> tuple:
    return tuple(slice(*i) if isinstance(i, tuple) else i for i in items)


def _selection(items: tuple, shape: tuple[int, ...]) -> list[int | range]:
    """What ``tensor[items]`` selects on each axis: an index (the axis goes) or a range (it stays).

    Computed from the shape alone, so no array is ever allocated for it.  Raises
    IndexError for an index out of range, as numpy would.
    """
    if len(items) > len(shape):
        raise IndexError("too many indices")
    out: list[int | range] = []
    for axis, size in enumerate(shape):
        item = items[axis] if axis < len(items) else (None, None, None)
        if isinstance(item, tuple):
            out.append(range(size)[slice(*item)])
        elif -size <= item < size:
            out.append(item % size)
        else:
            raise IndexError(f"index {item} is out of range")
    return out


def check(cond: Condition, network: Network, samples: int) -> None:
    """Raise :class:`ConditionError` unless the condition fits this network and batch size."""
    t = _Checker(cond, network, samples).check(cond.root, False)
    if t.kind != "bool":
        raise ConditionError("a condition must say something true or false, this is a value",
                             source=cond.text, column=0, hint=f'compare it, e.g. "{cond.text} == 0"')


# --------------------------------------------------------------------------
# One meaning, many backends

B = TypeVar("B")


class Backend(Protocol[B]):
    """What a reading of the conditions needs: constants and Boolean/ordering operations."""

    def const(self, value: Fraction) -> Any: ...
    def true(self) -> B: ...
    def and_(self, items: Sequence[B]) -> B: ...
    def or_(self, items: Sequence[B]) -> B: ...
    def not_(self, item: B) -> B: ...
    def eq(self, a: Any, b: Any) -> B: ...
    def lt(self, a: Any, b: Any) -> B: ...
    def le(self, a: Any, b: Any) -> B: ...


class ExactBackend:
    """Python booleans over Fractions: the reading of the exact re-check."""

    def const(self, value: Fraction) -> Fraction:
        return value

    def true(self) -> bool:
        return True

    def and_(self, items: Sequence[bool]) -> bool:
        return all(items)

    def or_(self, items: Sequence[bool]) -> bool:
        return any(items)

    def not_(self, item: bool) -> bool:
        return not item

    def eq(self, a: Any, b: Any) -> bool:
        return bool(a == b)

    def lt(self, a: Any, b: Any) -> bool:
        return bool(a < b)

    def le(self, a: Any, b: Any) -> bool:
        return bool(a <= b)


def _flat(a: Any) -> list:
    return list(np.asarray(a, dtype=object).reshape(-1))


def _pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast by our rule: equal shapes, or a single entry against anything.

    The same rule as the type checker's :func:`_broadcast`: when both are single entries of
    different shapes (``(W1 + 0)[0]`` on a 1-1-1 network), the left one's shape is kept.
    """
    if a.shape == b.shape:
        return a, b
    if b.size == 1:
        return a, np.full(a.shape, b.reshape(-1)[0], dtype=object)
    return np.full(b.shape, a.reshape(-1)[0], dtype=object), b


def _compare(backend: Backend, op: str, a: Any, b: Any) -> Any:
    if op == "==":
        return backend.eq(a, b)
    if op == "!=":
        return backend.not_(backend.eq(a, b))
    if op == "<":
        return backend.lt(a, b)
    if op == "<=":
        return backend.le(a, b)
    if op == ">":
        return backend.lt(b, a)
    return backend.le(b, a)


def evaluate(node: Expr, env: Mapping[str, np.ndarray], backend: Backend, entrywise: bool = False) -> Any:  # noqa: C901
    """Evaluate a checked expression.

    ``env`` maps each value name and each ``grad(P)`` to an object array of
    backend values.  Numeric results are object arrays; conditions are a backend
    Boolean (or, entry by entry inside all/any, an object array of them).
    """
    if isinstance(node, Num):
        return np.array(backend.const(node.value), dtype=object)
    if isinstance(node, BoolConst):
        t = backend.true()
        return np.array(t if node.value else backend.not_(t), dtype=object) if entrywise else (t if node.value else backend.not_(t))
    if isinstance(node, Var):
        return env[node.name]
    if isinstance(node, Grad):
        return env[f"grad({node.param})"]
    if isinstance(node, Subscript):
        return np.asarray(evaluate(node.base, env, backend, entrywise)[_np_index(node.items)], dtype=object)
    if isinstance(node, Neg):
        return np.asarray(-evaluate(node.operand, env, backend, entrywise), dtype=object)
    if isinstance(node, Arith):
        a, b = _pairs(np.asarray(evaluate(node.left, env, backend, entrywise), dtype=object),
                      np.asarray(evaluate(node.right, env, backend, entrywise), dtype=object))
        # np.asarray: an operation on 0-d object arrays returns a bare scalar, not an array
        if node.op == "+":
            return np.asarray(a + b, dtype=object)
        if node.op == "-":
            return np.asarray(a - b, dtype=object)
        if node.op == "*":
            return np.asarray(a * b, dtype=object)
        return np.asarray(a / b, dtype=object)
    if isinstance(node, Compare):
        a, b = _pairs(np.asarray(evaluate(node.left, env, backend, entrywise), dtype=object),
                      np.asarray(evaluate(node.right, env, backend, entrywise), dtype=object))
        if entrywise:
            out = np.empty(a.shape, dtype=object)
            for idx in np.ndindex(a.shape):
                out[idx] = _compare(backend, node.op, a[idx], b[idx])
            return out
        pairs = list(zip(_flat(a), _flat(b)))
        if node.op == "!=":
            return backend.not_(backend.and_([backend.eq(p, q) for p, q in pairs]))
        return backend.and_([_compare(backend, node.op, p, q) for p, q in pairs])
    if isinstance(node, Logic):
        values = [evaluate(o, env, backend, entrywise) for o in node.operands]
        combine = backend.and_ if node.op == "and" else backend.or_
        if not entrywise:
            return combine(values)
        arrays = [np.asarray(v, dtype=object) for v in values]
        shape = max((a.shape for a in arrays), key=len)
        for a in arrays:
            if a.size > 1:
                shape = a.shape
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            out[idx] = combine([a[idx] if a.shape == shape else a.reshape(-1)[0] for a in arrays])
        return out
    if isinstance(node, Not):
        v = evaluate(node.operand, env, backend, entrywise)
        if entrywise:
            arr = np.asarray(v, dtype=object)
            out = np.empty(arr.shape, dtype=object)
            for idx in np.ndindex(arr.shape):
                out[idx] = backend.not_(arr[idx])
            return out
        return backend.not_(v)
    if isinstance(node, Reduce):
        arr = evaluate(node.operand, env, backend, True)
        items = _flat(arr)
        result = backend.and_(items) if node.op == "all" else backend.or_(items)
        return np.array(result, dtype=object) if entrywise else result
    raise AssertionError(node)


def holds(cond: Condition, env: Mapping[str, np.ndarray], backend: Backend) -> Any:
    """The truth of a whole condition under a backend."""
    return evaluate(cond.root, env, backend, False)


def names_used(node: Expr) -> set[str]:
    """Value names and ``grad(P)`` keys a condition reads."""
    out: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, Var):
            out.add(n.name)
        elif isinstance(n, Grad):
            out.add(f"grad({n.param})")
        for child in getattr(n, "__dict__", {}).values():
            if isinstance(child, tuple):
                for c in child:
                    walk(c)
            elif hasattr(child, "col"):
                walk(child)

    walk(node)
    return out


# --------------------------------------------------------------------------
# Fixed values: --fix NAME=VALUE, NAME[i,j]=VALUE, and claim-file tables

_TARGET_RE = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.]*)\s*(\[[^\]]*\])?\s*=(?!=)\s*(.*)$", re.S)


def value_tree(raw: Any, where: str, depth: int = 0) -> Any:
    """A number or nested list (from text, TOML or JSON) as nested lists of Fractions."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{where}: the value is nested too deeply", hint="give a number or a nested list of the shape")
    if isinstance(raw, bool):
        raise SpecError(f"{where}: {raw!r} is not a number", hint="write a number such as 0, 1/3 or 0.5")
    if isinstance(raw, (list, tuple)):
        return [value_tree(r, where, depth + 1) for r in raw]
    if isinstance(raw, int):
        digits = int(abs(raw).bit_length() * math.log10(2)) + 1
        if digits > MAX_DIGITS:
            raise TooLarge(f"{where}: an integer of about {digits} digits is more than the {MAX_DIGITS} cexsearch "
                           "reads", hint=SIZE_HINT)
        return Fraction(raw)
    if isinstance(raw, float):
        # A float can only arrive from a TOML float; its shortest repr is what the person typed.
        raw = repr(raw)
    elif hasattr(raw, "as_tuple"):  # decimal.Decimal from an exact TOML reader
        if not raw.is_finite():
            shown = "nan" if raw.is_nan() else "-inf" if raw < 0 else "inf"
            raise SpecError(f"{where}: {shown} is not a finite number", hint="write a number such as 0, -2/3 or 0.1")
        raw = str(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            return value_tree(_literal_list(text, where), where, depth + 1)
        try:
            return parse_number(text)
        except TooLarge as e:
            raise e.located(where) from None
        except SpecError:
            raise SpecError(f"{where}: {brief(raw)} is not a number",
                            hint="write a number such as 0, -2/3 or 0.1, or a nested list such as [[0],[2],[3]]") from None
    raise SpecError(f"{where}: {brief(raw)} is not a number or a list of numbers")


def _literal_list(text: str, where: str) -> Any:
    try:
        tree = syntax_tree(text, SpecError, f"{where}: the list")
    except SyntaxError as e:
        raise SpecError(f"{where}: {brief(text)} is not a list of numbers ({e.msg})", source=text,
                        column=max((e.offset or 1) - 1, 0), hint="e.g. [[0],[2],[3]]") from None

    def conv(n: ast.AST) -> Any:
        if isinstance(n, (ast.List, ast.Tuple)):
            return [conv(e) for e in n.elts]
        seg = ast.get_source_segment(text, n)
        if seg is None:
            raise SpecError(f"{where}: bad value in {brief(text)}")
        return seg

    return conv(tree)


def regular(tree: Any, max_depth: int) -> tuple[tuple[int, ...], list] | None:
    """The shape and row-major entries of a nested list (a non-list is a scalar, shape ()).

    None when the list is ragged or nested more than ``max_depth`` levels.
    """
    if not isinstance(tree, list):
        return (), [tree]
    if max_depth <= 0:
        return None
    parts: list[tuple[tuple[int, ...], list]] = []
    for t in tree:
        part = regular(t, max_depth - 1)
        if part is None or (parts and part[0] != parts[0][0]):
            return None
        parts.append(part)
    inner = parts[0][0] if parts else ()
    return (len(tree), *inner), [v for _, flat in parts for v in flat]


def _item_text(item: int | tuple) -> str:
    if not isinstance(item, tuple):
        return str(item)
    start, stop, step = ("" if i is None else str(i) for i in item)
    return f"{start}:{stop}" + (f":{step}" if step else "")


def _index_text(index: Index | tuple) -> str:
    return "[" + ", ".join(_item_text(i) for i in index) + "]" if index else ""


def fixed_values(name: str, index_items: tuple, raw: Any, network: Network, samples: int, where: str) -> FixedValues:
    """Fix ``name[index_items]`` to ``raw`` (a scalar fills the whole selection).

    ``name`` is as a person writes it: the module's parameter name for a network read from PyTorch.
    """
    valid = tuple(network.label(n) for n in network.variable_names())
    if name not in valid:
        guess = nearest(name, valid)
        extra = " (yhat and gradients follow from the others and cannot be fixed)" if name == "yhat" else ""
        raise SpecError(f"{where}: cannot fix unknown name {name!r}{extra}",
                        hint=f"did you mean {guess!r}?" if guess else f"names: {', '.join(valid)}")
    internal = network.names.internal(name) if network.names is not None else None
    shape = network.shape(internal or name, samples)
    target = f"{name}{_index_text(index_items)}"
    try:
        axes = _selection(index_items, shape)
    except IndexError:
        raise SpecError(f"{where}: index {_index_text(index_items)} is out of range for {name} of shape "
                        f"{shape_text(shape)}", hint=f"{name} has shape {shape_text(shape)}") from None
    sel_shape = tuple(len(a) for a in axes if isinstance(a, range))
    if 0 in sel_shape:  # fixing nothing would be silently ignored
        raise SpecError(f"{where}: {target} selects no entries of {name} (shape {shape_text(shape)})",
                        hint="check the slice bounds, e.g. W1[0:2, :] rather than W1[2:0, :]")
    tree = value_tree(raw, where)
    found = regular(tree, len(sel_shape))
    if found is None:
        raise SpecError(f"{where}: {brief(raw)} is not a nested list of {target}'s shape {shape_text(sel_shape)}",
                        hint="give a nested list of that shape, or one number to fill it")
    value_shape, flat = found
    if value_shape != sel_shape and len(flat) != 1:
        raise SpecError(f"{where}: {target} has shape {shape_text(sel_shape)} but the value has shape "
                        f"{shape_text(value_shape)}", hint="give a nested list of that shape, or one number to fill it")
    targets = list(itertools.product(*(a if isinstance(a, range) else (a,) for a in axes)))
    values = flat if len(flat) == len(targets) else flat[:1] * len(targets)
    return FixedValues(tuple((internal or name, index, value) for index, value in zip(targets, values)))


def parse_fix(text: str, network: Network, samples: int) -> FixedValues:
    """Read one ``--fix NAME=VALUE`` or ``--fix NAME[i,j]=VALUE``."""
    m = _TARGET_RE.match(text)
    if not m:
        raise SpecError(f"--fix {brief(text)}: expected NAME=VALUE", hint='e.g. --fix W1=1 or --fix "x=[[0],[2],[3]]"')
    name, index_text, value_text = m.group(1), m.group(2), m.group(3).strip()
    where = f"--fix {brief(text)}"
    if not value_text:
        raise SpecError(f"{where}: the value is missing", hint="e.g. --fix W1=1")
    items: tuple = ()
    if index_text:
        subscript = f"_{index_text}"  # an index alone is no expression: parse it as the subscript of a name
        try:
            node = syntax_tree(subscript, SpecError, f"{where}: the index")
        except SyntaxError:
            raise SpecError(f"{where}: bad index {index_text}", hint="e.g. W1[0, 1]=2") from None
        assert isinstance(node, ast.Subscript)
        try:
            items = _Parser(subscript).index_items(node.slice)
        except ConditionError as e:
            raise SpecError(f"{where}: {e.message}", hint=e.hint) from None
    return fixed_values(name, items, value_text, network, samples, where)


def combine_fixed(parts: Sequence[FixedValues], network: Network | None = None) -> FixedValues:
    """Merge fixes; a later fix of the same entry with another value is a conflict (named as ``network`` calls it)."""
    merged: dict[tuple[str, Index], Fraction] = {}
    for part in parts:
        for name, index, value in part.items:
            key = (name, index)
            if key in merged and merged[key] != value:
                shown = network.label(name) if network is not None else name
                raise SpecError(f"{shown}{_index_text(index)} is fixed twice, to {merged[key]} and to {value}",
                                hint="drop one of the two --fix options (or --weights-from-module)"
                                if network is not None and network.names is not None else
                                "drop one of the two --fix options")
            merged[key] = value
    return FixedValues(tuple(sorted((n, i, v) for (n, i), v in merged.items())))

