from __future__ import annotations

import doctest
import math
import random

import pytest

from aptrank.evaluate import evaluate
from aptrank.rankers import prompts
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.prompts import apply_rewrite, completion_text, parse_line
from aptrank.train.rl import advantage, rewards
from aptrank.train.rl.rewards import (
    PARSE_FAILURE_REWARD,
    RetrievalReward,
    RewardConfig,
    format_reward,
    length_penalty,
    metric_fn,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)
from tests.helpers import CORPUS, QRELS, QUERIES


@pytest.mark.parametrize("module", [rewards, prompts, advantage])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- metrics by hand ---------------------------------------------------------------------------

RUN = {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}  # trec_eval order: a, c, b, d (tie: id descending)


def test_ndcg_by_hand_with_a_tie():
    judged = {"b": 2, "d": 1, "x": 0}
    # ranking a, c, b, d: gains 0, 0, 2, 1 at ranks 1..4; ideal 2, 1
    dcg = 2 / math.log2(4) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(RUN, judged, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(RUN, judged, 2) == 0.0  # b is third once the tie puts c before it
    assert ndcg_at_k(RUN, {"c": 1}, 2) == pytest.approx(1 / math.log2(3))


def test_metrics_with_no_relevant_document_are_zero():
    for fn in (ndcg_at_k, recall_at_k, mrr_at_k):
        assert fn(RUN, {"a": 0, "b": 0}, 10) == 0.0
        assert fn(RUN, {}, 10) == 0.0
        assert fn({}, {"a": 1}, 10) == 0.0  # empty ranking


def test_recall_and_mrr_by_hand():
    judged = {"c": 1, "d": 2, "z": 1}
    assert recall_at_k(RUN, judged, 2) == pytest.approx(1 / 3)  # c in top 2, d and z not
    assert recall_at_k(RUN, judged, 4) == pytest.approx(2 / 3)  # z never retrieved
    assert mrr_at_k(RUN, judged, 10) == 0.5  # c at rank 2
    assert mrr_at_k(RUN, {"d": 1}, 3) == 0.0  # d at rank 4, cut at 3
    assert mrr_at_k(RUN, {"d": 0.7}, 10, rel_level=0.5) == 0.25  # teacher probabilities


def test_cutoff_must_be_positive():
    with pytest.raises(ValueError):
        ndcg_at_k(RUN, {"a": 1}, 0)


def test_metric_fn_rejects_map():
    with pytest.raises(ValueError, match="reward metric"):
        metric_fn("map")


def test_per_query_metrics_equal_trec_eval_on_random_runs():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(30)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([0, 0, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 12))}
        # few distinct scores: many ties, broken by doc id descending
        run[qid] = {d: float(rng.randint(0, 4)) for d in rng.sample(docs, rng.randint(0, 25))}
    names = ["ndcg@10", "ndcg@3", "recall@5", "recall@20", "mrr@10", "mrr@2"]
    reference = evaluate(qrels, run, names)
    checked = 0
    for name in names:
        fn, _ = metric_fn(name)
        for qid, expected in reference.per_query[name].items():
            assert fn(run.get(qid, {}), qrels[qid]) == pytest.approx(expected, abs=1e-12), (
                name,
                qid,
            )
            checked += 1
    assert checked > 100


# --- parsing, format and length ----------------------------------------------------------------


def test_parse_line_cases():
    assert parse_line("cat sleep") == "cat sleep"
    assert parse_line("\n\n  Rewritten query:  'cat   sleep'\nmore") == "cat sleep"
    assert parse_line("**Query**: cat") == "cat"
    assert parse_line("### `cat sleep`") == "cat sleep"
    assert parse_line("") is None
    assert parse_line("   ") is None
    assert parse_line('"..."') is None
    assert parse_line("?!\ncat") is None  # the first non-empty line decides


def test_completion_text_of_chat_and_plain_completions():
    assert completion_text([{"role": "assistant", "content": "x y"}]) == "x y"
    assert completion_text([]) == ""
    assert completion_text("plain") == "plain"


def test_format_reward_cases():
    assert format_reward("cat sleep patterns") == 1.0
    assert format_reward("  cat sleep  \n") == 1.0  # surrounding whitespace is fine
    assert format_reward('"cat sleep"') == 0.0  # needed repair
    assert format_reward("Query: cat") == 0.0
    assert format_reward("cat\n\ndog") == 0.0
    assert format_reward("") == 0.0
    assert format_reward(" ".join(["w"] * 5), max_words=4) == 0.0
    assert format_reward(" ".join(["w"] * 4), max_words=4) == 1.0


def test_length_penalty_is_linear_beyond_the_target():
    assert length_penalty(0, 5) == 0.0
    assert length_penalty(5, 5) == 0.0
    assert length_penalty(6, 5, 0.1) == pytest.approx(-0.1)
    assert length_penalty(15, 5, 0.1) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        length_penalty(3, -1)


