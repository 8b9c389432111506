"""``python -m platform.interchange`` (:mod:`platform.interchange`): a sweep's folds written as
nnU-Net v2 ``splits_final.json`` and a MONAI Auto3DSeg datalist. The file formats
themselves are tested in ``evaluation/test_nnunet.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform.interchange import main


def test_cli_writes_the_splits_and_the_datalist_of_a_sweep(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = Path(__file__).resolve().parents[2] / "sweeps" / "tiny.yaml"
    monkeypatch.chdir(tmp_path)  # the sweep's relative defaults (runs/) land here
    assert main([str(tiny), f"data.cache_root={tmp_path / 'cache'}", "--out",
                 str(tmp_path / "out")]) == 0
    splits = json.loads((tmp_path / "out" / "splits_final.json").read_text())
    datalist = json.loads((tmp_path / "out" / "datalist.json").read_text())
    assert len(splits) == 2 and {len(s["val"]) for s in splits} == {2}
    tested = {key: i for i, split in enumerate(splits) for key in split["val"]}
    assert sorted((Path(e["image"]).parts[0], e["fold"]) for e in datalist["training"]) == \
        sorted(tested.items())
