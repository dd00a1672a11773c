"""Distillation benchmark on SciFact: every teacher tried, the student scaling curve, throughput.

    python benchmarks/distill.py [--parts teachers judges teach students throughput]
        [--sizes 0 50 100 200] [--synthetic-docs 800] [--depth 30] [--max-length 256]

CPU configuration (the default): every ranker reranks BM25's top ``--depth`` (30) with max length
256; the dev slice is 100 training queries (seed 0) and every choice is made on it:

* ``teachers``: each teacher of ``TEACHERS`` reranks the dev slice and the test split (labels
  stored once in the label store; an ensemble's dev figure is cross-fitted); the teacher with the
  best dev NDCG@10 teaches (the LLM judges are measured separately, they are too slow for this).
* ``judges``: the packaged LLM judges (SmolLM2-135M, Qwen2.5-Coder-0.5B) on a subset of the dev
  slice (``--judge-queries`` queries x BM25 top ``--judge-depth``), against BM25 and the chosen
  teacher on the same pairs.
* ``teach``: synthetic queries from ``--synthetic-docs`` random corpus documents (SmolLM2),
  candidates mined from BM25 + MiniLM top-10, labeled by the chosen teacher.
* ``students``: one MiniLM cross-encoder student per curve point (``--sizes`` synthetic queries;
  0 = the human training judgments only), scored on dev (selection) and test (reported).
* ``throughput``: pairs/s of each teacher and of the student on the same ``--pairs`` test pairs,
  same max length and batch size, one after another in this process (run it on an idle machine).
* ``gpu-students``: adds the student recipe sweep and curve that ran on a lent GPU (the as-run log
  ``--gpu-log``, same code, data, teacher labels and fp32 precision; see its folder's README).

The students here train on the CPU budget's recipe (``--epochs 1 --per-query 6``: ~25 min per
curve point on 2 cores). ``DistillConfig``'s default recipe (3 epochs, 12 triples per synthetic
query) was chosen on the dev slice by the GPU sweep; here it would take ~1.5 h per point.

Every part is cached and resumable (labels in the label store, trained models in the cache):
kill it and run it again. Writes ``benchmarks/results/distill.json`` (merged across parts),
``distill.md`` and ``distill.png``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DATA = Path(os.environ.get("APTRANK_BENCH_DATA", Path(__file__).parents[2] / "shared" / "data"))
TRAINED = "trained:all-mpnet-base-v2"
MPNET_DENSE = "ranker:dense:all-mpnet-base-v2[max_length=256]"
TEACHERS = (
    "ranker:bm25",
    "ranker:dense",
    MPNET_DENSE,
    TRAINED,
    "ensemble(ranker:bm25,ranker:dense)",
    f"ensemble(ranker:bm25,ranker:dense,{MPNET_DENSE})",
    f"ensemble({TRAINED},ranker:bm25,ranker:dense)",
    f"ensemble({TRAINED},ranker:bm25,ranker:dense,{MPNET_DENSE})",
)
JUDGES = ("llm:smollm2", "llm:qwen")
PARTS = ("teachers", "judges", "teach", "students", "throughput", "gpu-students")
GPU_LOG = Path(__file__).parent / "device" / "2026-11-27b-h200" / "call2_students_sweep.json"


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


NAME = "distill"  #: results file stem; --name changes it (the GPU configuration: distill-gpu)


def load_report() -> dict[str, Any]:
    path = RESULTS / f"{NAME}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_report(report: dict[str, Any]) -> None:
    from aptrank.experiment import package_versions

    RESULTS.mkdir(exist_ok=True)
    report.update(
        updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=package_versions(),
        cpus=len(os.sched_getaffinity(0)),
    )
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
    """Where and how a trained teacher was trained (from its aptrank_train.json): its labels
    may come from another machine (``aptrank teach --import-labels``)."""
    record = json.loads((folder / "aptrank_train.json").read_text())
    keep = ("device", "precision", "global_step", "train_loss", "wall_s", "sizes", "created")
    return {"folder": folder.name, **{k: record.get(k) for k in keep}}


def part_teachers(
    ctx: Any, report: dict[str, Any], specs: list[str], dev_only: Sequence[str] = ()
) -> None:
    """Every teacher on the dev slice first (cheap figures early), then on the test split.

    ``dev_only`` teachers are not scored on test (a slow teacher the dev slice rules out: a
    12-layer cross-encoder needs ~50 min for SciFact's 9,000 test pairs on 2 cores); the chosen
    teacher always is."""
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
        report["judges"] = out
        save_report(report)


def part_teach(config: Any, report: dict[str, Any]) -> None:
    from aptrank.cli._common import progress_bars
    from aptrank.teach.workflow import teach

    with progress_bars(sys.stderr.isatty()) as bars:
        result = teach(config, progress=bars)
    report["synthetic"] = result["synthetic"]
    save_report(report)


def part_students(dconfig: Any, report: dict[str, Any]) -> None:
    from aptrank.cli._common import progress_bars
    from aptrank.train.distill import distill

    with progress_bars(sys.stderr.isatty()) as bars:
        result = distill(dconfig, progress=bars)
    students = report.setdefault("students", {})
    for size, s in result["students"].items():
        students[size] = {
            **students.get(size, {}),
            "ndcg@10": s["test_ndcg10"],
            "dev_ndcg@10": s["dev_ndcg10"],
            "train": s["train"],
            "folder": s["folder"],
        }
    report["selected_student"] = result["selected"]
    save_report(report)


def part_gpu_students(report: dict[str, Any], path: Path) -> None:
    """The GPU machine's recipe sweep and curve (its as-run log), apart from ``students``."""
    from aptrank.train.distill import select_size

    log = json.loads(path.read_text())
    report["students_gpu"] = {
        "source": os.path.relpath(path, Path(__file__).parents[1]),  # from the repo root
        "teacher": log["teacher"],
        "recipes": [
            {
                "name": r["name"],
                "change": r["change"],
                "size": r["size"],
                **r["train"],
                "dev_ndcg@10": r["dev"]["ndcg@10"],
            }
            for r in log["recipes"]
            if "dev" in r
        ],
        "chosen_recipe": log["chosen"],
        "curve": {
            str(c["size"]): {
                "ndcg@10": c["test"]["ndcg@10"],
                "dev_ndcg@10": c["dev"]["ndcg@10"],
                "train": c["train"],
            }
            for c in log["curve"]
            if "test" in c
        },
    }
    curve = report["students_gpu"]["curve"]
    best = select_size({int(s): c["dev_ndcg@10"] for s, c in curve.items()})
    report["students_gpu"]["selected"] = {"size": best, "by": "dev ndcg@10"}
    save_report(report)


def _time_scorer(teacher: Any, pairs: list[tuple[str, str]], batch: int) -> float:
    teacher.score(pairs[:batch])  # warm up: load the model, first allocations
    start = time.perf_counter()
    for i in range(0, len(pairs), batch):
        teacher.score(pairs[i : i + batch])
    return len(pairs) / (time.perf_counter() - start)


def part_throughput(ctx: Any, report: dict[str, Any], n_pairs: int, batch: int) -> None:
    """pairs/s on the same test pairs, same max length and batch size, one scorer at a time.

    Ranker teachers score with their indexes built (BM25 statistics, cached document
    embeddings), which is how they label; a cold document would also need encoding.
    """
    from aptrank.teach.teachers.cross_encoder import CrossEncoderTeacher, CrossEncoderTeacherConfig
    from aptrank.teach.workflow import build_teacher

    first = ctx.first_stage("test")
    all_pairs = ctx.pairs(first, ctx.queries("test"))
    sample = random.Random(0).sample(all_pairs, n_pairs)
    texts = [(qt, dt) for _, qt, _, dt in sample]
    out = report.setdefault("throughput", {})
    out.update(
        pairs=n_pairs,
        batch_size=batch,
        max_length=ctx.config.max_length,
        load_before=os.getloadavg()[0],
    )
    pps: dict[str, float] = out.setdefault("pairs_per_s", {})

    def measure(name: str, scorer: Any, pairs: list[tuple[str, str]], entry: dict) -> None:
        pps[name] = entry["pairs_per_s"] = round(_time_scorer(scorer, pairs, batch), 3)
        log(f"throughput {name}: {pps[name]:.2f} pairs/s")
        save_report(report)

    for spec, entry in report.get("teachers", {}).items():
        measure(spec, build_teacher(spec, ctx), texts, entry)
    for size, entry in report.get("students", {}).items():
        config = CrossEncoderTeacherConfig(
            entry["folder"], max_length=ctx.config.max_length, batch_size=batch
        )
        measure(f"student {size}", CrossEncoderTeacher(config), texts, entry)
    judges = report.setdefault("judges", {})
    for spec in JUDGES:  # ~1-5 s per pair on 2 cores: a smaller sample
        measure(spec, build_teacher(spec, ctx), texts[: 2 * batch], judges.setdefault(spec, {}))
    selected = report.get("selected_student", {}).get("size")
    if selected is not None:
        student = pps[f"student {selected}"]
        out["student_speedup"] = {
            name: round(student / value, 2)
            for name, value in pps.items()
            if not name.startswith("student") and value > 0
        }
    out["load_after"] = os.getloadavg()[0]
    save_report(report)


def plot(report: dict[str, Any]) -> None:
    import base64

    from aptrank.report.plots import scaling_curve

    students = report["students"]
    sizes = sorted(int(s) for s in students)
    refs = {}
    chosen = report.get("chosen_teacher", {}).get("spec")
    teachers = report.get("teachers", {})
    if chosen in teachers:
        refs["teacher"] = teachers[chosen]["ndcg@10"]
    if "ranker:bm25" in teachers:
        refs["BM25"] = teachers["ranker:bm25"]["ndcg@10"]
    if "ranker:dense" in teachers:
        refs["BM25>>MiniLM cosine"] = teachers["ranker:dense"]["ndcg@10"]
    series: dict[str, Any] = {
        "student (CPU recipe), test": [students[str(s)]["ndcg@10"] for s in sizes],
        "student (CPU recipe), dev": [students[str(s)]["dev_ndcg@10"] for s in sizes],
    }
    gpu = report.get("students_gpu", {}).get("curve", {})
    if gpu:
        series["student, dev-chosen recipe (GPU-trained), test"] = {
            int(s): v["ndcg@10"] for s, v in gpu.items()
        }
    uri = scaling_curve(sizes, series, refs)
    (RESULTS / f"{NAME}.png").write_bytes(base64.b64decode(uri.split(",", 1)[1]))


def fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))


