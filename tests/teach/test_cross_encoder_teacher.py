from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from aptrank.teach import LabelStore, label_pairs, teacher_id
from aptrank.teach.teachers import CrossEncoderTeacher, CrossEncoderTeacherConfig, Teacher
from tests.helpers import CORPUS, QRELS, QUERIES
from tests.tiny_models import tiny_bert_folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert_folder(tmp_path_factory.mktemp("tiny"))


def teacher(tiny: Path, **kw) -> CrossEncoderTeacher:
    return CrossEncoderTeacher(CrossEncoderTeacherConfig(model=str(tiny), max_length=32, **kw))


def test_scores_are_the_cross_encoders_in_input_order(tiny: Path):
    from aptrank.rankers.encoders import load_pair_scorer

    t = teacher(tiny, batch_size=2)
    assert isinstance(t, Teacher)
    pairs = [(QUERIES[q], CORPUS[d].full_text) for q in QRELS for d in QRELS[q]]
    labels = t.score(pairs)
    direct = load_pair_scorer(str(tiny), max_length=32).score(pairs, batch_size=7)
    assert labels.shape == (len(pairs),) and labels.dtype == np.float64
    assert np.isfinite(labels).all() and np.ptp(labels) > 0
    assert labels == pytest.approx(direct, abs=1e-5)
    assert t.score(pairs[::-1])[::-1] == pytest.approx(labels, abs=1e-5)
    assert len(t.score([])) == 0


def test_teacher_id_tracks_model_and_max_length_not_batch_size(tiny: Path, tmp_path: Path):
    base = teacher_id(teacher(tiny))
    assert base.startswith("ce:")
    assert teacher_id(teacher(tiny, batch_size=128)) == base
    assert teacher_id(teacher(shutil.copytree(tiny, tmp_path / tiny.name))) == base
    assert teacher_id(CrossEncoderTeacher(CrossEncoderTeacherConfig(str(tiny), max_length=64))) != (
        base
    )
    other = tiny_bert_folder(tmp_path / "other", seed=1)
    assert teacher_id(teacher(other)) != base


def test_labeling_judged_pairs_into_the_store(tiny: Path, tmp_path: Path):
    t = teacher(tiny, batch_size=3)
    pairs = [(q, QUERIES[q], d, CORPUS[d].full_text) for q in QRELS for d in QRELS[q]]
    with LabelStore(tmp_path / "labels.db") as store:
        stats = label_pairs(t, store, pairs)
        labels = store.get(stats.teacher)
        assert stats.labeled == len(pairs) == store.count()
        assert label_pairs(t, store, pairs).skipped == len(pairs)
        assert store.teachers()[0].config["model"] == t.config()["model"]
    expected = t.score([(p[1], p[3]) for p in pairs])
    assert [labels[q][d] for q, _, d, _ in pairs] == pytest.approx(expected, abs=1e-6)
