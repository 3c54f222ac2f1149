"""The find and verify commands as a user runs them: exit codes, messages, the JSON document."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app

runner = CliRunner()

SEED_001 = ["--net", "1-1-1", "--require", "grad(W2) == 0", "--require", "grad(b2) == 0",
            "--require", "grad(W1) != 0", "--require", "grad(b1) != 0"]


def run(*args: str):
    return runner.invoke(app, list(args))


def independent_gradients(doc: dict) -> dict[str, list[Fraction]]:
    """Recompute a 1-h-1 ReLU/MSE network's gradients from the JSON alone, per sample, by hand."""
    v = {k: [Fraction(x) for x in _flat(d["exact"])] for k, d in doc["values"].items()}
    M = doc["samples"]
    H = doc["network"]["widths"][1]
    W1, b1, W2, b2 = v["W1"], v["b1"], v["W2"], v["b2"][0]
    g = {"W1": [Fraction(0)] * H, "b1": [Fraction(0)] * H, "W2": [Fraction(0)] * H, "b2": [Fraction(0)]}
    for m in range(M):
        x, y = v["x"][m], v["y"][m]
        z = [W1[j] * x + b1[j] for j in range(H)]
        a = [max(zj, Fraction(0)) for zj in z]
        yhat = sum(W2[j] * a[j] for j in range(H)) + b2
        d = Fraction(2, M) * (yhat - y)
        g["b2"][0] += d
        for j in range(H):
            g["W2"][j] += d * a[j]
            dz = d * W2[j] * (1 if z[j] > 0 else 0)
            g["b1"][j] += dz
            g["W1"][j] += dz * x
    return g


def _flat(x):
    if isinstance(x, list):
        return [e for sub in x for e in _flat(sub)]
    return [x]


def test_seed_001_found_at_3_samples(tmp_path):
    out = tmp_path / "witness.json"
    r = run("find", *SEED_001, "--samples", "3", "--json", str(out))
    assert r.exit_code == 0, r.output
    assert "FOUND" in r.output
    doc = json.loads(out.read_text())
    assert doc["schema"] == "cexsearch.witness/1"
    assert doc["verdict"] == "found"
    assert doc["conditions"] == ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"]
    g = independent_gradients(doc)
    assert g["W2"] == [0] and g["b2"] == [0]
    assert g["W1"][0] != 0 and g["b1"][0] != 0
    for p in ("W1", "b1", "W2", "b2"):
        assert [Fraction(x) for x in _flat(doc["gradients"][p]["exact"])] == g[p]
    assert doc["check"]["exact"] is True
    assert len(doc["activation_pattern"]) == 3


def test_seed_001_none_at_2_samples():
    r = run("find", *SEED_001, "--samples", "2")
    assert r.exit_code == 1, r.output
    assert "NONE" in r.output and "all 4 activation patterns decided unsatisfiable" in r.output


def test_one_sample_output_bias_forces_all_gradients_zero():
    r = run("find", "--net", "2-3-1", "--samples", "1", "--require", "grad(b2) == 0", "--require", "grad(W1) != 0")
    assert r.exit_code == 1, r.output


