"""Query adapters: a small map of query embeddings trained on judgments, documents untouched.

``q' = normalize(q @ W + b)`` (``linear``: W is d × d, initialised at the identity, b at zero) or
``q' = normalize(q + (q @ A) @ B)`` (``lowrank``: A is d × r, B is r × d and starts at zero). The
document embeddings are the cached index, frozen: training reads them and encodes no document
again, so an adapter trains in seconds on a CPU where fine-tuning the encoder re-encodes the
corpus. The ``dense`` stage applies it with ``dense:<model>[adapter=<file>]``.

Training minimises the cross-entropy of a query's softmax over its cosine scores against the
corpus (scores divided by ``temperature``; the whole corpus when it holds at most ``negatives``
documents, else the batch's relevant documents plus ``negatives`` sampled per step), the judged
relevant documents sharing the target mass equally, plus ``weight_decay`` times the squared
distance to the identity (‖W − I‖² + ‖b‖², or ‖A‖² + ‖B‖²). The weight decay (one of
:data:`WEIGHT_DECAYS` unless given) and the epoch are chosen on NDCG@10 of a seeded dev slice of
the training queries, stopping early; epoch 0 is the identity, so an adapter that helps nobody on
dev comes back as the identity. Every grid point's dev curve is kept in the report.

An adapter learns two things at once: a better reading of queries, and a prior over *which
documents* the training queries found relevant. The prior helps queries about those documents and
hurts the rest (on SciFact's dev slice an unguarded adapter gains 0.13 NDCG@10 overall and loses
0.05 on the dev queries whose relevant documents no training query shares). ``select="guarded"``
(the default) therefore keeps the best dev NDCG@10 among the (decay, epoch) points that stay at or
above the plain encoder on those "unseen" dev queries; ``select="dev"`` takes the best dev
NDCG@10 whatever it costs them. Where no dev query shares a relevant document with training (every
relevant item belongs to one query), the guard is the plain dev figure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aptrank.data.dev import dev_slice
from aptrank.diagnose.strata import unseen_queries
from aptrank.errors import AptrankError
from aptrank.rankers.adapter import (  # noqa: F401 - the adapter itself, re-exported
    FORMAT,
    KINDS,
    QueryAdapter,
    load_adapter,
    save_adapter,
)
from aptrank.rankers.models import DEFAULT_EMBEDDING
from aptrank.types import Dataset, Qrels

if TYPE_CHECKING:
    from aptrank.evaluate.metrics import Evaluation

logger = logging.getLogger(__name__)

#: fewer judged training queries than this cannot choose an epoch on a dev slice and still train
MIN_JUDGED_QUERIES = 30
#: the weight decays toward the identity the dev slice chooses from
WEIGHT_DECAYS = (0.0, 1e-2, 1e-1)
#: how the decay and epoch are chosen on the dev slice (see the module docstring)
SELECTIONS = ("guarded", "dev")
ADAPTER_FILE = "adapter.npz"


@dataclass(frozen=True)
class AdapterConfig:
    """Everything ``aptrank adapt`` does; saved in the artifact's record."""

    model: str = DEFAULT_EMBEDDING  #: the encoder whose query embeddings are adapted
    kind: str = "linear"  #: linear (d × d and a bias) or lowrank (identity + a rank-r update)
    rank: int = 64  #: lowrank: r
    temperature: float = 0.05  #: softmax temperature on cosine scores
    lr: float = 1e-3  #: Adam learning rate
    epochs: int = 30  #: at most this many passes over the training queries
    patience: int = 5  #: stop after this many epochs without a better dev NDCG@10
    batch_size: int = 64  #: queries per step
    weight_decay: float | None = None  #: toward the identity; None: the dev slice chooses
    negatives: int = 100_000  #: the whole corpus up to this size, else documents sampled per step
    dev_size: int = 100  #: training queries held out to choose (a fifth when too few)
    seed: int = 0
    split: str = "train"  #: the judgments trained on
    #: guarded: best dev NDCG@10 that keeps the unseen dev queries at the plain encoder's figure;
    #: dev: best dev NDCG@10
    select: str = "guarded"

    def __post_init__(self) -> None:
        if self.select not in SELECTIONS:
            raise AptrankError(f"unknown adapter selection {self.select!r}; choose guarded or dev")
        if self.kind not in KINDS:
            raise AptrankError(f"unknown adapter kind {self.kind!r}; choose {' or '.join(KINDS)}")
        for name in ("rank", "epochs", "batch_size", "negatives", "dev_size"):
            if getattr(self, name) < 1:
                raise AptrankError(f"adapter {name} must be at least 1, got {getattr(self, name)}")
        if self.temperature <= 0 or self.lr <= 0 or (self.weight_decay or 0) < 0:
            raise AptrankError("adapter temperature and lr must be positive, weight_decay >= 0")


