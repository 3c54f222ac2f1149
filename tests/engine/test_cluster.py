"""--cluster: enumeration subtrees on a Dask cluster give the verdicts (and witnesses) of a local run.

The tests start a ``dask.distributed.LocalCluster`` of worker processes, as a user's
cluster would be, and are skipped when the optional extra is not installed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import pytest
from typer.testing import CliRunner

distributed = pytest.importorskip("distributed")

from test_soundness import CASES, problem  # noqa: E402

from cexsearch.api import NetworkSettings, build_problem  # noqa: E402
from cexsearch.cli import app  # noqa: E402
from cexsearch.engine import cluster as cluster_mod  # noqa: E402
from cexsearch.engine.options import SearchOptions  # noqa: E402
from cexsearch.engine.search import parallel_enumeration, search  # noqa: E402
from cexsearch.errors import InputError  # noqa: E402
from cexsearch.workflows.witness import outcome_document  # noqa: E402

SEED001 = ["grad(W2) == 0", "grad(b2) == 0", "grad(W1) != 0", "grad(b1) != 0"]
NOBIAS = NetworkSettings(bias=False)


def _start(**config):  # type: ignore[no-untyped-def]
    import dask

    with dask.config.set(config):
        return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=logging.ERROR)


@pytest.fixture(scope="module")
def address():
    cluster = _start()
    yield cluster.scheduler_address
    cluster_mod._clients.pop(cluster.scheduler_address, None)
    cluster.close()


def _eventually(holds, what, seconds=120.0):  # type: ignore[no-untyped-def]
    """Wait for an event, however loaded the machine; the bound only keeps a broken run from hanging."""
    end = time.monotonic() + seconds
    while not holds():
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.1)


def _z3_busy(dask_worker=None) -> bool:  # type: ignore[no-untyped-def]
    """On a worker: a subtree holds the worker's Z3 (it is running, not queued)."""
    from cexsearch.engine import cluster

    return cluster._z3_lock.locked()


def _busy_workers(client) -> int:  # type: ignore[no-untyped-def]
    return sum(client.run(_z3_busy).values())


def _values(outcome):
    return json.dumps(outcome_document(outcome)["values"])


def test_every_soundness_claim_gets_the_local_verdict_and_witness(address):
    # parallel_enumeration sends every claim's subtrees to the cluster, however small
    for case in CASES:
        p = problem(case)
        for learn in (True, False):
            local = search(p, SearchOptions(strategy="enumerate", timeout=60, learn=learn))
            remote = parallel_enumeration(p, SearchOptions(strategy="enumerate", timeout=60, cluster=address,
                                                           learn=learn), None, None)
            assert remote.verdict == local.verdict == case[6], (case[0], remote.reason)
            if remote.verdict == "found" and not learn:
                # subtrees are read in order, so the cluster returns the witness one process finds (with
                # learning the cores a solver holds differ between schedules, and so may its model)
                assert _values(remote) == _values(local), case[0]
            elif remote.verdict == "none":
                assert remote.stats.remaining == 0 and remote.stats.undecided == 0


@pytest.fixture
def submitted(monkeypatch):
    """How many subtrees went to the cluster."""
    count = []
    original = cluster_mod.DaskPool.submit

    def submit(self, *args):  # type: ignore[no-untyped-def]
        count.append(args[2])
        return original(self, *args)

    monkeypatch.setattr(cluster_mod.DaskPool, "submit", submit)
    return count


def test_cli_find_on_the_cluster_matches_the_local_run(address, tmp_path, submitted):
    args = ["find", "--net", "1-3-1", "--samples", "3", "--no-shrink", "--strategy", "enumerate"]
    for r in SEED001:
        args += ["--require", r]
    runner = CliRunner()
    here = runner.invoke(app, [*args, "--jobs", "1", "--json", str(tmp_path / "a.json")])
    there = runner.invoke(app, [*args, "--cluster", address, "--json", str(tmp_path / "b.json")])
    assert here.exit_code == there.exit_code == 0, there.output
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["values"] == b["values"]
    assert submitted, "the witness search never reached the cluster"
    submitted.clear()
    proof = runner.invoke(app, ["find", "--net", "1-4-1", "--no-bias", "--samples", "2", "--strategy", "enumerate",
                                "--require", "grad(W2) == 0", "--require", "grad(W1) != 0", "--cluster", address,
                                "--no-decompose"])  # decomposition proves it without enumerating
    assert proof.exit_code == 1, proof.output
    assert "all 256 activation patterns decided unsatisfiable" in proof.output
    assert submitted


CLAIM = """
[[claim]]
name = "grad(W2) == 0 forces grad(W1) == 0 without biases"
net = "1-10-1"
samples = 2
bias = false
given = ["grad(W2) == 0"]
then = ["grad(W1) == 0"]
expect = "holds"
"""


def test_check_runs_claims_on_the_cluster(address, submitted, tmp_path, monkeypatch):
    from cexsearch.engine import search as engine

    # the auto portfolio's first slice (one If query) decides this claim now; with no budget for it,
    # the proof is the enumeration's, spread over the cluster
    monkeypatch.setattr(engine, "IF_SLICE_RLIMIT", 1)
    monkeypatch.setattr(engine, "DECOMPOSE_PATTERNS", 0)  # nor the single-unit relaxation
    (tmp_path / "c.toml").write_text(CLAIM)
    r = CliRunner().invoke(app, ["check", str(tmp_path / "c.toml"), "--no-store", "--cluster", address])
    assert r.exit_code == 0, r.output
    assert submitted


