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

import decimal
import hashlib
import json
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from . import conditions as C
from .api import NetworkSettings, build_problem, is_layer_notation, layer_network, parse_conditions, parse_input_shape
from .errors import CexsearchError, ClaimFileError, InputError, TooLarge
from .numeric import recheck
from .search import Outcome, SearchStats, search_or_unknown
from .spec import MAX_SAMPLES, MAX_TIMEOUT, Network, Problem, SearchOptions, nearest, valid_timeout

ClaimVerdict = Literal["holds", "refuted", "unknown"]
EXPECTS = ("holds", "refuted")
CLAIM_KEYS = ("name", "net", "samples", "given", "then", "fix", "integers", "bound", "expect", "note",
              "activation", "loss", "bias", "relu_grad_at_zero", "leaky_slope", "timeout", "markers", "torch",
              "weights_from_module", "input_shape", "huber_delta")
TORCH_DECIDES = ("net", "activation", "bias", "leaky_slope")  # keys a claim with torch = ... takes from the module
DEFAULT_KEYS = tuple(k for k in CLAIM_KEYS if k != "name")


def parse_sizes(raw: Any, where: str) -> tuple[int, ...]:
    """``3``, ``"1..4"``, ``[1, 2, 5]`` -> sizes in increasing order."""
    if isinstance(raw, bool):
        raise ClaimFileError(f"samples must be an integer or a range such as \"1..4\", got {raw!r}", where=where)
    if isinstance(raw, int):
        bounds = [raw]
    elif isinstance(raw, str):
        m = re.fullmatch(r"\s*([0-9]+)\s*(?:\.\.\s*([0-9]+)\s*)?", raw)
        if not m:
            raise ClaimFileError(f"samples {C.brief(raw)} is not a size or a range", where=where,
                                 hint='e.g. 3 or "1..4"')
        # more digits than the limit has is beyond it (and int() of thousands of digits fails)
        bounds = [int(g) if len(g.lstrip("0")) <= len(str(MAX_SAMPLES)) else MAX_SAMPLES + 1
                  for g in m.groups() if g is not None]
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise ClaimFileError(f"samples range {raw!r} is empty", where=where,
                                 hint=f"write \"{bounds[1]}..{bounds[0]}\"")
    elif isinstance(raw, (list, tuple)) and raw and all(isinstance(s, int) and not isinstance(s, bool) for s in raw):
        bounds = list(raw)
    else:
        raise ClaimFileError(f"samples must be an integer, a range such as \"1..4\" or a list, got {C.brief(raw)}",
                             where=where)
    for s in bounds:
        if s < 1:
            raise ClaimFileError(f"samples must be at least 1, got {s}", where=where)
        if s > MAX_SAMPLES:  # before a range is expanded
            raise ClaimFileError(f"samples {C.brief(raw)} goes above the limit of {MAX_SAMPLES}", where=where,
                                 hint="use smaller batches")
    if isinstance(raw, str) and len(bounds) == 2:
        return tuple(range(bounds[0], bounds[1] + 1))
    return tuple(sorted(set(bounds)))


def _strings(raw: Any, key: str, where: str, allow_empty: bool = True) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(r, str) for r in raw):
        raise ClaimFileError(f"{key} must be a list of condition strings, got {raw!r}", where=where,
                             hint=f'e.g. {key} = ["grad(W1) == 0"]')
    if not raw and not allow_empty:
        raise ClaimFileError(f"{key} is empty: a claim needs at least one condition to conclude", where=where,
                             hint=f'e.g. {key} = ["grad(W1) == 0"]')
    return tuple(raw)


