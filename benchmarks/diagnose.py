"""Diagnosis benchmark: every section for each ranker on SciFact (test) and NegConstraint, the
time a diagnosis takes once embeddings are cached, and a screenshot of each report.html rendered
by headless Chromium.

    python benchmarks/diagnose.py [--datasets scifact negconstraint] [--rankers bm25 dense ...]

Defaults: BM25, all-MiniLM-L6-v2 (``dense``) and all-mpnet-base-v2 with max length 256. Corpus
embeddings are computed first (cached, resumable: rerun after an interruption and encoding goes
on where it stopped; mpnet takes tens of minutes per corpus on 2 cores), then the diagnosis is
timed with every embedding cached. Writes

* ``benchmarks/results/diagnose.json``: ``{"datasets": {dataset: {"rankers": {ranker: figures}},
  "timing": ..., "reference": ...}}`` (per-query detail left out; merged with an earlier file, so
  rankers can be run one at a time);
* ``benchmarks/results/diagnose.md``: the figures side by side, with the reference check;
* ``benchmarks/results/diagnose-<dataset>.png``: the report as Chromium renders it;
* the full diagnosis folders (JSON with every per-query figure, markdown, report.html) under
  ``runs/diagnose-bench/<dataset>/``.

Not part of the test suite; the figures are wall-clock times on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DATA = Path(os.environ.get("APTRANK_BENCH_DATA", Path(__file__).parents[2] / "shared" / "data"))
RANKERS = ("bm25", "dense", "dense:all-mpnet-base-v2[max_length=256]")
#: Independent figures from ../shared/data/README.md: share of NegConstraint queries whose
#: satisfier (grade 2) ranks above the violator (grade 0).
REFERENCE = {"negconstraint": {"bm25": 0.361, "dense": 0.404}}
CHROMIUM_FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
    "--disable-background-networking --disable-component-update --disable-sync"
).split()
DETAIL = ("per_query", "instances", "histogram")


def compact(figures: Any) -> Any:
    """A ranker's figures without the per-query detail (that stays in the run folder)."""
    if isinstance(figures, dict):
        return {k: compact(v) for k, v in figures.items() if k not in DETAIL}
    if isinstance(figures, list):
        return [compact(v) for v in figures]
    return figures


def query_fields(ds: Any) -> tuple[str, ...]:
    """Query metadata fields worth stratifying by: on every query, 2 to 12 distinct values."""
    fields: dict[str, set[str]] = {}
    for q in ds.queries.values():
        for k, v in q.meta.items():
            if k not in ("_id", "text") and isinstance(v, (str, int)):
                fields.setdefault(k, set()).add(str(v))
    return tuple(
        k
        for k, vals in fields.items()
        if 2 <= len(vals) <= 12 and all(k in q.meta for q in ds.queries.values())
    )


def warm_up(specs: list[str], ds: Any) -> dict[str, float]:
    """Index every ranker once (encodes and caches what is missing); seconds per ranker."""
    from aptrank.cli._common import progress_bars
    from aptrank.experiment import walk
    from aptrank.rankers import build_ranker

    seconds = {}
    with progress_bars(True) as bars:
        for spec in specs:
            ranker = build_ranker(spec)
            for stage in walk(ranker):
                if hasattr(stage, "progress"):
                    stage.progress = bars(f"{ds.name} {stage.name}: encoding corpus")
            start = time.perf_counter()
            ranker.index(ds.corpus)
            seconds[spec] = round(time.perf_counter() - start, 2)
            print(f"{ds.name}: {spec} indexed in {seconds[spec]:.1f} s", flush=True)
    return seconds


