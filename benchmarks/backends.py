"""CPU serving backends on SciFact: torch fp32 against every other backend on the same model, the
same batches and the same padding, and what ``backend=auto`` chooses.

    python benchmarks/backends.py [--dataset scifact] [--parts encode,steady,pairs,auto]
        [--backends torch,onnx,onnx-int8,openvino,openvino-bf16] [--student FOLDER]
        [--depth 30] [--rounds 5] [--max-docs N] [--queries N]

Every input set is tokenized once with the model's tokenizer (truncated at max_length 256),
sorted by token count (longest first) and cut into batches; each backend is called once per
batch with exactly that batch, so every backend pads each batch to the same length. The
backends take turns over groups of batches (the order rotating), so that other processes on a
shared machine slow them alike; per group the speed-up over torch is recorded and its median
and best are reported beside the overall figure.

* ``encode``: all-MiniLM-L6-v2 encodes the corpus (title + text, batch 64); SciFact test NDCG@10
  and recall@100 of exact cosine search (queries encoded by the same backend), ΔNDCG@10 against
  torch, cosine of each document vector to torch's, top-10 overlap with torch.
* ``steady``: the 64 longest documents (256 tokens each), every backend in turn for
  ``--rounds`` rounds: best and median docs/s.
* ``pairs``: the distilled SciFact cross-encoder student (``--student``, default the one
  ``distill.json`` selected; see benchmarks/serve.py) reranks the BM25 top ``--depth`` of every
  test query (batch 32): pairs/s, NDCG@10 of the reranking and Δ against torch, max |score
  difference| and the per-query Kendall tau against torch.
* ``auto``: ``backend=auto``'s measurement (aptrank.rankers.backends.measure, uncached) for both
  models: each candidate's probe speed-up and probe fidelity beside its SciFact figures, and the
  candidate it chooses.

Writes benchmarks/results/backends.json and backends.md (``--out``). Not part of the test suite.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from inference import (  # noqa: E402
    backend_parser,
    backend_setup,
    candidates,
    log,
    search,
    versions,
)

RESULTS = Path(__file__).parent / "results"
MODEL = "all-MiniLM-L6-v2"
MAX_LENGTH = 256
TEXT_BATCH = 64
PAIR_BATCH = 32
GROUP = 2  # batches per turn (small: the backends alternate every few seconds)
BACKENDS = "torch,onnx,onnx-int8,openvino,openvino-bf16"


def token_batches(tokenizer: Any, items: list[Any], batch: int) -> list[list[int]]:
    """Positions of ``items`` longest first (in tokens after truncation), cut into batches."""
    lengths = [len(e.ids) for e in tokenizer.encode_batch(items)]
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch].tolist() for i in range(0, len(order), batch)]


def tokenizer_for(model: str, kind: str) -> Any:
    from tokenizers import Tokenizer

    from aptrank.rankers import onnx as ox

    tok = Tokenizer.from_file(str(ox.export_folder(model, kind, False) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_LENGTH, strategy="longest_first")
    return tok


def take_turns(
    calls: dict[str, Callable[[list], np.ndarray]], items: list, batches: list[list[int]]
) -> dict[str, Any]:
    """Every backend over every batch, taking turns per group of :data:`GROUP` batches.

    Returns the outputs in input order, seconds per backend, per-group seconds and the load
    average before each group."""
    names = list(calls)
    outputs: dict[str, Any] = {}
    seconds = {b: 0.0 for b in names}
    groups: dict[str, list[float]] = {b: [] for b in names}
    loads = []
    for g, begin in enumerate(range(0, len(batches), GROUP)):
        group = batches[begin : begin + GROUP]
        loads.append(round(os.getloadavg()[0], 2))
        for name in names[g % len(names) :] + names[: g % len(names)]:
            start = time.perf_counter()
            for idx in group:
                out = calls[name]([items[i] for i in idx])
                if name not in outputs:
                    outputs[name] = np.zeros((len(items), *out.shape[1:]), dtype=np.float32)
                outputs[name][idx] = out
            took = time.perf_counter() - start
            seconds[name] += took
            groups[name].append(took)
        done = sum(len(b) for b in batches[: begin + len(group)])
        log(f"{done}/{len(items)}: " + ", ".join(f"{b} {t:.0f}s" for b, t in seconds.items()))
    return {"outputs": outputs, "seconds": seconds, "groups": groups, "loads": loads}


def speed_figures(turns: dict[str, Any], count: int, unit: str) -> dict[str, dict[str, Any]]:
    """Throughput per backend and its speed-up over torch: overall, and the median and best of
    the per-group ratios (each group timed back to back for all backends)."""
    out: dict[str, dict[str, Any]] = {}
    for name, total in turns["seconds"].items():
        x: dict[str, Any] = {"seconds": round(total, 1), f"{unit}_per_s": round(count / total, 2)}
        if "torch" in turns["groups"]:
            ratios = [t / s for t, s in zip(turns["groups"]["torch"], turns["groups"][name])]
            x["speedup"] = round(turns["seconds"]["torch"] / total, 3)
            x["speedup_group_median"] = round(statistics.median(ratios), 3)
            x["speedup_group_best"] = round(max(ratios), 3)
        out[name] = x
    return out


def load_models(model: str, kind: str, backends: list[str]) -> dict[str, Any]:
    from aptrank.rankers import backends as bk

    loaded = {}
    for name in backends:
        start = time.perf_counter()
        loaded[name] = bk.build(model, kind, name, MAX_LENGTH)
        log(f"{kind} {name}: loaded (exported if not cached) in {time.perf_counter() - start:.0f}s")
    return loaded


def part_encode(ds: Any, doc_ids: list[str], backends: list[str]) -> dict[str, Any]:
    from aptrank.evaluate import evaluate

    texts = [ds.corpus[d].full_text for d in doc_ids]
    qids = sorted(ds.qrels)
    queries = [ds.queries[q].text for q in qids]
    models = load_models(MODEL, "encoder", backends)
    calls = {b: partial(m.encode, batch_size=TEXT_BATCH) for b, m in models.items()}
    for call in calls.values():
        call(texts[:TEXT_BATCH])  # warm-up
    batches = token_batches(tokenizer_for(MODEL, "encoder"), texts, TEXT_BATCH)
    turns = take_turns(calls, texts, batches)
    out = speed_figures(turns, len(texts), "docs")
    vectors = turns["outputs"]
    tops = {}
    for name, model in models.items():
        query_emb = model.encode(queries, batch_size=TEXT_BATCH)
        tops[name] = search(vectors[name], query_emb)
        scores = query_emb @ vectors[name].T
        run = {
            q: {doc_ids[j]: float(scores[i, j]) for j in tops[name][i]} for i, q in enumerate(qids)
        }
        metrics = evaluate(ds.qrels, run, ["ndcg@10", "recall@100"]).means
        out[name].update(
            {"ndcg@10": round(metrics["ndcg@10"], 4), "recall@100": round(metrics["recall@100"], 4)}
        )
    for name in models:
        cos = (vectors[name] * vectors["torch"]).sum(axis=1)
        overlap = [len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(tops[name], tops["torch"])]
        out[name].update(
            {
                "ndcg@10_delta": round(out[name]["ndcg@10"] - out["torch"]["ndcg@10"], 4),
                "cosine_to_torch_min": round(float(cos.min()), 5),
                "cosine_to_torch_mean": round(float(cos.mean()), 6),
                "top10_overlap_with_torch": round(float(np.mean(overlap)), 4),
            }
        )
        log(f"encode {name}: {out[name]}")
    return {"backends": out, "load_average": load_summary(turns["loads"]), "batches": len(batches)}


def load_summary(loads: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(loads)), 2), "min": min(loads), "max": max(loads)}


def part_steady(ds: Any, backends: list[str], rounds: int) -> dict[str, Any]:
    texts = sorted((d.full_text for d in ds.corpus.values()), key=len, reverse=True)[:TEXT_BATCH]
    models = load_models(MODEL, "encoder", backends)
    for m in models.values():
        m.encode(texts, batch_size=TEXT_BATCH)
    rates: dict[str, list[float]] = {b: [] for b in backends}
    loads = []
    for r in range(rounds):
        loads.append(round(os.getloadavg()[0], 2))
        for name in backends[r % len(backends) :] + backends[: r % len(backends)]:
            start = time.perf_counter()
            models[name].encode(texts, batch_size=TEXT_BATCH)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    out = {}
    for name, r in rates.items():
        out[name] = {
            "best_docs_per_s": round(max(r), 2),
            "median_docs_per_s": round(statistics.median(r), 2),
        }
        if "torch" in rates:
            ratios = [a / b for a, b in zip(r, rates["torch"])]
            out[name].update(
                best_speedup=round(max(r) / max(rates["torch"]), 3),
                median_round_speedup=round(statistics.median(ratios), 3),
            )
    log(f"steady: {out}")
    return {"backends": out, "load_average": load_summary(loads)}


def part_pairs(
    ds: Any, student: str, keys: list[tuple[str, str]], backends: list[str]
) -> dict[str, Any]:
    from scipy.stats import kendalltau

    from aptrank.evaluate import evaluate

    pairs = [(ds.queries[q].text, ds.corpus[d].full_text) for q, d in keys]
    models = load_models(student, "pair", backends)
    calls = {b: partial(m.score, batch_size=PAIR_BATCH) for b, m in models.items()}
    for call in calls.values():
        call(pairs[:PAIR_BATCH])
    batches = token_batches(tokenizer_for(student, "pair"), pairs, PAIR_BATCH)
    turns = take_turns(calls, pairs, batches)
    out = speed_figures(turns, len(pairs), "pairs")
    first: dict[str, dict[str, float]] = {}
    for q, d in keys:
        first.setdefault(q, {})[d] = float(len(keys) - len(first.get(q, {})))
    bm25 = evaluate(ds.qrels, first, ["ndcg@10"]).means["ndcg@10"]
    qids = [q for q, _ in keys]
    bounds = [i for i in range(len(qids) + 1) if i in (0, len(qids)) or qids[i] != qids[i - 1]]
    ref = turns["outputs"]["torch"]
    for name in models:
        got = turns["outputs"][name]
        run: dict[str, dict[str, float]] = {}
        for (q, d), s in zip(keys, got):
            run.setdefault(q, {})[d] = float(s)
        ndcg = evaluate(ds.qrels, run, ["ndcg@10"]).means["ndcg@10"]
        taus = [kendalltau(ref[a:b], got[a:b]).statistic for a, b in zip(bounds, bounds[1:])]
        out[name].update(
            {
                "ndcg@10": round(ndcg, 4),
                "max_abs_diff": float(f"{np.abs(got - ref).max():.3g}"),
                "kendall_tau_mean": round(float(np.nanmean(taus)), 4),
                "kendall_tau_min": round(float(np.nanmin(taus)), 4),
            }
        )
    for name in models:
        out[name]["ndcg@10_delta"] = round(out[name]["ndcg@10"] - out["torch"]["ndcg@10"], 4)
        log(f"pairs {name}: {out[name]}")
    return {
        "backends": out,
        "bm25_first_stage_ndcg@10": round(bm25, 4),
        "torch_score_std": float(f"{ref.std():.3g}"),
        "load_average": load_summary(turns["loads"]),
        "batches": len(batches),
    }


def part_auto(models: dict[str, tuple[str, str]]) -> dict[str, Any]:
    from aptrank.rankers import backends as bk

    out = {}
    for label, (model, kind) in models.items():
        start = time.perf_counter()
        choice = bk.measure(model, kind, MAX_LENGTH)
        out[label] = {
            "chosen": choice.backend,
            "seconds": round(time.perf_counter() - start, 1),
            "load_average": choice.load_average,
            "settings": choice.settings,
            "measurements": choice.measurements,
        }
        log(f"auto {label}: {choice.backend} {choice.measurements}")
    return out


def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's goal (>= 2x throughput at <= 0.005 NDCG@10 loss) per part, for the fastest
    backend within the loss and for what auto chose."""
    out: dict[str, Any] = {}
    for part, label in (("encode", "bi_encoder"), ("pairs", "cross_encoder")):
        if part not in report:
            continue
        figures = report[part]["backends"]
        ok = {b: x for b, x in figures.items() if b != "torch" and x["ndcg@10_delta"] >= -0.005}
        best = max(ok, key=lambda b: ok[b]["speedup"]) if ok else None
        out[label] = {"fastest_within_0.005": best}
        if best:
            x = figures[best]
            out[label].update(
                speedup=x["speedup"],
                speedup_group_median=x["speedup_group_median"],
                ndcg_delta=x["ndcg@10_delta"],
                goal_met=x["speedup"] >= 2.0 and x["speedup_group_median"] >= 2.0,
            )
        chosen = report.get("auto", {}).get(label, {}).get("chosen")
        if chosen:
            out[label]["auto_choice"] = chosen
            out[label]["auto_choice_scifact"] = {
                k: figures.get(chosen, {}).get(k) for k in ("speedup", "ndcg@10_delta")
            }
    return out


