"""The scaling-curve plot: series at the shared sizes or at sizes of their own."""

import base64

import pytest

pytest.importorskip("matplotlib")

from aptrank.report.plots import scaling_curve  # noqa: E402


def png(uri: str) -> bytes:
    assert uri.startswith("data:image/png;base64,")
    return base64.b64decode(uri.split(",", 1)[1])


def test_a_series_may_bring_its_own_sizes():
    uri = scaling_curve(
        [0, 50, 200],
        {"cpu, test": [0.56, 0.60, 0.65], "gpu, test": {0: 0.34, 100: 0.72, 245: 0.73}},
        {"teacher": 0.757},
    )
    assert png(uri).startswith(b"\x89PNG")


def test_a_shared_sizes_series_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        scaling_curve([0, 50, 200], {"student": [0.5, 0.6]}, {})
