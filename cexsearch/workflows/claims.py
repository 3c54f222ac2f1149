"""Claims: "for every weight and dataset allowed, if every `given` holds then every `then` holds".

A claim is decided by searching for a witness of ``given`` and ``not then``
with the same engine as ``find``: *refuted* when a witness is found (and
confirmed by the exact re-check), *holds* when every case at every listed size
is decided unsatisfiable, *unknown* otherwise.  Claim files are TOML; numbers
in them are exact (TOML decimals are read as :class:`decimal.Decimal`, never
through a binary float).

>>> c = Claim(name="one sample", net="1-1-1", samples=1, given=["grad(b2) == 0"],
...           then=["grad(W1) == 0"], expect="holds")
>>> check_claim(c).verdict
'holds'
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ..engine.options import SearchOptions
from ..engine.search import Outcome, SearchStats, search_or_unknown
from ..errors import CexsearchError
from ..model.network import Network
from ..semantics.numeric import recheck
from .claim import Claim, ClaimVerdict


@dataclass(frozen=True)
class Case:
    """One network and batch size of a claim."""

    net: str
    samples: int
    verdict: Literal["holds", "refuted", "unknown", "skipped"]
    outcome: Outcome | None
    elapsed: float
    replayed: bool = False
    note: str | None = None  # what an invariant's induction proved, or why it did not
    counterexample: Outcome | None = None  # to induction: a state one step takes out of the invariant


@dataclass(frozen=True)
class ClaimOutcome:
    """A claim's verdict, its cases, and the refuting witness (when refuted)."""

    claim: Claim
    verdict: ClaimVerdict
    cases: tuple[Case, ...]
    elapsed: float
    witness: Outcome | None = None
    smallest: bool = True
    reason: str | None = None
    interrupted: bool = False
    scope: str | None = None  # for every step, for every batch size: what a verdict covers beyond its sizes

    @property
    def counterexample(self) -> Outcome | None:
        """A counterexample to induction, when an invariant was not proven."""
        return next((c.counterexample for c in self.cases if c.counterexample is not None), None)

    @property
    def expected(self) -> str:
        return self.claim.expect

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.claim.expect

    @property
    def size_text(self) -> str:
        if self.witness is not None:
            p = self.witness.problem
            text = p.network.text
            if self.claim.layer_nets:  # as the claim writes it (LeakyReLU(0.5), not the model's LeakyReLU(1/2))
                text = next((n for n, m in zip(self.claim.net, self.claim.networks()) if m.text == text), text)
            return f"{text} x {p.samples}"
        nets = ", ".join(self.claim.net)
        if self.claim.all_sizes:
            return f"{nets} x all"
        sizes = self.claim.samples
        span = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}..{sizes[-1]}" if list(sizes) == list(
            range(sizes[0], sizes[-1] + 1)) else ",".join(map(str, sizes))
        return f"{nets} x {span}"


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return (s or "claim")[:100]


def _replay_certificate(claim: Claim, doc: dict, path: Path) -> Case | None:
    """A stored witness over the reals: its certificate re-proven for this claim's problem."""
    from ..semantics import certify
    from .witness import _number
    from .witness_classify import as_certificate, read_certificate

    try:
        networks = {n.text: n for n in claim.networks()}
        network = networks.get(str(doc.get("network", {}).get("notation", "")) or next(iter(networks)))
        samples = int(doc.get("samples", 0))
        if network is None or samples not in claim.samples:
            return None
        problem = claim.problem(network, samples)
        names = getattr(problem.network, "names", None)
        record = read_certificate(doc["certificate"], lambda shown: (names.internal(shown) if names else None) or shown,
                                  _number, str(path))
        cert = as_certificate(record, problem, certify)
    except (CexsearchError, TypeError, ValueError, KeyError, StopIteration):
        return None
    started = time.monotonic()
    if not certify.check_certificate(problem, cert):
        return None
    stats = SearchStats("replay", 0, elapsed=time.monotonic() - started)
    outcome = Outcome("found", problem, stats, witness=cert.center, recheck=recheck(problem, cert.center),
                      reason=f"replayed from {path}", domain="real", certificate=cert)
    return Case(network.text, samples, "refuted", outcome, stats.elapsed, replayed=True)


