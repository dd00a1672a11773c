"""``aptrank rank``: new queries over a dataset's corpus, no judgments, TREC or JSONL out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import aptrank.experiment
from aptrank.data import load_corpus, ranked, read_trec_run
from aptrank.rankers import build_ranker
from aptrank.types import Run
from tests.cli.test_cli import run_cli
from tests.helpers import write_beir

NEW_QUERIES = {"n1": "cat naps", "n2": "pet food stock", "n3": "barking dogs"}


def write_jsonl_queries(path: Path, queries: dict[str, str] = NEW_QUERIES) -> Path:
    lines = [json.dumps({"_id": qid, "text": text}) for qid, text in queries.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_run(folder: Path, queries: dict[str, str], k: int) -> Run:
    """What bm25 gives when called directly, cut to k: the reference the files are checked on."""
    ranker = build_ranker("bm25").index(load_corpus(folder / "corpus.jsonl"))
    run = ranker.rank(queries, k)
    return {qid: dict(ranked(scores)[:k]) for qid, scores in run.items()}


@pytest.fixture
def unjudged(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A BEIR folder without the test split: no qrels folder, or only a train split."""
    if getattr(request, "param", "no-qrels-folder") == "no-qrels-folder":
        folder = write_beir(tmp_path / "toy")
        shutil.rmtree(folder / "qrels")
        return folder
    return write_beir(tmp_path / "toy", split="train")


@pytest.mark.parametrize("unjudged", ["no-qrels-folder", "other-split-only"], indirect=True)
def test_rank_new_queries_without_judgments_writes_a_trec_run(
    unjudged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = write_jsonl_queries(tmp_path / "new.jsonl")
    out = tmp_path / "out" / "run.trec"
    args = ["rank", str(unjudged), "-p", "bm25", "--queries", str(queries), "--out", str(out)]
    assert run_cli([*args, "--k", "2", "--no-progress"], monkeypatch) == 0
    run = read_trec_run(out)
    assert set(run) == set(NEW_QUERIES)
    assert all(1 <= len(docs) <= 2 for docs in run.values())
    assert run == expected_run(unjudged, NEW_QUERIES, 2)  # scores round-trip exactly
    lines = [line.split() for line in out.read_text().splitlines()]
    for qid in run:
        rows = [row for row in lines if row[0] == qid]
        assert [row[2] for row in rows] == [doc for doc, _ in ranked(run[qid])]
        assert [int(row[3]) for row in rows] == list(range(1, len(rows) + 1))
    assert {row[5] for row in lines} == {"bm25"}
    assert not list(out.parent.glob("*.tmp"))


def test_jsonl_output_has_one_line_per_query_with_ranks_1_to_n(
    unjudged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = write_jsonl_queries(tmp_path / "new.jsonl")
    out = tmp_path / "run.jsonl"
    args = ["rank", str(unjudged), "-p", "bm25", "-q", str(queries), "-o", str(out), "--k", "3"]
    assert run_cli(args, monkeypatch) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["query_id"] for line in lines] == list(NEW_QUERIES)  # the file's order
    expected = expected_run(unjudged, NEW_QUERIES, 3)
    for line in lines:
        assert set(line) == {"query_id", "results"}
        results = line["results"]
        assert all(set(r) == {"doc_id", "score", "rank"} for r in results)
        assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
        assert 1 <= len(results) <= 3
        pairs = [(r["doc_id"], r["score"]) for r in results]
        assert pairs == ranked(expected[line["query_id"]])
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("header", ["", "id\ttext\n", "query-id\ttext\n"])
def test_tsv_queries_rank_as_the_same_queries_in_jsonl(
    header: str, unjudged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tsv = tmp_path / "new.tsv"
    tsv.write_text(header + "".join(f"{q}\t{t}\n" for q, t in NEW_QUERIES.items()))
    out = tmp_path / "run.txt"
    args = ["rank", str(unjudged), "-p", "bm25", "-q", str(tsv), "-o", str(out), "--k", "2"]
    assert run_cli(args, monkeypatch) == 0
    assert read_trec_run(out) == expected_run(unjudged, NEW_QUERIES, 2)


def test_without_queries_the_judged_queries_of_the_split_are_ranked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_beir(tmp_path / "toy", qrels={"q1": {"d1": 1}, "q3": {"d4": 1}})
    out = tmp_path / "run.trec"
    assert run_cli(["rank", str(folder), "-p", "bm25", "-o", str(out)], monkeypatch) == 0
    assert set(read_trec_run(out)) == {"q1", "q3"}


def test_without_queries_or_the_split_every_query_is_ranked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_beir(tmp_path / "toy", qrels={"q1": {"d1": 1}}, split="train")
    out = tmp_path / "run.trec"
    args = ["rank", str(folder), "-p", "bm25", "-o", str(out), "--split", "test"]
    assert run_cli(args, monkeypatch) == 0
    assert set(read_trec_run(out)) == {"q1", "q2", "q3"}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "q.jsonl",
            '{"_id": "n1", "text": "cats"}\n{"_id": "n2", text}\n',
            "q.jsonl:2: invalid JSON",
        ),
        ("q.jsonl", '{"_id": "n1", "text": "cats"}\n{"_id": "n2"}\n', "q.jsonl:2: missing `text`"),
        ("q.jsonl", '{"text": "cats"}\n', "q.jsonl:1: missing `_id`"),
        (
            "q.jsonl",
            '{"_id": "n1", "text": "a"}\n{"_id": "n1", "text": "b"}\n',
            "q.jsonl:2: duplicate id 'n1'",
        ),
        ("q.tsv", "n1\tcats\nn2\t  \n", "q.tsv:2: query 'n2' has empty `text`"),
        ("q.tsv", "n1\tcats\nn2\tdogs\tbark\n", "q.tsv:2: expected 2 tab-separated fields"),
        ("q.tsv", "n1\tcats\nn1\tdogs\n", "q.tsv:2: duplicate id 'n1'"),
    ],
)
def test_a_malformed_queries_file_exits_2_naming_file_and_line(
    name: str,
    content: str,
    expected: str,
    unjudged: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queries = tmp_path / name
    queries.write_text(content, encoding="utf-8")
    out = tmp_path / "run.trec"
    args = ["rank", str(unjudged), "-p", "bm25", "-q", str(queries), "-o", str(out)]
    assert run_cli(args, monkeypatch) == 2
    err = " ".join(capsys.readouterr().err.split())  # the console may wrap long lines
    assert err.startswith("error:") and expected in err, err
    assert "Traceback" not in err
    assert not out.exists()


def never_rank(*args: object, **kwargs: object) -> None:
    raise AssertionError("ranking started")


@pytest.mark.parametrize("out", ["run.csv", "run", "run.json"])
def test_an_unknown_extension_exits_2_before_any_work(
    out: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(aptrank.experiment, "rank_corpus", never_rank)
    folder = write_beir(tmp_path / "toy")
    assert run_cli(["rank", str(folder), "-p", "bm25", "-o", str(tmp_path / out)], monkeypatch) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown extension" in err and ".trec, .txt, .jsonl" in err
    assert "Traceback" not in err
    assert not (tmp_path / out).exists()


def test_a_reranker_alone_exits_2_before_loading_the_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(aptrank.experiment, "rank_corpus", never_rank)
    args = ["rank", str(tmp_path / "missing"), "-p", "ce:m", "-o", str(tmp_path / "r.trec")]
    assert run_cli(args, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "reranker" in err and "Traceback" not in err
