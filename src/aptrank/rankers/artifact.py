"""Trained rankers as artifacts: a folder holding ``aptrank.json`` is a pipeline string.

Whatever aptrank trains (a distilled student, a fine-tuned or adapted encoder, fusion weights, an
RL policy, a trained teacher) is written to ``<out>/models/<name>/``: the model in the format its
library loads (a sentence-transformers folder, a weights JSON, ...), ``aptrank.json`` (what it is,
what trained it on which queries, its measured figures, and ``pipeline``, the string that builds
it) and a short model card, ``README.md``. Paths in ``pipeline`` are written ``./...`` relative to
the folder, so a moved or copied folder keeps working from any directory::

    aptrank evaluate scifact --pipeline runs/x/models/student
    aptrank evaluate scifact --pipeline "fuse(bm25,runs/x/models/student)"

``aptrank.json`` fields: ``format``, ``name``, ``kind`` (student, encoder, fusion, policy,
teacher), ``description``, ``pipeline``, ``dataset`` (name, path, corpus fingerprint),
``trained_on`` (split, query ids, dev query ids; ``folds`` when cross-fitted), ``base_model``,
``teacher``, ``config``, ``seed``, ``figures`` (``{label: {metric: value, "split", "queries",
"out_of_fold"}}``), ``versions``, ``created``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aptrank.data.jsonfile import read_json_object
from aptrank.errors import AptrankError, DataError
from aptrank.rankers.base import Ranker
from aptrank.types import Corpus, Dataset, Run

logger = logging.getLogger(__name__)

RECORD = "aptrank.json"
FORMAT = "aptrank-artifact/1"
REQUIRED = ("name", "kind", "pipeline")
#: folders whose pipelines are being built (a pipeline naming its own folder is an error)
_LOADING: ContextVar[tuple[Path, ...]] = ContextVar("aptrank_artifacts_loading", default=())


def is_artifact(path: str | Path) -> bool:
    return (Path(path) / RECORD).is_file()


def read_record(folder: str | Path) -> dict[str, Any]:
    """The ``aptrank.json`` of ``folder``; malformed or incomplete records name the field."""
    path = Path(folder) / RECORD
    record = read_json_object(path, "no aptrank.json here: a trained ranker's record")
    for name in REQUIRED:
        if not isinstance(record.get(name), str) or not record[name]:
            raise DataError(f"missing or empty field {name!r}", path)
    return record


def training_queries(ranker: Ranker) -> dict[str, set[str]]:
    """``{corpus fingerprint: query ids}`` some stage of ``ranker`` was trained on (its artifacts'
    ``trained_on.queries``). Out-of-fold fitting leaves these queries out
    (:mod:`aptrank.train.fusion`). A member's dev queries (held out from its training, used at
    most to pick a checkpoint or curve point) stay: they are where a trained encoder and the
    weights fusing it can be fitted without scoring queries it learned from."""
    from aptrank.experiment import walk

    out: dict[str, set[str]] = {}
    for stage in walk(ranker):
        record = getattr(stage, "record", None)
        model = getattr(getattr(stage, "cfg", None), "model", None)
        if record is None and isinstance(model, str) and is_artifact(model):
            record = read_record(model)  # ce:<folder> / dense:<folder> of an artifact
        if not record:
            continue
        trained = record.get("trained_on") or {}
        corpus = (record.get("dataset") or {}).get("corpus", "")
        ids = set(trained.get("queries", ()))
        if ids:
            out.setdefault(corpus, set()).update(map(str, ids))
    return out


class ArtifactRanker(Ranker):
    """The ranker ``aptrank.json``'s ``pipeline`` builds, named as the user wrote the folder."""

    def __init__(self, folder: Path, record: Mapping[str, Any], inner: Ranker, name: str) -> None:
        super().__init__()
        self.folder = folder
        self.record = dict(record)
        self.inner = inner
        self.name = name

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None) -> ArtifactRanker:
        from aptrank.rankers.registry import PipelineError, build_ranker

        folder = Path(folder).resolve()
        if folder in _LOADING.get():
            raise PipelineError(f"{folder / RECORD}: its pipeline names its own folder")
        record = read_record(folder)
        token = _LOADING.set((*_LOADING.get(), folder))
        try:
            inner = build_ranker(record["pipeline"], base=folder)
        except AptrankError as e:
            raise PipelineError(
                f"{folder / RECORD}: pipeline {record['pipeline']!r}: {e}"
            ) from None
        finally:
            _LOADING.reset(token)
        return cls(folder, record, inner, name or str(folder))

    @property
    def first(self) -> Ranker:  # walk() descends through here (progress hooks, training queries)
        return self.inner

    @property
    def retrieves(self) -> bool:
        return self.inner.retrieves

    @property
    def kind(self) -> str:
        return self.inner.kind

    def config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "folder": str(self.folder),
            "artifact": {k: self.record.get(k) for k in ("name", "kind", "pipeline", "created")},
            "pipeline": self.inner.config(),
        }

    def index(self, corpus: Corpus) -> ArtifactRanker:
        super().index(corpus)
        self.inner.index(corpus)
        return self

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        return self.inner.rank(queries, k)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        return self.inner.rerank(queries, candidates)


