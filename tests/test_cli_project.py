"""`pfes` project commands end to end through the real dispatcher."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pfes_core.cli import main
from pfes_core.project import Project


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_full_workflow(tmp_path, tiny_video, capsys):
    proj = tmp_path / "study"
    assert run(capsys, "init", proj)[0] == 0
    root = tmp_path / "study.pfes"
    code, out, _ = run(capsys, "add-video", root, tiny_video, "--subject", "s1", "--id", "clip", "--step", "2")
    assert code == 0 and "added clip: 30 frames" in out
    pts = tmp_path / "pts.csv"
    pts.write_text("video,frame,class\nclip,3,me\nclip,3,MAE\nclip,20,ME\n")
    code, out, _ = run(capsys, "labels", "import", root, pts, "--annotator", "zoe")
    assert code == 0 and "imported 3 labels" in out
    ivs = tmp_path / "iv.csv"
    ivs.write_text("video,subject,cls,onset,apex,offset,point\nclip,s1,ME,1,3,6,3\n")
    assert run(capsys, "labels", "import", root, ivs, "--intervals")[0] == 0
    code, out, _ = run(capsys, "labels", "list", root, "--video", "clip")
    assert code == 0 and out.splitlines()[1].split() == ["clip", "3", "MaE", "zoe"]
    (root / "features" / "clip.h5").write_bytes(b"")
    (root / "runs" / "run-001").mkdir()
    code, out, _ = run(capsys, "info", root, "--json")
    info = json.loads(out)
    assert info["labels"] == {"total": 3, "per_class": {"MaE": 1, "ME": 2}}
    assert info["reference_intervals"]["total"] == 1
    assert info["features"] == ["clip"] and info["runs"] == ["run-001"]
    assert info["videos"][0]["subject"] == "s1" and info["videos"][0]["step"] == 2
    code, out, _ = run(capsys, "info", root)
    assert code == 0 and "labels    3 (MaE 1, ME 2)" in out
    exported = tmp_path / "out.json"
    assert run(capsys, "labels", "export", root, exported)[0] == 0
    doc = json.loads(exported.read_text())
    assert [(d["frame"], d["class"], d["annotator"]) for d in doc["labels"]] == [(3, "MaE", "zoe"), (3, "ME", "zoe"),
                                                                                  (20, "ME", "zoe")]
    assert doc["labels"][2]["time_s"] == pytest.approx(20 / 30)
    # re-import refuses duplicates unless asked to skip them
    code, _, err = run(capsys, "labels", "import", root, exported)
    assert code == 1 and "--skip-existing" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, "labels", "import", root, exported, "--skip-existing")
    assert code == 0 and "imported 0 labels; 3 already present" in out
    assert not (root / "project.lock").exists()


def test_bad_input_is_one_line_and_exit_1(tmp_path, tiny_video, capsys):
    root = tmp_path / "p.pfes"
    assert run(capsys, "init", root)[0] == 0
    cases = [
        ("add-video", root, tmp_path / "nope.mp4"),
        ("add-video", root, tiny_video, tiny_video, "--id", "x"),
        ("labels", "import", root, tmp_path / "missing.csv"),
        ("info", tmp_path / "nothing"),
        ("labels", "list", root, "--video", "zz"),
        ("init", root),
    ]
    for argv in cases:
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    bad = tmp_path / "bad.csv"
    bad.write_text("video,frame,class\ntiny,1,ME\ntiny,99,ME\n")
    assert run(capsys, "add-video", root, tiny_video)[0] == 0
    code, _, err = run(capsys, "labels", "import", root, bad)
    assert code == 1 and "outside video" in err
    with Project.open(root, readonly=True) as project:
        assert len(project.labels) == 0  # nothing of the bad file was written


def test_corrupt_project_info_names_backup_and_restore_works(tmp_path, tiny_video, capsys):
    root = tmp_path / "p.pfes"
    run(capsys, "init", root)
    run(capsys, "add-video", root, tiny_video)
    pts = tmp_path / "pts.csv"
    pts.write_text("video,frame,class\ntiny,1,ME\n")
    assert run(capsys, "labels", "import", root, pts)[0] == 0  # a second save: bak1 holds the video
    (root / "project.h5").write_bytes(b"\x89HDF garbage")
    code, _, err = run(capsys, "info", root)
    assert code == 1 and "project.h5.bak1" in err and "pfes restore-backup" in err
    code, out, _ = run(capsys, "restore-backup", root)
    assert code == 0 and "from project.h5.bak1" in out
    code, out, _ = run(capsys, "info", root, "--json")
    assert code == 0 and json.loads(out)["videos"][0]["id"] == "tiny"


def test_help_exits_zero():
    for argv in (["--help"], ["labels", "import", "--help"], ["add-video", "--help"], ["restore-backup", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "pfes_core", *argv], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0 and "usage:" in proc.stdout
