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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("aptrank.train.rl.grpo")  # reported with the trainer's messages

STEP_LOG = "grpo_steps.jsonl"
#: per step, each completion's item (query or document id) and the retrieval part of its reward:
#: what the paired learning curve (:func:`paired_curve`) compares with the untrained policy
ITEM_LOG = "grpo_items.jsonl"


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


def log_items(
    path: Path | None, trainer_state: Any, ids: Sequence[str], values: Sequence[float]
) -> None:
    """Append one reward call to the item log: the optimizer step it serves (TRL passes the
    ``trainer_state`` to reward functions; its ``global_step`` counts the steps done), each
    completion's item id and retrieval reward. Nothing without a path or a trainer state."""
    if path is None or trainer_state is None:
        return
    row = {
        "step": int(trainer_state.global_step) + 1,
        "ids": [str(i) for i in ids],
        "retrieval": [float(v) for v in values],
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def paired_curve(
    items: Sequence[Mapping[str, Any]], untrained: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Per step, the mean retrieval reward of the step's completions, the untrained policy's
    mean reward on the same items (each item weighted by its completions that step), and their
    difference: a learning curve that does not move because a step drew easier items.

    >>> log = [{"step": 1, "ids": ["a", "a", "b", "b"], "retrieval": [0.5, 0.7, 0.0, 0.2]},
    ...        {"step": 2, "ids": ["b", "b"], "retrieval": [0.6, 0.4]}]
    >>> [(p["step"], p["reward"], p["untrained"], p["delta"]) for p in
    ...  paired_curve(log, {"a": 0.4, "b": 0.2})]
    [(1, 0.35, 0.3, 0.05), (2, 0.5, 0.2, 0.3)]
    """
    steps: dict[int, tuple[list[float], list[float]]] = {}
    for row in items:
        got, base = steps.setdefault(int(row["step"]), ([], []))
        for item, value in zip(row["ids"], row["retrieval"], strict=True):
            got.append(float(value))
            base.append(float(untrained[item]))
    out = []
    for step in sorted(steps):
        got, base = steps[step]
        reward, before = sum(got) / len(got), sum(base) / len(base)
        out.append(
            {
                "step": step,
                "reward": round(reward, 6),
                "untrained": round(before, 6),
                "delta": round(reward - before, 6),
                "completions": len(got),
            }
        )
    return out


def rises(curve: Sequence[Mapping[str, Any]], key: str = "delta") -> dict[str, Any]:
    """Whether a curve rises: the least-squares slope per step and the means of its first and
    last thirds (at least one point each).

    >>> rises([{"step": 1, "delta": 0.0}, {"step": 2, "delta": 0.1}, {"step": 3, "delta": 0.2}])
    {'slope': 0.1, 'first_third': 0.0, 'last_third': 0.2, 'rises': True}
    """
    xs = [float(p["step"]) for p in curve]
    ys = [float(p[key]) for p in curve]
    if len(xs) < 2:
        return {"slope": None, "first_third": None, "last_third": None, "rises": False}
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    third = max(1, len(ys) // 3)
    first, last = sum(ys[:third]) / third, sum(ys[-third:]) / third
    return {
        "slope": round(slope, 6),
        "first_third": round(first, 6),
        "last_third": round(last, 6),
        "rises": slope > 0 and last > first,
    }
