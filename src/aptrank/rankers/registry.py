"""Rankers by name, and the pipeline strings that compose them.

======================  ==========================================================
``bm25``                BM25 over the corpus
``dense``               bi-encoder retrieval with the default embedding (all-MiniLM-L6-v2)
``dense:<model>``       a registry name, Hugging Face id or folder
``ce:<model>``          cross-encoder reranker
``A>>B@k``              B reranks A's top k (k defaults to 100), A's tail follows below;
                        chains associate left
``rrf(A,B,...)``        reciprocal-rank fusion of any pipelines
``fuse(A,B,...)``       weighted sum of normalised scores, ``fuse(A,B)[weights=<file>]`` with
                        weights fitted by ``aptrank fit-fusion`` (options norm, depth)
``constrain(A)[...]``   A ranks with the query's topical part, violators of its constraints
                        are demoted (options model=<folder>, threshold, penalty, depth, lm)
``<folder>``            a trained ranker: a folder holding an ``aptrank.json`` (its
                        ``pipeline``, whose ``./`` paths are relative to that folder)
``name[key=value,..]``  options of a stage, e.g. ``dense[backend=onnx-int8]``,
                        ``ce:<model>[max_length=128,batch_size=16]``, ``bm25[k1=0.9,b=0.4]``
``rewrite[...]>>B``     B ranks with queries rewritten by a causal LM, e.g.
                        ``rewrite[model=<folder>,mode=append]>>bm25`` (first stage only)
``remote:<url>#<m>``    reranker: model ``m`` served by ``aptrank serve`` at ``url``
======================  ==========================================================

A new ranker is one module plus :func:`register`; later stages (rewriters, students) plug in the
same way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError
from aptrank.rankers.base import Ranker

#: A stage factory: (argument after ``name:`` or None, options) -> Ranker.
StageFactory = Callable[[str | None, dict[str, str]], Ranker]

_REGISTRY: dict[str, StageFactory] = {}
#: the folder ``./`` paths of the pipeline being parsed are relative to (an artifact's folder)
_BASE: ContextVar[Path | None] = ContextVar("aptrank_pipeline_base", default=None)


class PipelineError(AptrankError, ValueError):
    """A pipeline string that cannot be parsed or names an unknown stage."""


def register(name: str) -> Callable[[StageFactory], StageFactory]:
    """Register a stage factory under ``name`` (a decorator)."""

    def deco(factory: StageFactory) -> StageFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def stages() -> list[str]:
    """The registered stage names."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def build_ranker(spec: str, base: str | Path | None = None) -> Ranker:
    """Build the ranker a pipeline string describes (not yet indexed). Paths written ``./x``
    or ``../x`` are relative to ``base`` when given (an artifact's folder), else to the current
    directory."""
    _ensure_builtins()
    spec = spec.strip()
    if not spec:
        raise PipelineError("empty pipeline string")
    with relative_to(base):
        return _parse_pipeline(spec, spec)


@contextmanager
def relative_to(base: str | Path | None) -> Iterator[None]:
    """Resolve ``./`` paths of the pipelines parsed inside against ``base`` (None: unchanged)."""
    token = _BASE.set(Path(base).resolve() if base is not None else _BASE.get())
    try:
        yield
    finally:
        _BASE.reset(token)


def local_path(value: str) -> str:
    """``value`` resolved against the folder of the pipeline being parsed when it is written as
    a relative path (``.``, ``./x``, ``../x``); anything else (a model name, hub id, absolute
    path) is returned unchanged.

    >>> with relative_to("/models/student"):
    ...     local_path("."), local_path("./weights.json"), local_path("all-MiniLM-L6-v2")
    ('/models/student', '/models/student/weights.json', 'all-MiniLM-L6-v2')
    """
    base = _BASE.get()
    if base is None or not (value == "." or value.startswith(("./", "../", ".\\", "..\\"))):
        return value
    return str((base / value).resolve())


