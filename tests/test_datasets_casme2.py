"""`pfes import-dataset casme2` on a fixture in the published CAS(ME)^2 layout."""

from __future__ import annotations

import json

from dataset_fixtures import CASME2_CODE, casme2, info, labels, pfes, reference


def test_casme2_frames_layout_becomes_a_ready_project(tmp_path):
    root = casme2(tmp_path / "CAS(ME)^2")
    out = pfes("import-dataset", "casme2", root, tmp_path / "c2.pfes", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["offset_zero"], summary["duplicates"], summary["apex_fixed"],
            summary["rows_without_media"]) == (2, 1, 1, 1)
    assert summary["intervals"] == {"MaE": 2, "ME": 2} and summary["points"] == {"MaE": 2, "ME": 2}

    doc = info(tmp_path / "c2.pfes")
    videos = {v["id"]: v for v in doc["videos"]}
    assert {k: (v["subject"], v["n_frames"], v["fps"], v["reference_intervals"]) for k, v in videos.items()} == {
        "15_0101disgustingteeth": ("s15", 40, 30.0, 2),
        "15_0102eatingworms": ("s15", 30, 30.0, 1),
        "16_0101disgustingteeth": ("s16", 30, 30.0, 1),
    }
    # 1-based image numbers -> 0-based frames; offset 0 -> apex + (apex - onset); apex 50 -> midpoint
    assert reference(tmp_path / "c2.pfes") == [
        ("15_0101disgustingteeth", "MaE", 4, 7, 11),
        ("15_0101disgustingteeth", "ME", 19, 21, 23),
        ("15_0102eatingworms", "MaE", 2, 5, 8),
        ("16_0101disgustingteeth", "ME", 9, 11, 14),
    ]
    assert sorted((lb["video"], lb["frame"], lb["class"]) for lb in labels(tmp_path / "c2.pfes")) == [
        ("15_0101disgustingteeth", 7, "MaE"), ("15_0101disgustingteeth", 21, "ME"),
        ("15_0102eatingworms", 5, "MaE"), ("16_0101disgustingteeth", 11, "ME")]


def test_casme2_rawvideo_subjects_and_sampled_points(tmp_path):
    root = casme2(tmp_path / "CAS(ME)^2", video=True)
    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = pfes("import-dataset", "casme2", root, tmp_path / f"{name}.pfes", "--media", "video",
                   "--subjects", "15", "--points", "sampled", "--seed", seed)
        assert out.returncode == 0, out.stderr
        assert "1 rows of subjects not selected skipped" in out.stdout
        runs.append(sorted((lb["video"], lb["frame"], lb["class"]) for lb in labels(tmp_path / f"{name}.pfes")))
    doc = info(tmp_path / "a.pfes")
    assert [(v["id"], v["subject"], v["n_frames"], v["path"].endswith(".avi")) for v in doc["videos"]] == [
        ("15_0101disgustingteeth", "s15", 40, True), ("15_0102eatingworms", "s15", 30, True)]
    assert runs[0] == runs[1]                          # seeded
    ref = {(v, c): (on, off) for v, c, on, _ap, off in reference(tmp_path / "a.pfes")}
    for run in runs:
        assert len(run) == 3
        for video, frame, cls in run:
            on, off = ref[(video, cls)]
            assert on <= frame <= off


def test_malformed_workbook_names_file_sheet_and_row_and_writes_nothing(tmp_path):
    bad = [list(r) for r in CASME2_CODE]
    bad[3][2] = "three"
    root = casme2(tmp_path / "CAS(ME)^2", code=bad)
    out = pfes("import-dataset", "casme2", root, tmp_path / "bad.pfes")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "CAS(ME)^2code_final.xlsx" in lines[0] and "sheet 'CASMEcode_final'" in lines[0]
    assert "row 4" in lines[0] and "'three'" in lines[0]
    assert not (tmp_path / "bad.pfes").exists()

    bad = [list(r) for r in CASME2_CODE]
    bad[1][7] = "smirk"
    root2 = casme2(tmp_path / "other", code=bad)
    out = pfes("import-dataset", "casme2", root2, tmp_path / "bad.pfes")
    assert out.returncode == 1 and "row 2" in out.stderr and "'smirk'" in out.stderr
    assert not (tmp_path / "bad.pfes").exists()


def test_existing_project_is_refused_untouched(tmp_path):
    root = casme2(tmp_path / "CAS(ME)^2")
    assert pfes("init", tmp_path / "p.pfes").returncode == 0
    before = (tmp_path / "p.pfes" / "project.h5").read_bytes()
    out = pfes("import-dataset", "casme2", root, tmp_path / "p.pfes")
    assert out.returncode == 1 and "already a project" in out.stderr
    assert (tmp_path / "p.pfes" / "project.h5").read_bytes() == before
