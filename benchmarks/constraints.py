"""Constraint-aware ranking benchmark: constrain(PIPELINE) on NegConstraint, the rule check against
the learned compatibility scorer on generated paraphrase pairs (SciFact's documents), SciFact
test as the no-harm check, and the added latency per query for a top-30 list.

    python benchmarks/constraints.py --model DIR --pairs DIR [--parts negconstraint,...] [--force]

``--model`` is a scorer trained by ``aptrank constraints train`` and ``--pairs`` the folder
``aptrank constraints generate`` wrote (its dev.jsonl); both come from SciFact's corpus alone:
no NegConstraint query, document or judgment is used to build or choose anything. Choices made
before NegConstraint is scored, and where:

* the topical pipeline: the best of bm25, dense and fuse(bm25,dense) by NDCG@10 on SciFact
  *train* (part ``choose``);
* rule check or rule check + scorer: the better pair accuracy on the generated dev pairs (part
  ``paraphrase``);
* the semantic check (``constrain(...)[semantic=<encoder>]``) and its weight: NDCG@10 on 200
  exclusion queries generated from SciFact's corpus alone (title phrasing,
  :mod:`aptrank.train.rl.exclusion`; their judged violators use the excluded word), over the
  weights :data:`WEIGHTS` with and without the rule check (part ``semantic``). The best cell is
  the headline's configuration (weight 0: no semantic check); the semantic check alone at its
  own best weight is reported beside it either way.

Writes ``benchmarks/results/constraints.json`` (each part with its command, machine, versions
and seconds; parts already there are kept unless ``--force``) and ``constraints.md``. all-mpnet-
base-v2's NegConstraint figures are read from ``benchmarks/results/diagnose.json`` (the same
copy of the data, the same constraint-pair figures; rerun ``benchmarks/diagnose.py`` first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from inference import machine, versions  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TOPICAL = ("bm25", "dense", "fuse(bm25,dense)")
PARTS = ("choose", "paraphrase", "semantic", "negconstraint", "scifact", "latency", "transfer")
#: the semantic check's weights tried on the dev queries (0: the rule check alone)
WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
MPNET = "dense:all-mpnet-base-v2[max_length=256]"
#: parts that run again to add what is missing (NegConstraint: each pipeline measured once)
RESUMED = ("negconstraint",)


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def ndcg(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> float:
    from aptrank.evaluate import Evaluator

    return float(Evaluator(qrels, ["ndcg@10"]).evaluate(run).means["ndcg@10"])


def v_at_1(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> float:
    """Share of queries whose first document is a judged violator (the diagnosis's v@1)."""
    from aptrank.data.runs import ranked
    from aptrank.diagnose.constraints import violators_at
    from aptrank.diagnose.stats import first_rank

    firsts = [
        first_rank(ranked(run.get(q, {})), {d for d, g in judged.items() if g <= 0}) or 2
        for q, judged in qrels.items()
    ]
    return violators_at(firsts, [1])[1]


def part_choose(args: argparse.Namespace, _: dict[str, Any]) -> dict[str, Any]:
    """The topical pipeline: NDCG@10 on SciFact train (not the evaluated dataset)."""
    from aptrank.data import load_dataset
    from aptrank.rankers import build_ranker

    ds = load_dataset("scifact", "train")
    queries = {q: x.text for q, x in ds.judged_queries().items()}
    figures = {}
    for spec in TOPICAL:
        figures[spec] = ndcg(ds.qrels, build_ranker(spec).index(ds.corpus).rank(queries, 100))
        log(f"scifact train {spec}: {figures[spec]:.4f}")
    return {"scifact_train_ndcg@10": figures, "chosen": max(figures, key=figures.__getitem__)}


def part_paraphrase(args: argparse.Namespace, _: dict[str, Any]) -> dict[str, Any]:
    """Rule check vs the learned scorer on the generated dev pairs (exclusion, paraphrase)."""
    from aptrank.constraints.generate import read_pairs
    from aptrank.constraints.scorer import dev_figures, load_scorer

    dev = read_pairs(Path(args.pairs) / "dev.jsonl")
    figures = dev_figures(dev, load_scorer(args.model, args.max_length))
    use_model = figures["all"]["rules_and_model_accuracy"] > figures["all"]["rule_accuracy"]
    record = json.loads((Path(args.model) / "aptrank.json").read_text())
    return {
        "dev_pairs": str(Path(args.pairs) / "dev.jsonl"),
        "figures": figures,
        "use_model": use_model,
        "scorer": {k: record.get(k) for k in ("config", "trained_on", "train_s", "steps")},
        "generated": record.get("dataset", {}).get("generated", {}),
    }


def part_semantic(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """The semantic check's weight, chosen on exclusion queries generated from SciFact's corpus
    (module docstring), and its pair accuracy on the generated dev pairs."""
    import random
    from dataclasses import replace

    from aptrank.constraints.generate import read_pairs
    from aptrank.constraints.scorer import dev_figures
    from aptrank.data import load_dataset
    from aptrank.data.runs import cut
    from aptrank.paths import cache_dir
    from aptrank.rankers import build_ranker
    from aptrank.rankers.constrain import demoted
    from aptrank.rankers.pipeline import append_tail
    from aptrank.train.rl.exclusion import ExclusionConfig, write_exclusion_dataset

    config = ExclusionConfig(queries=1000, seed=0, phrasing="title")
    folder = write_exclusion_dataset(
        "scifact", cache_dir("rl") / "exclusion-scifact-1000-0-title", config
    )
    ds = load_dataset(str(folder), "train")
    ids = sorted(random.Random(0).sample(sorted(ds.qrels), args.dev_queries))
    queries = {q: ds.queries[q].text for q in ids}
    qrels = {q: ds.qrels[q] for q in ids}
    topical = results["choose"]["chosen"]
    ranker = build_ranker(f"constrain({topical})[semantic={args.semantic}]").index(ds.corpus)
    parsed = ranker.parse(queries)
    first = ranker.inner.rank({q: p.topic for q, p in parsed.items()}, 100)
    head = cut(first, ranker.cfg.depth)
    closeness = ranker.semantic_strengths(parsed, head)
    checks: dict[str, dict[str, dict[str, float]]] = {
        "rules": ranker.violations(parsed, head),
        "none": {q: {} for q in head},
    }
    if args.model:
        model = build_ranker(f"constrain({topical})[{model_options(args)}]").index(ds.corpus)
        checks["rules+model"] = model.violations(parsed, head)
    grid: dict[str, dict[str, Any]] = {}
    for check, strengths in checks.items():
        for w in WEIGHTS:
            cfg = replace(ranker.cfg, semantic_weight=w)
            run = cut(append_tail(demoted(head, strengths, closeness, cfg), first), 100)
            grid[f"checks={check},semantic_weight={w}"] = {
                "checks": check,
                "semantic_weight": w,
                "ndcg@10": ndcg(qrels, run),
                "v@1": v_at_1(qrels, run),
            }
    best = max(grid, key=lambda k: grid[k]["ndcg@10"])
    alone = max((k for k in grid if grid[k]["checks"] == "none"), key=lambda k: grid[k]["ndcg@10"])
    for k, f in grid.items():
        log(f"semantic dev {k}: ndcg@10 {f['ndcg@10']:.4f}, v@1 {f['v@1']:.3f}")
    pairs: dict[str, dict[str, float]] = {}
    if args.pairs:
        dev = read_pairs(Path(args.pairs) / "dev.jsonl")
        figures = dev_figures(dev, None, semantic=ranker.semantic)
        pairs = {
            kind: {"records": int(f["records"]), "semantic_accuracy": f["semantic_accuracy"]}
            for kind, f in figures.items()
        }
    return {
        "encoder": args.semantic,
        "dev_queries": {"folder": str(folder), "config": config.__dict__, "n": len(ids), "seed": 0},
        "grid": grid,
        "chosen": grid[best],
        "chosen_pipeline": cell_spec(topical, args, grid[best]),
        "semantic_alone": grid[alone],
        "alone_pipeline": cell_spec(topical, args, grid[alone]),
        "dev_pairs": pairs,
    }


def model_options(args: argparse.Namespace) -> str:
    return f"model={args.model},max_length={args.max_length}"


def cell_spec(topical: str, args: argparse.Namespace, cell: dict[str, Any]) -> str:
    """``constrain(topical)[...]`` for a cell of the semantic part's grid (its checks and the
    semantic check's weight; weight 0: no semantic check)."""
    options = {"rules": [], "none": ["rules=false"], "rules+model": [model_options(args)]}
    chosen = options[cell["checks"]]
    if cell["semantic_weight"] > 0:
        chosen += [f"semantic={args.semantic}", f"semantic_weight={cell['semantic_weight']}"]
    return f"constrain({topical})" + (f"[{','.join(chosen)}]" if chosen else "")


def constraint_figures(spec: str, dataset: Any) -> dict[str, Any]:
    """NDCG@10 and the constraint-pair figures of one pipeline (as ``aptrank diagnose``)."""
    from aptrank.diagnose.constraints import constraint_pairs
    from aptrank.diagnose.scoring import rank_and_score
    from aptrank.rankers import build_ranker

    start = time.perf_counter()
    ranker = build_ranker(spec).index(dataset.corpus)
    queries = {q: x.text for q, x in dataset.judged_queries().items()}
    run, judged = rank_and_score(ranker, queries, dataset.qrels, 100)
    cp = constraint_pairs(dataset.qrels, run, judged, 100, 1000, 0)
    assert cp is not None
    keep = ("accuracy", "v@1", "v@2", "v@5", "v@10", "fvr_mean", "fvr_median", "n_pairs")
    out = {k: v for k, v in cp.to_dict().items() if k in keep}
    out["accuracy_ci"] = cp.accuracy.to_dict()
    out["ndcg@10"] = ndcg(dataset.qrels, run)
    out["seconds"] = round(time.perf_counter() - start, 1)
    log(f"negconstraint {spec}: {json.dumps({k: out[k] for k in keep + ('ndcg@10',)})}")
    return out


def headline_spec(args: argparse.Namespace, results: dict[str, Any]) -> str:
    topical = results.get("choose", {}).get("chosen", "bm25")
    if "semantic" in results:  # the ranking dev's choice (supersedes the pair-accuracy one)
        return str(results["semantic"]["chosen_pipeline"])
    if results.get("paraphrase", {}).get("use_model"):
        return f"constrain({topical})[{model_options(args)}]"
    return f"constrain({topical})"


def part_negconstraint(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    from aptrank.data import load_dataset

    ds = load_dataset("negconstraint", "test")
    topical = results["choose"]["chosen"]
    # penalty=0: the topical part alone, no check (what the checks add is measured against it)
    specs = ["bm25", "dense", topical, f"constrain({topical})[penalty=0]", "constrain(bm25)"]
    specs.append(f"constrain({topical})")
    specs.append(headline_spec(args, results))
    if args.model:
        specs.append(f"constrain({topical})[{model_options(args)}]")
    if "semantic" in results:  # the semantic check alone at its own best dev weight
        specs.append(results["semantic"]["alone_pipeline"])
    done = {} if args.force else results.get("negconstraint", {}).get("rankers", {})
    rankers = {s: done.get(s) or constraint_figures(s, ds) for s in dict.fromkeys(specs)}
    bench = json.loads((RESULTS / "diagnose.json").read_text())
    mpnet = bench["datasets"]["negconstraint"]["rankers"].get(MPNET, {})
    cp = mpnet.get("constraint_pairs", {})
    if cp:
        keep = ("accuracy", "v@1", "v@2", "v@5", "v@10", "fvr_mean", "fvr_median", "n_pairs")
        rankers[MPNET] = {k: cp[k] for k in keep if k in cp}
        rankers[MPNET]["ndcg@10"] = (mpnet.get("strata") or {}).get("overall", {}).get("value")
        rankers[MPNET]["source"] = "benchmarks/results/diagnose.json"
    return {"rankers": rankers, "headline_pipeline": headline_spec(args, results)}


def part_scifact(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    from aptrank.data import load_dataset
    from aptrank.rankers import build_ranker

    ds = load_dataset("scifact", "test")
    queries = {q: x.text for q, x in ds.judged_queries().items()}
    topical = results["choose"]["chosen"]
    out = {}
    for spec in dict.fromkeys((topical, f"constrain({topical})", headline_spec(args, results))):
        out[spec] = ndcg(ds.qrels, build_ranker(spec).index(ds.corpus).rank(queries, 100))
        log(f"scifact test {spec}: {out[spec]:.4f}")
    return {"ndcg@10": out, "not_below": out[headline_spec(args, results)] >= out[topical] - 1e-9}


def part_latency(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """Added milliseconds per query: constrain(bm25)[...] vs bm25, both a top-30 list."""
    from aptrank.data import load_dataset
    from aptrank.rankers import build_ranker

    ds = load_dataset("negconstraint", "test")
    queries = dict(list({q: x.text for q, x in ds.judged_queries().items()}.items())[: args.n])
    specs = ["bm25", "constrain(bm25)[depth=30]"]
    if args.model:
        specs.append(f"constrain(bm25)[{model_options(args)},depth=30]")
    specs.append(f"constrain(bm25)[semantic={args.semantic},depth=30]")
    ms = {}
    for spec in specs:
        ranker = build_ranker(spec).index(ds.corpus)
        ranker.rank(dict(list(queries.items())[:2]), 30)  # warm-up: loads the model
        start = time.perf_counter()
        ranker.rank(queries, 30)
        ms[spec] = 1000 * (time.perf_counter() - start) / len(queries)
        log(f"latency {spec}: {ms[spec]:.1f} ms/query")
    return {
        "queries": len(queries),
        "ms_per_query": ms,
        "added_ms_per_query": {s: ms[s] - ms["bm25"] for s in specs[1:]},
        "note": "wall-clock on a shared 2-core machine (other jobs running); one process",
    }


def part_transfer(args: argparse.Namespace, _: dict[str, Any]) -> dict[str, Any]:
    """Diagnosis only (nothing is chosen on it): the rule check's, the scorer's and the semantic
    check's violation strengths on NegConstraint's judged satisfier and violator of each query."""
    import numpy as np

    from aptrank.constraints.check import RuleChecker
    from aptrank.constraints.parse import parse_query
    from aptrank.constraints.scorer import load_scorer
    from aptrank.constraints.semantic import SemanticChecker
    from aptrank.data import load_dataset

    ds = load_dataset("negconstraint", "test")
    checker = RuleChecker.from_texts(d.full_text for d in ds.corpus.values())
    sat, vio = [], []
    for q, judged in ds.qrels.items():
        parsed = parse_query(ds.queries[q].text)
        if parsed.exclusions:
            for docs, grade in ((sat, 2), (vio, 0)):
                docs += [(parsed, ds.corpus[d].full_text) for d, g in judged.items() if g == grade]
    out: dict[str, Any] = {"queries": len(sat)}
    scorer = load_scorer(args.model, args.max_length)
    semantic = SemanticChecker(args.semantic)
    for name, strengths in (
        ("rule check", lambda items: [checker.violation(p, t) for p, t in items]),
        ("scorer", lambda items: scorer.violations(items)),
        ("semantic check", lambda items: semantic.violations(items)),
    ):
        s_, v_ = np.array(strengths(sat)), np.array(strengths(vio))
        out[name] = {
            "satisfiers_flagged": float((s_ >= 0.5).mean()),
            "violators_flagged": float((v_ >= 0.5).mean()),
            "pair_accuracy": float(((v_ > s_) + 0.5 * (v_ == s_)).mean()),
            "mean_strength": {"satisfiers": float(s_.mean()), "violators": float(v_.mean())},
        }
        log(f"transfer {name}: {out[name]}")
    return out


def headline(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    neg = results.get("negconstraint", {}).get("rankers", {})
    spec = headline_spec(args, results)
    h = neg.get(spec, {})
    return {
        "pipeline": spec,
        "negconstraint_accuracy": h.get("accuracy"),
        "negconstraint_ndcg@10": h.get("ndcg@10"),
        "v@1": h.get("v@1"),
        "scifact_ndcg@10": results.get("scifact", {}).get("ndcg@10", {}).get(spec),
        "rule_only_accuracy": neg.get("constrain(bm25)", {}).get("accuracy"),
    }


def goals(results: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's goals, met or not, from the stored figures (None: not measured)."""
    h = results.get("headline", {})
    para = results.get("paraphrase", {}).get("figures", {}).get("paraphrase", {})

    def at_least(value: Any, bound: float) -> bool | None:
        return None if value is None else value >= bound

    v1 = h.get("v@1")
    return {
        "negconstraint accuracy >= 0.90": at_least(h.get("negconstraint_accuracy"), 0.90),
        "negconstraint ndcg@10 >= 0.85": at_least(h.get("negconstraint_ndcg@10"), 0.85),
        "v@1 <= 0.10": None if v1 is None else v1 <= 0.10,
        "accuracy >= rule-only": at_least(
            h.get("negconstraint_accuracy"), h.get("rule_only_accuracy") or 0.0
        ),
        "scorer beats the rule check on generated paraphrases": (
            None if not para else para.get("model_accuracy", 0) > para["rule_accuracy"]
        ),
        "scifact ndcg@10 not below the topical pipeline": results.get("scifact", {}).get(
            "not_below"
        ),
    }


def render(results: dict[str, Any]) -> str:
    h = results.get("headline", {})
    lines = ["# Constraint-aware ranking", "", f"Headline pipeline: `{h.get('pipeline')}`", ""]
    lines += ["```json", json.dumps(h, indent=1), "```", "", "| goal | met |", "|:---|:---|"]
    marks = {True: "yes", False: "**no**", None: "not measured"}
    lines += [f"| {g} | {marks[met]} |" for g, met in goals(results).items()] + [""]
    neg = results.get("negconstraint", {}).get("rankers", {})
    if neg:
        lines += ["## NegConstraint (366 queries, test)", ""]
        cols = ("accuracy", "v@1", "v@2", "v@5", "v@10", "fvr_mean", "fvr_median", "ndcg@10")
        lines += ["| pipeline | " + " | ".join(cols) + " |", "|:---" + "|---:" * len(cols) + "|"]
        for spec, f in neg.items():
            cells = [f"{f[c]:.3f}" if isinstance(f.get(c), float) else "—" for c in cols]
            lines.append(f"| `{spec}` | " + " | ".join(cells) + " |")
        lines.append("")
    para = results.get("paraphrase", {}).get("figures", {})
    if para:
        lines += ["## Generated dev pairs from SciFact's documents (pair accuracy)", ""]
        lines += ["| kind | records | rule check | scorer | rule check + scorer |"]
        lines += ["|:---|---:|---:|---:|---:|"]
        for kind, f in para.items():
            lines.append(
                f"| {kind} | {int(f['records'])} | {f['rule_accuracy']:.3f} | "
                f"{f.get('model_accuracy', float('nan')):.3f} | "
                f"{f.get('rules_and_model_accuracy', float('nan')):.3f} |"
            )
        lines.append("")
    sem = results.get("semantic")
    if sem:
        lines += [
            f"## The semantic check ({sem['encoder']}): weights on {sem['dev_queries']['n']} "
            "exclusion queries generated from SciFact's corpus",
            "",
            "| checks | semantic weight | dev NDCG@10 | dev v@1 |",
            "|:---|---:|---:|---:|",
        ]
        for f in sem["grid"].values():
            lines.append(
                f"| {f['checks']} | {f['semantic_weight']} | {f['ndcg@10']:.4f} | {f['v@1']:.3f} |"
            )
        c = sem["chosen"]
        lines += ["", f"Chosen: checks {c['checks']}, weight {c['semantic_weight']}.", ""]
        for kind, f in sem.get("dev_pairs", {}).items():
            lines.append(
                f"- generated dev pairs, {kind} ({f['records']}): semantic check pair accuracy "
                f"{f['semantic_accuracy']:.3f}"
            )
        lines.append("")
    for name in ("choose", "scifact", "latency", "transfer"):
        if name in results:
            body = {k: v for k, v in results[name].items() if k not in ("machine", "versions")}
            lines += [f"## {name}", "", "```json", json.dumps(body, indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a compatibility scorer's folder")
    parser.add_argument("--pairs", default=None, help="a generated pairs folder (dev.jsonl)")
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument(
        "--semantic", default="all-MiniLM-L6-v2", help="the semantic check's encoder"
    )
    parser.add_argument("--dev-queries", type=int, default=200, help="semantic part's dev queries")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--n", type=int, default=100, help="queries timed for the latency")
    parser.add_argument("--force", action="store_true", help="re-run parts already stored")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    os.environ.setdefault("APTRANK_DATA", str(Path(__file__).parents[2] / "shared" / "data"))
    out = Path(args.results) / "constraints.json"
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    functions = {
        "choose": part_choose,
        "paraphrase": part_paraphrase,
        "semantic": part_semantic,
        "negconstraint": part_negconstraint,
        "scifact": part_scifact,
        "latency": part_latency,
        "transfer": part_transfer,
    }
    for name in args.parts.split(","):
        if name in results and not args.force and name not in RESUMED:
            log(f"{name}: kept from {out}")
            continue
        start = time.perf_counter()
        part = functions[name](args, results)
        part.update(
            command=" ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
            machine={**machine(threads=2), "gpu": None},
            versions=versions(),
            seconds=round(time.perf_counter() - start, 1),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        results[name] = part
        results["headline"] = headline(args, results)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str) + "\n")
        (out.parent / "constraints.md").write_text(render(results))
        log(f"{name} done in {part['seconds']} s")


if __name__ == "__main__":
    main()
