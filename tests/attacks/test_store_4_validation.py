"""Issue 16, item 4 (project store part): what is read is checked, and nothing is dropped silently.

Before: 8 overwritten bytes in project.h5 made `labels list` show frame -1; garbage or bit-flipped
journal lines vanished at the next save; `restore-backup` replaced a newer-schema project; a
killed training run stayed "running".
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import h5py
import pytest
from store_common import assert_one_error, make_project, run_cli

from pfes_core.errors import ProjectError
from pfes_core.labels import AddLabel
from pfes_core.project import Project, restore_backup


@pytest.mark.parametrize("dataset,value,field", [
    ("labels/frame", -1, "labels/frame row 0"),
    ("labels/frame", 100, "labels/frame row 0"),
    ("labels/cls", 7, "labels/cls row 0"),
    ("labels/video", 3, "labels/video row 0"),
    ("videos/fps", 0.0, "videos/fps row 0"),
    ("videos/n_frames", -5, "videos/n_frames row 0"),
    ("labels/created", float("nan"), "labels/created row 0"),
])
def test_overwritten_values_are_refused_naming_file_and_field(tmp_path, dataset, value, field):
    root = make_project(tmp_path)
    with h5py.File(root / "project.h5", "r+") as f:
        f[dataset][0] = value
    with pytest.raises(ProjectError) as info:
        Project.open(root, readonly=True)
    assert "project.h5" in str(info.value) and field in str(info.value)
    code, out, err = run_cli("labels", "list", root)
    assert code == 1 and out == ""
    assert_one_error(err, field)


def test_flipped_bytes_in_the_file_are_refused(tmp_path):
    """The attack's form: 8 bytes overwritten in place where a frame number is stored."""
    root = make_project(tmp_path)
    with h5py.File(root / "project.h5", "r") as f:
        offset = f["labels/frame"].id.get_offset()
    data = bytearray((root / "project.h5").read_bytes())
    data[offset:offset + 8] = (-1).to_bytes(8, "little", signed=True)
    (root / "project.h5").write_bytes(bytes(data))
    code, _, err = run_cli("labels", "list", root)
    assert code == 1
    assert_one_error(err, "labels/frame row 0", "-1")


def test_garbage_and_bit_flipped_journal_lines_are_kept_and_counted(tmp_path):
    root = make_project(tmp_path, labels=0)
    with Project.open(root) as project:
        project.apply(AddLabel("v1", 1, "ME"))
        project.apply(AddLabel("v1", 12, "ME"))
        project.apply(AddLabel("v1", 3, "ME"))
    journal = root / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    flipped = lines[2].replace(b'"frame":12', b'"frame":13')  # still valid JSON, wrong CRC
    assert flipped != lines[2]
    garbage = b"\x00\x17not json at all"
    journal.write_bytes(b"\n".join([lines[0], lines[1], flipped, garbage, lines[3]]) + b"\n")

    code, out, err = run_cli("labels", "list", root)  # read-only: reports, changes nothing
    assert code == 0 and "2 journal lines could not be used" in err
    with Project.open(root) as project:
        assert project.rejected_edits == 2 and project.journal_skipped == 2
        assert sorted(lb.frame for lb in project.labels.all()) == [1, 3]
        assert any("2 journal lines could not be used" in n for n in project.open_notes())
        project.save()
    kept = (root / "journal.rejected").read_bytes()
    assert flipped in kept and garbage in kept  # verbatim, after the save too
    with Project.open(root) as project:
        assert project.rejected_edits == 0  # moved out once, not reported again


def test_restore_backup_refuses_to_replace_a_newer_schema_project(tmp_path):
    root = make_project(tmp_path)
    with Project.open(root) as project:
        project.apply(AddLabel("v1", 5, "MaE"))
        project.save()
    with h5py.File(root / "project.h5", "r+") as f:
        f.attrs["schema_version"] = 3   # one above what this version writes (2)
    before = (root / "project.h5").read_bytes()
    with pytest.raises(ProjectError, match="schema 3, newer than project.h5.bak1"):
        restore_backup(root)
    code, _, err = run_cli("restore-backup", root)
    assert code == 1
    assert_one_error(err, "newer")
    assert (root / "project.h5").read_bytes() == before
    assert not list(root.glob("project.h5.damaged-*"))


def test_killed_training_run_is_marked_interrupted_on_open(tmp_path):
    root = make_project(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = root / "runs" / "20260101-000000-dead"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": "running", "time": 1.0, "pid": dead.pid,
                                                 "hostname": socket.gethostname(), "device": "cpu"}))
    live = root / "runs" / "20260101-000001-live"
    live.mkdir()
    (live / "status.json").write_text(json.dumps({"status": "running", "time": 1.0, "pid": dead.pid + 10**7,
                                                  "hostname": "another-host"}))
    with Project.open(root, readonly=True) as project:  # read-only opens change nothing
        assert project.interrupted_runs == []
    with Project.open(root) as project:
        assert project.interrupted_runs == [run.name]
        assert any("marked interrupted" in n for n in project.open_notes())
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and status["interrupted_pid"] == dead.pid and status["device"] == "cpu"
    assert json.loads((live / "status.json").read_text())["status"] == "running"
