"""The ranker-backed and ensemble teachers, on the inline corpus with BM25 (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from aptrank.errors import AptrankError
from aptrank.rankers import build_ranker
from aptrank.teach import LabelStore, label_pairs, teacher_id
from aptrank.teach.teachers.ensemble import EnsembleTeacher, fit_ensemble, label_ensemble
from aptrank.teach.teachers.ranker import RankerTeacher
from tests.helpers import CORPUS, QRELS, QUERIES
from tests.teach.fakes import FakeTeacher, fake_label


def _pairs() -> list[tuple[str, str, str, str]]:
    return [(q, QUERIES[q], d, CORPUS[d].full_text) for q in QUERIES for d in CORPUS]


def test_ranker_teacher_scores_pairs_like_the_ranker_reranks():
    teacher = RankerTeacher("bm25", CORPUS)
    pairs = _pairs()
    scores = teacher.score([(q, d) for _, q, _, d in pairs])
    ranker = build_ranker("bm25").index(CORPUS)
    run = ranker.rerank(QUERIES, {q: dict.fromkeys(CORPUS, 0.0) for q in QUERIES})
    expected = [run[q][d] for q, _, d, _ in pairs]
    np.testing.assert_allclose(scores, expected)
    assert scores.max() > 0  # BM25 matches some words


def test_ranker_teacher_gives_nan_for_text_outside_the_corpus():
    teacher = RankerTeacher("bm25", CORPUS)
    scores = teacher.score(
        [("cats", "a text that is in no document"), ("cats", CORPUS["d1"].full_text)]
    )
    assert np.isnan(scores[0]) and np.isfinite(scores[1])


def test_ranker_teacher_id_depends_on_the_corpus():
    a = RankerTeacher("bm25", CORPUS)
    b = RankerTeacher("bm25", {k: v for k, v in CORPUS.items() if k != "d4"})
    assert teacher_id(a) != teacher_id(b)
    assert teacher_id(a) == teacher_id(RankerTeacher("bm25", dict(CORPUS)))


def test_fit_ensemble_prefers_the_informative_member():
    rng = np.random.default_rng(0)
    features, qrels = {}, {}
    for q in range(20):
        docs = {}
        for d in range(6):
            rel = d == 0
            docs[f"d{d}"] = [float(rel) + 0.3 * rng.normal(), rng.normal()]
        features[f"q{q}"], qrels[f"q{q}"] = docs, {"d0": 1, "d3": 0}
    fit = fit_ensemble(features, qrels, ["good", "noise"])
    assert fit.queries == 20 and fit.pairs == 20 * 5
    assert fit.weights[0] > 3 * abs(fit.weights[1])
    assert fit.pair_accuracy > 0.9


def test_fit_ensemble_rejects_unusable_input():
    with pytest.raises(AptrankError, match="no query has both"):
        fit_ensemble({"q": {"a": [1.0], "b": [2.0]}}, {"q": {"a": 0}}, ["m"])
    with pytest.raises(AptrankError, match="one score per member"):
        fit_ensemble({"q": {"a": [1.0, 2.0]}}, {"q": {"a": 1}}, ["m"])


def test_label_ensemble_combines_stored_member_labels(tmp_path):
    bm25, fake = RankerTeacher("bm25", CORPUS), FakeTeacher(batch_size=4)
    pairs = _pairs()
    feats = {
        q: {
            d: [s1, fake_label(qt, dt)]
            for (q2, qt, d, dt), s1 in zip(pairs, bm25.score([(p[1], p[3]) for p in pairs]))
            if q2 == q
        }
        for q in QUERIES
    }
    fit = fit_ensemble(feats, QRELS, [teacher_id(bm25), teacher_id(fake)])
    ensemble = EnsembleTeacher([bm25, fake], fit)
    with LabelStore(tmp_path / "labels.sqlite") as store:
        label_pairs(fake, store, pairs[:5])  # a member partly labeled before
        added = label_ensemble(ensemble, store, pairs)
        assert added == len(pairs)
        assert label_ensemble(ensemble, store, pairs) == 0  # resumes: nothing to add
        stored = store.get(teacher_id(ensemble))
    direct = ensemble.score([(qt, dt) for _, qt, _, dt in pairs])
    np.testing.assert_allclose([stored[q][d] for q, _, d, _ in pairs], direct)


def test_ensemble_refuses_members_other_than_the_fit():
    bm25, fake = RankerTeacher("bm25", CORPUS), FakeTeacher()
    fit = fit_ensemble({"q": {"a": [1.0, 0.0], "b": [0.0, 1.0]}}, {"q": {"a": 1}}, ["x", "y"])
    with pytest.raises(AptrankError, match="the fit is for members"):
        EnsembleTeacher([bm25, fake], fit)
