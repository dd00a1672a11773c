"""Errors that the CLI turns into one clear line and exit code 2."""

from __future__ import annotations

from pathlib import Path


class AptrankError(Exception):
    """Base class for every error aptrank raises on purpose (bad input, missing model, ...)."""


class DataError(AptrankError, ValueError):
    """Malformed input data, located by file and (when known) line.

    >>> str(DataError("bad grade 'x'", path="qrels/test.tsv", line=3))
    "qrels/test.tsv:3: bad grade 'x'"
    """

    def __init__(
        self, reason: str, path: str | Path | None = None, line: int | None = None
    ) -> None:
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        where = self.path or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {reason}" if where else reason)


class MissingDependencyError(AptrankError, ImportError):
    """A feature needs an optional dependency; the message names the install command."""

    def __init__(self, feature: str, package: str, extra: str | None = None) -> None:
        cmd = f'pip install "aptrank[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"{feature} needs {package}: install it with `{cmd}`")


class ModelNotFoundError(AptrankError):
    """A model name resolved to nothing that can be loaded offline."""
