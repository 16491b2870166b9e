"""The dataset cards stay in step with tonic's URLs and md5s and with neuro.data's specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuro.data import SPECS

CARDS = Path(__file__).resolve().parents[2] / "datasets"


@pytest.mark.parametrize("name", list(SPECS))
def test_card_has_files_checksums_counts_and_sensor(name):
    spec = SPECS[name]
    card = CARDS / spec.card
    assert card.is_file(), f"missing dataset card {card}"
    text = card.read_text()
    for s in spec.splits:
        assert spec.md5(s.name) in text and spec.url(s.name) in text and spec.archive(s.name) in text
        assert str(s.expected_samples) in text
    assert str(tuple(spec.sensor_size)) in text and f"{spec.n_classes} classes" in text
    for heading in ("Licence", "Citation", "On-disk layout"):
        assert heading in text


def test_readme_indexes_every_card():
    readme = (CARDS / "README.md").read_text()
    for spec in SPECS.values():
        assert f"]({spec.card})" in readme and f"`{spec.name}`" in readme
