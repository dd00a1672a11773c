"""The diagnosis folder and its self-contained HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aptrank.diagnose import DiagnoseConfig, diagnose
from aptrank.report.diagnosis import render_html, write_diagnosis
from tests.diagnose.fixtures import constraint_dataset, rankers

CONFIG = DiagnoseConfig(
    dataset="mini", depth=4, perturb_k=3, resamples=100, query_fields=("category",)
)


def test_report_folder_is_complete_and_self_contained(tmp_path: Path):
    d = diagnose(constraint_dataset(), rankers(), CONFIG)
    files = write_diagnosis(d, tmp_path, {"dataset_path": "somewhere"})
    assert sorted(p.name for p in files.values()) == [
        "config.json", "diagnosis.json", "diagnosis.md", "report.html",
    ]  # fmt: skip
    data = json.loads((tmp_path / "diagnosis.json").read_text())
    assert data["bm25"]["constraint_pairs"]["accuracy"] == 0.0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["rankers"] == ["bm25", "dense:keyword"]  # the rankers diagnosed
    assert "versions" in config and config["dataset_path"] == "somewhere"
    assert config["rankers_config"]["bm25"]["name"] == "bm25"

    page = (tmp_path / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    for attr in re.findall(r"""(?:src|href)\s*=\s*['"]?([^'" >]+)""", page):
        assert attr.startswith("data:image/png;base64,"), attr[:40]
    assert len(re.findall(r"<img ", page)) >= 6  # margins, AUC, histograms, pairs, flips, strata
    for title in (
        "Wrong but associated",
        "Separability",
        "Constraint pairs",
        "Role-flip",
        "Strata",
    ):
        assert title in page
    assert "dense:keyword" in page and "query:category" in page


def test_html_renders_again_from_the_saved_json_and_names_skipped_sections(tmp_path: Path):
    data = {
        "bm25": {"ranker": "bm25", "skipped": {"constraint_pairs": "no query has both"}},
        "_meta": {"dataset": "x", "split": "test", "n_docs": 1, "n_queries": 1, "config": {}},
    }
    page = render_html(data)
    assert "Skipped for bm25: no query has both" in page
    assert "<img" not in page  # nothing to plot, and no crash
