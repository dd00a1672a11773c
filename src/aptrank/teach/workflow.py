"""``aptrank teach``: pick a teacher, measure it, write synthetic queries, label them.

The steps, each cached under ``$APTRANK_CACHE/teach/<dataset>-<corpus fingerprint>/`` and each
resumable (kill it at any moment and run it again):

1. **dev slice**: a fixed seeded slice of the training queries (:func:`aptrank.data.dev.dev_slice`);
   every choice (which teacher, ensemble weights) is made on it, never on the test split.
2. **teacher**: built from a spec (see :func:`build_teacher`); ``trained:<backbone>`` first trains
   a cross-encoder on the human judgments of the training queries outside the dev slice.
3. **teacher quality**: the teacher reranks the first stage's top ``depth`` for the dev queries
   (and, once, for the evaluation split); labels go to the label store, NDCG@10 comes from them.
4. **synthetic queries** from a fixed random sample of corpus documents (no judgments are read),
   deduplicated and filtered; **candidates** mined from BM25 and dense top-k;
5. **labels**: the teacher labels every (synthetic query, candidate) pair into the store.

The distillation (:mod:`aptrank.train.distill`) reads the store.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aptrank.data.dev import dev_slice
from aptrank.data.runs import rank_order
from aptrank.errors import AptrankError
from aptrank.experiment import write_json
from aptrank.paths import cache_dir
from aptrank.rankers.cache import corpus_fingerprint, key
from aptrank.teach.labeling import Pair, label_pairs
from aptrank.teach.store import LabelStore
from aptrank.teach.teachers.base import Teacher, teacher_id
from aptrank.types import Dataset, Qrels, Run

logger = logging.getLogger(__name__)

ProgressFactory = Callable[[str], Callable[[int, Any], None]]

#: The default teacher, the dev-best of those benchmarks/distill.py tries on SciFact: a
#: cross-encoder trained on the task's judgments with BM25 and MiniLM dense scores
#: (benchmarks/results/distill.json, chosen_teacher; the candidates' cross-fitted dev NDCG@10
#: under teachers[<spec>]["dev_crossfit_ndcg@10"]: 0.7831 against 0.7679 with mpnet dense
#: added). There the trained member trained in bf16 on a CPU with AMX; on other CPUs
#: ``trained:`` trains in fp32 (precision ``auto``).
DEFAULT_TEACHER = "ensemble(trained:all-mpnet-base-v2,ranker:bm25,ranker:dense)"
#: Teacher spec prefixes; see :func:`build_teacher`.
TEACHER_KINDS = ("trained", "ce", "llm", "http", "ranker", "ensemble")


@dataclass(frozen=True)
class TeacherTraining:
    """How a ``trained:<backbone>`` teacher is trained on the human judgments.

    The learning rate and epochs were chosen on SciFact's dev slice among four recipes trained on
    an H200 (all-mpnet-base-v2, bf16; dev NDCG@10 of the teacher alone): 2e-5 x 1 epoch 0.361
    (benchmarks/device/2026-11-27-h200/run2_log.json, summary.teacher.dev_ndcg10), 5e-5 x 1
    0.163, 3e-5 x 2 0.609, 5e-5 x 3 0.287 (run3_log.json, recipes[].dev_ndcg10). The loss sits
    near chance for the first ~100 steps on the top-ranked BM25 negatives; only the 2-epoch run
    left that plateau in time. On 2 CPU cores the chosen recipe is 402 steps of ~10.6 s in fp32
    and ~3.7 s in bf16 on a CPU with AMX (``precision``); benchmarks/results/distill.json,
    teachers[<the trained spec>].training.wall_s holds the run that made the teacher there.
    """

    negatives: int = 3  #: BM25 hard negatives per relevant document
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 3e-5
    max_length: int = 256
    save_steps: int = 20  #: checkpoint often: a 12-layer model takes ~20 s a step on 2 cores
    #: auto (bf16 on a GPU, fp32 on a CPU), fp32 or bf16; ``trained:<backbone>[precision=bf16]``
    #: sets it per teacher (bf16 trains mpnet ~3x faster on a CPU with AMX, 3.7 s a step vs 10.6)
    precision: str = "auto"


@dataclass(frozen=True)
class TeachConfig:
    """Everything ``aptrank teach`` does; saved with its results."""

    dataset: str
    teacher: str = DEFAULT_TEACHER
    train_split: str = "train"
    eval_split: str = "test"
    dev_size: int = 100  #: training queries held out for every choice
    seed: int = 0
    first_stage: str = "bm25"  #: what the teacher and students rerank
    depth: int = 30  #: documents reranked per query (CPU: 30; the GPU script uses 100)
    max_length: int = 256  #: tokens per (query, document) pair for cross-encoder teachers
    batch_size: int = 16
    synthetic_docs: int = 800  #: corpus documents sampled for synthetic queries (0: none)
    generator: str = "smollm2"  #: the local LM writing synthetic queries
    generator_prompt: str = "doc2claim-v1"
    miners: tuple[str, ...] = ("bm25", "dense")
    mine_k: int = 10  #: top-k of each miner; a query's candidates are their union
    label_eval: bool = True  #: label the evaluation split's top ``depth`` (the teacher's score)
    export: str | None = None  #: also write the teacher's labels to this .jsonl or .parquet file
    training: TeacherTraining = field(default_factory=TeacherTraining)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TeachContext:
    """The datasets, dev slice, first-stage runs and label store one teach/distill run shares."""

    def __init__(self, config: TeachConfig, progress: ProgressFactory | None = None) -> None:
        from aptrank.data import load_dataset

        self.config = config
        self.progress = progress
        self.train: Dataset = load_dataset(config.dataset, config.train_split)
        self.test: Dataset = load_dataset(config.dataset, config.eval_split)
        self.corpus = self.train.corpus
        judged = [q for q, docs in self.train.qrels.items() if any(g > 0 for g in docs.values())]
        judged = [q for q in judged if q in self.train.queries]
        # too few judged queries for a dev slice (synthetic queries alone): no dev queries
        self.fit_ids, self.dev_ids = (
            dev_slice(judged, config.dev_size, config.seed)
            if len(set(judged)) > config.dev_size
            else (sorted(set(judged)), [])
        )
        name = Path(self.train.path or config.dataset).name or "dataset"
        self.folder = cache_dir("teach", f"{name}-{corpus_fingerprint(self.corpus)}")
        self.store = LabelStore(self.folder / "labels.sqlite")
        self._first: dict[str, Run] = {}

    def bar(self, description: str) -> Callable[[int, Any], None] | None:
        return self.progress(description) if self.progress is not None else None

    def queries(self, which: str) -> dict[str, str]:
        """``fit`` (training queries outside the dev slice), ``dev`` or ``test`` → {qid: text}."""
        if which == "test":
            return {q: v.text for q, v in self.test.judged_queries().items()}
        ids = self.fit_ids if which == "fit" else self.dev_ids
        return {q: self.train.queries[q].text for q in ids}

    def qrels(self, which: str) -> Qrels:
        if which == "test":
            return self.test.qrels
        ids = self.fit_ids if which == "fit" else self.dev_ids
        return {q: self.train.qrels[q] for q in ids}

    def first_stage(self, which: str, depth: int | None = None) -> Run:
        """The first stage's top ``depth`` for ``which`` queries (cached as JSON)."""
        depth = depth or self.config.depth
        tag = f"{which}-{depth}"
        if tag not in self._first:
            queries = self.queries(which)
            path = (
                self.folder / f"first-{key(self.config.first_stage, sorted(queries), depth)}.json"
            )
            if path.exists():
                run = json.loads(path.read_text())
            else:
                from aptrank.rankers import build_ranker

                ranker = build_ranker(self.config.first_stage).index(self.corpus)
                run = ranker.rank(queries, depth)
                write_json(path, run)
            self._first[tag] = run
        return self._first[tag]

    def pairs(
        self, run: Mapping[str, Mapping[str, float]], queries: Mapping[str, str]
    ) -> list[Pair]:
        """(query id, query text, doc id, doc text) for every candidate of ``run``, in run order."""
        return [(q, queries[q], d, self.corpus[d].full_text) for q in sorted(run) for d in run[q]]

    def close(self) -> None:
        self.store.close()