def test_apply_rewrite_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown rewrite mode"):
        apply_rewrite("q", "r", "prepend")


# --- RetrievalReward ---------------------------------------------------------------------------


class CountingRanker:
    """Delegates to BM25 and counts the queries it was asked to rank."""

    def __init__(self) -> None:
        self.inner = BM25Ranker().index(CORPUS)
        self.asked: list[str] = []

    def rank(self, queries, k=100):
        self.asked.extend(queries.values())
        return self.inner.rank(queries, k)

    def config(self):
        return {"name": "counting-bm25"}


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_retrieval_reward_components_and_total():
    ranker = CountingRanker()
    cfg = RewardConfig(metric="ndcg@10", format_weight=0.5, length_target=3, length_per_word=0.1)
    reward = RetrievalReward(ranker, QUERIES, QRELS, cfg)
    completions = [
        chat("stock market"),  # good rewrite, clean format
        chat("Query: stock market fell sharply today"),  # labelled, 5 words
        chat(""),  # empty: failed parse
        chat("..."),  # nothing usable: failed parse
    ]
    out = reward(prompts=["p"] * 4, completions=completions, query_id=["q3"] * 4)
    good = ndcg_at_k(ranker.inner.rank({"x": "stock market"}, 10)["x"], QRELS["q3"], 10)
    labelled = ndcg_at_k(
        ranker.inner.rank({"x": "stock market fell sharply today"}, 10)["x"], QRELS["q3"], 10
    )
    assert good > 0
    assert out[0] == pytest.approx(good + 0.5)
    assert out[1] == pytest.approx(labelled + 0.0 - 0.2)  # no format bonus, 2 words over
    assert out[2] == out[3] == PARSE_FAILURE_REWARD
    last = reward.last
    assert last["parse_failed"] == [0.0, 0.0, 1.0, 1.0]
    assert last["format"] == [1.0, 0.0, 0.0, 0.0]
    assert last["length"] == pytest.approx([0.0, -0.2, 0.0, 0.0])
    assert last["retrieval"][2:] == [0.0, 0.0]
    assert last["total"] == out


def test_retrieval_reward_append_mode_sends_query_plus_rewrite():
    ranker = CountingRanker()
    reward = RetrievalReward(ranker, QUERIES, QRELS, RewardConfig(mode="append"))
    reward(prompts=["p"], completions=["purr"], query_id=["q1"])
    assert ranker.asked == ["cats sleeping purr"]


def test_retrieval_reward_caches_and_dedupes_retrieval():
    ranker = CountingRanker()
    reward = RetrievalReward(ranker, QUERIES, QRELS)
    first = reward(prompts=["p"] * 3, completions=["dogs", "dogs", "cats"], query_id=["q2"] * 3)
    again = reward(prompts=["p"], completions=["dogs"], query_id=["q2"])
    assert sorted(ranker.asked) == ["cats", "dogs"]  # one retrieval per distinct text
    assert again[0] == first[0] == first[1]
    assert first[0] > first[2]  # 'dogs' finds the relevant d2 first


def test_retrieval_reward_logs_component_stats_through_trl_hook():
    logged: dict[str, float] = {}
    reward = RetrievalReward(CountingRanker(), QUERIES, QRELS)
    reward(
        prompts=["p"] * 4,
        completions=["dogs", "cats", "stock market", "stock"],
        query_id=["q2", "q2", "q3", "q3"],
        log_metric=lambda name, value: logged.__setitem__(name, value),
        trainer_state=object(),
    )
    for part in ("retrieval", "format", "length", "parse_failed", "total"):
        assert f"components/{part}/mean" in logged and f"components/{part}/std" in logged
    assert logged["components/parse_failed/mean"] == 0.0
    assert logged["components/format/std"] == 0.0
    groups_equal = reward.last["retrieval"][2] == reward.last["retrieval"][3]
    assert logged["components/retrieval/zero_std_groups"] == (0.5 if groups_equal else 0.0)


def test_retrieval_reward_needs_query_ids_and_known_queries():
    reward = RetrievalReward(CountingRanker(), QUERIES, QRELS)
    with pytest.raises(ValueError, match="query_id"):
        reward(prompts=["p"], completions=["x"])
    with pytest.raises(ValueError, match="without text or judgments"):
        reward(prompts=["p"], completions=["x"], query_id=["nope"])


def test_retrieval_reward_config_names_the_ranker_and_settings():
    reward = RetrievalReward(CountingRanker(), QUERIES, QRELS, RewardConfig(metric="recall@5"))
    cfg = reward.config()
    assert cfg["ranker"] == {"name": "counting-bm25"} and cfg["metric"] == "recall@5"
    assert reward.__name__ == "retrieval"
    with pytest.raises(ValueError):
        RewardConfig(mode="prepend")
    with pytest.raises(ValueError):
        RewardConfig(metric="map")
