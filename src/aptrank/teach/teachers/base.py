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
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

# One model fingerprint for every cache and label key (re-exported here for the teachers).
from aptrank.rankers.cache import model_fingerprint  # noqa: F401


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
