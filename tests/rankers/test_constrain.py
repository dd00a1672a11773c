"""constrain(PIPELINE): retrieve by the topic, demote what violates the query's exclusions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aptrank.cli.main import main
from aptrank.errors import AptrankError
from aptrank.rankers import build_ranker
from aptrank.rankers.constrain import ConstrainRanker
from aptrank.types import Doc
from tests.helpers import write_beir

CORPUS = {
    "vio": Doc("Aaron, brother of Moses, was a high priest of the Israelites.", ""),
    "sat": Doc("Aaron was the first high priest; his sons served in the tabernacle.", ""),
    "off": Doc("Bananas are a tropical fruit rich in potassium.", ""),
    "mos": Doc("Moses led the Israelites out of Egypt.", ""),
}
QUERIES = {"q": "Aaron the high priest, but don't mention Moses.", "plain": "tropical fruit"}


def ranker(spec: str = "constrain(bm25)") -> ConstrainRanker:
    r = build_ranker(spec)
    assert isinstance(r, ConstrainRanker)
    return r.index(CORPUS)


def test_violator_falls_below_the_satisfier_in_rank_and_rerank() -> None:
    plain = build_ranker("bm25").index(CORPUS).rank(QUERIES, k=4)
    assert next(iter(plain["q"])) == "vio"  # the violator wins on the raw query
    run = ranker().rank(QUERIES, k=4)
    order = list(run["q"])
    assert order.index("sat") < order.index("vio")
    assert "mos" not in order[:2]
    judged = ranker().rerank(QUERIES, {"q": {"sat": 0.0, "vio": 0.0}})
    assert judged["q"]["sat"] > judged["q"]["vio"]


def test_a_query_without_constraint_keeps_the_inner_ranking() -> None:
    inner = build_ranker("bm25").index(CORPUS).rank({"plain": QUERIES["plain"]}, k=4)
    run = ranker().rank({"plain": QUERIES["plain"]}, k=4)
    assert run == inner


def test_penalty_zero_changes_nothing_but_the_topic() -> None:
    run = ranker("constrain(bm25)[penalty=0]").rank(QUERIES, k=4)
    topical = build_ranker("bm25").index(CORPUS).rank({"q": "Aaron the high priest."}, k=4)
    assert list(run["q"]) == list(topical["q"])


def test_name_and_options_round_trip() -> None:
    r = build_ranker("constrain(bm25)[threshold=0.7,depth=10]")
    assert r.name == "constrain(bm25)[threshold=0.7,depth=10]"
    assert build_ranker(r.name).name == r.name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("constrain(bm25)[colour=red]", "unknown option 'colour'"),
        ("constrain(bm25)[threshold=high]", "threshold='high': expected a float"),
        ("constrain(bm25)[threshold=2]", "threshold must be in [0, 1]"),
        ("constrain(bm25)[depth=0]", "depth and batch_size >= 1"),
        ("constrain(nosuch)", "unknown ranker 'nosuch'"),
    ],
)
def test_malformed_options_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(AptrankError) as e:
        build_ranker(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cli_exits_2_with_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    data = write_beir(tmp_path / "toy")
    monkeypatch.setattr(
        sys, "argv", ["aptrank", "evaluate", str(data), "-p", "constrain(bm25)[penalty=x]"]
    )
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "penalty='x'" in err and len(err.splitlines()) == 1
