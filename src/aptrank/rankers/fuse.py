"""``fuse(A,B,...)``: a weighted sum of the members' normalised scores.

Every member scores the same candidates; each member's scores are normalised, a missing score is
filled with the member's per-query minimum, and the weighted sum is the fused score.

* ``norm=zscore`` (the default): per query, over the member's candidate scores (mean 0, standard
  deviation 1). Scale-free, so untrained weights (all equal) are a fair start.
* ``norm=global``: each member divided by one scale fitted once (its score standard deviation
  over the fit candidates). A pair's fused score then depends on that pair alone, which is what
  a teacher needs: the ensemble teacher of ``aptrank teach`` is this code with ``norm=global``.

As a reranker (``bm25>>fuse(bm25,dense,ce:M)@30``) it scores the given candidates; it retrieves
on its own only when every member retrieves, over the union of their top ``depth`` lists
(default 1000, or the depth its weights were fitted on).
``fuse(...)[weights=<file>]`` loads weights fitted by ``aptrank fit-fusion``
(:mod:`aptrank.train.fusion`); without a file the members count equally.

Written here rather than taken from ranx: ranx's fusion normalises whole runs (not per query with
the missing-score rule above), has no per-pair mode for teachers, and pulls in numba.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aptrank.data.jsonfile import read_json_object
from aptrank.data.runs import cut
from aptrank.errors import AptrankError, DataError
from aptrank.rankers.base import Ranker
from aptrank.types import Corpus, Run

logger = logging.getLogger(__name__)

NORMS = ("zscore", "global")
WEIGHTS_FORMAT = "aptrank-fuse-weights/1"


def weighted_sum(
    scores: np.ndarray, weights: Sequence[float], scales: Sequence[float]
) -> np.ndarray:
    """``(n, members)`` scores → ``(n,)``: ``Σ weight_i · score_i / scale_i`` (NaN stays NaN).

    >>> weighted_sum(np.array([[2.0, 10.0], [4.0, 0.0]]), [1.0, 0.5], [2.0, 10.0])
    array([1.5, 2. ])
    """
    return (np.asarray(scores, float) / np.asarray(scales, float)) @ np.asarray(weights, float)


def normalise(scores: Mapping[str, float], norm: str, scale: float = 1.0) -> dict[str, float]:
    """One member's scores for one query, normalised (``zscore`` or ``global`` with ``scale``).

    >>> normalise({"a": 3.0, "b": 1.0}, "zscore")
    {'a': 1.0, 'b': -1.0}
    >>> normalise({"a": 3.0, "b": 1.0}, "global", scale=2.0)
    {'a': 1.5, 'b': 0.5}
    """
    if not scores:
        return {}
    values = np.fromiter(scores.values(), float, len(scores))
    if norm == "zscore":
        std = values.std()
        values = (values - values.mean()) / std if std > 0 else np.zeros_like(values)
    elif norm == "global":
        values = values / scale
    else:
        raise AptrankError(f"unknown fusion norm {norm!r}; choose {' or '.join(NORMS)}")
    return dict(zip(scores, map(float, values)))


def feature_table(
    member_runs: Sequence[Mapping[str, Mapping[str, float]]],
    norm: str = "zscore",
    scales: Sequence[float] | None = None,
    candidates: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """``{qid: {doc: [normalised score of member 0, 1, ...]}}`` over the union of the members'
    documents (or exactly ``candidates``' when given); a member's missing score is its per-query
    minimum (0 when it scored nothing for the query).

    >>> feature_table([{"q": {"a": 2.0, "b": 0.0}}, {"q": {"a": 1.0}}], "global", [1.0, 1.0])
    {'q': {'a': [2.0, 1.0], 'b': [0.0, 1.0]}}
    """
    scales = list(scales) if scales is not None else [1.0] * len(member_runs)
    queries = list(candidates) if candidates is not None else sorted(set().union(*member_runs))
    table: dict[str, dict[str, list[float]]] = {}
    for qid in queries:
        normed = [normalise(run.get(qid, {}), norm, s) for run, s in zip(member_runs, scales)]
        docs = (
            list(candidates[qid])
            if candidates is not None
            else list(dict.fromkeys(d for n in normed for d in n))
        )
        floor = [min(n.values()) if n else 0.0 for n in normed]
        table[qid] = {d: [n.get(d, f) for n, f in zip(normed, floor)] for d in docs}
    return table


def fuse_runs(
    member_runs: Sequence[Mapping[str, Mapping[str, float]]],
    weights: Sequence[float] | None = None,
    norm: str = "zscore",
    scales: Sequence[float] | None = None,
    candidates: Mapping[str, Any] | None = None,
) -> Run:
    """The fused run: :func:`feature_table` then :func:`weighted_sum` (equal weights if none).

    >>> fuse_runs([{"q": {"a": 3.0, "b": 1.0}}, {"q": {"a": 0.0, "b": 2.0}}], [2.0, 1.0])
    {'q': {'a': 1.0, 'b': -1.0}}
    """
    weights = list(weights) if weights is not None else [1.0] * len(member_runs)
    if len(weights) != len(member_runs):
        raise AptrankError(f"{len(weights)} weights for {len(member_runs)} fusion members")
    table = feature_table(member_runs, norm, scales, candidates)
    ones = [1.0] * len(weights)  # the scales were applied by the normalisation
    run: Run = {}
    for qid, docs in table.items():
        if docs:
            fused = weighted_sum(np.asarray(list(docs.values())), weights, ones)
            run[qid] = dict(zip(docs, map(float, fused)))
        else:
            run[qid] = {}
    return run


# ------------------------------------------------------------------------------ weights files


@dataclass(frozen=True)
class Member:
    kind: str  #: the member's stage kinds (``bm25``, ``dense``, ``bm25>>ce``): what must match
    pipeline: str  #: the pipeline string it was fitted as


@dataclass(frozen=True)
class FuseWeights:
    """What ``fuse(...)[weights=<file>]`` loads; written by ``aptrank fit-fusion``."""

    members: tuple[Member, ...]
    weights: tuple[float, ...]
    norm: str = "zscore"
    scales: tuple[float, ...] | None = None  #: ``norm=global``: each member's fitted scale
    first_stage: str | None = None  #: the candidates' first stage (None: fuse retrieves)
    depth: int | None = None  #: candidates per query it was fitted on
    judgments: dict[str, Any] = field(default_factory=dict)  #: dataset, split, queries used
    fit: dict[str, Any] = field(default_factory=dict)  #: method, dev figures, ...

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.members):
            raise AptrankError(f"{len(self.weights)} weights for {len(self.members)} members")
        if self.norm not in NORMS:
            raise AptrankError(f"unknown fusion norm {self.norm!r}; choose {' or '.join(NORMS)}")
        if self.norm == "global" and (self.scales is None or len(self.scales) != len(self.members)):
            raise AptrankError("norm=global needs one fitted scale per member")

    def to_dict(self) -> dict[str, Any]:
        return {"format": WEIGHTS_FORMAT, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        from aptrank.experiment import write_json

        return write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> FuseWeights:
        """Read a weights file; anything malformed is a :class:`DataError` naming the field."""
        path = Path(path)
        data = read_json_object(path, "fusion weights file")
        if data.get("format") != WEIGHTS_FORMAT:
            raise DataError(f"not a fusion weights file (format is not {WEIGHTS_FORMAT!r})", path)
        try:
            members = tuple(Member(str(m["kind"]), str(m["pipeline"])) for m in data["members"])
            scales = data.get("scales")
            return cls(
                members=members,
                weights=tuple(float(w) for w in data["weights"]),
                norm=str(data.get("norm", "zscore")),
                scales=tuple(float(s) for s in scales) if scales is not None else None,
                first_stage=data.get("first_stage"),
                depth=int(data["depth"]) if data.get("depth") is not None else None,
                judgments=dict(data.get("judgments") or {}),
                fit=dict(data.get("fit") or {}),
            )
        except KeyError as e:
            raise DataError(f"missing field {e.args[0]!r}", path) from None
        except (TypeError, ValueError, AptrankError) as e:
            raise DataError(f"malformed weights: {e}", path) from None


def _built_name(pipeline: str) -> str:
    """The name the ranker a fitted member's pipeline builds carries (``dense`` for
    ``dense:all-MiniLM-L6-v2``, an absolute path for ``dense:../x``), or the string itself."""
    from aptrank.rankers.registry import build_ranker

    try:
        return build_ranker(pipeline).name
    except AptrankError:
        return pipeline


# ------------------------------------------------------------------------------------ the stage


class FuseRanker(Ranker):
    """``fuse(A,B,...)[weights=<file>,norm=zscore|global,depth=N]`` (see the module docstring)."""

    def __init__(
        self,
        members: Sequence[Ranker],
        weights: FuseWeights | None = None,
        norm: str | None = None,
        depth: int | None = None,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        if len(members) < 2:
            raise AptrankError("fuse(...) needs at least two members")
        self.members = list(members)
        self.rankers = self.members  # what walk() and progress hooks look for
        self.fitted = weights
        self.weights_path = weights_path
        #: documents each member retrieves when fuse is the first stage (the pool is their union)
        self.depth = (
            depth or (weights.depth if weights and not weights.first_stage else None) or 1000
        )
        if weights is not None:
            self._check_members(weights)
            if norm is not None and norm != weights.norm:
                raise AptrankError(
                    f"norm={norm} but the weights in {weights_path} were fitted with "
                    f"norm={weights.norm}"
                )
            norm = weights.norm
        self.norm = norm or "zscore"
        if self.norm not in NORMS:
            raise AptrankError(f"unknown fusion norm {self.norm!r}; choose {' or '.join(NORMS)}")
        if self.norm == "global" and weights is None:
            raise AptrankError("fuse(...)[norm=global] needs weights=<file>: its scales are fitted")
        opts = [f"weights={weights_path}"] if weights_path else []
        opts += [f"norm={self.norm}"] if weights is None and self.norm != "zscore" else []
        inner = ",".join(m.name for m in self.members)
        self.name = f"fuse({inner})" + (f"[{','.join(opts)}]" if opts else "")

    @property
    def kind(self) -> str:
        return "fuse"

    @property
    def weights(self) -> tuple[float, ...]:
        return self.fitted.weights if self.fitted else (1.0,) * len(self.members)

    @property
    def scales(self) -> tuple[float, ...] | None:
        return self.fitted.scales if self.fitted else None

    def _check_members(self, fitted: FuseWeights) -> None:
        kinds = [m.kind for m in self.members]
        want = [m.kind for m in fitted.members]
        if kinds != want:
            raise AptrankError(
                f"fusion weights {self.weights_path or ''} were fitted for members "
                f"{[m.pipeline for m in fitted.members]} (kinds {want}); this fuse has "
                f"{[m.name for m in self.members]} (kinds {kinds})"
            )
        for m, f in zip(self.members, fitted.members):
            if m.name != f.pipeline and m.name != _built_name(f.pipeline):
                logger.warning("fusion member %r stands where %r was fitted", m.name, f.pipeline)

    def check_depth(self, depth: int) -> None:
        """Warn when the candidates per query differ from those the weights were fitted on."""
        if self.fitted and self.fitted.depth is not None and self.fitted.depth != depth:
            logger.warning(
                "%s: weights fitted on %d candidates per query, used on %d",
                self.name,
                self.fitted.depth,
                depth,
            )

    def config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "norm": self.norm,
            "weights": list(self.weights),
            "scales": list(self.scales) if self.scales else None,
            "weights_file": self.weights_path,
            "depth": self.depth,
            "members": [m.config() for m in self.members],
        }

    @property
    def retrieves(self) -> bool:
        return all(m.retrieves for m in self.members)

    def index(self, corpus: Corpus) -> FuseRanker:
        super().index(corpus)
        for m in self.members:
            m.index(corpus)
        return self

    def member_runs(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]] | None
    ) -> list[Run]:
        """What the members give the stage: their scores of ``candidates`` (as a reranker), or
        their own top ``depth`` (as a first stage). ``aptrank fit-fusion`` fits on exactly this."""
        if candidates is not None:
            return [m.rerank(queries, candidates) for m in self.members]
        if not self.retrieves:
            cannot = [m.name for m in self.members if not m.retrieves]
            raise AptrankError(
                f"{self.name} cannot retrieve: {', '.join(cannot)} only rerank; put a first "
                f"stage before it, e.g. 'bm25>>{self.name}@100'"
            )
        if self.fitted and self.fitted.first_stage:
            logger.warning(
                "%s: weights fitted as a reranker of %s's top %s, used here as a first stage "
                "over the members' top %d (put '%s>>' before it to use them as fitted)",
                self.name,
                self.fitted.first_stage,
                self.fitted.depth,
                self.depth,
                self.fitted.first_stage,
            )
        else:
            self.check_depth(self.depth)
        return [m.rank(queries, self.depth) for m in self.members]

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        runs = self.member_runs(queries, None)
        return cut(fuse_runs(runs, self.weights, self.norm, self.scales), k)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        runs = self.member_runs(queries, candidates)
        return fuse_runs(runs, self.weights, self.norm, self.scales, candidates=candidates)
