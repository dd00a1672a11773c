"""RL against the ranking metric: rewards, GRPO training and the query-rewrite stage.

* :mod:`~aptrank.train.rl.rewards` — per-query NDCG/Recall/MRR, format and length rewards,
  :class:`RetrievalReward` (a TRL reward function around any aptrank ranker);
* :mod:`~aptrank.train.rl.advantage` — GRPO's group-relative advantage;
* :mod:`~aptrank.train.rl.grpo` — :func:`train_grpo` through TRL's ``GRPOTrainer``;
* :mod:`~aptrank.train.rl.step_log` — the per-step log (reward curve) and collapse warnings;
* :mod:`~aptrank.train.rl.rewrite_task` — :func:`train_rewriter` (Rec-R1 query rewriting);
* :mod:`~aptrank.train.rl.rewrite` — the ``rewrite[...]>>bm25`` ranker stage;
* :mod:`~aptrank.train.rl.prompts` — the one prompt used in training and inference.

Importing this package imports neither torch, transformers nor trl (``pip install
"aptrank[rl]"`` provides them for training).
"""

from aptrank.train.rl.advantage import group_advantages, zero_std_fraction
from aptrank.train.rl.grpo import GRPOResult, GRPOTrainConfig, build_grpo_trainer, train_grpo
from aptrank.train.rl.prompts import apply_rewrite, parse_line, rewrite_messages
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
from aptrank.train.rl.rewrite import RewriteConfig, RewriteRanker
from aptrank.train.rl.rewrite_task import rewrite_rows, train_rewriter
from aptrank.train.rl.step_log import load_step_log, warn_if_collapsed

__all__ = [
    "PARSE_FAILURE_REWARD",
    "GRPOResult",
    "GRPOTrainConfig",
    "RetrievalReward",
    "RewardConfig",
    "RewriteConfig",
    "RewriteRanker",
    "apply_rewrite",
    "build_grpo_trainer",
    "format_reward",
    "group_advantages",
    "length_penalty",
    "load_step_log",
    "mrr_at_k",
    "ndcg_at_k",
    "parse_line",
    "recall_at_k",
    "rewrite_messages",
    "rewrite_rows",
    "train_grpo",
    "train_rewriter",
    "warn_if_collapsed",
    "zero_std_fraction",
]
