"""Plots as base64 PNG data URIs (matplotlib, headless), so a report is one file."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_data_uri(fig) -> str:  # type: ignore[no-untyped-def]
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def metric_bars(means: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> str:
    """Grouped bars: one group per metric, one bar per pipeline."""
    plt = _pyplot()
    systems = list(means)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(metrics)), 3.2))
    width = 0.8 / max(1, len(systems))
    x = np.arange(len(metrics))
    for i, system in enumerate(systems):
        vals = [means[system].get(m, 0.0) for m in metrics]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=system)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("mean over evaluated queries")
    return to_data_uri(fig)


def per_query_distribution(per_query: Mapping[str, Mapping[str, float]], metric: str) -> str:
    """Histogram of a metric's per-query values for each pipeline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    bins = np.linspace(0, 1, 21)
    for system, values in per_query.items():
        ax.hist(list(values.values()), bins=bins, histtype="step", linewidth=1.5, label=system)
    ax.set_xlabel(f"per-query {metric}")
    ax.set_ylabel("queries")
    ax.legend(fontsize=8)
    return to_data_uri(fig)


def per_query_delta(
    baseline: Mapping[str, float],
    other: Mapping[str, float],
    name: str,
    base_name: str,
    metric: str,
) -> str:
    """Sorted per-query differences of ``other`` minus ``baseline``: where it wins and loses."""
    plt = _pyplot()
    qids = sorted(baseline)
    delta = np.sort([other.get(q, 0.0) - baseline[q] for q in qids])[::-1]
    fig, ax = plt.subplots(figsize=(6.0, 2.6))
    colors = ["#2a9d8f" if d > 0 else "#e76f51" if d < 0 else "#999999" for d in delta]
    ax.bar(np.arange(len(delta)), delta, width=1.0, color=colors)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("queries, sorted by difference")
    ax.set_ylabel(f"Δ {metric}")
    wins, losses = int((delta > 0).sum()), int((delta < 0).sum())
    ax.set_title(f"{name} vs {base_name}: {wins} wins, {losses} losses", fontsize=9)
    return to_data_uri(fig)


def scaling_curve(
    sizes: Sequence[int],
    scores: Mapping[str, Sequence[float] | Mapping[int, float]],
    references: Mapping[str, float],
    metric: str = "NDCG@10",
) -> str:
    """Student quality against the number of teacher-labeled synthetic queries.

    ``scores`` maps a line label (e.g. "student, test") to one value per size of ``sizes``, or
    to its own ``{size: value}`` (a curve measured at other sizes); ``references`` are
    horizontal lines (the teacher, the baselines). The x axis is symmetric-log so the
    human-only point (0 synthetic queries) sits on it.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    xs = set(sizes)
    for label, values in scores.items():
        if isinstance(values, Mapping):
            points = sorted(values.items())
            xs.update(x for x, _ in points)
        else:
            points = list(zip(sizes, values, strict=True))
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label)
    styles = ["--", ":", "-.", (0, (5, 1))]
    for i, (label, value) in enumerate(references.items()):
        ax.axhline(
            value,
            linestyle=styles[i % len(styles)],
            color=f"C{i + len(scores)}",
            label=f"{label} ({value:.3f})",
        )
    ax.set_xscale("symlog", linthresh=max(1, min([s for s in xs if s > 0], default=1)))
    ax.set_xlabel("teacher-labeled synthetic queries (0 = human judgments only)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("student quality against the amount of teacher-labeled data")
    return to_data_uri(fig)


def _rolling(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over ``window`` points (fewer at the start).

    >>> _rolling([1.0, 3.0, 5.0], 2)
    [1.0, 2.0, 4.0]
    """
    out = []
    for i in range(len(values)):
        part = values[max(0, i - window + 1) : i + 1]
        out.append(float(sum(part) / len(part)))
    return out


def reward_curves(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """GRPO reward curves: per task (a line label), the mean total reward per optimizer step
    (thin) with its trailing mean over a tenth of the steps (bold) and the retrieval part's
    trailing mean (dashed), left; the KL to the initial policy, right. One step's reward is a
    mean over a few prompts, so it jumps with their difficulty; the trailing mean shows the
    trend."""
    plt = _pyplot()
    fig, (ax, kl) = plt.subplots(1, 2, figsize=(9.6, 3.4))
    for i, (label, points) in enumerate(curves.items()):
        steps = [p["step"] for p in points]
        window = max(1, len(points) // 10)
        reward = [p["reward"] for p in points]
        retrieval = [p["retrieval"] for p in points]
        ax.plot(steps, reward, color=f"C{i}", alpha=0.3, linewidth=0.8)
        ax.plot(
            steps,
            _rolling(reward, window),
            color=f"C{i}",
            label=f"{label}: reward ({window}-step mean)",
        )
        ax.plot(
            steps,
            _rolling(retrieval, window),
            color=f"C{i}",
            linestyle="--",
            label=f"{label}: retrieval part",
        )
        kl.plot(steps, [p["kl"] for p in points], color=f"C{i}", label=label)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean reward")
    ax.legend(fontsize=7)
    ax.set_title("reward per step")
    kl.set_xlabel("GRPO step")
    kl.set_ylabel("KL to the initial policy")
    kl.legend(fontsize=7)
    kl.set_title("KL per step")
    fig.tight_layout()
    return to_data_uri(fig)