def to_markdown(report: dict[str, Any]) -> str:
    cfg = report.get("config", {})
    lines = [
        f"# Distillation benchmark, SciFact ({report.get('cpus')} CPUs, {report.get('updated')})",
        "",
        f"Rerank BM25 top-{cfg.get('depth')} at max length {cfg.get('max_length')}; dev slice "
        f"of {cfg.get('dev_size')} training queries (seed {cfg.get('seed')}) for every choice.",
        "",
        "## Teachers",
        "",
        "| teacher | dev NDCG@10 | dev (cross-fit) | test NDCG@10 | pairs/s |",
        "|:---|---:|---:|---:|---:|",
    ]
    pps = report.get("throughput", {}).get("pairs_per_s", {})
    for spec, t in report.get("teachers", {}).items():
        lines.append(
            f"| {spec} | {fmt(t['dev_ndcg@10'])} | {fmt(t.get('dev_crossfit_ndcg@10'))} | "
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
            "## Students (all-MiniLM-L6-v2 cross-encoder)",
            "",
            "| synthetic queries | human pairs | margin triples | dev NDCG@10 | test NDCG@10 "
            "| pairs/s |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for size, s in sorted(report["students"].items(), key=lambda kv: int(kv[0])):
            tr = s.get("train", {})
            lines.append(
                f"| {size} | {tr.get('human_pairs', '')} | {tr.get('margin_triples', '')} | "
                f"{fmt(s['dev_ndcg@10'])} | {fmt(s['ndcg@10'])} | {fmt(s.get('pairs_per_s'))} |"
            )
        sel = report.get("selected_student", {})
        lines += ["", f"Selected on dev: {sel.get('size')} synthetic queries.", ""]
        speedup = report.get("throughput", {}).get("student_speedup", {})
        if speedup:
            lines += [
                "Selected student's throughput relative to each teacher (same pairs, max "
                "length and batch size): " + ", ".join(f"{k} {v}x" for k, v in speedup.items()),
                "",
            ]
    gpu = report.get("students_gpu")
    if gpu:
        chosen = gpu["chosen_recipe"]
        lines += [
            "## Student recipes, trained on a lent H200 (fp32, batch 16, same code and labels)",
            "",
            f"As-run log: `{gpu['source']}`. Each recipe trains the student at 200 "
            "synthetic queries and is scored on the dev slice only.",
            "",
            "| recipe | change | human pairs | margin triples | steps | dev NDCG@10 |",
            "|:---|:---|---:|---:|---:|---:|",
        ]
        for r in gpu["recipes"]:
            lines.append(
                f"| {r['name']} | {r['change'] or 'defaults of the day'} | {r['human_pairs']} | "
                f"{r['margin_triples']} | {r['global_step']} | {fmt(r['dev_ndcg@10'])} |"
            )
        lines += [
            "",
            f"Chosen on dev: {chosen['name']} ({chosen['change']}). Its curve, each point "
            "scored once on test:",
            "",
            "| synthetic queries | margin triples | steps | dev NDCG@10 | test NDCG@10 |",
            "|---:|---:|---:|---:|---:|",
        ]
        for size, c in sorted(gpu["curve"].items(), key=lambda kv: int(kv[0])):
            tr = c["train"]
            lines.append(
                f"| {size} | {tr['margin_triples']} | {tr['global_step']} | "
                f"{fmt(c['dev_ndcg@10'])} | {fmt(c['ndcg@10'])} |"
            )
        lines += ["", f"Selected on dev: {gpu['selected']['size']} synthetic queries.", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    global NAME
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--teachers", nargs="+", default=list(TEACHERS))
    parser.add_argument(
        "--dev-only", nargs="*", default=[], help="teachers not scored on test unless chosen"
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[0, 50, 100, 200])
    parser.add_argument("--synthetic-docs", type=int, default=800)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=float, default=1.0, help="student epochs (CPU budget)")
    parser.add_argument(
        "--per-query", type=int, default=6, help="margin triples per synthetic query (CPU budget)"
    )
    parser.add_argument("--gpu-log", type=Path, default=GPU_LOG, help="for the gpu-students part")
    parser.add_argument("--dev-size", type=int, default=100)
    parser.add_argument("--judge-queries", type=int, default=12)
    parser.add_argument("--judge-depth", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=160, help="pairs timed per scorer")
    parser.add_argument("--seed", type=int, default=0)
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
    from aptrank.train.distill import DistillConfig

    dataset = str(DATA / args.dataset) if (DATA / args.dataset).exists() else args.dataset
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
    report = load_report()
    report["command"] = " ".join(sys.argv)
    report["config"] = {**report.get("config", {}), **asdict(base)}
    ctx = TeachContext(base)
    try:
        report["dev_queries"] = ctx.dev_ids
        if "teachers" in args.parts:
            part_teachers(ctx, report, args.teachers, args.dev_only)
        if "judges" in args.parts:
            part_judges(ctx, report, args.judge_queries, args.judge_depth)
    finally:
        ctx.close()
    chosen = report.get("chosen_teacher", {}).get("spec")
    if chosen is None and any(p in args.parts for p in ("teach", "students")):
        raise SystemExit("run the 'teachers' part first: it chooses the teacher")
    teach_cfg = replace(base, teacher=chosen or base.teacher, label_eval=False)
    dconfig = DistillConfig(
        teach=teach_cfg,
        sizes=tuple(args.sizes),
        max_length=args.max_length,
        batch_size=args.batch_size,
        epochs=args.epochs,
        per_query=args.per_query,
        seed=args.seed,
    )
    report["config"] = {**asdict(base), "teacher": teach_cfg.teacher, "distill": asdict(dconfig)}
    if "teach" in args.parts:
        part_teach(teach_cfg, report)
    if "students" in args.parts:
        part_students(dconfig, report)
    if "throughput" in args.parts:
        ctx = TeachContext(teach_cfg)
        try:
            part_throughput(ctx, report, args.pairs, args.batch_size)
        finally:
            ctx.close()
    if "gpu-students" in args.parts:
        part_gpu_students(report, args.gpu_log)
    save_report(report)


if __name__ == "__main__":
    main()
