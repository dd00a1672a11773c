"""``aptrank distill``: train small cross-encoder students on a teacher's labels, and a curve.

Reads what ``aptrank teach`` stored (:mod:`aptrank.teach.workflow`): the dev slice, the teacher's
labels of the synthetic queries' candidates and of the dev/test rerank pools. For each size ``n``
in :attr:`DistillConfig.sizes` a student is trained on the human judgments of the training queries
outside the dev slice plus the teacher's labels of the first ``n`` synthetic queries (a fixed
seeded order, so the sets are nested and the curve shows the effect of data, not of a new draw).
``n = 0`` is the student trained on human judgments only.

Each student reranks the first stage's top ``depth`` on the dev slice (the figure that selects
the student) and on the evaluation split (reported, scored once per student; nothing is chosen
on it). A student's scores go to the label store like a teacher's, so an interrupted evaluation
resumes, and the trained students are cached: a re-run recomputes nothing.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aptrank.data.runs import rank_order
from aptrank.errors import AptrankError
from aptrank.rankers.cache import key
from aptrank.teach.workflow import (
    ProgressFactory,
    TeachConfig,
    TeachContext,
    build_teacher,
    label,
    measure_teacher,
    ndcg10,
    split_members,
    stored_run,
    synthetic_candidates,
    synthetic_queries,
    write_teacher,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillConfig:
    """Everything ``aptrank distill`` does; saved with its results."""

    teach: TeachConfig
    student: str = "all-MiniLM-L6-v2"  #: backbone of the student cross-encoder
    #: synthetic queries per curve point (SmolLM2 keeps about a third of its doc2claim queries on
    #: SciFact: 800 documents give ~250)
    sizes: tuple[int, ...] = (0, 50, 100, 200)
    human: bool = True  #: add the human judgments of the training queries (BCE)
    human_negatives: int = 3  #: BM25 hard negatives per relevant document
    #: "random": drawn from the first stage's whole depth (seeded); "top": its best-ranked wrong
    #: documents. Chosen on SciFact's dev slice with the human-only MiniLM student (1 epoch, fp32,
    #: 2 CPU cores): random 0.6196, top 0.2658, p < 1e-13 (benchmarks/results/distill.json,
    #: defaults["human_sampling=random"] dev_ndcg@10 and paired_t_test).
    human_sampling: str = "random"
    loss: str = "margin-mse"  #: on the teacher labels: margin-mse or bce (soft labels)
    #: margin triples (or soft pairs) per synthetic query, and epochs: chosen on SciFact's dev
    #: slice among 10 recipes at 200 synthetic queries, GPU-trained in fp32 with the same code
    #: (benchmarks/device/2026-11-27b-h200/call2_students_sweep.json, recipes[].dev: 6 x 1 epoch
    #: 0.740, 6 x 3 0.782, 12 x 3 0.784), then measured as shipped on 2 CPU cores in fp32:
    #: benchmarks/results/distill.json, students["200"] (training.wall_s, dev_ndcg@10).
    per_query: int = 12
    pairing: str = "top"  #: how margin triples pair documents (see aptrank.train.examples)
    #: teacher margins as given ("none") or at unit standard deviation ("std"); see
    #: aptrank.train.examples.normalize_margins. Dev slice, 50 synthetic queries, 1 epoch, 2 CPU
    #: cores: a tie (std 0.7009, none 0.7110, paired t-test p = 0.55: benchmarks/results/
    #: distill.json, defaults["margin_norm=std"] dev_ndcg@10 and paired_t_test). "std" is kept:
    #: the loss then has the same scale whatever the teacher (an ensemble's margins are
    #: pairwise log-odds, a cross-encoder's logit gaps), and the full-size student of
    #: students["200"] was measured with it.
    margin_norm: str = "std"
    epochs: float = 3.0
    #: epochs of a curve point without teacher labels (human judgments only): on the dev slice
    #: 3 epochs never left the chance loss (0.342 NDCG@10, GPU fp32: call2_students_sweep.json
    #: curve[0]); 1 epoch learns (distill.json defaults["human_sampling=random"], CPU); the
    #: teacher's margins are what keep the longer recipe stable
    human_only_epochs: float = 1.0
    batch_size: int = 16
    learning_rate: float = 7e-5
    max_length: int = 256
    save_steps: int = 50  #: checkpoints to resume from (a curve point trains for minutes)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  #: more CrossEncoderTrainConfig fields

    def __post_init__(self) -> None:
        # fail at configuration time, not after the teacher work, with the functions' own checks
        from aptrank.train.examples import negative_order, normalize_margins

        normalize_margins([], self.margin_norm)
        negative_order({}, self.human_sampling)
        if not self.human and 0 in self.sizes:
            raise AptrankError(
                "curve point 0 has nothing to train on without the human judgments: "
                "drop 0 from the sizes or keep the human judgments"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StudentReport:
    size: int  #: synthetic queries used
    folder: str
    train: dict[str, Any]  #: data sizes and training time
    dev_ndcg10: float
    test_ndcg10: float
    scoring: dict[str, Any]


def synthetic_order(ids: Sequence[str], seed: int) -> list[str]:
    """A fixed seeded order of the synthetic query ids; the first ``n`` form curve point ``n``.

    >>> synthetic_order(["b", "a", "c"], 0) == synthetic_order(["c", "b", "a"], 0)
    True
    """
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return order


def select_size(dev: Mapping[int, float]) -> int:
    """The curve point the dev slice selects: the best dev figure, the smaller size on a tie.

    >>> select_size({0: 0.6, 50: 0.7, 200: 0.7})
    50
    """
    return max(dev, key=lambda size: (dev[size], -size))


def train_student(
    ctx: TeachContext,
    config: DistillConfig,
    teacher_id: str,
    synthetic: dict[str, str],
    candidates: dict[str, list[str]],
    size: int,
) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) the student of one curve point."""
    from aptrank.train.cross_encoder import CrossEncoderTrainConfig, train_cross_encoder
    from aptrank.train.examples import (
        human_pairs,
        margin_triples,
        negative_order,
        normalize_margins,
        soft_pairs,
    )

    chosen = synthetic_order(list(synthetic), config.seed)[:size]
    labels_all = ctx.store.get(teacher_id)
    labels = {
        q: {d: labels_all[q][d] for d in candidates.get(q, ()) if d in labels_all.get(q, {})}
        for q in chosen
        if q in labels_all
    }
    missing = sum(len(candidates.get(q, ())) for q in chosen) - sum(map(len, labels.values()))
    if missing:
        raise AptrankError(
            f"{missing} (synthetic query, candidate) pairs have no {teacher_id} label yet: "
            "run `aptrank teach` to finish labeling first"
        )
    human = []
    if config.human:
        ranking = rank_order(ctx.first_stage("fit"))
        negatives = negative_order(ranking, config.human_sampling, config.seed)
        fit_q = ctx.queries("fit")
        human = human_pairs(fit_q, ctx.corpus, ctx.qrels("fit"), negatives, config.human_negatives)
    margin = soft = None
    divisor = 1.0
    if labels and config.loss == "margin-mse":
        margin, divisor = normalize_margins(
            margin_triples(
                synthetic, ctx.corpus, labels, config.per_query, config.seed, pairing=config.pairing
            ),
            config.margin_norm,
        )
    elif labels and config.loss == "bce":
        soft = soft_pairs(synthetic, ctx.corpus, labels, config.per_query, config.seed)
    elif labels:
        raise AptrankError(f"unknown distillation loss {config.loss!r}; use margin-mse or bce")
    train_cfg = CrossEncoderTrainConfig(
        backbone=config.student,
        max_length=config.max_length,
        epochs=config.epochs if margin or soft else config.human_only_epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        seed=config.seed,
        save_steps=config.save_steps,
        **{"teacher_loss": config.loss, **config.extra},
    )
    folder = (
        ctx.folder
        / "students"
        / key(
            asdict(train_cfg),
            teacher_id,
            chosen,
            config.loss,
            config.per_query,
            config.pairing,
            # only where there are margins to scale: a human-only point keeps its key
            *([config.margin_norm] if margin else []),
            config.human,
            config.human_negatives,
            config.human_sampling,
            ctx.fit_ids,
        )
    )
    sizes: dict[str, Any] = {
        "synthetic_queries": len(chosen),
        "human_pairs": len(human),
        "margin_triples": len(margin or ()),
        "margin_divisor": divisor,
        "soft_pairs": len(soft or ()),
    }
    if not (folder / "aptrank_train.json").exists():
        if not human and not margin and not soft:
            raise AptrankError(f"curve point {size}: nothing to train on")
        start = time.perf_counter()
        train_cross_encoder(folder, train_cfg, human=human or None, margin=margin, soft=soft)
        sizes["seconds"] = round(time.perf_counter() - start, 1)
    return folder, sizes


