"""The teacher interface: score (query, document) pairs with graded or soft labels.

A teacher is slow and strong (an LLM judge, a large cross-encoder, a served model); its labels
are stored under :func:`teacher_id`, a stable id built from :meth:`Teacher.config` — the name,
the model's fingerprint and the prompt version, i.e. everything that changes a label and
nothing that does not (batch size, timeouts and concurrency are left out), so a re-run with
other throughput settings resumes the same labels.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

_CHUNK = 1 << 16
_SAMPLES = 64
_FULL_HASH_LIMIT = 256 << 20


@runtime_checkable
class Teacher(Protocol):
    """Scores pairs; higher means more relevant. ``score`` returns NaN where it has no label."""

    name: str
    #: how many pairs :func:`~aptrank.teach.labeling.label_pairs` hands over (and commits) at once
    batch_size: int

    def config(self) -> dict[str, object]:
        """Everything that determines a label (JSON-serialisable); see :func:`teacher_id`."""
        ...

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """``(len(pairs),)`` float labels for (query text, document text) pairs."""
        ...


def teacher_id(teacher: Teacher | Mapping[str, object]) -> str:
    """A stable id ``<name>:<12 hex digits>`` for a teacher (or its config).

    >>> teacher_id({"name": "llm", "model": "m@abc", "prompt": "yesno-v1"})
    'llm:eb07087d4462'
    >>> teacher_id({"prompt": "yesno-v1", "model": "m@abc", "name": "llm"})  # key order ignored
    'llm:eb07087d4462'
    """
    config = teacher if isinstance(teacher, Mapping) else teacher.config()
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]
    return f"{config.get('name', 'teacher')}:{digest}"


def _file_digest(path: Path, h: hashlib._Hash) -> None:
    """Name, size and contents; a file over ``_FULL_HASH_LIMIT`` is sampled in ``_SAMPLES``
    evenly spaced 64 KiB pieces (ends included), so multi-GB weights fingerprint in milliseconds
    and a fine-tuned copy whose first or last tensors were frozen still gets a new fingerprint."""
    size = path.stat().st_size
    h.update(f"{path.name}\0{size}\0".encode())
    with open(path, "rb") as f:
        if size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            return
        for i in range(_SAMPLES):
            f.seek((size - _CHUNK) * i // (_SAMPLES - 1))
            h.update(f.read(_CHUNK))


def model_fingerprint(model: str) -> str:
    """``<name>@<hex>`` for a local model folder or file (from file names, sizes and contents;
    see :func:`_file_digest`), or the name itself for a hub id.

    The fingerprint does not depend on where the folder lives, so a moved cache keeps its labels.
    """
    path = Path(model).expanduser()
    if not path.exists():
        return model
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        rel = file.relative_to(path) if path.is_dir() else Path(file.name)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .cache, .git and friends do not change the model
        h.update(str(rel).replace(os.sep, "/").encode() + b"\0")
        _file_digest(file, h)
    name = path.name or str(path)
    return f"{name}@{h.hexdigest()[:12]}"