def test_stopping_reaches_a_running_subtree(address):
    # 1-10-1 without bias at 4 samples takes a minute of CPU in one subtree; the stop event ends it
    p = build_problem(NOBIAS.network("1-10-1"), 4, ["grad(W2) == 0", "grad(W1) != 0"])
    pool = cluster_mod.DaskPool(address)
    # without learning: learned cores settle it in seconds, and the test needs a subtree that runs long
    fut = pool.submit(p, SearchOptions(strategy="enumerate", learn=False), (), None)
    _eventually(lambda: _busy_workers(pool.client) == 1, "the subtree started on a worker")
    pool.stop.set()
    # a subtree that ignored the stop would run its whole proof (a minute or more) and time out here
    verdict, values, stats, why, _, _ = fut.result(timeout=120)
    assert verdict == "unknown" and values is None
    # stopped part way: patterns were left, whatever the time it took
    assert stats.undecided + stats.remaining > 0
    _eventually(lambda: _busy_workers(pool.client) == 0, "the worker's Z3 was released")


def test_a_timeout_stops_the_cluster_search(address):
    p = build_problem(NOBIAS.network("1-10-1"), 4, ["grad(W2) == 0", "grad(W1) != 0"])
    out = search(p, SearchOptions(strategy="enumerate", timeout=1.5, cluster=address, learn=False, decompose=False))
    # the whole proof would say 'none': the deadline stopped every subtree, each reporting what it left
    assert out.verdict == "unknown" and "undecided" in (out.reason or "")
    assert out.stats.undecided + out.stats.remaining > 0
    # every subtree answered before search returned, so the workers are free again
    assert _busy_workers(cluster_mod.client_for(address)) == 0
    quick = parallel_enumeration(problem(CASES[1]), SearchOptions(strategy="enumerate", cluster=address), None,
                                 time.monotonic() + 60)  # a budget: subtrees still held would leave it undecided
    assert quick.verdict == CASES[1][6], quick.reason


def test_ctrl_c_exits_130_and_frees_the_cluster(address, tmp_path):
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "cexsearch", "find", "--net", "1-10-1", "--samples", "4", "--no-bias",
           "--require", "grad(W2) == 0", "--require", "grad(W1) != 0", "--strategy", "enumerate",
           "--no-learn", "--no-decompose", "--cluster", address]  # without either: a proof that runs long
    out = tmp_path / "w.json"
    proc = subprocess.Popen([*cmd, "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "true"})
    client = cluster_mod.client_for(address)
    try:
        # connected, and subtrees running on both workers (the whole proof takes a minute of CPU or more)
        _eventually(lambda: _busy_workers(client) == 2, "subtrees running on both workers")
    finally:
        proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "unknown" and doc["reason"] == "interrupted"
    assert doc["search"]["remaining"] + doc["search"]["undecided"] > 0  # it ended on the signal, not the proof
    # nothing of the interrupted search holds the workers: they are released, and a new search is answered
    _eventually(lambda: _busy_workers(client) == 0, "the workers were released")
    quick = parallel_enumeration(problem(CASES[1]), SearchOptions(strategy="enumerate", cluster=address), None,
                                 time.monotonic() + 60)  # a budget: subtrees still held would leave it undecided
    assert quick.verdict == CASES[1][6], quick.reason


def test_a_lost_worker_makes_the_verdict_unknown_not_none():
    cluster = _start(**{"distributed.scheduler.allowed-failures": 0})
    try:
        p = build_problem(NOBIAS.network("1-10-1"), 4, ["grad(W2) == 0", "grad(W1) != 0"])
        result = {}
        run = threading.Thread(target=lambda: result.setdefault("out", parallel_enumeration(
            p, SearchOptions(strategy="enumerate", cluster=cluster.scheduler_address, learn=False), None, None)))
        run.start()
        client = cluster_mod.client_for(cluster.scheduler_address)
        _eventually(lambda: _busy_workers(client) > 0, "a subtree running")
        try:
            client.run(os._exit, 1)
        except Exception:
            pass  # the workers die before they answer
        run.join(60)
        out = result["out"]
        assert out.verdict == "unknown"
        assert "worker" in (out.reason or "")
    finally:
        cluster_mod._clients.pop(cluster.scheduler_address, None)
        cluster.close()


@pytest.mark.parametrize("address, message", [
    ("nonsense::", "is not a scheduler address"),
    ("tcp://scheduler", "is not a scheduler address"),
    ("tcp://127.0.0.1:1", "no Dask scheduler answered"),
])
def test_a_bad_address_is_an_input_error(address, message, monkeypatch):
    monkeypatch.setattr(cluster_mod, "CONNECT_SECONDS", 1)
    r = CliRunner().invoke(app, ["find", "--net", "1-4-1", "--require", "grad(W1) != 0", "--cluster", address])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_workers_of_another_version_are_refused(address, monkeypatch):
    monkeypatch.setattr(cluster_mod, "_clients", {})
    monkeypatch.setattr(cluster_mod, "__version__", "0.0.0-other")
    with pytest.raises(InputError) as e:
        cluster_mod.client_for(address)
    assert "0.0.0-other" in e.value.message and "same versions" in e.value.hint


def test_a_scheduler_without_workers_is_an_input_error(monkeypatch):
    monkeypatch.setattr(cluster_mod, "CONNECT_SECONDS", 1)
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as empty:
        with pytest.raises(InputError) as e:
            cluster_mod.client_for(empty.scheduler_address)
    assert "no workers" in e.value.message and "dask worker" in e.value.hint


def test_without_dask_the_extra_is_named(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(InputError) as e:
        cluster_mod.client_for("tcp://127.0.0.1:8786")
    assert "cexsearch[dask]" in e.value.hint
