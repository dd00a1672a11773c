"""``aptrank finetune``: fine-tune the embedding model itself on a dataset's training judgments.

For every judged training query outside the dev slice and each of its relevant documents, one
example ``(query, positive, negative_1, ..., negative_n)``: the negatives are hard negatives mined
from BM25's and the pretrained model's top ``mine_k`` (interleaved by rank), never a document the
query judges relevant, and never one the pretrained model scores nearly as high as the positive
(cosine >= ``margin`` x the positive's cosine): such a document is more likely an unjudged
positive than a negative. This is the positive-aware mining of NV-Retriever (Moreira et al.,
"NV-Retriever: Improving text embedding models with effective hard-negative mining", 2024), whose
"TopK-PercPos" with 95 % is the default here.

Losses (sentence-transformers): ``mnrl`` MultipleNegativesRankingLoss (in-batch plus the mined
negatives, van den Oord et al. 2018; Henderson et al. 2017), ``cached-mnrl`` its GradCache variant
(large batches in bounded memory, Gao et al. 2021), ``margin-mse`` MarginMSELoss on a teacher's
score margins (Hofstätter et al. 2021; needs a teacher). A teacher (``teacher``, any ``aptrank
teach`` spec, or ``teacher_labels`` from a run file) also replaces the pretrained cosine in the
false-negative filter, and with ``synthetic_docs`` adds GPL-style synthetic queries
(:mod:`aptrank.train.teacher_pairs`).

The output folder is a sentence-transformers model folder (``SentenceTransformer(out)`` and
``dense:<out>`` load it) and a trained-ranker artifact (``aptrank.json``, pipeline ``dense:.``:
the folder itself is a pipeline string), with ``aptrank_train.json`` (config, sizes, loss history,
versions, backbone fingerprint) written last; a killed run resumes from its latest complete
checkpoint (:mod:`aptrank.train.run_folder`). Nothing heavy is imported at module import.
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
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError, DataError, ModelNotFoundError
from aptrank.train import run_folder
from aptrank.train.common import (
    backbone,
    history,
    import_training,
    resolve_precision,
    trainer_arguments,
    training_versions,
)
from aptrank.train.negatives import (  # noqa: F401 - the examples, re-exported
    Mined,
    TeacherLabels,
    build_examples,
    mine,
    mine_negatives,
)
from aptrank.types import Dataset

logger = logging.getLogger(__name__)

#: Fewer judged training queries (with a relevant document) than this: no fine-tuning.
MIN_JUDGED_QUERIES = 30
#: judged queries a fold's training part (``query_ids``) needs at least: a dev slice and more
MIN_FOLD_QUERIES = 5
LOSSES = ("mnrl", "cached-mnrl", "margin-mse")
MINERS = ("bm25", "dense")
SAMPLING = ("top", "random")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
PIPELINE = "dense:."
#: Config fields that do not change the trained weights (a resumed run may change them).
_BOOKKEEPING = (
    "dataset",
    "eval_split",
    "save_steps",
    "save_total_limit",
    "logging_steps",
    "keep_checkpoints",
)

ProgressFactory = Callable[[str], Callable[[int, int], None]]


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything ``aptrank finetune`` does; saved in ``aptrank_train.json`` and ``aptrank.json``.

    Defaults follow the sentence-transformers MNRL recipe for base-size encoders (2e-5, 10 %
    warm-up, batch 32, one mined negative per pair); not yet tuned on a dev slice.
    """

    dataset: str  #: a BEIR folder or a name on the search path
    base: str = "all-MiniLM-L6-v2"  #: the pretrained bi-encoder (registry name, hub id, folder)
    split: str = "train"  #: the judgments trained on
    dev_size: int = 100  #: training queries held out and measured (a fifth when too few)
    seed: int = 0  #: dev slice, negative sampling, data order, dropout
    loss: str = "mnrl"  #: mnrl, cached-mnrl or margin-mse (needs teacher labels)
    mini_batch_size: int = 32  #: cached-mnrl: examples per forward pass
    negatives: int = 1  #: mined hard negatives per (query, positive); 0: in-batch only (mnrl)
    miners: tuple[str, ...] = MINERS  #: bm25 and/or dense (the pretrained base model)
    mine_k: int = 30  #: candidates per miner and query
    #: a candidate the base model scores >= margin x the positive's cosine is dropped (a likely
    #: unjudged positive); None keeps every candidate
    margin: float | None = 0.95
    #: a teacher spec (as ``aptrank teach`` takes): its scores filter false negatives (a
    #: candidate it scores >= the positive's score - teacher_margin is dropped) and are
    #: margin-mse's targets
    teacher: str | None = None
    teacher_margin: float = 0.0
    #: GPL: synthetic queries for this many sampled corpus documents (needs a teacher)
    synthetic_docs: int = 0
    generator: str = "smollm2"  #: the local LM writing synthetic queries
    negative_sampling: str = "top"  #: top (hardest kept first) or random (seeded) among those kept
    epochs: float = 1.0
    max_steps: int | None = None  #: optimizer steps; overrides epochs when set
    batch_size: int = 32
    learning_rate: float = 2e-5
    max_length: int = 256  #: tokens per query or document
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    save_steps: int = 100  #: checkpoint every this many steps (resume granularity)
    save_total_limit: int = 2
    logging_steps: int = 10
    precision: str = "auto"  #: auto (bf16/fp16 on a GPU, fp32 on CPU), fp32, fp16 or bf16
    eval_split: str | None = "test"  #: measured after training when the dataset has it
    keep_checkpoints: bool = False
    extra: dict[str, Any] = field(
        default_factory=dict
    )  #: more SentenceTransformerTrainingArguments

    def __post_init__(self) -> None:
        for name, value, options in (
            ("loss", self.loss, LOSSES),
            ("negative_sampling", self.negative_sampling, SAMPLING),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in options:
                raise AptrankError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")
        unknown = [m for m in self.miners if m not in MINERS]
        if unknown or not self.miners:
            raise AptrankError(f"miners must be some of {', '.join(MINERS)}, got {self.miners}")
        positive = ("dev_size", "mini_batch_size", "mine_k", "batch_size", "learning_rate")
        for name in (*positive, "max_length", "save_steps", "logging_steps"):
            if getattr(self, name) <= 0:
                raise AptrankError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.negatives < 0 or (self.loss == "margin-mse" and self.negatives < 1):
            raise AptrankError(f"negatives must be >= 1 with margin-mse, >= 0 else: {self}")
        if self.synthetic_docs < 0 or (self.synthetic_docs and self.teacher is None):
            raise AptrankError(
                "synthetic queries (synthetic_docs > 0) need a teacher to label them"
            )
        if self.margin is not None and self.margin <= 0:
            raise AptrankError(f"margin must be > 0 or None, got {self.margin}")
        if self.epochs <= 0 and self.max_steps is None:
            raise AptrankError(f"epochs must be > 0, got {self.epochs}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise AptrankError(f"max_steps must be > 0 or None, got {self.max_steps}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise AptrankError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------- training


def _loss(model: Any, config: FinetuneConfig) -> tuple[Any, str]:
    try:
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # sentence-transformers 5
        from sentence_transformers import losses  # type: ignore[no-redef,attr-defined]

    if config.loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model), "MultipleNegativesRankingLoss"
    if config.loss == "cached-mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(
            model, mini_batch_size=config.mini_batch_size
        )
        return loss, f"CachedMultipleNegativesRankingLoss(mini_batch_size={config.mini_batch_size})"
    return losses.MarginMSELoss(model), "MarginMSELoss on teacher score margins"


