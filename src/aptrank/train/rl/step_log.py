"""The per-step log of a GRPO run (``grpo_steps.jsonl``) and the collapse warning.

One JSON line per optimizer step: ``step``, ``time_s`` (seconds since this training call
started; a resumed run starts again from 0), and every number TRL logs for that step —
``reward``, ``reward_std``, ``frac_reward_zero_std``, ``kl`` (when ``beta > 0``),
``completions/mean_length``, ``loss``, ``grad_norm``, ``learning_rate``, ``entropy``,
``rewards/<func>/mean|std`` — plus what reward functions log through TRL's ``log_metric`` hook
(:class:`~aptrank.train.rl.rewards.RetrievalReward`: ``components/<name>/mean|std``). This is
what a report plots as the reward curve.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("aptrank.train.rl.grpo")  # reported with the trainer's messages

STEP_LOG = "grpo_steps.jsonl"


def load_step_log(path: str | Path) -> list[dict[str, Any]]:
    """The per-step records of a run: ``path`` is ``grpo_steps.jsonl`` or the folder holding it
    (a finished policy, or its ``checkpoints/`` while it trains)."""
    path = Path(path)
    if path.is_dir():
        path = path / STEP_LOG if (path / STEP_LOG).exists() else path / "checkpoints" / STEP_LOG
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def trim_step_log(path: Path, keep_up_to: int) -> None:
    """Keep the lines of steps <= ``keep_up_to`` (a resumed run re-does the later ones)."""
    kept = [r for r in load_step_log(path) if int(r["step"]) <= keep_up_to]
    with open(path, "w", encoding="utf-8") as f:
        for row in kept:
            f.write(json.dumps(row) + "\n")


def warn_if_collapsed(row: Mapping[str, Any], threshold: float) -> bool:
    """Log a warning when a step's groups have (mostly) identical rewards; True if warned."""
    frac = row.get("frac_reward_zero_std")
    if frac is None or not math.isfinite(frac) or frac < threshold:
        return False
    logger.warning(
        "GRPO step %s: %.0f%% of the groups have identical rewards, so they give no policy "
        "gradient (reward std %.3g, KL %s). Persistent values mean the policy has collapsed or "
        "the reward cannot tell its completions apart: raise the temperature or num_generations, "
        "or make the reward finer.",
        row.get("step"),
        100 * frac,
        row.get("reward_std", math.nan),
        row.get("kl", "not logged (beta = 0)"),
    )
    return True


def step_logger(path: Path, threshold: float) -> Any:
    """A ``TrainerCallback`` appending every training log line to ``path`` as JSON."""
    from transformers import TrainerCallback

    start = time.perf_counter()

    class StepLogger(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "reward" not in logs:  # the end-of-training summary has no reward
                return
            row: dict[str, Any] = {"step": state.global_step}
            row["time_s"] = round(time.perf_counter() - start, 3)
            for name, value in logs.items():
                if isinstance(value, (int, float)) and name != "step":
                    row[name] = None if isinstance(value, float) and math.isnan(value) else value
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            warn_if_collapsed(row, threshold)

    return StepLogger()
