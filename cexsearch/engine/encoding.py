"""A problem (an MLP or a layer model) as Z3 terms, read from the single trace, for the strategies.

An *activation pattern* says, for every sample and hidden unit, which branch of
the activation it takes (see :meth:`cexsearch.model.network.Network.is_active`).  The
terms are those of :func:`cexsearch.semantics.trace` over
:class:`~cexsearch.engine.z3algebra.Z3Algebra`, on the network's layer model
(:meth:`cexsearch.model.Model.from_network`): with the pattern fixed they are
polynomials in the free values; a bit left open (``None``) becomes an ``If``
on a named Boolean, which is how the If-encoding lets Z3 split on the ReLUs
itself.  Nothing here computes a forward pass or a gradient of its own.

Enumeration extends a pattern one unit at a time, so the pre-activations of a
sample are built layer by layer (:func:`cexsearch.semantics.trace.forward_layer`)
and kept per prefix of fixed bits; a constant pre-activation (the fixed values
decide it) is recognised without the solver.  Terms stay exact Python numbers
and linear forms (:class:`~cexsearch.engine.z3algebra.Lin`) wherever they can,
and become Z3 terms only when a condition reads them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np
import z3

from .. import lang as C
from ..errors import SpecError
from ..model.network import Index, Network, entries
from ..model.problem import Problem
from ..semantics.numeric import active_piece, loss_targets, model_of
from ..semantics.trace import Trace, forward_layer, parameters, trace
from ..semantics.training import unroll
from .z3algebra import Lin, Z3Algebra, in_piece, to_z3
from .z3links import SplitBackend, mentions

Bit = bool | None
# pattern[m][u]: sample m, unit u (units counted activation by activation, input side first)
Pattern = Sequence[Sequence[Bit]]


class Z3Backend:
    """The condition language read as Z3 formulas (see :func:`cexsearch.lang.evaluate`)."""

    def const(self, value: Fraction) -> z3.ArithRef:
        return to_z3(value)

    def true(self) -> z3.BoolRef:
        return z3.BoolVal(True)

    def and_(self, items: Sequence[Any]) -> z3.BoolRef:
        items = list(items)
        return z3.BoolVal(True) if not items else items[0] if len(items) == 1 else z3.And(*items)

    def or_(self, items: Sequence[Any]) -> z3.BoolRef:
        items = list(items)
        return z3.BoolVal(False) if not items else items[0] if len(items) == 1 else z3.Or(*items)

    def not_(self, item: Any) -> z3.BoolRef:
        return z3.Not(item)

    def eq(self, a: Any, b: Any) -> z3.BoolRef:
        return to_z3(a) == to_z3(b)

    def lt(self, a: Any, b: Any) -> z3.BoolRef:
        return to_z3(a) < to_z3(b)

    def le(self, a: Any, b: Any) -> z3.BoolRef:
        return to_z3(a) <= to_z3(b)


@dataclass(frozen=True)
class Unit:
    """A unit: enumerated activation k (1-based; for an MLP the hidden layer of W_k) and entry j of it
    (flattened, for a convolution channel-major)."""

    layer: int
    index: int


def free_variable(name: str, idx: Index, grid: int | None) -> tuple[Any, Any]:
    """(the Z3 variable a model assigns, its value as a term): a Real, or k/grid for an Int k."""
    label = name + "".join(f"_{i}" for i in idx)
    if grid is None:
        v = z3.Real(label)
        return v, Lin.of(v)
    k = z3.ToReal(z3.Int(label))
    return (k if grid == 1 else k / grid), Lin.of(k, Fraction(1, grid))


def domain_constraints(problem: Problem, free: Mapping[tuple[str, Index], Any]) -> list[Any]:
    """The search domain (bounds and the shrinker's limits) over the free variables."""
    dom = problem.domain
    out: list[Any] = []
    for v in free.values():
        for limit in (dom.bound, dom.max_abs):
            if limit is not None:
                out += [v >= to_z3(-limit), v <= to_z3(limit)]
    if dom.max_nonzero is not None:
        out.append(z3.Sum([z3.If(v != 0, 1, 0) for v in free.values()] or [z3.IntVal(0)]) <= dom.max_nonzero)
    if dom.max_abs_sum is not None:
        out.append(z3.Sum([z3.If(v >= 0, v, -v) for v in free.values()] or [z3.RealVal(0)])
                   <= to_z3(dom.max_abs_sum))
    return out


@dataclass(frozen=True)
class Site:
    """An enumerated activation: top-level layer ``index`` of the model, its per-sample input shape,
    and the piece indices of a unit's two branches (``{True: active, False: inactive}``)."""

    index: int
    shape: tuple[int, ...]
    table: Any
    pieces: Mapping[bool, int]

    @property
    def width(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def indices(self, rows: Sequence[Sequence[Bit]]) -> np.ndarray:
        """Each sample's bits of this activation as piece indices, -1 where a bit is open: (M, *shape)."""
        flat = [[-1 if b is None else self.pieces[b] for b in row] for row in rows]
        return np.array(flat, dtype=np.int64).reshape((len(rows), *self.shape))


def sites_of(model: Any) -> list[Site]:
    """The activations whose entries a pattern enumerates: top-level ones with two pieces.

    Every other choice (a max pool's argmax, a loss's piece, an activation of more pieces or
    inside a residual block) stays open in every query, as ``If`` terms: sound either way.
    """
    out = []
    for path, layer, in_shape, _ in model.walk():
        table = getattr(layer, "table", None)
        if "." in path or table is None or len(table.pieces) != 2:
            continue
        on = active_piece(table)
        if on is not None:
            out.append(Site(int(path), tuple(in_shape), table, {True: on, False: 1 - on}))
    return out


class Encoding:
    """Z3 variables for a problem's free values, and its constraints under a pattern.

    A *unit* is one entry of an enumerated activation (:func:`sites_of`), for each sample:
    for an MLP, a hidden unit (layer k, index j); for a convolution, a channel at a position.
    """

    def __init__(self, problem: Problem, split: bool | None = None) -> None:
        self.problem = problem
        net = problem.network
        self.network = net
        self.model = model_of(net) if isinstance(net, Network) else net
        #: a classification loss's equations split exactly for rational logits (engine/z3links.py)
        self.split = problem.over == "rational" if split is None else split
        self.links: Any = None
        self._split_cache: tuple[Any, Any, bool] | None = None  # (pattern, split conditions, do they read a P?)
        if self.model.loss.link and problem.training is not None:
            raise SpecError(f"training steps with the {self.model.loss.name} loss are not encoded: a step moves "
                            "the weights by exp-valued gradients", hint="drop --steps, or use a loss without exp")
        self.samples = problem.samples
        fixed = problem.fixed.as_dict()
        targets = loss_targets(net)
        self.values: dict[str, np.ndarray] = {}
        self.free: dict[tuple[str, Index], z3.ArithRef] = {}
        extra = []
        for name in self.model.variable_names():
            shape = net.shape(name, problem.samples)
            arr = np.empty(shape, dtype=object)
            for idx in entries(shape):
                if (name, idx) in fixed:
                    f = Fraction(fixed[(name, idx)])
                    arr[idx] = f.numerator if f.denominator == 1 else f
                    continue
                v, arr[idx] = free_variable(name, idx, problem.domain.grid)
                self.free[(name, idx)] = v
                if name == "y" and targets:  # hinge: each target is -1 or 1
                    extra.append(z3.Or([v == to_z3(t) for t in targets]))
            self.values[name] = arr
        self.domain = domain_constraints(problem, self.free) + extra + self._label_constraints()
        self.lr: Any = None
        if problem.training is not None:  # a free lr is any positive number (the domain's limits bind the values)
            lr = problem.training.lr
            if lr is None:
                self.free[("lr", ())] = z3.Real("lr")
                self.domain.append(self.free[("lr", ())] > 0)
                self.lr = Lin.of(self.free[("lr", ())])
            else:
                self.lr = lr.numerator if lr.denominator == 1 else lr
        self.sites = sites_of(self.model)
        self.units: list[Unit] = [Unit(k, j) for k, site in enumerate(self.sites, 1) for j in range(site.width)]
        self._layer_start = {}
        pos = 0
        for k, site in enumerate(self.sites, 1):
            self._layer_start[k] = pos
            pos += site.width
        self._params = parameters(self.model, {p: self.values[p] for p in self.model.parameter_names()},
                                  Z3Algebra())
        self._pre_cache: dict[tuple[int, int, tuple[Bit, ...]], list[Any]] = {}
        # the last batch trace: (pattern, with the fixed bits' sign constraints?, trace, definitions,
        # a training run's environment)
        self._last: tuple[Any, bool, Trace, tuple[Any, ...], dict[str, Any]] | None = None

    def _label_constraints(self) -> list[Any]:
        """A classification loss's targets: soft ones in [0, 1], ce rows summing to 1."""
        loss = self.model.loss
        if not loss.link:
            return []
        ys = self.values["y"]
        out: list[Any] = []
        if loss.target_range is not None:
            out += [z3.And(to_z3(v) >= 0, to_z3(v) <= 1) for v in ys.reshape(-1) if not isinstance(v, (int, Fraction))]
        if loss.rows_sum_to_one:
            out += [z3.Sum([to_z3(v) for v in row]) == 1 for row in ys.reshape(ys.shape[0], -1)]
        return out

    # -- one sample, layer by layer (enumeration) ----------------------------
    def pre_activations(self, m: int, layer: int, bits: Sequence[Bit]) -> list[Any]:
        """The input of enumerated activation ``layer`` (1-based) for sample m, flattened, given the
        (fixed) bits of the activations below it."""
        prefix = tuple(bits[: self._layer_start[layer]])
        key = (m, layer, prefix)
        hit = self._pre_cache.get(key)
        if hit is not None:
            return hit
        site = self.sites[layer - 1]
        if layer == 1:
            a, first = self.values["x"][m:m + 1], 0
        else:
            below = self.sites[layer - 2]
            z = np.array(self.pre_activations(m, layer - 1, bits), dtype=object).reshape((1, *below.shape))
            start = self._layer_start[layer - 1]
            alg = Z3Algebra({str(below.index): below.indices([prefix[start:start + below.width]])}, constraints=False)
            a, _ = forward_layer(self.model, self._params, below.index, z, alg)
            first = below.index + 1
        for i in range(first, site.index):  # the layers in between; their own choices stay open
            a, _ = forward_layer(self.model, self._params, i, a, Z3Algebra(constraints=False))
        out = list(a.reshape(-1))
        self._pre_cache[key] = out
        return out

    def unit_sign(self, m: int, u: int, bits: Sequence[Bit], active: bool) -> z3.BoolRef | bool:
        """The constraint that puts unit u of sample m on the branch ``active``; a Python bool
        when the fixed values decide it."""
        unit = self.units[u]
        site = self.sites[unit.layer - 1]
        z = self.pre_activations(m, unit.layer, bits)[unit.index]
        return in_piece(z, site.table.pieces[site.pieces[active]])

    # -- the whole batch -------------------------------------------------------
    def trace(self, pattern: Pattern, signs: bool = True) -> tuple[Trace, tuple[Any, ...]]:
        """The trace of the batch under a pattern (open bits, and every choice that is not a unit's,
        as If terms on named Booleans) and the definitions of those Booleans.  Without ``signs`` the
        fixed bits' sign constraints are left out: enumeration asserted them on its way to a leaf."""
        key = tuple(tuple(row) for row in pattern)
        if self._last is not None and self._last[0] == key and (self._last[1] or not signs):
            return self._last[2], self._last[3]
        fixed = {str(site.index): site.indices([row[self._layer_start[k]:self._layer_start[k] + site.width]
                                                for row in pattern])
                 for k, site in enumerate(self.sites, 1)}
        v = self.values
        params = {p: v[p] for p in self.model.parameter_names()}
        training = self.problem.training
        if training is None:
            alg = Z3Algebra(fixed, selectors=True, constraints=signs, lazy=True)
            t = trace(self.model, params, v["x"], v["y"], alg)
            self.links = alg.links
            self._last = (key, signs, t, tuple(alg.definitions), {})
            return t, self._last[3]
        # A training run: step 0 takes the pattern (its batch's rows of it, for sgd); every later step's
        # choices stay open, on Booleans of their own (each step has its own activation pattern).
        algebras: list[Z3Algebra] = []
        batch = list(training.batch(0, self.samples))

        def algebra_for(step: int, kind: str) -> Z3Algebra:
            if step == 0:
                rows = fixed if kind == "full" else {k: a[batch] for k, a in fixed.items()}
                alg = Z3Algebra(rows, selectors=True, constraints=signs, lazy=True, tag=f"{kind}0")
            else:
                alg = Z3Algebra(selectors=True, lazy=True, tag=f"{kind}{step}")
            algebras.append(alg)
            return alg

        used = set().union(*(C.names_used(c.root) for c in self.problem.conditions)) if self.problem.conditions else set()
        last = any(k.startswith(("grad@", "yhat@", "loss@")) and f"@{training.steps}" in k for k in used)
        # sgd's passes over the whole dataset: yhat@t and loss@t, and step 0's plain yhat, loss and grad(P)
        full = any(k.startswith(("yhat@", "loss@", "grad(")) for k in used) or "yhat" in used or "loss" in used
        run = unroll(self.model, params, v["x"], v["y"], training, self.lr, algebra_for, last=last, full=full)
        t0 = run.full[0] if run.full[0] is not None else run.traces[0]
        assert t0 is not None
        definitions = tuple(d for alg in algebras for d in alg.definitions)
        # every trace's constraints: step 0's sign constraints (with signs) and every step's definitions
        traces = {id(tr): tr for tr in run.traces + run.full if tr is not None}
        t0 = replace(t0, constraints=tuple(c for tr in traces.values() for c in tr.constraints))
        self._last = (key, signs, t0, definitions, run.environment())
        return t0, definitions

    def definitions(self, pattern: Pattern) -> list[z3.BoolRef]:
        """What defines the named Booleans of every choice the pattern leaves open (its open bits,
        and the choices that are not units: a max pool's, a loss's, a three-piece activation's),
        and a classification loss's relaxation (:meth:`link_constraints`)."""
        return list(self.trace(pattern, signs=False)[1]) + self.link_constraints(pattern)

    def link_constraints(self, pattern: Pattern) -> list[Any]:
        """The probabilities' relaxation (engine/z3links.py): always over the reals; with the split only
        when a condition still reads a probability (an inequality, or an equation it could not split)."""
        self.trace(pattern, signs=False)
        if self.links is None:
            return []
        if self.split:
            self.conditions(pattern)
            assert self._split_cache is not None
            if not self._split_cache[2]:
                return []
        return list(self.links.relaxation)

    def environment(self, pattern: Pattern) -> Mapping[str, np.ndarray]:
        """Values, yhat and grad(P) as Z3 terms under a pattern (bits may be None)."""
        t, _ = self.trace(pattern, signs=False)
        raw: dict[str, np.ndarray] = dict(self.values)
        raw.update(t.environment())
        assert self._last is not None
        raw.update(self._last[4])  # a training run's values at every step
        return _LazyZ3(raw)

    def conditions(self, pattern: Pattern) -> z3.BoolRef:
        if self.split and self.model.loss.link:  # the values as the trace left them: Affine forms stay visible
            t, _ = self.trace(pattern, signs=False)
            raw: dict[str, Any] = dict(self.values)
            raw.update(t.environment())
            key = tuple(tuple(row) for row in pattern)
            if self._split_cache is not None and self._split_cache[0] == key:
                return self._split_cache[1]
            split = SplitBackend(self.links)
            out = split.and_([C.holds(c, raw, split) for c in self.problem.conditions])
            out = z3.And(out, *self.links.definitions) if self.links.definitions else out  # outside any negation
            self.split_exact = split.exact
            self._split_cache = (key, out, mentions(out, self.links))
            return out
        env = self.environment(pattern)
        backend = Z3Backend()
        return backend.and_([C.holds(c, env, backend) for c in self.problem.conditions])

    def pattern_constraints(self, pattern: Pattern) -> list[z3.BoolRef]:
        """What must hold for the values to take the pattern: sign constraints of fixed bits, the
        definitions of open bits' Booleans; ``[False]`` when the fixed values rule it out."""
        out = []
        for c in self.trace(pattern)[0].constraints:
            if z3.is_false(c):
                return [z3.BoolVal(False)]
            out.append(c)
        return out + self.link_constraints(pattern)


class _LazyZ3(Mapping):
    """Name -> array of Z3 terms, converted only when a condition reads the name."""

    def __init__(self, raw: dict[str, np.ndarray]) -> None:
        self.raw = raw
        self.done: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.done:
            arr = self.raw[key]
            out = np.empty(arr.shape, dtype=object)
            for idx in np.ndindex(arr.shape):
                out[idx] = to_z3(arr[idx])
            self.done[key] = out
        return self.done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)
