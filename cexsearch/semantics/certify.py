"""Witnesses over the real numbers: a box proven to hold an exact solution.

With exp in the loss a witness may exist only at irrational points (sigmoid(z) = 1/3
needs z = -log 2).  A :class:`Certificate` is then the verdict's evidence: a box of a
few values around a rational centre, every other value rational, and a proof that

* every *equality* of the conditions has an exact solution in the box: its entries are
  scalar equations F; those whose interval enclosure over the box is exactly [0, 0] hold
  identically; the k others, in k box values, meet **Miranda's theorem** for the
  preconditioned system G = Y F (Y rational and nonsingular, about the inverse
  Jacobian): G_i <= 0 on the face v_i = lo_i and G_i >= 0 on the face v_i = hi_i, each
  enclosed by the interval trace (:mod:`.intervalalgebra`), faces bisected where
  needed.  G is continuous on the box because the whole-box trace chose one piece per
  entry; a zero of G is a zero of F because Y is nonsingular (checked exactly);
* every other condition, fixed value and domain limit holds on the *whole* box
  (three-valued interval reading, :mod:`.boxeval`; only a certain True counts).

Method "delta" proves p == y (the seed of backprop) the same way instead, when every
equality is ``grad(P)[...] == 0`` of a classification loss: where p - y = 0 every gradient
is 0, since backprop is linear in it (:mod:`.system`).  Of each softmax row of p - y,
and of each class column of the last Linear layer's gradients, one entry follows from
the others (``implied``, :mod:`.identities`).

So some real point of the box satisfies every condition exactly.  :func:`check_certificate`
re-proves all of it from the certificate alone; :func:`certify` builds one at a
centre (usually from :func:`cexsearch.semantics.refine.refine`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..model.network import Index
from ..model.problem import Assignment, Problem
from .boxeval import (
    IntervalBackend,
    Key,
    box_domain_failures,
    eligible,
    split,
)
from .identities import gradient_tags
from .intervalalgebra import BITS, Interval, NotCertifiable
from .pivots import determinant, select
from .system import System

F = Fraction
#: sub-faces tried per face before a face counts as not proven
FACE_BUDGET = 256
#: box half-widths tried, relative to max(1, |centre|), smallest first
RADII = (F(1, 2**32), F(1, 2**24), F(1, 2**16), F(1, 2**10), F(1, 2**6))


@dataclass(frozen=True)
class Certificate:
    """A box holding an exact real witness, and how to re-prove it.

    ``box`` holds (name, index, lo, hi) of the values that range over an interval, in the
    order of the system's variables; every other value is ``center``'s (rational; the box
    values' centres lie inside their boxes).  ``equations`` are the positions, among
    all the problem's scalar equations (:func:`cexsearch.semantics.boxeval.split`,
    entries row-major), of the k equations of the system, ``labels`` their text;
    ``preconditioner`` the rational k x k matrix Y; ``bits`` the interval precision;
    ``implied`` the equations that follow from the system's by an identity of the loss
    (:mod:`cexsearch.semantics.identities`).
    """

    center: Assignment
    box: tuple[tuple[str, Index, Fraction, Fraction], ...]
    equations: tuple[int, ...]
    labels: tuple[str, ...]
    preconditioner: tuple[tuple[Fraction, ...], ...]
    method: str = "miranda"
    bits: int = BITS
    implied: tuple[int, ...] = ()

    def intervals(self) -> dict[Key, Interval]:
        return {(n, i): Interval(lo, hi, self.bits) for n, i, lo, hi in self.box}

    def as_record(self) -> dict[str, Any]:
        """The certificate as plain JSON data (numbers as exact strings), for a document."""
        return {"method": self.method, "bits": self.bits,
                "box": [{"name": n, "index": list(i), "lo": str(lo), "hi": str(hi)} for n, i, lo, hi in self.box],
                "equations": list(self.equations), "labels": list(self.labels), "implied": list(self.implied),
                "preconditioner": [[str(v) for v in row] for row in self.preconditioner],
                "center": {n: [str(v) for v in flat] for n, flat in self.center.values},
                "lr": None if self.center.lr is None else str(self.center.lr)}

    @classmethod
    def from_record(cls, problem: Problem, record: dict[str, Any]) -> Certificate:
        """The certificate of :meth:`as_record`, for ``problem``'s network (ValueError/KeyError when malformed)."""
        values = tuple((n, tuple(F(v) for v in record["center"][n])) for n in problem.network.variable_names())
        lr = record.get("lr")
        center = Assignment(problem.network, problem.samples, values, None if lr is None else F(lr))
        box = tuple((str(b["name"]), tuple(int(i) for i in b["index"]), F(b["lo"]), F(b["hi"])) for b in record["box"])
        return cls(center, box, tuple(int(i) for i in record["equations"]), tuple(str(t) for t in record["labels"]),
                   tuple(tuple(F(v) for v in row) for row in record["preconditioner"]), str(record["method"]),
                   int(record["bits"]), tuple(int(i) for i in record.get("implied", ())))

    def describe(self) -> str:
        vals = ", ".join(f"{n}{list(i)} in [{float(lo):.12g}, {float(hi):.12g}]" for n, i, lo, hi in self.box)
        return f"an exact solution with {vals} ({self.method}, {len(self.equations)} equation(s))"


