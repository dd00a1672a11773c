"""Satisfying/violating pairs generated from a corpus's documents alone, for the compatibility
scorer: no query and no judgment is read (:func:`corpus_only` opens ``corpus.jsonl`` and nothing
else), so pairs from another corpus (SciFact's) keep an evaluated dataset untouched.

Every record holds a ``statement`` (what the scorer reads on the query side, as
:meth:`~aptrank.constraints.parse.Constraint.statement` writes it), a ``satisfying`` and a
``violating`` text, its ``kind`` and the ``reason`` in words. Rules around a document's terms:

* ``exclusion``: a term of the document is excluded; the violator is the document with one
  sentence that does not name the term removed, the satisfier the document without every
  sentence naming it (both shortened, so length tells nothing);
* ``paraphrase``: a term defined with its acronym (``tumour necrosis factor (TNF)``) is excluded by
  one form while the violator names it only by the other, so string matching cannot pass;
* ``antonym``: the statement is a sentence of the document; the violator swaps one of its
  direction words for the opposite (``increases`` → ``decreases``);
* ``negation``: the violator negates the sentence (``is`` → ``is not``).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aptrank.constraints.parse import DIRECTIONS, STOPWORDS, Constraint, words
from aptrank.types import Corpus

KINDS = ("exclusion", "paraphrase", "antonym", "negation")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
_ACRONYM = re.compile(r"((?:[A-Za-z][\w-]*\s+){0,5}[A-Za-z][\w-]*)\s+\(([A-Z][A-Za-z0-9-]{1,9})\)")
_AUX_IS = re.compile(r"\b(is|are|was|were|can|could|may|might|does|did|do|has|have)\b")


@dataclass(frozen=True)
class GenerateConfig:
    n: int = 3000  #: training records
    dev: int = 300  #: dev records (from documents no training record uses)
    max_words: int = 180  #: words kept of each document (title + text)
    kinds: tuple[str, ...] = KINDS
    seed: int = 0


def corpus_only(name_or_path: str | Path) -> Corpus:
    """The documents of a BEIR folder (or a name on the search path), and nothing else."""
    from aptrank.data.beir import record_file
    from aptrank.data.records import load_corpus
    from aptrank.data.resolve import find_dataset
    from aptrank.errors import DataError

    folder = Path(name_or_path) if Path(name_or_path).is_dir() else find_dataset(str(name_or_path))
    if folder is None:
        raise DataError(f"no corpus folder {name_or_path!r} (a BEIR folder or a dataset name)")
    return load_corpus(record_file(folder, "corpus"))


def sentences(text: str) -> list[str]:
    """
    >>> sentences("TNF rises. It falls (p < 0.05). 3 mice died.")
    ['TNF rises.', 'It falls (p < 0.05).', '3 mice died.']
    """
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def acronyms(text: str) -> list[tuple[str, str]]:
    """``(long form, acronym)`` pairs defined in ``text``, the long form's words matched to the
    acronym's letters.

    >>> acronyms("levels of tumour necrosis factor (TNF) and IL-6 rose")
    [('tumour necrosis factor', 'TNF')]
    """
    out = []
    for m in _ACRONYM.finditer(text):
        letters = re.sub(r"[^a-z]", "", m.group(2).lower())
        ws = m.group(1).split()
        for n in range(1, len(ws) + 1):
            if "".join(w[0].lower() for w in ws[-n:]) == letters:
                out.append((" ".join(ws[-n:]), m.group(2)))
                break
    return out


def _mentions(sentence: str, term: str) -> bool:
    return re.search(rf"\b{re.escape(term)}", sentence, re.IGNORECASE) is not None


def _drop(sents: list[str], keep: Iterable[int]) -> str:
    kept = set(keep)
    return " ".join(s for i, s in enumerate(sents) if i in kept)


def _exclusion(sents: list[str], term: str, rng: random.Random) -> tuple[str, str] | None:
    """(satisfying, violating): without every sentence naming ``term`` / without one other."""
    naming = [i for i, s in enumerate(sents) if _mentions(s, term)]
    other = [i for i in range(len(sents)) if i not in naming]
    if not naming or len(naming) > len(sents) // 2 or len(other) < 2:
        return None
    satisfying = _drop(sents, other)
    drop = rng.choice(other)
    violating = _drop(sents, (i for i in range(len(sents)) if i != drop))
    return satisfying, violating


def _terms(doc_words: list[str], df: Mapping[str, int], n_docs: int) -> list[str]:
    """Content words of moderate rarity: in 3 to 1 % (at least 5) of the documents, at least 5
    letters."""
    top = max(5, int(0.01 * n_docs))
    seen = dict.fromkeys(w for w in doc_words if w.isalpha() and len(w) >= 5)
    return [w for w in seen if w not in STOPWORDS and 3 <= df.get(w, 0) <= top]


def records_for(
    doc_id: str,
    text: str,
    kinds: Iterable[str],
    df: Mapping[str, int],
    n_docs: int,
    rng: random.Random,
) -> Iterator[dict[str, Any]]:
    """The records one document yields (at most one per kind)."""
    sents = sentences(text)
    kinds = set(kinds)
    base = {"doc_id": doc_id}
    if "exclusion" in kinds:
        terms = _terms(words(text), df, n_docs)
        rng.shuffle(terms)
        for term in terms[:3]:
            pair = _exclusion(sents, term, rng)
            if pair:
                phrase = _phrase(pair[1], term) if rng.random() < 0.5 else term
                reason = f"the violator names {term!r}; the satisfier has no sentence naming it"
                yield _record(base, "exclusion", phrase, *pair, reason)
                break
    if "paraphrase" in kinds:
        for long, short in acronyms(text)[:1]:
            pair = _exclusion(sents, short, rng) or _exclusion(sents, long, rng)
            if pair is None:
                continue
            satisfying, violating = pair
            satisfying = _without(satisfying, long, short)
            if rng.random() < 0.5:  # exclude the long form, the violator names only the acronym
                excluded, violating = long, _only(violating, long, short, keep=short)
            else:
                excluded, violating = short, _only(violating, long, short, keep=long)
            other = short if excluded == long else long
            if _mentions(violating, excluded) or not _mentions(violating, other):
                continue
            reason = f"the violator names {excluded!r} only as {other!r} (a paraphrase)"
            yield _record(base, "paraphrase", excluded, satisfying, violating, reason)
    for kind in ("antonym", "negation"):
        if kind in kinds:
            found = _flip(sents, kind, rng)
            if found:
                i, flipped, what = found
                violating = " ".join(flipped if j == i else s for j, s in enumerate(sents))
                yield _record(
                    base, kind, sents[i], " ".join(sents), violating, what, statement=sents[i]
                )


def _phrase(text: str, term: str) -> str:
    """``term`` with the content word after it, as written in ``text`` (else ``term``)."""
    m = re.search(rf"\b{re.escape(term)}\w*\s+([A-Za-z][\w-]{{3,}})", text, re.IGNORECASE)
    return f"{term} {m.group(1)}" if m and m.group(1).lower() not in STOPWORDS else term


def _only(text: str, long: str, short: str, keep: str) -> str:
    """``text`` naming the term only as ``keep``."""
    text = re.sub(rf"{re.escape(long)}\s*\({re.escape(short)}\)", keep, text, flags=re.I)
    drop = long if keep == short else short
    return re.sub(rf"\b{re.escape(drop)}\b", keep, text, flags=re.I)


def _without(text: str, long: str, short: str) -> str:
    return " ".join(s for s in sentences(text) if not (_mentions(s, long) or _mentions(s, short)))


def _flip(sents: list[str], kind: str, rng: random.Random) -> tuple[int, str, str] | None:
    order = list(range(len(sents)))
    rng.shuffle(order)
    for i in order:
        s = sents[i]
        if kind == "antonym":
            m = re.search(r"\b(" + "|".join(map(re.escape, DIRECTIONS)) + r")\b", s)
            if m:
                new = s[: m.start()] + DIRECTIONS[m.group(1)] + s[m.end() :]
                return i, new, f"antonym swap {m.group(1)!r} → {DIRECTIONS[m.group(1)]!r}"
        else:
            m = _AUX_IS.search(s)
            if m and " not " not in s:
                new = s[: m.end()] + " not" + s[m.end() :]
                return i, new, f"negation: 'not' after {m.group(1)!r}"
    return None


def _record(
    base: dict[str, Any],
    kind: str,
    target: str,
    satisfying: str,
    violating: str,
    reason: str,
    statement: str | None = None,
) -> dict[str, Any]:
    if statement is None:
        statement = Constraint("exclusion", target, "generated").statement()
    else:
        statement = f"claim: {statement}"
    return {
        **base,
        "kind": kind,
        "statement": statement,
        "satisfying": satisfying,
        "violating": violating,
        "reason": reason,
    }


def generate(
    corpus: Corpus, config: GenerateConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training records, dev records) from ``corpus``'s documents; dev documents are disjoint."""
    rng = random.Random(config.seed)
    texts = {d: " ".join(doc.full_text.split()[: config.max_words]) for d, doc in corpus.items()}
    df: Counter[str] = Counter()
    for text in texts.values():
        df.update(set(words(text)))
    ids = sorted(texts)
    rng.shuffle(ids)
    n_dev_docs = max(1, math.ceil(len(ids) * config.dev / max(1, config.n + config.dev)))
    dev_ids, train_ids = ids[:n_dev_docs], ids[n_dev_docs:]
    out = []
    for doc_ids, limit in ((train_ids, config.n), (dev_ids, config.dev)):
        records: list[dict[str, Any]] = []
        for d in doc_ids:
            records.extend(records_for(d, texts[d], config.kinds, df, len(ids), rng))
            if len(records) >= limit:
                break
        out.append([{"id": f"{r['doc_id']}-{r['kind']}", **r} for r in records[:limit]])
    return out[0], out[1]


def write_pairs(
    folder: Path, train: list[dict[str, Any]], dev: list[dict[str, Any]], meta: dict[str, Any]
) -> None:
    """``train.jsonl``, ``dev.jsonl`` and ``generate.json`` (config, counts per kind)."""
    from aptrank.experiment import write_json

    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("dev", dev)):
        tmp = folder / f".{name}.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        tmp.replace(folder / f"{name}.jsonl")
    counts = {
        n: dict(Counter(r["kind"] for r in rows)) for n, rows in (("train", train), ("dev", dev))
    }
    write_json(folder / "generate.json", {**meta, "counts": counts})


def read_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def config_dict(config: GenerateConfig) -> dict[str, Any]:
    return asdict(config)
