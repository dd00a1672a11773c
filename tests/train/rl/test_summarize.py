"""Item summaries (ReLSum): the BM25 item reward on hand-made cases, the resumable summary job,
the summary-augmented corpus and a tiny GRPO run, with a random-weight Llama on the tiny corpus."""

from __future__ import annotations

import json
import math

import pytest

from aptrank.errors import AptrankError, DataError
from aptrank.rankers import build_ranker
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.prompts import parse_summary, summary_messages
from aptrank.train.rl.rewards import PARSE_FAILURE_REWARD
from aptrank.train.rl.summarize import (
    SummaryConfig,
    summarize_corpus,
    summarized_corpus,
    summary_rows,
    train_summarizer,
)
from aptrank.train.rl.summary_reward import BM25ItemScorer, SummaryReward, SummaryRewardConfig
from aptrank.types import Doc
from tests.helpers import CORPUS, QRELS, QUERIES


def test_item_scores_equal_bm25_on_the_unchanged_corpus():
    scorer = BM25ItemScorer(CORPUS)
    ranker = BM25Ranker().index(CORPUS)
    for qid, text in QUERIES.items():
        expected = ranker.rerank({qid: text}, {qid: dict.fromkeys(CORPUS, 0.0)})[qid]
        got = scorer.corpus_scores(text)
        for doc, score in expected.items():
            assert got.get(doc, 0.0) == pytest.approx(score, rel=1e-5)


def test_rank_of_a_replaced_item_matches_a_rebuilt_index():
    # d2 ("dogs bark at the mailman") rewritten to mention cats: where does it land for q1?
    scorer = BM25ItemScorer(CORPUS)
    text = "Dogs cats sleeping all day long"
    rebuilt = BM25Ranker().index({**CORPUS, "d2": Doc("cats sleeping all day long", title="Dogs")})
    run = rebuilt.rank({"q1": QUERIES["q1"]}, k=5)["q1"]
    order = sorted(run, key=lambda d: (run[d], d), reverse=True)
    # statistics differ slightly after the rebuild (df of cat/sleep +1), not the order here;
    # d1 ("Cats: cats purr and sleep ...") has "cat" twice and stays first
    assert scorer.rank("d2", text, QUERIES["q1"]) == order.index("d2") + 1 == 2
    assert scorer.rank("d2", "dogs bark", QUERIES["q1"]) == 0  # no query term: not retrieved


def test_a_summary_with_the_query_words_earns_more_than_one_without():
    reward = SummaryReward(CORPUS, QUERIES, QRELS, SummaryRewardConfig(metric="ndcg@10"))
    # d3 is relevant to q1 ("cats sleeping"); alone, "cats and dogs ..." ranks below d1
    parts = reward.score_texts(["d3", "d3", "d3"], ["cats sleeping all day", "dogs together", ""])
    good, bad, failed = parts["total"]
    assert parts["retrieval"][0] == 1.0  # rank 1 for its one training query
    assert parts["retrieval"][1] == 0.0  # neither query word: not retrieved
    assert good > bad > failed == PARSE_FAILURE_REWARD
    assert parts["parse_failed"] == [0.0, 0.0, 1.0]
    assert parts["format"] == [1.0, 1.0, 0.0]
    # append keeps "cats" from the text: "dogs together" still retrieves d3, at rank 2
    append = SummaryReward(CORPUS, QUERIES, QRELS, SummaryRewardConfig(mode="append"))
    assert append.score_texts(["d3"], ["dogs together"])["retrieval"] == [1 / math.log2(3)]