@dataclass(frozen=True)
class CertificateCheck:
    """The re-proof of a certificate: ``ok``, or the reasons it fails."""

    ok: bool
    reasons: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


def _short(x: float, bits: int = 30) -> Fraction:
    """x to about ``bits`` significant bits, as a Fraction (a preconditioner need not be exact)."""
    if x == 0 or not math.isfinite(x):
        return F(0)
    m, e = math.frexp(x)
    return F(round(m * (1 << bits))) * F(2) ** (e - bits)


def _pow2_at_least(v: Fraction) -> Fraction:
    e = 0
    while F(2) ** e < v:
        e += 1
    while F(2) ** (e - 1) >= v:
        e -= 1
    return F(2) ** e


def certify(problem: Problem, center: Assignment, free: Sequence[Key], bits: int = BITS,
            deadline: float | None = None, reasons: list[str] | None = None) -> Certificate | None:
    """A certificate of an exact real witness in a box about ``center`` (box values from ``free``), or None.

    Why an attempt failed goes to ``reasons`` when given.
    """
    note = reasons.append if reasons is not None else (lambda _text: None)
    cert = _certify(problem, center, free, bits, deadline, note, "conditions")
    if cert is None and delta_applies(problem):
        note("trying p == y instead (it implies every grad(P) == 0)")
        cert = _certify(problem, center, free, bits, deadline, note, "delta")
    return cert


def delta_applies(problem: Problem) -> bool:
    """Whether p == y proves the equalities: a classification loss, no training, and every
    equality ``grad(P)[...] == 0`` (backprop is linear in p - y)."""
    if problem.training is not None or not getattr(getattr(problem.network, "loss", None), "link", ""):
        return False
    equalities, _ = split(problem)
    if not equalities:
        return False
    for eq in equalities:
        tags = gradient_tags(problem, eq)
        if tags is None or any(not t.key.startswith("grad(") for t in tags):
            return False
    return True


