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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol, TypeVar, Union

import numpy as np

from .errors import ConditionError, SpecError
from .spec import FixedValues, Index, Network, nearest

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


def parse_number(text: str) -> Fraction:
    """An exact rational from ``"3"``, ``"-2/3"``, ``"0.1"``, ``"1e-3"``; never through a float."""
    t = str(text).strip()
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = Fraction(num.strip()) / Fraction(den.strip())
        else:
            value = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"{text!r} is not a number", hint="write an integer, a decimal such as 0.1, or a fraction such as -2/3") from None
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, message: str, col: int, hint: str | None = None) -> ConditionError:
        return ConditionError(message, source=self.text, column=col, hint=hint)

    def number(self, node: ast.Constant) -> Num:
        if isinstance(node.value, int):  # also 0x10, 0o7, 0b1, 1_000
            return Num(Fraction(node.value), node.col_offset)
        segment = ast.get_source_segment(self.text, node) or repr(node.value)
        try:
            return Num(Fraction(segment.replace("_", "")), node.col_offset)
        except ValueError:
            raise self.fail(f"{segment!r} is not a number cexsearch reads", node.col_offset,
                            hint="write an integer, a decimal such as 0.1, or a fraction such as 2/3") from None

    def expr(self, node: ast.AST) -> Expr:  # noqa: C901 - one case per syntax form
        col = getattr(node, "col_offset", 0)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return BoolConst(node.value, col)
            if isinstance(node.value, (int, float)):
                return self.number(node)
            raise self.fail(f"{node.value!r} is not a number", col)
        if isinstance(node, ast.Name):
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
                if not isinstance(arg, ast.Name) or not re.fullmatch(r"[Wb][0-9]+", arg.id):
                    shown = ast.get_source_segment(self.text, arg)
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
                    raise self.fail("division by zero", right.col)
                folded = {"+": lambda: left.value + right.value, "-": lambda: left.value - right.value,
                          "*": lambda: left.value * right.value, "/": lambda: left.value / right.value}[op]()
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
                items.append(tuple(self.int_of(p) if p is not None else None for p in (e.lower, e.upper, e.step)))
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


def parse(text: str) -> Condition:
    """Parse a condition; raise :class:`ConditionError` with the column on bad syntax."""
    source = text.strip()
    if not source:
        raise ConditionError("empty condition", source=text, hint='write e.g. "grad(W1) != 0"')
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        col = max((e.offset or 1) - 1, 0)
        msg = e.msg
        if msg.startswith("invalid syntax"):
            msg = "invalid syntax"
        if "'='" in msg or re.search(r"(?<![=!<>])=(?!=)", source):
            hint = "compare with ==, not ="
        elif "never closed" in msg or "does not match" in msg or "unmatched" in msg:
            hint = "balance the brackets"
        else:
            hint = None
        raise ConditionError(msg, source=source, column=min(col, len(source)), hint=hint) from None
    return Condition(source, _Parser(source).expr(tree.body))


# --------------------------------------------------------------------------
# Static check against a network: names, shapes, indices, kinds


@dataclass(frozen=True)
class Type:
    kind: str  # "num" | "bool"
    shape: tuple[int, ...]
    const: Fraction | None = None  # value of a constant numeric scalar


