"""Claim files as pytest tests: one test item per claim, network and batch size.

Registered through the ``pytest11`` entry point ``cexsearch``.  A ``.toml`` file is
collected when its name matches ``*claims*.toml``, when it is listed (paths or globs,
relative to the rootdir) under ``[tool.cexsearch] claims = [...]`` in the rootdir's
``pyproject.toml``, or when it is given on the command line.

An item of a claim expected to *hold* passes when its own size is decided *holds*.
An item of a claim expected to be *refuted* passes when the claim is refuted: by a
witness at its own size, at another listed size, or replayed from the witness store
(which ``cexsearch check`` shares).  Sizes are decided with
:func:`cexsearch.workflows.claims.decide_case`, the function behind ``cexsearch check``.

This module imports only pytest and the standard library: the engine (Z3, numpy) is
imported when a claim file is collected, never in a run that collects none.
"""

from __future__ import annotations

import glob
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .engine.options import SearchOptions
    from .workflows.claim import Claim
    from .workflows.claims import Case, ClaimOutcome

NAME_PATTERN = "*claims*.toml"  # also covers claims*.toml
UNKNOWN_MODES = ("fail", "xfail")
DEFAULT_STORE = ".cexsearch/witnesses"  # as cexsearch check's --store


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cexsearch", "cexsearch claim files")
    group.addoption("--cexsearch-unknown", choices=UNKNOWN_MODES, default=None,
                    help="report a claim that is not decided (timeout, solver unknown) as failed (default) or xfailed.")
    group.addoption("--cexsearch-store", default=None, metavar="DIR",
                    help=f"where refuting witnesses are kept and replayed from (default {DEFAULT_STORE} "
                         "beside the pytest ini file, as cexsearch check run there).")
    group.addoption("--cexsearch-no-store", action="store_true", default=False,
                    help="neither replay nor save witnesses.")
    group.addoption("--cexsearch-timeout", default=None, metavar="SECONDS",
                    help="seconds for each claim and size (a claim's own timeout key wins); default no limit.")
    group.addoption("--cexsearch-shrink-time", default=None, metavar="SECONDS",
                    help="seconds for shrinking each refuting witness (default 10, 0 for none).")
    parser.addini("cexsearch_unknown", "fail or xfail: how an undecided claim is reported", default="fail")
    parser.addini("cexsearch_store", "witness store, relative to the ini file's directory", default=DEFAULT_STORE)
    parser.addini("cexsearch_timeout", "seconds for each claim and size", default="")
    parser.addini("cexsearch_shrink_time", "seconds for shrinking each refuting witness", default="10")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cexsearch: a claim from a cexsearch claim file, one item per size")
    from .engine.options import SearchOptions  # light: the standard library only

    config.stash[_RUNNER] = Runner(Settings.read(config), SearchOptions())
    config.stash[_PATTERNS] = listed_patterns(config.rootpath)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ClaimFile | None:
    if file_path.suffix != ".toml":
        return None
    if (Path(file_path.name).match(NAME_PATTERN) or parent.session.isinitpath(file_path)
            or file_path in listed_claim_files(parent.config)):
        return ClaimFile.from_parent(parent, path=file_path)
    return None


# --------------------------------------------------------------------------
# Settings


def _seconds(text: str, name: str, allow_zero: bool = False) -> float | None:
    from .engine.options import valid_timeout

    if text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (valid_timeout(value) or (allow_zero and value == 0)):
        raise pytest.UsageError(f"{name} {text!r} must be a positive number of seconds"
                                + (" (or 0)" if allow_zero else "") + ", e.g. 60")
    return value


@dataclass(frozen=True)
class Settings:
    """The plugin's options, read and checked once per run."""

    unknown: str = "fail"
    store: Path | None = None
    timeout: float | None = None
    shrink_time: float = 10.0

    @classmethod
    def read(cls, config: pytest.Config) -> Settings:
        unknown = config.getoption("cexsearch_unknown") or str(config.getini("cexsearch_unknown")).strip()
        if unknown not in UNKNOWN_MODES:
            raise pytest.UsageError(f"cexsearch_unknown = {unknown!r} must be 'fail' or 'xfail'")
        timeout = _seconds(config.getoption("cexsearch_timeout") or str(config.getini("cexsearch_timeout")),
                           "--cexsearch-timeout")
        shrink = _seconds(config.getoption("cexsearch_shrink_time") or str(config.getini("cexsearch_shrink_time")),
                          "--cexsearch-shrink-time", allow_zero=True)
        store: Path | None = None
        if not config.getoption("cexsearch_no_store"):
            option = config.getoption("cexsearch_store")
            if option:
                store = Path(option).absolute()
            else:
                base = config.inipath.parent if config.inipath else config.rootpath
                store = base / str(config.getini("cexsearch_store"))
        return cls(unknown, store, timeout, shrink or 0.0)


