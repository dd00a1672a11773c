"""What the sentence-transformers trainers aptrank wraps share: their imports (a missing extra is
a clear error), the precision on this device, and the record's history, backbone and versions."""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from aptrank.errors import AptrankError, MissingDependencyError


def import_training(feature: str, module: str) -> tuple[Any, Any, Any]:
    """``datasets``, ``torch`` and ``module`` (a sentence-transformers package), or a
    :class:`MissingDependencyError` naming the extra to install for ``feature``."""
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError(feature, "datasets", "train") from None
    try:
        import torch

        trainer_module = importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(feature, "sentence-transformers", "dense") from None
    try:
        import accelerate  # noqa: F401 - the transformers Trainer needs it
    except ImportError:
        raise MissingDependencyError(feature, "accelerate", "train") from None
    return datasets, torch, trainer_module


def resolve_precision(precision: str, torch: Any) -> str:
    """``auto``: bf16 (or fp16) on a GPU, fp32 on a CPU (bf16 runs there but about 2x slower,
    MODELS.md); fp16 without a GPU is an error."""
    if precision == "fp16" and not torch.cuda.is_available():
        raise AptrankError("fp16 training needs a GPU: use precision='fp32' (or 'bf16') on CPU")
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def training_versions() -> dict[str, str]:
    from aptrank.experiment import package_versions

    out = package_versions()
    for name in ("datasets", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def history(trainer: Any) -> dict[str, Any]:
    """Loss history and throughput from the trainer's log (restored from a checkpoint on
    resume, so it covers the whole run)."""
    log = trainer.state.log_history
    summary: dict[str, Any] = next((h for h in reversed(log) if "train_runtime" in h), {})
    return {
        "global_step": trainer.state.global_step,
        "loss_history": [[h["step"], h["loss"]] for h in log if "loss" in h],
        "train_loss": summary.get("train_loss"),
        "samples_per_s": summary.get("train_samples_per_second"),
    }


def backbone(name: str) -> dict[str, str]:
    from aptrank.rankers.cache import model_fingerprint
    from aptrank.rankers.models import resolve_model

    path = resolve_model(name)
    return {"name": name, "path": path, "fingerprint": model_fingerprint(path)}


def trainer_arguments(config: Any, ckpt: Any, precision: str, torch: Any) -> dict[str, Any]:
    """The keyword arguments both trainers pass to their ``...TrainingArguments``: schedule,
    seeds, checkpoints every ``save_steps``, logging, device and precision. ``config`` has the
    fields the two train configs share (epochs, max_steps, batch_size, learning_rate, ...)."""
    from packaging.version import Version
    from transformers import __version__ as transformers_version

    # transformers 5 takes a warm-up ratio as a float warmup_steps; 4.x as warmup_ratio.
    if Version(transformers_version) >= Version("5"):
        warmup: dict[str, Any] = {"warmup_steps": config.warmup_ratio}
    else:
        warmup = {"warmup_ratio": config.warmup_ratio}
    on_gpu = torch.cuda.is_available()
    return {
        "output_dir": str(ckpt),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps if config.max_steps is not None else -1,
        "per_device_train_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "data_seed": config.seed,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "logging_steps": config.logging_steps,
        "logging_first_step": True,
        "eval_strategy": "no",
        "report_to": "none",
        "use_cpu": not on_gpu,
        "dataloader_pin_memory": on_gpu,
        "fp16": precision == "fp16",
        "bf16": precision == "bf16",
        **warmup,
    }