def options_to_config(cls: type, options: dict[str, str], **fixed: Any) -> Any:
    """Build config dataclass ``cls`` from string options, converted to each field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = dict(fixed)
    for name, raw in options.items():
        if name not in fields or name in fixed:
            known = ", ".join(n for n in fields if n not in fixed)
            raise PipelineError(f"unknown option {name!r} for {cls.__name__}; options: {known}")
        default = fields[name].default
        kwargs[name] = _convert(raw, default, name)
    return cls(**kwargs)


def _convert(raw: str, default: Any, name: str) -> Any:
    if raw.lower() in ("none", "null"):
        return None
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(default, int) or (default is None and re.fullmatch(r"-?\d+", raw)):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise PipelineError(f"option {name}={raw!r}: expected a {type(default).__name__}") from None
    return raw


def _split_top(spec: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses and brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(spec):
        c = spec[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth < 0:
                raise PipelineError(f"unbalanced {c!r} at position {i} in {spec!r}")
        elif depth == 0 and spec.startswith(sep, i):
            parts.append(spec[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    if depth != 0:
        raise PipelineError(f"unbalanced brackets in {spec!r}")
    parts.append(spec[start:])
    return [p.strip() for p in parts]


def _parse_pipeline(spec: str, whole: str) -> Ranker:
    from aptrank.rankers.pipeline import QueryRewriter, RerankPipeline, RewritePipeline

    segments = _split_top(spec, ">>")
    ranker = _parse_stage(segments[0], whole)
    for seg in segments[1:]:
        m = re.fullmatch(r"(.*?)@(\d+)", seg, flags=re.S)
        depth = None
        if m and not _inside_brackets(seg, len(m.group(1))):
            seg, depth = m.group(1).strip(), int(m.group(2))
        stage = _parse_stage(seg, whole)
        if isinstance(stage, QueryRewriter):
            raise PipelineError(
                f"query rewriter {seg!r} must come first, right before the ranker it rewrites "
                f"for (e.g. '{seg}>>bm25'), in {whole!r}"
            )
        if isinstance(ranker, QueryRewriter):
            if depth is not None:
                raise PipelineError(
                    f"'@{depth}' after a query rewriter: the ranker after it retrieves, it "
                    f"reranks nothing, in {whole!r}"
                )
            ranker = RewritePipeline(ranker, stage)
        else:
            ranker = RerankPipeline(ranker, stage, 100 if depth is None else depth)
            check_depth = getattr(stage, "check_depth", None)
            if check_depth is not None:
                check_depth(ranker.depth)
    if isinstance(ranker, QueryRewriter):
        raise PipelineError(
            f"query rewriter {ranker.name!r} needs a ranker after it, e.g. "
            f"'{segments[0]}>>bm25', in {whole!r}"
        )
    return ranker


def _inside_brackets(seg: str, pos: int) -> bool:
    return seg[:pos].count("[") > seg[:pos].count("]") or seg[:pos].count("(") > seg[:pos].count(
        ")"
    )


def _parse_stage(seg: str, whole: str) -> Ranker:
    if not seg:
        raise PipelineError(f"empty stage in pipeline {whole!r}")
    options: dict[str, str] = {}
    if seg.endswith("]") and "[" in seg:
        open_at = seg.rindex("[")
        options = _parse_options(seg[open_at + 1 : -1], whole)
        seg = seg[:open_at].strip()
    if seg.startswith("rrf(") and seg.endswith(")"):
        from aptrank.rankers.fusion import FusionRanker

        inner = [_parse_pipeline(p, whole) for p in _split_top(seg[4:-1], ",")]
        if len(inner) < 2:
            raise PipelineError(f"rrf(...) needs at least two rankers in {whole!r}")
        kwargs = {k: _convert(v, 0, k) for k, v in options.items() if k in ("k", "depth")}
        if set(options) - {"k", "depth"}:
            raise PipelineError(f"rrf options are k and depth, got {sorted(options)} in {whole!r}")
        return FusionRanker(inner, **kwargs)
    if seg.startswith("fuse(") and seg.endswith(")"):
        return _parse_fuse(seg, options, whole)
    if seg.startswith("constrain(") and seg.endswith(")"):
        from aptrank.rankers.constrain import build_constrain

        return build_constrain(_parse_pipeline(seg[len("constrain(") : -1], whole), options)
    folder = Path(local_path(seg))
    if (folder / "aptrank.json").is_file():
        from aptrank.rankers.artifact import ArtifactRanker

        if options:
            raise PipelineError(f"a model folder takes no options, got {sorted(options)}")
        return ArtifactRanker.load(folder, name=seg)
    name, _, arg = seg.partition(":")
    name = name.strip()
    if name not in _REGISTRY:
        if folder.is_dir() or "/" in seg or seg.startswith("."):
            raise PipelineError(
                f"{seg!r} in pipeline {whole!r} is not a folder holding an aptrank.json "
                "(a trained ranker written by aptrank)"
            )
        raise PipelineError(
            f"unknown ranker {name!r} in pipeline {whole!r}; known: {', '.join(stages())}, "
            "rrf(...), fuse(...), constrain(...) or a trained ranker's folder"
        )
    return _REGISTRY[name](arg.strip() or None, options)


def _parse_fuse(seg: str, options: dict[str, str], whole: str) -> Ranker:
    from aptrank.rankers.fuse import FuseRanker, FuseWeights

    members = [_parse_pipeline(p, whole) for p in _split_top(seg[len("fuse(") : -1], ",")]
    unknown = set(options) - {"weights", "norm", "depth"}
    if unknown:
        raise PipelineError(
            f"fuse options are weights, norm and depth, got {sorted(unknown)} in {whole!r}"
        )
    path = local_path(options["weights"]) if "weights" in options else None
    depth = _convert(options["depth"], 0, "depth") if "depth" in options else None
    return FuseRanker(
        members,
        weights=FuseWeights.load(path) if path else None,
        norm=options.get("norm"),
        depth=depth,
        weights_path=path,
    )


def _parse_options(text: str, whole: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise PipelineError(f"option {item!r} is not key=value in {whole!r}")
        options[k.strip()] = v.strip()
    return options


_BUILTINS_LOADED = False


def _ensure_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from aptrank.rankers import builtins  # noqa: F401 - registers the built-in stages
