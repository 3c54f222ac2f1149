"""Equations that hold as a consequence of others, by a structural identity of the loss.

**Lemma (softmax class sums).**  Under cross-entropy on softmax with targets whose rows
sum to 1, dL/dyhat = s (p - y) has rows summing to 0 (both p and y sum to 1 per
sample).  If the last layer is ``Linear``, its gradients are ``grad(W)[j, c] = s Σ_m
(p - y)[m, j] a[m, c]`` and ``grad(b)[j] = s Σ_m (p - y)[m, j]``, so for every column c
``Σ_j grad(W)[j, c] = 0`` and ``Σ_j grad(b)[j] = 0``, identically (at every step of a
training run too: the argument holds for any parameters and any batch).

So of the n equations ``grad(W)[j, c] == 0`` (j = 0..n-1) one is implied by the
other n - 1: a certificate proves n - 1 of them (Miranda's theorem needs a system with
a nonsingular Jacobian, and this one's is singular) and names the last as implied.
:func:`class_sum_groups` finds such groups among a problem's scalar equations, for
:mod:`cexsearch.semantics.certify` to drop and for its re-check to confirm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import lang as C
from ..lang.syntax import Expr, Grad, Num, Subscript
from ..model.layers import Linear
from ..model.problem import Problem
from .boxeval import Equality, _model


def _gradient_base(node: Expr) -> Grad | None:
    while isinstance(node, Subscript):
        node = node.base
    return node if isinstance(node, Grad) else None


class Tag:
    """Which gradient entry an equation reads (an object numpy keeps whole in an array)."""

    __slots__ = ("key", "param", "index")

    def __init__(self, key: str, param: str, index: tuple[int, ...]) -> None:
        self.key, self.param, self.index = key, param, index


def gradient_tags(problem: Problem, eq: Equality) -> list[Tag] | None:
    """Per entry of ``eq``, (gradient key, parameter, index) when it reads ``grad(P)[...] == 0``; else None."""
    for side, other in ((eq.left, eq.right), (eq.right, eq.left)):
        base = _gradient_base(side)
        if base is None or not (isinstance(other, Num) and other.value == 0):
            continue
        shape = problem.network.shape(base.param, problem.samples)
        tags = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            tags[idx] = Tag(base.key, base.param, tuple(int(i) for i in idx))
        try:
            picked = np.asarray(C.evaluate(side, {base.key: tags}, C.ExactBackend()), dtype=object)
        except (TypeError, KeyError, IndexError, AttributeError):
            return None
        return list(picked.reshape(-1))
    return None


def _sizes(problem: Problem, equalities: Sequence[Equality], counts: Sequence[int]) -> list[list[Any] | None]:
    out: list[list[Any] | None] = []
    for eq, n in zip(equalities, counts):
        tags = gradient_tags(problem, eq)
        out.append(tags if tags is not None and len(tags) == n else None)
    return out


def class_sum_groups(problem: Problem, equalities: Sequence[Equality], counts: Sequence[int]) -> list[list[int]]:
    """Groups of scalar equation ids (``counts``: how many entries each equality has, in order) whose
    sum is identically 0 by the lemma: one id per class, every class present."""
    loss = getattr(problem.network, "loss", None)
    if getattr(loss, "link", "") != "softmax" or not getattr(loss, "rows_sum_to_one", False):
        return []
    model = _model(problem.network)
    last = model.layers[-1] if model.layers else None
    if not isinstance(last, Linear):
        return []
    path = str(len(model.layers) - 1)
    params = {p.name for p in model.parameters() if p.path == path}
    classes = last.out_features
    found: dict[tuple, dict[int, int]] = {}
    position = 0
    for tags, n in zip(_sizes(problem, equalities, counts), counts):
        for k in range(n):
            tag = tags[k] if tags is not None else None
            if isinstance(tag, Tag) and tag.param in params:
                group = found.setdefault((tag.key, tag.param, tag.index[1:]), {})
                group.setdefault(tag.index[0], position + k)
        position += n
    return [[g[j] for j in range(classes)] for g in found.values() if len(g) == classes]
