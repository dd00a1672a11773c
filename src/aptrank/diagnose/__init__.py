"""Diagnosis: why a pretrained ranker fails on a task — association rather than fitness.

One module per analysis, each a pure function of plain data (judgments, a top-k run, the
ranker's scores of the judged documents, query texts) returning a frozen dataclass with
``to_dict()``; :func:`diagnose` runs them all for several rankers side by side.

Importing this package is light: numpy and scipy are imported by the analyses when they run.
"""

from aptrank.diagnose.diagnosis import (
    SECTIONS,
    DiagnoseConfig,
    Diagnosis,
    RankerDiagnosis,
    check_inputs,
    diagnose,
)

__all__ = ["SECTIONS", "DiagnoseConfig", "Diagnosis", "RankerDiagnosis", "check_inputs", "diagnose"]
