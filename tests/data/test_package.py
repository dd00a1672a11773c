"""The ``aptrank.data`` package itself: a light import and its public names."""

from __future__ import annotations

import subprocess
import sys

import aptrank.data


def test_import_is_light() -> None:
    heavy = ["numpy", "pandas", "torch", "ir_datasets", "urllib.request", "zipfile"]
    code = f"import sys, aptrank.data; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_are_exported() -> None:
    for name in aptrank.data.__all__:
        assert callable(getattr(aptrank.data, name)) or name == "BEIR_DATASETS"
    assert "scifact" in aptrank.data.BEIR_DATASETS
