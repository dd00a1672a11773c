"""Distillation benchmark on SciFact: teachers, the student, the student system, throughput.

    python benchmarks/distill.py [--parts teachers judges teach students defaults system
        throughput] [--sizes 200] [--synthetic-docs 800] [--depth 30] [--max-length 256]
        [--out runs/distill]

CPU configuration (the default): every ranker reranks BM25's top ``--depth`` (30) with max length
256; the dev slice is 100 training queries (seed 0) and every choice is made on it:

* ``teachers``: each teacher of :func:`teachers` reranks the dev slice and the test split (labels
  stored once in the label store; an ensemble's dev figure is cross-fitted); the teacher with the
  best dev NDCG@10 teaches. The trained member (``trained:all-mpnet-base-v2``) trains in bf16 and
  labels with OpenVINO bf16 (``[precision=bf16,backend=openvino-bf16]``): ~3x and ~4x faster than
  fp32 on a CPU with AMX, and bf16 is how the GPU teacher of 2026-11-27 was trained too.
* ``judges``: the packaged LLM judges (SmolLM2-135M, Qwen2.5-Coder-0.5B) on a subset of the dev
  slice, against BM25 and the chosen teacher on the same pairs.
* ``teach``: synthetic queries from ``--synthetic-docs`` random corpus documents (SmolLM2),
  candidates mined from BM25 + MiniLM top-10, labeled by the chosen teacher.
* ``students``: the MiniLM cross-encoder student per curve point (``--sizes``), trained with
  ``DistillConfig``'s default recipe in fp32 (the CPU default), scored on dev and test, written to
  ``--out``/models/student-<size>.
* ``defaults``: dev-slice runs behind two ``DistillConfig`` defaults (``human_sampling``,
  ``margin_norm``), each trained on this machine; each default against its alternative by a
  paired t-test on the dev queries.
* ``system``: the student system (the teacher's cheap members plus the student in place of its
  model members, fused the same way: pairwise weights on the dev slice, ``norm=global``), the
  same fusion without the student, paired t-test on test, the unseen subset; both written to
  ``--out``/models and re-evaluated by ``aptrank evaluate`` in a new process; the headline.
* ``throughput``: pairs/s of each teacher, its model members and the student on the same
  ``--pairs`` test pairs, same max length and batch size (run it on an idle machine).

Every part is cached and resumable (labels in the label store, trained models in the cache):
kill it and run it again. Each part records its own command, machine, versions and time
(``provenance``). Writes ``benchmarks/results/distill.json`` (merged across parts),
``distill.md`` and ``distill.png``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).parent))
DATA = Path(os.environ.get("APTRANK_BENCH_DATA", Path(__file__).parents[2] / "shared" / "data"))
#: the trained member on a CPU: bf16 training and OpenVINO bf16 labeling (a GPU run passes
#: ``--trained trained:all-mpnet-base-v2``: bf16 there by default, torch)
TRAINED = "trained:all-mpnet-base-v2[precision=bf16,backend=openvino-bf16]"
MPNET_DENSE = "ranker:dense:all-mpnet-base-v2[max_length=256]"
#: SciFact test NDCG@10 of the teacher of 2026-11-27 (its trained member trained on a lent H200,
#: gone with that session's cache): the issue's bar for the teacher rebuilt here
PREVIOUS_TEACHER = 0.757


def teachers(trained: str) -> list[str]:
    """The teachers tried: the cheap rankers, the trained cross-encoder, and ensembles."""
    return [
        "ranker:bm25",
        "ranker:dense",
        MPNET_DENSE,
        trained,
        "ensemble(ranker:bm25,ranker:dense)",
        f"ensemble(ranker:bm25,ranker:dense,{MPNET_DENSE})",
        f"ensemble({trained},ranker:bm25,ranker:dense)",
        f"ensemble({trained},ranker:bm25,ranker:dense,{MPNET_DENSE})",
    ]


JUDGES = ("llm:smollm2", "llm:qwen")
PARTS = (
    "teachers",
    "judges",
    "teach",
    "students",
    "defaults",
    "variants",
    "system",
    "throughput",
)
#: every block of the results file that a part writes, and so carries a ``provenance``
BLOCKS = {
    "teachers": "teachers",
    "judges": "judges",
    "teach": "synthetic",
    "students": "students",
    "defaults": "defaults",
    "variants": "variants",
    "system": "system",
    "throughput": "throughput",
}


#: blocks whose every entry is one part's output (each entry carries its own provenance)
PER_ENTRY = ("teachers", "students", "defaults", "variants")
PROVENANCE_KEYS = ("command", "machine", "versions", "created")
HEADLINE_KEYS = {
    "teacher": ("spec", "ndcg@10"),
    "student": ("pipeline", "ndcg@10", "machine"),
    "student_system": ("pipeline", "ndcg@10", "machine"),
    "without_student": ("pipeline", "ndcg@10"),
    "unseen": ("teacher", "student_system", "without_student"),
    "p_value": (),
    "speedup": (),
}


def missing_provenance(report: dict[str, Any]) -> list[str]:
    """Where the results file lacks a part's provenance (or one of its keys), or the headline
    one of its keys: empty when the file is complete."""
    missing = []
    for block in BLOCKS.values():
        if block not in report:  # a part not run (yet): nothing of it to vouch for
            continue
        items = report[block].items() if block in PER_ENTRY else [(None, report[block])]
        for name, entry in items:
            where = f"{block}.{name}" if name is not None else block
            if not isinstance(entry, dict):
                continue
            stamp_ = entry.get("provenance")
            if not isinstance(stamp_, dict):
                missing.append(f"{where}.provenance")
                continue
            missing += [f"{where}.provenance.{k}" for k in PROVENANCE_KEYS if k not in stamp_]
            machine = stamp_.get("machine", {})
            missing += [
                f"{where}.provenance.machine.{k}"
                for k in ("cpu", "cpus_available", "gpu")
                if k not in machine
            ]
    head = report.get("headline", {})
    for key, inner in HEADLINE_KEYS.items():
        if key not in head:
            missing.append(f"headline.{key}")
        else:
            missing += [f"headline.{key}.{k}" for k in inner if k not in head[key]]
    return missing


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


NAME = "distill"  #: results file stem; --name changes it


def provenance(**extra: Any) -> dict[str, Any]:
    """The command, machine, versions and time of the part being written."""
    from inference import stamp

    return {**stamp(), **extra}


def load_report() -> dict[str, Any]:
    path = RESULTS / f"{NAME}.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    # top-level stamps of older files described only the last part run: each part has its own
    for stale in ("command", "versions", "cpus"):
        report.pop(stale, None)
    return report


def save_report(report: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    report["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (RESULTS / f"{NAME}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (RESULTS / f"{NAME}.md").write_text(to_markdown(report))
    if report.get("students"):
        plot(report)
    log(f"saved {RESULTS / f'{NAME}.json'}")


def selection_score(t: dict[str, Any]) -> float:
    """What a teacher is chosen by: dev NDCG@10, cross-fitted for an ensemble."""
    cf = t.get("dev_crossfit_ndcg@10")
    return cf if cf is not None else t["dev_ndcg@10"]


def training_record(folder: Path) -> dict[str, Any]:
    """Where and how a trained model was trained (from its aptrank_train.json)."""
    record = json.loads((folder / "aptrank_train.json").read_text())
    keep = (
        "device",
        "precision",
        "global_step",
        "train_loss",
        "wall_s",  # this call's time only: a resumed run's earlier part is not in it
        "resumed_from",
        "sizes",
        "created",
    )
    return {"folder": folder.name, **{k: record.get(k) for k in keep}}


def part_teachers(
    ctx: Any, report: dict[str, Any], specs: list[str], dev_only: Sequence[str] = ()
) -> None:
    """Every teacher on the dev slice first (cheap figures early), then on the test split.

    ``dev_only`` teachers are not scored on test (a slow teacher the dev slice rules out); the
    chosen teacher always is."""
    from aptrank.teach.workflow import build_teacher, measure_teacher

    teachers = report.setdefault("teachers", {})
    for on_test in (False, True):
        chosen = report.get("chosen_teacher", {}).get("spec")
        for spec in specs:
            if on_test and spec in dev_only and spec != chosen:
                log(f"teacher {spec}: dev only (--dev-only)")
                teachers.setdefault(spec, {})["dev_only"] = True
                continue
            log(f"teacher {spec} ({'dev + test' if on_test else 'dev'})")
            start = time.perf_counter()
            teacher = build_teacher(spec, ctx)
            t = measure_teacher(ctx, spec, teacher, on_test=on_test)
            entry = teachers.setdefault(spec, {})
            if spec.startswith("trained:"):
                entry["training"] = training_record(Path(teacher.cfg.model))
            entry.update(
                id=t.teacher,
                config=t.config,
                **{"dev_ndcg@10": t.dev_ndcg10, "dev_crossfit_ndcg@10": t.dev_crossfit_ndcg10},
            )
            entry.setdefault("first_stage", {})["dev_ndcg@10"] = t.first_stage_dev_ndcg10
            entry.setdefault("labeling", {}).update(t.labeling)
            entry["seconds" if on_test else "dev_seconds"] = round(time.perf_counter() - start, 1)
            if on_test:
                entry["ndcg@10"] = t.test_ndcg10
                entry["first_stage"]["ndcg@10"] = t.first_stage_test_ndcg10
            entry["provenance"] = provenance()
            log(
                f"  dev {t.dev_ndcg10:.4f} (cross-fit {t.dev_crossfit_ndcg10}), "
                f"test {t.test_ndcg10}"
            )
            save_report(report)
        if not on_test:
            choose_teacher(report)
    choose_teacher(report)


def choose_teacher(report: dict[str, Any]) -> None:
    teachers = report["teachers"]
    candidates = {s: t for s, t in teachers.items() if not s.startswith(("ranker:bm25", "llm:"))}
    best = max(candidates, key=lambda s: selection_score(candidates[s]))
    report["chosen_teacher"] = {"spec": best, "by": "dev NDCG@10 (cross-fitted for ensembles)"}
    log(f"chosen teacher: {best}")
    save_report(report)


def part_judges(ctx: Any, report: dict[str, Any], n_queries: int, depth: int) -> None:
    """LLM judges on a dev subset, with BM25 and the chosen teacher on the same pairs."""
    from aptrank.data.runs import cut
    from aptrank.teach.workflow import build_teacher, label, ndcg10, stored_run

    qids = sorted(random.Random(0).sample(ctx.dev_ids, n_queries))
    first = ctx.first_stage("dev")
    run = cut({q: first[q] for q in qids}, depth)  # BM25's top `depth`
    queries = ctx.queries("dev")
    pairs = ctx.pairs(run, queries)
    qrels = {q: ctx.qrels("dev")[q] for q in qids}
    out: dict[str, Any] = {
        "queries": qids,
        "depth": depth,
        "pairs": len(pairs),
        "first_stage_ndcg@10": ndcg10(qrels, run),
    }
    for spec in (*JUDGES, report["chosen_teacher"]["spec"]):
        log(f"judge subset: {spec} on {len(pairs)} pairs")
        teacher = build_teacher(spec, ctx)
        start = time.perf_counter()
        stats = label(ctx, teacher, pairs, f"judge subset {spec}")
        out[spec] = {
            "ndcg@10": ndcg10(qrels, stored_run(ctx.store, teacher, pairs)),
            "labeling": stats,
            "seconds": round(time.perf_counter() - start, 1),
        }
        out["provenance"] = provenance()
        report["judges"] = out
        save_report(report)


def part_teach(config: Any, report: dict[str, Any]) -> None:
    from aptrank.cli._common import progress_bars
    from aptrank.teach.workflow import teach

    start = time.perf_counter()
    with progress_bars(sys.stderr.isatty()) as bars:
        result = teach(config, progress=bars)
    report["synthetic"] = {
        **result["synthetic"],
        "seconds": round(time.perf_counter() - start, 1),
        "provenance": provenance(),
    }
    save_report(report)


def part_students(dconfig: Any, report: dict[str, Any], models_dir: Path) -> None:
    from aptrank.cli._common import progress_bars
    from aptrank.train.distill import distill

    with progress_bars(sys.stderr.isatty()) as bars:
        result = distill(dconfig, progress=bars, models_dir=models_dir)
    students = report.setdefault("students", {})
    for size, s in result["students"].items():
        entry = students.setdefault(size, {})
        entry.update(
            {
                "ndcg@10": s["test_ndcg10"],
                "dev_ndcg@10": s["dev_ndcg10"],
                "train": {**entry.get("train", {}), **s["train"]},
                "folder": s["folder"],
                "model": result["models"].get(f"student-{size}"),
                "training": training_record(Path(s["folder"])),
                "recipe": {k: result["config"][k] for k in RECIPE},
            }
        )
        # the machine the student trained on: the first run that trained it (a rerun that
        # finds it cached keeps that record)
        entry.setdefault("provenance", provenance())
    report["selected_student"] = result["selected"]
    save_report(report)


#: the fields of DistillConfig that make a student recipe
RECIPE = (
    "student",
    "loss",
    "per_query",
    "epochs",
    "pairing",
    "margin_norm",
    "human_sampling",
    "human_negatives",
    "learning_rate",
    "batch_size",
    "max_length",
)

#: dev-slice runs behind DistillConfig's defaults: (name, change, synthetic queries)
DEFAULT_RUNS = (
    ("human_sampling=random", {"human_sampling": "random"}, 0),
    ("human_sampling=top", {"human_sampling": "top"}, 0),
    ("margin_norm=std", {"margin_norm": "std", "epochs": 1.0}, 50),
    ("margin_norm=none", {"margin_norm": "none", "epochs": 1.0}, 50),
)


#: (the shipped value's run, its alternative's run): compared by a paired t-test on dev
DEFAULT_PAIRS = (
    ("human_sampling=random", "human_sampling=top"),
    ("margin_norm=std", "margin_norm=none"),
)


def part_defaults(dconfig: Any, report: dict[str, Any]) -> None:
    """Each run of ``DEFAULT_RUNS`` trained here and scored on the dev slice only."""
    from aptrank.evaluate.metrics import evaluate
    from aptrank.evaluate.significance import paired_test
    from aptrank.teach.teachers.base import teacher_id
    from aptrank.teach.teachers.cross_encoder import CrossEncoderTeacher, CrossEncoderTeacherConfig
    from aptrank.teach.workflow import (
        TeachContext,
        build_teacher,
        label,
        ndcg10,
        stored_run,
        synthetic_candidates,
        synthetic_queries,
    )
    from aptrank.train.distill import train_student

    out = report.setdefault("defaults", {})
    per_query: dict[str, dict[str, float]] = {}
    ctx = TeachContext(dconfig.teach)
    try:
        tid = teacher_id(build_teacher(dconfig.teach.teacher, ctx))
        synthetic = synthetic_queries(ctx)
        candidates = synthetic_candidates(ctx, synthetic)
        pairs = ctx.pairs(ctx.first_stage("dev"), ctx.queries("dev"))
        for name, change, size in DEFAULT_RUNS:
            config = replace(dconfig, **change)
            log(f"defaults: {name} at {size} synthetic queries")
            folder, sizes = train_student(ctx, config, tid, synthetic, candidates, size)
            scorer = CrossEncoderTeacher(
                CrossEncoderTeacherConfig(
                    str(folder), max_length=config.max_length, batch_size=config.batch_size
                )
            )
            label(ctx, scorer, pairs, f"defaults {name}: dev")
            run = stored_run(ctx.store, scorer, pairs)
            per_query[name] = evaluate(ctx.qrels("dev"), run, ["ndcg@10"]).per_query["ndcg@10"]
            entry = out.setdefault(name, {})
            entry.update(
                {
                    "change": change,
                    "synthetic_queries": size,
                    "dev_ndcg@10": ndcg10(ctx.qrels("dev"), run),
                    "train": {**entry.get("train", {}), **sizes},
                    "training": training_record(folder),
                }
            )
            entry.setdefault("provenance", provenance())
            log(f"  dev {entry['dev_ndcg@10']:.4f}")
            save_report(report)
        # each default against its alternative, paired on the dev queries
        for shipped, other in DEFAULT_PAIRS:
            if shipped in per_query and other in per_query:
                test = paired_test(per_query[shipped], per_query[other]).to_dict()
                out[shipped]["paired_t_test"] = {"vs": other, **test}
        save_report(report)
    finally:
        ctx.close()


#: recipes tried beside DistillConfig's default at the selected curve point: (name, change).
#: "no-human": teacher margins on the synthetic queries only, no human judgments of the
#: training queries (do those teach the student which documents tend to be relevant?)
VARIANTS = (("no-human", {"human": False}),)


def part_variants(dconfig: Any, report: dict[str, Any], out_dir: Path) -> None:
    """Each recipe of ``VARIANTS`` at the selected size: the student and its student system,
    scored on dev and (once per recipe) on test and its unseen subset, written under
    ``out_dir/variants/<name>/models``. The headline stays the default recipe's."""
    from aptrank.cli._common import progress_bars
    from aptrank.train.distill import distill

    out = report.setdefault("variants", {})
    size = report["selected_student"]["size"]
    for name, change in VARIANTS:
        config = replace(dconfig, sizes=(size,), **change)
        log(f"variants: {name} ({change}) at {size} synthetic queries")
        models_dir = out_dir / "variants" / name / "models"
        with progress_bars(sys.stderr.isatty()) as bars:
            result = distill(config, progress=bars, models_dir=models_dir)
        student = result["students"][str(size)]
        system = result["student_system"] or {}
        entry = out.setdefault(name, {})
        entry.update(
            {
                "change": change,
                "synthetic_queries": size,
                "student": {
                    "pipeline": os.path.relpath(result["models"][f"student-{size}"]),
                    "dev_ndcg@10": student["dev_ndcg10"],
                    "ndcg@10": student["test_ndcg10"],
                    "unseen_ndcg@10": system.get("student", {}).get("unseen_ndcg@10"),
                },
                "train": student["train"],
                "training": training_record(Path(student["folder"])),
                **{
                    k: {
                        **{m: v for m, v in system[k].items() if m != "weights"},
                        "pipeline": os.path.relpath(system[k]["pipeline"]),
                    }
                    for k in ("student_system", "without_student")
                    if k in system
                },
                "paired_t_test": system.get("paired_t_test"),
            }
        )
        entry.setdefault("provenance", provenance())
        save_report(report)