def _certify(problem: Problem, center: Assignment, free: Sequence[Key], bits: int, deadline: float | None,
             note: Any, mode: str) -> Certificate | None:
    keys = [k for k in free if eligible(problem, k)]
    system = System(problem, center, bits, mode)
    if not keys or not system.equalities:
        note("no value may range over a box" if not keys else "no equality to solve: the exact re-check decides")
        return None
    point = {k: float(center.entry(*k)) for k in keys}
    try:
        at_center = system.intervals({})
        f0 = system.floats(point)
        jac = system.jacobian(keys, point)
        labels, groups = system.labels(), system.implied_groups()
    except (NotCertifiable, ArithmeticError, ValueError) as e:
        note(f"the centre cannot be evaluated: {e}")
        return None
    zero = {i for i, v in enumerate(at_center) if v.lo == v.hi == 0}
    implied: list[int] = []
    for g in groups:  # one equation of each group follows from the others
        if all(i not in implied for i in g):
            implied += [i for i in g if i not in zero][-1:]
    active = [i for i in range(len(at_center)) if i not in zero and i not in implied]
    for _ in range(4):
        if not active:
            note("every equation holds exactly at the centre: the exact re-check decides")
            return None
        chosen = select(jac[active], len(active))
        if chosen is None:
            note(f"the Jacobian of the {len(active)} equation(s) in the free values is singular (or too few values)")
            return None
        a = jac[np.ix_(active, chosen)]
        try:
            inverse = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            note("the Jacobian is singular")
            return None
        delta = -inverse @ f0[active]
        y = tuple(tuple(_short(float(v)) for v in row) for row in inverse)
        more: list[int] = []
        for rho in RADII:
            if deadline is not None and time.monotonic() > deadline:
                note("out of time")
                return None
            box = []
            for j, idx in enumerate(chosen):
                name, index = keys[idx]
                c = center.entry(name, index)
                scale = abs(c) if abs(c) > 1 else F(1)
                r = _pow2_at_least(max(rho * scale, F(4 * abs(float(delta[j]))) + rho * F(1, 2**8)))
                box.append((name, index, c - r, c + r))
            cert = Certificate(center, tuple(box), tuple(active), tuple(labels[i] for i in active), y,
                               "delta" if mode == "delta" else "miranda", bits, tuple(implied))
            failures, nonzero = _check(problem, cert, deadline)
            if not failures:
                return cert
            if nonzero:
                more = nonzero
                break
            note(f"radius {float(rho):.3g}: " + "; ".join(failures[:3]))
        if not more:
            return None
        active = sorted(set(active) | set(more))
    return None


def check_certificate(problem: Problem, cert: Certificate, deadline: float | None = None) -> CertificateCheck:
    """Re-prove a certificate from itself and the problem alone."""
    failures, _ = _check(problem, cert, deadline)
    return CertificateCheck(not failures, tuple(failures))


def _check(problem: Problem, cert: Certificate, deadline: float | None) -> tuple[list[str], list[int]]:  # noqa: C901
    """(why the certificate fails, the equations outside its system that are not 0 on the box)."""
    if cert.center.network != problem.network or cert.center.samples != problem.samples:
        return ["the certificate is for another network or batch size"], []
    k = len(cert.box)
    keys = [(n, i) for n, i, _, _ in cert.box]
    if cert.method not in ("miranda", "delta"):
        return [f"unknown method {cert.method!r}"], []
    if cert.method == "delta" and not delta_applies(problem):
        return ["p == y proves only equalities grad(P)[...] == 0 of a classification loss without training"], []
    if len(set(keys)) != k or len(cert.equations) != k or len(set(cert.equations)) != k or k == 0:
        return ["the box and the system do not match (k values, k distinct equations)"], []
    if len(cert.preconditioner) != k or any(len(row) != k for row in cert.preconditioner):
        return [f"the preconditioner is not {k} x {k}"], []
    if any(not lo < hi for _, _, lo, hi in cert.box):
        return ["a box interval is empty or a point"], []
    if determinant(cert.preconditioner) == 0:
        return ["the preconditioner is singular"], []
    box = cert.intervals()
    failures = box_domain_failures(problem, cert.center, box)
    if failures:
        return failures, []
    system = System(problem, cert.center, cert.bits, "delta" if cert.method == "delta" else "conditions")
    try:
        env = system.interval_env(box)
        values = [Interval.of(v, cert.bits) for v in system.vector(env, IntervalBackend())]
    except (NotCertifiable, ArithmeticError) as e:
        return [str(e)], []
    if any(not 0 <= i < len(values) for i in cert.equations):
        return ["the system names an equation the problem does not have"], []
    nonzero = [i for i, v in enumerate(values)
               if i not in cert.equations and i not in cert.implied and not v.lo == v.hi == 0]
    if nonzero:
        return [f"{len(nonzero)} equation(s) outside the system are not 0 on the whole box"], nonzero
    why_not = _implied_failures(system, cert, values)
    if why_not:
        return why_not, []
    backend = IntervalBackend()
    from .. import lang as C

    for text, expr in system.rest:
        try:
            truth = C.evaluate(expr, env, backend)
        except (NotCertifiable, ArithmeticError) as e:
            truth = None
            text = f"{text} ({e})"
        if truth is not True:
            failures.append(f"{text} is {'false' if truth is False else 'not certain'} on the box")
    if failures:
        return failures, []
    why = _miranda(system, keys, box, cert.preconditioner, list(cert.equations), deadline)
    return ([why] if why else []), []