def listed_patterns(rootpath: Path) -> tuple[str, ...]:
    """``[tool.cexsearch] claims = [...]`` in the rootdir's pyproject.toml: paths or globs, relative to the rootdir."""
    pyproject = rootpath / "pyproject.toml"
    if not pyproject.is_file():
        return ()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise pytest.UsageError(f"{pyproject}: cannot read [tool.cexsearch]: {e}") from None
    section = data.get("tool", {}).get("cexsearch", {})
    patterns = section.get("claims", []) if isinstance(section, dict) else None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise pytest.UsageError(f"{pyproject}: [tool.cexsearch] claims must be a list of paths or globs, "
                                f'got {patterns!r} (e.g. claims = ["examples/*.toml"])')
    return tuple(patterns)


def listed_claim_files(config: pytest.Config) -> frozenset[Path]:
    """The files the listed patterns name, globbed once, when the first .toml file is seen."""
    if _LISTED not in config.stash:
        root = config.rootpath
        config.stash[_LISTED] = frozenset(
            Path(os.path.abspath(os.path.join(root, f)))
            for p in config.stash[_PATTERNS] for f in glob.glob(p, root_dir=root, recursive=True))
    return config.stash[_LISTED]


# --------------------------------------------------------------------------
# Collection


class ClaimFile(pytest.File):
    """A claim file: its claims, each at each listed network and batch size."""

    def collect(self) -> list[ClaimItem]:
        from .errors import ClaimFileError
        from .workflows.claimfile import load_claims

        try:
            claims = load_claims(self._shown_path())
        except ClaimFileError as e:
            raise self.CollectError(str(e)) from None
        items = []
        for claim in claims:
            marks = []
            for name in claim.markers:
                try:
                    marks.append(getattr(pytest.mark, name))
                except pytest.fail.Exception as e:  # --strict-markers and a marker not registered
                    raise self.CollectError(f"{claim.where}: {e.msg}") from None
            for net in claim.net:
                for samples in claim.samples:
                    name = f"{claim.name}[{net} x {samples}]"
                    # the id given as text, parsed as pytest parses the ids it stores (--lf), "[...]" as parameters
                    item = ClaimItem.from_parent(self, name=name, nodeid=f"{self.nodeid}::{name}", claim=claim,
                                                 net=net, samples=samples)
                    for mark in marks:
                        item.add_marker(mark)
                    items.append(item)
        return items

    def _shown_path(self) -> str:
        """The path as claim-file messages name it: relative to where pytest was started, when below it."""
        try:
            return str(self.path.relative_to(self.config.invocation_params.dir))
        except ValueError:
            return str(self.path)


class ClaimNotAsExpected(Exception):
    """A claim item whose verdict is not the expected one; the message is the whole failure text."""


