"""A gallery of bad input: every case exits 2, names the bad value, says how to fix it, and shows no traceback.

Each case is one command line as a person would type it (``find``, ``check`` or
``verify``), run through Typer's ``CliRunner``; a handful also run as a real
``python -m cexsearch`` subprocess to prove that no traceback reaches stderr.

A case marked ``bug=...`` is a known defect: it runs as a strict xfail, so the
day it is fixed the suite says so and the marker can go.  The reason names the
exception or the wrong message and where to fix it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app

runner = CliRunner()

SEED_001 = ("--require", "grad(W2) == 0", "--require", "grad(b2) == 0",
            "--require", "grad(W1) != 0", "--require", "grad(b1) != 0")
OK = ("--net", "1-1-1", "--require", "grad(W1) == 0")  # a valid find, to which one bad option is added


@cache
def seed_witness() -> dict[str, Any]:
    """The witness document of seed question 001 (1-1-1, 3 samples), written by find itself."""
    r = runner.invoke(app, ["find", "--net", "1-1-1", "--samples", "3", *SEED_001, "--json", "-"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# --------------------------------------------------------------------------
# Claim files: one valid file, and small edits of it


CLAIM = """\
[defaults]
loss = "mse"

[[claim]]
name = "batch"
net = "1-1-1"
samples = "1..2"
given = ["grad(W2) == 0", "grad(b2) == 0"]
then = ["grad(W1) == 0"]
expect = "refuted"
"""


def claim_with(key: str, value: str | None) -> str:
    """CLAIM with ``key = value`` in the [[claim]] table (replacing it, or dropping it when value is None)."""
    lines = [line for line in CLAIM.splitlines() if not (line.startswith(f"{key} =") and "[defaults]" not in line)]
    if value is not None:
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Witness documents: the seed witness with one edit


def edit(path: tuple[Any, ...], value: Any = None, delete: bool = False) -> Callable[[dict], dict]:
    def apply(doc: dict) -> dict:
        d = copy.deepcopy(doc)
        node = d
        for p in path[:-1]:
            node = node[p]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return d

    return apply


# --------------------------------------------------------------------------
# The gallery


@dataclass(frozen=True)
class Bad:
    """One bad input.  ``{f}`` in args stands for a file holding ``content``."""

    args: tuple[str, ...]
    names: tuple[str, ...]  # every one must appear: they name the bad value
    hint: str  # text that says how to fix it
    content: str | bytes | Callable[[dict], Any] | None = None
    bug: str | None = None


def find(*args: str, names: tuple[str, ...] | str, hint: str, bug: str | None = None) -> Bad:
    return Bad(("find", *args), (names,) if isinstance(names, str) else names, hint, bug=bug)


def check(content: str | bytes, names: tuple[str, ...] | str, hint: str, bug: str | None = None) -> Bad:
    return Bad(("check", "--no-store", "{f}"), (names,) if isinstance(names, str) else names, hint, content, bug)


def verify(content: str | bytes | Callable[[dict], Any], names: tuple[str, ...] | str, hint: str,
           bug: str | None = None) -> Bad:
    return Bad(("verify", "{f}"), (names,) if isinstance(names, str) else names, hint, content, bug)


DEEP = "-" * 3000 + "x == 0"

GALLERY: dict[str, Bad] = {
    # -- malformed --net ---------------------------------------------------
    "net-empty": find("--net", "", "--require", "grad(W1) == 0", names="--net is empty", hint="e.g. --net 1-1-1"),
    "net-blank": find("--net", "  ", "--require", "grad(W1) == 0", names="--net is empty", hint="e.g. --net 1-1-1"),
    "net-zero-width": find("--net", "1-0-1", "--require", "grad(W1) == 0", names=("'1-0-1'", "width 0"),
                           hint="at least 1"),
    "net-negative-width": find("--net", "1--1-1", "--require", "grad(W1) == 0", names="'1--1-1'",
                               hint="widths are positive integers joined by '-'"),
    "net-trailing-dash": find("--net", "1-1-", "--require", "grad(W1) == 0", names=("'1-1-'", "empty width"),
                              hint="e.g. 2-3-1"),
    "net-not-a-number": find("--net", "1-x-1", "--require", "grad(W1) == 0", names="'x' is not a width",
                             hint="positive integers joined by '-'"),
    "net-decimal": find("--net", "1.5-1", "--require", "grad(W1) == 0", names="'1.5' is not a width",
                        hint="positive integers joined by '-'"),
    "net-commas": find("--net", "1,1,1", "--require", "grad(W1) == 0", names="'1,1,1' is not a width",
                       hint="joined by '-'"),
    "net-one-layer": find("--net", "3", "--require", "grad(W1) == 0", names=("'3'", "one layer only"),
                          hint="e.g. 1-1 or 1-1-1"),
    "net-absurd-width-fixed": find("--net", "1-100000000000000000000-1", "--require", "grad(W1) == 0",
                                   "--fix", "W1=1", names="100000000000000000000", hint="smaller"),
    "net-too-many-parameters": find("--net", "1-1000-1000-1", "--require", "grad(W1) == 0",
                                    names=("'1-1000-1000-1'", "1004001"), hint="smaller network"),
    "samples-zero": find(*OK, "--samples", "0", names="got 0", hint="at least 1"),
    "samples-negative": find(*OK, "--samples", "-2", names="got -2", hint="at least 1"),
    "samples-not-a-number": find(*OK, "--samples", "three", names="'three'", hint="valid integer"),
    # -- conditions ----------------------------------------------------------
    "samples-beyond-limit": find(*OK, "--samples", "200000", names="200000", hint="smaller batch"),
    "samples-thousands-of-digits": find(*OK, "--samples", "9" * 2000, names=("--samples", "2000 digits"),
                                        hint="at most 1000 digits"),
    "seed-not-a-number": find(*OK, "--seed", "x", names="'x'", hint="whole number"),
    "cond-unknown-name": find("--net", "1-1-1", "--require", "grad(W1) == bogus", names="'bogus'",
                              hint="names are W1, b1"),
    "cond-misspelt-name": find("--net", "1-1-1", "--require", "yhatt == 0", names="'yhatt'",
                               hint="did you mean 'yhat'?"),
    "cond-unknown-parameter": find("--net", "1-1-1", "--require", "grad(W3) == 0", names="'W3'",
                                   hint="did you mean"),
    "cond-unknown-function": find("--net", "1-1-1", "--require", "grd(W1) == 0", names="'grd'",
                                  hint="did you mean 'grad'?"),
    "cond-no-bias": find("--net", "1-1-1", "--no-bias", "--require", "b1 == 0", names="'b1'",
                         hint="this network has no biases"),
    "cond-grad-no-bias": find("--net", "1-1-1", "--no-bias", "--require", "grad(b1) == 0", names="'b1'",
                              hint="no biases"),
    "cond-grad-of-data": find("--net", "1-1-1", "--require", "grad(x) == 0", names="'x'",
                              hint="e.g. grad(W1) or grad(b2)"),
    "cond-too-many-indices": find("--net", "1-1-1", "--require", "W1[0, 0, 0] == 0", names="3",
                                  hint="shape (1, 1)"),
    "cond-index-out-of-range": find("--net", "1-1-1", "--require", "grad(W1)[0, 5] == 0", names="index 5",
                                    hint="use 0..0"),
    "cond-negative-index-out-of-range": find("--net", "1-1-1", "--samples", "3", "--require", "x[-4] == 0",
                                             names="index -4", hint="use 0..2, or -1 for the last"),
    "cond-index-not-integer": find("--net", "1-1-1", "--require", "x[0.5] == 0", names="'0.5'",
                                   hint="indices are integers or slices"),
    "cond-slice-step-zero": find("--net", "1-1-1", "--require", "x[::0] == 0", names="step", hint="e.g. x[::2]"),
    "cond-unclosed-paren": find("--net", "1-1-1", "--require", "grad(W1 == 0", names="'(' was never closed",
                                hint="balance the brackets"),
    "cond-unmatched-paren": find("--net", "1-1-1", "--require", "grad(W1)) == 0", names="unmatched ')'",
                                 hint="balance the brackets"),
    "cond-unclosed-bracket": find("--net", "1-1-1", "--require", "x[0 == 0", names="'[' was never closed",
                                  hint="balance the brackets"),
    "cond-single-equals": find("--net", "1-1-1", "--require", "grad(W1) = 0", names="grad(W1) = 0",
                               hint="compare with ==, not ="),
    "cond-empty": find("--net", "1-1-1", "--require", "", names="empty condition", hint='e.g. "grad(W1) != 0"'),
    "cond-compare-shapes": find("--net", "2-3-1", "--require", "W1 == W2", names=("(3, 2)", "(1, 3)"),
                                hint="index one side"),
    "cond-combine-shapes": find("--net", "2-3-1", "--require", "W1 + x == 0", names=("(3, 2)", "(1, 2)"),
                                hint="index one side"),
    "cond-entrywise-shapes": find("--net", "2-3-1", "--require", "all(W1 > 0 and W2 > 0)",
                                  names=("(3, 2)", "(1, 3)"), hint="index one side"),
    "cond-power": find("--net", "1-1-1", "--require", "W1 ** 2 == 1", names="**", hint="use + - * /"),
    "cond-divide-by-tensor": find("--net", "1-1-1", "--require", "W1 / W2 == 1", names="division",
                                  hint="a == 2 * b"),
    "cond-divide-by-zero": find("--net", "1-1-1", "--require", "W1 / (1 - 1) == 1", names="division by zero",
                                hint="divide by a non-zero number"),
    "cond-a-value": find("--net", "1-1-1", "--require", "grad(W1)", names="grad(W1)", hint='"grad(W1) == 0"'),
    "cond-string": find("--net", "1-1-1", "--require", "W1 == 'one'", names="'one'", hint="write a number"),
    "cond-deep-nesting": find("--net", "1-1-1", "--require", DEEP, names="nest", hint="simplify"),
    "cond-non-utf8-byte": find("--net", "1-1-1", "--require", "x == \udcff", names="\\udcff", hint="UTF-8"),
    "cond-long-decimal": find("--net", "1-1-1", "--require", "W1 == 0." + "0" * 5000 + "1", names="0.000",
                              hint="write an integer, a decimal such as 0.1"),
    # -- --fix -----------------------------------------------------------------
    "cond-huge-integer": find("--net", "1-1-1", "--require", "x == " + "9" * 5000, names="digits",
                              hint="at most 1000 digits"),
    "fix-unknown-name": find(*OK, "--fix", "Q=1", names="'Q'", hint="names: W1, b1"),
    "fix-misspelt-name": find(*OK, "--fix", "W11=1", names="'W11'", hint="did you mean 'W1'?"),
    "fix-yhat": find(*OK, "--fix", "yhat=1", names="'yhat'", hint="cannot be fixed"),
    "fix-no-equals": find(*OK, "--fix", "W1", names="'W1'", hint="expected NAME=VALUE"),
    "fix-no-value": find(*OK, "--fix", "W1=", names="'W1='", hint="e.g. --fix W1=1"),
    "fix-wrong-shape": find(*OK, "--samples", "3", "--fix", "x=[1,2,3]", names=("(3, 1)", "(3)"),
                            hint="give a nested list of that shape"),
    "fix-slice-wrong-shape": find(*OK, "--samples", "3", "--fix", "x[0:2]=[1,2,3]", names=("x[0:2]", "(2, 1)"),
                                  hint="give a nested list of that shape"),
    "fix-empty-slice": find(*OK, "--samples", "3", "--fix", "x[2:0]=1", names=("x[2:0]", "no entries"),
                            hint="check the slice bounds"),
    "fix-not-a-number": find(*OK, "--fix", "W1=abc", names="'abc'", hint="write a number such as 0"),
    "fix-nan": find(*OK, "--fix", "W1=nan", names="'nan'", hint="write a number such as 0"),
    "fix-bad-list": find(*OK, "--fix", "x=[[1],[2]", names="'[[1],[2]'", hint="e.g. [[0],[2],[3]]"),
    "fix-list-entry-not-a-number": find(*OK, "--samples", "2", "--fix", "x=[[1],[two]]", names="'two'",
                                        hint="write a number such as 0"),
    "fix-index-out-of-range": find(*OK, "--fix", "W1[0, 3]=1", names=("[0, 3]", "(1, 1)"),
                                   hint="W1 has shape (1, 1)"),
    "fix-index-not-integer": find(*OK, "--fix", "W1[a]=1", names="'a'", hint="indices are integers"),
    "fix-slice-step-zero": find(*OK, "--fix", "W1[::0]=1", names="step", hint="e.g."),
    "fix-ragged-list": find("--net", "1-2-1", "--require", "grad(W1) == 0", "--fix", "b1=[1,[2,3]]",
                            names="[1,[2,3]]", hint="a nested list of that shape"),
    "fix-deeply-nested-list": find(*OK, "--fix", "W1=" + "[" * 150 + "1" + "]" * 150, names="W1",
                                   hint="a nested list of that shape"),
    "fix-huge-exponent": find(*OK, "--fix", "W1=1e5000", names="1e5000", hint="smaller"),
    "fix-twice": find(*OK, "--fix", "W1=1", "--fix", "W1=2", names=("W1", "to 1 and to 2"),
                      hint="drop one of the two --fix options"),
    # -- conflicting options ---------------------------------------------------
    "integers-with-fraction": find(*OK, "--integers", "--fix", "W1=1/2", names=("--integers", "1/2"),
                                   hint="drop --integers or fix an integer"),
    "bound-below-fixed": find(*OK, "--bound", "1", "--fix", "W1=2", names=("--bound 1", "= 2"),
                              hint="raise --bound to at least 2"),
    "bound-below-fixed-negative": find(*OK, "--bound", "1/2", "--fix", "b1=-3/4", names=("1/2", "-3/4"),
                                       hint="raise --bound to at least 3/4"),
    "bound-negative": find(*OK, "--bound", "-1", names="got -1", hint="at least 0"),
    "bound-not-a-number": find(*OK, "--bound", "abc", names="'abc'", hint="write an integer"),
    "bound-division-by-zero": find(*OK, "--bound", "1/0", names="'1/0'", hint="write an integer"),
    "leaky-slope-not-a-number": find(*OK, "--activation", "leaky_relu", "--leaky-slope", "steep", names="'steep'",
                                     hint="write an integer"),
    "activation-unknown": find(*OK, "--activation", "tanh", names="'tanh'", hint="use relu, leaky_relu or linear"),
    "loss-unknown": find(*OK, "--loss", "l3", names="'l3'", hint="the MLP shorthand takes mse or sse"),
    "loss-for-layers-only": find(*OK, "--loss", "l1", names="--loss l1 needs a --net in PyTorch's notation",
                                 hint="\"Sequential(Linear(1, 1), ReLU(), Linear(1, 1))\" --input-shape 1"),
    "relu-grad-at-zero": find(*OK, "--relu-grad-at-zero", "2", names="2", hint="must be 0 or 1"),
    "timeout-zero": find(*OK, "--timeout", "0", names="--timeout 0", hint="must be positive"),
    "timeout-negative": find(*OK, "--timeout", "-5", names="--timeout -5", hint="must be positive"),
    "timeout-nan": find(*OK, "--timeout", "nan", names="'nan'", hint="write an integer"),
    "timeout-beyond-limit": find(*OK, "--timeout", "1e400", names="--timeout 1e400", hint="e.g. --timeout 60"),
    "no-require": find("--net", "1-1-1", names="no --require", hint='e.g. --require "grad(W1) != 0"'),
    "json-unwritable": find(*OK, "--json", "/dev/null/w.json", names="/dev/null/w.json", hint="path"),
    # -- claim files -------------------------------------------------------------
    "toml-syntax": check(claim_with("expect", "refuted"), names=(":10:10:", "Invalid value"),
                         hint="(at line 10, column 10)"),
    "toml-unclosed-table": check("[[claim]\nname = 'x'\n", names=":1:", hint="line 1"),
    "toml-duplicate-key": check(CLAIM + 'expect = "holds"\n', names=":11:17:", hint="line 11, column 17"),
    "claim-unknown-key": check(CLAIM.replace("given =", "gven ="), names=("'gven'", ":8:"),
                               hint="did you mean 'given'?"),
    "claim-unknown-default": check(CLAIM.replace('loss = "mse"', 'los = "mse"'), names=("'los'", ":2:"),
                                   hint="did you mean 'loss'?"),
    "claim-unknown-table": check(CLAIM.replace("[[claim]]", "[[claims]]"), names="'claims'",
                                 hint="did you mean 'claim'?"),
    "claim-no-tables": check('[defaults]\nloss = "mse"\n', names="no [[claim]] tables", hint="add one"),
    "claim-empty-file": check("", names="no [[claim]] tables", hint="add one"),
    "claim-not-tables": check("claim = [1, 2]\n", names="[1, 2]", hint="[[claim]]"),
    "claim-defaults-not-table": check("defaults = 1\n" + CLAIM.replace('[defaults]\nloss = "mse"\n', ""),
                                      names="[defaults]", hint="must be a table"),
    "claim-net-int": check(claim_with("net", "1"), names="got 1", hint='a string such as "1-1-1"'),
    "claim-net-bad": check(claim_with("net", '"1-0-1"'), names="'1-0-1'", hint="every layer needs one unit"),
    "claim-net-empty-list": check(claim_with("net", "[]"), names="got []", hint='a string such as "1-1-1"'),
    "claim-samples-float": check(claim_with("samples", "1.5"), names="1.5", hint='a range such as "1..4"'),
    "claim-samples-strings": check(claim_with("samples", '["a", "b"]'), names="['a', 'b']",
                                   hint='a range such as "1..4"'),
    "claim-samples-negative": check(claim_with("samples", "-1"), names="got -1", hint="at least 1"),
    "claim-samples-zero": check(claim_with("samples", "0"), names="got 0", hint="at least 1"),
    "claim-samples-reversed": check(claim_with("samples", '"3..1"'), names="'3..1'", hint='write "1..3"'),
    "claim-samples-bool": check(claim_with("samples", "true"), names="True", hint='a range such as "1..4"'),
    "claim-samples-text": check(claim_with("samples", '"few"'), names="'few'", hint='e.g. 3, "1..4" or "all"'),
    "claim-samples-huge-range": check(claim_with("samples", '"1..100000000"'), names=("'1..100000000'", ":10:"),
                                      hint="smaller batches"),
    "claim-given-int": check(claim_with("given", "1"), names="got 1", hint='e.g. given = ["grad(W1) == 0"]'),
    "claim-given-bad-condition": check(claim_with("given", '["grad(W1) = 0"]'), names="grad(W1) = 0",
                                       hint="compare with ==, not ="),
    "claim-then-empty": check(claim_with("then", "[]"), names="then is empty", hint='e.g. then = ["grad(W1) == 0"]'),
    "claim-then-missing": check(claim_with("then", None), names="'then'", hint='add then = ["..."]'),
    "claim-then-unknown-parameter": check(claim_with("then", '["grad(W9) == 0"]'), names="'W9'",
                                          hint="did you mean"),
    "claim-expect-misspelt": check(claim_with("expect", '"refutd"'), names="'refutd'", hint="did you mean 'refuted'?"),
    "claim-expect-int": check(claim_with("expect", "1"), names="got 1", hint='"holds" or "refuted"'),
    "claim-expect-missing": check(claim_with("expect", None), names="'expect'", hint='add expect = "holds"'),
    "claim-name-int": check(claim_with("name", "7"), names="got 7", hint="a non-empty string"),
    "claim-name-empty": check(claim_with("name", '""'), names="got ''", hint="a non-empty string"),
    "claim-name-list": check(claim_with("name", '["a"]'), names="['a']", hint="a non-empty string"),
    "claim-name-duplicate": check(CLAIM + CLAIM.split("\n\n", 1)[1], names="'batch'", hint="names must differ"),
    "claim-fix-not-table": check(claim_with("fix", "1"), names="got 1", hint='{ W1 = "1" }'),
    "claim-fix-bool": check(claim_with("fix", "{ W1 = true }"), names=("fix.W1", "True"), hint="write a number"),
    "claim-fix-table": check(claim_with("fix", "{ W1 = { a = 1 } }"), names=("fix.W1", "{'a': 1}"),
                             hint="a number or a list of numbers"),
    "claim-fix-unknown-name": check(claim_with("fix", "{ Q = 1 }"), names="'Q'", hint="names: W1"),
    "claim-fix-wrong-shape": check(claim_with("fix", "{ x = [1, 2] }"), names=("fix.x", "(2)"),
                                   hint="a nested list of that shape"),
    "claim-fix-ragged": check(claim_with("net", '"1-2-1"').replace('samples = "1..2"', "samples = 1")
                              + "fix = { b1 = [1, [2, 3]] }\n", names="[1, [2, 3]]", hint="a nested list of that shape"),
    "claim-fix-inf": check(claim_with("fix", "{ W1 = inf }"), names=("fix.W1", "inf"), hint="write a number"),
    "claim-bound-negative": check(claim_with("bound", "-1"), names="got -1", hint="at least 0"),
    "claim-bound-text": check(claim_with("bound", '"abc"'), names="'abc'", hint="write a number"),
    "claim-bound-list": check(claim_with("bound", "[1]"), names="bound", hint="must be a number"),
    "claim-bound-nan": check(claim_with("bound", "nan"), names=("bound", "nan"), hint="write a number"),
    "claim-bound-below-fix": check(claim_with("bound", "1") + "fix = { W1 = 2 }\n", names="= 2",
                                   hint="raise --bound to at least 2"),
    "claim-integers-with-fraction": check(claim_with("integers", "true") + 'fix = { W1 = "1/2" }\n', names="1/2",
                                          hint="fix an integer"),
    "claim-integers-text": check(claim_with("integers", '"yes"'), names="'yes'", hint="must be a bool"),
    "claim-timeout-zero": check(claim_with("timeout", "0"), names="got 0", hint="a positive number of seconds"),
    "claim-timeout-text": check(claim_with("timeout", '"5"'), names="'5'", hint="a positive number of seconds"),
    "claim-timeout-nan": check(claim_with("timeout", "nan"), names="NaN", hint="a positive number of seconds"),
    "claim-timeout-inf": check(claim_with("timeout", "inf"), names="Infinity", hint="a positive number of seconds"),
    "claim-activation-unknown": check(claim_with("activation", '"tanh"'), names="'tanh'",
                                      hint="use one of relu, leaky_relu, linear"),
    "claim-loss-int": check(claim_with("loss", "2"), names="got 2", hint="must be a str"),
    "claim-relu-grad-at-zero": check(claim_with("relu_grad_at_zero", "2"), names="got 2", hint="must be 0 or 1"),
    "claim-leaky-slope-list": check(claim_with("leaky_slope", "[1]"), names="leaky_slope", hint="a number"),
    "claim-store-unwritable": Bad(("check", "--store", "/dev/null/store", "{f}"), ("/dev/null/store",), "--store",
                                  content=CLAIM),
    "claim-junit-unwritable": Bad(("check", "--no-store", "--junit", "/dev/null/j.xml", "{f}"), ("/dev/null/j.xml",),
                                  "--junit", content=CLAIM),
    "claim-unreadable-path": Bad(("check", "no/such/claims.toml"), ("no/such/claims.toml",), "check the path"),
    "claim-directory": Bad(("check", "{f}"), ("no claim files (*.toml) in the directory",), "examples/*.toml"),
    "claim-not-utf8": check(b"\xff\xfe[[claim]]\n", names="cannot read claim file", hint="UTF-8"),
    # -- witness documents ----------------------------------------------------------
    "witness-not-json": verify("{", names="not JSON", hint="line 1 column 2"),
    "witness-not-object": verify("[1, 2]", names="JSON object", hint="a witness document is a JSON object"),
    "witness-unknown-schema": verify(edit(("schema",), "cexsearch.witness/9"), names="'cexsearch.witness/9'",
                                     hint="this cexsearch reads 'cexsearch.witness/1'"),
    "witness-missing-network": verify(edit(("network",), delete=True), names="missing field 'network'",
                                      hint="written by cexsearch find or check"),
    "witness-missing-widths": verify(edit(("network", "widths"), delete=True), names="'widths'",
                                     hint="written by cexsearch find or check"),
    "witness-missing-samples": verify(edit(("samples",), delete=True), names="'samples'",
                                      hint="written by cexsearch find or check"),
    "witness-missing-conditions": verify(edit(("conditions",), delete=True), names="'conditions'",
                                         hint="written by cexsearch find or check"),
    "witness-samples-text": verify(edit(("samples",), "3"), names="'3'", hint="should be int"),
    "witness-samples-zero": verify(edit(("samples",), 0), names="got 0", hint="at least 1"),
    "witness-samples-beyond-limit": verify(edit(("samples",), 10**6), names="1000000", hint="smaller batch"),
    "witness-value-ragged": verify(edit(("values", "x", "exact"), [["1"], "2", ["3"]]), names="values.x",
                                   hint="written by cexsearch"),
    "witness-width-zero": verify(edit(("network", "widths"), [1, 0, 1]), names="got 0", hint="at least 1"),
    "witness-widths-floats": verify(edit(("network", "widths"), [1.0, 1, 1]), names="[1.0, 1, 1]",
                                    hint="must be integers"),
    "witness-condition-unparsable": verify(edit(("conditions",), ["grad(W1) = 0"]), names="grad(W1) = 0",
                                           hint="compare with ==, not ="),
    "witness-value-wrong-shape": verify(edit(("values", "x", "exact"), [["1"], ["2"]]), names=("values.x", "[2, 1]"),
                                        hint="the network needs [3, 1]"),
    "witness-value-not-exact": verify(edit(("values", "W1", "exact"), [[0.5]]), names="0.5",
                                      hint='exact values are strings such as "-2/3"'),
    "witness-value-nan": verify(edit(("values", "W1", "exact"), [["nan"]]), names="'nan'",
                                hint='strings such as "-2/3"'),
    "witness-fixed-not-list": verify(edit(("fixed",), 5), names="5", hint="a list"),
    "witness-fixed-yhat": verify(edit(("fixed",), [{"name": "yhat", "index": [0, 0], "value": "1"}]), names="'yhat'",
                                 hint="cannot be fixed"),
    "witness-not-utf8": verify(b"\xff\xfe{}", names="witness", hint="UTF-8"),
    "witness-deeply-nested-json": verify("[" * 100000 + "]" * 100000, names="not JSON", hint="nested"),
    "witness-huge-integer": verify('{"samples": ' + "9" * 5000 + "}", names="not JSON", hint="digits"),
    "witness-unreadable-path": Bad(("verify", "no/such/witness.json"), ("no/such/witness.json",), "check the path"),
    "witness-domain-integers-text": verify(edit(("domain", "integers"), "no"), names="'no'", hint="true or false"),
    "witness-no-values": verify(edit(("values",), delete=True), names="no values",
                                hint="its verdict was not 'found'"),
}


def _params() -> list:
    out = []
    for key, case in GALLERY.items():
        marks = [pytest.mark.xfail(strict=True, reason=f"bug: {case.bug}")] if case.bug else []
        out.append(pytest.param(case, id=key, marks=marks))
    return out


def _materialise(case: Bad, tmp_path: Path) -> list[str]:
    f = tmp_path / "input"
    if callable(case.content):
        f = tmp_path / "witness.json"
        f.write_text(json.dumps(case.content(seed_witness())))
    elif isinstance(case.content, bytes):
        f.write_bytes(case.content)
    elif isinstance(case.content, str):
        f = tmp_path / ("claims.toml" if case.args[0] == "check" else "witness.json")
        f.write_text(case.content)
    else:
        f.mkdir()
    return [a.replace("{f}", str(f)) for a in case.args]


@pytest.mark.parametrize("case", _params())
def test_bad_input(case: Bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = _materialise(case, tmp_path)
    r = runner.invoke(app, args)
    assert r.exception is None or isinstance(r.exception, SystemExit), (
        f"{type(r.exception).__name__}: {r.exception}")
    assert "Traceback" not in r.output
    assert r.exit_code == 2, r.output
    for name in case.names:
        assert name in r.output, f"{name!r} not named in: {r.output}"
    assert case.hint in r.output, f"no hint {case.hint!r} in: {r.output}"
    if case.args == ("check", "--no-store", "{f}"):
        assert str(tmp_path) in r.output, "a bad claim file is named in its message"


def test_condition_error_has_caret_under_the_bad_name():
    r = runner.invoke(app, ["find", "--net", "2-3-1", "--require", "all(grad(W1) != 0) and grad(W7) == 0"])
    assert r.exit_code == 2
    lines = r.output.splitlines()
    src = next(i for i, line in enumerate(lines) if line.strip().startswith("all(grad(W1)"))
    assert lines[src + 1].index("^") == lines[src].index("W7")


def test_toml_error_names_line_and_column(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(claim_with("expect", "refuted"))
    r = runner.invoke(app, ["check", "--no-store", str(f)])
    assert r.exit_code == 2
    assert f"{f}:10:10:" in r.output


def test_verify_witness_beyond_float_range_is_decided_exactly(tmp_path):
    """An exact value beyond float64 (1e400) is no bad input: the exact re-check decides, the float pass sees inf."""
    doc = copy.deepcopy(seed_witness())
    doc["values"]["W1"]["exact"] = [["1e400"]]
    r = runner.invoke(app, ["verify", _write(tmp_path, doc)])
    assert r.exception is None or isinstance(r.exception, SystemExit), f"{type(r.exception).__name__}: {r.exception}"
    assert r.exit_code == 1, r.output
    # which conditions fail depends on the witness find returned; some must, with their exact values shown
    assert "FAILS: " in r.output and "the values the failing conditions read:" in r.output


@pytest.mark.parametrize("stored", [
    pytest.param(json.dumps({"schema": "cexsearch.witness/1"}).encode(), id="incomplete"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
    pytest.param("fixed=5", id="fixed-not-a-list"),
])
def test_corrupt_stored_witness_is_searched_anew(stored, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "claims.toml").write_text(CLAIM)
    store = tmp_path / ".cexsearch" / "witnesses"
    store.mkdir(parents=True)
    if stored == "fixed=5":
        doc = copy.deepcopy(seed_witness())
        doc["fixed"] = 5
        stored = json.dumps(doc).encode()
    (store / "batch.json").write_bytes(stored)
    r = runner.invoke(app, ["check", "claims.toml"])
    assert r.exception is None or isinstance(r.exception, SystemExit), f"{type(r.exception).__name__}: {r.exception}"
    assert r.exit_code == 0, r.output
    assert "replayed" not in r.output


# --------------------------------------------------------------------------
# verify on an edited witness: exit 1, the first failing condition, its exact values


def _write(tmp_path: Path, doc: dict) -> str:
    p = tmp_path / "edited.json"
    p.write_text(json.dumps(doc))
    return str(p)


def test_verify_edited_witness_names_the_first_failing_condition(tmp_path):
    from cexsearch.semantics.numeric import recheck
    from cexsearch.workflows.witness import load_document

    doc = seed_witness()
    doc = copy.deepcopy(doc)
    y0 = Fraction(doc["values"]["y"]["exact"][0][0])
    doc["values"]["y"]["exact"][0][0] = str(y0 + 3)
    r = runner.invoke(app, ["verify", _write(tmp_path, doc)])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    problem, assignment, _ = load_document(json.dumps(doc))
    check = recheck(problem, assignment)
    first = check.failures()[0]
    fails = [line.strip() for line in r.output.splitlines() if "FAILS" in line]
    assert fails and fails[0] == f"FAILS: {first}"
    # ... with its exact values: the gradient the condition reads, as an exact rational
    param = re.fullmatch(r"grad\((\w+)\) == 0", first).group(1)
    g = check.evaluation.gradients[param].reshape(-1)
    from cexsearch.workflows.witness import exact_text

    assert f"grad({param}) = [{', '.join(exact_text(v) for v in g)}]" in r.output


def test_verify_edited_witness_shows_the_values_a_failing_fixed_check_reads(tmp_path):
    doc = copy.deepcopy(seed_witness())
    x00 = doc["values"]["x"]["exact"][0][0]
    wrong = str(Fraction(x00) + 5)
    doc["fixed"] = [{"name": "x", "index": [0, 0], "value": wrong}]
    r = runner.invoke(app, ["verify", _write(tmp_path, doc)])
    assert r.exit_code == 1, r.output
    assert f"FAILS: x[0, 0] == {wrong} (fixed)" in r.output
    assert re.search(rf"\bx(\[0, 0\])? = \[?{re.escape(x00)}\b", r.output), r.output


# --------------------------------------------------------------------------
# As a real process: the message on stderr, nothing on stdout, no traceback


SUBPROCESS = {
    "net": (["find", "--net", "1-x-1", "--require", "grad(W1) == 0"], "'x' is not a width"),
    "condition": (["find", "--net", "1-1-1", "--require", "grad(W1) == bogus"], "unknown name 'bogus'"),
    "fix": (["find", "--net", "1-1-1", "--require", "grad(W1) == 0", "--fix", "x=[1,2]"], "shape"),
    "conflict": (["find", "--net", "1-1-1", "--require", "grad(W1) == 0", "--integers", "--fix", "W1=1/2"],
                 "--integers conflicts"),
    "claims": (["check", "--no-store", "{toml}"], "TOML syntax error"),
    "witness": (["verify", "{json}"], "not JSON"),
}


def _run_module(args: list[str], tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    (tmp_path / "bad.toml").write_text("[[claim]\n")
    (tmp_path / "bad.json").write_text("{")
    args = [a.replace("{toml}", str(tmp_path / "bad.toml")).replace("{json}", str(tmp_path / "bad.json")) for a in args]
    return subprocess.run([sys.executable, "-m", "cexsearch", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})


@pytest.mark.parametrize("args, needle", list(SUBPROCESS.values()), ids=list(SUBPROCESS))
def test_subprocess_bad_input_exits_2_without_traceback(args, needle, tmp_path):
    p = _run_module(args, tmp_path)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert needle in p.stderr
    assert p.stdout == ""


def test_subprocess_verify_binary_file(tmp_path):
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    p = _run_module(["verify", str(tmp_path / "bin.json")], tmp_path)
    assert "Traceback" not in p.stderr
    assert p.returncode == 2


# Inputs that once hung: each must be answered (2 bad input, 3 inconclusive) within a few seconds.
PROMPT = {
    # Fraction('1e999999999') computed 10**999999999: numbers are refused beyond a size
    "huge-exponent": ["find", "--net", "1-1-1", "--require", "grad(W1) == 1e999999999"],
    # the pattern count 2 ** (samples * hidden_units) was computed before anything was refused
    "absurd-width": ["find", "--net", "1-100000000000000000000-1", "--require", "grad(W1) == 0"],
    # --timeout does not bound building the encoding: widths are refused beyond a limit
    "large-width-ignores-timeout": ["find", "--net", "1-100000-1", "--require", "grad(W1) == 0", "--timeout", "1"],
}


def _limit_memory() -> None:  # the hung process must not take the machine with it
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.mark.parametrize("args", list(PROMPT.values()), ids=list(PROMPT))
def test_subprocess_answers_promptly(args, tmp_path):
    try:
        p = subprocess.run([sys.executable, "-m", "cexsearch", *args], capture_output=True, text=True, timeout=4,
                           cwd=tmp_path, env={**os.environ, "NO_COLOR": "1", "OPENBLAS_NUM_THREADS": "1"},
                           preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no answer within 4 s: cexsearch {' '.join(args)[:80]}")
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    assert p.returncode in (2, 3), p.stderr
