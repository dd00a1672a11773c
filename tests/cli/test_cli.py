from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aptrank.cli.main import main
from tests.data.malformed import CASES
from tests.helpers import write_beir


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the real entry point in-process; returns its exit code."""
    monkeypatch.setattr(sys, "argv", ["aptrank", *args])
    try:
        main()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_import_and_help_stay_light():
    code = (
        "import sys, aptrank, aptrank.cli.main\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(aptrank.cli.main.app, ['--help'])\n"
        "assert r.exit_code == 0 and 'evaluate' in r.output, r.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'pandas', 'sentence_transformers') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "aptrank.cli.main", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for command in ("evaluate", "run", "datasets"):
        assert command in out.stdout


def test_evaluate_writes_metrics_per_query_and_runs(tmp_path: Path, monkeypatch):
    data = write_beir(tmp_path / "toy")
    out = tmp_path / "out"
    pipelines = ["bm25", "bm25[k1=0.9,b=0.4]", "rrf(bm25,bm25[b=0.2])"]
    args = ["evaluate", str(data), "--out", str(out), "--no-progress"]
    for p in pipelines:
        args += ["--pipeline", p]
    assert run_cli(args, monkeypatch) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == pipelines
    for values in metrics.values():
        assert set(values) == {"ndcg@10", "recall@100", "mrr@10", "map"}
    per_query = json.loads((out / "per_query.json").read_text())
    assert set(per_query["bm25"]["ndcg@10"]) == {"q1", "q2", "q3"}
    index = json.loads((out / "runs" / "index.json").read_text())
    assert sorted(index.values()) == sorted(pipelines)
    for name in index:
        lines = (out / "runs" / name).read_text().splitlines()
        assert lines and all(len(line.split()) == 6 for line in lines)
    config = json.loads((out / "config.json").read_text())
    assert config["pipelines"] == pipelines and "bm25s" in config["versions"]


def test_evaluate_accepts_a_dataset_name_on_the_search_path(tmp_path: Path, monkeypatch):
    write_beir(tmp_path / "data" / "toy")
    monkeypatch.setenv("APTRANK_DATA", str(tmp_path / "data"))
    code = run_cli(["evaluate", "toy", "-p", "bm25", "-o", str(tmp_path / "o")], monkeypatch)
    assert code == 0 and (tmp_path / "o" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "no-such-dataset", "-p", "bm25"], "no-such-dataset"),
        (["evaluate", "{data}", "-p", "nope"], "unknown ranker 'nope'"),
        (["evaluate", "{data}", "-p", "bm25", "--split", "dev"], "dev"),
        (["evaluate", "{data}", "-p", "bm25", "-m", "ndcg@x"], "ndcg@x"),
        (["evaluate", "{data}", "-p", "bm25", "-p", "bm25"], "twice"),
        (["evaluate", "{data}", "-p", "ce:m"], "reranker"),
        (["run", "{data}", "--steps", "evaluate,fly"], "unknown step"),
        (["run", "{data}", "--profile", "huge"], "unknown profile"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, tmp_path, monkeypatch, capsys):
    data = write_beir(tmp_path / "toy")
    args = [a.replace("{data}", str(data)) for a in args] + ["-o", str(tmp_path / "o")]
    assert run_cli(args, monkeypatch) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.strip().startswith("error:")


@pytest.mark.parametrize("case", CASES, ids=[c.case_id for c in CASES])
def test_malformed_datasets_exit_2_naming_file_line_and_reason(case, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    case.write(folder)
    code = run_cli(["evaluate", str(folder), "-p", "bm25", "-o", str(tmp_path / "o")], monkeypatch)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    flat = " ".join(err.split())  # the console may wrap long lines
    for expected in case.expected:
        assert expected in flat, (expected, err)
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_malformed_input_in_a_real_subprocess_has_no_traceback(tmp_path: Path):
    folder = write_beir(tmp_path / "bad")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tgood\n")
    proc = subprocess.run(
        [sys.executable, "-m", "aptrank.cli.main", "evaluate", str(folder), "-p", "bm25"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "test.tsv:2" in " ".join(proc.stderr.split())


def test_datasets_lists_the_search_path(tmp_path: Path, monkeypatch, capsys):
    write_beir(tmp_path / "data" / "toy")
    monkeypatch.setenv("APTRANK_DATA", str(tmp_path / "data"))
    assert run_cli(["datasets"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "test" in out
