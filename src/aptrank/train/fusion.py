"""``aptrank fit-fusion``: weights for ``fuse(A,B,...)`` fitted on judgments, out of fold.

The members score exactly the candidates the stage will see (a first stage's top ``depth``, or
the union of the members' own top lists when fuse retrieves), normalised as the stage normalises
them (:mod:`aptrank.rankers.fuse`). Three ways to weight them are compared on a fixed, seeded dev
slice of the fit queries and the best is refitted on all of them:

* ``equal``: every member weight 1 (what ``fuse`` does without a weights file);
* ``pairwise``: logistic regression on score differences of every (relevant, non-relevant) pair
  of a query (RankNet-style, with a small L2 penalty). Only the order within a query matters, so
  per-query offsets cancel. scikit-learn would fit it too, but it is not a dependency and the
  problem is a dozen lines of :func:`scipy.optimize.minimize`;
* ``coordinate-ascent``: direct search on mean NDCG@10, one weight at a time over a grid
  (Metzler & Croft, "Linear feature-based models for information retrieval", 2007). Written by
  hand: no maintained Python library implements it (RankLib is Java).

**Out of fold**: a member trained on some queries (an artifact whose ``aptrank.json`` lists its
training and dev queries) is never weighted by its scores on those queries: they are left out of
the fit. With a student trained on SciFact's training queries outside the dev slice, the fusion
is fitted on the dev slice's queries.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from aptrank.data.dev import dev_slice
from aptrank.errors import AptrankError
from aptrank.rankers.fuse import NORMS, FuseRanker, FuseWeights, Member, feature_table, fuse_runs
from aptrank.types import Qrels, Run

logger = logging.getLogger(__name__)

METHODS = ("equal", "pairwise", "coordinate-ascent")

Table = Mapping[str, Mapping[str, Sequence[float]]]
ProgressFactory = Callable[[str], Callable[[int, int], None]]


@dataclass(frozen=True)
class FitFusionConfig:
    """Everything ``aptrank fit-fusion`` does; saved in the weights file."""

    dataset: str
    members: tuple[str, ...]
    split: str = "train"  #: the judgments fitted on (never the split you report)
    first_stage: str | None = None  #: None: fuse retrieves (every member must retrieve)
    depth: int | None = None  #: candidates per query (default 100 after a first stage, else 1000)
    norm: str = "zscore"
    method: str = "auto"  #: auto (the dev slice chooses among METHODS) or one of them
    dev_size: int = 100  #: fit queries held out to choose the method (a fifth when too few)
    seed: int = 0
    l2: float = 1e-3  #: pairwise: L2 penalty on the weights
    #: fit only on these judged queries (e.g. the dev slice a trained member held out, so two
    #: fusions are fitted on the same queries); members' training queries are still left out
    query_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise AptrankError("fit-fusion needs at least two --member pipelines")
        if self.norm not in NORMS:
            raise AptrankError(f"unknown norm {self.norm!r}; choose {' or '.join(NORMS)}")
        if self.method not in ("auto", *METHODS):
            raise AptrankError(
                f"unknown method {self.method!r}; choose auto or {', '.join(METHODS)}"
            )

    @property
    def candidates_depth(self) -> int:
        return self.depth or (100 if self.first_stage else 1000)


# ----------------------------------------------------------------------------------- the fitters


def pair_differences(table: Table, qrels: Qrels) -> np.ndarray:
    """Feature differences (relevant − non-relevant) for every such pair of every query; a
    document without a positive grade counts as non-relevant (candidates are mostly unjudged)."""
    rows: list[np.ndarray] = []
    for qid, docs in table.items():
        judged = qrels.get(qid, {})
        pos = [np.asarray(f, float) for d, f in docs.items() if judged.get(d, 0) > 0]
        neg = [np.asarray(f, float) for d, f in docs.items() if judged.get(d, 0) <= 0]
        rows.extend(p - n for p in pos for n in neg)
    return np.asarray(rows, dtype=float)


def fit_pairwise(
    table: Table, qrels: Qrels, l2: float = 1e-3, scales: Sequence[float] | None = None
) -> np.ndarray:
    """Pairwise logistic weights on normalised features (``table``, or raw features divided by
    ``scales``: the global normalisation, applied to the pair differences).

    >>> table = {"q": {"a": [3.0, 0.1], "b": [1.0, 0.9], "c": [2.0, 0.0]}}
    >>> w = fit_pairwise(table, {"q": {"a": 1}})
    >>> bool(w[0] > abs(w[1]))
    True
    """
    from scipy.optimize import minimize
    from scipy.special import log_expit

    diffs = pair_differences(table, qrels)
    if len(diffs) == 0:
        raise AptrankError("no query has both a relevant and a non-relevant candidate to fit on")
    if scales is not None:
        diffs = diffs / np.asarray(scales, float)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        margin = diffs @ w
        value = -log_expit(margin).mean() + l2 * (w @ w)
        grad = -(diffs * (1 - np.exp(log_expit(margin)))[:, None]).mean(axis=0) + 2 * l2 * w
        return float(value), grad

    start = np.ones(diffs.shape[1]) / diffs.shape[1]
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B").x)


def pair_accuracy(
    table: Table, qrels: Qrels, weights: Sequence[float], scales: Sequence[float] | None = None
) -> float:
    """Share of (relevant, non-relevant) pairs the weights order right (ties count ½)."""
    diffs = pair_differences(table, qrels)
    if len(diffs) == 0:
        return float("nan")
    if scales is not None:
        diffs = diffs / np.asarray(scales, float)
    margin = diffs @ np.asarray(weights, float)
    return float(((margin > 0) + 0.5 * (margin == 0)).mean())


class _NDCG10:
    """Mean NDCG@10 of ``table @ w`` for many ``w``, vectorised over queries (for the search
    only; reported figures come from :mod:`aptrank.evaluate`, i.e. trec_eval). Documents are
    held in doc-id-descending order so a stable sort breaks ties as trec_eval does."""

    def __init__(self, table: Table, qrels: Qrels) -> None:
        queries = [q for q in table if any(g > 0 for g in qrels.get(q, {}).values())]
        if not queries:
            raise AptrankError("no fit query has a relevant judgment")
        width = max(len(table[q]) for q in queries) or 1
        m = len(next(iter(next(iter(table.values())).values()), [])) or 1
        self.x = np.zeros((len(queries), width, m))
        self.mask = np.zeros((len(queries), width), bool)
        self.gain = np.zeros((len(queries), width))
        discount = 1.0 / np.log2(np.arange(2, 12))
        self.discount = discount
        self.idcg = np.zeros(len(queries))
        for i, q in enumerate(queries):
            docs = sorted(table[q], reverse=True)
            judged = qrels.get(q, {})
            if docs:
                self.x[i, : len(docs)] = [table[q][d] for d in docs]
            self.mask[i, : len(docs)] = True
            self.gain[i, : len(docs)] = [max(judged.get(d, 0), 0) for d in docs]
            ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
            self.idcg[i] = float(np.dot(ideal, discount[: len(ideal)]))

    def __call__(self, w: np.ndarray) -> float:
        scores = np.where(self.mask, self.x @ w, -np.inf)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        gains = np.take_along_axis(self.gain, top, axis=1)
        dcg = gains @ self.discount[: gains.shape[1]]
        return float(np.mean(dcg / self.idcg))


def fit_coordinate_ascent(
    table: Table,
    qrels: Qrels,
    start: Sequence[float] | None = None,
    passes: int = 10,
    grid: int = 41,
) -> np.ndarray:
    """Weights that climb mean NDCG@10 one coordinate at a time: each weight in turn is set to
    the best of ``grid`` values in [-1, 1] (the others fixed; a strict gain is needed to move),
    the weights are rescaled to unit L1 norm, until a pass changes nothing.

    >>> table = {"q": {"a": [0.0, 1.0], "b": [1.0, 0.0]}, "r": {"c": [0.0, 1.0], "d": [1.0, 0.0]}}
    >>> fit_coordinate_ascent(table, {"q": {"a": 1}, "r": {"c": 1}})[1] > 0
    np.True_
    """
    ndcg = _NDCG10(table, qrels)
    m = ndcg.x.shape[2]
    w = np.asarray(start if start is not None else np.ones(m), float).copy()
    w /= np.abs(w).sum() or 1.0
    best = ndcg(w)
    values = np.linspace(-1.0, 1.0, grid)
    for _ in range(passes):
        moved = False
        for i in range(m):
            for v in values:
                trial = w.copy()
                trial[i] = v
                if not np.any(trial):
                    continue
                score = ndcg(trial)
                if score > best + 1e-12:
                    best, w, moved = score, trial / np.abs(trial).sum(), True
        if not moved:
            break
    return w


def fit_weights(method: str, table: Table, qrels: Qrels, l2: float = 1e-3) -> np.ndarray:
    """The weights ``method`` fits on ``table`` (equal: all ones)."""
    m = len(next(iter(next(iter(table.values())).values())))
    if method == "equal":
        return np.ones(m)
    if method == "pairwise":
        return fit_pairwise(table, qrels, l2)
    if method == "coordinate-ascent":
        return fit_coordinate_ascent(table, qrels)
    raise AptrankError(f"unknown fusion method {method!r}; choose one of {', '.join(METHODS)}")


# ---------------------------------------------------------------------------- the whole fit job


def global_scales(runs: Sequence[Run]) -> tuple[float, ...]:
    """Each member's score standard deviation over all its candidates (1 where constant).

    >>> global_scales([{"q": {"a": 1.0, "b": 3.0}}, {"q": {"a": 2.0}}])
    (1.0, 1.0)
    """
    out = []
    for run in runs:
        values = np.fromiter((s for docs in run.values() for s in docs.values()), float)
        std = float(values.std()) if len(values) else 0.0
        out.append(std if std > 0 else 1.0)
    return tuple(out)


def ndcg10(qrels: Qrels, run: Run) -> float:
    from aptrank.evaluate.metrics import evaluate

    judged = {q: qrels[q] for q in run if q in qrels}
    return evaluate(judged, run, ["ndcg@10"]).means["ndcg@10"]


def crossfit_ndcg10(
    method: str,
    table: Table,
    qrels: Qrels,
    runs: Sequence[Run],
    config: FitFusionConfig,
    scales: Sequence[float] | None,
    candidates: Run | None,
) -> dict[str, float]:
    """NDCG@10 of ``method`` per fit query, each half scored with weights fitted on the other
    (seeded halves): the fusion's figures where no query scores its own weights."""
    from aptrank.evaluate.metrics import evaluate

    ids = sorted(table)
    if len(ids) < 4:
        return {}
    first, second = dev_slice(ids, len(ids) // 2, config.seed)
    per_query: dict[str, float] = {}
    for fit_on, score_on in ((first, second), (second, first)):
        w = fit_weights(method, {q: table[q] for q in fit_on}, qrels, config.l2)
        part = [{q: r.get(q, {}) for q in score_on} for r in runs]
        cands = {q: candidates[q] for q in score_on} if candidates is not None else None
        fused = fuse_runs(part, list(w), config.norm, scales, cands)
        judged = {q: qrels[q] for q in score_on if q in qrels}
        per_query.update(evaluate(judged, fused, ["ndcg@10"]).per_query["ndcg@10"])
    return dict(sorted(per_query.items()))


def choose_method(
    methods: Sequence[str],
    runs: Sequence[Run],
    table: Table,
    qrels: Qrels,
    ids: Sequence[str],
    config: FitFusionConfig,
    scales: Sequence[float] | None = None,
    candidates: Run | None = None,
) -> tuple[str, dict[str, float], list[str]]:
    """Fit each method on ``ids`` outside a seeded dev slice of them (``config.dev_size``, a
    fifth when there are too few) and score it there; returns the dev-best (the simpler on a
    tie: METHODS is ordered simplest first), every method's dev NDCG@10 and the dev ids."""
    ids = sorted(ids)
    dev_n = config.dev_size if len(ids) > 2 * config.dev_size else max(1, len(ids) // 5)
    train_ids, dev_ids = dev_slice(ids, dev_n, config.seed)
    dev: dict[str, float] = {}
    for method in methods:
        w = fit_weights(method, {q: table[q] for q in train_ids}, qrels, config.l2)
        dev_runs = [{q: r.get(q, {}) for q in dev_ids} for r in runs]
        dev_cands = {q: candidates[q] for q in dev_ids} if candidates is not None else None
        fused = fuse_runs(dev_runs, list(w), config.norm, scales, dev_cands)
        dev[method] = ndcg10(qrels, fused)
        logger.info("fusion %s: dev NDCG@10 %.4f", method, dev[method])
    chosen = max(methods, key=lambda m: (dev[m], -METHODS.index(m)))
    return chosen, dev, dev_ids


def fit_fusion(config: FitFusionConfig, progress: ProgressFactory | None = None) -> FuseWeights:
    """Fit weights for ``fuse(<config.members>)`` (see the module docstring)."""
    from aptrank.data import load_dataset
    from aptrank.experiment import rank_corpus, walk
    from aptrank.rankers import build_ranker
    from aptrank.rankers.artifact import training_queries
    from aptrank.rankers.cache import corpus_fingerprint

    start = time.perf_counter()
    ds = load_dataset(config.dataset, config.split)
    members = [build_ranker(m) for m in config.members]
    # the stage whose members are fitted (its norm is applied below, with the fitted scales)
    fuse = FuseRanker(members, depth=config.candidates_depth)
    corpus_fp = corpus_fingerprint(ds.corpus)
    judged = [
        q for q, docs in ds.qrels.items() if q in ds.queries and any(g > 0 for g in docs.values())
    ]
    excluded: set[str] = set()
    for corpus, ids in training_queries(fuse).items():
        if corpus in ("", corpus_fp):
            excluded |= ids
    allowed = set(config.query_ids) if config.query_ids is not None else set(judged)
    fit_ids = sorted((set(judged) & allowed) - excluded)
    if len(fit_ids) < 2:
        raise AptrankError(
            f"{len(fit_ids)} of the {len(judged)} judged {config.split} queries are left once the "
            f"{len(excluded)} queries a member was trained on are removed: nothing to fit on"
        )
    queries = {q: ds.queries[q].text for q in fit_ids}
    if config.first_stage is None and not fuse.retrieves:
        cannot = [m.name for m in members if not m.retrieves]
        raise AptrankError(f"{', '.join(cannot)} cannot retrieve: give --first-stage (e.g. bm25)")
    candidates = None
    if config.first_stage is not None:
        first = build_ranker(config.first_stage)
        candidates = rank_corpus(first, ds.corpus, queries, config.candidates_depth, progress)
    if progress is not None:
        for stage in walk(fuse):
            if hasattr(stage, "progress"):
                stage.progress = progress(f"{stage.name}: scoring the fit candidates")
    fuse.index(ds.corpus)
    runs = fuse.member_runs(queries, candidates)
    scales = global_scales(runs) if config.norm == "global" else None
    table = feature_table(runs, config.norm, scales, candidates)
    qrels = {q: ds.qrels[q] for q in fit_ids}

    methods = METHODS if config.method == "auto" else (config.method,)
    chosen, dev, dev_ids = choose_method(
        methods, runs, table, qrels, fit_ids, config, scales, candidates
    )
    weights = fit_weights(chosen, table, qrels, config.l2)
    fused_all = fuse_runs(runs, list(weights), config.norm, scales, candidates)
    crossfit = crossfit_ndcg10(chosen, table, qrels, runs, config, scales, candidates)
    fitted = [dev[m] for m in dev if m != "equal"]
    fit = {
        "method": chosen,
        "selected_by": "dev ndcg@10" if len(methods) > 1 else "given",
        "dev_ndcg@10": dev,
        "beats_equal_on_dev": (max(fitted) > dev["equal"]) if fitted and "equal" in dev else None,
        "in_sample_ndcg@10": ndcg10(qrels, fused_all),
        #: every fit query scored by weights fitted on the other half (two seeded halves)
        "crossfit_ndcg@10": float(np.mean(list(crossfit.values()))) if crossfit else None,
        "crossfit_per_query": crossfit,
        "pair_accuracy": pair_accuracy(table, qrels, list(weights)),
        "fit_queries": len(fit_ids),
        "dev_queries": dev_ids,
        "excluded_queries": len(set(judged) & excluded),
        "excluded_because": "a member was trained on them (out-of-fold fitting)",
        "candidates_per_query": round(float(np.mean([len(d) for d in table.values()])), 1),
        "config": asdict(config),
        "seconds": round(time.perf_counter() - start, 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
    }
    return FuseWeights(
        members=tuple(Member(m.kind, spec) for m, spec in zip(members, config.members)),
        weights=tuple(float(w) for w in weights),
        norm=config.norm,
        scales=scales,
        first_stage=config.first_stage,
        depth=config.candidates_depth,
        judgments={
            "dataset": ds.name,
            "path": ds.path,
            "split": config.split,
            "corpus": corpus_fp,
            "queries": fit_ids,
        },
        fit=fit,
    )


def fusion_pipeline(weights: FuseWeights, weights_path: str) -> str:
    """The pipeline string that uses ``weights`` as it was fitted.

    >>> w = FuseWeights((Member("bm25", "bm25"), Member("dense", "dense")), (1.0, 2.0),
    ...                 first_stage="bm25", depth=30)
    >>> fusion_pipeline(w, "./weights.json")
    'bm25>>fuse(bm25,dense)[weights=./weights.json]@30'
    """
    stage = f"fuse({','.join(m.pipeline for m in weights.members)})[weights={weights_path}]"
    return f"{weights.first_stage}>>{stage}@{weights.depth}" if weights.first_stage else stage


def _absolute(pipeline: str) -> str:
    """A member that is a folder given relative to the current directory, made absolute (the
    artifact may move); ``./`` and ``../`` paths are already relative to the artifact."""
    if pipeline.startswith(".") or not Path(pipeline).is_dir():
        return pipeline
    return str(Path(pipeline).resolve())


def write_fusion(weights: FuseWeights, out: str | Path) -> tuple[Path, str]:
    """Write ``weights`` to ``out``: a ``.json`` file, or a folder holding ``weights.json`` and
    an ``aptrank.json`` (a trained ranker usable as a pipeline string). Returns the path written
    and the pipeline string that uses it."""
    from aptrank.rankers.artifact import figure, write_artifact

    out = Path(out)
    if out.suffix == ".json":
        weights.save(out)
        return out, fusion_pipeline(weights, str(out))
    members = [Member(m.kind, _absolute(m.pipeline)) for m in weights.members]
    weights = replace(weights, members=tuple(members))
    weights.save(out / "weights.json")
    pipeline = fusion_pipeline(weights, "./weights.json")
    fit, judged = weights.fit, weights.judgments
    figures = {
        "dev": figure(
            {"ndcg@10": fit["dev_ndcg@10"][fit["method"]]},
            f"{judged.get('split')} (dev slice)",
            len(fit["dev_queries"]),
            True,
            fitted_on="the fit queries outside the dev slice",
        ),
        "fit": figure(
            {"ndcg@10": fit["in_sample_ndcg@10"]},
            str(judged.get("split")),
            fit["fit_queries"],
            False,
        ),
    }
    path = write_artifact(
        out,
        name=out.name,
        kind="fusion",
        pipeline=pipeline,
        description=f"Fitted fusion of {', '.join(m.pipeline for m in members)} "
        f"({weights.norm} normalisation, {fit['method']} weights).",
        dataset={
            "name": judged.get("dataset"),
            "path": judged.get("path"),
            "corpus": judged.get("corpus"),
        },
        trained_on={"split": judged.get("split"), "queries": judged.get("queries", [])},
        config=fit.get("config"),
        seed=(fit.get("config") or {}).get("seed"),
        figures=figures,
    )
    return path, pipeline