def to_markdown(r: dict[str, Any]) -> str:
    m, c = r["machine"], r["config"]
    lines = [
        f"# CPU serving backends, {r['dataset']} ({r['created']})",
        "",
        f"`{' '.join(r['command'])}`",
        "",
        f"{m['cpu']}, {m['physical_cores']} cores, {c['threads']} threads, GPU none; SIMD "
        f"{', '.join(m['simd'])}. torch {m['versions']['torch']}, onnxruntime "
        f"{m['versions']['onnxruntime']}, openvino {m['versions']['openvino']}. Max length "
        f"{MAX_LENGTH}. Every backend gets the same batches (sorted by token count, padded to "
        "each batch's longest), taking turns per group of batches on a machine shared with other "
        "jobs; speed-ups are overall and the median / best over groups; load averages below.",
        "",
    ]
    speed_cols = "| backend | {u}/s | speed-up | group median (best) | NDCG@10 | ΔNDCG@10 |"
    if "encode" in r:
        e = r["encode"]
        lines += [
            f"**Bi-encoder** {MODEL}: corpus encoding ({c['docs']} docs, batch {TEXT_BATCH}), "
            f"exact cosine search over {c['test_queries']} test queries; load average "
            f"{e['load_average']['mean']} (min {e['load_average']['min']}, max "
            f"{e['load_average']['max']}).",
            "",
            speed_cols.format(u="docs")
            + " recall@100 | cosine to torch min / mean | top-10 overlap |",
            "|:---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for b, x in e["backends"].items():
            lines.append(
                f"| {b} | {x['docs_per_s']:.1f} | {x['speedup']:.2f}x | "
                f"{x['speedup_group_median']:.2f}x ({x['speedup_group_best']:.2f}x) | "
                f"{x['ndcg@10']:.4f} | {x['ndcg@10_delta']:+.4f} | {x['recall@100']:.4f} | "
                f"{x['cosine_to_torch_min']:.4f} / {x['cosine_to_torch_mean']:.5f} | "
                f"{x['top10_overlap_with_torch']:.3f} |"
            )
        lines.append("")
    if "steady" in r:
        s = r["steady"]
        lines += [
            f"**Steady state**: the {TEXT_BATCH} longest documents ({MAX_LENGTH} tokens), "
            f"{c['rounds']} interleaved rounds; load average {s['load_average']['mean']}.",
            "",
            "| backend | best docs/s | median docs/s | best speed-up | median round speed-up |",
            "|:---|---:|---:|---:|---:|",
        ]
        for b, x in s["backends"].items():
            lines.append(
                f"| {b} | {x['best_docs_per_s']:.1f} | {x['median_docs_per_s']:.1f} | "
                f"{x['best_speedup']:.2f}x | {x['median_round_speedup']:.2f}x |"
            )
        lines.append("")
    if "pairs" in r:
        p = r["pairs"]
        lines += [
            f"**Cross-encoder**: the distilled SciFact student (`{c['student']}`, found as "
            f"{c['student_found_by']}) reranking the "
            f"BM25 top {c['depth']} of {c['pair_queries']} test queries ({c['pairs']} pairs, "
            f"batch {PAIR_BATCH}; BM25 alone {p['bm25_first_stage_ndcg@10']:.4f}); load average "
            f"{p['load_average']['mean']} (min {p['load_average']['min']}, max "
            f"{p['load_average']['max']}).",
            "",
            speed_cols.format(u="pairs") + " max abs diff | Kendall tau mean (min) |",
            "|:---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for b, x in p["backends"].items():
            lines.append(
                f"| {b} | {x['pairs_per_s']:.1f} | {x['speedup']:.2f}x | "
                f"{x['speedup_group_median']:.2f}x ({x['speedup_group_best']:.2f}x) | "
                f"{x['ndcg@10']:.4f} | {x['ndcg@10_delta']:+.4f} | {x['max_abs_diff']:.2g} | "
                f"{x['kendall_tau_mean']:.4f} ({x['kendall_tau_min']:.4f}) |"
            )
        lines.append("")
    if "auto" in r:
        lines += [
            "**backend=auto** (aptrank.rankers.backends): each candidate on the built-in probe "
            "(speed-up over torch, best of interleaved rounds; fidelity = mean cosine to torch for "
            "the bi-encoder, mean per-query Kendall tau for the cross-encoder) beside its SciFact "
            "figures above.",
            "",
            "| model | candidate | probe speed-up | probe fidelity | within bound | SciFact "
            "speed-up | SciFact ΔNDCG@10 | chosen |",
            "|:---|:---|---:|---:|:---:|---:|---:|:---:|",
        ]
        parts = {"bi_encoder": "encode", "cross_encoder": "pairs"}
        for label, a in r["auto"].items():
            scifact = r.get(parts[label], {}).get("backends", {})
            for b, x in a["measurements"].items():
                if "speedup" not in x:
                    lines.append(
                        f"| {label} | {b} | — | — | — | — | — | {next(iter(x.values()))} |"
                    )
                    continue
                y = scifact.get(b, {})
                sp = f"{y['speedup']:.2f}x" if "speedup" in y else "—"
                nd = f"{y['ndcg@10_delta']:+.4f}" if "ndcg@10_delta" in y else "—"
                lines.append(
                    f"| {label} | {b} | {x['speedup']:.2f}x | {x['fidelity']:.5f} | "
                    f"{'yes' if x['within_bound'] else 'no'} | {sp} | {nd} | "
                    f"{'**yes**' if b == a['chosen'] else ''} |"
                )
            bound = a["settings"]["min_cosine" if label == "bi_encoder" else "min_tau"]
            lines.append(
                f"| {label} | bound | | {bound} | | | | measured in {a['seconds']:.0f}s, load "
                f"{a['load_average']} |"
            )
        lines.append("")
    if r.get("goal"):
        lines += [
            "**Goal** (>= 2x torch fp32 throughput, overall and as the median over groups, at "
            f"<= 0.005 NDCG@10 loss; the whole run took {r.get('minutes')} minutes):",
            "",
        ]
        for label, g in r["goal"].items():
            lines.append(f"- {label}: `{json.dumps(g)}`")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = backend_parser(__doc__, BACKENDS, "encode,steady,pairs,auto", 0, 30, "backends")
    parser.add_argument(
        "--student", default=None, help="cross-encoder folder (default: distill.json's)"
    )
    args = parser.parse_args()
    ds, doc_ids = backend_setup(args)
    from serve import find_student

    from aptrank.rankers import backends as bk

    backends = args.backends.split(",")
    if backends[0] != "torch":
        raise SystemExit("--backends must start with torch (the reference)")
    parts = args.parts.split(",")
    student, found_by = find_student(args.student)
    n_queries = args.queries or len(ds.qrels)
    report: dict[str, Any] = {
        "dataset": ds.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ["python", "benchmarks/backends.py", *sys.argv[1:]],
        "machine": {**bk.machine(), "cpus_available": len(os.sched_getaffinity(0)), "gpu": None},
        "config": {
            "model": MODEL,
            "student": str(student),
            "student_found_by": found_by,
            "max_length": MAX_LENGTH,
            "text_batch": TEXT_BATCH,
            "pair_batch": PAIR_BATCH,
            "batches_per_turn": GROUP,
            "threads": args.threads,
            "docs": len(doc_ids),
            "test_queries": len(ds.qrels),
            "pair_queries": min(n_queries, len(ds.qrels)),
            "pair_query_selection": "first by id sorted as strings",
            "depth": args.depth,
            "rounds": args.rounds,
            "backends": backends,
        },
        "versions": versions() | {"openvino": bk.machine()["versions"]["openvino"]},
    }
    started = time.perf_counter()
    log(f"{ds!r}; backends {backends}; parts {parts}; student {student}")
    if "encode" in parts:
        report["encode"] = part_encode(ds, doc_ids, backends)
    if "steady" in parts:
        report["steady"] = part_steady(ds, backends, args.rounds)
    if "pairs" in parts:
        keys = candidates(ds, n_queries, args.depth)
        report["config"]["pairs"] = len(keys)
        report["pairs"] = part_pairs(ds, str(student), keys, backends)
    if "auto" in parts:
        report["auto"] = part_auto(
            {"bi_encoder": (MODEL, "encoder"), "cross_encoder": (str(student), "pair")}
        )
    report["goal"] = verdicts(report)
    report["minutes"] = round((time.perf_counter() - started) / 60, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "backends.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "backends.md").write_text(to_markdown(report))
    print(to_markdown(report))
    log(f"saved {out / 'backends.json'}")


if __name__ == "__main__":
    main()
