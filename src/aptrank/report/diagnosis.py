"""The diagnosis folder: ``diagnosis.json``, ``diagnosis.md``, ``report.html`` (one file: inline
CSS, plots as data URIs, no external URL) and ``config.json``.

The HTML is rendered from ``Diagnosis.to_dict()``, so a saved ``diagnosis.json`` renders again
with :func:`render_html`.
"""

from __future__ import annotations

import html
import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aptrank.diagnose.summary import (
    CONSTRAINT_VIOLATOR_ROWS,
    SECTION_TITLES,
    SUMMARY_ROWS,
    get,
    pct,
    rankers_of,
    render_markdown,
    stratum_description,
)
from aptrank.diagnose.summary import fmt as _fmt
from aptrank.report.render import _CSS

_EXTRA_CSS = """
.skip{background:#fff4e5;border-left:4px solid #f4a261;padding:.5em 1em;margin:.8em 0}
.note{color:#555;font-size:.92em;max-width:60em}td.txt{max-width:32em}.nowrap{white-space:nowrap}
"""

_NOTES = {
    "association": "Per query: items ranked above the first relevant one, and the margin (best "
    "judged-wrong score minus best relevant score; &gt; 0 means the wrong item wins). Scores are "
    "in each ranker's own units. Relevant items outside the top-k get lower-bound ranks.",
    "separability": "ROC-AUC of the ranker's scores, relevant vs judged-wrong (grade 0) items "
    "scored over the full corpus, and vs its own top non-relevant items (hard negatives). "
    "0.5 = cannot tell them apart.",
    "constraint_pairs": "Every (top-grade, grade-0) pair of a query: is the item that fits the "
    "task scored above the on-topic wrong one? Scored over the full corpus, ties count ½; CI by "
    "bootstrap over queries. Below 0.5 is worse than a coin. v@k: the share of queries with a "
    "judged violator (grade 0) in the top k; FVR: the rank of the first violator, a query with "
    "none in the run counted at depth + 1 (higher is better).",
    "role_flip": "Each query perturbed by rules: flips change its meaning (negation, antonyms, "
    "direction words), controls keep it (case, synonym, word order). Kendall τ and overlap of the "
    "original top-k under each: a ranker that measures association barely moves under a flip.",
    "strata": "The metric over groups of queries, with 95 % bootstrap CIs.",
}


