"""`pfes import-dataset casme3` on a fixture in the published CAS(ME)^3 part A layout."""

from __future__ import annotations

import json

from dataset_fixtures import CASME3_ROWS, casme3, info, labels, pfes, reference


def test_casme3_colour_frames_with_dropped_frames(tmp_path):
    root = casme3(tmp_path / "CASME3")
    out = pfes("import-dataset", "casme3", root, tmp_path / "c3.pfes", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["frames_missing"] == 1 and summary["offset_clipped"] == 1
    doc = info(tmp_path / "c3.pfes")
    assert [(v["id"], v["subject"], v["n_frames"], v["reference_intervals"]) for v in doc["videos"]] == [
        ("spNO.1_a", "spNO.1", 28, 2), ("spNO.1_b", "spNO.1", 20, 1), ("spNO.2_a", "spNO.2", 25, 1)]
    assert reference(tmp_path / "c3.pfes") == [
        ("spNO.1_a", "MaE", 4, 7, 11),   # 5, 8, 14 (14 is the 12th image: 11 and 12 were dropped)
        ("spNO.1_a", "ME", 8, 10, 13),   # apex 11 (dropped) -> image 13
        ("spNO.1_b", "ME", 1, 3, 5),
        ("spNO.2_a", "MaE", 2, 5, 24),   # offset 40 clipped to the last frame
    ]
    assert len(labels(tmp_path / "c3.pfes")) == 4


def test_casme3_unknown_class_names_the_row(tmp_path):
    rows = [list(r) for r in CASME3_ROWS]
    rows[1][6] = "Blink"
    root = casme3(tmp_path / "CASME3", rows=rows)
    out = pfes("import-dataset", "casme3", root, tmp_path / "c3.pfes")
    assert out.returncode == 1
    assert "CAS(ME)3_part_A_v2.xlsx, sheet 'Sheet1', row 3: unknown expression class 'Blink'" in out.stderr
    assert not (tmp_path / "c3.pfes").exists()