def _single(shape: tuple[int, ...]) -> bool:
    return int(np.prod(shape, dtype=np.int64)) == 1 if shape else True


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

    def check(self, node: Expr, entrywise: bool) -> Type:  # noqa: C901
        if isinstance(node, Num):
            return Type("num", (), node.value)
        if isinstance(node, BoolConst):
            return Type("bool", ())
        if isinstance(node, Var):
            valid = self.network.value_names()
            if node.name not in valid:
                guess = nearest(node.name, valid)
                why = "this network has no biases" if node.name.startswith("b") and not self.network.bias else \
                    f"this {self.network.text} network has {', '.join(valid)}"
                raise self.fail(f"unknown name {node.name!r}: {why}", node.col,
                                hint=f"did you mean {guess!r}?" if guess else None)
            return Type("num", self.network.shape(node.name, self.samples))
        if isinstance(node, Grad):
            valid = self.network.parameter_names()
            if node.param not in valid:
                guess = nearest(node.param, valid)
                raise self.fail(f"grad({node.param}): {node.param!r} is not a parameter of this {self.network.text} network",
                                node.col + 5, hint=f"did you mean {guess!r}?" if guess else f"parameters: {', '.join(valid)}")
            return Type("num", self.network.shape(node.param, self.samples))
        if isinstance(node, Subscript):
            base = self.check(node.base, entrywise)
            if base.kind != "num":
                raise self.fail("only values can be indexed", node.col)
            if len(node.items) > len(base.shape):
                raise self.fail(
                    f"too many indices: {len(node.items)} for a tensor of shape {shape_text(base.shape)}", node.col)
            for item in node.items:
                if isinstance(item, tuple) and item[2] == 0:
                    raise self.fail("slice step cannot be zero", node.col, hint="use a step of 1 or more, e.g. x[::2]")
            for axis, (item, size) in enumerate(zip(node.items, base.shape)):
                if isinstance(item, int) and not -size <= item < size:
                    raise self.fail(f"index {item} is out of range for axis {axis} of size {size} "
                                    f"(shape {shape_text(base.shape)})", node.col,
                                    hint=f"use 0..{size - 1}, or -1 for the last")
            shape = np.empty(base.shape, dtype=np.int8)[_np_index(node.items)].shape
            return Type("num", tuple(shape))
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
                    raise self.fail("division by zero", node.col)
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
            shape: tuple[int, ...] = ()
            for o in operands:
                t = self.check(o, entrywise)
                if t.kind != "bool":
                    raise self.fail(f"'{node.op if isinstance(node, Logic) else 'not'}' needs conditions, got a value",
                                    getattr(o, "col", node.col), hint="compare it, e.g. grad(W1) != 0")
                s = _broadcast(shape, t.shape)
                if s is None:
                    raise self.fail(f"cannot combine shapes {shape_text(shape)} and {shape_text(t.shape)}", node.col)
                shape = s
            return Type("bool", shape)
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
    """Broadcast by our rule: equal shapes, or a single entry against anything."""
    if a.shape == b.shape:
        return a, b
    if a.size == 1:
        return np.full(b.shape, a.reshape(-1)[0], dtype=object), b
    return a, np.full(a.shape, b.reshape(-1)[0], dtype=object)


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
        return -evaluate(node.operand, env, backend, entrywise)
    if isinstance(node, Arith):
        a, b = _pairs(np.asarray(evaluate(node.left, env, backend, entrywise), dtype=object),
                      np.asarray(evaluate(node.right, env, backend, entrywise), dtype=object))
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return a / b
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

_TARGET_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])?\s*=(?!=)\s*(.*)$", re.S)


def value_tree(raw: Any, where: str) -> Any:
    """A number or nested list (from text or from TOML) as nested lists of Fractions."""
    if isinstance(raw, bool):
        raise SpecError(f"{where}: {raw!r} is not a number", hint="write a number such as 0, 1/3 or 0.5")
    if isinstance(raw, (list, tuple)):
        return [value_tree(r, where) for r in raw]
    if isinstance(raw, int):
        return Fraction(raw)
    if isinstance(raw, float):
        # A float can only arrive from a TOML float; its shortest repr is what the person typed.
        return Fraction(repr(raw))
    if hasattr(raw, "as_tuple"):  # decimal.Decimal from an exact TOML reader
        return Fraction(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            return value_tree(_literal_list(text, where), where)
        try:
            return parse_number(text)
        except SpecError:
            raise SpecError(f"{where}: {raw!r} is not a number",
                            hint="write a number such as 0, -2/3 or 0.1, or a nested list such as [[0],[2],[3]]") from None
    raise SpecError(f"{where}: {raw!r} is not a number or a list of numbers")


def _literal_list(text: str, where: str) -> Any:
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as e:
        raise SpecError(f"{where}: {text!r} is not a list of numbers ({e.msg})", source=text,
                        column=max((e.offset or 1) - 1, 0), hint="e.g. [[0],[2],[3]]") from None

    def conv(n: ast.AST) -> Any:
        if isinstance(n, (ast.List, ast.Tuple)):
            return [conv(e) for e in n.elts]
        seg = ast.get_source_segment(text, n)
        if seg is None:
            raise SpecError(f"{where}: bad value in {text!r}")
        return seg

    return conv(tree)


def _index_text(index: Index | tuple) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]" if index else ""