def evaluate_in_new_process(dataset: str, pipelines: Sequence[str], out: Path) -> dict[str, float]:
    """``aptrank evaluate`` on each pipeline in a fresh process: test NDCG@10 per pipeline."""
    cmd = [sys.executable, "-m", "aptrank", "evaluate", dataset, "--metric", "ndcg@10"]
    for p in pipelines:
        cmd += ["--pipeline", p]
    subprocess.run([*cmd, "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    metrics = json.loads((out / "metrics.json").read_text())
    return {p: metrics[p]["ndcg@10"] for p in pipelines}


def part_system(ctx: Any, report: dict[str, Any], models_dir: Path, dataset: str) -> None:
    """The student system (``aptrank.train.distill.student_system``) against the teacher and the
    same fusion without the student, with the student alone beside them; the written artifacts
    re-evaluated by ``aptrank evaluate`` in a new process; the headline."""
    from aptrank.evaluate.metrics import evaluate
    from aptrank.evaluate.significance import paired_test
    from aptrank.teach.workflow import build_teacher, stored_run
    from aptrank.train.distill import mean_over, student_system

    chosen = report["chosen_teacher"]["spec"]
    selected = report["selected_student"]
    log("system: the student system and the fusion without the student")
    out = student_system(ctx, chosen, selected["folder"], models_dir)
    per_query = out.pop("per_query")
    pairs = ctx.pairs(ctx.first_stage("test"), ctx.queries("test"))
    unseen = out.pop("unseen_ids")
    student = report["students"][str(selected["size"])]
    run = stored_run(ctx.store, build_teacher(chosen, ctx), pairs)
    per_query["teacher"] = evaluate(ctx.test.qrels, run, ["ndcg@10"]).per_query["ndcg@10"]
    out["teacher"] = {
        "spec": chosen,
        "ndcg@10": mean_over(per_query["teacher"], list(per_query["teacher"])),
        "unseen_ndcg@10": mean_over(per_query["teacher"], unseen),
    }
    out["student"]["pipeline"] = student["model"]
    for name in ("student", "student_system", "without_student"):  # as a user types them
        out[name]["pipeline"] = os.path.relpath(out[name]["pipeline"])
    out["paired_t_test_vs_teacher"] = {
        "vs": "teacher",
        **paired_test(per_query["student_system"], per_query["teacher"]).to_dict(),
    }
    # the written artifacts, evaluated by the CLI in a new process (the same figures expected)
    names = ("student", "student_system", "without_student")
    log("system: aptrank evaluate on the written artifacts, in a new process")
    start = time.perf_counter()
    cli = evaluate_in_new_process(
        dataset, [out[n]["pipeline"] for n in names], models_dir.parent / "evaluate"
    )
    out["cli_evaluate"] = {
        out[n]["pipeline"]: {
            "ndcg@10": cli[out[n]["pipeline"]],
            "recorded": out[n]["ndcg@10"],
            "abs_diff": abs(cli[out[n]["pipeline"]] - out[n]["ndcg@10"]),
        }
        for n in names
    }
    out["cli_evaluate_seconds"] = round(time.perf_counter() - start, 1)
    out["provenance"] = provenance()
    report["system"] = out
    report["headline"] = headline(report)
    save_report(report)


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The block a script reads: test NDCG@10 of teacher, student, student system and the
    fusion without the student, the p-value, the speedup and the unseen subset."""
    system = report["system"]
    teachers = report["teachers"]
    chosen = report["chosen_teacher"]["spec"]
    selected = report["students"][str(report["selected_student"]["size"])]
    trained_on = {
        "device": selected["training"].get("device"),
        "precision": selected["training"].get("precision"),
        **selected["provenance"]["machine"],
    }
    speedup = report.get("throughput", {}).get("speedup")
    sys_ndcg = system["student_system"]["ndcg@10"]
    teacher_ndcg = teachers[chosen]["ndcg@10"]
    out = {
        "dataset": Path(report["config"]["dataset"]).name,
        "split": "test",
        "teacher": {"spec": chosen, "ndcg@10": teacher_ndcg},
        "student": {
            "pipeline": system["student"]["pipeline"],
            "ndcg@10": system["student"]["ndcg@10"],
            "machine": trained_on,
            "gap_to_teacher": system["student"]["ndcg@10"] - teacher_ndcg,
        },
        "student_system": {
            "pipeline": system["student_system"]["pipeline"],
            "ndcg@10": sys_ndcg,
            "machine": trained_on,
        },
        "without_student": {
            "pipeline": system["without_student"]["pipeline"],
            "ndcg@10": system["without_student"]["ndcg@10"],
        },
        "p_value": system["paired_t_test"]["p_value"],
        "speedup": speedup,
        "unseen": {
            "queries": system["unseen_queries"],
            **{
                k: system[k]["unseen_ndcg@10"]
                for k in ("teacher", "student", "student_system", "without_student")
            },
        },
    }
    unseen = out["unseen"]
    without = out["without_student"]["ndcg@10"]
    # each goal: whether it is met, and the figures it was measured by (what a miss cites)
    checks = {
        f"teacher >= {PREVIOUS_TEACHER}": (
            teacher_ndcg >= PREVIOUS_TEACHER,
            {"teacher": teacher_ndcg},
        ),
        "student_system >= teacher": (
            sys_ndcg >= teacher_ndcg,
            {"student_system": sys_ndcg, "teacher": teacher_ndcg},
        ),
        "student_system >= 0.75": (sys_ndcg >= 0.75, {"student_system": sys_ndcg}),
        "p < 0.05 vs without_student": (
            out["p_value"] < 0.05 and sys_ndcg > without,
            {"p_value": out["p_value"], "student_system": sys_ndcg, "without_student": without},
        ),
        "speedup >= 5": (speedup is not None and speedup >= 5, {"speedup": speedup}),
        "unseen: student_system >= teacher": (
            unseen["queries"] > 0 and unseen["student_system"] >= unseen["teacher"],
            {k: unseen[k] for k in ("student_system", "teacher", "without_student")},
        ),
    }
    out["goals"] = {goal: met for goal, (met, _) in checks.items()}
    out["missed"] = {goal: figures for goal, (met, figures) in checks.items() if not met}
    return out


def _time_scorer(teacher: Any, pairs: list[tuple[str, str]], batch: int) -> float:
    teacher.score(pairs[:batch])  # warm up: load the model, first allocations
    start = time.perf_counter()
    for i in range(0, len(pairs), batch):
        teacher.score(pairs[i : i + batch])
    return len(pairs) / (time.perf_counter() - start)


def part_throughput(ctx: Any, report: dict[str, Any], n_pairs: int, batch: int) -> None:
    """pairs/s on the same test pairs, same max length and batch size, one scorer at a time.

    Ranker teachers score with their indexes built (BM25 statistics, cached document
    embeddings), which is how they label. The speedup compares the selected student with the
    teacher's model members on the same backend (torch fp32, as the student ships).
    """
    from aptrank.teach.teachers.cross_encoder import CrossEncoderTeacher, CrossEncoderTeacherConfig
    from aptrank.teach.workflow import build_teacher, split_members

    first = ctx.first_stage("test")
    all_pairs = ctx.pairs(first, ctx.queries("test"))
    sample = random.Random(0).sample(all_pairs, n_pairs)
    texts = [(qt, dt) for _, qt, _, dt in sample]
    out = report["throughput"] = {
        "pairs": n_pairs,
        "batch_size": batch,
        "max_length": ctx.config.max_length,
        "load_before": os.getloadavg()[0],
        "pairs_per_s": {},
    }
    pps: dict[str, float] = out["pairs_per_s"]

    def torch_ce(folder: str) -> Any:
        config = CrossEncoderTeacherConfig(
            folder, max_length=ctx.config.max_length, batch_size=batch
        )
        return CrossEncoderTeacher(config)

    def measure(name: str, scorer: Any, pairs: list[tuple[str, str]]) -> None:
        pps[name] = round(_time_scorer(scorer, pairs, batch), 3)
        log(f"throughput {name}: {pps[name]:.2f} pairs/s")
        save_report(report)

    for spec in report.get("teachers", {}):
        measure(spec, build_teacher(spec, ctx), texts)
    chosen = report["chosen_teacher"]["spec"]
    inner = (
        split_members(chosen[len("ensemble(") : -1]) if chosen.startswith("ensemble(") else [chosen]
    )
    model_members = [f"{m} as torch fp32" for m in inner if m.startswith(("trained:", "ce:"))]
    for spec in inner:
        if spec.startswith(("trained:", "ce:")):
            measure(f"{spec} as torch fp32", torch_ce(build_teacher(spec, ctx).cfg.model), texts)
    selected = str(report["selected_student"]["size"])
    measure("student (torch fp32)", torch_ce(report["students"][selected]["folder"]), texts)
    for spec in JUDGES:  # ~1-5 s per pair on 2 cores: a smaller sample
        measure(spec, build_teacher(spec, ctx), texts[: 2 * batch])
    if model_members:
        # the teacher's model members each score every pair: their times add up
        out["model_members"] = model_members
        out["speedup"] = round(
            pps["student (torch fp32)"] * sum(1 / pps[m] for m in model_members), 2
        )
    out["load_after"] = os.getloadavg()[0]
    out["provenance"] = provenance()
    if "headline" in report:
        report["headline"] = headline(report)
    save_report(report)


def plot(report: dict[str, Any]) -> None:
    import base64

    from aptrank.report.plots import scaling_curve

    students = report["students"]
    sizes = sorted(int(s) for s in students)
    refs = {}
    chosen = report.get("chosen_teacher", {}).get("spec")
    teachers = report.get("teachers", {})
    if chosen in teachers and teachers[chosen].get("ndcg@10") is not None:
        refs["teacher"] = teachers[chosen]["ndcg@10"]
    if "ranker:bm25" in teachers and teachers["ranker:bm25"].get("ndcg@10") is not None:
        refs["BM25"] = teachers["ranker:bm25"]["ndcg@10"]
    system = report.get("system", {})
    if "student_system" in system:
        refs["student system"] = system["student_system"]["ndcg@10"]
        refs["without the student"] = system["without_student"]["ndcg@10"]
    series: dict[str, Any] = {
        "student, test": [students[str(s)]["ndcg@10"] for s in sizes],
        "student, dev": [students[str(s)]["dev_ndcg@10"] for s in sizes],
    }
    uri = scaling_curve(sizes, series, refs)
    (RESULTS / f"{NAME}.png").write_bytes(base64.b64decode(uri.split(",", 1)[1]))


def fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))


def to_markdown(report: dict[str, Any]) -> str:
    cfg = report.get("config", {})
    lines = [
        f"# Distillation benchmark, SciFact ({report.get('updated')})",
        "",
        f"Rerank BM25 top-{cfg.get('depth')} at max length {cfg.get('max_length')}; dev slice "
        f"of {cfg.get('dev_size')} training queries (seed {cfg.get('seed')}) for every choice. "
        "Each part's command, machine, versions and time are in distill.json (`provenance`).",
        "",
    ]
    head = report.get("headline")
    if head:
        lines += [
            "## Headline (SciFact test, NDCG@10)",
            "",
            f"| ranker | pipeline | NDCG@10 | unseen ({head['unseen']['queries']} queries) |",
            "|:---|:---|---:|---:|",
            f"| teacher | `{head['teacher']['spec']}` | {fmt(head['teacher']['ndcg@10'])} | "
            f"{fmt(head['unseen']['teacher'])} |",
        ]
        for k in ("student", "student_system", "without_student"):
            lines.append(
                f"| {k.replace('_', ' ')} | `{head[k]['pipeline']}` | {fmt(head[k]['ndcg@10'])} | "
                f"{fmt(head['unseen'][k])} |"
            )
        m = head["student"]["machine"]
        lines += [
            "",
            f"Student trained on {m.get('cpu')} ({m.get('cpus_available')} CPUs, "
            f"{m.get('device')}, {m.get('precision')}). Student system vs without the student: "
            f"paired t-test p = {head['p_value']:.2g}. Speedup of the student over the "
            f"teacher's model members (torch fp32, same pairs, max length and batch): "
            f"{head['speedup']}x.",
            "",
            "Goals: "
            + ", ".join(f"{k}: {'met' if v else 'missed'}" for k, v in head["goals"].items()),
            "",
        ]
        for goal, figures in head.get("missed", {}).items():
            lines.append(
                f"- missed, {goal}: " + ", ".join(f"{k} {fmt(v)}" for k, v in figures.items())
            )
        if head.get("missed"):
            lines += [
                "",
                f"Tried: {len(report.get('teachers', {}))} teachers (below, chosen on dev), "
                f"{len(report.get('students', {}))} student curve point(s) with DistillConfig's "
                f"recipe, {len(report.get('defaults', {}))} dev runs behind its defaults and "
                f"{len(report.get('variants', {}))} other recipe(s) (below).",
                "",
            ]
    lines += [
        "## Teachers",
        "",
        "| teacher | dev NDCG@10 | dev (cross-fit) | test NDCG@10 | pairs/s |",
        "|:---|---:|---:|---:|---:|",
    ]
    pps = report.get("throughput", {}).get("pairs_per_s", {})
    for spec, t in report.get("teachers", {}).items():
        lines.append(
            f"| {spec} | {fmt(t.get('dev_ndcg@10'))} | {fmt(t.get('dev_crossfit_ndcg@10'))} | "
            f"{'dev only' if t.get('dev_only') else fmt(t.get('ndcg@10'))} | "
            f"{fmt(pps.get(spec))} |"
        )
    lines.append("")
    if "chosen_teacher" in report:
        lines += [f"Chosen teacher: `{report['chosen_teacher']['spec']}` (by dev).", ""]
    judges = report.get("judges")
    if judges:
        lines += [
            f"## LLM judges (dev subset: {len(judges['queries'])} queries x BM25 top-"
            f"{judges['depth']} = {judges['pairs']} pairs)",
            "",
            "| judge | NDCG@10 on the subset | pairs/s |",
            "|:---|---:|---:|",
            f"| BM25 (first stage) | {fmt(judges['first_stage_ndcg@10'])} | |",
        ]
        for spec, j in judges.items():
            if isinstance(j, dict) and "ndcg@10" in j:
                lines.append(f"| {spec} | {fmt(j['ndcg@10'])} | {fmt(pps.get(spec))} |")
        lines.append("")
    if report.get("students"):
        lines += [
            "## Students (all-MiniLM-L6-v2 cross-encoder, DistillConfig's recipe)",
            "",
            "| synthetic queries | human pairs | margin triples | steps | train min | device "
            "| dev NDCG@10 | test NDCG@10 |",
            "|---:|---:|---:|---:|---:|:---|---:|---:|",
        ]
        for size, s in sorted(report["students"].items(), key=lambda kv: int(kv[0])):
            tr, rec = s.get("train", {}), s.get("training", {})
            wall = rec.get("wall_s")
            resumed = rec.get("resumed_from")
            lines.append(
                f"| {size} | {tr.get('human_pairs', '')} | {tr.get('margin_triples', '')} | "
                f"{rec.get('global_step', '')} | {fmt(wall / 60 if wall else None)}"
                f"{f' (from step {resumed})' if resumed else ''} | "
                f"{rec.get('device', '')} {rec.get('precision', '')} | "
                f"{fmt(s['dev_ndcg@10'])} | {fmt(s['ndcg@10'])} |"
            )
        sel = report.get("selected_student", {})
        lines += ["", f"Selected on dev: {sel.get('size')} synthetic queries.", ""]
    defaults = report.get("defaults")
    if defaults:
        lines += [
            "## Runs behind DistillConfig's defaults (dev slice only)",
            "",
            "| run | synthetic queries | change | dev NDCG@10 | paired t-test |",
            "|:---|---:|:---|---:|:---|",
        ]
        for name, d in defaults.items():
            t = d.get("paired_t_test")
            versus = f"vs {t['vs']}: {t['mean_delta']:+.4f}, p = {t['p_value']:.2g}" if t else ""
            lines.append(
                f"| {name} | {d['synthetic_queries']} | {d['change']} | {fmt(d['dev_ndcg@10'])} "
                f"| {versus} |"
            )
        lines.append("")
    variants = report.get("variants")
    if variants:
        lines += [
            "## Recipes tried beside the default (test scored once per recipe)",
            "",
            "| recipe | change | student dev | student test | student unseen | system dev "
            "(cross-fit) | system test | system unseen | vs without the student |",
            "|:---|:---|---:|---:|---:|---:|---:|---:|:---|",
        ]
        for name, v in variants.items():
            st, sy, t = v["student"], v.get("student_system", {}), v.get("paired_t_test") or {}
            lines.append(
                f"| {name} | {v['change']} | {fmt(st['dev_ndcg@10'])} | {fmt(st['ndcg@10'])} | "
                f"{fmt(st['unseen_ndcg@10'])} | {fmt(sy.get('dev_crossfit_ndcg@10'))} | "
                f"{fmt(sy.get('ndcg@10'))} | {fmt(sy.get('unseen_ndcg@10'))} | "
                + (f"{t['mean_delta']:+.4f}, p = {t['p_value']:.2g}" if t else "")
                + " |"
            )
        lines.append("")
    system = report.get("system", {})
    if "cli_evaluate" in system:
        lines += [
            "## The written artifacts, `aptrank evaluate` in a new process",
            "",
            "| pipeline | NDCG@10 | recorded | abs diff |",
            "|:---|---:|---:|---:|",
        ]
        for p, e in system["cli_evaluate"].items():
            lines.append(
                f"| `{p}` | {fmt(e['ndcg@10'])} | {fmt(e['recorded'])} | {e['abs_diff']:.1e} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def preflight(parts: Sequence[str], base: Any) -> None:
    """Fail now, not after hours of teacher work, when a model a later part needs is missing."""
    from aptrank.errors import AptrankError
    from aptrank.rankers.llm import resolve_llm

    needed = [base.generator] if "teach" in parts else []
    needed += [j.split(":", 1)[1] for j in JUDGES] if "judges" in parts else []
    try:
        for name in needed:
            resolve_llm(name)
    except AptrankError as e:
        raise SystemExit(f"error: {e} (`make models` installs the packaged ones)") from None


def main() -> None:
    global NAME
    from aptrank.train.distill import DistillConfig

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--trained", default=TRAINED, help="the trained member of the teachers")
    parser.add_argument("--teachers", nargs="+", default=None, help="default: teachers(--trained)")
    parser.add_argument(
        "--dev-only", nargs="*", default=[], help="teachers not scored on test unless chosen"
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[200])
    parser.add_argument("--synthetic-docs", type=int, default=800)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=float, default=None, help="default: DistillConfig's")
    parser.add_argument("--per-query", type=int, default=None, help="default: DistillConfig's")
    parser.add_argument("--dev-size", type=int, default=100)
    parser.add_argument("--judge-queries", type=int, default=12)
    parser.add_argument("--judge-depth", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=160, help="pairs timed per scorer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/distill"), help="models/ go here")
    parser.add_argument("--name", default="distill", help="results file stem under results/")
    args = parser.parse_args()
    NAME = args.name
    for var, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(var, value)
    from aptrank.teach.workflow import TeachConfig, TeachContext, TeacherTraining

    dataset = str(DATA / args.dataset) if (DATA / args.dataset).exists() else args.dataset
    models_dir = args.out.resolve() / "models"
    base = TeachConfig(
        dataset=dataset,
        dev_size=args.dev_size,
        seed=args.seed,
        depth=args.depth,
        max_length=args.max_length,
        batch_size=args.batch_size,
        synthetic_docs=args.synthetic_docs,
        training=TeacherTraining(max_length=args.max_length),
    )
    preflight(args.parts, base)
    report = load_report()
    report["config"] = {**report.get("config", {}), **asdict(base)}
    ctx = TeachContext(base)
    try:
        report["dev_queries"] = ctx.dev_ids
        if "teachers" in args.parts:
            part_teachers(ctx, report, args.teachers or teachers(args.trained), args.dev_only)
        if "judges" in args.parts:
            part_judges(ctx, report, args.judge_queries, args.judge_depth)
    finally:
        ctx.close()
    chosen = report.get("chosen_teacher", {}).get("spec")
    if chosen is None and set(args.parts) - {"teachers", "judges"}:
        raise SystemExit("run the 'teachers' part first: it chooses the teacher")
    teach_cfg = replace(base, teacher=chosen or base.teacher, label_eval=False)
    recipe = {
        k: v for k, v in (("epochs", args.epochs), ("per_query", args.per_query)) if v is not None
    }
    dconfig = DistillConfig(
        teach=teach_cfg,
        sizes=tuple(args.sizes),
        max_length=args.max_length,
        batch_size=args.batch_size,
        seed=args.seed,
        **recipe,
    )
    report["config"] = {**asdict(base), "teacher": teach_cfg.teacher, "distill": asdict(dconfig)}
    if "teach" in args.parts:
        part_teach(teach_cfg, report)
    if "students" in args.parts:
        part_students(dconfig, report, models_dir)
    if "defaults" in args.parts:
        part_defaults(dconfig, report)
    if "variants" in args.parts:
        part_variants(dconfig, report, args.out.resolve())
    if {"system", "throughput"} & set(args.parts):
        ctx = TeachContext(teach_cfg)
        try:
            if "system" in args.parts:
                part_system(ctx, report, models_dir, dataset)
            if "throughput" in args.parts:
                part_throughput(ctx, report, args.pairs, args.batch_size)
        finally:
            ctx.close()
    if "system" in report:  # the headline follows every part it reads (students, throughput)
        report["headline"] = headline(report)
    save_report(report)


if __name__ == "__main__":
    main()
