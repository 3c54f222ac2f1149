"""Which permutations leave a problem unchanged, so that one pattern per orbit suffices.

Two kinds of symmetry are recognised (for a layer model, so far, only the first):

* **samples**: permuting the samples permutes the rows of ``x``, ``y``,
  ``yhat`` and leaves every gradient (a sum over samples) unchanged;
* **hidden units of layer k**: permuting them permutes the rows of ``W_k`` and
  ``b_k`` and the columns of ``W_{k+1}`` (and of their gradients) and leaves
  the network's function and every other value unchanged.

Such a permutation maps witnesses to witnesses exactly when the conditions and
the fixed values are invariant under it.  The check here is syntactic and
conservative: a condition is invariant when it never indexes a tensor that
the permutation moves, and only combines entry by entry tensors that move
alike (or a single entry, which broadcasts); a comparison outside
``all``/``any`` reduces over every entry, so it is invariant.  Fixed values
are invariant when the tensors the permutation moves are entirely free, or
entirely fixed with every moved slice equal (all rows of ``W_k`` equal, ...).

The enumeration then visits only patterns whose rows (samples) and whose
columns within each symmetric layer are in non-decreasing lexicographic order.
That loses no witness: the lexicographically least pattern of an orbit, read
row by row, has sorted rows (swapping two unsorted rows would make it smaller)
and sorted columns within each symmetric layer (swapping two unsorted columns
changes the first row where they differ from 1 0 to 0 1, which makes it
smaller and leaves the rows above unchanged).  Every orbit contains that least
pattern, and it passes both tests (see tests/engine/test_soundness.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import lang as C
from ..model.network import Network, entries
from ..model.problem import Problem

INVARIANT = "inv"


@dataclass(frozen=True)
class Symmetry:
    samples: bool
    layers: frozenset[int]  # hidden layers k (1-based) whose units are interchangeable

    @property
    def any(self) -> bool:
        return self.samples or bool(self.layers)


class _Unsafe(Exception):
    pass


def _kind(name: str, group: Any) -> str:
    """How a named tensor moves under a group: 'inv', or a tag naming the axis it permutes."""
    if group == "samples":
        return "rows" if name in ("x", "y", "yhat") else INVARIANT
    k = group
    if name in (f"W{k}", f"grad(W{k})"):
        return "rows"
    if name in (f"b{k}", f"grad(b{k})"):
        return "vec"
    if name in (f"W{k + 1}", f"grad(W{k + 1})"):
        return "cols"
    return INVARIANT


def _walk(node: C.Expr, group: Any, single: Any, entrywise: bool = False) -> str:
    """The kind of a subexpression; raise _Unsafe when the condition is not invariant.

    Outside all()/any() a comparison reduces over every entry, so its result is invariant
    once its two sides move alike; inside, it keeps the kind of its operands.
    """
    if isinstance(node, (C.Num, C.BoolConst)):
        return INVARIANT
    if isinstance(node, C.Var):
        return _kind(node.name, group)
    if isinstance(node, C.Grad):
        return _kind(f"grad({node.param})", group)
    if isinstance(node, C.Subscript):
        if _walk(node.base, group, single, entrywise) != INVARIANT:
            raise _Unsafe
        return INVARIANT
    if isinstance(node, (C.Neg, C.Not)):
        return _walk(node.operand, group, single, entrywise)
    if isinstance(node, C.Reduce):
        _walk(node.operand, group, single, True)
        return INVARIANT
    if isinstance(node, (C.Arith, C.Compare)):
        a = _walk(node.left, group, single, entrywise)
        b = _walk(node.right, group, single, entrywise)
        kinds = {k for k, n in ((a, node.left), (b, node.right)) if not single(n)}
        if len(kinds - {INVARIANT}) and len(kinds) > 1:
            raise _Unsafe
        result = (kinds - {INVARIANT}).pop() if kinds - {INVARIANT} else INVARIANT
        if isinstance(node, C.Compare) and not entrywise:
            return INVARIANT
        return result
    if isinstance(node, C.Logic):
        kinds = {_walk(o, group, single, entrywise) for o in node.operands}
        moved = kinds - {INVARIANT}
        if len(moved) > 1 or (moved and INVARIANT in kinds):
            raise _Unsafe
        return moved.pop() if moved else INVARIANT
    raise AssertionError(node)


def _condition_invariant(problem: Problem, group: Any) -> bool:
    net, M = problem.network, problem.samples

    def single(n: C.Expr) -> bool:
        # A node evaluating to a single entry broadcasts and cannot pair entries up.
        try:
            return _shape_size(n, net, M) == 1
        except Exception:
            return False

    for cond in problem.conditions:
        try:
            kind = _walk(cond.root, group, single)
        except _Unsafe:
            return False
        if kind != INVARIANT:  # cannot happen for a checked condition (it is a scalar Boolean)
            return False
    return True


def _shape_size(node: C.Expr, net: Any, M: int) -> int:
    if isinstance(node, (C.Num, C.BoolConst)):
        return 1
    if isinstance(node, C.Var):
        return _size(net.shape(node.name, M))
    if isinstance(node, C.Grad):
        return _size(net.shape(node.param, M))
    return 2  # anything else: assume it may have several entries (conservative)


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _fixed_invariant(problem: Problem, moved: dict[str, int]) -> bool:
    """moved: tensor name -> axis the permutation acts on."""
    fixed = problem.fixed.as_dict()
    for name, axis in moved.items():
        shape = problem.shape(name)
        keys = [(name, idx) for idx in entries(shape)]
        present = [k in fixed for k in keys]
        if not any(present):
            continue
        if not all(present):
            return False
        slices: dict[tuple, list] = {}
        for idx in entries(shape):
            rest = idx[:axis] + idx[axis + 1:]
            slices.setdefault(rest, []).append(fixed[(name, idx)])
        for vals in slices.values():
            if len(set(vals)) > 1:
                return False
    return True


def detect(problem: Problem) -> Symmetry:
    """The symmetries of a problem that the enumeration may exploit."""
    net = problem.network
    samples = problem.samples > 1 and _condition_invariant(problem, "samples") and _fixed_invariant(
        problem, {"x": 0, "y": 0})
    layers: set[int] = set()
    if not isinstance(net, Network):  # a layer model: samples only (channels move blocks of units; not yet)
        return Symmetry(samples, frozenset())
    for k in range(1, net.depth):
        if net.widths[k] < 2:
            continue
        moved = {f"W{k}": 0, f"W{k + 1}": 1}
        if net.bias:
            moved[f"b{k}"] = 0
        if _condition_invariant(problem, k) and _fixed_invariant(problem, moved):
            layers.add(k)
    return Symmetry(samples, frozenset(layers))
