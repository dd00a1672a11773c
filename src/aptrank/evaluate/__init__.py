"""Evaluation: trec_eval metrics per query and averaged, paired significance tests, comparisons.

Importing this package is light: ir_measures, pytrec_eval, numpy, scipy and rich are imported
inside the functions that use them.
"""

from aptrank.evaluate.compare import Comparison, compare
from aptrank.evaluate.metrics import (
    DEFAULT_METRICS,
    KNOWN_METRICS,
    Evaluation,
    Evaluator,
    Metric,
    evaluate,
    parse_metric,
    parse_metrics,
)
from aptrank.evaluate.significance import (
    PairedTest,
    holm_bonferroni,
    paired_t_test,
    paired_test,
    randomization_test,
)

__all__ = [
    "DEFAULT_METRICS",
    "KNOWN_METRICS",
    "Comparison",
    "Evaluation",
    "Evaluator",
    "Metric",
    "PairedTest",
    "compare",
    "evaluate",
    "holm_bonferroni",
    "paired_t_test",
    "paired_test",
    "parse_metric",
    "parse_metrics",
    "randomization_test",
]
