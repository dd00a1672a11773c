"""Where aptrank looks for datasets and where it writes caches.

``APTRANK_DATA`` is a search path (``os.pathsep``-separated folders) holding BEIR-layout dataset
folders; ``APTRANK_CACHE`` (default ``~/.cache/aptrank``) receives indexes, embeddings, exported
models and downloaded datasets. Nothing is ever written beside the data.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$APTRANK_CACHE/<parts>`` (created), default ``~/.cache/aptrank``."""
    root = os.environ.get("APTRANK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "aptrank"
    )
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_path() -> list[Path]:
    """The folders of ``$APTRANK_DATA``, then the dataset cache."""
    dirs = [Path(p) for p in os.environ.get("APTRANK_DATA", "").split(os.pathsep) if p]
    return [*dirs, cache_dir("datasets")]
