"""GRPO training of a small causal LM policy with TRL's ``GRPOTrainer``.

:func:`train_grpo` trains any chat policy on prompt rows (``{"prompt": messages, <columns>}``)
with reward functions of TRL's signature — :class:`~aptrank.train.rl.rewards.RetrievalReward`
for RL against a ranking metric. The default policy is the packaged SmolLM2-135M-Instruct,
dequantized once from its GGUF to an fp32 folder (:func:`resolve_policy`); LoRA through PEFT is
one switch.

What a run leaves in ``out_dir`` (the layout of :mod:`aptrank.train.run_folder`): the policy as
an ordinary transformers folder (LoRA adapters merged, so inference needs no PEFT), its
tokenizer, ``grpo_steps.jsonl`` (one line per optimizer step: every TRL metric — ``reward``,
``reward_std``, ``frac_reward_zero_std``, ``kl``, ``completions/mean_length``, ``loss``,
``rewards/<func>/mean|std`` — and each reward component's mean/std,
``components/<name>/mean|std``; what a report plots as the reward curve) and, written last,
``aptrank_train.json`` (config, seed, reward configs, policy fingerprint, versions, timing).
While training, ``checkpoints/`` holds ``checkpoint-<step>`` folders; a killed run resumes from
the latest complete one with the same step count, RNG and optimizer state.

Guarding against collapse: ``beta > 0`` by default (TRL's default 0.0 neither penalises nor
logs the KL to the initial policy), and a warning is logged whenever too many GRPO groups have
identical rewards — such groups give no policy gradient, and a run where most do has stalled.

CPU notes (MODELS.md): ``GRPOConfig`` defaults to bf16 and refuses to start on a CPU, so
precision is chosen here (fp32 on CPU); gradient checkpointing, on by default in TRL, is off —
a 135M policy fits easily and recomputation only costs time. Nothing heavy is imported at
module import.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError, MissingDependencyError
from aptrank.train import run_folder
from aptrank.train.rl.step_log import (
    ITEM_LOG,
    STEP_LOG,
    load_step_log,
    step_logger,
    trim_step_log,
)

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "bnpo")
SCALE_REWARDS = ("group", "batch", "none")
#: Fields that change how often things are written, not what is learned: not in the run key.
_BOOKKEEPING = (
    "save_steps",
    "save_total_limit",
    "keep_checkpoints",
    "zero_std_warning",
    "threads",
)


#: The CPU configuration of each task, as measured by ``benchmarks/rl.py`` on 2 cores
#: (GRPOTrainConfig fields over its defaults; CLI options and ``aptrank run`` steps start here).
#: Rewrites: 36 steps of 4 prompts x 4 completions x 48 tokens at lr 2e-5 (~40 s/step; 50 steps
#: at lr 1e-5 learned a little less on the held-out slice). Summaries read
#: 3-4x longer prompts: 2 items x 4 completions x 32 tokens per step at a higher lr (~42 s/step;
#: 4 items per step at lr 1e-5 took ~90 s).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "rewrite": {"max_steps": 36, "learning_rate": 2e-5},
    "summarize": {
        "per_device_batch": 8,
        "max_completion_length": 32,
        "learning_rate": 5e-5,
        "max_steps": 40,
    },
}


@dataclass(frozen=True)
class GRPOTrainConfig:
    """How a policy is trained with GRPO; saved in ``aptrank_train.json`` beside the policy.

    Defaults are the CPU configuration of MODELS.md (4 prompts x 4 generations x 48 tokens per
    step, ~35 s per step on 2 cores). ``learning_rate`` 1e-5 suits full fine-tuning of a 135M
    policy over tens of steps (TRL's 1e-6 is for billion-parameter policies and thousands of
    steps); with ``lora=True`` use ~1e-4.
    """

    #: registry name (smollm2-135m-instruct, qwen2.5-coder-0.5b-instruct), folder, GGUF or hub id
    policy: str = "smollm2-135m-instruct"
    lora: bool = False  #: train LoRA adapters (PEFT) instead of all weights
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = "all-linear"  #: PEFT target_modules: all-linear, or comma-separated names
    num_generations: int = 4  #: completions sampled per prompt (the GRPO group)
    per_device_batch: int = 16  #: completions per device per step; a multiple of num_generations
    gradient_accumulation_steps: int = 1
    max_completion_length: int = 48  #: tokens generated per completion
    learning_rate: float = 1e-5
    beta: float = 0.04  #: KL coefficient to the initial policy (> 0: the KL is also logged)
    epsilon: float = 0.2  #: PPO-style clipping of the probability ratio
    temperature: float = 1.0  #: sampling temperature of the rollouts
    loss_type: str = "dapo"  #: TRL loss aggregation: grpo, dapo (TRL default), dr_grpo, bnpo
    scale_rewards: str = "group"  #: divide advantages by the group std (group), batch std, none
    max_steps: int = 60  #: optimizer steps
    save_steps: int = 10  #: checkpoint every this many steps (resume granularity)
    save_total_limit: int = 2  #: checkpoints kept while training
    seed: int = 0  #: sampling, data order, LoRA initialisation
    precision: str = "auto"  #: auto (bf16 on a GPU that has it, else fp32), fp32 or bf16
    gradient_checkpointing: bool = False  #: saves memory on big policies; slower
    #: torch CPU threads for this process (None: torch's default, one per core). On a CPU shared
    #: with other jobs use 1: sampling runs thousands of tiny ops, and oversubscribed threads
    #: made generation 6x slower on 2 busy cores (16 x 48 tokens, SmolLM2: 103 s vs 17 s)
    threads: int | None = None
    #: warn when at least this share of the groups in a step has no reward variance
    zero_std_warning: float = 0.5
    keep_checkpoints: bool = False  #: keep checkpoints/ after the final policy is saved

    def __post_init__(self) -> None:
        for name, value, options in (
            ("precision", self.precision, PRECISIONS),
            ("loss_type", self.loss_type, LOSS_TYPES),
            ("scale_rewards", self.scale_rewards, SCALE_REWARDS),
        ):
            if value not in options:
                raise AptrankError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")
        positive = (
            "lora_r",
            "per_device_batch",
            "gradient_accumulation_steps",
            "max_completion_length",
            "learning_rate",
            "temperature",
            "max_steps",
            "save_steps",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise AptrankError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.num_generations < 2:
            raise AptrankError("num_generations must be >= 2: GRPO compares completions in a group")
        per_step = self.per_device_batch * self.gradient_accumulation_steps
        if per_step % self.num_generations:
            raise AptrankError(
                f"per_device_batch x gradient_accumulation_steps ({per_step}) must be a multiple "
                f"of num_generations ({self.num_generations})"
            )
        if self.threads is not None and self.threads < 1:
            raise AptrankError(f"threads must be >= 1 or None, got {self.threads}")
        if self.beta < 0 or self.epsilon <= 0:
            raise AptrankError(
                f"beta must be >= 0 and epsilon > 0, got {self.beta}, {self.epsilon}"
            )

    @property
    def prompts_per_step(self) -> int:
        return self.per_device_batch * self.gradient_accumulation_steps // self.num_generations

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_task(cls, task: str, **overrides: Any) -> GRPOTrainConfig:
        """The task's CPU configuration (:data:`TASK_DEFAULTS`) with ``overrides`` (``None``
        values are ignored).

        >>> c = GRPOTrainConfig.for_task("summarize", learning_rate=None, max_steps=10)
        >>> c.per_device_batch, c.learning_rate, c.max_steps
        (8, 5e-05, 10)
        """
        if task not in TASK_DEFAULTS:
            raise AptrankError(f"unknown task {task!r}; choose one of {', '.join(TASK_DEFAULTS)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{**TASK_DEFAULTS[task], **given})


@dataclass(frozen=True)
class GRPOResult:
    """What a training call did (the full record is ``aptrank_train.json``)."""

    out_dir: str
    global_step: int
    reward_curve: tuple[tuple[int, float], ...]  #: (step, mean total reward)
    wall_s: float  #: this call's training time (a resumed run counts only its own part)
    s_per_step: float | None  #: this call's seconds per optimizer step
    resumed_from: int | None = None  #: step of the checkpoint training resumed from
    reused: bool = False  #: a finished policy with the same config and data was already there
    record: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reward_curve"] = [list(x) for x in self.reward_curve]
        return out


# ---------------------------------------------------------------------------------------------
# Inputs


def resolve_policy(name: str) -> tuple[str, str]:
    """``(folder or hub id, fingerprint)`` of a policy: a packaged GGUF is dequantized once to
    an fp32 safetensors folder (trainable, and fast to reload)."""
    from aptrank.rankers.cache import model_fingerprint
    from aptrank.rankers.llm import dequantized_copy, resolve_llm

    source = resolve_llm(name)
    fingerprint = model_fingerprint(source)
    folder = str(dequantized_copy(source)) if source.endswith(".gguf") else source
    return folder, fingerprint


def _check_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the prompt rows; each has a ``prompt`` (text or chat messages) and the same
    columns as the first."""
    out = [dict(r) for r in rows]
    if not out:
        raise AptrankError("no prompts to train on")
    columns = set(out[0])
    for i, row in enumerate(out):
        prompt = row.get("prompt")
        chat = isinstance(prompt, list) and all(isinstance(m, Mapping) for m in prompt)
        if not (isinstance(prompt, str) or chat) or not prompt:
            raise AptrankError(f"row {i}: 'prompt' must be a non-empty text or list of messages")
        if set(row) != columns:
            raise AptrankError(f"row {i} has columns {sorted(row)}, row 0 has {sorted(columns)}")
    return out


