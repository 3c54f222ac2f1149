"""Conflict-driven enumeration: cores of sign decisions learned from unsat checks, and the patterns they block.

A *literal* ``(m, u, b)`` is one sign decision of the enumeration: unit u of sample m on the active
branch (b = True) or not.  The enumeration asserts, for a literal, the constraint
``S(m, u, b)`` = :meth:`~cexsearch.engine.encoding.Encoding.unit_sign`, which reads the
pre-activation of unit u for sample m.  That term is a function of the free values and of the bits of
sample m's lower activations only (the encoding caches it under exactly that key), so:

**A core is valid everywhere it is contained.**  Let C be a set of literals, *closed* in the sense that
for every ``(m, u, b)`` in C whose unit lies above the first enumerated activation, C also holds
sample m's bits of every activation below u's (:func:`close`).  Then every ``S(l)``, l in C, is the
same formula in every pattern that contains C.  If ``domain and AND_{l in C} S(l)`` is unsatisfiable,
every pattern P containing C is unsatisfiable too, whatever the conditions: P's query is that
conjunction plus more constraints (P's other sign constraints, the conditions, the definitions).
So P has no witness and may be skipped ("blocked").  Only cores of this kind are learned: cores
over sign constraints alone.  The sign checks at the end of each sample (pruning) hold the domain
and sign constraints and nothing else.  A leaf's query also holds the conditions and the
definitions of open choices, whose gradient terms are built from the whole pattern (a residual reads
every unit of its sample, a gradient every sample); a core that used them would be valid only for
patterns agreeing on every bit those terms read, which for an MLP is every bit: nothing to learn.  So
a leaf is checked plainly (no core), and when it is unsat and its last sample's sign constraints were
not yet checked on their own, they are (a sign check, as pruning does): a core of that check is a
sign conflict.  Z3's cores need not be
minimal; any unsat subset of the asserted literals is a valid core (closing it only adds literals),
and a smaller one blocks more, so each is shrunk by dropping literals while it stays unsat.

**Symmetry.**  When the samples are interchangeable (:mod:`cexsearch.engine.symmetry`), renaming the
rows of x, y maps the problem to itself, domain and fixed values included, and maps ``S(m, u, b)`` to
``S(pi(m), u, b)``: the image of an unsat core under a sample permutation pi is an unsat core.  Likewise
for the channels of an interchangeable activation (an MLP's hidden units): permuting them renames the
rows of W_k, b_k and the columns of W_{k+1}, and maps a unit's sign constraint, lower bits included,
to its image's.  Images are learned with the core, up to :data:`IMAGE_LIMIT` of them (any subset of
the images is sound; a missing one only blocks less).

**Counting.**  A literal whose setting completes a learned core cuts the subtree below it: exactly
``2 ** (patterns' bits left)`` patterns, counted as *blocked*, the same way pruning and symmetry count
theirs, so each pattern is counted once, by the first reason on its path.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

Literal = tuple[int, int, bool]  # (sample, unit, active)
Core = frozenset[Literal]
IMAGE_LIMIT = 20_000  # images of one core under the symmetries; the rest are left out (sound, weaker)
TOTAL_IMAGE_LIMIT = 400_000  # images of all cores (memory: a few hundred bytes each); past it, cores alone


def close(core: Iterable[Literal], bits: Sequence[Sequence[bool | None]], below: Sequence[int]) -> Core:
    """The core with, for each literal, its sample's bits of the activations below its unit.

    ``below[u]``: how many units come before unit u's activation (its activation's first unit)."""
    out = set(core)
    for m, u, _ in list(out):
        for v in range(below[u]):
            b = bits[m][v]
            assert b is not None, "a lower bit is always decided before the units above it"
            out.add((m, v, b))
    return frozenset(out)


def describe(core: Iterable[Literal]) -> str:
    return ", ".join(f"(sample {m}, unit {u}) {'active' if b else 'inactive'}" for m, u, b in sorted(core))


class Cores:
    """Learned cores, each stored with its symmetric images, indexed by the literal decided last.

    ``channels``: for each interchangeable activation, its channels as lists of units (an MLP's
    hidden layer: one unit a channel); empty when no unit symmetry may be used.
    """

    def __init__(self, M: int, H: int, samples: bool, channels: Sequence[Sequence[Sequence[int]]] = ()) -> None:
        self.M, self.H = M, H
        self.samples = samples and M > 1
        self.channels = [list(map(list, group)) for group in channels if len(group) > 1]
        self.learned: list[Core] = []  # the cores as derived, numbered from 1 in descriptions
        self._seen: set[Core] = set()
        # last literal -> [(the learned core's number, the image, its active and inactive bits as masks
        # over positions m * H + u)]: containment in a prefix is then two integer operations
        self._index: dict[Literal, list[tuple[int, Core, int, int]]] = {}
        self.images = 0

    def __len__(self) -> int:
        return len(self.learned)

    def add(self, core: Core) -> bool:
        """Learn a core (and its images); False when it, or an image of it, was known."""
        if not core or core in self._seen:
            return False
        self.learned.append(core)
        number = len(self.learned)
        room = max(1, min(IMAGE_LIMIT, TOTAL_IMAGE_LIMIT - self.images))  # the core itself always
        for image in itertools.islice(self._images(core), room):
            if image in self._seen:
                continue
            self._seen.add(image)
            last = max(image, key=lambda lit: lit[0] * self.H + lit[1])
            ones = sum(1 << (m * self.H + u) for m, u, b in image if b)
            zeros = sum(1 << (m * self.H + u) for m, u, b in image if not b)
            self._index.setdefault(last, []).append((number, image, ones, zeros))
            self.images += 1
        return True

    def stored(self) -> Iterator[tuple[int, Core]]:
        """Every core kept, images included, with the number of the learned core it is an image of."""
        for entries in self._index.values():
            for number, image, _, _ in entries:
                yield number, image

    def blocking(self, bits: Sequence[Sequence[bool | None]], m: int, u: int, choice: bool) -> tuple[int, Core] | None:
        """(number, image) of a learned core that setting bit (m, u) to ``choice`` completes, given the
        bits before it; None when there is none."""
        entries = self._index.get((m, u, choice))
        if not entries:
            return None
        ones = zeros = 0
        bit = 1
        for row in bits:
            for b in row[: self.H]:
                if b is True:
                    ones |= bit
                elif b is False:
                    zeros |= bit
                bit <<= 1
        here = 1 << (m * self.H + u)
        if choice:
            ones |= here
        else:
            zeros |= here
        for number, image, need_ones, need_zeros in entries:
            if not (need_ones & ~ones or need_zeros & ~zeros):
                return number, image
        return None

    def _images(self, core: Core) -> Iterator[Core]:
        """The core first, then its images under sample and channel permutations."""
        yield core
        rows = sorted({m for m, _, _ in core})
        row_maps: Iterable[tuple[int, ...]] = itertools.permutations(range(self.M), len(rows)) \
            if self.samples else [tuple(rows)]
        unit_maps = [self._unit_maps(core, group) for group in self.channels]
        for target in row_maps:
            rmap = dict(zip(rows, target))
            for choice in itertools.product(*unit_maps) if unit_maps else [()]:
                umap: dict[int, int] = {}
                for part in choice:
                    umap.update(part)
                yield frozenset((rmap[m], umap.get(u, u), b) for m, u, b in core)

    @staticmethod
    def _unit_maps(core: Core, group: list[list[int]]) -> list[dict[int, int]]:
        """The ways to move the channels of ``group`` that the core touches onto distinct channels."""
        units = {u for _, u, _ in core}
        touched = [i for i, chan in enumerate(group) if units & set(chan)]
        maps = []
        for target in itertools.permutations(range(len(group)), len(touched)):
            maps.append({a: b for src, dst in zip(touched, target) for a, b in zip(group[src], group[dst])})
            if len(maps) >= IMAGE_LIMIT:
                break
        return maps