def _implied_failures(system: System, cert: Certificate, values: Sequence[Interval]) -> list[str]:
    """Each implied equation must be one of a group summing to 0 identically whose other members
    are in the system or 0 on the whole box."""
    if not cert.implied:
        return []
    try:
        groups = system.implied_groups()
    except (ArithmeticError, ValueError) as e:
        return [f"the identities of the loss cannot be read at the centre: {e}"]
    out = []
    for i in cert.implied:
        ok = i not in cert.equations and any(
            i in g and all(j == i or (j not in cert.implied and (j in cert.equations or values[j] == Interval(0)))
                           for j in g) for g in groups)
        if not ok:
            out.append(f"equation {i} is named implied, but no identity implies it from the system")
    return out


def _miranda(system: System, keys: list[Key], box: dict[Key, Interval], y: Sequence[Sequence[Fraction]],
             ids: list[int], deadline: float | None) -> str | None:
    """None when G = Y F meets Miranda's sign conditions on every face, else why not."""
    k = len(keys)
    for i in range(k):
        for side in (0, 1):
            end = box[keys[i]].lo if side == 0 else box[keys[i]].hi
            face = dict(box)
            face[keys[i]] = Interval(end, end, system.bits)
            queue = [face]
            tried = 0
            while queue:
                if tried >= FACE_BUDGET or (deadline is not None and time.monotonic() > deadline):
                    return f"Miranda's condition on the {'low' if side == 0 else 'high'} face of {keys[i]} is " \
                           f"not proven within {tried} pieces"
                sub = queue.pop()
                tried += 1
                try:
                    f = system.intervals(sub)
                except (NotCertifiable, ArithmeticError) as e:
                    return str(e)
                g = Interval(0, 0, system.bits)
                for j in range(k):
                    g = g + f[ids[j]] * y[i][j]
                if (g.hi <= 0) if side == 0 else (g.lo >= 0):
                    continue
                if (g.lo > 0) if side == 0 else (g.hi < 0):
                    return f"G_{i} has the wrong sign on the {'low' if side == 0 else 'high'} face of {keys[i]}"
                dims = [j for j in range(k) if j != i and not sub[keys[j]].is_point]
                if not dims:
                    return f"G_{i} is not signed at a corner of the box (enclosure too wide)"
                j = max(dims, key=lambda d: sub[keys[d]].width / box[keys[d]].width)
                iv = sub[keys[j]]
                mid = iv.mid
                for lo, hi in ((iv.lo, mid), (mid, iv.hi)):
                    half = dict(sub)
                    half[keys[j]] = Interval(lo, hi, system.bits)
                    queue.append(half)
    return None


def refine(problem: Problem, start: Assignment, free: Sequence[Key], deadline: float | None = None) -> Assignment | None:
    """The numerical step (:func:`cexsearch.semantics.refine.refine`): a rational centre near a solution."""
    from .refine import refine as run

    return run(problem, start, free, deadline)
