"""A teacher for fine-tuning (``aptrank finetune --teacher``), and GPL-style synthetic queries.

The teacher is any ``aptrank teach`` spec (``ce:<model>``, ``trained:<backbone>``,
``ranker:<pipeline>``, ``ensemble(...)``, an LLM or HTTP judge). It scores every pair fine-tuning
may use, (query, relevant document) and (query, mined candidate), through teach's label store
(:mod:`aptrank.teach.labeling`): labels are committed batch by batch, so a killed run resumes
without scoring a pair twice, and a second fine-tune with the same teacher scores nothing. The
scores then

* filter false negatives: a candidate the teacher scores at least as high as the positive minus
  ``teacher_margin`` is more likely an unjudged positive than a negative (RocketQA's denoising,
  Qu et al. 2021), and
* are the targets of ``margin-mse`` (Hofstätter et al. 2021).

**Synthetic queries** (GPL, Wang et al. 2022): for a corpus with few or no judgments, queries that
``aptrank teach``'s generator writes for a seeded sample of documents (cached with teach's; the
same file ``aptrank teach`` reuses), each with the document it was written from as its positive,
negatives mined like a judged query's, and the teacher's margins as the targets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aptrank.errors import AptrankError
from aptrank.types import Corpus, Qrels, Query

if TYPE_CHECKING:
    from aptrank.teach.workflow import TeachContext
    from aptrank.train.finetune import FinetuneConfig
    from aptrank.train.negatives import TeacherLabels

logger = logging.getLogger(__name__)

ProgressFactory = Callable[[str], Callable[[int, Any], None]]


def teach_context(config: FinetuneConfig, progress: ProgressFactory | None = None) -> TeachContext:
    """Teach's context for the fine-tuning split: its label store, cache folder and dev slice
    (the same seeded slice fine-tuning holds out: same judged queries, size and seed)."""
    from aptrank.data import load_dataset
    from aptrank.teach.workflow import TeachConfig, TeachContext
    from aptrank.train.finetune import training_queries

    assert config.teacher is not None
    # finetune's own dev slice (its size rule), so a teacher fitted or trained on the judgments
    # never sees a dev query
    _, dev = training_queries(load_dataset(config.dataset, config.split), None, config)
    teach = TeachConfig(
        dataset=config.dataset,
        teacher=config.teacher,
        train_split=config.split,
        eval_split=config.split,
        dev_size=len(dev) or config.dev_size,
        seed=config.seed,
        synthetic_docs=config.synthetic_docs,
        generator=config.generator,
        label_eval=False,
    )
    return TeachContext(teach, progress)


def synthetic_training(ctx: TeachContext) -> tuple[dict[str, str], Qrels]:
    """GPL queries: ``{qid: text}`` and ``{qid: {source document: 1}}`` (generated once, cached
    in teach's folder; the generator never reads a judgment)."""
    from aptrank.rankers.cache import key
    from aptrank.teach.synthetic import SyntheticConfig, generate_queries, sample_documents

    cfg = ctx.config
    gen = SyntheticConfig(model=cfg.generator, prompt=cfg.generator_prompt, seed=cfg.seed)
    docs = sample_documents(ctx.corpus, min(cfg.synthetic_docs, len(ctx.corpus)), cfg.seed)
    path = ctx.folder / f"synthetic-{key(asdict(gen))}.jsonl"
    queries: dict[str, Query] = generate_queries(
        ctx.corpus, docs, gen, path, progress=ctx.bar("synthetic queries")
    )
    texts = {q: v.text for q, v in queries.items()}
    qrels = {q: {str(v.meta["source_doc"]): 1} for q, v in queries.items()}
    return texts, qrels


def teacher_labels(
    ctx: TeachContext,
    queries: Mapping[str, str],
    qrels: Qrels,
    candidates: Mapping[str, Sequence[str]],
    corpus: Corpus,
    restricted: bool,
) -> TeacherLabels:
    """The teacher's score of every (query, relevant document) and (query, candidate) pair.

    ``restricted``: training is limited to some judged queries (a fold), so a teacher trained on
    the split's judgments would have seen the held-out ones: refused."""
    from aptrank.teach.workflow import build_teacher, label, stored_run

    spec = ctx.config.teacher
    if restricted and "trained:" in spec:
        raise AptrankError(
            f"teacher {spec!r} trains on every judged query of the split, the held-out fold "
            "included: give a teacher that was not trained on this split's judgments"
        )
    teacher = build_teacher(spec, ctx)
    pairs = []
    for q in sorted(queries):
        relevant = [d for d, g in qrels.get(q, {}).items() if g > 0 and d in corpus]
        for d in dict.fromkeys([*relevant, *candidates.get(q, ())]):
            pairs.append((q, queries[q], d, corpus[d].full_text))
    label(ctx, teacher, pairs, "fine-tuning pairs")
    labels = stored_run(ctx.store, teacher, pairs)
    missing = len(pairs) - sum(len(v) for v in labels.values())
    if missing:  # left out of training (counted as no_teacher_label); a re-run retries them
        logger.warning("the teacher gave no score for %d of %d pairs", missing, len(pairs))
    return labels
