"""``aptrank diagnose`` through the real entry point and its error boundary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer

import aptrank.cli.main as cli_main
from aptrank.cli.diagnose import diagnose as diagnose_command
from tests.helpers import write_beir


@pytest.fixture()
def run_cli(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``main()`` with ``diagnose`` registered (whether or not main.py registers it yet)."""
    app = typer.Typer()
    app.command("diagnose")(diagnose_command)
    app.command("noop")(lambda: None)  # two commands: typer keeps the subcommand name
    monkeypatch.setattr(cli_main, "app", app)

    def run(args: list[str]) -> int:
        monkeypatch.setattr(sys, "argv", ["aptrank", *args])
        try:
            cli_main.main()
        except SystemExit as e:
            return int(e.code or 0)
        return 0

    return run


def test_diagnose_writes_the_folder(tmp_path: Path, run_cli, capsys):  # type: ignore[no-untyped-def]
    data = write_beir(tmp_path / "toy")
    out = tmp_path / "out"
    args = [
        "diagnose",
        str(data),
        "--split",
        "test",
        "--ranker",
        "bm25",
        "--ranker",
        "bm25[k1=0.9]",
    ]
    assert (
        run_cli([*args, "--out", str(out), "--no-progress", "--depth", "4", "--resamples", "100"])
        == 0
    )
    result = json.loads((out / "diagnosis.json").read_text())
    assert list(result) == ["bm25", "bm25[k1=0.9]", "_meta"]
    assert result["bm25"]["constraint_pairs"]["accuracy"] == 1.0
    assert (out / "report.html").stat().st_size > 10_000
    assert "# aptrank diagnose: toy" in (out / "diagnosis.md").read_text()
    config = json.loads((out / "config.json").read_text())
    assert config["depth"] == 4 and config["resamples"] == 100 and "versions" in config
    assert "constraint pairs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ranker", "nosuch"], "unknown ranker"),
        (["--ranker", "bm25", "--ranker", "bm25"], "listed twice"),
        (["--ranker", "bm25", "--stratify-doc-field", "year"], "no document has the field"),
        (["--ranker", "bm25", "--split", "dev"], ""),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, run_cli, capsys, extra, message):  # type: ignore[no-untyped-def]
    data = write_beir(tmp_path / "toy")
    code = run_cli(["diagnose", str(data), "--out", str(tmp_path / "out"), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_dataset_exits_2(tmp_path: Path, run_cli, capsys):  # type: ignore[no-untyped-def]
    assert run_cli(["diagnose", str(tmp_path / "nothing-here"), "--ranker", "bm25"]) == 2
    assert "error:" in capsys.readouterr().err
