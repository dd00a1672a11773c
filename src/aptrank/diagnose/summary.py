"""The markdown summary of a diagnosis, rendered from its ``to_dict()`` (so a saved
``diagnosis.json`` renders the same way): rankers side by side, one table per section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SECTION_TITLES = {
    "association": "Wrong but associated",
    "separability": "Separability",
    "constraint_pairs": "Constraint pairs",
    "role_flip": "Role-flip sensitivity",
    "strata": "Strata",
}


def get(d: Any, path: str) -> Any:
    """``d[a][b]...`` for ``path = "a.b..."``, None where a key is missing."""
    for key in path.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def fmt(value: Any, digits: int = 3) -> str:
    """A figure for a table: CIs as ``v [lo, hi]``, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, dict) and "value" in value:
        if value.get("value") is None:
            return "—"
        lo, hi = value.get("low"), value.get("high")
        ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None and hi is not None else ""
        return f"{value['value']:.{digits}f}{ci}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: Any) -> str:
    """A share as a percentage (CIs too)."""
    if isinstance(value, dict) and value.get("value") is not None:
        lo, hi = value.get("low"), value.get("high")
        ci = f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None and hi is not None else ""
        return f"{100 * value['value']:.1f} %{ci}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.1f} %"
    return "—"


#: (label, key under ``constraint_pairs``, formatter): where the first judged violators rank.
CONSTRAINT_VIOLATOR_ROWS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("v@1: a judged violator at rank 1", "v@1", pct),
    ("v@2", "v@2", pct),
    ("v@5", "v@5", pct),
    ("v@10", "v@10", pct),
    ("FVR mean: rank of the first violator (none in the run: depth + 1)", "fvr_mean", fmt),
    ("FVR median", "fvr_median", fmt),
    ("first violator above every top-grade item", "share_violator_first", pct),
]
#: the ones the side-by-side summary shows
_SUMMARY_VIOLATOR_KEYS = ("v@1", "v@10", "fvr_mean", "share_violator_first")

#: (label, path in a ranker's dict, formatter) rows of the side-by-side summary.
SUMMARY_ROWS: list[tuple[str, str, Callable[[Any], str]]] = [
    (
        "queries with the first relevant item at rank 1",
        "association.share_first_relevant_top1",
        pct,
    ),
    ("mean items above the first relevant", "association.mean_items_above", fmt),
    ("a judged-wrong item outranks every relevant one", "association.wrong_outranks_all", pct),
    ("AUC relevant vs judged wrong (mean per query)", "separability.vs_judged_wrong.mean_auc", fmt),
    (
        "AUC relevant vs top non-relevant (mean per query)",
        "separability.vs_hard_negatives.mean_auc",
        fmt,
    ),
    ("constraint-pair accuracy (ties ½)", "constraint_pairs.accuracy_ci", pct),
    *(
        (label, f"constraint_pairs.{key}", f)
        for label, key, f in CONSTRAINT_VIOLATOR_ROWS
        if key in _SUMMARY_VIOLATOR_KEYS
    ),
    ("Kendall τ of the top-k under role flips", "role_flip.by_kind.flip.kendall_tau", fmt),
    ("Kendall τ of the top-k under controls", "role_flip.by_kind.control.kendall_tau", fmt),
    ("τ gap (control − flip; ≈0: blind to roles)", "role_flip.tau_gap", fmt),
]


def rankers_of(data: dict[str, Any]) -> list[str]:
    return [k for k in data if k != "_meta"]


def _table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A markdown table; ``align`` has one letter per column (``l``/``r``), default ``lrr...``."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(data: dict[str, Any]) -> str:
    meta = data.get("_meta", {})
    names = rankers_of(data)
    lines = [f"# aptrank diagnose: {meta.get('dataset')} (split {meta.get('split')})", ""]
    lines += [
        f"- **documents**: {meta.get('n_docs', 0):,}",
        f"- **judged queries**: {meta.get('n_queries', 0):,}; "
        f"{meta.get('n_with_wrong', 0):,} with a judged-wrong (grade 0) item",
        f"- **queries without a relevant item**: {meta.get('n_without_relevant', 0):,} "
        "(left out of every figure that needs one)",
        f"- **rankers**: {', '.join(names)}",
        f"- **depth**: top {get(meta, 'config.depth')}; CIs: {get(meta, 'config.resamples')} "
        "bootstrap resamples over queries, 95 %",
        "",
    ]
    lines += _skipped_lines(data, names)
    lines += ["## Side by side", "", *side_by_side(data)]
    lines += _association(data, names) + _constraints(data, names) + _role_flip(data, names, meta)
    lines += _strata(data, names)
    return "\n".join(lines).rstrip() + "\n"


def side_by_side(data: dict[str, Any]) -> list[str]:
    """The headline figures of every ranker as one markdown table."""
    return _table(*side_by_side_rows(data))