def distill(
    config: DistillConfig,
    progress: ProgressFactory | None = None,
    models_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train one student per curve point and score each; returns a JSON-able summary.

    With ``models_dir`` every student is also written there as a trained-ranker artifact,
    ``<models_dir>/student-<size>/`` (:func:`write_student`), listed under ``"models"``."""
    from aptrank.teach.teachers.base import teacher_id
    from aptrank.teach.teachers.cross_encoder import (
        CrossEncoderTeacher,
        CrossEncoderTeacherConfig,
    )

    ctx = TeachContext(config.teach, progress)
    try:
        teacher = build_teacher(config.teach.teacher, ctx)
        tid = teacher_id(teacher)
        synthetic = synthetic_queries(ctx)
        candidates = synthetic_candidates(ctx, synthetic) if synthetic else {}
        usable = [q for q in synthetic if candidates.get(q)]
        if max(config.sizes) > len(usable):
            raise AptrankError(
                f"curve point {max(config.sizes)} needs more synthetic queries than the "
                f"{len(usable)} written; raise --synthetic-docs in `aptrank teach`"
            )
        students = []
        for size in sorted(config.sizes):
            folder, sizes = train_student(ctx, config, tid, synthetic, candidates, size)
            scorer = CrossEncoderTeacher(
                CrossEncoderTeacherConfig(
                    str(folder), max_length=config.max_length, batch_size=config.batch_size
                )
            )
            scores, stats = {}, {}
            for which in ("dev", "test"):
                run = ctx.first_stage(which)
                pairs = ctx.pairs(run, ctx.queries(which))
                stats[which] = label(ctx, scorer, pairs, f"student {size}: {which}")
                scores[which] = ndcg10(ctx.qrels(which), stored_run(ctx.store, scorer, pairs))
            students.append(
                StudentReport(size, str(folder), sizes, scores["dev"], scores["test"], stats)
            )
            logger.info("student %d: dev %.4f, test %.4f", size, scores["dev"], scores["test"])
        chosen = select_size({s.size: s.dev_ndcg10 for s in students})
        best = next(s for s in students if s.size == chosen)
        models = {}
        if models_dir is not None:
            for s in students:
                folder = write_student(ctx, config, tid, s, Path(models_dir), s is best)
                models[folder.name] = str(folder)
        selected = {"size": best.size, "by": "dev ndcg@10", "folder": best.folder}
        if models:
            selected["model"] = models[f"student-{best.size}"]
        system = None
        if models_dir is not None and cheap_members(config.teach.teacher):
            system = student_system(ctx, config.teach.teacher, best.folder, Path(models_dir))
            for name in ("student_system", "without_student"):
                models[name.replace("_", "-")] = system[name]["pipeline"]
        return {
            "config": config.to_dict(),
            "teacher": tid,
            "dev_queries": ctx.dev_ids,
            "students": {str(s.size): asdict(s) for s in students},
            "selected": selected,
            "models": models,
            "student_system": system,
        }
    finally:
        ctx.close()


def cheap_members(teacher: str) -> list[str]:
    """An ensemble teacher's cheap members, its ``ranker:`` ones (index signals such as BM25 and
    bi-encoder cosines over cached embeddings), when it also has model members; else none.

    >>> cheap_members("ensemble(trained:m,ranker:bm25,ranker:dense)")
    ['ranker:bm25', 'ranker:dense']
    >>> cheap_members("ensemble(ranker:bm25,ranker:dense)"), cheap_members("trained:m")
    ([], [])
    """
    teacher = teacher.strip()
    if not (teacher.startswith("ensemble(") and teacher.endswith(")")):
        return []
    members = split_members(teacher[len("ensemble(") : -1])
    cheap = [m for m in members if m.startswith("ranker:")]
    return cheap if len(cheap) < len(members) else []


def student_system(
    ctx: TeachContext, teacher: str, student_folder: str, models_dir: Path
) -> dict[str, Any]:
    """The student system and the same fusion without the student, fitted and written.

    The student system is the teacher's cheap members plus the student in place of its model
    members, fused the way the teacher was (pairwise-logistic weights on the dev slice,
    ``norm=global``); ``without_student`` is the cheap members alone, fitted the same way. Both
    rerank the first stage's top ``depth`` on the dev slice and the evaluation split and are
    written as trained rankers (``models_dir/student-system``, ``models_dir/without-student``);
    ``student`` is the student alone on the same pairs.
    The paired t-test of the two on the evaluation split says whether the student carries
    weight; ``unseen`` holds the figures on the evaluation queries whose relevant documents were
    never relevant to a training query.
    """
    from aptrank.diagnose.strata import unseen_queries
    from aptrank.evaluate.metrics import evaluate
    from aptrank.evaluate.significance import paired_test

    cheap = cheap_members(teacher)
    if not cheap:
        raise AptrankError(f"the teacher {teacher} has no cheap (ranker:) and model members")
    specs = {
        "student_system": f"ensemble(ce:{student_folder},{','.join(cheap)})",
        "without_student": f"ensemble({','.join(cheap)})" if len(cheap) > 1 else cheap[0],
    }
    pairs = ctx.pairs(ctx.first_stage("test"), ctx.queries("test"))
    unseen = unseen_queries(ctx.test.qrels, ctx.train.qrels)
    out: dict[str, Any] = {"specs": specs, "unseen_queries": len(unseen), "unseen_ids": unseen}
    per_query = {}
    for name, spec in specs.items():
        scorer = build_teacher(spec, ctx)
        measured = measure_teacher(ctx, spec, scorer, on_test=True)
        run = stored_run(ctx.store, scorer, pairs)
        per_query[name] = evaluate(ctx.test.qrels, run, ["ndcg@10"]).per_query["ndcg@10"]
        folder = write_teacher(
            ctx,
            scorer,
            measured,
            models_dir,
            name=name.replace("_", "-"),
            description=(
                f"The {name.replace('_', ' ')} of aptrank distill on {ctx.train.name}: {spec}, "
                "weights fitted on the dev slice as the teacher's were."
            ),
        )
        out[name] = {
            "ndcg@10": measured.test_ndcg10,
            "dev_ndcg@10": measured.dev_ndcg10,
            "dev_crossfit_ndcg@10": measured.dev_crossfit_ndcg10,
            "unseen_ndcg@10": mean_over(per_query[name], unseen),
            "weights": weights(spec, scorer),
            "pipeline": str(folder),
        }
        logger.info("%s: test %.4f", name, measured.test_ndcg10)
    out["paired_t_test"] = {
        "vs": "without_student",
        **paired_test(per_query["student_system"], per_query["without_student"]).to_dict(),
    }
    # the student alone beside them (its labels are the student system's own, already stored)
    alone = stored_run(ctx.store, build_teacher(f"ce:{student_folder}", ctx), pairs)
    per_query["student"] = evaluate(ctx.test.qrels, alone, ["ndcg@10"]).per_query["ndcg@10"]
    out["student"] = {
        "spec": f"ce:{student_folder}",
        "ndcg@10": mean_over(per_query["student"], list(per_query["student"])),
        "unseen_ndcg@10": mean_over(per_query["student"], unseen),
    }
    out["per_query"] = per_query
    return out


def mean_over(values: Mapping[str, float], ids: Sequence[str]) -> float | None:
    """The mean of ``values`` over ``ids`` (None when there are none).

    >>> mean_over({"a": 1.0, "b": 0.0, "c": 0.5}, ["a", "c"]), mean_over({"a": 1.0}, [])
    (0.75, None)
    """
    return sum(values[i] for i in ids) / len(ids) if ids else None


def weights(spec: str, scorer: Any) -> dict[str, float] | None:
    """An ensemble's fitted weight per member spec (None for a single ranker)."""
    fit = getattr(scorer, "fit", None)
    if fit is None:
        return None
    return dict(zip(split_members(spec[len("ensemble(") : -1]), fit.weights, strict=True))


