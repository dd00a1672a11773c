"""GRPO with a tiny random-weight Llama (2 layers, width 32): seconds per run on a CPU."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

from aptrank.errors import AptrankError
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.prompts import completion_text
from aptrank.rankers.rewrite import prompt_ids
from aptrank.train.rl.advantage import group_advantages
from aptrank.train.rl.grpo import GRPOTrainConfig, build_grpo_trainer, train_grpo
from aptrank.train.rl.rewards import RetrievalReward
from aptrank.train.rl.rewrite_task import rewrite_rows
from aptrank.train.rl.step_log import ITEM_LOG, STEP_LOG, load_step_log, warn_if_collapsed
from aptrank.train.run_folder import MARKER
from tests.helpers import CORPUS, QRELS, QUERIES
from tests.tiny_models import WORDS
from tests.train.rl.tiny import tiny_grpo

TARGET = set(WORDS)


def toy_reward(prompts, completions, **kwargs):
    """The share of completion words that are corpus words: varies between samples."""
    out = []
    for c in completions:
        words = completion_text(c).split()
        out.append(sum(w in TARGET for w in words) / len(words) if words else 0.0)
    return out


def retrieval_reward() -> RetrievalReward:
    return RetrievalReward(BM25Ranker().index(CORPUS), QUERIES, QRELS)


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_tiny_policy_trains_logs_every_step_and_saves_a_plain_model(policy, tmp_path):
    out = tmp_path / "run"
    rows = rewrite_rows(QUERIES, QRELS)
    result = train_grpo(
        out, rows, [toy_reward, retrieval_reward()], tiny_grpo(policy), progress=False
    )
    assert result.global_step == 3 and not result.reused
    steps = load_step_log(out)
    assert [s["step"] for s in steps] == [1, 2, 3]
    for s in steps:
        assert math.isfinite(s["loss"])
        for name in ("reward", "reward_std", "kl", "completions/mean_length"):
            assert name in s and math.isfinite(s[name])
        for name in ("toy_reward", "retrieval"):
            assert f"rewards/{name}/mean" in s and f"rewards/{name}/std" in s
        for part in ("retrieval", "format", "length", "parse_failed"):
            assert f"components/{part}/mean" in s and f"components/{part}/std" in s
        assert 0 < s["completions/mean_length"] <= 8
    assert [c[0] for c in result.reward_curve] == [1, 2, 3]
    # the item log: every step's completions, their query ids and retrieval rewards, which
    # average to the step log's retrieval mean
    items = load_step_log(out / ITEM_LOG)
    assert [row["step"] for row in items] == [1, 2, 3]
    per_step = tiny_grpo(policy).per_device_batch
    for row, s in zip(items, steps, strict=True):
        assert len(row["ids"]) == len(row["retrieval"]) == per_step
        assert set(row["ids"]) <= set(QUERIES)
        mean = sum(row["retrieval"]) / len(row["retrieval"])
        assert mean == pytest.approx(s["components/retrieval/mean"], abs=1e-6)

    before, after = weights(policy), weights(out)
    changed = [n for n in before if not (before[n] == after[n]).all()]
    assert changed, "no parameter changed"
    record = json.loads((out / MARKER).read_text())
    assert record["seed"] == 0 and record["config"]["beta"] == 0.04
    assert record["rewards"][0] == "toy_reward"
    assert record["rewards"][1]["metric"] == "ndcg@10"
    assert record["versions"]["trl"]
    assert not (out / "checkpoints").exists()
    # the folder is an ordinary transformers model
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(str(out))
    # the same config and data: reused, not retrained
    again = train_grpo(out, rows, [toy_reward, retrieval_reward()], tiny_grpo(policy))
    assert again.reused and again.global_step == 3


class Crash(Exception):
    pass


def crash_after_saving(step: int):
    from transformers import TrainerCallback

    class CrashAt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Crash(step)

    return CrashAt()


def test_a_killed_run_resumes_from_its_checkpoint_and_continues_the_step_count(policy, tmp_path):
    out = tmp_path / "run"
    rows = rewrite_rows(QUERIES, QRELS)
    config = tiny_grpo(policy, max_steps=3, keep_checkpoints=True)
    with pytest.raises(Crash):
        train_grpo(
            out, rows, [toy_reward], config, progress=False, callbacks=[crash_after_saving(2)]
        )
    assert not (out / MARKER).exists()
    assert [s["step"] for s in load_step_log(out / "checkpoints")] == [1, 2]
    result = train_grpo(out, rows, [toy_reward], config, progress=False)
    assert result.resumed_from == 2 and result.global_step == 3
    assert [s["step"] for s in load_step_log(out / STEP_LOG)] == [1, 2, 3]
    with pytest.raises(AptrankError, match="another config"):
        train_grpo(out, rows, [toy_reward], tiny_grpo(policy, max_steps=4))


def test_lora_policy_is_saved_merged(policy, tmp_path):
    out = tmp_path / "lora"
    rows = rewrite_rows(QUERIES, QRELS)
    config = tiny_grpo(policy, lora=True, lora_r=4, learning_rate=1e-2, max_steps=2, beta=0.0)
    result = train_grpo(out, rows, [toy_reward], config, progress=False)
    assert result.global_step == 2
    after = weights(out)
    assert not any("lora" in name for name in after)
    before = weights(policy)
    assert set(before) == set(after)
    assert any(not (before[n] == after[n]).all() for n in before)


def test_our_group_advantage_is_what_trl_computes(policy, tmp_path):
    rows = rewrite_rows(QUERIES, QRELS)
    config = tiny_grpo(policy, max_steps=1)
    trainer = build_grpo_trainer(
        config, rows, [toy_reward, retrieval_reward()], tmp_path / "ckpt", progress=False
    )
    trainer.train()
    logged = trainer._logs  # the last generation batch: rewards per function, advantages
    total = [a + b for a, b in zip(logged["rewards"]["toy_reward"], logged["rewards"]["retrieval"])]
    assert len(total) == config.per_device_batch
    ours = group_advantages(total, config.num_generations)
    assert ours == pytest.approx(list(logged["advantages"]), abs=1e-4)

    # the rewrite stage tokenizes prompts exactly as the trainer does
    texts = [QUERIES[r["query_id"]] for r in rows]
    trl_ids, _, _ = trainer._tokenize_prompts([r["prompt"] for r in rows])
    assert prompt_ids(trainer.processing_class, texts) == [list(x) for x in trl_ids]


def test_collapse_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="aptrank.train.rl.grpo"):
        assert warn_if_collapsed({"step": 4, "frac_reward_zero_std": 1.0, "reward_std": 0.0}, 0.5)
        assert not warn_if_collapsed({"step": 5, "frac_reward_zero_std": 0.25}, 0.5)
        assert not warn_if_collapsed({"step": 6}, 0.5)
    assert "step 4" in caplog.text and "100%" in caplog.text


def test_config_validation():
    with pytest.raises(AptrankError, match="multiple of num_generations"):
        GRPOTrainConfig(num_generations=3, per_device_batch=16)
    with pytest.raises(AptrankError, match="num_generations must be >= 2"):
        GRPOTrainConfig(num_generations=1, per_device_batch=4)
    with pytest.raises(AptrankError, match="precision"):
        GRPOTrainConfig(precision="fp16")
    with pytest.raises(AptrankError, match="threads"):
        GRPOTrainConfig(threads=0)
    assert GRPOTrainConfig().prompts_per_step == 4
    assert GRPOTrainConfig().beta > 0  # the KL to the initial policy is penalised and logged


def test_bad_rows_are_rejected(policy, tmp_path):
    with pytest.raises(AptrankError, match="no prompts"):
        train_grpo(tmp_path / "a", [], [toy_reward], tiny_grpo(policy))
    with pytest.raises(AptrankError, match="prompt"):
        train_grpo(tmp_path / "b", [{"query_id": "q1"}], [toy_reward], tiny_grpo(policy))
    with pytest.raises(AptrankError, match="no reward"):
        train_grpo(tmp_path / "c", rewrite_rows(QUERIES, QRELS), [], tiny_grpo(policy))


def test_importing_rl_loads_no_heavy_library():
    code = (
        "import sys, aptrank.train.rl\n"
        "from aptrank.train.rl import grpo, rewards, rewrite_task, advantage, experiment\n"
        "from aptrank.rankers import rewrite, prompts\n"
        "from aptrank.rankers import build_ranker\n"
        "build_ranker('rewrite[mode=append]>>bm25')\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