# ------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class AdapterReport:
    """What training chose and measured (dev figures come from :mod:`aptrank.evaluate`)."""

    dataset: str
    split: str
    train_queries: tuple[str, ...]
    dev_queries: tuple[str, ...]
    dev_ndcg10_before: float  #: the plain encoder on the dev slice
    dev_ndcg10_after: float  #: the chosen adapter on the dev slice (it chose the epoch)
    weight_decay: float
    epoch: int  #: the chosen epoch (0: the identity, nothing beat the plain encoder)
    curves: Mapping[str, list[float]]  #: {weight decay: dev NDCG@10 after epochs 0, 1, ...}
    model_fingerprint: str
    docs_encoded: int  #: corpus documents encoded because the cache lacked them (0: all cached)
    seconds: float
    config: Mapping[str, Any] = field(default_factory=dict)
    #: the dev queries none of whose relevant documents a training query shares, and the same
    #: curves on them (what ``select="guarded"`` keeps at or above epoch 0)
    unseen_dev_queries: tuple[str, ...] = ()
    unseen_curves: Mapping[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judged_query_ids(dataset: Dataset) -> list[str]:
    """The split's queries with a relevant judgment on a corpus document, sorted."""
    return sorted(
        q
        for q, docs in dataset.qrels.items()
        if q in dataset.queries and any(g > 0 and d in dataset.corpus for d, g in docs.items())
    )


def train_adapter(
    dataset: Dataset,
    config: AdapterConfig,
    query_ids: Iterable[str] | None = None,
    *,
    encoder: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[QueryAdapter, AdapterReport]:
    """Train a query adapter for ``config.model`` on the judged queries of ``dataset`` (those in
    ``query_ids`` when given), choosing weight decay and epoch on a dev slice of them.

    ``encoder`` replaces the model (tests); ``progress`` reports corpus encoding, needed only
    when the embedding cache lacks the corpus."""
    from aptrank.rankers.dense import DenseConfig, DenseRanker

    start = time.perf_counter()
    ids = _training_ids(dataset, config.split, query_ids)
    dev_n = config.dev_size if len(ids) > 2 * config.dev_size else max(1, len(ids) // 5)
    train_ids, dev_ids = dev_slice(ids, dev_n, config.seed)
    ranker = DenseRanker(DenseConfig(model=config.model), encoder=encoder, progress=progress)
    ranker.index(dataset.corpus)
    docs = ranker.embeddings
    pos = {d: i for i, d in enumerate(ranker.doc_ids)}
    _, q_train = ranker.encode_queries({q: dataset.queries[q].text for q in train_ids})
    dev_qids, q_dev = ranker.encode_queries({q: dataset.queries[q].text for q in dev_ids})
    positives = [
        [pos[d] for d, g in dataset.qrels[q].items() if g > 0 and d in pos] for q in train_ids
    ]
    dev_qrels = {q: dataset.qrels[q] for q in dev_ids}
    unseen = unseen_queries(dev_qrels, {q: dataset.qrels[q] for q in train_ids})
    model = ranker.model_id()

    def dev_ndcg(adapter: QueryAdapter) -> tuple[float, float]:
        run = ranker.search(dev_qids, adapter.apply(q_dev), 100)
        per_query = _per_query_ndcg10(dev_qrels, run)
        mean = sum(per_query.get(q, 0.0) for q in dev_ids) / len(dev_ids)
        guard = [per_query.get(q, 0.0) for q in unseen] if config.select == "guarded" else []
        return mean, sum(guard) / len(guard) if guard else float("nan")

    identity = QueryAdapter.identity(docs.shape[1], model, config.kind, config.rank)
    before = dev_ndcg(identity)
    decays = WEIGHT_DECAYS if config.weight_decay is None else (config.weight_decay,)
    fits = {
        wd: _fit(q_train, positives, docs, config, wd, model, dev_ndcg, before) for wd in decays
    }
    # the stronger decay wins a tie, then the earlier epoch (_fit keeps the first best epoch)
    wd = max(decays, key=lambda w: (fits[w][1][fits[w][3]], w))
    adapter, curve, unseen_curve, epoch = fits[wd]
    report = AdapterReport(
        dataset=dataset.name,
        split=config.split,
        train_queries=tuple(train_ids),
        dev_queries=tuple(dev_ids),
        dev_ndcg10_before=before[0],
        dev_ndcg10_after=curve[epoch],
        weight_decay=wd,
        epoch=epoch,
        curves={str(w): fits[w][1] for w in decays},
        unseen_dev_queries=tuple(unseen) if config.select == "guarded" else (),
        unseen_curves={str(w): fits[w][2] for w in decays} if config.select == "guarded" else {},
        model_fingerprint=model,
        docs_encoded=ranker.docs_encoded,
        seconds=round(time.perf_counter() - start, 1),
        config=asdict(config),
    )
    logger.info(
        "adapter: dev NDCG@10 %.4f -> %.4f (weight decay %g, epoch %d)",
        before[0],
        report.dev_ndcg10_after,
        wd,
        epoch,
    )
    return adapter, report


def _training_ids(dataset: Dataset, split: str, query_ids: Iterable[str] | None) -> list[str]:
    if dataset.split not in (None, split):
        raise AptrankError(f"the dataset holds the {dataset.split} split, the config names {split}")
    judged = judged_query_ids(dataset)
    if len(judged) < MIN_JUDGED_QUERIES:  # the dataset's floor; a fold trains on its share
        raise AptrankError(
            f"{len(judged)} judged {split} queries with a relevant document in {dataset.name}: "
            f"a query adapter needs at least {MIN_JUDGED_QUERIES}"
        )
    if query_ids is not None:
        given = sorted(set(query_ids))
        unknown = sorted(set(given) - set(judged))
        if unknown:
            raise AptrankError(
                f"{len(unknown)} of the {len(given)} given query ids have no relevant judgment "
                f"in the {split} split of {dataset.name} (e.g. {unknown[0]!r})"
            )
        judged = given
        if len(judged) < 5:
            raise AptrankError(f"{len(judged)} given query ids: a query adapter needs at least 5")
    return judged


def _per_query_ndcg10(qrels: Qrels, run: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    from aptrank.evaluate.metrics import evaluate

    return dict(evaluate(qrels, run, ["ndcg@10"]).per_query["ndcg@10"])


def _fit(
    queries: np.ndarray,
    positives: list[list[int]],
    docs: np.ndarray,
    config: AdapterConfig,
    weight_decay: float,
    model: str,
    dev_ndcg: Callable[[QueryAdapter], tuple[float, float]],
    before: tuple[float, float],
) -> tuple[QueryAdapter, list[float], list[float], int]:
    """Train with one weight decay: (the best adapter on dev, the dev curve, the curve on the
    unseen dev queries, the chosen epoch). ``dev_ndcg`` gives both figures of an adapter; an
    epoch whose unseen figure falls below epoch 0's is never chosen (NaN: no guard)."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    d = docs.shape[1]
    doc_t = torch.from_numpy(np.array(docs, dtype=np.float32))
    q_t = torch.from_numpy(np.asarray(queries, dtype=np.float32))
    if config.kind == "linear":
        params = {"W": torch.eye(d), "b": torch.zeros(d)}
    else:
        params = {"A": torch.randn(d, config.rank) / d**0.5, "B": torch.zeros(config.rank, d)}
    for p in params.values():
        p.requires_grad_(True)
    opt = torch.optim.Adam(list(params.values()), lr=config.lr)
    eye = torch.eye(d)
    best = QueryAdapter.identity(d, model, config.kind, config.rank)
    curve, unseen_curve, best_epoch = [before[0]], [before[1]], 0
    for epoch in range(1, config.epochs + 1):
        for batch in np.array_split(
            rng.permutation(len(q_t)), max(1, len(q_t) // config.batch_size)
        ):
            x = q_t[batch]
            x = (
                x @ params["W"] + params["b"]
                if config.kind == "linear"
                else x + (x @ params["A"]) @ params["B"]
            )
            cand, target = _candidates(
                [positives[i] for i in batch], len(docs), config.negatives, rng
            )
            pool = doc_t if cand is None else doc_t[torch.from_numpy(cand)]
            logits = torch.nn.functional.normalize(x, dim=1) @ pool.T / config.temperature
            loss = -(torch.from_numpy(target) * torch.log_softmax(logits, dim=1)).sum(1).mean()
            if config.kind == "linear":
                penalty = ((params["W"] - eye) ** 2).sum() + (params["b"] ** 2).sum()
            else:
                penalty = (params["A"] ** 2).sum() + (params["B"] ** 2).sum()
            opt.zero_grad()
            (loss + weight_decay * penalty).backward()
            opt.step()
        arrays = {k: v.detach().numpy().copy() for k, v in params.items()}
        adapter = QueryAdapter(config.kind, arrays, model)
        figure, guard = dev_ndcg(adapter)
        curve.append(figure)
        unseen_curve.append(guard)
        logger.info(
            "adapter wd %g epoch %d: loss %.4f, dev NDCG@10 %.4f (unseen %.4f)",
            weight_decay,
            epoch,
            float(loss.detach()),
            figure,
            guard,
        )
        kept = not guard < unseen_curve[0] - 1e-9  # NaN (no guard) keeps
        if kept and figure > curve[best_epoch] + 1e-9:
            best, best_epoch = adapter, epoch
        elif epoch - best_epoch >= config.patience:
            break
    return best, curve, unseen_curve, best_epoch


def _candidates(
    positives: list[list[int]], n_docs: int, negatives: int, rng: np.random.Generator
) -> tuple[np.ndarray | None, np.ndarray]:
    """The documents a batch's softmax runs over (None: all of them) and its target rows (each
    query's relevant documents share mass 1)."""
    cand = None
    if n_docs > negatives:
        sampled = rng.choice(n_docs, negatives, replace=False)
        cand = np.unique(np.concatenate([sampled, *[np.asarray(p, np.int64) for p in positives]]))
    target = np.zeros((len(positives), n_docs if cand is None else len(cand)), np.float32)
    for row, docs in enumerate(positives):
        cols = docs if cand is None else np.searchsorted(cand, docs)
        target[row, cols] = 1.0 / len(docs)
    return cand, target


# ------------------------------------------------------------------------------------- artifact


def adapter_pipeline(model: str, adapter_path: str) -> str:
    """The pipeline string that applies an adapter for ``model``.

    >>> adapter_pipeline("all-MiniLM-L6-v2", "./adapter.npz")
    'dense:all-MiniLM-L6-v2[adapter=./adapter.npz]'
    """
    return f"dense:{model}[adapter={adapter_path}]"


def evaluate_adapter(
    dataset: Dataset, model: str, adapter_path: str | Path | None, encoder: Any = None
) -> Evaluation:
    """NDCG@10 and recall@100 of ``dense:<model>`` on ``dataset``'s judged queries, with the
    adapter file when given (through the pipeline stage itself, as it will be used)."""
    from aptrank.evaluate.metrics import evaluate
    from aptrank.rankers.dense import DenseConfig, DenseRanker

    path = str(adapter_path) if adapter_path is not None else None
    ranker = DenseRanker(DenseConfig(model=model, adapter=path), encoder=encoder)
    queries = {q: dataset.queries[q].text for q in judged_query_ids(dataset)}
    run = ranker.index(dataset.corpus).rank(queries, 100)
    return evaluate({q: dataset.qrels[q] for q in queries}, run, ["ndcg@10", "recall@100"])


def unseen_document_queries(held_out: Dataset, train: Dataset, trained_on: Iterable[str]) -> list:
    """The held-out judged queries none of whose relevant documents is relevant to a query in
    ``trained_on``: an adapter cannot have learnt where their answers lie.

    >>> from aptrank.types import Doc, Query
    >>> corpus, queries = {"a": Doc("x"), "b": Doc("y")}, {"q": Query("x"), "r": Query("y")}
    >>> train = Dataset("t", corpus, queries, {"q": {"a": 1}})
    >>> unseen_document_queries(Dataset("t", corpus, queries, {"q": {"a": 1}, "r": {"b": 1}}),
    ...                         train, ["q"])
    ['r']
    """
    seen = {d for q in trained_on for d, g in train.qrels.get(q, {}).items() if g > 0}
    return [
        q
        for q in judged_query_ids(held_out)
        if not any(g > 0 and d in seen for d, g in held_out.qrels[q].items())
    ]


def write_adapter(
    out: str | Path,
    adapter: QueryAdapter,
    report: AdapterReport,
    dataset: Dataset,
    eval_split: Dataset | None = None,
    encoder: Any = None,
) -> tuple[Path, str, dict[str, Any]]:
    """Write ``out/adapter.npz`` and ``out/aptrank.json`` (a trained ranker usable as a pipeline
    string), measuring ``eval_split`` (held-out judgments) with and without the adapter. Returns
    the record's path, the pipeline string and the figures."""
    from aptrank.rankers.artifact import dataset_record, figure, write_artifact

    out = Path(out)
    config = AdapterConfig(**report.config)
    model = str(Path(config.model).resolve()) if Path(config.model).is_dir() else config.model
    path = save_adapter(adapter, out / ADAPTER_FILE)
    dev = f"{report.split} (dev slice)"
    n_dev = len(report.dev_queries)
    figures = {
        "dev": figure(
            {"ndcg@10": report.dev_ndcg10_after}, dev, n_dev, False, note="selects the epoch"
        ),
        "dev (no adapter)": figure({"ndcg@10": report.dev_ndcg10_before}, dev, n_dev, True),
    }
    if eval_split is not None:
        figures.update(_held_out_figures(eval_split, dataset, report, model, path, encoder))
    pipeline = adapter_pipeline(model, f"./{ADAPTER_FILE}")
    record = write_artifact(
        out,
        name=out.name,
        kind="adapter",
        pipeline=pipeline,
        description=(
            f"A {config.kind} query adapter for {config.model} trained on "
            f"{len(report.train_queries)} {report.split} queries of {dataset.name}: it maps query "
            "embeddings only, the cached document embeddings are used as they are."
        ),
        dataset=dataset_record(dataset),
        trained_on={
            "split": report.split,
            "queries": list(report.train_queries),
            "dev_queries": list(report.dev_queries),
        },
        base_model=config.model,
        config=asdict(config),
        seed=config.seed,
        figures=figures,
        extra={
            "docs_reencoded": 0,
            "model_fingerprint": report.model_fingerprint,
            "training": {
                k: v
                for k, v in report.to_dict().items()
                if k not in ("train_queries", "dev_queries", "config")
            },
        },
    )
    return record, pipeline, figures


def _held_out_figures(
    held_out: Dataset,
    train: Dataset,
    report: AdapterReport,
    model: str,
    path: Path,
    encoder: Any,
) -> dict[str, Any]:
    """The held-out split with and without the adapter, also on its queries whose relevant
    documents no training query shares (where a corpus reuses relevant documents across splits,
    as SciFact does, the adapter can learn where answers lie rather than how queries read)."""
    from aptrank.rankers.artifact import figure

    split = str(held_out.split)
    fresh = unseen_document_queries(held_out, train, [*report.train_queries, *report.dev_queries])
    note = "queries none of whose relevant documents is relevant to a training query"
    figures = {}
    for label, file in ((split, path), (f"{split} (no adapter)", None)):
        ev = evaluate_adapter(held_out, model, file, encoder)
        figures[label] = figure(ev.means, split, ev.n_queries, True)
        if fresh:
            means = {m: float(np.mean([v[q] for q in fresh])) for m, v in ev.per_query.items()}
            figures[f"{label}, unseen documents"] = figure(
                means, split, len(fresh), True, note=note
            )
    return figures
