"""The compatibility scorer: a cross-encoder reading (constraint statement, document) that says
whether the document satisfies the constraint (1) or violates it (0).

Trained by :func:`train_scorer` on generated pairs (:mod:`aptrank.constraints.generate`) with
the cross-encoder trainer of :mod:`aptrank.train.cross_encoder` (binary cross-entropy, MiniLM
backbone), into an artifact folder: ``scorer/`` (the sentence-transformers CrossEncoder) and
``aptrank.json``, whose pipeline ``constrain(bm25)[model=.]`` makes the folder usable as a
ranker; the stage takes it as ``constrain(PIPELINE)[model=<folder>]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aptrank.constraints.parse import ParsedQuery
from aptrank.errors import AptrankError

logger = logging.getLogger(__name__)

SCORER_DIR = "scorer"
KIND = "constraint-scorer"


class CompatibilityScorer:
    """Violation strengths (``1 - P(satisfies)``) of documents against queries' exclusions."""

    def __init__(self, model: str, max_length: int = 256) -> None:
        from aptrank.rankers.encoders import load_pair_scorer

        self.model = model
        self._scorer = load_pair_scorer(model, "torch", max_length)

    def satisfies(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> list[float]:
        """P(satisfies) of each (statement, document) pair (the head's sigmoid)."""
        return [float(x) for x in self._scorer.score(list(pairs), batch_size=batch_size)]

    def violations(
        self, items: Sequence[tuple[ParsedQuery, str]], batch_size: int = 32
    ) -> list[float]:
        """For each (parsed query, document text): the strongest violation of its exclusions."""
        flat = [(i, c.statement(), doc) for i, (p, doc) in enumerate(items) for c in p.exclusions]
        probs = self.satisfies([(s, d) for _, s, d in flat], batch_size)
        out = [0.0] * len(items)
        for (i, _, _), p in zip(flat, probs):
            out[i] = max(out[i], 1.0 - p)
        return out


def scorer_folder(folder: str | Path) -> str:
    """The CrossEncoder inside an artifact folder, or ``folder`` itself when it is one."""
    path = Path(folder)
    if (path / SCORER_DIR / "config.json").exists():
        return str(path / SCORER_DIR)
    if (path / "config.json").exists():
        return str(path)
    raise AptrankError(
        f"{folder} holds no compatibility scorer (no {SCORER_DIR}/config.json); train one with "
        "`aptrank constraints train --pairs DIR --out FOLDER`"
    )


def load_scorer(folder: str | Path, max_length: int = 256) -> CompatibilityScorer:
    return CompatibilityScorer(scorer_folder(folder), max_length)


# ------------------------------------------------------------------------------------ dev pairs


def pair_accuracy(satisfying: Sequence[float], violating: Sequence[float]) -> float:
    """Share of records whose satisfier scores above its violator, ties as half.

    >>> pair_accuracy([0.9, 0.5, 0.2], [0.1, 0.5, 0.3])
    0.5
    """
    won = sum(1.0 if s > v else 0.5 if s == v else 0.0 for s, v in zip(satisfying, violating))
    return won / len(satisfying) if satisfying else float("nan")


def dev_query(record: Mapping[str, Any]) -> ParsedQuery:
    """The parsed query a generated exclusion record stands for: its statement's exclusion alone
    (``exclude: Y``), with no topic."""
    from aptrank.constraints.parse import Constraint

    c = Constraint("exclusion", record["statement"].removeprefix("exclude: "), "dev")
    return ParsedQuery("", "", (c,))


def dev_figures(
    records: Sequence[Mapping[str, Any]],
    scorer: CompatibilityScorer | None,
    batch_size: int = 32,
    semantic: Any = None,
) -> dict[str, dict[str, float]]:
    """Pair accuracy per kind (and ``all``) of the rule check and, when given, the scorer and the
    semantic check (a :class:`~aptrank.constraints.semantic.SemanticChecker`), on exclusion-like
    records (``exclusion``, ``paraphrase``). A satisfier "scores" 1 - strength."""
    from aptrank.constraints.check import RuleChecker

    checker = RuleChecker.from_texts(
        [r["satisfying"] for r in records] + [r["violating"] for r in records]
    )
    rows = [r for r in records if r["kind"] in ("exclusion", "paraphrase")]
    out: dict[str, dict[str, float]] = {}
    model_sat: list[float] = []
    model_vio: list[float] = []
    if scorer is not None:
        model_sat = scorer.satisfies([(r["statement"], r["satisfying"]) for r in rows], batch_size)
        model_vio = scorer.satisfies([(r["statement"], r["violating"]) for r in rows], batch_size)
    if semantic is not None:
        sem_sat = [
            1 - v for v in semantic.violations([(dev_query(r), r["satisfying"]) for r in rows])
        ]
        sem_vio = [
            1 - v for v in semantic.violations([(dev_query(r), r["violating"]) for r in rows])
        ]
    for kind in ("all", "exclusion", "paraphrase"):
        idx = [i for i, r in enumerate(rows) if kind == "all" or r["kind"] == kind]
        if not idx:
            continue
        rule_sat, rule_vio = [], []
        for i in idx:
            parsed = dev_query(rows[i])
            rule_sat.append(1 - checker.violation(parsed, rows[i]["satisfying"]))
            rule_vio.append(1 - checker.violation(parsed, rows[i]["violating"]))
        figs = {"records": float(len(idx)), "rule_accuracy": pair_accuracy(rule_sat, rule_vio)}
        if scorer is not None:
            figs["model_accuracy"] = pair_accuracy(
                [model_sat[i] for i in idx], [model_vio[i] for i in idx]
            )
            combined_sat = [min(a, model_sat[i]) for a, i in zip(rule_sat, idx)]
            combined_vio = [min(a, model_vio[i]) for a, i in zip(rule_vio, idx)]
            figs["rules_and_model_accuracy"] = pair_accuracy(combined_sat, combined_vio)
        if semantic is not None:
            figs["semantic_accuracy"] = pair_accuracy(
                [sem_sat[i] for i in idx], [sem_vio[i] for i in idx]
            )
        out[kind] = figs
    return out


# -------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class ScorerTrainConfig:
    """How the compatibility scorer is trained (the cross-encoder trainer's settings)."""

    backbone: str = "all-MiniLM-L6-v2"
    kinds: tuple[str, ...] = ("exclusion", "paraphrase")  #: record kinds trained on
    max_length: int = 192
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 16
    learning_rate: float = 7e-5
    seed: int = 0


def training_pairs(
    records: Sequence[Mapping[str, Any]], kinds: Sequence[str]
) -> list[tuple[str, str, float]]:
    """Two human pairs per record: (statement, satisfying, 1) and (statement, violating, 0)."""
    out: list[tuple[str, str, float]] = []
    for r in records:
        if r["kind"] in kinds:
            out += [(r["statement"], r["satisfying"], 1.0), (r["statement"], r["violating"], 0.0)]
    return out


def train_scorer(
    pairs_dir: Path, out: Path, config: ScorerTrainConfig, progress: bool = True
) -> dict[str, Any]:
    """Train on ``pairs_dir``'s train.jsonl, measure on its dev.jsonl, write the artifact."""
    from aptrank.constraints.generate import read_pairs
    from aptrank.data.jsonfile import read_json_object
    from aptrank.rankers.artifact import write_artifact
    from aptrank.train.cross_encoder import CrossEncoderTrainConfig, train_cross_encoder

    train = read_pairs(pairs_dir / "train.jsonl")
    dev = read_pairs(pairs_dir / "dev.jsonl")
    human = training_pairs(train, config.kinds)
    if not human:
        raise AptrankError(f"no training records of kinds {config.kinds} in {pairs_dir}")
    trainer_fields = {k: v for k, v in asdict(config).items() if k != "kinds"}
    ce_config = CrossEncoderTrainConfig(**trainer_fields, balance_human=False)
    start = time.perf_counter()
    result = train_cross_encoder(out / SCORER_DIR, ce_config, human=human, progress=progress)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    figures = dev_figures(dev, CompatibilityScorer(str(out / SCORER_DIR), config.max_length))
    dev_s = time.perf_counter() - start
    generated = read_json_object(pairs_dir / "generate.json", "generated pairs record")
    write_artifact(
        out,
        name=out.name,
        kind=KIND,
        pipeline=f"constrain(bm25)[model=.,max_length={config.max_length}]",
        description="Compatibility scorer for constrain(...): does a document satisfy or violate "
        "a query's exclusion? Trained on pairs generated from a corpus's documents alone.",
        dataset={"name": generated.get("corpus"), "generated": generated},
        trained_on={"records": len(train), "pairs": len(human), "kinds": list(config.kinds)},
        base_model=config.backbone,
        config=asdict(config),
        seed=config.seed,
        figures={f"generated dev pairs ({k})": v for k, v in figures.items()},
        extra={"train_s": round(train_s, 1), "dev_s": round(dev_s, 1), "steps": result.global_step},
    )
    return {"figures": figures, "train_s": train_s, "steps": result.global_step}