# -------------------------------------------------------------------------------------- writing


def dataset_record(dataset: Dataset) -> dict[str, Any]:
    """``aptrank.json``'s ``dataset``: name, path and corpus fingerprint (what query ids in
    ``trained_on`` refer to)."""
    from aptrank.rankers.cache import corpus_fingerprint

    return {
        "name": dataset.name,
        "path": dataset.path,
        "corpus": corpus_fingerprint(dataset.corpus),
    }


def figure(
    metrics: Mapping[str, float], split: str, queries: int, out_of_fold: bool, **extra: Any
) -> dict[str, Any]:
    """One entry of ``figures``: metric values and where they were measured.

    >>> figure({"ndcg@10": 0.7}, "test", 300, True)
    {'ndcg@10': 0.7, 'split': 'test', 'queries': 300, 'out_of_fold': True}
    """
    return {**metrics, "split": split, "queries": queries, "out_of_fold": out_of_fold, **extra}


def write_artifact(
    folder: str | Path,
    *,
    name: str,
    kind: str,
    pipeline: str,
    description: str,
    dataset: Mapping[str, Any] | None = None,
    trained_on: Mapping[str, Any] | None = None,
    base_model: str | None = None,
    teacher: str | None = None,
    config: Mapping[str, Any] | None = None,
    seed: int | None = None,
    figures: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``aptrank.json`` (atomically, last) and the model card into ``folder``, which
    already holds the model files; returns the record's path."""
    from aptrank.experiment import package_versions, write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "format": FORMAT,
        "name": name,
        "kind": kind,
        "description": description,
        "pipeline": pipeline,
        "dataset": dict(dataset or {}),
        "trained_on": dict(trained_on or {}),
        "base_model": base_model,
        "teacher": teacher,
        "config": dict(config or {}),
        "seed": seed,
        "figures": dict(figures or {}),
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **dict(extra or {}),
    }
    (folder / "README.md").write_text(model_card(record), encoding="utf-8")
    return write_json(folder / RECORD, record)


def model_card(record: Mapping[str, Any]) -> str:
    """A short README in the sentence-transformers style: what it is, how to use it, figures."""
    trained = record.get("trained_on") or {}
    lines = [
        f"# {record['name']}",
        "",
        f"{record.get('description', '')}".strip(),
        "",
        "## Use it",
        "",
        "This folder is an aptrank pipeline string; it works from any directory, also moved:",
        "",
        "```bash",
        f"aptrank evaluate {record.get('dataset', {}).get('name') or 'DATASET'} --pipeline "
        "path/to/this/folder",
        "aptrank rank DATASET --pipeline path/to/this/folder --queries q.jsonl --out run.trec",
        "```",
        "",
        f"It builds `{record['pipeline']}` (`./` is this folder).",
        "",
        "## Training",
        "",
        f"- kind: {record['kind']}",
    ]
    for label, value in (
        ("base model", record.get("base_model")),
        ("teacher", record.get("teacher")),
        ("dataset", (record.get("dataset") or {}).get("name")),
        ("split", trained.get("split")),
        ("training queries", _count(trained.get("queries"))),
        ("dev queries", _count(trained.get("dev_queries"))),
        ("seed", record.get("seed")),
    ):
        if value not in (None, "", 0):
            lines.append(f"- {label}: {value}")
    figures = record.get("figures") or {}
    if figures:
        lines += ["", "## Figures", "", "| measured on | split | queries | out of fold | metrics |"]
        lines.append("|:---|:---|---:|:---:|:---|")
        for label, f in figures.items():
            metrics = ", ".join(
                f"{k} {v:.4f}"
                for k, v in f.items()
                if isinstance(v, float) and "@" in k or k == "map"
            )
            lines.append(
                f"| {label} | {f.get('split', '')} | {f.get('queries', '')} | "
                f"{'yes' if f.get('out_of_fold') else 'no'} | {metrics} |"
            )
    lines += [
        "",
        f"Made by aptrank {record.get('versions', {}).get('aptrank', '')}, "
        f"{record.get('created', '')}; the full record is `aptrank.json`.",
        "",
    ]
    return "\n".join(lines)


def _count(ids: Sequence[str] | None) -> int | None:
    return len(ids) if ids else None


def copy_model(source: str | Path, target: str | Path, skip: Sequence[str] = ()) -> Path:
    """Copy a trained model folder into ``target`` (a temporary sibling, then renamed), leaving
    out training leftovers (``checkpoints/``) and the names in ``skip``."""
    import shutil

    source, target = Path(source), Path(target)
    leave = {"checkpoints", *skip}
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp, ignore=lambda _d, names: [n for n in names if n in leave])
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target
