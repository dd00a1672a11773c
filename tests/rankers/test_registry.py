from __future__ import annotations

import pytest

from aptrank.rankers import PipelineError, build_ranker, stages
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.cross_encoder import CrossEncoderRanker
from aptrank.rankers.dense import DenseRanker
from aptrank.rankers.fusion import FusionRanker
from aptrank.rankers.pipeline import RerankPipeline


def test_builtin_stages_are_registered():
    assert {"bm25", "dense", "ce"} <= set(stages())


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("bm25", "bm25"),
        ("dense", "dense"),
        ("dense:all-mpnet-base-v2", "dense:all-mpnet-base-v2"),
        ("bm25>>dense@100", "bm25>>dense@100"),
        ("bm25 >> dense", "bm25>>dense@100"),
        ("bm25>>dense@50>>ce:/m/x@10", "bm25>>dense@50>>ce:/m/x@10"),
        ("rrf(bm25,dense)>>ce:org/model@20", "rrf(bm25,dense)>>ce:org/model@20"),
    ],
)
def test_pipeline_strings(spec: str, name: str):
    assert build_ranker(spec).name == name


def test_chains_associate_left_and_keep_depths():
    r = build_ranker("bm25>>dense@50>>ce:m@10")
    assert isinstance(r, RerankPipeline) and r.depth == 10
    assert isinstance(r.second, CrossEncoderRanker)
    assert isinstance(r.first, RerankPipeline) and r.first.depth == 50
    assert isinstance(r.first.first, BM25Ranker) and isinstance(r.first.second, DenseRanker)


def test_options_are_typed():
    r = build_ranker("dense:m[backend=onnx-int8,max_length=128,batch_size=8]")
    assert isinstance(r, DenseRanker)
    assert (r.cfg.model, r.cfg.backend, r.cfg.max_length, r.cfg.batch_size) == (
        "m",
        "onnx-int8",
        128,
        8,
    )
    bm = build_ranker("bm25[k1=0.9,b=0.4,stemmer=none]")
    assert (bm.cfg.k1, bm.cfg.b, bm.cfg.stemmer) == (0.9, 0.4, None)


def test_rrf_nests_pipelines_and_takes_options():
    r = build_ranker("rrf(bm25,bm25>>dense@10,dense:x)[k=10,depth=50]")
    assert isinstance(r, FusionRanker) and (r.k, r.depth) == (10, 50)
    assert [s.name for s in r.rankers] == ["bm25", "bm25>>dense@10", "dense:x"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("nope", "unknown ranker 'nope'"),
        ("bm25>>", "empty stage"),
        ("rrf(bm25)", "at least two"),
        ("rrf(bm25,dense", "unbalanced"),
        ("dense[colour=red]", "unknown option 'colour'"),
        ("bm25[k1=abc]", "expected a float"),
        ("ce", "ce needs a model"),
        ("bm25:x", "takes no argument"),
        ("dense[backend]", "not key=value"),
    ],
)
def test_bad_pipeline_strings(spec: str, message: str):
    with pytest.raises(PipelineError, match=message):
        build_ranker(spec)
