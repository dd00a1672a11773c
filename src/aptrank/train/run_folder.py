"""The folder a training run writes: checkpoints while it runs, the final model and its record.

Layout of ``out_dir``: the model as a sentence-transformers folder (loadable as is), the record
``aptrank_train.json`` and, while training, ``checkpoints/`` (``checkpoint-<step>`` folders of the
transformers Trainer plus ``aptrank_run.json``, the run key they belong to). The record is written
last, atomically, and is the only sign of a finished model: an interrupted save leaves none and
is redone from the checkpoints. A folder holding neither a record nor our checkpoints is never
written to or deleted (a mistyped ``out_dir`` must not cost anyone their files).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError

MARKER = "aptrank_train.json"  #: written last: its presence means the model is finished
CHECKPOINTS = "checkpoints"
RUN_FILE = "aptrank_run.json"  #: in checkpoints/: the run key the checkpoints belong to


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``path`` atomically (temporary file + rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


def finished_record(out: Path, key: str, overwrite: bool) -> dict[str, Any] | None:
    """The record of a finished model in ``out`` to reuse (None: train). Changes nothing; raises
    when ``out`` is someone else's folder or, without ``overwrite``, another run's."""
    ours = (out / MARKER).exists() or (out / CHECKPOINTS / RUN_FILE).exists()
    if out.exists() and any(out.iterdir()) and not ours:
        raise AptrankError(
            f"{out} is not empty and holds no aptrank training run: choose a new or empty folder"
        )
    if overwrite:
        return None
    record = read_json(out / MARKER)
    if record is not None:
        if record.get("run_key") == key:
            return record
        raise AptrankError(
            f"{out} holds a model trained with another config or data "
            f"(run key {record.get('run_key')} != {key}): pass overwrite=True or a new folder"
        )
    ckpt = out / CHECKPOINTS
    run = read_json(ckpt / RUN_FILE)
    if run is not None and run.get("run_key") != key and last_checkpoint(ckpt) is not None:
        raise AptrankError(
            f"the checkpoints in {ckpt} belong to another config or data: "
            "pass overwrite=True to start again"
        )
    return None


def claim(out: Path, key: str, overwrite: bool) -> Path:
    """Empty ``out`` when overwriting, and mark its checkpoints folder as this run's."""
    if overwrite and out.exists():
        shutil.rmtree(out)
    ckpt = out / CHECKPOINTS
    ckpt.mkdir(parents=True, exist_ok=True)
    write_json(ckpt / RUN_FILE, {"run_key": key})
    return ckpt


def last_checkpoint(folder: Path) -> Path | None:
    """The latest complete checkpoint: ``trainer_state.json`` is the last file the Trainer
    writes into one, so a checkpoint killed mid-save is passed over."""
    found = []
    for path in folder.glob("checkpoint-*") if folder.is_dir() else ():
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and read_json(path / "trainer_state.json") is not None:
            found.append((int(step), path))
    return max(found)[1] if found else None


def publish(model: Any, out: Path, record: Mapping[str, Any]) -> None:
    """Save the final model into ``out`` beside ``checkpoints/``, the record last.

    ``out`` cannot be swapped in whole (as :func:`aptrank.rankers.cache.atomic_folder` does): it
    holds the checkpoints a failed save resumes from. So the model is saved to a temporary folder
    inside it, moved in entry by entry, and only then is the record written.
    """
    tmp = Path(tempfile.mkdtemp(prefix=".final.", dir=out))
    try:
        model.save_pretrained(str(tmp))
        for entry in out.iterdir():  # leftovers of an interrupted earlier save
            if entry.name not in (CHECKPOINTS, tmp.name):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        for entry in tmp.iterdir():
            os.replace(entry, out / entry.name)
        write_json(out / MARKER, record)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_train_record(out_dir: str | Path) -> dict[str, Any]:
    """The ``aptrank_train.json`` of a finished model folder."""
    record = read_json(Path(out_dir) / MARKER)
    if record is None:
        raise AptrankError(f"{out_dir} holds no finished aptrank training run ({MARKER})")
    return record
