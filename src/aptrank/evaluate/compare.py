"""Several systems scored on the same judgments, side by side, tested against a baseline.

The metric conventions are those of :mod:`aptrank.evaluate.metrics` (mean over the queries with a
relevant judgment, missing queries count 0, trec_eval's tie order, ``mrr@k`` = ``recip_rank`` on the
run cut at ``k``); the tests are those of :mod:`aptrank.evaluate.significance`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aptrank.evaluate.metrics import DEFAULT_METRICS, Evaluation, Evaluator
from aptrank.evaluate.significance import (
    DEFAULT_PERMUTATIONS,
    DEFAULT_SEED,
    METHOD_NAMES,
    METHODS,
    Method,
    PairedTest,
    holm_bonferroni,
    paired_test,
)

if TYPE_CHECKING:
    from rich.table import Table

MARKER = "†"
CORRECTIONS = ("holm",)


@dataclass(frozen=True)
class Comparison:
    """Evaluations of several systems (in the order given) and their tests against ``baseline``.

    ``tests[system][metric]`` exists for every system but the baseline (empty when there is no
    baseline). ``method``, ``alpha`` and ``correction`` say how ``significant`` was decided.
    """

    metrics: tuple[str, ...]
    evaluations: dict[str, Evaluation]
    baseline: str | None = None
    tests: dict[str, dict[str, PairedTest]] = field(default_factory=dict)
    method: str = "t"
    alpha: float = 0.05
    correction: str | None = None

    @property
    def systems(self) -> tuple[str, ...]:
        """System names, in the order they were given."""
        return tuple(self.evaluations)

    @property
    def n_queries(self) -> int:
        """Number of evaluated queries (the same for every system)."""
        return next(iter(self.evaluations.values())).n_queries

    def means_dict(self) -> dict[str, dict[str, float]]:
        """``{system: {metric: mean}}`` — the ``metrics.json`` schema."""
        return {name: dict(ev.means) for name, ev in self.evaluations.items()}

    def per_query_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{system: {metric: {query_id: value}}}``."""
        return {
            name: {m: dict(values) for m, values in ev.per_query.items()}
            for name, ev in self.evaluations.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything as a JSON-able dict: settings, ``means``, ``per_query`` and ``significance``
        (``{system: {metric: test fields}}``)."""
        return {
            "metrics": list(self.metrics),
            "n_queries": self.n_queries,
            "baseline": self.baseline,
            "method": self.method,
            "alpha": self.alpha,
            "correction": self.correction,
            "means": self.means_dict(),
            "per_query": self.per_query_dict(),
            "significance": {
                name: {m: test.to_dict() for m, test in by_metric.items()}
                for name, by_metric in self.tests.items()
            },
        }

    def legend(self) -> str:
        """The line explaining bold values and significance markers."""
        text = "Best value per column in bold."
        if self.baseline is not None:
            correction = ""
            if self.correction == "holm":
                n = len(self.systems) - 1
                correction = f", Holm–Bonferroni across {n} system{'s' if n != 1 else ''}"
            text += (
                f" {MARKER} significantly different from {self.baseline} "
                f"({METHOD_NAMES[self.method]}, two-sided, p < {self.alpha:g}{correction})."
            )
        return f"{text} {self.n_queries} queries."

    def to_markdown(self, digits: int = 4) -> str:
        """A markdown table (one row per system, one column per metric), the best value per
        column in bold, ``†`` on values significantly different from the baseline, a legend."""
        header = ["system", *self.metrics]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join([":---"] + ["---:"] * len(self.metrics)) + "|",
        ]
        for name, cells in self._rows(digits):
            row = [_md_escape(name)]
            for text, best, marker in cells:
                row.append((f"**{text}**" if best else text) + marker)
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines) + "\n\n" + self.legend() + "\n"

    def to_rich_table(self, digits: int = 4) -> Table:
        """The same table as a ``rich.table.Table`` (best in bold, markers, legend as caption)."""
        from rich.table import Table
        from rich.text import Text

        table = Table(caption=Text(self.legend()), caption_justify="left")  # no markup
        table.add_column("system")
        for metric in self.metrics:
            table.add_column(metric, justify="right")
        for name, cells in self._rows(digits):
            row = [Text(name)]
            for text, best, marker in cells:
                row.append(Text(text, style="bold" if best else "") + Text(marker))
            table.add_row(*row)
        return table

    def _rows(self, digits: int) -> list[tuple[str, list[tuple[str, bool, str]]]]:
        """Per system: its label and, per metric, (formatted value, is best, marker)."""
        shown = {
            name: {m: f"{ev.means[m]:.{digits}f}" for m in self.metrics}
            for name, ev in self.evaluations.items()
        }
        best = {m: max(float(values[m]) for values in shown.values()) for m in self.metrics}
        rows = []
        for name, values in shown.items():
            label = f"{name} (baseline)" if name == self.baseline else name
            cells = []
            for m in self.metrics:
                test = self.tests.get(name, {}).get(m)
                marker = MARKER if test is not None and test.significant else ""
                cells.append((values[m], float(values[m]) == best[m], marker))
            rows.append((label, cells))
        return rows


def compare(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    baseline: str | None = None,
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    method: Method = "t",
    alpha: float = 0.05,
    correction: str | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
) -> Comparison:
    """Evaluate every run of ``runs`` (``{system name: run}``) on ``qrels`` and, when ``baseline``
    names one of them, test each other system against it on every metric.

    Both the paired t-test and the randomization test (``n_permutations``, ``seed``) are run;
    ``method`` (``"t"`` or ``"randomization"``) decides ``significant`` at ``alpha``, after
    Holm–Bonferroni across the systems of each metric when ``correction="holm"``. With
    ``baseline=None`` nothing is tested. Inputs are not modified.
    """
    if not runs:
        raise ValueError("compare needs at least one run")
    if baseline is not None and baseline not in runs:
        raise ValueError(f"baseline {baseline!r} is not one of the runs: {', '.join(runs)}")
    if method not in METHODS:
        raise ValueError(f"unknown test {method!r}; choose one of {', '.join(METHODS)}")
    if correction is not None and correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; choose one of {CORRECTIONS} or None")
    evaluator = Evaluator(qrels, metrics)
    evaluations = {str(name): evaluator.evaluate(run) for name, run in runs.items()}
    names = tuple(m.name for m in evaluator.metrics)
    tests: dict[str, dict[str, PairedTest]] = {}
    if baseline is not None:
        base = evaluations[baseline]
        for name, ev in evaluations.items():
            if name == baseline:
                continue
            tests[name] = {
                m: paired_test(
                    ev.per_query[m],
                    base.per_query[m],
                    method=method,
                    alpha=alpha,
                    n_permutations=n_permutations,
                    seed=seed,
                )
                for m in names
            }
        if correction == "holm":
            tests = _holm(tests, names, alpha)
    return Comparison(names, evaluations, baseline, tests, method, alpha, correction)


def _holm(
    tests: dict[str, dict[str, PairedTest]], metrics: tuple[str, ...], alpha: float
) -> dict[str, dict[str, PairedTest]]:
    """The tests with ``p_value`` Holm–Bonferroni adjusted across systems, metric by metric."""
    out: dict[str, dict[str, PairedTest]] = {name: {} for name in tests}
    for m in metrics:
        names = list(tests)
        adjusted = holm_bonferroni([tests[name][m].p_value for name in names])
        for name, p in zip(names, adjusted):
            out[name][m] = replace(
                tests[name][m], p_value=p, correction="holm", significant=p < alpha
            )
    return out


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")