def _reward_name(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__name__", type(func).__name__))


def _reward_configs(funcs: Sequence[Callable[..., Any]]) -> list[Any]:
    """What each reward function says about itself (``config()``), else its name."""
    return [f.config() if hasattr(f, "config") else _reward_name(f) for f in funcs]


def _run_key(config: GRPOTrainConfig, rows: list[dict[str, Any]], rewards: list[Any]) -> str:
    """A hash of what decides the trained policy: config, prompt rows, reward configs."""
    learned = {k: v for k, v in config.to_dict().items() if k not in _BOOKKEEPING}
    blob = json.dumps([learned, rows, rewards], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The trainer


def _import_rl() -> tuple[Any, Any]:
    """torch and trl, or an error naming the extra to install."""
    try:
        import torch
        import trl
    except ImportError:
        raise MissingDependencyError("GRPO training", "trl", "rl") from None
    for module in ("datasets", "accelerate"):
        try:
            __import__(module)
        except ImportError:
            raise MissingDependencyError("GRPO training", module, "rl") from None
    return torch, trl


def _grpo_args(config: GRPOTrainConfig, output_dir: Path, progress: bool, torch: Any) -> Any:
    from trl import GRPOConfig

    on_gpu = torch.cuda.is_available()
    bf16 = config.precision == "bf16" or (
        config.precision == "auto" and on_gpu and torch.cuda.is_bf16_supported()
    )
    return GRPOConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.per_device_batch,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        learning_rate=config.learning_rate,
        beta=config.beta,
        epsilon=config.epsilon,
        temperature=config.temperature,
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        max_steps=config.max_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=1,  # one step-log line per optimizer step
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        fp16=False,
        use_cpu=not on_gpu,
        dataloader_pin_memory=on_gpu,
        gradient_checkpointing=config.gradient_checkpointing,
        model_init_kwargs={"dtype": "float32"},  # master weights in fp32; bf16 is autocast
        report_to="none",
        disable_tqdm=not progress,
        log_completions=False,
    )


def _lora_config(config: GRPOTrainConfig) -> Any:
    try:
        from peft import LoraConfig
    except ImportError:
        raise MissingDependencyError("LoRA training", "peft", "rl") from None
    targets: Any = config.lora_targets
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def build_grpo_trainer(
    config: GRPOTrainConfig,
    rows: Sequence[Mapping[str, Any]],
    reward_funcs: Sequence[Callable[..., list[float]]],
    output_dir: str | Path,
    *,
    callbacks: Sequence[Any] = (),
    progress: bool = True,
) -> Any:
    """A ``trl.GRPOTrainer`` for ``config`` (what :func:`train_grpo` runs; exposed for scripts
    and tests that need the trainer itself). Checkpoints go to ``output_dir``."""
    torch, trl = _import_rl()
    from datasets import Dataset

    if config.threads is not None:
        torch.set_num_threads(config.threads)

    folder, _ = resolve_policy(config.policy)
    trainer = trl.GRPOTrainer(
        model=folder,
        reward_funcs=list(reward_funcs),
        args=_grpo_args(config, Path(output_dir), progress, torch),
        train_dataset=Dataset.from_list(_check_rows(rows)),
        peft_config=_lora_config(config) if config.lora else None,
        callbacks=list(callbacks),
    )
    if not progress:  # with tqdm off, transformers prints every log line instead
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


# ---------------------------------------------------------------------------------------------
# Training


class _FinalPolicy:
    """What :func:`aptrank.train.run_folder.publish` saves: the policy (LoRA merged), its
    tokenizer and the step log, so they all land before the record that marks a finished run."""

    def __init__(self, trainer: Any, lora: bool, step_log: Path) -> None:
        self.trainer, self.lora, self.step_log = trainer, lora, step_log

    def save_pretrained(self, folder: str) -> None:
        model = self.trainer.accelerator.unwrap_model(self.trainer.model)
        if self.lora:
            model = model.merge_and_unload()
        model.save_pretrained(folder)
        self.trainer.processing_class.save_pretrained(folder)
        for log in (self.step_log, self.step_log.with_name(ITEM_LOG)):
            if log.exists():
                shutil.copyfile(log, Path(folder) / log.name)


def train_grpo(
    out_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    reward_funcs: Sequence[Callable[..., list[float]]],
    config: GRPOTrainConfig | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
    meta: Mapping[str, Any] | None = None,
) -> GRPOResult:
    """Train ``config.policy`` with GRPO on ``rows`` into ``out_dir`` and return what happened.

    ``rows`` are ``{"prompt": <chat messages or text>, <column>: value, ...}``; the columns reach
    the reward functions as keyword lists. Rewards are summed with weight 1 (give a combined
    reward such as :class:`~aptrank.train.rl.rewards.RetrievalReward` to weight components).
    A finished policy trained with the same config, rows and reward configs is returned as is
    (``reused=True``) unless ``overwrite``; a killed run resumes from its latest checkpoint.
    ``callbacks`` are ``transformers.TrainerCallback`` objects; ``meta`` goes into the record.
    """
    config = config or GRPOTrainConfig()
    out = Path(out_dir)
    checked = _check_rows(rows)
    funcs = list(reward_funcs)
    if not funcs:
        raise AptrankError("no reward function given")
    rewards = _reward_configs(funcs)
    key = _run_key(config, checked, rewards)
    finished = run_folder.finished_record(out, key, overwrite)
    if finished is not None:
        return _result(out, finished, wall_s=0.0, resumed_from=None, reused=True)

    _import_rl()  # before claim(): a missing extra must not empty the folder
    ckpt = run_folder.claim(out, key, overwrite)
    last = run_folder.last_checkpoint(ckpt)
    resumed_from = int(last.name.removeprefix("checkpoint-")) if last is not None else None
    step_log = ckpt / STEP_LOG
    trim_step_log(step_log, resumed_from or 0)
    item_log = ckpt / ITEM_LOG
    trim_step_log(item_log, resumed_from or 0)
    for func in funcs:
        if hasattr(func, "item_log"):  # the aptrank rewards: their items per step
            func.item_log = item_log
    logger_cb = step_logger(step_log, config.zero_std_warning)
    trainer = build_grpo_trainer(
        config, checked, funcs, ckpt, callbacks=[logger_cb, *callbacks], progress=progress
    )
    if last is not None:
        logger.info("resuming %s from %s", out, last.name)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(last) if last is not None else None)
    wall = time.perf_counter() - start

    steps = load_step_log(step_log)
    done = trainer.state.global_step - (resumed_from or 0)
    _, fingerprint = resolve_policy(config.policy)
    record = {
        "format": 1,
        "kind": "grpo",
        "run_key": key,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "seed": config.seed,
        "rewards": rewards,
        "sizes": {"prompts": len(checked), "prompts_per_step": config.prompts_per_step},
        "global_step": trainer.state.global_step,
        "reward_curve": [[r["step"], r["reward"]] for r in steps if r.get("reward") is not None],
        "step_log": STEP_LOG,
        "wall_s": round(wall, 3),
        "s_per_step": round(wall / done, 3) if done > 0 else None,
        "resumed_from": resumed_from,
        "device": str(trainer.accelerator.device),
        "policy": {"name": config.policy, "fingerprint": fingerprint},
        "versions": _versions(),
        "meta": dict(meta or {}),
    }
    run_folder.publish(_FinalPolicy(trainer, config.lora, step_log), out, record)
    if not config.keep_checkpoints:
        shutil.rmtree(ckpt, ignore_errors=True)
    return _result(out, record, wall_s=wall, resumed_from=resumed_from, reused=False)


def _versions() -> dict[str, str]:
    from aptrank.experiment import package_versions

    out = package_versions()
    for name in ("torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _result(
    out: Path, record: Mapping[str, Any], wall_s: float, resumed_from: int | None, reused: bool
) -> GRPOResult:
    return GRPOResult(
        out_dir=str(out),
        global_step=int(record["global_step"]),
        reward_curve=tuple((int(s), float(r)) for s, r in record["reward_curve"]),
        wall_s=round(wall_s, 3),
        s_per_step=record.get("s_per_step") if not reused else None,
        resumed_from=resumed_from,
        reused=reused,
        record=record,
    )


__all__ = [
    "STEP_LOG",
    "GRPOResult",
    "GRPOTrainConfig",
    "build_grpo_trainer",
    "load_step_log",
    "resolve_policy",
    "train_grpo",
]
