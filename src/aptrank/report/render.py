"""The run folder's ``summary.md`` and ``report.html`` (one file: inline CSS, embedded plots)."""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aptrank.report import plots

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1050px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}th,td{padding:.3em .7em;border-bottom:1px solid #eee}
th{background:#f6f6f6;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.best{font-weight:700}.sig{color:#b5179e}.muted{color:#777;font-size:.9em}
img{max-width:100%}pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}
code{background:#f3f3f3;padding:0 .2em}
"""


def write_report(result: Any, out: Path) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``report.html`` for a :class:`~aptrank.job.RunResult`."""
    out.mkdir(parents=True, exist_ok=True)
    md = out / "summary.md"
    page = out / "report.html"
    md.write_text(render_markdown(result), encoding="utf-8")
    page.write_text(render_html(result), encoding="utf-8")
    return md, page


def _header(result: Any) -> tuple[str, list[tuple[str, str]]]:
    exp = result.experiment
    cfg = result.config
    facts = [("dataset", f"{cfg.dataset} (split {cfg.split})")]
    if exp is not None:
        ds = exp.dataset
        facts += [
            ("documents", f"{len(ds.corpus):,}"),
            ("queries evaluated", f"{exp.comparison.n_queries:,}"),
            ("judgments", f"{sum(len(j) for j in ds.qrels.values()):,}"),
        ]
    facts.append(("steps", ", ".join(cfg.steps)))
    facts.append(("created", datetime.now(timezone.utc).isoformat(timespec="seconds")))
    return f"aptrank run: {cfg.dataset}", facts


def render_markdown(result: Any) -> str:
    title, facts = _header(result)
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts]
    lines.append("")
    exp = result.experiment
    if exp is not None:
        lines += ["## Metrics", "", exp.comparison.to_markdown().rstrip(), "", "## Time", ""]
        lines += ["| pipeline | seconds |", "|:---|---:|"]
        lines += [f"| {r.pipeline} | {r.seconds:.1f} |" for r in exp.results]
        lines.append("")
    if getattr(result, "diagnosis", None) is not None:
        from aptrank.diagnose.summary import side_by_side

        lines += ["## Diagnosis", "", *side_by_side(result.diagnosis.to_dict()), ""]
        lines += ["Every figure, the worst queries and the plots: `diagnosis/report.html`.", ""]
    if getattr(result, "align", None):
        header, rows = align_rows(result.align)
        lines += ["## Alignment", "", align_summary(result.align), ""]
        lines += ["| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    if getattr(result, "distill", None):
        header, rows = curve_rows(result)
        lines += ["## Distillation", "", "| " + " | ".join(header) + " |"]
        lines.append("|:---|---:|---:|---:|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    for task, r in (getattr(result, "rl", None) or {}).items():
        header, rows = rl_rows(r)
        lines += [f"## RL: {task}", "", *rl_summary(r), "", "| " + " | ".join(header) + " |"]
        lines.append("|:---|" + "---:|" * (len(header) - 1))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    if result.skipped:
        lines += ["## Skipped steps", ""]
        lines += [f"- {name}: {why}" for name, why in result.skipped.items()]
        lines.append("")
    lines.append(
        "Run files are under `runs/`; `metrics.json` and `per_query.json` hold the figures."
    )
    return "\n".join(lines) + "\n"


def _metrics_table(comparison: Any) -> str:
    means = comparison.means_dict()
    metrics = list(comparison.metrics)
    best = {m: max(round(v[m], 4) for v in means.values()) for m in metrics}
    rows = [
        "<tr><th>pipeline</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in metrics) + "</tr>"
    ]
    for system, values in means.items():
        label = html.escape(system) + (
            " <span class=muted>(baseline)</span>" if system == comparison.baseline else ""
        )
        cells = []
        for m in metrics:
            test = comparison.tests.get(system, {}).get(m)
            mark = "<span class=sig>†</span>" if test is not None and test.significant else ""
            cls = "num best" if round(values[m], 4) == best[m] else "num"
            title = f' title="Δ={test.mean_delta:+.4f}, p={test.p_value:.3g}"' if test else ""
            cells.append(f"<td class='{cls}'{title}>{values[m]:.4f}{mark}</td>")
        rows.append(f"<tr><td>{label}</td>{''.join(cells)}</tr>")
    legend = html.escape(comparison.legend())
    return f"<table>{''.join(rows)}</table><p class=muted>{legend}</p>"


def _plots_html(comparison: Any) -> str:
    metrics = list(comparison.metrics)
    per_query = comparison.per_query_dict()
    main = metrics[0]
    parts = [f"<img alt='metrics' src='{plots.metric_bars(comparison.means_dict(), metrics)}'>"]
    dist = plots.per_query_distribution({s: v[main] for s, v in per_query.items()}, main)
    parts.append(f"<h3>Per-query {html.escape(main)}</h3><img alt='distribution' src='{dist}'>")
    base = comparison.baseline
    for system in per_query:
        if base is None or system == base:
            continue
        uri = plots.per_query_delta(
            per_query[base][main], per_query[system][main], system, base, main
        )
        parts.append(f"<img alt='delta {html.escape(system)}' src='{uri}'>")
    return "\n".join(parts)


def _diagnosis_html(diagnosis: Any) -> str:
    """The diagnosis headline table, linking to its full report (diagnosis/report.html)."""
    from aptrank.diagnose.summary import side_by_side_rows

    header, rows = side_by_side_rows(diagnosis.to_dict())
    table = ["<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"]
    for first, *rest in rows:
        tds = "".join(f"<td class=num>{html.escape(c)}</td>" for c in rest)
        table.append(f"<tr><td>{html.escape(first)}</td>{tds}</tr>")
    return (
        "<h2>Diagnosis</h2><p>Where and why the pretrained rankers fail on this task. "
        "<a href='diagnosis/report.html'>The full diagnosis report</a> has every section, the "
        f"worst queries and the plots.</p><table>{''.join(table)}</table>"
    )


def curve_rows(result: Any) -> tuple[list[str], list[list[str]]]:
    """The distillation curve as table rows: the teacher, then one row per student."""
    teach, dist = getattr(result, "teach", None) or {}, result.distill
    header = ["ranker", "synthetic queries", "dev NDCG@10", "test NDCG@10"]
    rows = []
    t = teach.get("teacher") or {}
    if t:
        test = t.get("test_ndcg10")
        rows.append(
            [
                "teacher " + t["spec"],
                "",
                f"{t['dev_ndcg10']:.4f}",
                f"{test:.4f}" if test is not None else "n/a",
            ]
        )
        rows.append(
            [
                f"first stage ({teach['config']['first_stage']})",
                "",
                f"{t['first_stage_dev_ndcg10']:.4f}",
                f"{t['first_stage_test_ndcg10']:.4f}"
                if t.get("first_stage_test_ndcg10") is not None
                else "n/a",
            ]
        )
    selected = dist["selected"]["size"]
    for size, st in dist["students"].items():
        mark = " (selected on dev)" if int(size) == selected else ""
        rows.append([f"student{mark}", size, f"{st['dev_ndcg10']:.4f}", f"{st['test_ndcg10']:.4f}"])
    return header, rows


def rl_summary(r: dict[str, Any]) -> list[str]:
    """What an RL experiment shows, in sentences: held-out before/after, curve tenths."""
    h, t = r["heldout"], r["curve_tenths"]["reward"]
    lines = [
        f"Held-out training queries ({r['queries']['heldout']}): retrieval part of the reward "
        f"({h['metric']}) {h['before']['retrieval']:.4f} with the untrained policy, "
        f"{h['after']['retrieval']:.4f} after {r['training']['steps']} GRPO steps."
    ]
    if t["n"]:
        lines.append(
            f"Mean reward of the first tenth of steps {t['first_tenth']:.4f}, "
            f"of the last tenth {t['last_tenth']:.4f}."
        )
    return lines


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def align_summary(a: dict[str, Any]) -> str:
    """One paragraph: what was kept as models/aligned and why."""
    s = a["selected"]
    if a.get("mode"):  # k-fold: no dev slice, every figure out of fold
        return (
            f"`models/aligned` is `{s['candidate']}`, chosen by {s['by']}, then refitted on all "
            f"judged queries; every figure below is {a['mode']} ({a['folds']} folds): each query "
            "scored only by models trained without it. The refitted model is never scored on "
            "the queries it was trained on."
        )
    return (
        f"`models/aligned` is `{s['candidate']}`, the best on the dev slice "
        f"({len(a['dev_queries'])} training queries) among the candidates at least as good as "
        f"the pretrained fusion on the dev queries whose relevant items no training query shares "
        f"({s['guard']}). Unseen: the {a['unseen']['queries']} evaluated queries none of whose "
        "relevant items was relevant in training; a gain elsewhere can be a learned prior over "
        "which items are relevant."
    )


def align_rows(a: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every aligned candidate: dev figures, then the evaluation split over all and unseen."""
    header = ["ranker", "dev NDCG@10", "dev unseen", "NDCG@10", "recall@100", "unseen NDCG@10"]
    dev, dev_unseen = a["dev_ndcg@10"], a["dev_unseen"]["ndcg@10"]
    rows = []
    for name, t in a["test"].items():
        rows.append(
            [
                name,
                _num(dev.get(name)),
                _num(dev_unseen.get(name)),
                f"{t['ndcg@10']:.4f}",
                f"{t['recall@100']:.4f}",
                _num(a["unseen"]["ndcg@10"].get(name)),
            ]
        )
    return header, rows


def _align_html(a: dict[str, Any]) -> str:
    header, rows = align_rows(a)
    table = ["<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"]
    table += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    return (
        f"<h2>Alignment</h2><p>{html.escape(align_summary(a))}</p><table>{''.join(table)}</table>"
    )


def rl_rows(r: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The RL evaluation table: one row per configuration."""
    ev = r["eval"]
    header = ["configuration", *(f"{ev['split']} {m}" for m in ev["metrics"])]
    rows = [[name, *(f"{row[m]:.4f}" for m in ev["metrics"])] for name, row in ev["table"].items()]
    return header, rows


def _rl_html(result: Any) -> str:
    experiments = getattr(result, "rl", None) or {}
    parts = []
    for task, r in experiments.items():
        header, rows = rl_rows(r)
        table = ["<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"]
        table += [
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        ]
        text = " ".join(html.escape(s) for s in rl_summary(r))
        parts.append(f"<h3>{html.escape(task)}</h3><p>{text}</p><table>{''.join(table)}</table>")
    curve = plots.reward_curves({task: r["reward_curve"] for task, r in experiments.items()})
    return (
        "<h2>RL against the ranking metric</h2>"
        + "".join(parts)
        + f"<img alt='reward curves' src='{curve}'>"
    )


def _distill_html(result: Any) -> str:
    teach = getattr(result, "teach", None) or {}
    header, rows = curve_rows(result)
    table = ["<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"]
    table += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    students = result.distill["students"]
    sizes = [int(s) for s in students]
    refs = {}
    t = teach.get("teacher") or {}
    if t.get("test_ndcg10") is not None:
        refs["teacher, test"] = t["test_ndcg10"]
        refs["first stage, test"] = t["first_stage_test_ndcg10"]
    curve = plots.scaling_curve(
        sizes,
        {
            "student, test": [students[str(s)]["test_ndcg10"] for s in sizes],
            "student, dev": [students[str(s)]["dev_ndcg10"] for s in sizes],
        },
        refs,
    )
    return (
        "<h2>Distillation</h2><p>Students trained on the human judgments plus more and more "
        "teacher-labeled synthetic queries; the student is selected on the dev slice of the "
        f"training queries.</p><table>{''.join(table)}</table>"
        f"<img alt='scaling curve' src='{curve}'>"
    )


def render_html(result: Any) -> str:
    title, facts = _header(result)
    body = [f"<h1>{html.escape(title)}</h1>", "<table>"]
    body += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts]
    body.append("</table>")
    exp = result.experiment
    if exp is not None:
        body += [
            "<h2>Metrics</h2>",
            _metrics_table(exp.comparison),
            "<h2>Plots</h2>",
            _plots_html(exp.comparison),
        ]
        body.append("<h2>Time</h2><table><tr><th>pipeline</th><th>seconds</th></tr>")
        body += [
            f"<tr><td>{html.escape(r.pipeline)}</td><td class=num>{r.seconds:.1f}</td></tr>"
            for r in exp.results
        ]
        body.append("</table>")
        configs = {r.pipeline: r.config for r in exp.results}
        body.append(
            "<h2>Configuration</h2><details><summary>pipelines</summary><pre>"
            + html.escape(json.dumps(configs, indent=2))
            + "</pre></details>"
        )
    if getattr(result, "diagnosis", None) is not None:
        body.append(_diagnosis_html(result.diagnosis))
    if getattr(result, "align", None):
        body.append(_align_html(result.align))
    if getattr(result, "distill", None):
        body.append(_distill_html(result))
    if getattr(result, "rl", None):
        body.append(_rl_html(result))
    if result.skipped:
        body.append("<h2>Skipped steps</h2><ul>")
        body += [
            f"<li><b>{html.escape(n)}</b>: {html.escape(w)}</li>" for n, w in result.skipped.items()
        ]
        body.append("</ul>")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
