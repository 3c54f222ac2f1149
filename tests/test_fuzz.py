"""Fuzzing the readers of what people write: conditions, --fix values, claim files, witness documents.

Every reader must either succeed or raise the package's own error
(:class:`cexsearch.errors.CexsearchError`) with a non-empty message; any other
exception is a bug.  Inputs are arbitrary text, arbitrary JSON and TOML values,
grammar-built near-valid expressions, and valid documents with random parts
deleted or replaced.  Where a reader succeeds, its result is used further
(checked against a network, evaluated exactly, re-checked) so that a bad value
cannot slip through one stage and crash the next.

Known bugs.  A defect the fuzzers can reach is pinned by a deterministic
``test_known_bug_*`` below, a strict xfail.  So that the property tests keep
hunting for *new* defects meanwhile, an exception matching a known bug's
signature (type, message, the cexsearch function that raised it) ends that
example quietly, counted as a Hypothesis event.  When a bug is fixed, its
strict xfail fails: delete the test's marker and its entry in ``KNOWN``.

The example budgets follow the Hypothesis profile (``dev``: 100 per test, 200
for the condition parser; ``ci``: ten times as many).
"""

from __future__ import annotations

import copy
import decimal
import json
import re
import traceback
from contextlib import suppress
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cexsearch import lang as C
from cexsearch.api import build_problem
from cexsearch.cli import app
from cexsearch.errors import CexsearchError
from cexsearch.model.network import Network
from cexsearch.model.problem import Assignment
from cexsearch.semantics.numeric import environment, evaluate, recheck
from cexsearch.workflows.claim import CLAIM_KEYS
from cexsearch.workflows.claimfile import parse_claims
from cexsearch.workflows.witness import SCHEMA, load_document

BASE_EXAMPLES = settings.default.max_examples  # 100 under the dev profile