def stored_run(store: LabelStore, teacher: Teacher | str, pairs: Sequence[Pair]) -> Run:
    """The stored labels of ``pairs`` as a run (pairs without a label are left out)."""
    labels = store.get(teacher if isinstance(teacher, str) else teacher_id(teacher))
    run: Run = {}
    for q, _, d, _ in pairs:
        value = labels.get(q, {}).get(d)
        if value is not None:
            run.setdefault(q, {})[d] = value
    return run


def ndcg10(qrels: Qrels, run: Run) -> float:
    from aptrank.evaluate.metrics import evaluate

    return evaluate(qrels, run, ["ndcg@10"]).means["ndcg@10"]


def label(ctx: TeachContext, teacher: Teacher, pairs: Sequence[Pair], what: str) -> dict[str, Any]:
    """Label ``pairs`` with ``teacher`` (resumable; an ensemble labels its members first)."""
    from aptrank.teach.teachers.ensemble import EnsembleTeacher, label_ensemble

    if isinstance(teacher, EnsembleTeacher):
        for member in teacher.members:
            label(ctx, member, pairs, f"{what} ({member.name})")
        start = time.perf_counter()
        added = label_ensemble(teacher, ctx.store, pairs, label_members=False)
        return {"labeled": added, "seconds": round(time.perf_counter() - start, 2)}
    stats = label_pairs(teacher, ctx.store, list(pairs), progress=ctx.bar(f"labeling {what}"))
    return stats.to_dict()