def fixed_values(name: str, index_items: tuple, raw: Any, network: Network, samples: int, where: str) -> FixedValues:
    """Fix ``name[index_items]`` to ``raw`` (a scalar fills the whole selection)."""
    valid = network.variable_names()
    if name not in valid:
        guess = nearest(name, valid)
        extra = " (yhat and gradients follow from the others and cannot be fixed)" if name == "yhat" else ""
        raise SpecError(f"{where}: cannot fix unknown name {name!r}{extra}",
                        hint=f"did you mean {guess!r}?" if guess else f"names: {', '.join(valid)}")
    shape = network.shape(name, samples)
    grid = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)  # flat positions
    try:
        if len(index_items) > len(shape):
            raise IndexError("too many indices")
        selected = np.asarray(grid[_np_index(index_items)])
    except IndexError:
        raise SpecError(f"{where}: index {list(index_items)} is out of range for {name} of shape {shape_text(shape)}",
                        hint=f"{name} has shape {shape_text(shape)}") from None
    sel_shape = selected.shape
    tree = value_tree(raw, where)
    if isinstance(tree, list):
        values = np.empty(np.shape(np.array(tree, dtype=object)), dtype=object)
        try:
            values[...] = tree
        except ValueError:
            raise SpecError(f"{where}: the value is not a regular nested list") from None
        if values.shape != sel_shape and values.size != 1:
            raise SpecError(f"{where}: {name}{_index_text(index_items) if index_items else ''} has shape "
                            f"{shape_text(sel_shape)} but the value has shape {shape_text(values.shape)}",
                            hint="give a nested list of that shape, or one number to fill it")
        if values.shape != sel_shape:
            values = np.full(sel_shape, values.reshape(-1)[0], dtype=object)
    else:
        values = np.full(sel_shape, tree, dtype=object)
    items = []
    for idx in np.ndindex(sel_shape):
        target = tuple(int(i) for i in np.unravel_index(int(selected[idx]), shape))
        items.append((name, target, values[idx]))
    return FixedValues(tuple(items))


def parse_fix(text: str, network: Network, samples: int) -> FixedValues:
    """Read one ``--fix NAME=VALUE`` or ``--fix NAME[i,j]=VALUE``."""
    m = _TARGET_RE.match(text)
    if not m:
        raise SpecError(f"--fix {text!r}: expected NAME=VALUE", hint='e.g. --fix W1=1 or --fix "x=[[0],[2],[3]]"')
    name, index_text, value_text = m.group(1), m.group(2), m.group(3).strip()
    if not value_text:
        raise SpecError(f"--fix {text!r}: the value is missing", hint="e.g. --fix W1=1")
    items: tuple = ()
    if index_text:
        try:
            node = ast.parse(f"_{index_text}", mode="eval").body
        except SyntaxError:
            raise SpecError(f"--fix {text!r}: bad index {index_text}", hint="e.g. W1[0, 1]=2") from None
        assert isinstance(node, ast.Subscript)
        try:
            items = _Parser(index_text).index_items(node.slice)
        except ConditionError as e:
            raise SpecError(f"--fix {text!r}: {e.message}", hint=e.hint) from None
    return fixed_values(name, items, value_text, network, samples, f"--fix {text!r}")


def combine_fixed(parts: Sequence[FixedValues]) -> FixedValues:
    """Merge fixes; a later fix of the same entry with another value is a conflict."""
    merged: dict[tuple[str, Index], Fraction] = {}
    for part in parts:
        for name, index, value in part.items:
            key = (name, index)
            if key in merged and merged[key] != value:
                raise SpecError(f"{name}{_index_text(index)} is fixed twice, to {merged[key]} and to {value}",
                                hint="drop one of the two --fix options")
            merged[key] = value
    return FixedValues(tuple(sorted((n, i, v) for (n, i), v in merged.items())))