def side_by_side_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The headline figures of every ranker: (header, rows), formatted."""
    names = rankers_of(data)
    rows = [[label] + [f(get(data[n], path)) for n in names] for label, path, f in SUMMARY_ROWS]
    metric = get(data[names[0]], "strata.metric") if names else None
    if metric:
        rows.insert(
            0,
            [f"{metric} (all evaluated queries)"]
            + [fmt(get(data[n], "strata.overall")) for n in names],
        )
    return ["figure", *names], rows


def _skipped_lines(data: dict[str, Any], names: list[str]) -> list[str]:
    out = []
    for n in names:
        out += [f"- **{n}** — {s}: {why}" for s, why in data[n].get("skipped", {}).items()]
    return (["## Skipped", "", *out, ""]) if out else ["Every section applied to this dataset.", ""]


def _association(data: dict[str, Any], names: list[str]) -> list[str]:
    lines = ["## Wrong but associated: worst queries", ""]
    for n in names:
        worst = get(data[n], "association.worst") or []
        if not worst:
            continue
        lines += [f"### {n}", ""]
        rows = [
            [
                str(w["query_id"]),
                w["query"][:100],
                f"{'' if w['exact'] else '>'}{w['first_relevant_rank']}",
                str(w["items_above"]),
                f"{w['top_wrong']}{' (judged wrong)' if w['top_wrong_judged'] else ''}: "
                f"{w['top_wrong_text'][:80]}",
            ]
            for w in worst
        ]
        header = ["query", "text", "first relevant", "above it", "top wrong item"]
        lines += _table(header, rows, "llrrl")
    return lines


def _constraints(data: dict[str, Any], names: list[str]) -> list[str]:
    have = [n for n in names if get(data[n], "constraint_pairs")]
    if not have:
        return []
    paths = [
        ("queries with pairs", "n_queries", fmt),
        ("pairs", "n_pairs", fmt),
        ("accuracy, ties as ½", "accuracy_ci", pct),
        ("accuracy, ties as losses", "strict_accuracy", pct),
        ("tied pairs", "ties", fmt),
        ("mean violators in the top-k", "mean_violators_in_topk", fmt),
        *CONSTRAINT_VIOLATOR_ROWS,
    ]
    rows = [
        [label] + [f(get(data[n], f"constraint_pairs.{p}")) for n in have] for label, p, f in paths
    ]
    return ["## Constraint pairs", "", *_table(["figure", *have], rows)]


def _role_flip(data: dict[str, Any], names: list[str], meta: dict[str, Any]) -> list[str]:
    lines = ["## Role-flip sensitivity", ""]
    fired = meta.get("rules_fired") or {}
    if fired:
        lines.append("Rules fired (queries): " + ", ".join(f"{r} {c}" for r, c in fired.items()))
        lines.append("")
    rules = sorted({r for n in names for r in (get(data[n], "role_flip.by_rule") or {})})
    if not rules:
        return lines
    rows = [
        [r]
        + [
            f"τ {fmt(get(data[n], f'role_flip.by_rule.{r}.kendall_tau.value'), 2)}, "
            f"overlap {fmt(get(data[n], f'role_flip.by_rule.{r}.overlap.value'), 2)}"
            for n in names
        ]
        for r in rules
    ]
    return lines + _table(["rule", *names], rows)


def stratum_description(data: dict[str, Any], names: list[str], stratum: str) -> str:
    """The stratum's description; per ranker when they differ (per-ranker quartiles)."""
    descs = {
        n: (get(data[n], "strata.strata") or {}).get(stratum, {}).get("description") for n in names
    }
    found = {n: d for n, d in descs.items() if d}
    if len(set(found.values())) <= 1:
        return next(iter(found.values()), "")
    return " / ".join(f"{n}: {d}" for n, d in found.items())


def _strata(data: dict[str, Any], names: list[str]) -> list[str]:
    lines = ["## Strata", ""]
    strata_names: list[str] = []
    for n in names:
        strata_names += [s for s in get(data[n], "strata.strata") or {} if s not in strata_names]
    for s in strata_names:
        per = {n: (get(data[n], "strata.strata") or {}).get(s, {}) for n in names}
        lines += [f"### {s}", "", stratum_description(data, names, s), ""]
        labels: list[str] = []
        for n in names:
            labels += [g["label"] for g in per[n].get("groups", []) if g["label"] not in labels]
        rows = []
        for label in labels:
            row, count = [], ""
            for n in names:
                groups = per[n].get("groups", [])
                g = next((g for g in groups if g["label"] == label), None)
                row.append(fmt(g) if g else "—")
                count = str(g["n"]) if g else count
            rows.append([label, count, *row])
        lines += _table(["group", "queries", *names], rows)
    return lines
