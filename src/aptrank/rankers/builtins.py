"""Registry entries of the built-in stages (imported lazily by the registry)."""

from __future__ import annotations

from aptrank.rankers.base import Ranker
from aptrank.rankers.registry import PipelineError, local_path, options_to_config, register


@register("bm25")
def _bm25(arg: str | None, options: dict[str, str]) -> Ranker:
    from aptrank.rankers.bm25 import BM25Config, BM25Ranker

    if arg:
        raise PipelineError(f"bm25 takes no argument, got 'bm25:{arg}'")
    return BM25Ranker(options_to_config(BM25Config, options))


@register("dense")
def _dense(arg: str | None, options: dict[str, str]) -> Ranker:
    from aptrank.rankers.dense import DenseConfig, DenseRanker
    from aptrank.rankers.models import DEFAULT_EMBEDDING

    model = local_path(arg) if arg else DEFAULT_EMBEDDING
    if options.get("adapter"):  # ./adapter.npz inside an artifact's folder
        options = {**options, "adapter": local_path(options["adapter"])}
    return DenseRanker(options_to_config(DenseConfig, options, model=model))


@register("ce")
def _ce(arg: str | None, options: dict[str, str]) -> Ranker:
    from aptrank.rankers.cross_encoder import CrossEncoderConfig, CrossEncoderRanker

    if not arg:
        raise PipelineError("ce needs a model: 'ce:<model>' (a registry name, HF id or folder)")
    return CrossEncoderRanker(options_to_config(CrossEncoderConfig, options, model=local_path(arg)))


@register("rewrite")
def _rewrite(arg: str | None, options: dict[str, str]) -> Ranker:
    # imported when a pipeline names it: it brings the LM loading code (still no torch until a
    # query is rewritten)
    from aptrank.rankers.rewrite import RewriteConfig, RewriteRanker

    fixed = {"model": local_path(arg)} if arg else {}
    if "model" in options:  # an RL policy folder is usually given as an option
        options = {**options, "model": local_path(options["model"])}
    return RewriteRanker(options_to_config(RewriteConfig, options, **fixed))


@register("remote")
def _remote(arg: str | None, options: dict[str, str]) -> Ranker:
    # a model served by `aptrank serve` (httpx is imported when it first scores)
    from aptrank.rankers.remote import RemoteConfig, RemoteRanker, parse_target

    if not arg:
        raise PipelineError("remote needs a server and a model: 'remote:<url>#<model>'")
    url, model = parse_target(arg)
    return RemoteRanker(options_to_config(RemoteConfig, options, url=url, model=model))