def test_reward_has_trls_signature_and_logs_components():
    reward = SummaryReward(CORPUS, QUERIES, QRELS)
    logged: dict[str, float] = {}
    completions = [[{"role": "assistant", "content": "stock market crash"}], "Summary: pet food"]
    out = reward(
        ["p", "p"],
        completions,
        doc_id=["d4", "d4"],
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    assert out == reward.last["total"] and out[0] > out[1]
    # "Markets pet food": the kept title alone ranks d4 first for "stock market" (market:
    # idf ln 4, a 3-token text), above d:5 (stock twice, idf ln 2.4, 8 tokens); the label
    # costs the format bonus
    assert out == pytest.approx([1.1, 1.0])
    assert {"components/retrieval/mean", "components/total/std"} <= set(logged)
    with pytest.raises(ValueError, match="doc_id"):
        reward(["p"], ["x"])
    with pytest.raises(ValueError, match="training query"):
        reward.score_texts(["nope"], ["x"])


def test_summary_prompt_and_parse():
    messages = summary_messages("Cats", "cats purr and sleep all day", max_text_words=2)
    assert messages[1]["content"].endswith("Title: Cats\nText: cats purr")
    assert parse_summary("**Summary:** cat sleep\nmore", max_words=1) == "cat"
    assert parse_summary("...") is None


def test_summary_rows_are_items_relevant_to_a_training_query():
    rows = summary_rows(CORPUS, {"q1": QRELS["q1"], "q2": QRELS["q2"]})
    assert [r["doc_id"] for r in rows] == ["d1", "d2", "d3"]  # d2 via q2; grade 0 for q1
    assert "Title: Cats" in rows[0]["prompt"][1]["content"]
    with pytest.raises(AptrankError):
        summary_rows(CORPUS, {"q": {"d1": 0}})


def test_summarized_corpus_in_both_modes_and_a_ranker_on_it():
    summaries = {"d2": "cats sleeping"}
    replaced = summarized_corpus(CORPUS, summaries, "replace")
    appended = summarized_corpus(CORPUS, summaries, "append")
    assert replaced["d2"] == Doc("cats sleeping", title="Dogs")
    assert appended["d2"] == Doc("dogs bark at the mailman cats sleeping", title="Dogs")
    assert replaced["d1"] is CORPUS["d1"] and CORPUS["d2"].text == "dogs bark at the mailman"
    run = build_ranker("bm25").index(replaced).rank({"q2": "barking"}, k=5)
    assert run["q2"] == {}  # "bark" was only in d2's text, which its summary replaced
    run = build_ranker("bm25").index(appended).rank({"q1": "cats sleeping"}, k=5)
    assert "d2" in run["q1"]
    with pytest.raises(AptrankError):
        summarized_corpus(CORPUS, {"zz": "x"})
    with pytest.raises(AptrankError, match="mode"):
        summarized_corpus(CORPUS, summaries, "prepend")


class Killed(Exception):
    pass


def test_summary_job_resumes_without_regenerating_done_items(policy, tmp_path):
    path = tmp_path / "sum.jsonl"
    config = SummaryConfig(max_new_tokens=5, batch_size=2)

    def kill_after_first_batch(done: int, total: int) -> None:
        raise Killed

    with pytest.raises(Killed):
        summarize_corpus(CORPUS, None, str(policy), config, path, kill_after_first_batch)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["header"]["model"] and len(lines) == 3  # header + one batch
    with path.open("a") as f:
        f.write('{"doc_id": "d3", "ans')  # a torn line, as a kill mid-write leaves it

    job = summarize_corpus(CORPUS, None, str(policy), config, path)
    assert (job.generated, job.reused) == (3, 2)
    assert set(job.summaries) | set(job.failed) == set(CORPUS)
    records = [json.loads(x) for x in path.read_text().splitlines()[1:]]
    assert sorted(r["doc_id"] for r in records) == sorted(CORPUS)  # each item once

    again = summarize_corpus(CORPUS, ["d1", "d4"], str(policy), config, path)
    assert again.generated == 0 and again.reused == 2
    assert set(again.summaries) | set(again.failed) == {"d1", "d4"}
    with pytest.raises(DataError, match="another model"):
        summarize_corpus(CORPUS, None, str(policy), SummaryConfig(max_new_tokens=6), path)


def test_tiny_summarizer_trains_two_steps_with_finite_loss(policy, tmp_path):
    pytest.importorskip("trl")
    from aptrank.train.rl.step_log import load_step_log
    from tests.train.rl.tiny import tiny_grpo

    config = tiny_grpo(policy, max_steps=2)
    # without titles the summary is all an item is indexed with: with them, the titles alone
    # rank every item of this tiny corpus the same whatever the summary, and no group varies
    untitled = {d: Doc(doc.text) for d, doc in CORPUS.items()}
    out = tmp_path / "run"
    result = train_summarizer(out, untitled, QRELS, QUERIES, config=config, progress=False)
    assert result.global_step == 2
    steps = load_step_log(out)
    assert [s["step"] for s in steps] == [1, 2]
    for s in steps:
        assert math.isfinite(s["loss"]) and math.isfinite(s["rewards/summary/mean"])
        assert "components/retrieval/mean" in s and "components/parse_failed/mean" in s
    from safetensors.torch import load_file

    before = load_file(str(policy / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert any(not (before[n] == after[n]).all() for n in before), "no parameter changed"


class OverlapScorer:
    """A frozen 'cross-encoder': the number of query words in the text (to test the option)."""

    model = "overlap"

    def score(self, pairs, batch_size=32, show_progress=False):
        return [float(len(set(q.split()) & set(t.lower().split()))) for q, t in pairs]


def test_a_frozen_pair_scorer_rewards_the_sigmoid_of_its_score():
    reward = SummaryReward(CORPUS, QUERIES, QRELS, pair_scorer=OverlapScorer())
    assert reward.scorer is None and reward.config()["ranker"] == {"pair_scorer": "overlap"}
    # d2 relevant to q2 "dog barking"; replace mode scores "Dogs <summary>"
    parts = reward.score_texts(["d2", "d2"], ["dog barking loudly", "mailman"])
    assert parts["retrieval"] == pytest.approx([1 / (1 + math.exp(-2)), 0.5])


def test_copying_the_title_costs_what_the_weight_says():
    """In the title + summary setting a copied title adds nothing: title_copy_weight takes the
    copied share off the total; the retrieval part is unchanged."""
    title = CORPUS["d1"].title  # "Cats"
    free = SummaryReward(CORPUS, QUERIES, QRELS)
    costly = SummaryReward(CORPUS, QUERIES, QRELS, SummaryRewardConfig(title_copy_weight=0.5))
    texts = [title, "cats sleeping all day"]
    a, b = free.score_texts(["d1", "d1"], texts), costly.score_texts(["d1", "d1"], texts)
    assert a["retrieval"] == b["retrieval"] and a["title_copy"] == [1.0, 0.25]
    for i in range(2):
        assert b["total"][i] == pytest.approx(a["total"][i] - 0.5 * a["title_copy"][i])
    with pytest.raises(ValueError, match="title_copy_weight"):
        SummaryRewardConfig(title_copy_weight=-1)
