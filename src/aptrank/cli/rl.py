"""``aptrank rl rewrite`` and ``aptrank rl summarize``: GRPO against the retriever's metric."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from aptrank.cli._common import ENGINE_OPTION, RAY_ADDRESS_OPTION

app = typer.Typer(
    help="RL against the ranking metric: a small LM rewrites queries (Rec-R1) or writes item "
    "summaries (ReLSum) for a black-box retriever, rewarded by its NDCG/Recall.",
    no_args_is_help=True,
)

DATASET = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA.")
POLICY = typer.Option(
    "smollm2-135m-instruct",
    "--policy",
    help="Policy LM: smollm2-135m-instruct, qwen2.5-coder-0.5b-instruct, a folder or hub id.",
)
TASK = " (default: the task's CPU configuration, aptrank.train.rl.grpo.TASK_DEFAULTS)"
STEPS = typer.Option(None, "--steps", min=1, help="GRPO optimizer steps" + TASK)
GENERATIONS = typer.Option(4, "--generations", min=2, help="Completions per prompt (the group).")
BATCH = typer.Option(None, "--batch", min=2, help="Completions per step (prompts x group)" + TASK)
TOKENS = typer.Option(None, "--max-tokens", min=4, help="Tokens per completion" + TASK)
LR = typer.Option(None, "--lr", help="Learning rate (~1e-4 with --lora)" + TASK)
BETA = typer.Option(0.04, "--beta", min=0.0, help="KL coefficient to the initial policy.")
LORA = typer.Option(False, "--lora/--full", help="Train LoRA adapters instead of all weights.")
THREADS = typer.Option(None, "--threads", min=1, help="Torch CPU threads (1 on a busy CPU).")
RETRIEVER = typer.Option("bm25", "--retriever", help="The black-box retriever (any pipeline).")
HELDOUT = typer.Option(100, "--heldout", min=1, help="Training queries held out (measured on).")
TRAIN_QUERIES = typer.Option(0, "--train-queries", min=0, help="Cap on training queries (0: all).")
ZERO_SHOT = typer.Option(
    True, "--zero-shot/--no-zero-shot", help="Also evaluate the untrained policy."
)
SEED = typer.Option(0, "--seed")
SPLIT = typer.Option("test", "--split", "-s", help="Split evaluated after training.")
OUT = typer.Option(None, "--out", "-o", help="Result folder (default: runs/...).")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Log what happens.")


def _grpo(values: dict[str, Any], task: str) -> Any:
    from aptrank.train.rl.grpo import GRPOTrainConfig

    return GRPOTrainConfig.for_task(
        task,
        policy=values["policy"],
        lora=values["lora"],
        num_generations=values["generations"],
        per_device_batch=values["batch"],
        max_completion_length=values["max_tokens"],
        learning_rate=values["lr"],
        beta=values["beta"],
        max_steps=values["steps"],
        seed=values["seed"],
        threads=values["threads"],
    )


def _config(values: dict[str, Any], task: str) -> Any:
    """The RLExperimentConfig of a command's parameters (its ``locals()``)."""
    from aptrank.errors import AptrankError
    from aptrank.train.rl.experiment import RLExperimentConfig
    from aptrank.train.rl.rewards import RewardConfig
    from aptrank.train.rl.summary_reward import SummaryRewardConfig

    reward_cls, field = (
        (RewardConfig, "reward") if task == "rewrite" else (SummaryRewardConfig, "summary_reward")
    )
    try:
        reward = reward_cls(metric=values["metric"], mode=values["mode"])
    except ValueError as e:
        raise AptrankError(str(e)) from None
    extra: dict[str, Any] = {field: reward}
    if task == "summarize":
        extra["summary_docs"] = values["summary_docs"]
    return RLExperimentConfig(
        dataset=values["dataset"],
        task=task,
        retriever=values["retriever"],
        heldout_size=values["heldout"],
        train_queries=values["train_queries"],
        seed=values["seed"],
        eval_split=values["split"],
        grpo=_grpo(values, task),
        zero_shot=values["zero_shot"],
        **extra,
    )


