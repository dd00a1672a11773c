"""Train a cross-encoder — the distilled student or a teacher — with sentence-transformers.

One entry point, :func:`train_cross_encoder`, trains a ``CrossEncoder`` (one output logit) on any
mix of three kinds of examples (built in :mod:`aptrank.train.examples`):

==================  ===============================  ==========================================
examples            loss                             when
==================  ===============================  ==========================================
human pairs         binary cross-entropy             the task's own judgments (teacher training,
                                                     or alongside distillation)
margin triples      Margin-MSE (Hofstätter 2021)     distilling a teacher: ``teacher_loss =
                                                     "margin-mse"``, the default
soft pairs          BCE on teacher probabilities     ``teacher_loss = "bce"``
==================  ===============================  ==========================================

Several kinds train together with the sentence-transformers multi-dataset trainer (each batch
comes from one dataset and goes through that dataset's loss). The same code trains the student
(``CrossEncoderTrainConfig()``, all-MiniLM-L6-v2) and the teacher
(``CrossEncoderTrainConfig.teacher()``, all-mpnet-base-v2 on human judgments).

The output folder is a sentence-transformers ``CrossEncoder`` folder (``CrossEncoder(out_dir)``
and ``build_ranker("ce:<out_dir>")`` load it) holding also ``aptrank_train.json`` (config, data
sizes, seed, loss history, versions, backbone fingerprint) and, while training runs,
``checkpoints/``. ``aptrank_train.json`` is written last and marks a finished model; a killed run
resumes from its latest complete checkpoint. Nothing heavy is imported at module import.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError
from aptrank.train import run_folder
from aptrank.train.common import (
    backbone,
    history,
    import_training,
    resolve_precision,
    trainer_arguments,
    training_versions,
)
from aptrank.train.examples import HumanPair, MarginTriple, SoftPair

logger = logging.getLogger(__name__)

HUMAN_LOSSES = ("bce",)
TEACHER_LOSSES = ("margin-mse", "bce")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
SAMPLERS = ("proportional", "round_robin")
#: Config fields that change how often things are written, not what is learned: a resumed run
#: may change them.
_BOOKKEEPING = ("save_steps", "save_total_limit", "logging_steps", "keep_checkpoints")


@dataclass(frozen=True)
class CrossEncoderTrainConfig:
    """How a cross-encoder is trained; saved in ``aptrank_train.json`` beside the model.

    Defaults suit the MiniLM-L6 student on a few thousand examples and a few hundred steps:
    ``learning_rate`` 7e-5 sits above the 2e-5 usual for base-size BERTs because small models
    tolerate (and, in short runs, need) larger steps; AdamW normalises gradient scale, so one
    rate serves both BCE and Margin-MSE (the 8e-6 of the sentence-transformers Margin-MSE
    example is for 2 M examples). Use :meth:`teacher` for the larger teacher.
    """

    #: registry name, Hugging Face id or folder; a bi-encoder or bare backbone gets a new head
    backbone: str = "all-MiniLM-L6-v2"
    max_length: int = 256  #: tokens per (query, document) pair
    epochs: float = 1.0  #: passes over the (combined) training data
    max_steps: int | None = None  #: optimizer steps; overrides epochs when set
    batch_size: int = 16  #: examples per step (a margin triple is two pairs)
    learning_rate: float = 7e-5
    warmup_ratio: float = 0.1  #: share of steps with a linear learning-rate warm-up
    weight_decay: float = 0.01
    seed: int = 0  #: head initialisation, data order, dropout
    save_steps: int = 200  #: checkpoint every this many steps (resume granularity)
    save_total_limit: int = 2  #: checkpoints kept while training
    logging_steps: int = 10  #: loss history resolution
    human_loss: str = "bce"  #: loss on human pairs: bce
    balance_human: bool = True  #: weight positives by negatives/positives in the human BCE
    teacher_loss: str = "margin-mse"  #: margin-mse (margin triples) or bce (soft pairs)
    multi_dataset_sampler: str = "proportional"  #: proportional or round_robin across kinds
    precision: str = "auto"  #: auto (bf16/fp16 on a GPU, fp32 on CPU), fp32, fp16 or bf16
    keep_checkpoints: bool = False  #: keep checkpoints/ after the final model is saved

    def __post_init__(self) -> None:
        for name, value, options in (
            ("human_loss", self.human_loss, HUMAN_LOSSES),
            ("teacher_loss", self.teacher_loss, TEACHER_LOSSES),
            ("precision", self.precision, PRECISIONS),
            ("multi_dataset_sampler", self.multi_dataset_sampler, SAMPLERS),
        ):
            if value not in options:
                raise AptrankError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")
        positive = ("max_length", "batch_size", "learning_rate", "save_steps", "logging_steps")
        for name in positive:
            if getattr(self, name) <= 0:
                raise AptrankError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.epochs <= 0 and self.max_steps is None:
            raise AptrankError(f"epochs must be > 0, got {self.epochs}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise AptrankError(f"max_steps must be > 0 or None, got {self.max_steps}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise AptrankError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")

    @classmethod
    def teacher(cls, **overrides: Any) -> CrossEncoderTrainConfig:
        """The teacher preset: all-mpnet-base-v2 (12 layers, 768 wide) at the 2e-5 learning
        rate usual for base-size encoders, trained on the task's human judgments."""
        return cls(**{"backbone": "all-mpnet-base-v2", "learning_rate": 2e-5, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """What a training call did (also the content of ``aptrank_train.json``, in part)."""

    out_dir: str
    global_step: int
    losses: tuple[tuple[int, float], ...]  #: (step, mean training loss since the last log)
    sizes: Mapping[str, int | float]
    wall_s: float  #: this call's training time (a resumed run counts only its own part)
    resumed_from: int | None = None  #: step of the checkpoint training resumed from
    reused: bool = False  #: a finished model with the same config and data was already there
    record: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["losses"] = [list(x) for x in self.losses]
        return out


# ---------------------------------------------------------------------------------------------
# Data checks and the run key


def _check_examples(
    human: Sequence[HumanPair] | None,
    margin: Sequence[MarginTriple] | None,
    soft: Sequence[SoftPair] | None,
    config: CrossEncoderTrainConfig,
) -> dict[str, int | float]:
    """Validate the examples and count them; raise on empty or malformed data."""
    kinds = {"human": human or [], "margin": margin or [], "soft": soft or []}
    if not any(kinds.values()):
        raise AptrankError("no training data: pass human pairs, margin triples or soft pairs")
    if kinds["margin"] and config.teacher_loss != "margin-mse":
        raise AptrankError("margin triples train with teacher_loss='margin-mse'")
    if kinds["soft"] and config.teacher_loss != "bce":
        raise AptrankError("soft teacher pairs train with teacher_loss='bce'")
    width = {"human": 3, "margin": 4, "soft": 3}
    for kind, rows in kinds.items():
        for i, row in enumerate(rows):
            if len(row) != width[kind] or not all(isinstance(t, str) for t in row[:-1]):
                raise AptrankError(
                    f"{kind} example {i}: expected {width[kind] - 1} texts and a label"
                )
            try:
                label = float(row[-1])
            except (TypeError, ValueError):
                raise AptrankError(
                    f"{kind} example {i}: label {row[-1]!r} is not a number"
                ) from None
            if not math.isfinite(label):
                raise AptrankError(f"{kind} example {i}: label {label} is not finite")
            if kind != "margin" and not 0.0 <= label <= 1.0:
                raise AptrankError(f"{kind} example {i}: label {label} is outside [0, 1]")
    queries = {row[0] for rows in kinds.values() for row in rows}
    positive = sum(float(r[2]) for r in kinds["human"])
    return {
        "human_pairs": len(kinds["human"]),
        "human_positive_mass": round(positive, 6),  # sum of labels (= positives when binary)
        "margin_triples": len(kinds["margin"]),
        "soft_pairs": len(kinds["soft"]),
        "queries": len(queries),
    }


def _run_key(config: CrossEncoderTrainConfig, *datasets: Iterable[tuple[Any, ...]] | None) -> str:
    """A hash of everything that decides the trained weights (config and examples)."""
    h = hashlib.sha256()
    learned = {k: v for k, v in config.to_dict().items() if k not in _BOOKKEEPING}
    h.update(json.dumps(learned, sort_keys=True).encode())
    for rows in datasets:
        h.update(b"\x01")
        for row in rows or ():
            h.update(json.dumps([*row[:-1], float(row[-1])]).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Training


def _datasets_and_losses(
    model: Any,
    config: CrossEncoderTrainConfig,
    kinds: Mapping[str, Sequence[tuple[Any, ...]]],
    datasets: Any,
    torch: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """One ``datasets.Dataset`` and one loss per non-empty kind of example."""
    from sentence_transformers.cross_encoder import losses

    columns = {
        "human": ("query", "document"),
        "margin": ("query", "doc_a", "doc_b"),
        "soft": ("query", "document"),
    }
    data: dict[str, Any] = {}
    loss: dict[str, Any] = {}
    described: dict[str, str] = {}
    for kind, rows in kinds.items():
        if not rows:
            continue
        table = {c: [r[i] for r in rows] for i, c in enumerate(columns[kind])}
        table["label"] = [float(r[-1]) for r in rows]
        data[kind] = datasets.Dataset.from_dict(table)
        if kind == "margin":
            loss[kind] = losses.MarginMSELoss(model)
            described[kind] = "MarginMSELoss on logit margins"
        elif kind == "soft":
            loss[kind] = losses.BinaryCrossEntropyLoss(model)
            described[kind] = "BinaryCrossEntropyLoss on teacher probabilities"
        else:
            pos = sum(table["label"])
            neg = len(rows) - pos
            weight = neg / pos if config.balance_human and pos > 0 and neg > 0 else None
            pos_weight = torch.tensor(weight) if weight is not None else None
            loss[kind] = losses.BinaryCrossEntropyLoss(model, pos_weight=pos_weight)
            described[kind] = f"BinaryCrossEntropyLoss(pos_weight={weight})"
    return data, loss, described


def _training_args(
    config: CrossEncoderTrainConfig, ckpt: Path, precision: str, progress: bool, torch: Any
) -> Any:
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    return CrossEncoderTrainingArguments(
        **trainer_arguments(config, ckpt, precision, torch),
        disable_tqdm=not progress,
        multi_dataset_batch_sampler=config.multi_dataset_sampler,
    )


def train_cross_encoder(
    out_dir: str | Path,
    config: CrossEncoderTrainConfig | None = None,
    human: Sequence[HumanPair] | None = None,
    margin: Sequence[MarginTriple] | None = None,
    soft: Sequence[SoftPair] | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
    meta: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train a cross-encoder into ``out_dir`` and return what happened.

    ``human``/``margin``/``soft`` are the examples of :mod:`aptrank.train.examples` (at least one
    kind; margin triples need ``teacher_loss="margin-mse"``, soft pairs ``"bce"``). A finished
    model trained with the same config and examples is returned as is (``reused=True``), unless
    ``overwrite``; a killed run resumes from its latest checkpoint. ``callbacks`` are
    ``transformers.TrainerCallback`` objects; ``meta`` (how the examples were built: dataset,
    teacher, builder parameters) is stored in ``aptrank_train.json``.
    """
    config = config or CrossEncoderTrainConfig()
    out = Path(out_dir)
    sizes = _check_examples(human, margin, soft, config)
    key = _run_key(config, human, margin, soft)
    finished = run_folder.finished_record(out, key, overwrite)
    if finished is not None:
        return _result(out, finished, wall_s=0.0, resumed_from=None, reused=True)

    # before claim(): a missing extra must not empty the folder
    modules = import_training("training a cross-encoder", "sentence_transformers.cross_encoder")
    ckpt = run_folder.claim(out, key, overwrite)
    kinds = {"human": human or [], "margin": margin or [], "soft": soft or []}
    trainer, described, precision = _build_trainer(
        config, kinds, ckpt, progress, list(callbacks), modules
    )
    last = run_folder.last_checkpoint(ckpt)
    resumed_from = int(last.name.removeprefix("checkpoint-")) if last is not None else None
    if last is not None:
        logger.info("resuming %s from %s", out, last.name)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(last) if last is not None else None)
    wall = time.perf_counter() - start

    record = {
        "format": 1,
        "run_key": key,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "seed": config.seed,
        "sizes": sizes,
        "losses": described,
        **history(trainer),
        "wall_s": round(wall, 3),
        "resumed_from": resumed_from,
        "precision": precision,
        "device": str(trainer.model.device),
        "backbone": backbone(config.backbone),
        "versions": training_versions(),
        "meta": dict(meta or {}),
    }
    run_folder.publish(trainer.model, out, record)
    if not config.keep_checkpoints:
        shutil.rmtree(ckpt, ignore_errors=True)
    return _result(out, record, wall_s=wall, resumed_from=resumed_from, reused=False)


def _build_trainer(
    config: CrossEncoderTrainConfig,
    kinds: Mapping[str, Sequence[tuple[Any, ...]]],
    ckpt: Path,
    progress: bool,
    callbacks: list[Any],
    modules: tuple[Any, Any, Any],
) -> tuple[Any, dict[str, str], str]:
    """The sentence-transformers trainer, the losses it uses (described) and the precision."""
    from aptrank.rankers.encoders import load_cross_encoder

    datasets, torch, ce = modules
    model = load_cross_encoder(config.backbone, config.max_length, seed=config.seed)
    data, loss, described = _datasets_and_losses(model, config, kinds, datasets, torch)
    precision = resolve_precision(config.precision, torch)
    args = _training_args(config, ckpt, precision, progress, torch)
    trainer = ce.CrossEncoderTrainer(
        model=model, args=args, train_dataset=data, loss=loss, callbacks=callbacks
    )
    if not progress:  # with tqdm off, transformers prints every log line instead
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer, described, precision


def _result(
    out: Path, record: Mapping[str, Any], wall_s: float, resumed_from: int | None, reused: bool
) -> TrainResult:
    return TrainResult(
        out_dir=str(out),
        global_step=int(record["global_step"]),
        losses=tuple((int(s), float(v)) for s, v in record["loss_history"]),
        sizes=dict(record["sizes"]),
        wall_s=round(wall_s, 3),
        resumed_from=resumed_from,
        reused=reused,
        record=record,
    )


__all__ = [
    "CrossEncoderTrainConfig",
    "TrainResult",
    "train_cross_encoder",
]
