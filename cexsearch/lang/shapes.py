"""The static check of a condition against a network: names, shapes, indices, kinds."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ConditionError
from ..model.network import Network, nearest
from .steps import resolve
from .syntax import Arith, BoolConst, Compare, Condition, Expr, Grad, Logic, Neg, Not, Num, Reduce, Subscript, Var

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
    def __init__(self, cond: Condition, network: Network, samples: int, steps: int) -> None:
        self.cond = cond
        self.network = network
        self.samples = samples
        self.steps = steps

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
        if isinstance(node, Var) and node.name == "loss":
            return Type("num", ())
        if isinstance(node, Var) and node.name == "lr":
            if not self.steps:
                raise self.fail("lr is the learning rate of training steps, and there are none", node.col,
                                hint="add --steps K (claim key steps)")
            return Type("num", ())
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
            selected = tuple(len(r) for r in selection(node.items, base.shape) if isinstance(r, range))
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


def np_index(items: tuple) -> tuple:
    return tuple(slice(*i) if isinstance(i, tuple) else i for i in items)


def selection(items: tuple, shape: tuple[int, ...]) -> list[int | range]:
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


def check(cond: Condition, network: Network, samples: int, steps: int = 0) -> Condition:
    """The condition with its training steps counted from the start (:func:`.steps.resolve`); raise
    :class:`ConditionError` unless it fits this network, batch size and number of training steps."""
    cond = resolve(cond, steps)
    t = _Checker(cond, network, samples, steps).check(cond.root, False)
    if t.kind != "bool":
        raise ConditionError("a condition must say something true or false, this is a value",
                             source=cond.text, column=0, hint=f'compare it, e.g. "{cond.text} == 0"')
    return cond
