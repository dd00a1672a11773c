"""Teaching: a strong, slow teacher labels many (query, document) pairs into a durable store.

``LabelStore`` keeps the labels (SQLite, WAL; safe to kill at any moment); ``label_pairs`` streams
pairs through a teacher into it and resumes where a killed run stopped; the teachers live in
:mod:`aptrank.teach.teachers`. Importing this package does not import torch or transformers.
"""

from aptrank.teach.labeling import LabelStats, label_pairs
from aptrank.teach.store import LabelRow, LabelStore, TeacherRecord, text_hash
from aptrank.teach.teachers.base import Teacher, teacher_id

__all__ = [
    "LabelRow",
    "LabelStats",
    "LabelStore",
    "Teacher",
    "TeacherRecord",
    "label_pairs",
    "teacher_id",
    "text_hash",
]
