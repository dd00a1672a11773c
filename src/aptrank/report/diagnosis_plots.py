"""The diagnosis report's plots (matplotlib → PNG data URIs), drawn from ``Diagnosis.to_dict()``:
every ranker side by side in each figure."""

from __future__ import annotations

from typing import Any

import numpy as np

from aptrank.report.plots import _pyplot, to_data_uri

_COLORS = {"relevant": "#2a9d8f", "judged_wrong": "#e76f51", "hard_negatives": "#8d99ae"}


def _get(d: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _panels(n: int, width: float = 4.2, height: float = 3.0):  # type: ignore[no-untyped-def]
    plt = _pyplot()
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


def score_histograms(data: dict[str, Any], rankers: list[str]) -> str | None:
    """Score distributions of relevant, judged-wrong and top non-relevant items, per ranker."""
    have = [r for r in rankers if _get(data[r], "separability", "histogram", "edges")]
    if not have:
        return None
    fig, axes = _panels(len(have))
    for ax, name in zip(axes, have):
        hist = data[name]["separability"]["histogram"]
        edges = np.asarray(hist["edges"])
        for group, color in _COLORS.items():
            counts = np.asarray(hist.get(group) or [])
            if counts.sum() == 0:
                continue
            share = counts / counts.sum()
            label = f"{group.replace('_', ' ')} ({int(counts.sum())})"
            ax.stairs(share, edges, color=color, linewidth=1.6, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("score")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("share of items")
    return to_data_uri(fig)


def margins(data: dict[str, Any], rankers: list[str]) -> str | None:
    """Per-query margins (best wrong minus best relevant score), sorted, per ranker."""
    have = [r for r in rankers if _get(data[r], "association", "per_query")]
    if not have:
        return None
    fig, axes = _panels(len(have), height=2.8)
    for ax, name in zip(axes, have):
        per_query = data[name]["association"]["per_query"].values()
        judged = any(q["margin"] is not None for q in per_query)
        key = "margin" if judged else "margin_nonrelevant"
        values = np.sort([q[key] for q in per_query if q[key] is not None])[::-1]
        colors = ["#e76f51" if v > 0 else "#2a9d8f" for v in values]
        ax.bar(np.arange(len(values)), values, width=1.0, color=colors)
        ax.axhline(0, color="black", linewidth=0.6)
        wins = int((values > 0).sum())
        what = "judged-wrong" if judged else "non-relevant"
        # two lines: a long ranker name would run into its neighbour's title
        ax.set_title(f"{name}\n{what} item wins in {wins}/{len(values)}", fontsize=9)
        ax.set_xlabel("queries, sorted")
    axes[0].set_ylabel("best wrong − best relevant")
    return to_data_uri(fig)


def interval_bars(
    groups: list[str],
    series: dict[str, list[dict[str, Any] | None]],
    ylabel: str,
    chance: float | None = None,
    ylim: tuple[float, float] | None = (0.0, 1.05),
    title: str = "",
) -> str | None:
    """Grouped bars with CI whiskers: one group per x label, one bar per series.

    ``series[name][i]`` is ``{"value", "low", "high"}`` for group ``i`` (or None: no bar)."""
    if not any(v and v.get("value") is not None for vals in series.values() for v in vals):
        return None
    plt = _pyplot()
    width_in = min(11.0, max(5.5, 1.0 * len(groups) * (1 + 0.5 * len(series))))
    fig, ax = plt.subplots(figsize=(width_in, 3.0))
    width = min(0.5, 0.8 / max(1, len(series)))
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        pos = x + (i - (len(series) - 1) / 2) * width
        vals = [v["value"] if v and v.get("value") is not None else np.nan for v in values]
        low = [v["value"] - v["low"] if v and v.get("low") is not None else 0 for v in values]
        high = [v["high"] - v["value"] if v and v.get("high") is not None else 0 for v in values]
        bars = ax.bar(pos, vals, width, label=label, yerr=[low, high], capsize=3)
        texts = ["" if np.isnan(v) else f"{v:.3f}" for v in vals]
        ax.bar_label(bars, labels=texts, fontsize=7, padding=2)
    if chance is not None:
        ax.axhline(chance, color="#555", linestyle="--", linewidth=0.8, label="chance")
    ax.set_xticks(x, groups, fontsize=8)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return to_data_uri(fig)


def constraint_accuracy(data: dict[str, Any], rankers: list[str]) -> str | None:
    values = [_get(data[r], "constraint_pairs", "accuracy_ci") for r in rankers]
    return interval_bars(
        rankers,
        {"pair accuracy (ties ½)": values},
        "share of pairs",
        chance=0.5,
        title="top-grade item scored above the judged-wrong one (95 % CI over queries)",
    )


def violators_at(data: dict[str, Any], rankers: list[str]) -> str | None:
    """``v@k``: the share of queries with a judged violator in the top k, one bar per ranker
    (the mean rank of the first violator in the legend)."""
    have = [r for r in rankers if _get(data[r], "constraint_pairs", "v@1") is not None]
    if not have:
        return None
    cutoffs = [
        k
        for k in ("v@1", "v@2", "v@5", "v@10")
        if _get(data[have[0]], "constraint_pairs", k) is not None
    ]
    series: dict[str, list[dict[str, Any] | None]] = {}
    for r in have:
        cp = data[r]["constraint_pairs"]
        label = f"{r} (FVR mean {cp.get('fvr_mean', float('nan')):.1f})"
        series[label] = [{"value": cp[k]} for k in cutoffs]
    return interval_bars(
        cutoffs,
        series,
        "share of queries",
        title="a judged violator in the top k (lower is better)",
    )


def separability(data: dict[str, Any], rankers: list[str]) -> str | None:
    series = {
        label: [_get(data[r], "separability", part, "mean_auc") for r in rankers]
        for label, part in (
            ("vs judged wrong", "vs_judged_wrong"),
            ("vs top non-relevant", "vs_hard_negatives"),
        )
    }
    return interval_bars(rankers, series, "mean per-query ROC-AUC", chance=0.5)


def role_flip(data: dict[str, Any], rankers: list[str]) -> str | None:
    series = {
        f"{kind} {what}": [_get(data[r], "role_flip", "by_kind", kind, key) for r in rankers]
        for key, what in (("kendall_tau", "τ"), ("overlap", "overlap"))
        for kind in ("flip", "control")
    }
    return interval_bars(
        rankers,
        series,
        "top-k kept (1 = unmoved)",
        ylim=(-0.1, 1.1),
        title="how much the top-k moves: role flips vs meaning-preserving controls",
    )


def stratum(data: dict[str, Any], rankers: list[str], name: str, metric: str) -> str | None:
    """One stratum: a group of bars per group label, one bar per ranker, with CIs."""
    per = {r: _get(data[r], "strata", "strata", name) or {} for r in rankers}
    labels: list[str] = []
    for r in rankers:
        labels += [g["label"] for g in per[r].get("groups", []) if g["label"] not in labels]
    if not labels:
        return None
    series = {
        r: [
            next((g for g in per[r].get("groups", []) if g["label"] == lab), None) for lab in labels
        ]
        for r in rankers
    }
    counts = {
        lab: next(
            (g["n"] for r in rankers for g in per[r].get("groups", []) if g["label"] == lab), 0
        )
        for lab in labels
    }
    ticks = [f"{lab}\n(n={counts[lab]})" for lab in labels]
    return interval_bars(ticks, series, metric, title=name)
