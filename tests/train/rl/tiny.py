"""The GRPO configuration that trains the tiny test policy (conftest's ``policy``) in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_grpo(policy: Path, **overrides: Any) -> Any:
    """A GRPOTrainConfig for the tiny policy: 2 prompts x 4 completions x 8 tokens per step,
    lr 1e-3 (large enough for a random-weight model to move in 2-3 steps)."""
    from aptrank.train.rl.grpo import GRPOTrainConfig

    base: dict[str, Any] = dict(
        policy=str(policy),
        num_generations=4,
        per_device_batch=8,
        max_completion_length=8,
        learning_rate=1e-3,
        beta=0.04,
        max_steps=3,
        save_steps=1,
        seed=0,
    )
    return GRPOTrainConfig(**{**base, **overrides})