def fuzz(multiple: int = 1) -> settings:
    return settings(max_examples=BASE_EXAMPLES * multiple, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


# --------------------------------------------------------------------------
# Known bugs: signature, and the strict xfail that pins each one


@dataclass(frozen=True)
class Known:
    test: str  # the test_known_bug_* pinning it
    kind: type[BaseException]
    message: str  # regular expression on str(exception)
    where: str  # "module.py:function" of the innermost cexsearch frame


KNOWN: tuple[Known, ...] = ()  # none open: each former entry's test_known_bug_* below now passes


def known_bug(e: BaseException) -> Known | None:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/cexsearch/" in f.filename.replace("\\", "/")]
    if not frames:
        return None
    where = f"{frames[-1].filename.replace(chr(92), '/').rsplit('/', 1)[-1]}:{frames[-1].name}"
    for k in KNOWN:
        if isinstance(e, k.kind) and re.search(k.message, str(e)) and where == k.where:
            return k
    return None


class _Stop(Exception):
    """The reader raised its own error (or a known bug): nothing further to check; the example passes."""


def read(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """fn(*args): its value, or _Stop when it raised a CexsearchError with a message (or a known bug)."""
    try:
        return fn(*args, **kwargs)
    except CexsearchError as e:
        assert str(e).strip(), f"{type(e).__name__} raised with an empty message"
        raise _Stop from None
    except Exception as e:
        k = known_bug(e)
        if k is None:
            raise
        event(f"known bug: {k.test}")
        raise _Stop from None


# --------------------------------------------------------------------------
# Conditions


NETWORKS = (
    (Network.parse("1-1-1"), 3),
    (Network.parse("2-3-1"), 2),
    (Network.parse("2-2-2", bias=False), 1),
    (Network.parse("1-2-2-1", activation="leaky_relu"), 2),
)


@cache
def environment_of(net: Network, samples: int) -> dict[str, np.ndarray]:
    """An exact environment (values, yhat, gradients) from small fixed rationals."""
    values = []
    k = 0
    for name in net.variable_names():
        size = int(np.prod(net.shape(name, samples)))
        flat = []
        for _ in range(size):
            flat.append(Fraction(k % 5 - 2, 1 + k % 3))
            k += 1
        values.append((name, tuple(flat)))
    a = Assignment(net, samples, tuple(values))
    return environment(a, evaluate(a, exact=True))


def parse_check_evaluate(text: str) -> None:
    cond = read(C.parse, text)
    assert isinstance(cond, C.Condition) and cond.text.strip()
    event("parsed")
    for net, samples in NETWORKS:
        try:
            read(C.check, cond, net, samples)
        except _Stop:
            continue
        event("fits a network and is evaluated")
        truth = C.holds(cond, environment_of(net, samples), C.ExactBackend())
        assert isinstance(truth, (bool, np.bool_)), f"{text!r} evaluated to {truth!r}"


NAMES = ("W1", "b1", "W2", "b2", "W3", "b3", "W0", "x", "y", "yhat", "z", "grad", "all", "True", "W1x")
PARAMS = ("W1", "b1", "W2", "b2", "W3", "W0", "x", "yhat", "1", "W1[0]")
NUMBER_TEXT = ("0", "1", "-1", "0.1", "2/3", "1e3", "1E-2", "0x10", "0b11", "0o7", "1_000", "1.", ".5", "1e", "1j",
               "007", "1e-30", "123456789012345678901234567890", "'1'", "None", "...")

numbers = st.one_of(
    st.integers(-50, 50).map(str),
    st.decimals(min_value=-100, max_value=100, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(NUMBER_TEXT),
)
index_item = st.one_of(
    st.integers(-5, 5).map(str),
    st.tuples(st.sampled_from(["", "0", "1", "-1", "3"]), st.sampled_from(["", "0", "1", "-1", "5"]),
              st.sampled_from([None, "", "1", "2", "-1", "0"])).map(
        lambda t: f"{t[0]}:{t[1]}" + (f":{t[2]}" if t[2] is not None else "")),
    st.sampled_from(["0.5", "True", "a", "...", "None", "(0)", "-0"]),
)
indices = st.lists(index_item, min_size=1, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
atoms = st.one_of(st.sampled_from(NAMES), numbers, st.sampled_from(PARAMS).map(lambda p: f"grad({p})"))
terms = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, indices).map("".join),
        st.tuples(inner, st.sampled_from([" + ", " - ", " * ", " / ", " ** ", " @ ", " % "]), inner).map("".join),
        inner.map(lambda t: "-" + t),
        inner.map(lambda t: f"({t})"),
    ),
    max_leaves=6,
)
COMPARISONS = (" == ", " != ", " < ", " <= ", " > ", " >= ", " = ", " in ", " is ")
comparisons = st.lists(st.tuples(st.sampled_from(COMPARISONS), terms), min_size=1, max_size=3).flatmap(
    lambda rest: terms.map(lambda first: first + "".join(op + t for op, t in rest)))
conditions = st.recursive(
    st.one_of(comparisons, st.sampled_from(["True", "False"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " or "]), inner).map("".join),
        inner.map(lambda c: f"not {c}"),
        inner.map(lambda c: f"all({c})"),
        inner.map(lambda c: f"any({c})"),
        inner.map(lambda c: f"({c})"),
        terms.map(lambda t: f"all({t})"),
    ),
    max_leaves=5,
)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A text with up to three single-character edits: unbalanced brackets, stray operators, cut names."""
    text = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if op == "delete" and text:
            text = text[:i] + text[i + 1:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(list("()[],:=<>!-+*/. 0\n\t\\'\"#"))) + text[i:]
        elif text:
            text = text[:i] + text[i:i + 2] + text[i:]
    return text


@fuzz(2)
@given(st.text(max_size=60))
@example("")
@example("grad(W1 == 0")
@example("x[::0] == 0")
@example("0x10 == x")
@example("x == 0." + "0" * 5000 + "1")
@example("x[0:0] == x")
@example("all(x[0:0] > 0)")
@example("x == 1\x00")
def test_condition_parser_arbitrary_text(text):
    with suppress(_Stop):
        parse_check_evaluate(text)


@fuzz(2)
@given(st.one_of(conditions, mutated(conditions), mutated(terms)))
@example("all((x > 0) or (W1 > 0))")
@example("any(not (x[-1:] != y[::-1]))")
@example("x[1:0] == 0 and all(x[1:0] > 0)")
@example("W1[0, :] / 2 <= b1[:1] + 1/3")
def test_condition_parser_near_valid(text):
    with suppress(_Stop):
        parse_check_evaluate(text)


# --------------------------------------------------------------------------
# --fix values, alone and combined into a problem with --integers and --bound

FIX_NAMES = ("W1", "b1", "W2", "b2", "x", "y", "yhat", "W9", "Q", "grad", "w1", "")
scalars = st.one_of(numbers, st.sampled_from(["abc", "true", "nan", "inf", "1/0", "[", "]", "", " ", "1 2", "-(1)"]))


def nested_text() -> st.SearchStrategy[str]:
    """Nested lists, regular or ragged, written as text."""
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
                        max_leaves=10)


fix_texts = st.one_of(
    st.tuples(st.sampled_from(FIX_NAMES), st.one_of(st.just(""), indices, st.sampled_from(["[", "]", "[0", "[]"])),
              st.sampled_from(["=", " = ", "==", ""]), nested_text()).map("".join),
    mutated(st.sampled_from(["W1=1", "x=[[0],[2],[3]]", "y[0]=-2", "y[1, 0]=2", "W1[0, :]=[1/2]", "b1=[1, 2]"])),
    st.text(max_size=20),
)


def check_fixed(fixed: Any, net: Network, samples: int, text: Any) -> None:
    for name, index, value in fixed.items:
        assert isinstance(value, Fraction), f"{text!r} fixed {name}{index} to {value!r}"
        shape = net.shape(name, samples)
        assert len(index) == len(shape) and all(0 <= i < s for i, s in zip(index, shape)), (text, name, index)


@fuzz()
@given(st.lists(fix_texts, min_size=1, max_size=3), st.booleans(),
       st.one_of(st.none(), st.sampled_from(["0", "1", "1/2", "-1", "abc", "3", "1e2"])), st.sampled_from(NETWORKS))
@example(["W1[::0]=1"], False, None, NETWORKS[0])
@example(["b1=[1, [2, 3]]"], False, None, NETWORKS[1])
@example(["W1=1/2"], True, "1", NETWORKS[0])
@example(["W1=2"], False, "1", NETWORKS[0])
def test_fix_values(texts, integers, bound, net_samples):
    with suppress(_Stop):
        net, samples = net_samples
        parts = []
        for text in texts:
            part = read(C.parse_fix, text, net, samples)
            check_fixed(part, net, samples, text)
            parts.append(part)
        bound_value = read(C.parse_number, bound) if bound is not None else None
        problem = read(build_problem, net, samples, ["grad(W1) == 0"], texts, integers=integers, bound=bound_value)
        event("a problem is built")
        check_fixed(problem.fixed, net, samples, texts)


# --------------------------------------------------------------------------
# Claim files


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, decimal.Decimal)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def toml_document(doc: dict[str, Any]) -> str:
    lines = []
    for k, v in doc.items():
        if k == "defaults" and isinstance(v, dict):
            continue
        if k == "claim" and isinstance(v, list) and all(isinstance(c, dict) for c in v):
            continue
        lines.append(f"{toml_key(k)} = {toml_value(v)}")
    if isinstance(doc.get("defaults"), dict):
        lines.append("[defaults]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc["defaults"].items()]
    if isinstance(doc.get("claim"), list) and all(isinstance(c, dict) for c in doc["claim"]):
        for c in doc["claim"]:
            lines.append("[[claim]]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in c.items()]
    return "\n".join(lines) + "\n"


# Non-finite TOML floats (inf, nan) are left out: they are pinned by test_known_bug_non_finite_toml_number.
toml_numbers = st.one_of(st.integers(-10, 10), st.integers(), st.decimals(allow_nan=False, allow_infinity=False,
                                                                          places=3, min_value=-1000, max_value=1000))
toml_scalars = st.one_of(st.booleans(), toml_numbers, st.text(max_size=12))
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
NETS = ("1-1-1", "1-2-1", "2-2-1", "1-1", "1-0-1", "1", "", "1-x-1", "1--1", "1-1-1-1",
        "Sequential(Linear(1, 1))", "Sequential(Linear(1, 2), ReLU(), Linear(2, 1))", "Sequential(Conv1d(1, 1, 2))",
        "Sequential(Linear(1, 1)", "Linear(1, 1)", "Sequential(Foo(1))")
number_values = st.one_of(st.integers(-10**6, 10**6), st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                                                   min_value=-1000, max_value=1000), numbers)
fix_value = st.one_of(number_values, st.recursive(number_values, lambda inner: st.lists(inner, max_size=3),
                                                  max_leaves=6), toml_values)
# Plausible values for each key (some of them wrong); claim_tables also puts arbitrary TOML under one key.
CLAIM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.text(max_size=8)),
    "net": st.one_of(st.sampled_from(NETS), st.lists(st.sampled_from(NETS), max_size=2)),
    "samples": st.one_of(st.integers(-1, 3), st.sampled_from(["1..2", "2..1", "0..1", "1..", "a", " 2 ", "02", "all"]),
                         st.lists(st.integers(-1, 3), max_size=3)),
    "given": st.lists(st.one_of(conditions, st.text(max_size=10)), max_size=2),
    "then": st.lists(st.one_of(conditions, st.text(max_size=10)), max_size=2),
    "fix": st.dictionaries(st.sampled_from(FIX_NAMES), fix_value, max_size=3),
    "integers": st.booleans(),
    "bound": number_values,
    "expect": st.sampled_from(["holds", "refuted", "refutd", "Holds", ""]),
    "note": st.text(max_size=8),
    "activation": st.sampled_from(["relu", "leaky_relu", "linear", "tanh"]),
    "loss": st.sampled_from(["mse", "sse", "l1", "bce", "ce"]),
    "bias": st.booleans(),
    "relu_grad_at_zero": st.integers(-1, 2),
    "leaky_slope": number_values,
    "timeout": st.one_of(st.integers(-1, 5), st.decimals(min_value=-1, max_value=5, places=2)),
    "markers": st.one_of(st.lists(st.sampled_from(["slow", "ok_2", "not-a-name", "", "1a"]), max_size=2),
                         st.sampled_from(["slow", "x y"])),
    "torch": st.sampled_from(["missing.py:Net", "model.py", "", ":Net", "notes.txt:Net", "a:b:c"]),
    "weights_from_module": st.one_of(st.booleans(), st.integers(0, 1)),
    "input_shape": st.one_of(st.lists(st.integers(-1, 4), max_size=3), st.sampled_from(["1", "1,4", "0", "a", ""])),
    "huber_delta": number_values,
    "steps": st.one_of(st.integers(-1, 3), st.sampled_from(["2", "K"]), st.decimals(min_value=0, max_value=2, places=1)),
    "optimizer": st.sampled_from(["gd", "sgd", "adam", ""]),
    "batch_size": st.integers(-1, 3),
    "lr": number_values,
    "momentum": number_values,
    "invariant": st.lists(st.one_of(conditions, st.text(max_size=10)), max_size=2),
    "labels": st.sampled_from(["hard", "soft", "Hard", ""]),
    "domain": st.sampled_from(["real", "rational", "reals", ""]),
}
VALID_CLAIM = {"name": "a", "net": "1-1-1", "samples": 1, "given": ["grad(b2) == 0"], "then": ["grad(W1) == 0"],
               "expect": "holds"}


@st.composite
def claim_tables(draw: st.DrawFn, keys: tuple[str, ...] = CLAIM_KEYS) -> dict[str, Any]:
    """A valid claim with a few keys changed: to plausible values, to arbitrary TOML, misspelt or dropped."""
    table = {k: v for k, v in VALID_CLAIM.items() if k in keys} if draw(st.integers(0, 9)) else {}
    if "name" in keys:
        table["name"] = draw(st.sampled_from(["a", "b", "c", "d", "e"]))
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        table[key] = draw(CLAIM_VALUES[key])
    if draw(st.integers(0, 2)) == 0:
        table[draw(st.sampled_from(keys))] = draw(toml_values)
    if draw(st.integers(0, 5)) == 0:
        table[draw(st.sampled_from(["gven", "expects", "Name", "samples ", "claim"]))] = draw(toml_scalars)
    if table and draw(st.integers(0, 5)) == 0:
        del table[draw(st.sampled_from(sorted(table)))]
    return table


@st.composite
def documents(draw: st.DrawFn, junk: bool = False) -> dict[str, Any]:
    """A claim file as a dict: [[claim]] tables and maybe [defaults]; with junk, also wrong top-level values."""
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["defaults"] = draw(claim_tables(tuple(k for k in CLAIM_KEYS if k != "name")))
    doc["claim"] = draw(st.lists(claim_tables(), min_size=1, max_size=3))
    if junk:
        key = draw(st.sampled_from(["defaults", "claim", "claims", "", "Claim"]))
        doc[key] = draw(st.one_of(toml_values, st.lists(toml_values, max_size=2)))
    return doc


@st.composite
def one_change(draw: st.DrawFn) -> dict[str, Any]:
    """A valid claim file with one key set to a plausible (perhaps wrong) value: reaches the deep checks."""
    claim = dict(VALID_CLAIM)
    key = draw(st.sampled_from(CLAIM_KEYS))
    claim[key] = draw(CLAIM_VALUES[key])
    return {"claim": [claim]}


def load_and_use(text: str) -> None:
    claims = read(parse_claims, text, "fuzz.toml")
    assert claims, "parse_claims returned no claims without an error"
    event("claims loaded")
    for claim in claims:
        for net in read(claim.networks):
            for samples in claim.samples:
                problem = read(claim.problem, net, samples)
                check_fixed(problem.fixed, net, samples, claim.fix)
        assert claim.fingerprint()


@fuzz()
@given(st.text(max_size=200))
@example("[[claim]]\nname = 'x'\n")
@example("claim = [1]")
@example("[defaults]\nlos = 1\n")
def test_claim_loader_arbitrary_text(text):
    with suppress(_Stop):
        load_and_use(text)


@fuzz()
@given(st.one_of(one_change(), documents(), documents(junk=True)))
@example({"claim": [dict(VALID_CLAIM, samples="1..2", fix={"b2": 0})]})
@example({"claim": [dict(VALID_CLAIM, name="a"), dict(VALID_CLAIM, name="a")]})
def test_claim_loader_generated_documents(doc):
    with suppress(_Stop):
        load_and_use(toml_document(doc))


@fuzz()
@given(mutated(documents().map(toml_document)))
def test_claim_loader_mutated_documents(text):
    with suppress(_Stop):
        load_and_use(text)


# --------------------------------------------------------------------------
# Witness documents


@cache
def seed_document() -> str:
    """The witness of seed question 001 (1-1-1, 3 samples), as written by find."""
    r = CliRunner().invoke(app, ["find", "--net", "1-1-1", "--samples", "3", "--require", "grad(W2) == 0",
                                 "--require", "grad(b2) == 0", "--require", "grad(W1) != 0",
                                 "--require", "grad(b1) != 0", "--json", "-"])
    assert r.exit_code == 0, r.output
    return r.stdout


def load_and_recheck(text: str) -> None:
    problem, assignment, doc = read(load_document, text, where="fuzz.json")
    assert isinstance(doc, dict)
    if assignment is None:
        event("loaded without values")
        return
    check = read(recheck, problem, assignment)
    event("loaded and re-checked")
    assert all(isinstance(c.holds, bool) for c in check.conditions)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(),
                         st.text(max_size=12))
json_values = st.recursive(
    json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4)), max_leaves=12)
PLAUSIBLE = (0, 1, -1, 2, 3, 10**20, "1", "-1/2", "0.1", "abc", "", "nan", "1/0", [1, 1, 1], [1, 0, 1], [1, 2, 1],
             [], {}, None, True, 1.5, "grad(W1) == 0", "x[0] == 0", "W1[5] == 0", "yhat[-1] > 0", ["grad(W1) == 0"],
             [["1"]], ["1"], [["1"], ["2"], ["3"]], [["1", "2"]], SCHEMA, "relu", "leaky_relu", "linear", "sse",
             {"name": "W1", "index": [0, 0], "value": "1"}, {"name": "x", "index": [2, 0], "value": "0"},
             {"name": "b1", "index": [0], "value": 2}, {"integers": True, "bound": "1"})
replacements = st.one_of(st.sampled_from(PLAUSIBLE), json_values, conditions)
witness_like = st.fixed_dictionaries(
    {"schema": st.just(SCHEMA)},
    optional={"network": st.one_of(st.fixed_dictionaries(
        {}, optional={"widths": st.one_of(st.lists(st.integers(-1, 3), max_size=4), json_values),
                      "activation": st.sampled_from(["relu", "linear", "tanh"]), "bias": st.booleans(),
                      "loss": st.sampled_from(["mse", "sse", "l2"]), "relu_grad_at_zero": st.integers(-1, 2),
                      "leaky_slope": replacements}), json_values),
              "samples": st.one_of(st.integers(-1, 4), json_values), "conditions": st.lists(conditions, max_size=3),
              "fixed": replacements, "domain": replacements, "values": replacements})


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated_witness(draw: st.DrawFn) -> str:
    """The seed witness with an exact value edited, and/or parts deleted or replaced by random or plausible JSON."""
    doc = json.loads(seed_document())
    if draw(st.booleans()):  # a plausible edit of one exact value: the document may now fail its conditions
        name = draw(st.sampled_from(sorted(doc["values"])))
        exact = doc["values"][name]["exact"]
        row = exact
        while isinstance(row[0], list):
            row = row[draw(st.integers(0, len(row) - 1))]
        row[draw(st.integers(0, len(row) - 1))] = draw(st.fractions(max_denominator=7).map(str))
        if draw(st.booleans()):
            return json.dumps(doc)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if draw(st.integers(0, 3)) == 0:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(replacements))
    return json.dumps(doc)


@fuzz()
@given(st.one_of(json_values, witness_like).map(json.dumps))
@example("NaN")
@example('{"schema": "cexsearch.witness/1"}')
def test_witness_loader_arbitrary_json(text):
    with suppress(_Stop):
        load_and_recheck(text)


@fuzz()
@given(st.text(max_size=80))
@example("{")
@example("\ufeff{}")
def test_witness_loader_arbitrary_text(text):
    with suppress(_Stop):
        load_and_recheck(text)


@fuzz()
@given(mutated_witness())
def test_witness_loader_mutated_documents(text):
    with suppress(_Stop):
        load_and_recheck(text)


@fuzz()
@given(st.one_of(mutated_witness(), witness_like.map(json.dumps)))
def test_verify_command_on_mutated_documents(text):
    """cexsearch verify as a user runs it: exit 0, 1 or 2 and never an exception, whatever the document."""
    r = CliRunner().invoke(app, ["verify", "-"], input=text)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        k = known_bug(r.exception)
        if k is None:
            raise r.exception
        event(f"known bug: {k.test}")
        return
    assert r.exit_code in (0, 1, 2), r.output
    assert "Traceback" not in r.output
    if r.exit_code == 2:
        assert r.output.startswith("error: ") and len(r.output) > len("error: \n"), r.output
    event(f"exit {r.exit_code}")


def test_seed_document_verifies():
    """The fuzzers start from a document that is valid: its re-check confirms it."""
    problem, assignment, _ = load_document(seed_document())
    assert assignment is not None and recheck(problem, assignment).confirmed


# --------------------------------------------------------------------------
# The known bugs, one deterministic example each: strict xfails while open, regression tests once fixed


def raises_own_error(fn: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(CexsearchError) as info:
        fn(*args, **kwargs)
    assert str(info.value).strip()


def seed_doc_with(**changes: Any) -> str:
    doc = json.loads(seed_document())
    for dotted, value in changes.items():
        node = doc
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return json.dumps(doc)


def recheck_text(text: str) -> None:
    problem, assignment, _ = load_document(text)
    assert assignment is not None
    recheck(problem, assignment)


CLAIM = '[[claim]]\nname = "a"\nnet = "1-1-1"\nsamples = 1\ngiven = ["grad(b2) == 0"]\nthen = ["grad(W1) == 0"]\n' \
        'expect = "holds"\n'


@pytest.mark.parametrize("call", ["parse", "fix-value", "fix-index"])
def test_known_bug_surrogate_in_text(call):
    net = Network.parse("1-1-1")
    if call == "parse":
        raises_own_error(C.parse, "x == \udcff")
    elif call == "fix-value":
        raises_own_error(C.parse_fix, "W1=[\udcff]", net, 1)
    else:
        raises_own_error(C.parse_fix, "W1[\udcff]=1", net, 1)


def test_known_bug_fix_slice_step_zero():
    raises_own_error(C.parse_fix, "W1[::0]=1", Network.parse("1-1-1"), 1)


def test_known_bug_ragged_fix_value():
    raises_own_error(C.parse_fix, "b1=[1, [2, 3]]", Network.parse("1-2-1"), 1)


def test_known_bug_claim_entries_not_tables():
    raises_own_error(parse_claims, "claim = [1]\n")


def test_known_bug_claim_name_unhashable():
    raises_own_error(parse_claims, CLAIM.replace('name = "a"', 'name = ["a"]'))


@pytest.mark.parametrize("line", ["bound = inf", "bound = nan", "leaky_slope = -inf", "fix = { W1 = nan }"])
def test_known_bug_non_finite_toml_number(line):
    raises_own_error(parse_claims, CLAIM + line + "\n")


def test_known_bug_claim_timeout_nan():
    raises_own_error(parse_claims, CLAIM + "timeout = nan\n")


@pytest.mark.parametrize("fixed", [5, True, 1.5])
def test_known_bug_witness_fixed_not_a_list(fixed):
    raises_own_error(load_document, seed_doc_with(fixed=fixed))


def test_known_bug_witness_fixes_yhat():
    raises_own_error(recheck_text, seed_doc_with(fixed=[{"name": "yhat", "index": [0, 0], "value": "1"}]))


def test_known_bug_float_recheck_beyond_float_range():
    recheck_text(seed_doc_with(values__W1__exact=[["1e400"]]))


@pytest.mark.parametrize("widths, condition", [([1, 10**20, 1], "W1[0] == 0"), ([1, 2**62, 4], "W2 == W2[0]"),
                                               ([1, 10**20, 10**20, 1], "W2 == 2 * W2")])
def test_known_bug_absurd_shapes_in_condition_check(widths, condition):
    raises_own_error(load_document, seed_doc_with(network__widths=widths, conditions=[condition]))


def test_known_bug_deeply_nested_condition():
    raises_own_error(C.parse, "not " * 3000 + "x == 0")


@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, '{"samples": ' + "9" * 5000 + "}"], ids=["deep", "digits"])
def test_known_bug_json_loads_limits(text):
    raises_own_error(load_document, text)


def test_known_bug_deeply_nested_toml():
    raises_own_error(parse_claims, "a = " + "[" * 3000 + "]" * 3000 + "\n")


def test_known_bug_huge_numbers_in_messages():
    net = Network.parse("1-1-1")
    raises_own_error(build_problem, net, 1, ["grad(W1) == 0"], ["W1=1e5000"], bound=Fraction(1))
