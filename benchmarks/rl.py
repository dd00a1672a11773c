"""RL against the ranking metric on SciFact: a query rewriter (Rec-R1) and an item summarizer
(ReLSum) trained with GRPO, the retriever (BM25) as a black box inside the reward.

    python benchmarks/rl.py [--parts rewrite summarize] [--steps 36] [--threads 2]
        [--policy smollm2-135m-instruct] [--summary-docs 1000] [--name rl] [--out runs/rl]

CPU configuration (the default): SmolLM2-135M-Instruct, full fine-tuning, 4 generations per
prompt; rewrites: 4 prompts per step, 48 tokens, lr 2e-5, 36 steps (~40 s/step on 2 cores:
~25 min; 50 steps at lr 1e-5 took ~45 min); summaries: 2 items per step, 32 tokens from the
title and the first 100 words of the item, lr 5e-5, 40 steps (~42 s/step: ~28 min; 4 items per
step at lr 1e-5 took ~90 s/step) —
plus the greedy generations of the before/after and evaluation measurements (~0.5 s each).
Parts: ``rewrite`` trains the rewriter on exclusion queries generated from ``--dataset``'s corpus
alone (:mod:`aptrank.train.rl.exclusion`) and scores it on ``--eval-dataset`` (NegConstraint),
beside the constraint parser's rule that deletes the exclusion clause; ``rewrite-scifact`` trains
and scores on SciFact's own queries (where rewriting has little room); ``summarize`` is ReLSum's
setting (title only, title + lead, title + summaries; ``--summary-scorer`` a frozen reranker's
score as the reward, ``--title-copy-weight``). Each part records its provenance and a headline.
What each part measures (:mod:`aptrank.train.rl.experiment`):

* the retrieval part of the reward on 100 held-out training queries (a seeded slice the policy
  never trains on), with the untrained and with the trained policy;
* the reward curve (total, retrieval part, KL, completion length per step) and the mean reward of
  the first and last tenth of steps;
* SciFact test NDCG@10 / Recall@100: BM25 on original queries, on zero-shot and RL rewrites
  (replace and append); BM25 on a fixed random sub-corpus (``--summary-docs`` items, seed 0)
  without summaries and with zero-shot and RL summaries (replace and append), test judgments
  restricted to it.

Everything is resumable: policies checkpoint every 10 steps under
``$APTRANK_CACHE/rl/<name>/<task>/policy``, rewrites and summaries are cached; kill the job and run
it again. A finished policy is reused, so a rerun only re-scores. The trained rewriter, a folder
``aptrank evaluate -p`` loads (with its ``aptrank.json``: pipeline, training queries, figures), is
written to ``--out``/<part>/models/rewriter (default ``runs/rl``). Writes
``benchmarks/results/<name>.json`` (``rewrite.reward_curve``, ``summarize.reward_curve``, the
``ndcg@10`` table, the configuration), ``<name>.md`` and ``<name>.png`` (the reward curves).
``benchmarks/rl_gpu.sh`` is the GPU configuration (Qwen2.5-Coder-0.5B-Instruct, more steps).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DATA = Path(os.environ.get("APTRANK_BENCH_DATA", Path(__file__).parents[2] / "shared" / "data"))
#: rewrite: trained on exclusion queries generated from --dataset's corpus, scored on
#: --eval-dataset (NegConstraint); rewrite-scifact: trained and scored on --dataset's own queries
#: (where rewriting has little room); summarize: ReLSum's title + summary setting
PARTS = ("rewrite", "rewrite-scifact", "summarize")
KEYS = {"rewrite": "rewrite", "rewrite-scifact": "rewrite_scifact", "summarize": "summarize"}
#: every block a part may write, in the order the markdown shows them ("rewrite_title": the
#: rewrite part with --exclusion-phrasing title; "rewrite_phrasing": the dev choice between them)
BLOCKS = ("rewrite", "rewrite_title", "rewrite_scifact", "summarize")
sys.path.insert(0, str(Path(__file__).parent))


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=[*PARTS, "phrasing"])
    p.add_argument("--dataset", default="scifact")
    p.add_argument("--policy", default="smollm2-135m-instruct")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (use --lr 1e-4)")
    # per-task options default to the task's CPU configuration (aptrank.train.rl.grpo.TASK_DEFAULTS,
    # RLExperimentConfig, SummaryRewardConfig): the numbers live there only
    p.add_argument("--steps", type=int, help="GRPO steps of the rewriter")
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--batch", type=int, help="the rewriter's completions per step")
    p.add_argument("--rewrite-tokens", type=int)
    p.add_argument("--lr", type=float, help="the rewriter's lr")
    p.add_argument("--summary-tokens", type=int)
    p.add_argument("--summary-steps", type=int, help="GRPO steps of the summarizer")
    p.add_argument("--summary-words", type=int, help="item words the policy reads")
    p.add_argument("--summary-metric", help="the summarizer's reward (ndcg@k, mrr@k, recall@k)")
    p.add_argument("--summary-lr", type=float, help="the summarizer's lr")
    p.add_argument("--summary-batch", type=int, help="the summarizer's completions per step")
    p.add_argument(
        "--summary-scorer", help="a frozen cross-encoder (folder) whose score is the reward"
    )
    p.add_argument("--title-copy-weight", type=float, help="penalty for copying the title")
    p.add_argument("--eval-dataset", default="negconstraint", help="the rewrite part's test set")
    p.add_argument(
        "--exclusion-queries", type=int, default=1000, help="seed documents for the rewrite part"
    )
    p.add_argument(
        "--exclusion-phrasing",
        default="keywords",  # the dev choice: rl.json rewrite_phrasing.chosen
        choices=("keywords", "title"),  # aptrank.train.rl.exclusion.PHRASINGS
        help="the rewrite part's training queries wrap the seed's topic words or its title",
    )
    p.add_argument("--beta", type=float, default=0.04)
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 on a busy CPU)")
    p.add_argument("--heldout", type=int, default=100)
    p.add_argument("--train-queries", type=int, default=0)
    p.add_argument("--summary-docs", type=int, default=1000, help="0: the whole corpus")
    p.add_argument("--eval-batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="rl", help="results file stem (GPU: rl-gpu)")
    p.add_argument("--results", type=Path, default=RESULTS, help="where results are written")
    p.add_argument("--work", type=Path, default=None, help="policies (default: the cache)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/rl"),
        help="trained rewriters go to <out>/<part folder>/models/rewriter (the cache keeps none)",
    )
    return p.parse_args(argv)


def configs(args: argparse.Namespace) -> dict[str, Any]:
    from aptrank.train.rl.experiment import RLExperimentConfig
    from aptrank.train.rl.grpo import GRPOTrainConfig
    from aptrank.train.rl.summary_reward import SummaryRewardConfig

    dataset = str(DATA / args.dataset) if (DATA / args.dataset).exists() else args.dataset
    common = dict(
        policy=args.policy,
        lora=args.lora,
        num_generations=args.generations,
        beta=args.beta,
        seed=args.seed,
        threads=args.threads,
    )
    base = RLExperimentConfig(
        dataset=dataset,
        heldout_size=args.heldout,
        train_queries=args.train_queries,
        seed=args.seed,
        summary_docs=args.summary_docs,
        batch_size=args.eval_batch,
    )
    words = {"max_text_words": args.summary_words} if args.summary_words else {}
    metric = {"metric": args.summary_metric} if args.summary_metric else {}
    if args.title_copy_weight is not None:
        metric["title_copy_weight"] = args.title_copy_weight
    scorer = {"summary_scorer": args.summary_scorer} if args.summary_scorer else {}
    rewrite = replace(
        base,
        task="rewrite",
        grpo=GRPOTrainConfig.for_task(
            "rewrite",
            **common,
            per_device_batch=args.batch,
            max_completion_length=args.rewrite_tokens,
            learning_rate=args.lr,
            max_steps=args.steps,
        ),
    )
    evaluated = DATA / args.eval_dataset
    exclusion = {}
    if "rewrite" in args.parts:  # generated only when asked for
        exclusion["rewrite"] = replace(
            rewrite,
            dataset=str(exclusion_dataset(dataset, args)),
            eval_dataset=str(evaluated) if evaluated.exists() else args.eval_dataset,
        )
    return {
        **exclusion,
        "rewrite-scifact": rewrite,
        "summarize": replace(
            base,
            task="summarize",
            grpo=GRPOTrainConfig.for_task(
                "summarize",
                **common,
                per_device_batch=args.summary_batch,
                max_completion_length=args.summary_tokens,
                learning_rate=args.summary_lr,
                max_steps=args.summary_steps,
            ),
            summary_reward=SummaryRewardConfig(**metric),
            **words,
            **scorer,
        ),
    }


def rewrite_layout(phrasing: str) -> tuple[str, str, str]:
    """The rewrite part's (results block, policy folder, exclusion-folder suffix) for a phrasing
    of its training queries: the default (keywords, the dev's choice) writes the ``rewrite`` block
    and keeps the folders that predate the option; another writes ``rewrite_<phrasing>``.

    >>> rewrite_layout("keywords"), rewrite_layout("title")
    (('rewrite', 'rewrite', ''), ('rewrite_title', 'rewrite-title', '-title'))
    """
    if phrasing == "keywords":
        return "rewrite", "rewrite", ""
    return f"rewrite_{phrasing}", f"rewrite-{phrasing}", f"-{phrasing}"


def exclusion_dataset(dataset: str, args: argparse.Namespace, phrasing: str | None = None) -> Path:
    """Exclusion queries generated from ``dataset``'s corpus alone (a BEIR folder in the cache;
    aptrank.train.rl.exclusion): the rewrite part's training queries, in ``phrasing`` (default
    ``--exclusion-phrasing``)."""
    from aptrank.paths import cache_dir
    from aptrank.train.rl.exclusion import ExclusionConfig, write_exclusion_dataset

    phrasing = phrasing or args.exclusion_phrasing
    config = ExclusionConfig(queries=args.exclusion_queries, seed=args.seed, phrasing=phrasing)
    suffix = rewrite_layout(phrasing)[2]
    name = f"exclusion-{Path(dataset).name}-{args.exclusion_queries}-{args.seed}{suffix}"
    out = cache_dir("rl") / name
    return write_exclusion_dataset(dataset, out, config)


def part_phrasing(args: argparse.Namespace, config: Any, report: dict[str, Any]) -> dict:
    """Which phrasing of the training queries the rewrite part should train on, chosen on dev
    data: each phrasing's trained rewriter on the held-out exclusion queries of both phrasings.
    Both runs hold out the same seed documents (one seed), so neither policy trained on any
    of them, in either phrasing; NegConstraint is not read. Needs both rewrite blocks."""
    from aptrank.constraints.parse import delete_exclusion
    from aptrank.data import load_dataset
    from aptrank.evaluate.significance import paired_test
    from aptrank.rankers import build_ranker
    from aptrank.train.rl.experiment import rewrite_rewards
    from aptrank.train.rl.rewards import metric_fn

    blocks = {p: rewrite_layout(p)[0] for p in ("keywords", "title")}
    missing = [b for b in blocks.values() if b not in report]
    if missing:
        raise SystemExit(f"the phrasing part needs the rewrite blocks {missing} in rl.json")
    ids = report[blocks["keywords"]]["queries"]["heldout_ids"]
    if report[blocks["title"]]["queries"]["heldout_ids"] != ids:
        raise SystemExit("the two rewrite runs hold out different queries: no shared dev set")
    metric, depth = metric_fn(config.reward.metric, config.reward.rel_level)
    data = {
        p: load_dataset(str(exclusion_dataset(config.dataset, args, p)), config.train_split)
        for p in blocks
    }
    # both phrasings wrap the same corpus's documents: one index
    retriever = build_ranker(config.retriever).index(data["keywords"].corpus)
    cells: dict[str, dict[str, dict[str, float]]] = {}
    for phrasing, d in data.items():
        texts = {q: d.queries[q].text for q in ids}
        rewritten = {"as written": texts}
        rewritten["rule: exclusion deleted"] = {q: delete_exclusion(t) for q, t in texts.items()}
        runs = {name: retriever.rank(qs, depth) for name, qs in rewritten.items()}
        row = {
            name: {q: metric(run.get(q, {}), d.qrels[q]) for q in ids} for name, run in runs.items()
        }
        for trained_on, block in blocks.items():
            log(f"phrasing: {trained_on} policy on {phrasing} held-out queries")
            parts = rewrite_rewards(
                report[block]["training"]["policy"], retriever, texts, d.qrels, ids,
                config.reward, config.grpo.max_completion_length, config.batch_size,
            )  # fmt: skip
            row[f"rl trained on {trained_on}"] = dict(zip(ids, parts["retrieval"]))
        cells[phrasing] = row
    rows = list(cells["keywords"])
    table = {
        r: {
            **{f"{p} queries": round(sum(cells[p][r].values()) / len(ids), 4) for p in cells},
            "both": round(sum(sum(cells[p][r].values()) for p in cells) / (2 * len(ids)), 4),
        }
        for r in rows
    }
    policies = [r for r in rows if r.startswith("rl trained on ")]
    chosen = max(policies, key=lambda r: table[r]["both"])
    other = next(r for r in policies if r != chosen)

    def both(r: str) -> dict[str, float]:
        return {f"{p}:{q}": v for p in cells for q, v in cells[p][r].items()}

    test = paired_test(both(chosen), both(other))
    return {
        "dev": f"the {len(ids)} held-out seed documents of both rewrite runs, each phrasing",
        "metric": config.reward.metric,
        "table": table,
        "chosen": chosen.removeprefix("rl trained on "),
        "p_value_against_other_policy": test.p_value,
        "mean_delta": test.mean_delta,
    }


def bars(description: str) -> Any:
    """Progress as log lines every tenth (a background job's log, not a terminal)."""
    state = {"next": 0.0}

    def update(done: int, total: int) -> None:
        if total and (done / total >= state["next"] or done == total):
            log(f"  {description}: {done}/{total}")
            state["next"] = done / total + 0.1

    return update


def fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# RL benchmark ({report.get('updated')})",
        "",
        "Each part's command, machine, versions and time are in rl.json (`provenance`).",
        "",
    ]
    for task in BLOCKS:
        r = report.get(task)
        if not r:
            continue
        g = r["config"]["grpo"]
        h = r["heldout"]
        t = r["curve_tenths"]
        lines += [
            f"## {task} ({r.get('dataset')})",
            "",
            *([f"> {r['superseded']}", ""] if r.get("superseded") else []),
            *([f"`{r['command']}`", ""] if r.get("command") else []),
            f"Policy {g['policy']} ({'LoRA' if g['lora'] else 'full'}), {r['training']['steps']} "
            f"GRPO steps of {g['per_device_batch']} completions ({g['num_generations']} per "
            f"prompt, {g['max_completion_length']} tokens), lr {g['learning_rate']}, beta "
            f"{g['beta']}; {r['queries']['train']} training queries, "
            f"{r['training'].get('logged_s_per_step') or r['training']['s_per_step'] or 0:.1f} "
            "s/step.",
            "",
            f"| held-out ({h['metric']}, {h['mode']}) | retrieval part | total reward | "
            "parse failures |",
            "|:---|---:|---:|---:|",
        ]
        base = "original queries" if task.startswith("rewrite") else "items unchanged"
        base_value = h.get("original_queries", h.get("unchanged_items"))
        lines.append(f"| {base} | {fmt(base_value)} | | |")
        for when in ("before", "after"):
            m = h[when]
            label = "untrained policy" if when == "before" else "trained policy"
            lines.append(
                f"| {label} | {fmt(m['retrieval'])} | {fmt(m['total'])} | "
                f"{fmt(m['parse_failed'])} |"
            )
        lines += [
            "",
            f"Mean reward, first tenth of steps {fmt(t['reward']['first_tenth'])}, last tenth "
            f"{fmt(t['reward']['last_tenth'])} (retrieval part {fmt(t['retrieval']['first_tenth'])}"
            f" → {fmt(t['retrieval']['last_tenth'])}).",
            "",
        ]
        ev = r["eval"]
        if task == "summarize":
            s = ev["sub_corpus"]
            lines += [
                f"Evaluated on a random sub-corpus of {s['items']} of {s['of']} items (seed "
                f"{s['seed']}); {s['queries_scored']} {ev['split']} queries have a relevant item "
                "in it.",
                "",
            ]
        head = r.get("headline")
        if head:
            rows = [k for k in ("baseline", "rule", "extractive", "zero_shot", "rl", "full_text")]
            lines += [
                f"Headline ({head['setting']}): "
                + ", ".join(f"{k} {fmt(head[k])}" for k in rows if head.get(k) is not None)
                + (
                    f"; RL against the strongest other row ({head['strongest_other']}): "
                    f"paired t-test p = {head['p_value']:.3g}"
                    if head.get("p_value") is not None
                    else ""
                ),
                "",
            ]
        paired = r.get("paired_curve", {}).get("rises")
        if paired and paired.get("slope") is not None:
            lines += [
                f"Paired learning curve (each step's reward minus the untrained policy's on the "
                f"same items): slope {paired['slope']} per step, first third "
                f"{fmt(paired['first_third'])}, last third {fmt(paired['last_third'])}.",
                "",
            ]
        lines += [f"| configuration | {ev['split']} NDCG@10 | Recall@100 |", "|:---|---:|---:|"]
        for name, row in ev["table"].items():
            lines.append(f"| {name} | {fmt(row['ndcg@10'])} | {fmt(row['recall@100'])} |")
        lines.append("")
    choice = report.get("rewrite_phrasing")
    if choice:
        columns = list(next(iter(choice["table"].values())))
        lines += [
            "## rewrite_phrasing (the dev choice of the training queries' phrasing)",
            "",
            f"`{choice['command']}`",
            "",
            f"Dev: {choice['dev']}; {choice['metric']} of BM25 on SciFact's corpus.",
            "",
            "| rewriter | " + " | ".join(columns) + " |",
            "|:---|" + "---:|" * len(columns),
            *(
                f"| {name} | " + " | ".join(fmt(row[c]) for c in columns) + " |"
                for name, row in choice["table"].items()
            ),
            "",
            f"Chosen: **{choice['chosen']}** (paired t-test against the other policy over both "
            f"phrasings: mean delta {choice['mean_delta']:+.4f}, p = "
            f"{choice['p_value_against_other_policy']:.3g}).",
            "",
        ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    from aptrank.report.plots import reward_curves

    curves = {t: report[t]["reward_curve"] for t in BLOCKS if report.get(t)}
    uri = reward_curves(curves)
    path.write_bytes(base64.b64decode(uri.split(",", 1)[1]))


def save(report: dict[str, Any], results: Path, name: str, plot_too: bool = True) -> None:
    """``<name>.json``, ``<name>.md`` and (with ``plot_too``) the reward curves ``<name>.png``."""
    (results / f"{name}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (results / f"{name}.md").write_text(to_markdown(report))
    if plot_too:
        plot(report, results / f"{name}.png")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    for var, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(var, value)
    from aptrank.paths import cache_dir
    from aptrank.train.rl.experiment import run_experiment

    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{args.name}.json"
    report: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    work = args.work or cache_dir("rl") / args.name
    command = " ".join(["python benchmarks/rl.py", *(argv or sys.argv[1:])])
    # each part records its own provenance: older files' top-level stamps described only the
    # last part run
    for stale in ("command", "versions", "cpus", "dataset"):
        report.pop(stale, None)
    table = report.setdefault("ndcg@10", {})
    from inference import stamp

    if "phrasing" in args.parts:
        config = configs(args)["rewrite-scifact"]  # the rewriter's settings, on --dataset
        report["rewrite_phrasing"] = {
            "command": command,
            **part_phrasing(args, config, report),
            "provenance": stamp(threads=args.threads),
        }
        save(report, results, args.name, plot_too=False)
        log(f"phrasing: {report['rewrite_phrasing']['table']}")
    for part, config in configs(args).items():
        if part not in args.parts:
            continue
        task, folder = KEYS[part], part
        if part == "rewrite":  # each phrasing of its training queries: own block and policy
            task, folder, _ = rewrite_layout(args.exclusion_phrasing)
        log(f"{part}: {config.grpo.max_steps} steps of {config.grpo.policy}")
        models = args.out / folder / "models"  # the artifact a user reuses, beside no cache
        r = run_experiment(config, work / folder, progress=bars, models_dir=models)
        report[task] = {"command": command, **r, "provenance": stamp(threads=args.threads)}
        for row_name in [k for k in table if k.startswith(f"{task}: ")]:
            del table[row_name]  # a rerun replaces the part's rows, never mixes them
        for name, row in r["eval"]["table"].items():
            table[f"{task}: {name}"] = row["ndcg@10"]
        h = r["heldout"]
        log(
            f"{task}: held-out retrieval {h['before']['retrieval']:.4f} -> "
            f"{h['after']['retrieval']:.4f}; tenths {r['curve_tenths']['reward']}"
        )
        report.update(
            updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            config={**report.get("config", {}), task: r["config"]},
        )
        save(report, results, args.name)
        log(f"saved {path}")
    return report


if __name__ == "__main__":
    main()
