"""Teachers: slow, strong scorers of (query, document) pairs whose labels a student learns from.

Every teacher answers :class:`~aptrank.teach.teachers.base.Teacher`. The implementations import
their heavy libraries only when they first score.
"""

from aptrank.teach.teachers.base import Teacher, model_fingerprint, teacher_id
from aptrank.teach.teachers.cross_encoder import CrossEncoderTeacher, CrossEncoderTeacherConfig
from aptrank.teach.teachers.ensemble import (
    EnsembleFit,
    EnsembleTeacher,
    fit_ensemble,
    label_ensemble,
)
from aptrank.teach.teachers.http import HTTPTeacher, HTTPTeacherConfig
from aptrank.teach.teachers.llm_judge import LLMJudgeConfig, LLMJudgeTeacher
from aptrank.teach.teachers.prompts import PROMPTS, Prompt
from aptrank.teach.teachers.ranker import RankerTeacher

__all__ = [
    "PROMPTS",
    "CrossEncoderTeacher",
    "CrossEncoderTeacherConfig",
    "EnsembleFit",
    "EnsembleTeacher",
    "HTTPTeacher",
    "HTTPTeacherConfig",
    "LLMJudgeConfig",
    "LLMJudgeTeacher",
    "Prompt",
    "RankerTeacher",
    "Teacher",
    "fit_ensemble",
    "label_ensemble",
    "model_fingerprint",
    "teacher_id",
]