class ClaimItem(pytest.Item):
    """One claim at one network and batch size."""

    def __init__(self, *, claim: Claim, net: str, samples: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.claim = claim
        self.net = net
        self.samples = samples
        self.add_marker("cexsearch")

    def runtest(self) -> None:
        from .output.export import verdict_message

        runner = self.config.stash[_RUNNER]
        result = runner.evaluate(self.claim, self.net, self.samples)
        self.user_properties.append(("verdict", result.verdict))
        self.user_properties.append(("expected", result.expected))
        if result.witness is not None:
            p = result.witness.problem
            self.user_properties.append(("witness_at", f"{p.network.text} x {p.samples}"))
        if result.as_expected:
            return
        text = verdict_message(result) + "\n" + _details(result)
        if result.verdict == "unknown" and runner.settings.unknown == "xfail":
            pytest.xfail(text)
        raise ClaimNotAsExpected(text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        from .errors import CexsearchError

        if isinstance(excinfo.value, (ClaimNotAsExpected, CexsearchError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.claim.line - 1) if self.claim.line else None, f"claim {self.name}"


def _details(result: ClaimOutcome) -> str:
    # each size decided for this item; an unknown's reason is in the verdict message already
    lines = [f"  {c.net} x {c.samples}: {c.verdict}" + (f" ({c.outcome.reason})" if c.outcome is not None
                                                          and c.outcome.reason and c.verdict == "refuted" else "")
             for c in result.cases]
    claim = result.claim
    where = f"{claim.file}:{claim.line}" if claim.file and claim.line else claim.file or "the claim file"
    lines.append(f"  claim at {where}; `cexsearch check {claim.file or 'FILE'} --explain markdown` shows the "
                 "derivation" if result.verdict == "refuted" else f"  claim at {where}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Deciding items


@dataclass
class Runner:
    """Decides claim items, each size once per process, sharing the witness store with ``cexsearch check``."""

    settings: Settings
    options: SearchOptions
    cases: dict[tuple[str, str, str, int], Case] = field(default_factory=dict)
    stored: dict[tuple[str, str], Case | None] = field(default_factory=dict)

    @staticmethod
    def key(claim: Claim) -> tuple[str, str]:
        return (claim.name, claim.fingerprint())

    def evaluate(self, claim: Claim, net: str, samples: int) -> ClaimOutcome:
        from .workflows.claims import ClaimOutcome

        if claim.expect == "refuted":
            known = self.known_refutation(claim)
            if known is not None:
                return self.outcome(claim, [known])
        case = self.case(claim, net, samples)
        if claim.expect == "holds" or case.verdict == "refuted":
            return self.outcome(claim, [case])
        # expected refuted, no witness at this size: another size may refute it, in check's order
        cases = [case]
        for other_net in claim.net:
            for s in claim.samples:
                if (other_net, s) != (net, samples):
                    cases.append(self.case(claim, other_net, s))
                    if cases[-1].verdict == "refuted":
                        return self.outcome(claim, [case, cases[-1]])
        verdict = "holds" if all(c.verdict == "holds" for c in cases) else "unknown"
        return ClaimOutcome(claim, verdict, tuple(cases), sum(c.elapsed for c in cases),  # type: ignore[arg-type]
                            reason=_reasons(cases))

    def outcome(self, claim: Claim, cases: list[Case]) -> ClaimOutcome:
        from .workflows.claims import ClaimOutcome

        last = cases[-1]
        witness = last.outcome if last.verdict == "refuted" else None
        verdict = "refuted" if witness is not None else last.verdict
        return ClaimOutcome(claim, verdict, tuple(cases), sum(c.elapsed for c in cases), witness,  # type: ignore[arg-type]
                            reason=_reasons(cases))

    def known_refutation(self, claim: Claim) -> Case | None:
        """A refuting case of this claim already at hand: decided in this process, or replayed from the store."""
        for (name, fingerprint, _, _), case in self.cases.items():
            if (name, fingerprint) == self.key(claim) and case.verdict == "refuted":
                return case
        return self.stored_case(claim)

    def stored_case(self, claim: Claim) -> Case | None:
        from .workflows.claims import replay

        if self.settings.store is None:
            return None
        if self.key(claim) not in self.stored:
            self.stored[self.key(claim)] = replay(claim, self.settings.store)
        return self.stored[self.key(claim)]

    def case(self, claim: Claim, net: str, samples: int) -> Case:
        from .workflows.claims import decide_case, shrink_witness

        key = (*self.key(claim), net, samples)
        if key in self.cases:
            return self.cases[key]
        stored = self.stored_case(claim)
        if stored is not None and (stored.net, stored.samples) == (net, samples):
            self.cases[key] = stored
            return stored
        limit = float(claim.timeout) if claim.timeout is not None else self.settings.timeout  # TOML: a Decimal
        case = decide_case(claim, claim.network_for(net), samples, replace(self.options, timeout=limit))
        assert case.outcome is not None
        if case.outcome.interrupted:
            raise KeyboardInterrupt
        if case.verdict == "refuted" and self.settings.shrink_time > 0:
            case = replace(case, outcome=shrink_witness(case.outcome, self.options, self.settings.shrink_time))
        self.cases[key] = case
        if case.verdict == "refuted":
            self.keep(claim, case)
        return case

    def keep(self, claim: Claim, case: Case) -> None:
        """Save a refuting witness unless the store already has one at the same or an earlier size (check's order)."""
        from .errors import InputError
        from .workflows.claims import ClaimOutcome, save_witness

        if self.settings.store is None:
            return
        order = [(n, s) for n in claim.net for s in claim.samples]
        stored = self.stored_case(claim)
        if stored is not None and order.index((stored.net, stored.samples)) <= order.index((case.net, case.samples)):
            return
        below = [(case.net, s) for s in claim.samples if s < case.samples]
        smallest = all(self.cases.get((*self.key(claim), n, s)) is not None
                       and self.cases[(*self.key(claim), n, s)].verdict == "holds" for n, s in below)
        try:
            save_witness(ClaimOutcome(claim, "refuted", (case,), case.elapsed, case.outcome, smallest),
                         self.settings.store)
        except InputError as e:
            import warnings

            warnings.warn(pytest.PytestWarning(f"cexsearch: witness not kept: {e}"), stacklevel=1)
            return
        self.stored[self.key(claim)] = replace(case, replayed=True)


def _reasons(cases: list[Case]) -> str | None:
    parts = [f"{c.net} x {c.samples}: {c.outcome.reason}" for c in cases
             if c.verdict == "unknown" and c.outcome is not None and c.outcome.reason]
    return "; ".join(parts) or None


_RUNNER = pytest.StashKey[Runner]()
_PATTERNS = pytest.StashKey[tuple[str, ...]]()
_LISTED = pytest.StashKey[frozenset[Path]]()
