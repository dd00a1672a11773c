"""Query rewriting with RL (Rec-R1): a policy learns to rewrite queries for a black-box
retriever, rewarded by the retriever's metric on the task's judgments.

:func:`rewrite_rows` turns queries into GRPO prompt rows (the prompt of
:mod:`aptrank.rankers.prompts`, the one the ``rewrite`` ranker stage uses at inference);
:func:`train_rewriter` indexes the retriever, builds the
:class:`~aptrank.train.rl.rewards.RetrievalReward` and trains with
:func:`~aptrank.train.rl.grpo.train_grpo`. The trained folder plugs into pipelines as
``rewrite[model=<out_dir>,mode=<mode>]>>bm25``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError
from aptrank.rankers.prompts import rewrite_messages
from aptrank.train.rl.grpo import GRPOResult, GRPOTrainConfig, train_grpo
from aptrank.train.rl.rewards import RetrievalReward, RewardConfig
from aptrank.types import Dataset, Query


def rewrite_rows(
    queries: Mapping[str, str | Query],
    qrels: Mapping[str, Mapping[str, float]],
    query_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """``{"prompt": messages, "query_id": id}`` for each query with a relevant judgment (a query
    nothing is relevant for rewards every rewrite with 0: no signal), in id order unless
    ``query_ids`` gives the order.

    >>> rows = rewrite_rows({"q1": "cats", "q2": "dogs"}, {"q1": {"d1": 1}, "q2": {"d2": 0}})
    >>> [r["query_id"] for r in rows], rows[0]["prompt"][1]["content"][-11:]
    (['q1'], 'Query: cats')
    """
    ids = sorted(queries) if query_ids is None else list(query_ids)
    missing = [q for q in ids if q not in queries]
    if missing:
        raise AptrankError(f"unknown query ids: {missing[:5]}")
    rows = []
    for qid in ids:
        if any(g > 0 for g in qrels.get(qid, {}).values()):
            text = queries[qid]
            text = text.text if isinstance(text, Query) else text
            rows.append({"prompt": rewrite_messages(text), "query_id": qid})
    if not rows:
        raise AptrankError("none of the queries has a relevant judgment to be rewarded against")
    return rows


def train_rewriter(
    out_dir: str | Path,
    dataset: Dataset,
    *,
    ranker: Any = "bm25",
    query_ids: Sequence[str] | None = None,
    config: GRPOTrainConfig | None = None,
    reward: RewardConfig | None = None,
    progress: bool = True,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
) -> GRPOResult:
    """Train a query rewriter on ``dataset`` (its training split) for ``ranker`` (a pipeline
    string or a Ranker; indexed here on the dataset's corpus). ``query_ids`` restricts the
    training queries (keep held-out ones out)."""
    from aptrank.rankers import build_ranker

    retriever = build_ranker(ranker) if isinstance(ranker, str) else ranker
    retriever.index(dataset.corpus)
    texts = {qid: q.text for qid, q in dataset.queries.items()}
    rows = rewrite_rows(texts, dataset.qrels, query_ids)
    rewarder = RetrievalReward(retriever, texts, dataset.qrels, reward)
    meta = {
        "task": "rewrite",
        "dataset": dataset.name,
        "split": dataset.split,
        "query_ids": [r["query_id"] for r in rows],
    }
    return train_grpo(
        out_dir,
        rows,
        [rewarder],
        config,
        progress=progress,
        overwrite=overwrite,
        callbacks=callbacks,
        meta=meta,
    )