def test_json_to_stdout_is_alone(tmp_path):
    r = runner.invoke(app, ["find", *SEED_001, "--samples", "3", "--json", "-"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "found"


def test_json_for_none_verdict(tmp_path):
    out = tmp_path / "w.json"
    r = run("find", *SEED_001, "--samples", "2", "--json", str(out))
    assert r.exit_code == 1
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "none" and "values" not in doc
    assert doc["search"]["total_patterns"] == 4 and doc["search"]["remaining"] == 0


def test_fixed_values_and_thread_witness():
    r = run("find", *SEED_001, "--samples", "3", "--fix", "W1=1", "--fix", "b1=-1", "--fix", "W2=1", "--fix", "b2=-1",
            "--fix", "x=[[0],[2],[3]]", "--fix", "y[0]=-2", "--fix", "y[1, 0]=2", "--fix", "y[2,0]=0")
    assert r.exit_code == 0, r.output
    assert "-2/3" in r.output


def test_decimals_are_exact():
    r = run("find", "--net", "1-1", "--require", "grad(W1) == 0.1", "--fix", "x=1", "--fix", "W1=0", "--fix", "b1=0",
            "--loss", "sse")
    assert r.exit_code == 0, r.output
    assert "1/10" in r.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--net", "1-x-1", "--require", "grad(W1) == 0"], "'x' is not a width"),
        (["--net", "1", "--require", "grad(W1) == 0"], "one layer only"),
        (["--net", "1-0-1", "--require", "grad(W1) == 0"], "at least 1"),
        (["--net", "1-1-1", "--require", "grad(W3) == 0"], "did you mean"),
        (["--net", "1-1-1", "--require", "grd(W1) == 0"], "did you mean 'grad'"),
        (["--net", "1-1-1", "--require", "grad(W1)[0, 5] == 0"], "out of range"),
        (["--net", "1-1-1", "--require", "grad(W1 == 0"], "never closed"),
        (["--net", "1-1-1", "--require", "grad(W1) = 0"], "=="),
        (["--net", "2-3-1", "--require", "W1 == W2"], "cannot compare shapes"),
        (["--net", "1-1-1", "--require", "grad(W1) == 0", "--fix", "Q=1"], "unknown name 'Q'"),
        (["--net", "1-1-1", "--require", "grad(W1) == 0", "--fix", "x=[1,2]"], "shape"),
        (["--net", "1-1-1", "--require", "grad(W1) == 0", "--fix", "x=abc"], "not a number"),
        (["--net", "1-1-1", "--require", "grad(W1) == 0", "--integers", "--fix", "W1=1/2"], "--integers"),
        (["--net", "1-1-1", "--require", "grad(W1) == 0", "--bound", "1", "--fix", "W1=2"], "--bound"),
        (["--net", "1-1-1", "--require", "grad(W1) == 0", "--activation", "tanh"], "relu, leaky_relu or linear"),
        (["--net", "1-1-1"], "no --require"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, needle):
    r = run("find", *args)
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert "Traceback" not in r.output


def test_condition_error_points_at_the_column():
    r = run("find", "--net", "1-1-1", "--require", "grad(W1) == bogus")
    assert r.exit_code == 2
    lines = r.output.splitlines()
    src = next(i for i, line in enumerate(lines) if "grad(W1) == bogus" in line and "error" not in line)
    assert lines[src + 1].index("^") == lines[src].index("bogus")


def test_verify_accepts_and_rejects(tmp_path):
    out = tmp_path / "w.json"
    assert run("find", *SEED_001, "--samples", "3", "--json", str(out)).exit_code == 0
    r = run("verify", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    doc["values"]["y"]["exact"][0][0] = str(Fraction(doc["values"]["y"]["exact"][0][0]) + 1)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    r = run("verify", str(edited))
    assert r.exit_code == 1
    assert "FAILS: grad(b2) == 0" in r.output


@pytest.mark.parametrize("text, needle", [("{", "not JSON"), ('{"schema": "other/9"}', "unknown schema"),
                                          ('{"schema": "cexsearch.witness/1"}', "missing field 'network'")])
def test_verify_malformed(tmp_path, text, needle):
    p = tmp_path / "bad.json"
    p.write_text(text)
    r = run("verify", str(p))
    assert r.exit_code == 2
    assert needle in r.output


def test_timeout_gives_unknown_never_none():
    # A budget too small to decide anything: the verdict must be inconclusive (3), not "none" (1).
    r = run("find", "--net", "2-4-1", "--samples", "6", "--require", "grad(W2) == 0", "--require", "grad(b2) == 0",
            "--require", "all(grad(W1) != 0)", "--timeout", "0.001")
    assert r.exit_code == 3, r.output
    assert "UNKNOWN" in r.output


def test_version_and_module_entry():
    r = run("version")
    assert r.exit_code == 0 and "z3" in r.output
