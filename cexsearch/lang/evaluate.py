"""One meaning, many backends: a condition evaluated over a :class:`Backend`.

The exact re-check passes Fractions and Python booleans, the encoding Z3 terms, the grid
search vectors: the meaning is written once, in :func:`evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, Protocol, TypeVar

import numpy as np

from .shapes import np_index
from .syntax import Arith, BoolConst, Compare, Condition, Expr, Grad, Logic, Neg, Not, Num, Reduce, Subscript, Var

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
    if isinstance(node, (Var, Grad)):
        return env[node.key]
    if isinstance(node, Subscript):
        return np.asarray(evaluate(node.base, env, backend, entrywise)[np_index(node.items)], dtype=object)
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
        if isinstance(n, (Var, Grad)):
            out.add(n.key)
        for child in getattr(n, "__dict__", {}).values():
            if isinstance(child, tuple):
                for c in child:
                    walk(c)
            elif hasattr(child, "col"):
                walk(child)

    walk(node)
    return out