def replay(claim: Claim, store: Path | None) -> Case | None:
    """A stored witness that still refutes this (unchanged) claim, checked exactly, without Z3."""
    if store is None:
        return None
    path = store / f"{slug(claim.name)}.json"
    if not path.is_file():
        return None
    from .witness import load_document

    try:
        text = path.read_text(encoding="utf-8")
        _, assignment, doc = load_document(text, where=str(path))
    except (OSError, UnicodeDecodeError, CexsearchError):  # unreadable or corrupt: search anew
        return None
    meta = doc.get("claim")
    if not isinstance(meta, dict) or meta.get("fingerprint") != claim.fingerprint():
        return None
    if "certificate" in doc:
        return _replay_certificate(claim, doc, path)
    if assignment is None:
        return None
    net_text = assignment.network.text
    if assignment.samples not in claim.samples:
        return None
    try:
        network = {n.text: n for n in claim.networks()}.get(net_text)
        if network is None:
            return None
        problem = claim.problem(network, assignment.samples)
    except CexsearchError:
        return None
    started = time.monotonic()
    try:
        check = recheck(problem, assignment)
    except CexsearchError:  # a document that cannot answer this problem (a training run's without its lr)
        return None
    if not check.confirmed:
        return None
    stats = SearchStats("replay", 0, elapsed=time.monotonic() - started)
    exp = bool(getattr(getattr(problem.network, "loss", None), "link", ""))  # bce, ce: an exact rational witness
    outcome = Outcome("found", problem, stats, witness=assignment, recheck=check,
                      reason=f"replayed from {path}", domain="rational" if exp else "")
    return Case(net_text, assignment.samples, "refuted", outcome, stats.elapsed, replayed=True)


def decide_case(claim: Claim, network: Network, samples: int, options: SearchOptions = SearchOptions()) -> Case:
    """Decide one network and batch size of a claim: search for a witness of given and not-then there.

    ``options.timeout`` bounds this one search.  The pytest plugin decides its items with this,
    and :func:`check_claim` its cases.
    """
    started = time.monotonic()
    if claim.invariant:
        from .invariant import decide_invariant

        answer = decide_invariant(claim, network, samples, options)
        return Case(network.text, samples, answer.verdict, answer.outcome, time.monotonic() - started,  # type: ignore[arg-type]
                    note=answer.reason, counterexample=answer.counterexample)
    outcome = settled(claim, search_or_unknown(claim.problem(network, samples), options))  # a size refusal is unknown
    verdict = {"found": "refuted", "none": "holds", "unknown": "unknown"}[outcome.verdict]
    return Case(network.text, samples, verdict, outcome, time.monotonic() - started)  # type: ignore[arg-type]


#: (outcome verdict, Outcome.domain, the claim's domain) that do not settle the claim, and why
UNSETTLED = {
    ("none", "rational", "real"): "none over the rationals does not settle a claim over the reals",
    ("found", "real", "rational"): "a witness over the reals (a certified box) does not settle a claim over the "
                                   "rationals",
}


def settled(claim: Claim, outcome: Outcome) -> Outcome:
    """The outcome as the claim's verdict reads it: a verdict over other numbers than the claim's
    (``domain``) is unknown for it (no rational witness says nothing of the reals)."""
    why = UNSETTLED.get((outcome.verdict, outcome.domain, claim.over))
    if why is None:
        return outcome
    return replace(outcome, verdict="unknown", reason=why)


def shrink_witness(witness: Outcome, options: SearchOptions, shrink_time: float) -> Outcome:
    """A refuting witness shrunk (:mod:`cexsearch.workflows.shrink`) for up to ``shrink_time`` seconds."""
    from .shrink import shrink

    if witness.certificate is not None:  # a certified box over the reals is its own proof
        return witness
    small = shrink(witness.problem, witness, replace(options, timeout=None), shrink_time)
    return replace(small.outcome, stats=witness.stats, shrink=small.proven + small.notes, domain=witness.domain)


