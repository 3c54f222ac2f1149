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
