"""Every file cexsearch writes gets the permissions a plain open(path, "w") would give.

Atomic writes used to go through tempfile.mkstemp, which creates 0600: a witness
written with umask 0022 was unreadable to anyone else.  Each test runs under a
given umask (restored afterwards) and compares with 0666 & ~umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cexsearch.cli import app
from cexsearch.errors import InputError
from cexsearch.files import atomic_open, write_atomic


@pytest.fixture(params=[0o022, 0o077], ids=["umask-0022", "umask-0077"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def plain_write_mode(path: Path, text: str = "x") -> int:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return mode(path)


def test_a_new_file_gets_the_mode_of_a_plain_write(tmp_path, umask):
    write_atomic(tmp_path / "a.json", "{}\n")
    assert mode(tmp_path / "a.json") == 0o666 & ~umask == plain_write_mode(tmp_path / "plain")
    with atomic_open(tmp_path / "b.png", binary=True) as f:
        f.write(b"\x89PNG")
    assert mode(tmp_path / "b.png") == 0o666 & ~umask
    assert (tmp_path / "b.png").read_bytes() == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("existing", [0o640, 0o604, 0o600])
def test_an_existing_file_keeps_its_mode(tmp_path, umask, existing):
    target = tmp_path / "w.json"
    target.write_text("old")
    target.chmod(existing)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == existing
    # as a plain write leaves it
    plain = tmp_path / "plain"
    plain.write_text("old")
    plain.chmod(existing)
    assert plain_write_mode(plain) == existing


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "w.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("stopped half way")
    assert target.read_text() == "old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_unwritable_folder_is_an_input_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="cannot write"):
        write_atomic(tmp_path / "file" / "w.json", "{}")


def _run(args):  # shrinking is beside the point here
    return CliRunner().invoke(app, args)


def test_find_writes_witness_derivation_and_plot_with_plain_modes(tmp_path, umask):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    r = _run(["find", "--net", "1-1-1", "--require", "grad(b2) == 1", "--no-shrink", "--json", str(out / "w.json"),
              "--explain", "markdown", "--explain-to", str(out / "w.md"), "--plot", str(out / "w.svg")])
    assert r.exit_code == 0, r.output
    for name in ("w.json", "w.md", "w.svg"):
        assert mode(out / name) == 0o666 & ~umask, name
    assert not list(out.glob(".*.tmp"))


CLAIM = """
[[claim]]
name = "a bias gradient of 1 is impossible"
net = "1-1-1"
samples = 1
given = []
then = ["grad(b2) != 1"]
expect = "holds"
"""


def test_check_writes_junit_report_and_store_with_plain_modes(tmp_path, umask):
    (tmp_path / "c.toml").write_text(CLAIM)
    store = tmp_path / "store"
    r = _run(["check", str(tmp_path / "c.toml"), "--no-shrink", "--store", str(store), "--junit", str(tmp_path / "r.xml"),
              "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 1, r.output  # the claim is refuted: its witness goes to the store
    stored = list(store.glob("*.json"))
    assert len(stored) == 1
    for path in (tmp_path / "r.xml", tmp_path / "r.json", stored[0]):
        assert mode(path) == 0o666 & ~umask, path.name
