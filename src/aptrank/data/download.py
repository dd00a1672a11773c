"""Download the public BEIR datasets into the dataset cache.

The zips come from ``$APTRANK_BEIR_URL/<name>.zip`` (default :data:`BEIR_URL`). A download goes
to a temporary file beside its destination, is unzipped into a temporary folder, and the dataset
folder is then renamed into place, so an interrupted download never leaves a half dataset behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from aptrank.data.beir import is_beir_folder
from aptrank.errors import DataError
from aptrank.paths import cache_dir

logger = logging.getLogger(__name__)

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"

# The public BEIR datasets that unzip to one BEIR folder (cqadupstack holds twelve; the others of
# the benchmark are not redistributed).
BEIR_DATASETS = (
    "arguana",
    "climate-fever",
    "dbpedia-entity",
    "fever",
    "fiqa",
    "hotpotqa",
    "msmarco",
    "nfcorpus",
    "nq",
    "quora",
    "scidocs",
    "scifact",
    "trec-covid",
    "webis-touche2020",
)

_CHUNK = 1 << 20


def beir_url(name: str) -> str:
    """The zip URL of a BEIR dataset, under ``$APTRANK_BEIR_URL`` when set."""
    base = os.environ.get("APTRANK_BEIR_URL") or BEIR_URL
    return f"{base.rstrip('/')}/{name}.zip"


def download_beir(name: str, dest: str | Path | None = None, *, timeout: float = 60.0) -> Path:
    """Download and unzip the public BEIR dataset ``name`` into ``dest/<name>`` (default: the
    dataset cache) and return that folder; an existing folder is returned as it is."""
    if name not in BEIR_DATASETS:
        known = ", ".join(BEIR_DATASETS)
        raise DataError(f"{name!r} is not a public BEIR dataset; known: {known}")
    root = Path(dest) if dest is not None else cache_dir("datasets")
    target = root / name
    if is_beir_folder(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    url = beir_url(name)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        _fetch(url, archive, timeout)
        folder = _unzip(archive, Path(tmp) / "unzipped", url)
        try:
            os.replace(folder, target)
        except OSError:
            if not is_beir_folder(target):  # not a concurrent download that finished first
                raise
    logger.info("downloaded %s into %s", url, target)
    return target


def _fetch(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` into ``dest``; DataError with the reason when it cannot be reached."""
    import urllib.error
    import urllib.request

    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as f:
            shutil.copyfileobj(response, f, _CHUNK)
    except urllib.error.HTTPError as e:
        raise DataError(f"could not download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(
            f"could not download {url}: {reason} (offline? download and unzip it by hand into "
            f"a folder of $APTRANK_DATA, or set $APTRANK_BEIR_URL to a mirror)"
        ) from None


def _unzip(archive: Path, into: Path, url: str) -> Path:
    """Extract ``archive`` into ``into`` and return the BEIR folder inside it."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as zf:
            root = into.resolve()
            for member in zf.namelist():
                if not (root / member).resolve().is_relative_to(root):
                    raise DataError(f"unsafe path {member!r} in the archive", url)
            zf.extractall(into)
    except zipfile.BadZipFile:
        raise DataError("the downloaded file is not a zip archive", url) from None
    candidates = [into, *sorted(p for p in into.iterdir() if p.is_dir())]
    for folder in candidates:
        if is_beir_folder(folder):
            return folder
    raise DataError("the archive holds no BEIR folder (no corpus.jsonl)", url)
