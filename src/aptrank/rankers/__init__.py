"""Rankers behind one protocol, found by name in one registry, composed by pipeline strings."""

from aptrank.rankers.base import Ranker
from aptrank.rankers.registry import PipelineError, build_ranker, register, stages

__all__ = ["PipelineError", "Ranker", "build_ranker", "register", "stages"]
