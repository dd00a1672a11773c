"""Training task-aligned rankers.

:func:`train_cross_encoder` trains a cross-encoder — the distilled student on teacher labels
(Margin-MSE or soft BCE), a teacher on human judgments, or both kinds of data at once — with the
sentence-transformers trainer; :mod:`aptrank.train.examples` builds its examples from aptrank
data. Importing this package does not import torch, transformers or datasets.
"""

from aptrank.train.cross_encoder import CrossEncoderTrainConfig, TrainResult, train_cross_encoder
from aptrank.train.examples import (
    HumanPair,
    MarginTriple,
    SoftPair,
    human_pairs,
    margin_triples,
    soft_pairs,
)
from aptrank.train.run_folder import load_train_record

__all__ = [
    "CrossEncoderTrainConfig",
    "HumanPair",
    "MarginTriple",
    "SoftPair",
    "TrainResult",
    "human_pairs",
    "load_train_record",
    "margin_triples",
    "soft_pairs",
    "train_cross_encoder",
]
