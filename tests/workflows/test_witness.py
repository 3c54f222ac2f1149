"""Witness documents of training problems: the spec, the run's lr and the trajectory, written and read back.

Documents come from ``find --steps K --json`` as a user runs it; verify rebuilds the training
problem and replays the run exactly; a malformed training section is refused (exit 2).
"""

from __future__ import annotations

import json
from fractions import Fraction as F
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app
from cexsearch.model.training import Training
from cexsearch.semantics.numeric import recheck, replay
from cexsearch.workflows.witness import load_document, problem_doc

runner = CliRunner()
GD = ["find", "--net", "1-2-1", "--samples", "2", "--steps", "2", "-r", "W2 == 0", "-r", "grad@2(W1) != 0", "--no-shrink"]
SGD = ["find", "--net", "1-2-1", "--samples", "2", "--steps", "2", "--optimizer", "sgd", "--batch-size", "1",
       "--lr", "1/2", "--momentum", "1/2", "-r", "grad@1(W1) != 0", "--no-shrink"]


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("training-docs")
    out = {}
    for name, args in (("gd", GD), ("sgd", SGD)):
        out[name] = d / f"{name}.json"
        r = run(*args, "--json", str(out[name]))
        assert r.exit_code == 0, r.output
    return out


def flat(tree):
    return [e for sub in tree for e in flat(sub)] if isinstance(tree, list) else [tree]


@pytest.mark.parametrize("kind, training", [("gd", Training(2)),
                                            ("sgd", Training(2, "sgd", 1, F(1, 2), F(1, 2)))])
def test_round_trip_rebuilds_the_training_problem_and_replays_the_run(docs, kind, training):
    text = docs[kind].read_text()
    doc = json.loads(text)
    problem, a, _ = load_document(text)
    assert problem.training == training
    assert [c.text for c in problem.conditions] == doc["conditions"]
    assert {k: v for k, v in problem_doc(problem).items()} == {k: doc[k] for k in problem_doc(problem)}
    assert a is not None
    # the free lr is the witness's, a fixed one the problem's (the assignment then carries none)
    assert (a.lr is None) == (training.lr is not None)
    check = recheck(problem, a)
    assert check.confirmed and doc["check"]["exact"] is True
    r = replay(problem, a)
    assert doc["lr"]["exact"] == str(r.lr) and doc["lr"]["float"] == float(r.lr)
    assert [s["step"] for s in doc["trajectory"]] == list(range(training.steps + 1))
    for t, step in enumerate(doc["trajectory"]):
        assert step["batch"] == list(training.batch(t, problem.samples))
        for p in ("W1", "b1", "W2", "b2"):
            assert [F(v) for v in flat(step["parameters"][p]["exact"])] == list(r.params[t][p].reshape(-1))
            assert [F(v) for v in flat(step["gradients"][p]["exact"])] == list(r.traces[t].gradients[p].reshape(-1))
            assert flat(step["parameters"][p]["float"]) == [float(v) for v in r.params[t][p].reshape(-1)]
        assert F(step["loss"]["exact"]) == r.full[t].loss and F(step["batch_loss"]["exact"]) == r.traces[t].loss
    # step 0 is the witness's initial values
    assert doc["trajectory"][0]["parameters"]["W1"] == doc["values"]["W1"]


def test_sgd_trajectory_moves_by_momentum(docs):
    """θ_{t+1} = θ_t - lr v_{t+1}, v_1 = g_0, v_2 = μ v_1 + g_1, checked on the document's own numbers."""
    doc = json.loads(docs["sgd"].read_text())
    lr, mu = F(doc["lr"]["exact"]), F(doc["training"]["momentum"])
    steps = doc["trajectory"]
    v = None
    for t in range(2):
        for p in ("W1", "b1", "W2", "b2"):
            g = [F(e) for e in flat(steps[t]["gradients"][p]["exact"])]
            v_p = g if v is None else [mu * a + b for a, b in zip(v[p], g)]
            before = [F(e) for e in flat(steps[t]["parameters"][p]["exact"])]
            after = [F(e) for e in flat(steps[t + 1]["parameters"][p]["exact"])]
            assert after == [b - lr * e for b, e in zip(before, v_p)]
            steps[t].setdefault("_v", {})[p] = v_p
        v = steps[t]["_v"]


