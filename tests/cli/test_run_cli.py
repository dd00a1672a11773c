"""``aptrank run`` options: --config (TOML/JSON, a saved config.json), --pipeline, --teacher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aptrank import job
from aptrank.cli.main import main
from aptrank.job import BASELINES, PROFILES, RunConfig, RunResult
from tests.cli.test_cli import run_cli
from tests.helpers import write_beir

VARIANTS = ("bm25", "bm25[k1=0.9,b=0.4]")


def write_toml(
    path: Path, dataset: Path, steps: tuple[str, ...], pipelines: tuple[str, ...]
) -> Path:
    quoted = ", ".join(json.dumps(s) for s in pipelines)
    path.write_text(
        f"dataset = {json.dumps(str(dataset))}\n"
        f"steps = [{', '.join(json.dumps(s) for s in steps)}]\n"
        f"pipelines = [{quoted}]\n"
        "depth = 100\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[RunConfig]:
    """The configs ``aptrank run`` would run (nothing is ranked)."""
    configs: list[RunConfig] = []

    def fake_run_job(config: RunConfig, out: Any, **_: Any) -> RunResult:
        configs.append(config)
        return RunResult(config, Path(out))

    monkeypatch.setattr(job, "run_job", fake_run_job)
    return configs


def test_a_run_repeated_from_its_saved_config_json_gives_the_same_config_and_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = write_beir(tmp_path / "toy")
    toml = write_toml(tmp_path / "run.toml", data, ("evaluate", "report"), VARIANTS[:1])
    first, again = tmp_path / "first", tmp_path / "again"
    args = ["run", "--config", str(toml), "-p", VARIANTS[1], "-o", str(first), "--no-progress"]
    assert run_cli(args, monkeypatch) == 0
    saved = json.loads((first / "config.json").read_text())
    assert saved["run"]["pipelines"] == list(VARIANTS)  # the file's, then --pipeline's
    assert saved["run"]["steps"] == ["evaluate", "report"] and saved["run"]["depth"] == 100
    assert (first / "report.html").exists()

    args = ["run", "--config", str(first / "config.json"), "-o", str(again), "--no-progress"]
    assert run_cli(args, monkeypatch) == 0
    repeated = json.loads((again / "config.json").read_text())
    assert repeated["run"] == saved["run"]
    metrics = json.loads((first / "metrics.json").read_text())
    assert list(metrics) == list(VARIANTS)
    assert json.loads((again / "metrics.json").read_text()) == metrics
    assert (again / "report.html").exists()


def test_pipelines_are_added_after_the_baselines(tmp_path: Path, monkeypatch, captured):
    data = write_beir(tmp_path / "toy")
    args = ["run", str(data), "--steps", "evaluate", "-p", "bm25[k1=0.9]", "-p", "bm25"]
    assert run_cli([*args, "-o", str(tmp_path / "o")], monkeypatch) == 0
    (config,) = captured
    assert config.pipelines == (*BASELINES, "bm25[k1=0.9]")
    assert config.steps == ("evaluate",) and config.teacher is None


def test_options_given_override_the_config_file(tmp_path: Path, monkeypatch, captured):
    data = write_beir(tmp_path / "toy")
    toml = write_toml(tmp_path / "run.toml", data, ("evaluate",), VARIANTS)
    args = ["run", "--config", str(toml), "--split", "dev", "--teacher", "ranker:bm25"]
    assert run_cli([*args, "--profile", "full", "-o", str(tmp_path / "o")], monkeypatch) == 0
    (config,) = captured
    assert config == RunConfig(
        dataset=str(data),
        split="dev",
        profile="full",
        steps=PROFILES["full"],  # a profile given brings its steps
        pipelines=VARIANTS,
        depth=100,
        teacher="ranker:bm25",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('dataset = "toy"\ndepht = 10\n', "unknown key 'depht'"),
        ('dataset = "toy"\ndepth = "deep"\n', "key 'depth' should be int"),
        ('dataset = "toy"\nsteps = ["evaluate", "fly"]\n', "unknown step(s) fly"),
        ("dataset = [\n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_exits_2_with_one_line_naming_it(
    text, message, tmp_path: Path, monkeypatch, capsys
):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    assert run_cli(["run", "--config", str(path), "-o", str(tmp_path / "o")], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err and message in err


def test_a_dataset_or_a_config_file_is_needed(tmp_path: Path, monkeypatch, capsys):
    assert run_cli(["run", "-o", str(tmp_path / "o")], monkeypatch) == 2
    assert "give a DATASET" in capsys.readouterr().err
    missing = tmp_path / "missing.json"
    assert run_cli(["run", "--config", str(missing)], monkeypatch) == 2
    assert str(missing) in capsys.readouterr().err


def test_sizes_and_synthetic_docs_options_reach_the_config(tmp_path, monkeypatch):
    import aptrank.job as job

    seen = []

    def capture(config, out, progress=None, say=None):
        seen.append(config)
        raise job.AptrankError("captured")

    monkeypatch.setattr(job, "run_job", capture)

    monkeypatch.setattr(
        "sys.argv",
        ["aptrank", "run", "x", "--sizes", "0,25", "--synthetic-docs", "40", "--no-progress"],
    )
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert seen[0].sizes == (0, 25) and seen[0].synthetic_docs == 40
    monkeypatch.setattr("sys.argv", ["aptrank", "run", "x", "--sizes", "0,a", "--no-progress"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2 and len(seen) == 1