def write_diagnosis(
    diagnosis: Any, out: Path, extra_config: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write the diagnosis folder for a :class:`~aptrank.diagnose.Diagnosis`; returns the files."""
    from aptrank.experiment import package_versions

    out.mkdir(parents=True, exist_ok=True)
    data = diagnosis.to_dict()
    config = {
        **asdict(diagnosis.config),
        **(extra_config or {}),
        "rankers_config": {n: r.config for n, r in diagnosis.rankers.items()},
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
    }
    files = {
        "diagnosis": out / "diagnosis.json",
        "summary": out / "diagnosis.md",
        "report": out / "report.html",
        "config": out / "config.json",
    }
    _atomic(files["diagnosis"], json.dumps(data, indent=1) + "\n")
    _atomic(files["summary"], render_markdown(data))
    _atomic(files["report"], render_html(data))
    _atomic(files["config"], json.dumps(config, indent=2, default=str) + "\n")
    return files


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _img(uri: str | None, alt: str) -> str:
    return f"<img alt='{_e(alt)}' src='{uri}'>" if uri else ""


def _table(header: list[str], rows: list[list[str]], text_cols: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class={'txt' if i < text_cols else 'num'}>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _skipped(data: dict[str, Any], names: list[str]) -> str:
    items = [
        f"<li><b>{_e(n)}</b> — {_e(s)}: {_e(why)}</li>"
        for n in names
        for s, why in data[n].get("skipped", {}).items()
    ]
    if not items:
        return "<p class=muted>Every section applied to this dataset.</p>"
    return f"<div class=skip><b>Skipped</b> (and why)<ul>{''.join(items)}</ul></div>"


def _summary(data: dict[str, Any], names: list[str]) -> str:
    rows = [[_e(label)] + [_e(f(get(data[n], p))) for n in names] for label, p, f in SUMMARY_ROWS]
    metric = get(data[names[0]], "strata.metric")
    if metric:
        rows.insert(
            0,
            [_e(f"{metric}, all evaluated queries")]
            + [_e(_fmt(get(data[n], "strata.overall"))) for n in names],
        )
    return _table(["figure", *names], rows)


def _association(data: dict[str, Any], names: list[str]) -> str:
    from aptrank.report import diagnosis_plots as dp

    parts = [_img(dp.margins(data, names), "per-query margins")]
    for n in names:
        worst = get(data[n], "association.worst") or []
        if not worst:
            continue
        rows = [
            [
                _e(w["query_id"]),
                _e(w["query"]),
                _e(w["top_wrong"] or "—")
                + (" <span class=sig>judged wrong</span>" if w["top_wrong_judged"] else "")
                + f"<br><span class=muted>{_e(w['top_wrong_text'])}</span>",
                f"{'&gt;' if not w['exact'] else ''}{w['first_relevant_rank']}",
                _e(w["items_above"]),
            ]
            for w in worst
        ]
        parts.append(
            f"<details><summary>{_e(n)}: worst queries</summary>"
            + _table(
                ["query", "text", "top wrong item", "first relevant at", "items above"], rows, 3
            )
            + "</details>"
        )
    return "\n".join(parts)


def _constraint_pairs(data: dict[str, Any], names: list[str]) -> str:
    """Pair accuracy and where the first violators rank (v@k, FVR), plots and a table."""
    from aptrank.report import diagnosis_plots as dp

    have = [n for n in names if get(data[n], "constraint_pairs")]
    rows = [
        [_e(label)] + [_e(f(get(data[n], f"constraint_pairs.{key}"))) for n in have]
        for label, key, f in [
            ("accuracy, ties as ½", "accuracy_ci", pct),
            *CONSTRAINT_VIOLATOR_ROWS,
        ]
    ]
    return (
        _img(dp.constraint_accuracy(data, names), "pair accuracy")
        + _img(dp.violators_at(data, names), "violators in the top k")
        + (_table(["figure", *have], rows) if have else "")
        + _parsed_constraints(data.get("_meta", {}))
    )


def _parsed_constraints(meta: dict[str, Any]) -> str:
    """Each query's topical part and constraints as the constraint parser read them."""
    parsed = meta.get("constraints") or {}
    if not parsed:
        return ""
    rows = [
        [
            _e(qid),
            _e(p["query"]),
            _e(p["topic"]),
            "<br>".join(
                f"<b>{_e(c['kind'])}</b> ({_e(c['cue'])}): {_e(c['text'])}"
                for c in p["constraints"]
            ),
        ]
        for qid, p in parsed.items()
    ]
    n = meta.get("n_queries", 0)
    return (
        f"<details><summary>Constraints found in {len(parsed)} of {n} queries "
        "(the constraint parser)</summary>"
        + _table(["query", "text", "topical part", "constraints"], rows, 4)
        + "</details>"
    )


def _role_flip(data: dict[str, Any], names: list[str]) -> str:
    from aptrank.report import diagnosis_plots as dp

    meta = data.get("_meta", {})
    fired = meta.get("rules_fired") or {}
    parts = [_img(dp.role_flip(data, names), "role-flip sensitivity")]
    if fired:
        n = meta.get("n_queries", 0)
        parts.append(
            "<p>Rules fired (queries out of "
            + _e(n)
            + "): "
            + ", ".join(f"<code>{_e(r)}</code> {c}" for r, c in fired.items())
            + "</p>"
        )
    rules = sorted({r for n in names for r in (get(data[n], "role_flip.by_rule") or {})})
    rows = []
    for r in rules:
        cells = []
        for n in names:
            s = (get(data[n], "role_flip.by_rule") or {}).get(r)
            cells.append("—" if s is None else _movement(s))
        rows.append([_e(r), *cells])
    if rows:
        parts.append(
            "<p class=note>Per rule: mean Kendall τ and overlap of the top-k, mean |score change| "
            "over the top-k score spread (Δ), share of perturbed queries whose scores did not "
            "move at all (same).</p>"
            + _table(["rule", *names], rows).replace("<td class=num>", "<td class='num nowrap'>")
        )
    return "\n".join(parts)


def _movement(s: dict[str, Any]) -> str:
    tau, overlap = _fmt(s["kendall_tau"].get("value"), 2), _fmt(s["overlap"].get("value"), 2)
    rel = _fmt(s["relative_delta"], 2)
    return f"τ {tau} · overlap {overlap} · Δ {rel} · same {100 * s['identical']:.0f}%"


def _strata(data: dict[str, Any], names: list[str]) -> str:
    from aptrank.report import diagnosis_plots as dp

    metric = get(data[names[0]], "strata.metric") or "metric"
    seen: list[str] = []
    for n in names:
        seen += [s for s in get(data[n], "strata.strata") or {} if s not in seen]
    parts = []
    for s in seen:
        desc = stratum_description(data, names, s)
        parts.append(f"<h3>{_e(s)}</h3><p class=note>{_e(desc)}</p>")
        parts.append(_img(dp.stratum(data, names, s, metric), f"strata {s}"))
    return "\n".join(parts)


def _section(name: str, data: dict[str, Any], names: list[str]) -> str:
    from aptrank.report import diagnosis_plots as dp

    body = {
        "association": lambda: _association(data, names),
        "separability": lambda: (
            _img(dp.separability(data, names), "AUC")
            + _img(dp.score_histograms(data, names), "score histograms")
        ),
        "constraint_pairs": lambda: _constraint_pairs(data, names),
        "role_flip": lambda: _role_flip(data, names),
        "strata": lambda: _strata(data, names),
    }[name]()
    missing = [
        f"{_e(n)}: {_e(data[n]['skipped'][name])}"
        for n in names
        if name in data[n].get("skipped", {})
    ]
    skip = f"<div class=skip>Skipped for {'; '.join(missing)}</div>" if missing else ""
    return f"<h2>{_e(SECTION_TITLES[name])}</h2><p class=note>{_NOTES[name]}</p>{skip}{body}"


def render_html(data: dict[str, Any]) -> str:
    """The self-contained report for a diagnosis dict (``Diagnosis.to_dict()``)."""
    meta = data.get("_meta", {})
    names = rankers_of(data)
    title = f"aptrank diagnose: {meta.get('dataset')}"
    facts = [
        ("dataset", f"{meta.get('dataset')} (split {meta.get('split')})"),
        ("documents", f"{meta.get('n_docs', 0):,}"),
        ("judged queries", f"{meta.get('n_queries', 0):,}"),
        ("without a relevant item (left out)", f"{meta.get('n_without_relevant', 0):,}"),
        ("with a judged-wrong item", f"{meta.get('n_with_wrong', 0):,}"),
        ("rankers", ", ".join(names)),
        ("depth", f"top {get(meta, 'config.depth')}"),
    ]
    body = [f"<h1>{_e(title)}</h1>", _table(["", ""], [[_e(k), _e(v)] for k, v in facts], 2)]
    body += [_skipped(data, names), "<h2>Side by side</h2>", _summary(data, names)]
    sections = meta.get("sections") or list(SECTION_TITLES)
    body += [_section(s, data, names) for s in sections if s in SECTION_TITLES]
    config = json.dumps(meta.get("config", {}), indent=2)
    body.append(
        f"<h2>Configuration</h2><details><summary>config</summary><pre>{_e(config)}</pre></details>"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}{_EXTRA_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