@dataclass(frozen=True)
class Claim:
    """One claim.  ``net`` and ``samples`` accept what a claim file does (a list, a range).

    The network is ``net`` (widths and the settings below), or a PyTorch module: ``model``
    (an ``nn.Module``, an ``nn.Module`` class or a function returning one) in Python,
    ``torch = "PATH.py:NAME"`` (relative to the claim file) in a file.  Then conditions and
    ``fix`` use the module's parameter names, and ``weights_from_module`` fixes every
    parameter to the module's current values.
    """

    name: str
    net: Any = None
    samples: Any = None
    then: Any = ()
    expect: str = ""
    given: Any = ()
    fix: Any = field(default_factory=dict)
    integers: bool = False
    bound: Any = None
    note: str = ""
    activation: str = "relu"
    loss: str = "mse"
    bias: bool = True
    relu_grad_at_zero: int = 0
    leaky_slope: Any = "1/100"
    timeout: float | None = None
    markers: Any = ()  # pytest markers for the claim's test items (the pytest plugin); no effect on the verdict
    file: str | None = None
    line: int | None = None
    model: Any = None
    torch: str | None = None
    weights_from_module: bool = False
    input_shape: Any = None  # one sample's shape, for a net in PyTorch's notation: [1, 8] or "1,8"
    huber_delta: Any = None
    torch_network: Any = field(default=None, init=False, repr=False, compare=False)  # a torchnet.TorchNetwork

    def __post_init__(self) -> None:
        where = self.where
        if not isinstance(self.name, str) or not self.name.strip():
            raise ClaimFileError(f"name must be a non-empty string, got {self.name!r}", where=where)
        if not isinstance(self.weights_from_module, bool):
            raise ClaimFileError(f"weights_from_module must be true or false, got {self.weights_from_module!r}",
                                 where=where)
        if self.model is not None or self.torch is not None:
            self._read_module(where)
        elif self.weights_from_module:
            raise ClaimFileError("weights_from_module needs a module", where=where,
                                 hint='add torch = "PATH.py:NAME" (or model= in Python)')
        nets = [self.net] if isinstance(self.net, str) else self.net
        if not isinstance(nets, (list, tuple)) or not nets or not all(isinstance(n, str) for n in nets):
            raise ClaimFileError(f"net must be a string such as \"1-1-1\" or a list of them, got {self.net!r}", where=where)
        object.__setattr__(self, "net", tuple(nets))
        object.__setattr__(self, "samples", parse_sizes(self.samples, where))
        object.__setattr__(self, "given", _strings(self.given, "given", where))
        object.__setattr__(self, "then", _strings(self.then, "then", where, allow_empty=False))
        if self.expect not in EXPECTS:
            guess = nearest(str(self.expect), EXPECTS)
            raise ClaimFileError(f"expect must be \"holds\" or \"refuted\", got {self.expect!r}", where=where,
                                 hint=f"did you mean {guess!r}?" if guess else None)
        if not isinstance(self.fix, dict):
            raise ClaimFileError(f"fix must be a table such as {{ W1 = \"1\" }}, got {self.fix!r}", where=where)
        # TOML reads fix.fc1.weight = 1 as a nested table: a module's names are dotted
        object.__setattr__(self, "fix", _dotted(self.fix) if self.torch_network is not None else dict(self.fix))
        for key, kind in (("integers", bool), ("bias", bool), ("note", str), ("activation", str), ("loss", str)):
            if not isinstance(getattr(self, key), kind):
                raise ClaimFileError(f"{key} must be a {kind.__name__}, got {getattr(self, key)!r}", where=where)
        marks = [self.markers] if isinstance(self.markers, str) else self.markers
        if not isinstance(marks, (list, tuple)) or not all(isinstance(m, str) and m.isidentifier() for m in marks):
            raise ClaimFileError(f"markers must be a list of pytest marker names, got {C.brief(self.markers)}",
                                 where=where, hint='e.g. markers = ["slow"]')
        object.__setattr__(self, "markers", tuple(marks))
        if self.relu_grad_at_zero not in (0, 1) or isinstance(self.relu_grad_at_zero, bool):
            raise ClaimFileError(f"relu_grad_at_zero must be 0 or 1, got {self.relu_grad_at_zero!r}", where=where)
        if self.timeout is not None and not valid_timeout(self.timeout):
            raise ClaimFileError(f"timeout must be a positive number of seconds, got {self.timeout!r}", where=where,
                                 hint=f"e.g. timeout = 60, at most {MAX_TIMEOUT}")
        try:
            for key in ("bound", "leaky_slope"):
                raw = getattr(self, key)
                if raw is not None:
                    if isinstance(raw, (list, tuple, dict)):
                        raise ClaimFileError(f"{key} must be a number, got {C.brief(raw)}", where=where,
                                             hint=f'write one number, e.g. {key} = "1/100"')
                    object.__setattr__(self, key, C.value_tree(raw, key))
            self._check_layer_settings(where)
            if not self.layer_nets and self.torch_network is None:
                self.settings().network("1-1")  # validates activation, loss
            self.networks()  # a bad layer, argument or input shape fails here, with its column
            self.given_conditions()
            self.then_conditions()
        except ClaimFileError:
            raise
        except InputError as e:
            raise ClaimFileError(e.message, source=e.source, column=e.column, where=where, hint=e.hint) from None

    @property
    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")
        label = f"claim {self.name!r}" if isinstance(self.name, str) else "claim"
        return f"{place}: {label}" if place else label

    def _read_module(self, where: str) -> None:
        """Read the network from ``model`` or ``torch = "PATH.py:NAME"``."""
        from .torchnet import instantiate, load_reference, network_from_module

        if self.model is not None and self.torch is not None:
            raise ClaimFileError("model and torch both give the module", where=where, hint="give one of them")
        if self.net is not None:
            raise ClaimFileError("net and a module both give the network", where=where,
                                 hint="drop net: the module's layers decide the widths")
        if self.relu_grad_at_zero not in (0, 1) or isinstance(self.relu_grad_at_zero, bool):
            raise ClaimFileError(f"relu_grad_at_zero must be 0 or 1, got {self.relu_grad_at_zero!r}", where=where)
        try:
            if self.torch is not None:
                if not isinstance(self.torch, str):
                    raise ClaimFileError(f"torch must be a string \"PATH.py:NAME\", got {self.torch!r}", where=where)
                base = Path(self.file).parent if self.file else None
                module, label = load_reference(self.torch, base, "torch =")
            else:
                label = "model"
                module = instantiate(self.model, label)
            shape = self.input_shape  # normalised again (and checked) by _check_layer_settings
            shape = parse_input_shape(shape, "input_shape") if isinstance(shape, str) else shape
            delta = C.value_tree(self.huber_delta, "huber_delta") if self.huber_delta is not None else None
            found = network_from_module(module, label, self.loss, self.relu_grad_at_zero,
                                        tuple(shape) if shape is not None else None, delta, "input_shape")
        except ClaimFileError:
            raise
        except InputError as e:
            raise ClaimFileError(e.message, where=where, hint=e.hint) from None
        object.__setattr__(self, "torch_network", found)
        object.__setattr__(self, "net", found.network.text)

    @property
    def names(self) -> Any:
        """The module's parameter names (a :class:`ParameterNames`), or None for a network of widths."""
        return self.torch_network.network.names if self.torch_network is not None else None

    @property
    def layer_nets(self) -> bool:
        """Whether ``net`` is written in PyTorch's notation (every entry then is; see _check_layer_settings)."""
        return self.torch_network is None and any(is_layer_notation(n) for n in self.net)

    def _check_layer_settings(self, where: str) -> None:
        if self.input_shape is not None:
            shape = self.input_shape
            if isinstance(shape, str):
                shape = [int(p) if p.strip().isdigit() else p for p in shape.strip().strip("()[]").split(",")]
            if not (isinstance(shape, (list, tuple)) and shape
                    and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
                raise ClaimFileError(f"input_shape must be one sample's sizes, positive integers, got "
                                     f"{C.brief(self.input_shape)}", where=where,
                                     hint="e.g. input_shape = [1, 8] for Conv1d(1, ...) on length 8")
            object.__setattr__(self, "input_shape", tuple(shape))
        if not self.layer_nets:
            for key in ("input_shape", "huber_delta") if self.torch_network is None else ():
                if getattr(self, key) is not None:
                    raise ClaimFileError(f"{key} needs a net in PyTorch's notation", where=where,
                                         hint=f'drop {key}, or write net as layers, e.g. "Sequential(Linear(1, 1))"')
            return
        if not all(is_layer_notation(n) for n in self.net):
            raise ClaimFileError("net mixes PyTorch's notation and widths", where=where,
                                 hint="write one claim for each, or every net as layers")
        if self.input_shape is None:
            raise ClaimFileError("a net in PyTorch's notation needs input_shape", where=where,
                                 hint="give one sample's shape, e.g. input_shape = [1, 8] for Conv1d(1, ...) on length 8")
        mlp = [k for k, default in (("activation", "relu"), ("bias", True), ("leaky_slope", Fraction(1, 100)))
               if getattr(self, k) != default]
        if mlp:
            raise ClaimFileError(f"{mlp[0]} conflicts with a net in PyTorch's notation: its layers decide it",
                                 where=where, hint=f"drop {mlp[0]} and write it in the layers, e.g. LeakyReLU(0.1) or bias=False")
        if self.huber_delta is not None:
            object.__setattr__(self, "huber_delta", C.value_tree(self.huber_delta, "huber_delta"))
            if not isinstance(self.huber_delta, Fraction):
                raise ClaimFileError(f"huber_delta must be a number, got {C.brief(self.huber_delta)}", where=where)

    def _layer_model(self, text: str) -> Any:
        shape = ",".join(str(d) for d in self.input_shape)
        try:
            return layer_network(text, shape, self.loss, self.relu_grad_at_zero, self.huber_delta)
        except InputError as e:  # the CLI's words for these settings are the claim file's keys here
            def keys(text: str) -> str:
                for option in ("--input-shape", "--loss", "--huber-delta"):
                    text = text.replace(option, option[2:].replace("-", "_"))
                return text

            raise ClaimFileError(keys(e.message), source=e.source, column=e.column, where=self.where,
                                 hint=keys(e.hint) if e.hint else e.hint) from None

    def settings(self) -> NetworkSettings:
        return NetworkSettings(self.activation, Fraction(self.leaky_slope), self.bias, self.loss, self.relu_grad_at_zero)

    def network_for(self, text: str) -> Network:
        """The network of one of ``net``'s widths (the module's, for a claim about a module)."""
        if self.torch_network is not None:
            return self.torch_network.network
        if self.layer_nets:
            return self._layer_model(text)
        return self.settings().network(text)

    def networks(self) -> list[Network]:
        if self.torch_network is not None:
            return [self.torch_network.network]
        if self.layer_nets:
            return [self._layer_model(n) for n in self.net]
        try:
            return [self.settings().network(n) for n in self.net]
        except InputError as e:
            raise ClaimFileError(e.message, where=self.where, hint=e.hint) from None

    def given_conditions(self) -> tuple[C.Condition, ...]:
        return parse_conditions(self.given, "given", self.names)

    def then_conditions(self) -> tuple[C.Condition, ...]:
        return parse_conditions(self.then, "then", self.names)

    def negation_text(self) -> str:
        """The condition a refuting witness meets: not (then_1 and then_2 and ...)."""
        return "not (" + " and ".join(f"({t})" for t in self.then) + ")"

    def problem(self, network: Network, samples: int) -> Problem:
        """The search problem at one size: given and not-then, with this claim's fixed values and domain."""
        conds = list(self.given) + [self.negation_text()]
        try:
            from .spec import FixedValues

            network.check_samples(samples, "samples")  # before a fixed value fills x or y
            parts = [C.fixed_values(name, (), raw, network, samples, f"fix.{name}") for name, raw in self.fix.items()]
            if self.weights_from_module:
                parts.insert(0, self.torch_network.weights)
            fixed = C.combine_fixed(parts, network) if parts else FixedValues()
            return build_problem(network, samples, conds, fixed=fixed, integers=self.integers,
                                 bound=Fraction(self.bound) if self.bound is not None else None)
        except InputError as e:
            msg = e.message
            where = f"{self.where} at {network.text} x {samples}"
            raise ClaimFileError(msg, source=e.source, column=e.column, where=where, hint=e.hint) from None

    def validate(self) -> None:
        """Build every case's problem once, so a bad claim fails before any search runs."""
        for network in self.networks():
            for s in self.samples:
                self.problem(network, s)

    def fingerprint(self) -> str:
        """What decides the claim's verdict (not its name, note or expectation)."""
        body = {
            "net": list(self.net), "samples": list(self.samples), "given": list(self.given), "then": list(self.then),
            "fix": {k: _jsonable(v) for k, v in sorted(self.fix.items())}, "integers": self.integers,
            "bound": str(self.bound) if self.bound is not None else None, "settings": repr(self.settings()),
        }
        if self.layer_nets:  # the layers are in net; their input shape and the loss's delta decide it too
            body["input_shape"] = list(self.input_shape)
            body["huber_delta"] = str(self.huber_delta) if self.huber_delta is not None else None
        if self.torch_network is not None:  # the module's layers, names and (when fixed) weights decide it too
            body["module"] = self.torch_network.digest() if self.weights_from_module else repr(self.torch_network.network)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _dotted(table: dict, prefix: str = "") -> dict:
    """A fix table with nested tables flattened: TOML reads ``fix.fc1.weight = 1`` as {"fc1": {"weight": 1}}."""
    out: dict = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out.update(_dotted(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


@dataclass(frozen=True)
class Case:
    """One network and batch size of a claim."""

    net: str
    samples: int
    verdict: Literal["holds", "refuted", "unknown", "skipped"]
    outcome: Outcome | None
    elapsed: float
    replayed: bool = False


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
        sizes = self.claim.samples
        span = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}..{sizes[-1]}" if list(sizes) == list(
            range(sizes[0], sizes[-1] + 1)) else ",".join(map(str, sizes))
        return f"{nets} x {span}"


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return (s or "claim")[:100]


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
    if assignment is None or not isinstance(meta, dict) or meta.get("fingerprint") != claim.fingerprint():
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
    check = recheck(problem, assignment)
    if not check.confirmed:
        return None
    stats = SearchStats("replay", 0, elapsed=time.monotonic() - started)
    outcome = Outcome("found", problem, stats, witness=assignment, recheck=check,
                      reason=f"replayed from {path}")
    return Case(net_text, assignment.samples, "refuted", outcome, stats.elapsed, replayed=True)


def decide_case(claim: Claim, network: Network, samples: int, options: SearchOptions = SearchOptions()) -> Case:
    """Decide one network and batch size of a claim: search for a witness of given and not-then there.

    ``options.timeout`` bounds this one search.  The pytest plugin decides its items with this,
    and :func:`check_claim` its cases.
    """
    started = time.monotonic()
    outcome = search_or_unknown(claim.problem(network, samples), options)  # a size refusal is unknown here
    verdict = {"found": "refuted", "none": "holds", "unknown": "unknown"}[outcome.verdict]
    return Case(network.text, samples, verdict, outcome, time.monotonic() - started)  # type: ignore[arg-type]


def shrink_witness(witness: Outcome, options: SearchOptions, shrink_time: float) -> Outcome:
    """A refuting witness shrunk (:mod:`cexsearch.shrink`) for up to ``shrink_time`` seconds."""
    from .shrink import shrink

    small = shrink(witness.problem, witness, replace(options, timeout=None), shrink_time)
    return replace(small.outcome, stats=witness.stats, shrink=small.proven + small.notes)


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
    With ``shrink_time``, a refuting witness is shrunk (:mod:`cexsearch.shrink`) before it is kept.
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
                          "; ".join(reasons) or None, interrupted)
    if witness is not None and store_dir is not None:
        save_witness(result, store_dir)
    return result


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
    return doc