def _run(values: dict[str, Any], task: str) -> None:
    from aptrank.cli._common import default_out, progress_bars, say, set_engine, setup_logging
    from aptrank.train.rl.experiment import run_experiment

    setup_logging(values["verbose"])
    set_engine(values["engine"], values["ray_address"])
    config = _config(values, task)
    out, progress = values["out"], values["progress"]
    folder = out or default_out(f"rl-{config.task}", config.dataset)
    with progress_bars(progress) as bars:
        result = run_experiment(config, folder, progress=bars)
    h = result["heldout"]
    say(
        f"held-out {h['metric']} (retrieval part): {h['before']['retrieval']:.4f} untrained -> "
        f"{h['after']['retrieval']:.4f} trained"
    )
    t = result["curve_tenths"]["reward"]
    if t["n"]:
        say(f"mean reward, first tenth of steps {t['first_tenth']:.4f}, last {t['last_tenth']:.4f}")
    for name, row in result["eval"]["table"].items():
        say(f"  {name:<40} NDCG@10 {row['ndcg@10']:.4f}  R@100 {row['recall@100']:.4f}")
    say(f"policy: {result['training']['policy']}; results in {folder / f'rl-{config.task}.json'}")
    for name, model in result.get("models", {}).items():
        say(f"trained {name} (a pipeline string): {model}")


@app.command("rewrite")
def rewrite(
    dataset: str = DATASET,
    policy: str = POLICY,
    mode: str = typer.Option("replace", "--mode", help="Rewards: replace the query or append."),
    metric: str = typer.Option("ndcg@10", "--metric", help="ndcg@k, recall@k or mrr@k."),
    steps: int | None = STEPS,
    generations: int = GENERATIONS,
    batch: int | None = BATCH,
    max_tokens: int | None = TOKENS,
    lr: float | None = LR,
    beta: float = BETA,
    lora: bool = LORA,
    threads: int = THREADS,
    retriever: str = RETRIEVER,
    heldout: int = HELDOUT,
    train_queries: int = TRAIN_QUERIES,
    zero_shot: bool = ZERO_SHOT,
    seed: int = SEED,
    split: str = SPLIT,
    out: Path = OUT,
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = PROGRESS,
    verbose: bool = VERBOSE,
) -> None:
    """Train a query rewriter with GRPO against the retriever's metric (Rec-R1).

    Measures the retrieval reward on held-out training queries before and after, then scores
    BM25 on original, zero-shot and RL rewrites. The trained rewriter is written to
    OUT/models/rewriter/, a folder that is itself a pipeline string (the rewrite stage and the
    retriever as measured): 'aptrank evaluate DATASET --pipeline OUT/models/rewriter'."""
    _run(locals(), "rewrite")


@app.command("summarize")
def summarize(
    dataset: str = DATASET,
    policy: str = POLICY,
    mode: str = typer.Option(
        "replace", "--mode", help="Rewards: index title + summary (replace) or append it."
    ),
    metric: str = typer.Option("ndcg@100", "--metric", help="ndcg@k, recall@k or mrr@k."),
    summary_docs: int = typer.Option(
        1000, "--summary-docs", min=0, help="Random sub-corpus summarized and evaluated (0: all)."
    ),
    steps: int | None = STEPS,
    generations: int = GENERATIONS,
    batch: int | None = BATCH,
    max_tokens: int | None = TOKENS,
    lr: float | None = LR,
    beta: float = BETA,
    lora: bool = LORA,
    threads: int = THREADS,
    retriever: str = RETRIEVER,
    heldout: int = HELDOUT,
    train_queries: int = TRAIN_QUERIES,
    zero_shot: bool = ZERO_SHOT,
    seed: int = SEED,
    split: str = SPLIT,
    out: Path = OUT,
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = PROGRESS,
    verbose: bool = VERBOSE,
) -> None:
    """Train an item summarizer with GRPO against the retriever's metric (ReLSum).

    The reward is how well each item is retrieved for its training queries when indexed with
    its summary; the test queries are then scored on a random sub-corpus indexed without and
    with the summaries. The summarizer is not a ranker (no pipeline stage uses it), so unlike
    the rewriter it is not written to OUT/models/; its policy stays in OUT/policy/."""
    _run(locals(), "summarize")