# ------------------------------------------------------------------------------------ teachers


def split_members(text: str) -> list[str]:
    """Top-level comma-separated specs (commas inside brackets or parentheses stay).

    >>> split_members("trained:mpnet[epochs=2,lr=1],ranker:bm25>>dense@10")
    ['trained:mpnet[epochs=2,lr=1]', 'ranker:bm25>>dense@10']
    """
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def build_teacher(spec: str, ctx: TeachContext) -> Teacher:
    """A teacher from a spec:

    * ``trained:<backbone>``: a cross-encoder trained on the human judgments of the training
      queries outside the dev slice (trained once, cached);
    * ``ce:<model>``: any cross-encoder (folder or hub id);
    * ``llm:<model>[prompt=yesno|graded]``: a local LLM judge (``smollm2``, ``qwen``, a folder);
    * ``http:<base url>#<model>``: an OpenAI-compatible server;
    * ``ranker:<pipeline>``: an aptrank ranker's scores (``ranker:bm25``, ``ranker:dense``);
    * ``ensemble(<spec>,<spec>,...)``: members combined with weights fit on the dev slice.
    """
    spec = spec.strip()
    if spec.startswith("ensemble(") and spec.endswith(")"):
        return build_ensemble(split_members(spec[len("ensemble(") : -1]), ctx)
    kind, _, arg = spec.partition(":")
    if kind not in TEACHER_KINDS or not arg:
        raise AptrankError(
            f"unknown teacher {spec!r}; use trained:<backbone>, ce:<model>, llm:<model>, "
            "http:<url>#<model>, ranker:<pipeline> or ensemble(<teacher>,...)"
        )
    cfg = ctx.config
    if kind == "ranker":
        from aptrank.teach.teachers.ranker import RankerTeacher

        return RankerTeacher(arg, ctx.corpus)
    if kind in ("ce", "trained"):
        from aptrank.teach.teachers.cross_encoder import (
            CrossEncoderTeacher,
            CrossEncoderTeacherConfig,
        )

        name, options = model_options(kind, arg)
        precision = options.pop("precision", None)
        model = str(train_teacher(name, ctx, precision)) if kind == "trained" else name
        return CrossEncoderTeacher(
            CrossEncoderTeacherConfig(
                model, max_length=cfg.max_length, batch_size=cfg.batch_size, **options
            )
        )
    if kind == "llm":
        from aptrank.rankers.registry import options_to_config
        from aptrank.teach.teachers.llm_judge import LLMJudgeConfig, LLMJudgeTeacher

        model, _, opts = arg.partition("[")
        options = dict(o.split("=", 1) for o in opts.rstrip("]").split(",") if "=" in o)
        return LLMJudgeTeacher(options_to_config(LLMJudgeConfig, options, model=model))
    from aptrank.teach.teachers.http import HTTPTeacher, HTTPTeacherConfig

    url, _, model = arg.partition("#")
    if not model:
        raise AptrankError(f"an http teacher needs a model name: http:<url>#<model>, got {spec!r}")
    return HTTPTeacher(HTTPTeacherConfig(base_url=url, model=model))


