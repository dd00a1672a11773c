"""Teaching: a strong, slow teacher labels many (query, document) pairs into a durable store.

``LabelStore`` keeps the labels (SQLite, WAL; safe to kill at any moment); ``label_pairs`` streams
pairs through a teacher into it and resumes where a killed run stopped; the teachers live in
:mod:`aptrank.teach.teachers`. ``generate_queries`` writes synthetic queries from corpus items
(:mod:`~aptrank.teach.synthetic`, filtered by :mod:`~aptrank.teach.query_filter`) and
``mine_candidates`` picks the documents to label for each query (:mod:`~aptrank.teach.mining`).
Importing this package does not import torch or transformers.
"""

from aptrank.teach.labeling import LabelStats, label_pairs
from aptrank.teach.mining import hard_negatives, interleave, mine_candidates, mine_runs
from aptrank.teach.query_filter import clean_query, filter_queries, query_problem
from aptrank.teach.store import LabelRow, LabelStore, TeacherRecord, text_hash
from aptrank.teach.synthetic import (
    QUERY_PROMPTS,
    QueryPrompt,
    SyntheticConfig,
    SyntheticFile,
    generate_queries,
    load_synthetic,
    read_synthetic,
    sample_documents,
)
from aptrank.teach.teachers.base import Teacher, teacher_id

__all__ = [
    "QUERY_PROMPTS",
    "LabelRow",
    "LabelStats",
    "LabelStore",
    "QueryPrompt",
    "SyntheticConfig",
    "SyntheticFile",
    "Teacher",
    "TeacherRecord",
    "clean_query",
    "filter_queries",
    "generate_queries",
    "hard_negatives",
    "interleave",
    "label_pairs",
    "load_synthetic",
    "mine_candidates",
    "mine_runs",
    "query_problem",
    "read_synthetic",
    "sample_documents",
    "teacher_id",
    "text_hash",
]
