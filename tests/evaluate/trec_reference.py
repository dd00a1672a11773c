"""Reference figures straight from trec_eval (pytrec_eval) on TREC files, for equivalence tests.

Independent of aptrank's evaluation code: the files are parsed by pytrec_eval, the trec_eval
measures are named explicitly, the run file is cut to its top ``k`` lines per query (trec_eval's
order: score descending, doc id descending) for ``mrr@k``, and the mean is taken here under
aptrank's convention: over the queries with at least one judgment of grade > 0, a query without
a result from trec_eval (missing from the run) counting 0.

Usage (also from the slow integration tests)::

    from tests.evaluate.trec_reference import reference_means
    expected = reference_means("qrels.txt", "run.txt", ["ndcg@10", "recall@100", "mrr@10", "map"])
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_METRIC = re.compile(r"^(ndcg|recall|precision|mrr)@(\d+)$|^map$")
_TREC_NAMES = {"ndcg": "ndcg_cut_{k}", "recall": "recall_{k}", "precision": "P_{k}"}


def trec_measure(metric: str) -> str:
    """trec_eval's name of an aptrank metric (``mrr@k`` is ``recip_rank`` on a cut run)."""
    match = _METRIC.match(metric)
    if match is None:
        raise ValueError(f"no trec_eval reference for metric {metric!r}")
    if metric == "map":
        return "map"
    family, k = match.group(1), match.group(2)
    return "recip_rank" if family == "mrr" else _TREC_NAMES[family].format(k=k)


def cut_run_file(run_path: str | Path, k: int, out_path: str | Path) -> Path:
    """Write the top ``k`` lines per query of a TREC run file, in trec_eval's order."""
    by_query: dict[str, list[tuple[float, str, str]]] = {}
    for line in Path(run_path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, _, docid, _, score, _ = line.split()
            by_query.setdefault(qid, []).append((float(score), docid, line))
    out_path = Path(out_path)
    with open(out_path, "w", encoding="utf-8") as f:
        for rows in by_query.values():
            rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
            f.writelines(line + "\n" for _, _, line in rows[:k])
    return out_path


def reference_per_query(
    qrels_path: str | Path, run_path: str | Path, metrics: Iterable[str]
) -> dict[str, dict[str, float]]:
    """``{metric: {query_id: value}}`` from pytrec_eval, for the queries with a grade > 0."""
    import tempfile

    import pytrec_eval

    with open(qrels_path, encoding="utf-8") as f:
        qrels = pytrec_eval.parse_qrel(f)
    evaluated = sorted(q for q, docs in qrels.items() if any(g > 0 for g in docs.values()))
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for metric in metrics:
            measure = trec_measure(metric)
            path = Path(run_path)
            if metric.startswith("mrr@"):
                path = cut_run_file(path, int(metric.split("@")[1]), Path(tmp) / "cut.run")
            with open(path, encoding="utf-8") as f:
                run = pytrec_eval.parse_run(f)
            results = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(run)
            out[metric] = {q: results.get(q, {}).get(measure, 0.0) for q in evaluated}
    return out


def reference_means(
    qrels_path: str | Path, run_path: str | Path, metrics: Iterable[str]
) -> dict[str, float]:
    """``{metric: mean}`` from pytrec_eval under aptrank's convention (see the module doc)."""
    per_query = reference_per_query(qrels_path, run_path, metrics)
    return {m: sum(values.values()) / len(values) for m, values in per_query.items()}