def model_options(kind: str, arg: str) -> tuple[str, dict[str, str]]:
    """``name[key=value,...]`` of a ``trained:`` teacher (options ``backend``, ``precision``) or a
    ``ce:`` one (``backend``): the name and its options.

    >>> model_options("trained", "all-mpnet-base-v2[precision=bf16]")
    ('all-mpnet-base-v2', {'precision': 'bf16'})
    """
    allowed = ("backend", "precision") if kind == "trained" else ("backend",)
    name, bracket, rest = arg.partition("[")
    if not bracket:
        return arg, {}
    if not rest.endswith("]"):
        raise AptrankError(f"teacher options must end with ']': {arg!r}")
    options: dict[str, str] = {}
    for item in filter(None, (o.strip() for o in rest[:-1].split(","))):
        key_, eq, value = item.partition("=")
        if not eq or key_ not in allowed:
            raise AptrankError(
                f"bad teacher option {item!r} in {arg!r}: use key=value with key one of "
                f"{', '.join(allowed)}"
            )
        options[key_] = value
    return name, options


def build_ensemble(specs: Sequence[str], ctx: TeachContext) -> Teacher:
    """Members labeled on the dev slice's candidates; weights fit there (see ensemble.py)."""
    from aptrank.teach.teachers.ensemble import EnsembleTeacher, fit_ensemble

    if len(specs) < 2:
        raise AptrankError("an ensemble needs at least two members")
    members = [build_teacher(s, ctx) for s in specs]
    pairs = ctx.pairs(ctx.first_stage("dev"), ctx.queries("dev"))
    labels = []
    for member in members:
        label(ctx, member, pairs, f"dev slice ({member.name})")
        labels.append(ctx.store.get(teacher_id(member)))
    features = {
        q: {
            d: [lab[q][d] for lab in labels]
            for d in docs
            if all(d in lab.get(q, {}) for lab in labels)
        }
        for q, docs in ctx.first_stage("dev").items()
    }
    ids = [teacher_id(m) for m in members]
    fit = fit_ensemble(features, ctx.qrels("dev"), ids)
    logger.info("ensemble weights %s (dev pair accuracy %.3f)", fit.weights, fit.pair_accuracy)
    ensemble = EnsembleTeacher(members, fit, batch_size=ctx.config.batch_size)
    ensemble.dev_crossfit = crossfit_ndcg10(features, ctx.qrels("dev"), ids, ctx.config.seed)
    return ensemble


