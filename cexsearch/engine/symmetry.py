"""Which permutations leave a problem unchanged, so that one pattern per orbit suffices.

Two kinds of symmetry are recognised:

* **samples**: permuting the samples permutes the rows of ``x``, ``y``,
  ``yhat`` and leaves every gradient (a sum over samples) unchanged;
* **hidden units of layer k**: permuting them permutes the rows of ``W_k`` and
  ``b_k`` and the columns of ``W_{k+1}`` (and of their gradients) and leaves
  the network's function and every other value unchanged;
* **channels of an activation** of a layer model, between a Linear or convolution
  (parameters k) and the next one (k + 1) with only channelwise layers (activations,
  pools, a Flatten) between: permuting the channels permutes the rows of ``W_k`` and
  ``b_k`` and the input channels of ``W_{k+1}`` (after a Flatten, blocks of columns),
  and a pattern's units in blocks, one block per channel.  Positions are never permuted
  (a kernel is shared over them), nor anything across a residual block's sum.

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import lang as C
from ..model.conv import ConvNd
from ..model.layers import Activation, Flatten, Linear
from ..model.network import Network, entries
from ..model.pool import AvgPoolNd, MaxPoolNd
from ..model.problem import Problem
from .encoding import sites_of

INVARIANT = "inv"


@dataclass(frozen=True)
class Symmetry:
    samples: bool
    layers: frozenset[int]  # enumerated activations k (1-based; an MLP's hidden layers) whose channels are interchangeable

    @property
    def any(self) -> bool:
        return self.samples or bool(self.layers)


class _Unsafe(Exception):
    pass


def _kind(name: str, group: Any) -> str:
    """How a named tensor moves under a group: 'inv', or a tag naming the axis it permutes."""
    if group == "samples":
        return "rows" if name in ("x", "y", "yhat", "p") else INVARIANT
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


def _fixed_invariant(problem: Problem, moved: Mapping[str, int | tuple[int, int]]) -> bool:
    """moved: tensor name -> the axis the permutation acts on, or (axis, block) when it moves blocks of
    ``block`` consecutive entries along that axis (a Linear's columns after Flatten: one channel's)."""
    fixed = problem.fixed.as_dict()
    for name, where in moved.items():
        axis, block = (where, 1) if isinstance(where, int) else where
        shape = problem.shape(name)
        keys = [(name, idx) for idx in entries(shape)]
        present = [k in fixed for k in keys]
        if not any(present):
            continue
        if not all(present):
            return False
        slices: dict[tuple, list] = {}
        for idx in entries(shape):
            rest = idx[:axis] + (idx[axis] % block,) + idx[axis + 1:]
            slices.setdefault(rest, []).append(fixed[(name, idx)])
        for vals in slices.values():
            if len(set(vals)) > 1:
                return False
    return True


def _channel_moves(model: Any) -> dict[int, tuple[int, dict[str, int | tuple[int, int]]]]:
    """Enumerated activation (1-based) -> (k, the tensors that move) for each one whose channels can be
    permuted: it follows a Linear or convolution (parameters k) directly, and only channelwise layers
    (activations, pools, a Flatten) lead to the next layer with parameters, a Linear or convolution
    (k + 1).  A residual block anywhere between, or no layer after, is not permutable (a sum across
    the block, or the output itself would move)."""
    index_of = {p.path: int(p.name[1:]) for p in model.parameters()}
    names = set(model.parameter_names())
    walk = {path: out for path, _, _, out in model.walk()}
    out: dict[int, tuple[int, dict[str, int | tuple[int, int]]]] = {}
    for number, site in enumerate(sites_of(model), 1):
        i = site.index
        k = index_of.get(str(i - 1))
        if i == 0 or k is None or site.shape[0] < 2 or not isinstance(model.layers[i - 1], (Linear, ConvNd)):
            continue
        j, block, shape = i + 1, 1, site.shape
        while j < len(model.layers) and isinstance(model.layers[j], (Activation, AvgPoolNd, MaxPoolNd, Flatten)):
            if isinstance(model.layers[j], Flatten):
                block = int(np.prod(shape[1:], dtype=np.int64))
            shape = walk[str(j)]
            j += 1
        if j == len(model.layers) or index_of.get(str(j)) != k + 1:
            continue
        nxt = model.layers[j]
        if not (isinstance(nxt, Linear) or (isinstance(nxt, ConvNd) and block == 1 and len(shape) > 1)):
            continue
        moved: dict[str, int | tuple[int, int]] = {f"W{k}": 0, f"W{k + 1}": (1, block)}
        if f"b{k}" in names:
            moved[f"b{k}"] = 0
        out[number] = (k, moved)
    return out


def detect(problem: Problem) -> Symmetry:
    """The symmetries of a problem that the enumeration may exploit."""
    net = problem.network
    samples = problem.samples > 1 and _condition_invariant(problem, "samples") and _fixed_invariant(
        problem, {"x": 0, "y": 0})
    layers: set[int] = set()
    if not isinstance(net, Network):  # a layer model: the channels of an activation between two layers
        for number, (k, moved) in _channel_moves(net).items():
            if _condition_invariant(problem, k) and _fixed_invariant(problem, moved):
                layers.add(number)
        return Symmetry(samples, frozenset(layers))
    for k in range(1, net.depth):
        if net.widths[k] < 2:
            continue
        moved = {f"W{k}": 0, f"W{k + 1}": 1}
        if net.bias:
            moved[f"b{k}"] = 0
        if _condition_invariant(problem, k) and _fixed_invariant(problem, moved):
            layers.add(k)
    return Symmetry(samples, frozenset(layers))