def screenshot(page: Path, png: Path) -> str | None:
    """Render ``page`` with headless Chromium into ``png``; returns an error line or None."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return "chromium not found: apt-get install -y chromium"
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1200,3000",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not png.exists():
        return f"chromium exited {done.returncode}: {done.stderr.strip()[-300:]}"
    return None


def run_dataset(name: str, specs: list[str], out_root: Path, shots: bool) -> dict[str, Any]:
    from aptrank.data import load_dataset
    from aptrank.diagnose import DiagnoseConfig, diagnose
    from aptrank.rankers import build_ranker
    from aptrank.report.diagnosis import write_diagnosis

    path = DATA / name if (DATA / name).exists() else name
    ds = load_dataset(path, "test")
    index_s = warm_up(specs, ds)
    config = DiagnoseConfig(
        dataset=str(path), split="test", rankers=tuple(specs), query_fields=query_fields(ds)
    )
    rankers = {spec: build_ranker(spec) for spec in specs}
    start = time.perf_counter()
    diagnosis = diagnose(ds, rankers, config)
    total = time.perf_counter() - start
    print(f"{name}: diagnosis of {len(specs)} ranker(s), corpus embeddings cached: {total:.1f} s")
    # Again in fresh rankers (models loaded again): now the query embeddings (the queries and
    # their perturbed variants) come from the query cache too, as in any later diagnosis.
    rankers = {spec: build_ranker(spec) for spec in specs}
    start = time.perf_counter()
    diagnosis = diagnose(ds, rankers, config)
    warm = time.perf_counter() - start
    print(f"{name}: again, query embeddings cached too: {warm:.1f} s")
    folder = out_root / name
    write_diagnosis(diagnosis, folder, {"dataset_path": ds.path})
    data = diagnosis.to_dict()
    result: dict[str, Any] = {
        # per-query detail (each query's parsed constraints) stays in the diagnosis folder
        "meta": {k: v for k, v in data["_meta"].items() if k not in ("config", "constraints")},
        "config": data["_meta"]["config"],
        "rankers": {spec: compact(data[spec]) for spec in specs},
        "timing": {
            "index_s": index_s,
            "diagnose_cached_s": round(total, 2),
            "diagnose_warm_s": round(warm, 2),
            "per_ranker_s": {s: r.seconds for s, r in diagnosis.rankers.items()},
        },
        "run_folder": str(folder),
    }
    if shots:
        png = RESULTS / f"diagnose-{name}.png"
        error = screenshot(folder / "report.html", png)
        result["screenshot"] = error or str(png.relative_to(RESULTS.parent.parent))
        print(f"{name}: screenshot {'failed: ' + error if error else png}")
    return result


def reference_check(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """The constraint-pair accuracy against the independent README figures (0.1 % rounding)."""
    out = {}
    for spec, expected in REFERENCE.get(name, {}).items():
        got = result["rankers"].get(spec, {}).get("constraint_pairs", {}).get("accuracy")
        if got is not None:
            out[spec] = {"expected": expected, "got": got, "agrees": round(got, 3) == expected}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["scifact", "negconstraint"])
    parser.add_argument("--rankers", nargs="+", default=list(RANKERS))
    parser.add_argument("--runs", type=Path, default=Path("runs/diagnose-bench"))
    parser.add_argument("--no-screenshot", action="store_true")
    parser.add_argument(
        "--encode-only",
        action="store_true",
        help="only compute and cache corpus embeddings (a resumable background job), then stop",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from aptrank.experiment import package_versions

    if args.encode_only:
        from aptrank.data import load_dataset

        for name in args.datasets:
            ds = load_dataset(DATA / name if (DATA / name).exists() else name, "test")
            print(f"{name}: indexed in {warm_up(args.rankers, ds)} s")
        return
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / "diagnose.json"
    report = json.loads(target.read_text()) if target.exists() else {"datasets": {}}
    for name in args.datasets:
        result = run_dataset(name, args.rankers, args.runs, not args.no_screenshot)
        old = report["datasets"].get(name, {})
        merged_rankers = {**old.get("rankers", {}), **result["rankers"]}
        timings = {**old.get("timings", {}), ",".join(args.rankers): result.pop("timing")}
        report["datasets"][name] = {**result, "rankers": merged_rankers, "timings": timings}
        report["datasets"][name]["reference"] = reference_check(name, report["datasets"][name])
    report.update(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=package_versions(),
        cpus=len(os.sched_getaffinity(0)),
        command=" ".join(sys.argv),
    )
    target.write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "diagnose.md").write_text(to_markdown(report))
    print(f"saved {target} and {RESULTS / 'diagnose.md'}")


def to_markdown(report: dict[str, Any]) -> str:
    from aptrank.diagnose.summary import SUMMARY_ROWS, fmt, get, pct

    lines = [f"# Diagnosis benchmark ({report['cpus']} CPUs, {report['created']})", ""]
    for name, d in report["datasets"].items():
        names = list(d["rankers"])
        meta = d["meta"]
        lines += [
            f"## {name}",
            "",
            f"{meta['n_docs']:,} documents, {meta['n_queries']:,} judged queries "
            f"({meta['n_with_wrong']:,} with a grade-0 item, {meta['n_without_relevant']:,} "
            "without a relevant one); top 100; 95 % bootstrap CIs over queries.",
            "",
            "| figure | " + " | ".join(names) + " |",
            "|:---" + "|---:" * len(names) + "|",
        ]
        rows = [("ndcg@10", "strata.overall", fmt), *SUMMARY_ROWS]
        for label, path, f in rows:
            lines.append(
                f"| {label} | " + " | ".join(f(get(d["rankers"][n], path)) for n in names) + " |"
            )
        lines.append("")
        for spec, check in d.get("reference", {}).items():
            verdict = "agrees" if check["agrees"] else "DISAGREES"
            lines.append(
                f"- constraint pairs, {spec}: {pct(check['got'])} vs {pct(check['expected'])} in "
                f"../shared/data/README.md: {verdict}"
            )
        skipped = {f"{n}: {s}": why for n in names for s, why in d["rankers"][n]["skipped"].items()}
        lines += [f"- skipped {k}: {why}" for k, why in skipped.items()]
        for rankers, t in d.get("timings", {}).items():
            index = ", ".join(f"{k} {v:.1f} s" for k, v in t["index_s"].items())
            each = ", ".join(f"{k} {v['total']:.1f} s" for k, v in t["per_ranker_s"].items())
            again = t.get("diagnose_warm_s")
            lines.append(
                f"- diagnosis of {rankers}, corpus embeddings cached: "
                f"{t['diagnose_cached_s']:.1f} s; again with the query embeddings cached too: "
                + (f"{again:.1f} s" if again is not None else "not measured")
                + f" ({each}; index/encode beforehand: {index})"
            )
        if d.get("screenshot"):
            lines.append(f"- report screenshot: `{d['screenshot']}`")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