def crossfit_ndcg10(
    features: Mapping[str, Mapping[str, Sequence[float]]],
    qrels: Qrels,
    members: Sequence[str],
    seed: int = 0,
) -> float:
    """NDCG@10 of an ensemble on the dev slice without fitting on the scored queries: the slice
    is cut in two seeded halves, weights fit on one score the other, and the per-query values
    of both halves are averaged. (The weights used afterwards are fit on the whole slice; its
    plain dev figure is optimistic, this one is not.)"""
    import numpy as np

    from aptrank.evaluate.metrics import evaluate
    from aptrank.teach.teachers.ensemble import fit_ensemble

    ids = sorted(features)
    half = set(dev_slice(ids, len(ids) // 2, seed)[1]) if len(ids) > 1 else set(ids)
    folds = [[q for q in ids if q in half], [q for q in ids if q not in half]]
    values: list[float] = []
    for score_on, fit_on in (folds, folds[::-1]):
        fit = fit_ensemble({q: features[q] for q in fit_on}, qrels, members)
        w = np.asarray(fit.weights) / np.asarray(fit.scales)
        run = {q: {d: float(np.dot(w, f)) for d, f in features[q].items()} for q in score_on}
        judged = {q: qrels[q] for q in score_on if q in qrels}
        values.extend(evaluate(judged, run, ["ndcg@10"]).per_query["ndcg@10"].values())
    return float(np.mean(values))


def train_teacher(backbone: str, ctx: TeachContext, precision: str | None = None) -> Path:
    """A cross-encoder on ``backbone`` trained on the fit queries' judgments (cached);
    ``precision`` overrides the training config's."""
    from aptrank.train.cross_encoder import CrossEncoderTrainConfig, train_cross_encoder
    from aptrank.train.examples import human_pairs

    t = ctx.config.training
    if precision is not None:
        t = replace(t, precision=precision)
    fit_q = ctx.queries("fit")
    config = CrossEncoderTrainConfig(
        backbone=backbone,
        max_length=t.max_length,
        epochs=t.epochs,
        batch_size=t.batch_size,
        learning_rate=t.learning_rate,
        seed=ctx.config.seed,
        save_steps=t.save_steps,
        precision=t.precision,
    )
    negatives = rank_order(ctx.first_stage("fit"))
    folder = (
        ctx.folder
        / "teachers"
        # "ranked": the negatives are the first stage's top-ranked ones (before 2026-11-27 a
        # run's doc-id order was taken for its rank order: a different training set)
        / key(asdict(config), t.negatives, "ranked", sorted(fit_q), ctx.config.first_stage)
    )
    if (folder / "aptrank_train.json").exists():
        return folder
    pairs = human_pairs(fit_q, ctx.corpus, ctx.qrels("fit"), negatives, t.negatives)
    logger.info("training the %s teacher on %d human pairs into %s", backbone, len(pairs), folder)
    train_cross_encoder(folder, config, human=pairs)
    return folder


# --------------------------------------------------------------------------------- the whole job


@dataclass
class TeacherReport:
    teacher: str
    spec: str
    dev_ndcg10: float  #: for an ensemble: with weights fit on the dev slice itself (optimistic)
    test_ndcg10: float | None
    first_stage_dev_ndcg10: float
    first_stage_test_ndcg10: float | None
    labeling: dict[str, Any]
    config: dict[str, Any]
    #: an ensemble's dev NDCG@10 with two-fold cross-fitted weights (the figure to select on)
    dev_crossfit_ndcg10: float | None = None


def measure_teacher(ctx: TeachContext, spec: str, teacher: Teacher, on_test: bool) -> TeacherReport:
    """The teacher's NDCG@10 reranking the first stage on the dev slice (and the test split)."""
    stats: dict[str, Any] = {}
    scores: dict[str, float | None] = {"dev": None, "test": None}
    first: dict[str, float | None] = {"dev": None, "test": None}
    for which in ("dev", "test") if on_test else ("dev",):
        run = ctx.first_stage(which)
        pairs = ctx.pairs(run, ctx.queries(which))
        stats[which] = label(ctx, teacher, pairs, f"{which} top-{ctx.config.depth}")
        scores[which] = ndcg10(ctx.qrels(which), stored_run(ctx.store, teacher, pairs))
        first[which] = ndcg10(ctx.qrels(which), run)
    return TeacherReport(
        teacher_id(teacher),
        spec,
        scores["dev"] or 0.0,
        scores["test"],
        first["dev"] or 0.0,
        first["test"],
        stats,
        teacher.config(),
        getattr(teacher, "dev_crossfit", None),
    )


def synthetic_queries(ctx: TeachContext) -> dict[str, str]:
    """Synthetic queries for a fixed random sample of documents (generated once, cached)."""
    from aptrank.teach.synthetic import SyntheticConfig, generate_queries, sample_documents

    cfg = ctx.config
    if cfg.synthetic_docs <= 0:
        return {}
    gen = SyntheticConfig(model=cfg.generator, prompt=cfg.generator_prompt, seed=cfg.seed)
    docs = sample_documents(ctx.corpus, min(cfg.synthetic_docs, len(ctx.corpus)), cfg.seed)
    path = ctx.folder / f"synthetic-{key(asdict(gen))}.jsonl"
    queries = generate_queries(ctx.corpus, docs, gen, path, progress=ctx.bar("synthetic queries"))
    return {q: v.text for q, v in queries.items()}


def synthetic_candidates(ctx: TeachContext, queries: Mapping[str, str]) -> dict[str, list[str]]:
    from aptrank.teach.mining import mine_candidates

    cfg = ctx.config
    path = ctx.folder / f"candidates-{key(sorted(queries.items()), cfg.miners, cfg.mine_k)}.json"
    if path.exists():
        return json.loads(path.read_text())
    candidates = mine_candidates(ctx.corpus, queries, cfg.miners, cfg.mine_k)
    write_json(path, candidates)
    return candidates


def teach(
    config: TeachConfig,
    progress: ProgressFactory | None = None,
    imports: Sequence[str | Path] = (),
    models_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the teach job (see the module docstring); returns a JSON-able summary.

    ``imports``: label files (:meth:`LabelStore.export` output, e.g. from a GPU machine that ran
    the same job) added to the store first; pairs they hold are not labeled again.
    ``models_dir``: where the teacher is written as a trained ranker (``<models_dir>/teacher``,
    :func:`write_teacher`) when its members are pipeline stages.
    """
    ctx = TeachContext(config, progress)
    try:
        imported = {str(f): ctx.store.import_file(f) for f in imports}
        start = time.perf_counter()
        teacher = build_teacher(config.teacher, ctx)
        report = measure_teacher(ctx, config.teacher, teacher, config.label_eval)
        queries = synthetic_queries(ctx)
        candidates = synthetic_candidates(ctx, queries) if queries else {}
        pairs = [
            (q, queries[q], d, ctx.corpus[d].full_text)
            for q in sorted(candidates)
            for d in candidates[q]
        ]
        synth_stats = label(ctx, teacher, pairs, "synthetic pairs") if pairs else {}
        exported = str(ctx.store.export(config.export, report.teacher)) if config.export else None
        model = write_teacher(ctx, teacher, report, Path(models_dir)) if models_dir else None
        return {
            "models": {"teacher": str(model)} if model else {},
            "config": config.to_dict(),
            "dev_queries": ctx.dev_ids,
            "teacher": asdict(report),
            "synthetic": {
                "queries": len(queries),
                "pairs": len(pairs),
                "labeling": synth_stats,
            },
            "cache": str(ctx.folder),
            "imported": imported,
            "exported": exported,
            "seconds": round(time.perf_counter() - start, 1),
        }
    finally:
        ctx.close()


# ------------------------------------------------------------------------- the teacher, kept


def member_pipeline(spec: str, ctx: TeachContext, folder: Path) -> str | None:
    """The pipeline stage that scores as teacher ``spec`` labels (None for LLM and HTTP judges,
    which are no ranker stage); a trained member is copied into ``folder`` and named ``./``."""
    from aptrank.rankers.artifact import copy_model

    kind, _, arg = spec.strip().partition(":")
    options = f"[max_length={ctx.config.max_length},batch_size={ctx.config.batch_size}]"
    if kind == "ranker":
        return arg
    if kind not in ("ce", "trained"):
        return None
    model, extra = model_options(kind, arg)
    precision = extra.pop("precision", None)
    options = options[:-1] + "".join(f",{k}={v}" for k, v in extra.items()) + "]"
    if kind == "ce" and not Path(model).is_dir():
        return f"ce:{model}{options}"
    if kind == "ce":  # a local folder (a cache, a run): the artifact keeps its own copy
        name = f"ce-{Path(model).name}"
        copy_model(Path(model), folder / name)
        return f"ce:./{name}{options}"
    name = f"trained-{Path(model).name or 'model'}"
    copy_model(train_teacher(model, ctx, precision), folder / name)
    return f"ce:./{name}{options}"


def write_teacher(
    ctx: TeachContext,
    teacher: Teacher,
    report: TeacherReport,
    models_dir: Path,
    name: str = "teacher",
    description: str | None = None,
) -> Path | None:
    """The teacher as a trained ranker, ``<models_dir>/<name>/``: reranking the first stage's
    top ``depth`` as it was measured. An ensemble becomes ``fuse(...)[weights=./weights.json]``
    with ``norm=global`` (its labels are exactly that stage's scores); a trained cross-encoder
    (and a ``ce:`` member given as a local folder) is copied in. Teachers with LLM or HTTP
    members are not ranker stages: None. ``report.spec`` is the teacher written (the distill
    benchmark writes its student system and the fusion without the student this way too)."""
    from aptrank.rankers import build_ranker
    from aptrank.rankers.artifact import dataset_record, figure, write_artifact
    from aptrank.rankers.fuse import FuseWeights, Member
    from aptrank.teach.teachers.ensemble import EnsembleTeacher

    cfg = ctx.config
    folder = models_dir / name
    spec = report.spec.strip()
    ensemble = isinstance(teacher, EnsembleTeacher)
    specs = split_members(spec[len("ensemble(") : -1]) if ensemble else [spec]
    members = [member_pipeline(s, ctx, folder) for s in specs]
    if any(m is None for m in members):
        logger.warning("teacher %s has LLM/HTTP members: not written as a ranker", spec)
        return None
    stages = [m for m in members if m is not None]
    if isinstance(teacher, EnsembleTeacher):
        kinds = [build_ranker(m, base=folder).kind for m in stages]
        fit = teacher.fit
        FuseWeights(
            tuple(Member(k, m) for k, m in zip(kinds, stages)),
            fit.weights,
            norm="global",
            scales=fit.scales,
            first_stage=cfg.first_stage,
            depth=cfg.depth,
            judgments={"dataset": ctx.train.name, "split": cfg.train_split, "queries": ctx.dev_ids},
            fit={"method": "pairwise", "pairs": fit.pairs, "pair_accuracy": fit.pair_accuracy},
        ).save(folder / "weights.json")
        inner = f"fuse({','.join(stages)})[weights=./weights.json]"
    else:
        inner = stages[0]
    pipeline = f"{cfg.first_stage}>>{inner}@{cfg.depth}"
    # a member copied in (``ce:./…``: trained here, or a local student) may have been trained on
    # the fit queries: recorded as such, so fit-fusion never weighs it on them
    trained = any(m.startswith("ce:./") for m in stages)
    measured = f"{cfg.first_stage} top-{cfg.depth} reranked"
    figures = {
        "dev": figure(
            {"ndcg@10": report.dev_ndcg10},
            f"{cfg.train_split} (dev slice)",
            len(ctx.dev_ids),
            not ensemble,
            measured_as=measured,
            note="ensemble weights fitted on these queries" if ensemble else "",
        ),
    }
    if report.dev_crossfit_ndcg10 is not None:
        figures["dev_crossfit"] = figure(
            {"ndcg@10": report.dev_crossfit_ndcg10},
            f"{cfg.train_split} (dev slice)",
            len(ctx.dev_ids),
            True,
            measured_as=f"{measured}, weights fitted on the other half",
        )
    if report.test_ndcg10 is not None:
        figures["test"] = figure(
            {"ndcg@10": report.test_ndcg10},
            cfg.eval_split,
            len(ctx.queries("test")),
            True,
            measured_as=measured,
        )
    write_artifact(
        folder,
        name=name,
        kind="teacher",
        pipeline=pipeline,
        description=description
        or f"The teacher {spec} of aptrank teach on {ctx.train.name}, as a ranker.",
        dataset=dataset_record(ctx.train),
        trained_on={
            "split": cfg.train_split,
            "queries": list(ctx.fit_ids) if trained else [],
            "dev_queries": list(ctx.dev_ids),
        },
        teacher=report.teacher,
        config=cfg.to_dict(),
        seed=cfg.seed,
        figures=figures,
    )
    return folder
