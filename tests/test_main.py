"""The console script's entry point: Ctrl-C anywhere, even before a command body runs, is exit 130 without a traceback."""

from __future__ import annotations

import pytest

from cexsearch import cli


def test_ctrl_c_while_typer_parses_or_prints_usage_is_exit_130(monkeypatch, capsys):
    def interrupted() -> None:
        # what `timeout -s INT 2 cexsearch find --bad-option` met: the signal inside Typer's import of Rich
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", interrupted)
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_ctrl_c_while_the_cli_is_still_being_imported_is_exit_130(monkeypatch, capsys):
    # the console script imports the CLI (Z3, numpy, Typer, Rich: most of a second) inside the guard
    import builtins

    from cexsearch import entry

    real_import = builtins.__import__

    def slow_import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "cli" and level == 1 and globals and globals.get("__name__") == "cexsearch.entry":
            raise KeyboardInterrupt  # the signal lands while `from .cli import main` runs
        return real_import(name, globals, locals, fromlist, level)

    # entry.main() marks the process as the console script's, after which a command's verdict makes it
    # ignore SIGINT, and so would every process it starts: undone after the test, or a later test's
    # Ctrl-C to a child CLI (test_features) is ignored and the child runs its search to the end
    monkeypatch.setattr(entry, "_console_script", False)
    monkeypatch.setattr(builtins, "__import__", slow_import)
    with pytest.raises(SystemExit) as e:
        try:
            entry.main()
        except KeyboardInterrupt:
            pytest.fail("a Ctrl-C during the CLI's import escaped as a traceback")
    assert e.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_the_console_script_and_python_m_use_the_guarded_entry_point():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"cexsearch": "cexsearch.entry:main"}
    assert "from .entry import main" in (root / "cexsearch" / "__main__.py").read_text()


def test_a_ctrl_c_after_the_verdict_keeps_its_exit_code(tmp_path):
    # CI once sent SIGINT just as a proof ended: it landed while Click unwound, after the verdict was
    # printed, and the command exited 1 ("Aborted!") with a traceback from Z3's object finaliser.
    import subprocess
    import sys

    script = tmp_path / "late_ctrl_c.py"
    script.write_text(
        "import os, signal, sys\n"
        "from cexsearch import cli, entry\n"
        "real = cli.app\n"
        "def app():\n"
        "    try:\n"
        "        real()\n"
        "    finally:\n"
        "        os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C, once the command has answered\n"
        "cli.app = app\n"
        "sys.argv = ['cexsearch', 'find', '--net', '1-1-1', '--samples', '1', '-r', 'grad(W1) != 0', '--no-shrink']\n"
        "entry.main()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "CI": "true"})
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "FOUND" in done.stdout
    assert "interrupted" not in done.stderr and "Traceback" not in done.stderr
