"""cexsearch find with training steps and --samples all, as a user types it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_a_run_is_found_replayed_and_shown_step_by_step():
    r = run("find", "--net", "2-3-1", "--samples", "2", "--steps", "1", "-r", "W2 == 0", "-r", "grad@1(W1) != 0",
            "--no-shrink")
    assert r.exit_code == 0, r.output
    assert "training run: 1 step of gd" in r.output and "moved by the step before" in r.output
    assert "exact re-check: all 2 conditions hold" in r.output


def test_a_fixed_lr_and_sgd_with_momentum():
    r = run("find", "--net", "1-2-1", "--samples", "2", "--steps", "2", "--optimizer", "sgd", "--batch-size", "1",
            "--lr", "1/2", "--momentum", "1/2", "-r", "loss@2 > loss@1", "--no-shrink")
    assert r.exit_code == 0, r.output
    assert "2 steps of sgd (batch 1), lr 1/2, momentum 1/2" in r.output


def test_no_run_exists_is_a_proof():
    r = run("find", "--net", "2-3-1", "--samples", "2", "--steps", "2", "--fix", "W1=0", "--fix", "b1=0",
            "--fix", "W2=0", "-r", "W2@2 != 0")
    assert r.exit_code == 1, r.output
    assert "NONE" in r.output and "of step 0" in r.output


@pytest.mark.parametrize("args, message", [
    (["--lr", "1/2"], "--lr sets up training steps, and --steps is not given"),
    (["--steps", "1", "--batch-size", "3"], "larger than the dataset"),
    (["--steps", "1", "--lr", "-1"], "--lr must be positive"),
    (["--steps", "1", "--momentum", "1"], "--momentum must be at least 0 and below 1"),
    (["--steps", "1", "--optimizer", "adam"], "--optimizer 'adam' is not known"),
    (["--steps", "x"], "--steps 'x' is not a valid integer"),
    (["--steps", "1", "-r", "W1@2 != 0"], "outside the run of 1 step"),
])
def test_bad_training_options_exit_2_with_the_fix(args, message):
    base = ["find", "--net", "1-2-1", "--samples", "2"]
    r = run(*base, *args, *([] if "-r" in args else ["-r", "W1@1 != 0" if "--steps" in args else "grad(W1) != 0"]))
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_samples_all_states_what_it_covers():
    r = run("find", "--net", "10-10-1", "--samples", "all", "--fix", "W1=0", "--fix", "b1=0", "--fix", "W2=0",
            "-r", "grad(W1) != 0")
    assert r.exit_code == 1, r.output
    assert "no batch size has a witness" in r.output
    r = run("find", "--net", "1-1-1", "--samples", "all", "-r", "grad(W2) == 0", "-r", "grad(W1) != 0")
    assert r.exit_code == 2 and "can hold for a batch whose samples each break it" in r.output
