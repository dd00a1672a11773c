"""The ranker protocol: every ranker ranks queries over a corpus, or reranks given candidates.

Both calls return a :data:`~aptrank.types.Run`. A ranker is bound to its corpus by
:meth:`Ranker.index`, which may build or load a cached index; ``rank`` and ``rerank`` then take
plain ``{query_id: text}`` mappings, so query rewriters can sit in front of any ranker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from aptrank.errors import AptrankError
from aptrank.types import Corpus, Run


class Ranker(ABC):
    """Base class of every ranker. Subclasses set :attr:`name` and implement what they can."""

    #: The pipeline string that builds this ranker (e.g. ``"bm25"``, ``"dense:all-MiniLM-L6-v2"``).
    name: str = "ranker"

    def __init__(self) -> None:
        self._corpus: Corpus | None = None

    @property
    def retrieves(self) -> bool:
        """Whether :meth:`rank` can retrieve from the whole corpus (rerankers cannot)."""
        return True

    @property
    def kind(self) -> str:
        """The stage kinds without models or options (``bm25``, ``dense``, ``bm25>>ce``): what
        fitted fusion weights check their members against.

        >>> from aptrank.rankers import build_ranker
        >>> build_ranker("bm25[k1=0.9]>>ce:some/model[max_length=64]@30").kind
        'bm25>>ce'
        """
        return self.name.split("[", 1)[0].split(":", 1)[0]

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            raise AptrankError(f"{self.name}: call .index(corpus) before ranking")
        return self._corpus

    def index(self, corpus: Corpus) -> Ranker:
        """Bind the ranker to ``corpus`` (building or loading any index); returns ``self``."""
        self._corpus = corpus
        return self

    @abstractmethod
    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        """The top ``k`` documents of the corpus for every query."""

    @abstractmethod
    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        """New scores for exactly the candidate documents of every query in ``candidates``."""

    def config(self) -> dict[str, object]:
        """What is needed to rebuild this ranker; saved with every result."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Reranker(Ranker):
    """A ranker that only rescores given candidates (a cross-encoder, a served model): it has no
    index of its own, so it cannot retrieve, and :meth:`rank` says to put a first stage first."""

    @property
    def retrieves(self) -> bool:
        return False

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        raise AptrankError(
            f"{self.name} is a reranker: put a first stage before it, e.g. 'bm25>>{self.name}@100'"
        )
