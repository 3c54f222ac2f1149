"""The shipped JSON Schemas: valid schemas, met by every document the CLI writes, and strict enough to fail.

Documents come from the CLI as a user runs it (check on the examples, twice so the second
run replays the store; find for found, none and unknown; sweep), never from hand-made dicts.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app
from cexsearch.output import schema

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.toml"))
SEED_001 = ["--net", "1-1-1", "-r", "grad(W2) == 0", "-r", "grad(b2) == 0", "-r", "grad(W1) != 0", "-r", "grad(b1) != 0"]

runner = CliRunner()


def cli(*args: str, code: int) -> None:
    r = runner.invoke(app, list(args))
    assert r.exit_code == code, r.output


def valid(doc: dict) -> dict:
    assert schema.problems(doc) == []
    return doc


# --------------------------------------------------------------------------
# The schema files themselves


@pytest.mark.parametrize("name", sorted(schema.SCHEMAS))
def test_schema_files_are_draft_2020_12_schemas(name):
    s = schema.load(name)
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"] == schema.SCHEMAS[name][1]
    assert s["properties"]["schema"] == {"const": name, "description": s["properties"]["schema"]["description"]}
    assert s["additionalProperties"] is False


def test_every_schema_name_in_the_source_has_a_shipped_schema():
    """A new document kind (or version) written by cexsearch cannot ship without its schema."""
    written = set()
    for src in (ROOT / "cexsearch").rglob("*.py"):
        written |= set(re.findall(r'"(cexsearch\.[a-z_]+/\d+)"', src.read_text(encoding="utf-8")))
    assert written == set(schema.SCHEMAS)


def test_package_data_ships_every_schema_file():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cexsearch"]
    shipped = {p.name for pat in patterns for p in (ROOT / "cexsearch").glob(pat)}
    assert shipped == {f for f, _ in schema.SCHEMAS.values()}


# --------------------------------------------------------------------------
# Every document the CLI writes validates


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, dict]:
    d = tmp_path_factory.mktemp("docs")
    store = str(d / "store")
    docs: dict[str, Path] = {}
    cli("check", *EXAMPLES, "--store", store, "--json", str(d / "check.json"), code=0)
    cli("check", *EXAMPLES, "--store", store, "--json", str(d / "check-replayed.json"), code=0)
    cli("find", *SEED_001, "-M", "3", "--json", str(d / "found.json"), code=0)
    cli("find", *SEED_001, "-M", "2", "--json", str(d / "none.json"), code=1)
    cli("find", "--net", "2-3-1", "-r", "W1[0,0]*W1[0,0] == 2", "--json", str(d / "unknown.json"), code=3)
    cli("find", "--net", "1-1-1", "--fix", "x=1e400", "-r", "grad(W1) != 0", "--no-shrink",
        "--json", str(d / "beyond-float.json"), code=0)
    cli("find", "--net", "2-2-1", "-M", "2", "-r", "grad(W1) != 0", "--strategy", "enumerate", "--no-shrink",
        "--json", str(d / "symmetry.json"), code=0)
    cli("sweep", "--net", "1-{1..2}-1", "-M", "1..3", "-r", "grad(W2) == 0", "-r", "grad(b2) == 0",
        "-r", "grad(W1) != 0", "--json", str(d / "sweep.json"), code=0)
    docs = {p.name: p for p in d.glob("*.json")} | {f"store/{p.name}": p for p in (d / "store").glob("*.json")}
    return {name: json.loads(p.read_text(encoding="utf-8")) for name, p in docs.items()}


def test_every_written_document_validates(written):
    assert len([n for n in written if n.startswith("store/")]) >= 3  # the examples' refuting witnesses
    for name, doc in written.items():
        assert schema.problems(doc) == [], name


def test_the_documents_cover_every_verdict_and_optional_part(written):
    """The validation above is only as good as the documents: make sure each shape was there to check."""
    assert {written[n]["verdict"] for n in ("found.json", "none.json", "unknown.json")} == {"found", "none", "unknown"}
    assert "audit" in written["none.json"] and "algebraic" in written["unknown.json"]
    assert "shrink" in written["found.json"] and "symmetry" in written["symmetry.json"]["search"]
    assert None in written["beyond-float.json"]["values"]["x"]["float"][0]
    replayed = [c for c in written["check-replayed.json"]["claims"] if c["witness"]]
    assert replayed and all(case["replayed"] for c in replayed for case in c["cases"] if case["verdict"] == "refuted")
    assert any(c["extended"] for c in written["sweep.json"]["cells"])
    assert {c["verdict"] for c in written["check.json"]["claims"]} == {"holds", "refuted"}


def test_written_witnesses_still_verify(written, tmp_path):
    """The schema describes what verify reads: a document that validates re-checks."""
    for name in ("found.json", "beyond-float.json", "store/" + next(n[6:] for n in written if n.startswith("store/"))):
        p = tmp_path / "w.json"
        p.write_text(json.dumps(written[name]))
        cli("verify", str(p), code=0)


# --------------------------------------------------------------------------
# Documents that break the schema fail, naming the field


def edited(doc: dict, path: tuple, value=None, delete: bool = False) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


WITNESS_BREAKS = [
    pytest.param(("search",), None, True, "$: 'search' is a required property", id="missing-search"),
    pytest.param(("network", "loss"), None, True, "$.network: 'loss' is a required property", id="missing-loss"),
    pytest.param(("extra",), 1, False, "$: Additional properties are not allowed ('extra'", id="extra-top-level"),
    pytest.param(("network", "depth"), 2, False, "$.network: Additional properties", id="extra-in-network"),
    pytest.param(("samples",), "3", False, "$.samples: '3' is not of type 'integer'", id="samples-text"),
    pytest.param(("samples",), 0, False, "$.samples: 0 is less than the minimum of 1", id="samples-zero"),
    pytest.param(("verdict",), "maybe", False, "$.verdict: 'maybe' is not one of", id="verdict-unknown"),
    pytest.param(("network", "activation"), "tanh", False, "$.network.activation", id="activation-unknown"),
    pytest.param(("values", "W1", "exact"), [["0.5"]], False, "$.values.W1.exact", id="exact-decimal"),
    pytest.param(("values", "W1", "exact"), [[1]], False, "$.values.W1.exact", id="exact-number"),
    pytest.param(("values", "W1", "exact"), [["4/1"]], False, "$.values.W1.exact", id="exact-denominator-1"),
    pytest.param(("values", "W1", "exact"), [["-0"]], False, "$.values.W1.exact", id="exact-minus-zero"),
    pytest.param(("values", "z"), {"shape": [], "exact": "1", "float": 1.0}, False, "$.values", id="value-not-a-name"),
    pytest.param(("loss", "float"), "2.75", False, "$.loss.float", id="float-text"),
    pytest.param(("check", "exact"), "yes", False, "$.check.exact", id="check-exact-text"),
    pytest.param(("search", "pruned"), -1, False, "$.search.pruned: -1 is less than the minimum of 0", id="negative-count"),
    pytest.param(("values",), None, True, "$: 'values' is a required property", id="found-without-values"),
    pytest.param(("gradients",), None, True, "$: 'gradients' is a dependency of 'values'", id="values-without-gradients"),
    pytest.param(("verdict",), "none", False, "$: 'audit' is a required property", id="none-without-audit"),
    pytest.param(("tool", "name"), "other", False, "$.tool.name: 'cexsearch' was expected", id="tool-name"),
    pytest.param(("schema",), "cexsearch.witness/2", False, "$.schema: 'cexsearch.witness/2' names no schema",
                 id="unknown-schema-version"),
]


@pytest.mark.parametrize("path, value, delete, message", WITNESS_BREAKS)
def test_a_broken_witness_fails_naming_the_field(written, path, value, delete, message):
    problems = schema.problems(edited(valid(written["found.json"]), path, value, delete))
    assert any(p.startswith(message) for p in problems), problems


def test_a_none_document_with_values_fails(written):
    doc = valid(written["none.json"])
    found = written["found.json"]
    broken = dict(doc, **{k: found[k] for k in ("values", "yhat", "residual", "loss", "gradients", "pre_activations",
                                                 "activation_pattern", "check")})
    assert "$.values: not allowed here (a verdict of none has no witness)" in schema.problems(broken)
    assert "$.audit: not allowed here (only a verdict of none has an audit)" in schema.problems(
        dict(found, audit=doc["audit"]))


def test_a_broken_check_report_fails_naming_the_field(written):
    report = valid(written["check.json"])
    i = next(i for i, c in enumerate(report["claims"]) if c["witness"])
    j = next(j for j, c in enumerate(report["claims"]) if c["verdict"] == "holds")
    cases = [
        (edited(report, ("claims", i, "witness", "search", "decided_unsat"), -1),
         f"$.claims[{i}].witness.search.decided_unsat: -1 is less than the minimum of 0"),
        (edited(report, ("claims", i, "witness", "claim"), None, delete=True),
         f"$.claims[{i}].witness: 'claim' is a required property"),
        (edited(report, ("claims", j, "witness"), report["claims"][i]["witness"]), f"$.claims[{j}].witness"),
        (edited(report, ("claims", j, "cases", 0, "verdict"), "passed"), f"$.claims[{j}].cases[0].verdict"),
        (edited(report, ("claims", j, "expect"), "unknown"), f"$.claims[{j}].expect"),
        (edited(report, ("claims", j, "line"), "12"), f"$.claims[{j}].line"),
        (edited(report, ("claims", j, "note"), "x"), f"$.claims[{j}]: Additional properties"),
        (edited(report, ("witness_schema",), "cexsearch.witness/2"), "$.witness_schema"),
    ]
    for doc, message in cases:
        problems = schema.problems(doc)
        assert any(p.startswith(message) for p in problems), (message, problems)


def test_a_broken_sweep_grid_fails_naming_the_field(written):
    grid = valid(written["sweep.json"])
    k = next(k for k, c in enumerate(grid["cells"]) if c["verdict"] == "found")
    n = next(n for n, c in enumerate(grid["cells"]) if c["verdict"] == "none")
    cases = [
        (edited(grid, ("cells", k, "witness"), None), f"$.cells[{k}].witness: None is not of type 'object'"),
        (edited(grid, ("cells", n, "witness"), grid["cells"][k]["witness"]), f"$.cells[{n}].witness"),
        (edited(grid, ("cells", k, "witness", "samples"), "2"), f"$.cells[{k}].witness.samples"),
        (edited(grid, ("nets", 0), "1-0-1"), "$.nets[0]"),
        (edited(grid, ("smallest_with_witness",), {"net": "1-1-1"}), "$.smallest_with_witness"),
    ]
    for doc, message in cases:
        problems = schema.problems(doc)
        assert any(p.startswith(message) for p in problems), (message, problems)


def test_problems_of_something_that_is_no_cexsearch_document():
    assert schema.problems([1, 2]) == ["$.schema: None names no schema cexsearch writes "
                                       "(cexsearch.check/1, cexsearch.sweep/1, cexsearch.witness/1)"]


def test_any_validator_can_use_the_files(written):
    """The files alone, with a registry of the shipped schemas by $id, as another program would load them."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    files = {f: json.loads(schema.path(n).read_text(encoding="utf-8")) for n, (f, _) in schema.SCHEMAS.items()}
    registry = Registry().with_resources((s["$id"], DRAFT202012.create_resource(s)) for s in files.values())
    v = jsonschema.Draft202012Validator(files["check.schema.json"], registry=registry)
    assert v.is_valid(written["check.json"])
    assert not v.is_valid(edited(written["check.json"], ("claims",), None, delete=True))


# --------------------------------------------------------------------------
# verify --strict


def test_verify_strict_accepts_what_cexsearch_writes_and_names_the_bad_field(written, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(written["found.json"]))
    cli("verify", "--strict", str(good), code=0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(edited(written["found.json"], ("search", "solver_checks"), "1")))
    cli("verify", str(bad), code=0)  # the re-check does not read search statistics
    r = runner.invoke(app, ["verify", "--strict", str(bad)])
    assert r.exit_code == 2, r.output
    assert f"{bad}: $.search.solver_checks: '1' is not of type 'integer'" in r.output
    assert "cexsearch.witness/1" in r.output and "Traceback" not in r.output


def test_verify_strict_without_jsonschema_says_what_to_install(written, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_jsonschema(name, *args, **kwargs):
        if name.split(".")[0] in ("jsonschema", "referencing"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jsonschema)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(written["found.json"]))
    r = runner.invoke(app, ["verify", "--strict", str(good)])
    assert r.exit_code == 2 and "needs the jsonschema package" in r.output and "cexsearch[schema]" in r.output
