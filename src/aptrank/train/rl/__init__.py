"""RL against the ranking metric: rewards, GRPO training and the query-rewrite stage.

* :mod:`~aptrank.train.rl.rewards` — per-query NDCG/Recall/MRR, format and length rewards,
  :class:`RetrievalReward` (a TRL reward function around any aptrank ranker);
* :mod:`~aptrank.train.rl.advantage` — GRPO's group-relative advantage;
* :mod:`~aptrank.train.rl.grpo` — :func:`train_grpo` through TRL's ``GRPOTrainer``;
* :mod:`~aptrank.train.rl.step_log` — the per-step log (reward curve) and collapse warnings;
* :mod:`~aptrank.train.rl.rewrite_task` — :func:`train_rewriter` (Rec-R1 query rewriting);
* :mod:`~aptrank.rankers.rewrite` — the ``rewrite[...]>>bm25`` ranker stage;
* :mod:`~aptrank.train.rl.summary_reward` — :class:`SummaryReward` (ReLSum: BM25 rank of an item
  indexed with its summary, for its training queries);
* :mod:`~aptrank.train.rl.summarize` — :func:`train_summarizer`, the resumable
  :func:`summarize_corpus` job and :func:`summarized_corpus` for any ranker;
* :mod:`~aptrank.rankers.prompts` — the one prompt used in training and inference.

Importing this package imports neither torch, transformers nor trl (``pip install
"aptrank[rl]"`` provides them for training).
"""

from aptrank.rankers.prompts import (
    apply_rewrite,
    apply_summary,
    parse_line,
    parse_summary,
    rewrite_messages,
    summary_messages,
)
from aptrank.rankers.rewrite import RewriteConfig, RewriteRanker
from aptrank.train.rl.advantage import group_advantages, zero_std_fraction
from aptrank.train.rl.grpo import GRPOResult, GRPOTrainConfig, build_grpo_trainer, train_grpo
from aptrank.train.rl.rewards import (
    PARSE_FAILURE_REWARD,
    RetrievalReward,
    RewardConfig,
    format_reward,
    length_penalty,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)
from aptrank.train.rl.rewrite_task import rewrite_rows, train_rewriter
from aptrank.train.rl.step_log import load_step_log, warn_if_collapsed
from aptrank.train.rl.summarize import (
    SummaryConfig,
    SummaryJob,
    summarize_corpus,
    summarized_corpus,
    summary_rows,
    train_summarizer,
)
from aptrank.train.rl.summary_reward import (
    BM25ItemScorer,
    SummaryReward,
    SummaryRewardConfig,
    rank_gain,
)

__all__ = [
    "BM25ItemScorer",
    "GRPOResult",
    "GRPOTrainConfig",
    "PARSE_FAILURE_REWARD",
    "RetrievalReward",
    "RewardConfig",
    "RewriteConfig",
    "RewriteRanker",
    "SummaryConfig",
    "SummaryJob",
    "SummaryReward",
    "SummaryRewardConfig",
    "apply_rewrite",
    "apply_summary",
    "build_grpo_trainer",
    "format_reward",
    "group_advantages",
    "length_penalty",
    "load_step_log",
    "mrr_at_k",
    "ndcg_at_k",
    "parse_line",
    "parse_summary",
    "rank_gain",
    "recall_at_k",
    "rewrite_messages",
    "rewrite_rows",
    "summarize_corpus",
    "summarized_corpus",
    "summary_messages",
    "summary_rows",
    "train_grpo",
    "train_rewriter",
    "train_summarizer",
    "warn_if_collapsed",
    "zero_std_fraction",
]
