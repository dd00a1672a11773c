"""``aptrank rank``: rank queries over a dataset's corpus and write the run; no judgments needed.

The output file's extension picks its format: ``.trec``/``.txt`` is a TREC run (tag = the
pipeline string), ``.jsonl`` is one line per query, ``{"query_id": ..., "results": [{"doc_id":
..., "score": ..., "rank": ...}, ...]}`` in trec_eval's order.
"""

from __future__ import annotations

from pathlib import Path

import typer

from aptrank.cli._common import ENGINE_OPTION, RAY_ADDRESS_OPTION

PIPELINE_HELP = (
    "One pipeline string, as for evaluate: 'bm25', 'dense', 'dense:<model>', "
    "'bm25>>ce:<model>@100' (ce reranks bm25's top 100), 'rrf(A,B)'. It must retrieve: a "
    "reranker needs a first stage."
)
TREC_SUFFIXES = (".trec", ".txt")
JSONL_SUFFIXES = (".jsonl",)
QUERIES_HELP = (
    "Queries to rank instead of the dataset's: JSONL ({'_id', 'text'} per line, as BEIR "
    "queries.jsonl), CSV with a header, or .tsv of 'id<TAB>text' lines (no quoting; an optional "
    "first line 'id<TAB>text' is skipped)."
)


def rank(
    corpus: str = typer.Argument(
        ..., help="A BEIR folder, or a name found through APTRANK_DATA, whose corpus is ranked."
    ),
    pipeline: str = typer.Option(..., "--pipeline", "-p", help=PIPELINE_HELP),
    out: Path = typer.Option(
        ..., "--out", "-o", help="The run file: .trec or .txt (TREC run), or .jsonl."
    ),
    queries: Path = typer.Option(None, "--queries", "-q", help=QUERIES_HELP),
    k: int = typer.Option(100, "--k", "-k", min=1, help="Documents kept per query."),
    split: str = typer.Option(
        "test",
        "--split",
        "-s",
        help="Without --queries: rank this split's judged queries, or every query of the "
        "dataset when the split has no qrels file.",
    ),
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Rank queries over a corpus with one pipeline and write the run (TREC or JSONL)."""
    from aptrank.cli._common import progress_bars, say, set_engine, setup_logging
    from aptrank.data.records import load_query_file
    from aptrank.data.runs import write_jsonl_run, write_trec_run
    from aptrank.data.unjudged import load_unjudged
    from aptrank.errors import AptrankError
    from aptrank.experiment import check_retrieves, rank_corpus
    from aptrank.rankers import build_ranker

    setup_logging(verbose)
    set_engine(engine, ray_address)
    suffix = out.suffix.lower()
    if suffix not in TREC_SUFFIXES + JSONL_SUFFIXES:
        accepted = ", ".join(TREC_SUFFIXES + JSONL_SUFFIXES)
        raise AptrankError(f"--out {out}: unknown extension {suffix!r}; use one of {accepted}")
    ranker = build_ranker(pipeline)
    check_retrieves(pipeline, ranker)
    given = load_query_file(queries) if queries is not None else None
    ds = load_unjudged(corpus, split, queries=given)
    if given is not None:
        to_rank, source = given, str(queries)
    elif ds.split is not None:
        to_rank, source = ds.judged_queries(), f"the judged queries of split {ds.split!r}"
    else:
        to_rank, source = ds.queries, f"all queries (no qrels for split {split!r})"
    if not to_rank:
        raise AptrankError(f"no queries to rank in {source}")
    say(f"{ds!r}: ranking {len(to_rank)} queries from {source} with {pipeline}")
    texts = {qid: q.text for qid, q in to_rank.items()}
    with progress_bars(progress) as bars:
        run = rank_corpus(ranker, ds.corpus, texts, k, bars)
    if suffix in TREC_SUFFIXES:
        write_trec_run(run, out, tag=pipeline)
    else:
        write_jsonl_run(run, texts, out)
    say(f"ranked {len(texts)} queries (top {k} of {len(ds.corpus)} documents): wrote {out}")