def _training_args(config: FinetuneConfig, ckpt: Path, precision: str, torch: Any, st: Any) -> Any:
    in_batch = config.loss in ("mnrl", "cached-mnrl")
    return st.SentenceTransformerTrainingArguments(
        **trainer_arguments(config, ckpt, precision, torch),
        disable_tqdm=True,  # progress goes through aptrank's bars (see _progress_callback)
        # an in-batch negative must not be another copy of the query or of its positive
        batch_sampler="no_duplicates" if in_batch else "batch_sampler",
        **config.extra,
    )


def _progress_callback(progress: ProgressFactory) -> Any:
    from transformers import TrainerCallback

    class _Bar(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.update = progress("fine-tuning: steps")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.update(state.global_step, state.max_steps)

    return _Bar()


def _run_key(config: FinetuneConfig, fingerprint: str, rows: Sequence[tuple[Any, ...]]) -> str:
    """A hash of everything that decides the trained weights: config, base model, examples."""
    h = hashlib.sha256()
    learned = {k: v for k, v in config.to_dict().items() if k not in _BOOKKEEPING}
    h.update(json.dumps([learned, fingerprint], sort_keys=True).encode())
    for row in rows:
        h.update(json.dumps(row).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def train_encoder(
    out: Path,
    config: FinetuneConfig,
    rows: Sequence[tuple[Any, ...]],
    *,
    progress: ProgressFactory | None = None,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the bi-encoder on ``rows`` into ``out`` (or reuse a finished one with the same run
    key); returns ``aptrank_train.json``'s content plus ``reused``."""

    if not rows:
        raise AptrankError("no training examples: no positive has enough mined negatives")
    backbone_record = backbone(config.base)
    key = _run_key(config, backbone_record["fingerprint"], rows)
    finished = run_folder.finished_record(out, key, overwrite)
    if finished is not None:
        return {**finished, "reused": True}
    modules = import_training(
        "fine-tuning an encoder", "sentence_transformers"
    )  # before claim(): nothing is written without them
    ckpt = run_folder.claim(out, key, overwrite)
    extra = [_progress_callback(progress)] if progress is not None else []
    trainer, described, precision = _build_trainer(
        config, rows, ckpt, [*callbacks, *extra], modules
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
        "sizes": {"examples": len(rows), "negatives_per_example": config.negatives},
        "losses": {"train": described},
        **history(trainer),
        "wall_s": round(wall, 3),
        "resumed_from": resumed_from,
        "precision": precision,
        "batch_sampler": getattr(trainer.args.batch_sampler, "value", trainer.args.batch_sampler),
        "device": str(trainer.model.device),
        "backbone": backbone_record,
        "versions": training_versions(),
        "meta": dict(meta or {}),
    }
    run_folder.publish(trainer.model, out, record)
    if not config.keep_checkpoints:
        shutil.rmtree(ckpt, ignore_errors=True)
    return {**record, "reused": False}


def _build_trainer(
    config: FinetuneConfig,
    rows: Sequence[tuple[Any, ...]],
    ckpt: Path,
    callbacks: list[Any],
    modules: tuple[Any, Any, Any],
) -> tuple[Any, str, str]:
    """The sentence-transformers trainer, its loss (described) and the precision."""
    from transformers import PrinterCallback

    from aptrank.rankers.encoders import default_device
    from aptrank.rankers.models import resolve_model

    datasets, torch, st = modules
    torch.manual_seed(config.seed)
    try:
        model = st.SentenceTransformer(resolve_model(config.base), device=default_device())
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"cannot load embedding model {config.base!r}: {e}") from None
    model.max_seq_length = config.max_length
    width = len(rows[0]) - (1 if config.loss == "margin-mse" else 0)
    columns = ["anchor", "positive", *(f"negative_{i}" for i in range(1, width - 1))]
    table: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    if config.loss == "margin-mse":
        table["label"] = [r[-1] for r in rows]
    loss, described = _loss(model, config)
    precision = resolve_precision(config.precision, torch)
    trainer = st.SentenceTransformerTrainer(
        model=model,
        args=_training_args(config, ckpt, precision, torch, st),
        train_dataset=datasets.Dataset.from_dict(table),
        loss=loss,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # with tqdm off it prints every log line
    return trainer, described, precision


# ------------------------------------------------------------------------------ the whole job


def training_queries(
    dataset: Dataset, query_ids: Sequence[str] | None, config: FinetuneConfig
) -> tuple[list[str], list[str]]:
    """``(fit, dev)``: the judged queries with a relevant document (within ``query_ids`` when
    given), split by the seeded dev slice; raises when fewer than :data:`MIN_JUDGED_QUERIES`."""
    from aptrank.data.dev import dev_slice

    judged = sorted(
        q
        for q, docs in dataset.qrels.items()
        if q in dataset.queries and any(g > 0 for g in docs.values())
    )
    # the floor is the dataset's: k-fold training gets a fold's share of at least that many;
    # synthetic queries need no judgments (a split with too few trains on those alone)
    if len(judged) < MIN_JUDGED_QUERIES and config.synthetic_docs:
        return [], []
    if len(judged) < MIN_JUDGED_QUERIES:
        raise AptrankError(
            f"{len(judged)} judged {config.split} queries with a relevant document: "
            f"fine-tuning needs at least {MIN_JUDGED_QUERIES}"
        )
    if query_ids is not None:
        allowed = set(query_ids)
        judged = [q for q in judged if q in allowed]
        if len(judged) < MIN_FOLD_QUERIES:
            raise AptrankError(
                f"{len(judged)} judged {config.split} queries among the given query ids: "
                f"fine-tuning needs at least {MIN_FOLD_QUERIES} of them"
            )
    size = config.dev_size if len(judged) > 2 * config.dev_size else max(1, len(judged) // 5)
    return dev_slice(judged, size, config.seed)


def finetune(
    config: FinetuneConfig,
    out_dir: str | Path,
    progress: ProgressFactory | None = None,
    evaluate: bool = True,
    query_ids: Sequence[str] | None = None,
    *,
    teacher_labels: TeacherLabels | None = None,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Fine-tune ``config.base`` on ``config.split``'s judgments into the artifact ``out_dir``.

    ``query_ids`` restricts training to those judged queries (a fold's training queries when
    cross-fitting; the dev slice is carved from them). ``teacher_labels`` (``{qid: {docid:
    score}}``) are the teacher's scores margin-mse trains on. With ``evaluate`` the model is
    measured on the dev slice and on ``config.eval_split`` (its queries not trained on). Returns a
    JSON-able summary: folder, pipeline, record path, training record, sizes, figures.
    """
    from aptrank.data import load_dataset

    if teacher_labels is not None and config.teacher is not None:
        raise AptrankError("give a teacher spec or teacher labels, not both")
    if teacher_labels is not None and config.loss != "margin-mse":
        raise AptrankError("teacher labels go with loss 'margin-mse'")
    if config.loss == "margin-mse" and teacher_labels is None and config.teacher is None:
        raise AptrankError("margin-mse needs a teacher (a spec or its labels)")
    out = Path(out_dir)
    ds = load_dataset(config.dataset, config.split)
    fit_ids, dev_ids = training_queries(ds, query_ids, config)
    queries = {q: ds.queries[q].text for q in fit_ids}
    qrels = ds.qrels
    ctx = None
    if config.teacher is not None:
        from aptrank.train import teacher_pairs

        ctx = teacher_pairs.teach_context(config, progress)
    try:
        if ctx is not None and config.synthetic_docs:
            synthetic, synthetic_qrels = teacher_pairs.synthetic_training(ctx)
            queries |= synthetic
            qrels = {**ds.qrels, **synthetic_qrels}
        mined = mine(ds, queries, config, progress, qrels)
        if ctx is not None:
            teacher_labels = teacher_pairs.teacher_labels(
                ctx, queries, qrels, mined.candidates, ds.corpus, query_ids is not None
            )
    finally:
        if ctx is not None:
            ctx.close()
    rows, counts = build_examples(queries, ds.corpus, qrels, mined, config, teacher_labels)
    counts["synthetic_queries"] = len(queries) - len(fit_ids)
    if not rows:
        raise AptrankError(
            f"no training examples: none of the {counts['pairs']} (query, relevant document) "
            f"pairs has {config.negatives} mined negatives left ({counts['dropped_by_margin']} "
            f"candidates dropped by the margin {config.margin}, "
            f"{counts['no_teacher_label']} pairs without a teacher label): lower the margin or "
            "the negatives, or raise mine_k"
        )
    meta = {"dataset": ds.name, "split": config.split, "fit_queries": len(fit_ids)}
    train = train_encoder(
        out, config, rows, progress=progress, overwrite=overwrite, callbacks=callbacks, meta=meta
    )
    sizes = {"fit_queries": len(fit_ids), "dev_queries": len(dev_ids), "examples": len(rows)}
    sizes.update(counts)
    trained_on = {"split": config.split, "queries": fit_ids, "dev_queries": dev_ids}
    path = _write(out, config, ds, trained_on, sizes, {}, {})
    figures: dict[str, Any] = {}
    baseline: dict[str, Any] = {}
    if evaluate:
        figures, baseline = measure(out, config, ds, fit_ids, dev_ids, progress)
        path = _write(out, config, ds, trained_on, sizes, figures, baseline)
    return {
        "folder": str(out),
        "pipeline": str(out),
        "builds": PIPELINE,
        "record": str(path),
        "train": {k: train.get(k) for k in ("global_step", "resumed_from", "reused", "wall_s")}
        | {"loss_history": train.get("loss_history"), "train_loss": train.get("train_loss")},
        "sizes": sizes,
        "trained_on": trained_on,
        "figures": figures,
        "base_model_figures": baseline,
    }


def _eval_dataset(config: FinetuneConfig, ds: Dataset) -> Dataset | None:
    """The evaluation split, or None when the dataset has no such split."""
    from aptrank.data import load_dataset
    from aptrank.data.beir import splits

    if config.eval_split is None:
        return None
    if config.eval_split == config.split:
        return ds
    if ds.path and Path(ds.path).is_dir() and config.eval_split not in splits(ds.path):
        logger.info("%s has no %s split: not measured there", ds.name, config.eval_split)
        return None
    try:
        return load_dataset(config.dataset, config.eval_split)
    except DataError as e:
        logger.warning("evaluation split %s not loaded: %s", config.eval_split, e)
        return None


def measure(
    out: Path,
    config: FinetuneConfig,
    ds: Dataset,
    fit_ids: Sequence[str],
    dev_ids: Sequence[str],
    progress: ProgressFactory | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The artifact's figures (dev slice; evaluation split without the trained queries) and
    the base model's on the dev slice, for comparison."""
    from aptrank.evaluate.metrics import evaluate
    from aptrank.experiment import rank_corpus
    from aptrank.rankers import build_ranker
    from aptrank.rankers.artifact import figure
    from aptrank.rankers.dense import DenseConfig, DenseRanker

    test = _eval_dataset(config, ds)
    seen = {*fit_ids, *dev_ids}
    judged = [q for q, d in test.qrels.items() if any(g > 0 for g in d.values())] if test else []
    test_ids = sorted(q for q in judged if q not in seen and q in test.queries) if test else []
    if test is not None and test is not ds and test.corpus.keys() != ds.corpus.keys():
        raise AptrankError(f"the {config.eval_split} split has another corpus than {config.split}")
    texts = {q: ds.queries[q].text for q in dev_ids}
    texts |= {q: test.queries[q].text for q in test_ids} if test else {}
    run = rank_corpus(build_ranker(str(out)), ds.corpus, texts, 100, progress)
    how = "dense:. (the fine-tuned encoder) over the whole corpus"
    dev_qrels = {q: ds.qrels[q] for q in dev_ids}
    split = f"{config.split} (dev slice)"
    figures: dict[str, Any] = {}
    if dev_ids:  # none when synthetic queries alone were trained on
        dev = evaluate(dev_qrels, {q: run.get(q, {}) for q in dev_ids}, ["ndcg@10"]).means
        figures["dev"] = figure(
            dev, split, len(dev_ids), True, measured_as=how, note="dev slice: not trained on"
        )
    if test is not None and test_ids:
        left = len(set(judged) & seen)
        note = {"note": f"{left} queries trained on left out"} if left else {}
        qrels = {q: test.qrels[q] for q in test_ids}
        means = evaluate(qrels, {q: run.get(q, {}) for q in test_ids}, ["ndcg@10", "recall@100"])
        figures["test"] = figure(
            means.means, config.eval_split or "", len(test_ids), True, measured_as=how, **note
        )
    if not dev_ids:
        return figures, {}
    base = DenseRanker(DenseConfig(model=config.base))
    base_run = rank_corpus(base, ds.corpus, {q: texts[q] for q in dev_ids}, 100, progress)
    base_dev = evaluate(dev_qrels, base_run, ["ndcg@10"]).means
    return figures, {"dev": figure(base_dev, split, len(dev_ids), True, model=config.base)}


def _write(
    out: Path,
    config: FinetuneConfig,
    ds: Dataset,
    trained_on: Mapping[str, Any],
    sizes: Mapping[str, int],
    figures: Mapping[str, Any],
    baseline: Mapping[str, Any],
) -> Path:
    from aptrank.rankers.artifact import dataset_record, write_artifact

    negatives = f"{config.negatives} mined hard negative{'s' if config.negatives != 1 else ''}"
    return write_artifact(
        out,
        name=out.name,
        kind="encoder",
        pipeline=PIPELINE,
        description=(
            f"{config.base} fine-tuned on the judgments of {len(trained_on['queries'])} "
            f"{config.split} queries of {ds.name} ({config.loss}, {negatives} per pair from "
            f"{' and '.join(config.miners)})."
        ),
        dataset=dataset_record(ds),
        trained_on=trained_on,
        base_model=config.base,
        config=config.to_dict(),
        seed=config.seed,
        figures=figures,
        extra={"training": dict(sizes), "base_model_figures": dict(baseline)},
    )


__all__ = [
    "MIN_JUDGED_QUERIES",
    "FinetuneConfig",
    "Mined",
    "build_examples",
    "finetune",
    "measure",
    "mine",
    "mine_negatives",
    "train_encoder",
    "training_queries",
]