def test_verify_replays_the_run_and_reports_a_broken_step_condition(docs, tmp_path):
    r = run("verify", str(docs["gd"]))
    assert r.exit_code == 0, r.output
    assert "holds: grad@2(W1) != 0" in r.output
    # another learning rate, chosen so that grad@2(W1) vanishes: the replay must see it (for the
    # witness W1 = [0, -1], x = [-1, 0], y = [0, 1] the residual of sample 0 at step 2 is 2 lr - 3 lr^2)
    doc = json.loads(docs["gd"].read_text())
    problem, a, _ = load_document(docs["gd"].read_text())
    for lr in (F(2, 3), F(1, 2), F(2), F(1, 3), F(3), F(1, 4), F(1, 10), F(5)):
        from dataclasses import replace

        if not recheck(problem, replace(a, lr=lr)).confirmed:
            break
    else:
        pytest.fail("no lr breaks grad@2(W1) != 0 for this witness; pick another edit")
    doc["lr"] = {"exact": str(lr), "float": float(lr)}
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    r = run("verify", str(edited))
    assert r.exit_code == 1, r.output
    assert "FAILS: grad@2(W1) != 0" in r.output
    assert "grad@2(W1)" in r.output.split("the values the failing conditions read:")[1]


def test_a_document_without_training_has_no_training_fields(tmp_path):
    out = tmp_path / "w.json"
    r = run("find", "--net", "1-1-1", "--samples", "3", "-r", "grad(W2) == 0", "-r", "grad(W1) != 0", "--json", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert not {"training", "lr", "trajectory"} & set(doc)


def _edit(doc: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize("kind, path, value, needle", [
    ("gd", "training", "2 steps", "field 'training' should be an object, got '2 steps'"),
    ("gd", "training.steps", -1, "training.steps should be a whole number of at least 0, got -1"),
    ("gd", "training.steps", "2", "training.steps should be a whole number of at least 0, got '2'"),
    ("gd", "training.steps", 51, "training.steps must be a whole number from 0 to 50, got 51"),
    ("gd", "training.optimizer", "adam", "training.optimizer should be gd or sgd, got 'adam'"),
    ("gd", "training.lr", "0", "training.lr must be positive, got 0"),
    ("gd", "training.lr", "ten", "'ten'"),
    ("gd", "training.momentum", "1", "training.momentum must be at least 0 and below 1, got 1"),
    ("gd", "training.batch_size", 1, "training.batch_size needs training.optimizer sgd: gd uses the whole dataset at every step"),
    ("sgd", "training.batch_size", 3, "training.batch_size 3 is larger than the dataset (2 samples)"),
    ("gd", "training.first", KeyError, "training has no field 'first'"),
    ("gd", "training.epochs", 3, "training has an unknown field 'epochs'"),
    ("gd", "lr", KeyError, "a training witness needs the run's learning rate"),
    ("gd", "lr", {"exact": "-1", "float": -1.0}, "lr should be positive, got -1"),
    ("sgd", "lr", {"exact": "1/3", "float": 0.3}, "lr is 1/3, but training.lr fixes it to 1/2"),
    ("gd", "training", KeyError, "field 'lr' belongs to a training run, and the document has no 'training'"),
])
def test_malformed_training_section_is_refused(docs, tmp_path, kind, path, value, needle):
    doc = _edit(json.loads(docs[kind].read_text()), path, value)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    r = run("verify", str(bad))
    assert r.exit_code == 2, r.output
    assert needle in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output


def test_a_step_condition_needs_the_training_section(docs, tmp_path):
    doc = json.loads(docs["gd"].read_text())
    for key in ("training", "lr", "trajectory"):
        del doc[key]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    r = run("verify", str(bad))
    assert r.exit_code == 2
    assert "there are none" in r.output


def test_training_documents_meet_the_schema_and_the_schema_needs_the_run(docs):
    schema = pytest.importorskip("cexsearch.output.schema")
    pytest.importorskip("jsonschema")
    for path in docs.values():
        assert schema.problems(json.loads(path.read_text())) == []
    doc = json.loads(docs["gd"].read_text())
    del doc["trajectory"]
    assert any("trajectory" in p for p in schema.problems(doc))
    doc = json.loads(docs["gd"].read_text())
    doc["training"]["lr"] = "0"
    assert any(p.startswith("$.training.lr") for p in schema.problems(doc))
    doc = json.loads(docs["gd"].read_text())
    del doc["trajectory"][1]["gradients"]
    assert any("gradients" in p for p in schema.problems(doc))