def save_witness(result: ClaimOutcome, store: Path) -> Path:
    from .witness import dumps, write_atomic

    path = store / f"{slug(result.claim.name)}.json"
    write_atomic(path, dumps(claim_document(result)))
    return path


# --------------------------------------------------------------------------
# Claim files


def _lines_of_claims(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if re.match(r"^\s*\[\[\s*claim\s*\]\]", line)]


def _key_line(text: str, header_line: int, key: str) -> int:
    """The line of ``key = ...`` in the table whose header is on ``header_line`` (1-based)."""
    lines = text.splitlines()
    for i in range(header_line, len(lines)):
        if re.match(r"^\s*\[", lines[i]):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return header_line


def load_claims(path: str | Path) -> list[Claim]:
    """Read and validate a claim file; raise :class:`ClaimFileError` naming file, line and claim."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClaimFileError(f"no such claim file: {str(p)!r}", hint="check the path") from None
    except UnicodeDecodeError as e:
        raise ClaimFileError(f"cannot read claim file {str(p)!r}: byte {e.object[e.start]:#04x} at offset {e.start} "
                             "is not UTF-8", hint="save the file as UTF-8") from None
    except OSError as e:
        raise ClaimFileError(f"cannot read claim file {str(p)!r}: {e.strerror or e}") from None
    return parse_claims(text, str(p))


def parse_claims(text: str, file: str = "<claims>") -> list[Claim]:
    try:
        data = tomllib.loads(text, parse_float=decimal.Decimal)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{file}:{m.group(1)}:{m.group(2)}" if m else file
        raise ClaimFileError(f"TOML syntax error: {msg}", where=where) from None
    except RecursionError:
        raise ClaimFileError("TOML nested too deeply to read", where=file,
                             hint="a claim file nests a few levels at most: check the brackets") from None
    except ValueError:  # an integer of thousands of digits
        raise TooLarge("a TOML integer has more digits than can be read", where=file,
                       hint="write numbers of at most 1000 digits") from None
    unknown_top = [k for k in data if k not in ("defaults", "claim")]
    if unknown_top:
        k = unknown_top[0]
        guess = nearest(k, ["defaults", "claim"])
        raise ClaimFileError(f"unknown top-level key {k!r}", where=file,
                             hint=f"did you mean {guess!r}? (claims are [[claim]] tables)" if guess else
                             "a claim file has [defaults] and [[claim]] tables")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ClaimFileError("[defaults] must be a table", where=file)
    for k in defaults:
        if k not in DEFAULT_KEYS:
            guess = nearest(k, DEFAULT_KEYS)
            header = next((i + 1 for i, t in enumerate(text.splitlines()) if re.match(r"^\s*\[\s*defaults\s*\]", t)), 1)
            line = _key_line(text, header, k)
            raise ClaimFileError(f"unknown key {k!r} in [defaults]", where=f"{file}:{line}",
                                 hint=f"did you mean {guess!r}?" if guess else f"keys: {', '.join(DEFAULT_KEYS)}")
    raw_claims = data.get("claim", [])
    if not isinstance(raw_claims, list) or not raw_claims:
        raise ClaimFileError("no [[claim]] tables in the file", where=file, hint="add one: [[claim]] name = ...")
    if not all(isinstance(raw, dict) for raw in raw_claims):
        raise ClaimFileError(f"'claim' must hold tables, got {C.brief(raw_claims)}", where=file,
                             hint="write each claim as a [[claim]] table with name = ..., net = ..., ...")
    headers = _lines_of_claims(text)
    claims: list[Claim] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_claims):
        line = headers[i] if i < len(headers) else None  # type: ignore[assignment]
        name = raw.get("name") if isinstance(raw.get("name"), str) else f"#{i + 1}"
        where = f"{file}:{line}: claim {name!r}" if line else f"{file}: claim {name!r}"
        for k in raw:
            if k not in CLAIM_KEYS:
                guess = nearest(k, CLAIM_KEYS)
                kline = _key_line(text, line or 1, k)
                raise ClaimFileError(f"unknown key {k!r}", where=f"{file}:{kline}: claim {name!r}",
                                     hint=f"did you mean {guess!r}?" if guess else f"keys: {', '.join(CLAIM_KEYS)}")
        merged = dict(defaults)
        merged.update(raw)
        if "torch" in merged:
            for k in TORCH_DECIDES:
                if k in raw or (k == "net" and k in merged and "torch" in raw):
                    kline = _key_line(text, line or 1, k)
                    raise ClaimFileError(f"{k} conflicts with torch: the module's layers decide it",
                                         where=f"{file}:{kline}: claim {name!r}", hint=f"drop {k}")
            merged.pop("net", None)  # a [defaults] net is for the claims without a module
        for required in ("name", "net", "samples", "then", "expect"):
            if required == "net" and "torch" in merged:
                continue
            if required not in merged:
                raise ClaimFileError(f"missing key {required!r}", where=where,
                                     hint={"expect": 'add expect = "holds" or "refuted"', "then": 'add then = ["..."]',
                                           "net": 'add net = "1-1-1"', "samples": "add samples = 1 or \"1..4\"",
                                           "name": "add name = \"...\""}[required])
        try:
            claim = Claim(file=file, line=line, **merged)  # validates the name before it is compared
            if claim.name in seen:
                raise ClaimFileError(f"two claims are named {claim.name!r}", where=where, hint="names must differ")
            seen.add(claim.name)
            claim.validate()
        except ClaimFileError as e:
            key_line = None
            if e.message.split(" ")[0] in CLAIM_KEYS and line:
                key_line = _key_line(text, line, e.message.split(" ")[0])
            if key_line and key_line != line:
                raise ClaimFileError(e.message, source=e.source, column=e.column,
                                     where=(e.where or where).replace(f"{file}:{line}", f"{file}:{key_line}", 1),
                                     hint=e.hint) from None
            raise
        except TypeError as e:
            raise ClaimFileError(f"bad claim: {e}", where=where) from None
        claims.append(claim)
    return claims


def check_claims(claims: Sequence[Claim], **kwargs: Any) -> list[ClaimOutcome]:
    return [check_claim(c, **kwargs) for c in claims]
