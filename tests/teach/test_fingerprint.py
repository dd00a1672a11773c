from __future__ import annotations

from pathlib import Path

import pytest

from aptrank.rankers import cache as base  # where the fingerprint lives
from aptrank.rankers.cache import model_fingerprint


def _model(folder: Path, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 32}')
    (folder / "model.safetensors").write_bytes(weights)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("volatile")
    return folder


def test_fingerprint_follows_contents_not_location(tmp_path: Path):
    weights = bytes(range(256)) * 64
    a = model_fingerprint(str(_model(tmp_path / "a" / "m", weights)))
    assert a.startswith("m@") and a == model_fingerprint(str(_model(tmp_path / "b" / "m", weights)))
    changed = weights[:100] + b"\xff" + weights[101:]
    assert model_fingerprint(str(_model(tmp_path / "c" / "m", changed))) != a
    (tmp_path / "a" / "m" / ".cache" / "lock").write_text("changed")  # hidden files do not count
    assert model_fingerprint(str(tmp_path / "a" / "m")) == a
    assert model_fingerprint("org/hub-model") == "org/hub-model"


def test_large_files_are_sampled_through_the_middle(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(base, "_FULL_HASH_LIMIT", 1 << 20)
    size = 16 << 20  # 64 samples of 64 KiB cover a quarter of it
    data = bytearray(size)

    def fingerprint(folder: str) -> str:
        path = tmp_path / folder / "weights.bin"
        path.parent.mkdir()
        path.write_bytes(data)
        return model_fingerprint(str(path))

    reference = fingerprint("zeros")
    middle = (size - base._CHUNK) * 31 // 63  # where the 32nd sample starts
    data[middle + 10] = 1
    assert fingerprint("in-a-sample") != reference
    data[middle + 10], data[middle - 10] = 0, 1
    assert fingerprint("between-samples") == reference  # sampled, not a full hash


@pytest.mark.parametrize("path", ["/no/such/dir", "rel/missing"])
def test_missing_paths_fingerprint_as_their_name(path: str):
    assert model_fingerprint(path) == path


def test_a_renamed_artifact_keeps_its_fingerprint(tmp_path: Path):
    from aptrank.rankers.artifact import write_artifact

    folder = _model(tmp_path / "a" / "student", b"weights")
    write_artifact(folder, name="student", kind="student", pipeline="bm25", description="x")
    before = model_fingerprint(str(folder))
    renamed = tmp_path / "b" / "my-student"
    renamed.parent.mkdir()
    folder.rename(renamed)
    write_artifact(renamed, name="student", kind="student", pipeline="bm25", description="new")
    assert model_fingerprint(str(renamed)) == before and before.startswith("student@")
    (renamed / "model.safetensors").write_bytes(b"other weights")
    assert model_fingerprint(str(renamed)) != before