def student_pipeline(config: DistillConfig, model: str = ".") -> str:
    """The pipeline a student was measured as: it reranks the first stage's top ``depth``.

    >>> from aptrank.teach.workflow import TeachConfig
    >>> student_pipeline(DistillConfig(TeachConfig("scifact")))
    'bm25>>ce:.[max_length=256,batch_size=16]@30'
    """
    t = config.teach
    options = f"max_length={config.max_length},batch_size={config.batch_size}"
    return f"{t.first_stage}>>ce:{model}[{options}]@{t.depth}"


def write_student(
    ctx: TeachContext,
    config: DistillConfig,
    teacher: str,
    student: StudentReport,
    models_dir: Path,
    selected: bool,
) -> Path:
    """Copy a trained student out of the cache into ``models_dir/student-<size>/`` with its
    ``aptrank.json`` (pipeline, training queries, teacher, figures) and model card."""
    from aptrank.rankers.artifact import copy_model, dataset_record, figure, write_artifact

    target = copy_model(student.folder, models_dir / f"student-{student.size}")
    t = config.teach
    what = f"{t.first_stage} top-{t.depth} reranked, max length {config.max_length}"
    write_artifact(
        target,
        name=target.name,
        kind="student",
        pipeline=student_pipeline(config),
        description=(
            f"A cross-encoder student ({config.student}) distilled from {t.teacher} on "
            f"{ctx.train.name}: "
            f"the human judgments of {len(ctx.fit_ids)} training queries plus the teacher's "
            f"labels of {student.size} synthetic queries"
            + (" (the curve point the dev slice selected)." if selected else ".")
        ),
        dataset=dataset_record(ctx.train),
        trained_on={
            "split": t.train_split,
            "queries": list(ctx.fit_ids),
            "dev_queries": list(ctx.dev_ids),
            "synthetic_queries": student.size,
        },
        base_model=config.student,
        teacher=f"{t.teacher} ({teacher})",
        config=config.to_dict(),
        seed=config.seed,
        figures={
            "dev": figure(
                {"ndcg@10": student.dev_ndcg10},
                f"{t.train_split} (dev slice)",
                len(ctx.dev_ids),
                False,
                measured_as=what,
                note="selects the curve point",
            ),
            "test": figure(
                {"ndcg@10": student.test_ndcg10},
                t.eval_split,
                len(ctx.queries("test")),
                True,
                measured_as=what,
            ),
        },
        extra={"selected_on_dev": selected, "training": student.train},
    )
    return target


def with_sizes(config: DistillConfig, sizes: Sequence[int]) -> DistillConfig:
    return replace(config, sizes=tuple(sizes))
