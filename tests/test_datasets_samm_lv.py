"""`pfes import-dataset samm-lv` on a fixture in the published SAMM Long Videos layout."""

from __future__ import annotations

import json

from dataset_fixtures import SAMM_ROWS, info, labels, pfes, reference, samm_lv


def test_samm_lv_every_7th_frame_by_default(tmp_path):
    root = samm_lv(tmp_path / "SAMM")
    out = pfes("import-dataset", "samm-lv", root, tmp_path / "s.pfes", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["step"] == 7 and summary["offset_zero"] == 1 and summary["apex_fixed"] == 1
    doc = info(tmp_path / "s.pfes")
    assert [(v["id"], v["subject"], v["n_frames"], v["fps"], v["step"], v["reference_intervals"])
            for v in doc["videos"]] == [("006_1", "006", 70, 200.0, 7, 2), ("007_2", "007", 56, 200.0, 7, 1)]
    # image numbers from 1 -> positions, then the every-7th-frame grid (rounded)
    assert reference(tmp_path / "s.pfes") == [
        ("006_1", "MaE", 1, 2, 4),      # 8, 15, 29
        ("006_1", "ME", 5, 6, 7),       # 36, apex -1 -> midpoint 43, 50
        ("007_2", "ME", 2, 3, 4),       # 15, 22, offset 0 -> 29
    ]
    assert doc["labels"]["per_class"] == {"MaE": 1, "ME": 2}


def test_samm_lv_step_1_and_subject_selection(tmp_path):
    root = samm_lv(tmp_path / "SAMM")
    out = pfes("import-dataset", "samm-lv", root, tmp_path / "s.pfes", "--step", "1", "--subjects", "7")
    assert out.returncode == 0, out.stderr
    assert "2 rows of subjects not selected skipped" in out.stdout
    assert reference(tmp_path / "s.pfes") == [("007_2", "ME", 14, 21, 28)]
    assert [(lb["video"], lb["frame"], lb["class"]) for lb in labels(tmp_path / "s.pfes")] == [("007_2", 21, "ME")]


def test_samm_lv_bad_row_and_missing_header(tmp_path):
    rows = [list(r) for r in SAMM_ROWS]
    rows[2][5] = 10                                  # offset 10 before onset 15
    root = samm_lv(tmp_path / "SAMM", rows=rows)
    out = pfes("import-dataset", "samm-lv", root, tmp_path / "s.pfes")
    assert out.returncode == 1
    assert "SAMM_LongVideos_V2_Release.xlsx, sheet 'FACS_Movement_Only', row 8: offset 10 is before onset 15" \
        in out.stderr
    assert not (tmp_path / "s.pfes").exists()

    import openpyxl

    book = openpyxl.load_workbook(root / "SAMM_LongVideos_V2_Release.xlsx")
    book.active["B5"] = "File"
    book.save(root / "SAMM_LongVideos_V2_Release.xlsx")
    out = pfes("import-dataset", "samm-lv", root, tmp_path / "s.pfes")
    assert out.returncode == 1 and "no header row with the columns Subject, Filename" in out.stderr
    assert not (tmp_path / "s.pfes").exists()