def check_claim(
    claim: Claim,
    timeout: float | None = None,
    store: str | Path | None = None,
    options: SearchOptions = SearchOptions(),
    progress: Callable[[str], None] | None = None,
    shrink_time: float = 0.0,
) -> ClaimOutcome:
    """Decide a claim at every listed network and size (the API behind ``cexsearch check``).

    ``timeout`` bounds the whole claim (the claim's own ``timeout`` key wins).
    With ``store``, a stored witness is replayed first and a new one is saved.
    With ``shrink_time``, a refuting witness is shrunk (:mod:`cexsearch.workflows.shrink`) before it is kept.
    """
    started = time.monotonic()
    limit = claim.timeout if claim.timeout is not None else timeout
    deadline = started + float(limit) if limit is not None else None
    claim.validate()
    store_dir = Path(store) if store is not None else None
    replayed = replay(claim, store_dir)
    if replayed is not None:
        assert replayed.outcome is not None
        doc_smallest = True
        return ClaimOutcome(claim, "refuted", (replayed,), time.monotonic() - started, replayed.outcome, doc_smallest)
    cases: list[Case] = []
    witness: Outcome | None = None
    smallest = True
    reasons: list[str] = []
    interrupted = False
    for network in claim.networks():
        undecided_below = False
        for samples in claim.samples:
            if witness is not None and witness.problem.network == network:
                cases.append(Case(network.text, samples, "skipped", None, 0.0))
                continue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                cases.append(Case(network.text, samples, "unknown", None, 0.0))
                reasons.append(f"{network.text} x {samples}: not reached before the timeout")
                undecided_below = True
                continue
            if progress:
                progress(f"{claim.name}: {network.text} x {samples}")
            case = decide_case(claim, network, samples, replace(options, timeout=left))
            outcome = case.outcome
            assert outcome is not None
            case_verdict = case.verdict
            cases.append(case)
            if outcome.interrupted:
                interrupted = True
                break
            if case_verdict == "unknown":
                undecided_below = True
                reasons.append(f"{network.text} x {samples}: {outcome.reason}")
            elif case_verdict == "refuted" and witness is None:
                witness = outcome
                smallest = not undecided_below
        if interrupted:
            break
    if witness is not None and shrink_time > 0 and not interrupted:
        witness = shrink_witness(witness, options, shrink_time)
    if witness is not None:
        verdict: ClaimVerdict = "refuted"
    elif all(c.verdict == "holds" for c in cases):
        verdict = "holds"
    else:
        verdict = "unknown"
    result = ClaimOutcome(claim, verdict, tuple(cases), time.monotonic() - started, witness, smallest,
                          "; ".join(reasons) or None, interrupted, scope_of(claim, verdict, cases))
    if witness is not None and store_dir is not None:
        save_witness(result, store_dir)
    return result


def scope_of(claim: Claim, verdict: str, cases: Sequence[Case]) -> str | None:
    """What a verdict covers beyond the sizes searched: every step (an invariant), every batch size."""
    parts = []
    if verdict == "holds" and claim.invariant:
        parts.append(next((c.note for c in cases if c.note), "holds for every step"))
    if verdict != "unknown" and claim.all_sizes:
        from .allsizes import SCOPE

        parts.append(SCOPE[verdict])
    return "; ".join(parts) or None


def claim_document(result: ClaimOutcome) -> dict[str, Any]:
    from .witness import outcome_document

    doc = outcome_document(result.witness) if result.witness is not None else {}
    doc["claim"] = {
        "name": result.claim.name,
        "fingerprint": result.claim.fingerprint(),
        "given": list(result.claim.given),
        "then": list(result.claim.then),
        "expect": result.claim.expect,
        "verdict": result.verdict,
        "smallest_size": result.smallest,
    }
    if result.claim.invariant:
        doc["claim"]["invariant"] = list(result.claim.invariant)
    if result.scope:
        doc["claim"]["scope"] = result.scope
    return doc


def save_witness(result: ClaimOutcome, store: Path) -> Path:
    from .witness import dumps, write_atomic

    path = store / f"{slug(result.claim.name)}.json"
    write_atomic(path, dumps(claim_document(result)))
    return path


def check_claims(claims: Sequence[Claim], **kwargs: Any) -> list[ClaimOutcome]:
    return [check_claim(c, **kwargs) for c in claims]
