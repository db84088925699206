"""Project store: create/open/save round trip, lock, backups, schema version, journal replay."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import h5py
import pytest

from pfes_core.errors import LabelError, ProjectError, ProjectLockedError, VideoError
from pfes_core.journal import read_journal
from pfes_core.labels import AddLabel, DeleteLabel, MoveLabel, RetypeLabel
from pfes_core.project import Project, list_backups, restore_backup
from pfes_core.reviews import SetReview
from pfes_core.types import Interval


def make(tmp_path, n_frames=100, video="v1"):
    """A project with one video registered without reading media (fps/frames/fingerprint given)."""
    project = Project.create(tmp_path / "p")
    project.add_video(tmp_path / f"{video}.mp4", subject="s1", video_id=video, fps=30.0, n_frames=n_frames,
                      fingerprint="fp")
    return project


def test_create_adds_suffix_and_layout(tmp_path):
    project = Project.create(tmp_path / "study")
    assert project.root == (tmp_path / "study.pfes").absolute()
    assert project.h5_path.is_file() and project.features_dir.is_dir() and project.runs_dir.is_dir()
    assert not project.is_dirty
    project.close()
    with pytest.raises(ProjectError, match="already a project"):
        Project.create(tmp_path / "study.pfes")
    # opening by the name without suffix finds the folder
    with Project.open(tmp_path / "study") as again:
        assert again.root == project.root


def test_open_missing_project(tmp_path):
    with pytest.raises(ProjectError, match="no project at"):
        Project.open(tmp_path / "nothing")


def test_round_trip_everything(tmp_path, tiny_video):
    project = Project.create(tmp_path / "p")
    rec = project.add_video(tiny_video, subject="s7", step=2)
    assert rec.id == "tiny" and rec.n_frames == 30 and rec.fps == pytest.approx(30.0)
    assert not os.path.isabs(rec.path)
    assert project.video_path("tiny") == tiny_video.absolute()
    project.apply(AddLabel("tiny", 5, "ME", "ann", created=10.0))
    project.apply(AddLabel("tiny", 5, "mae", "ann2", created=11.0, modified=12.5))
    project.set_reference([Interval("tiny", "ME", 2, 4, 9), Interval("tiny", "MaE", 10, 12, 20, score=0.5)])
    project.apply(SetReview("tiny", "run-1", "ME", 3, 5, 8, "adjusted", score=0.7, adjusted=(2, 5, 9)))
    project.apply(SetReview("tiny", "run-1", "MaE", 11, 12, 15, "rejected"))
    project.settings["spotting"] = {"threshold": 0.3, "nested": [1, 2]}
    assert project.is_dirty
    project.save()
    assert not project.is_dirty
    labels, reviews, reference, videos = (project.labels.all(), project.reviews.all(), project.reference,
                                          project.videos)
    project.close()

    with Project.open(tmp_path / "p.pfes") as back:
        assert back.recovered_edits == 0
        assert back.labels.all() == labels
        assert back.reviews.all() == reviews
        assert back.reference == reference
        assert back.videos == videos and back.videos["tiny"].subject == "s7" and back.videos["tiny"].step == 2
        assert back.settings == {"spotting": {"threshold": 0.3, "nested": [1, 2]}}
        assert back.reviews.accepted("run-1") == [Interval("tiny", "ME", 2, 5, 9, 0.7)]
        assert back.generation == project.generation


def test_add_video_checks(tmp_path, tiny_video):
    project = make(tmp_path)
    with pytest.raises(ProjectError, match="already registered"):
        project.add_video(tmp_path / "x.mp4", video_id="v1", fps=30, n_frames=5, fingerprint="f")
    with pytest.raises(VideoError, match="not found"):
        project.add_video(tmp_path / "missing.mp4")
    with pytest.raises(ProjectError, match="invalid video id"):
        project.add_video(tiny_video, video_id="a/b")
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"this is not a video at all" * 100)
    with pytest.raises(VideoError):
        project.add_video(not_video)
    assert list(project.videos) == ["v1"]
    project.close()


def test_lock_refuses_second_writer_but_allows_readonly(tmp_path):
    project = make(tmp_path)
    with pytest.raises(ProjectLockedError, match=f"process {os.getpid()} on {socket.gethostname()}"):
        Project.open(project.root)
    with Project.open(project.root, readonly=True) as ro:
        assert "v1" in ro.videos
        with pytest.raises(ProjectError, match="read-only"):
            ro.apply(AddLabel("v1", 1, "ME"))
        with pytest.raises(ProjectError, match="read-only"):
            ro.save()
    project.close()
    assert not (project.root / "project.lock").exists()
    Project.open(project.root).close()


def test_stale_lock_is_taken_over(tmp_path):
    project = make(tmp_path)
    project.save()
    project.close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (project.root / "project.lock").write_text(json.dumps(
        {"pid": dead.pid, "hostname": socket.gethostname(), "time": 1.0, "token": "old"}))
    with Project.open(project.root) as again:
        assert again._lock.took_over["pid"] == dead.pid
        assert json.loads((project.root / "project.lock").read_text())["pid"] == os.getpid()


def test_lock_from_other_host_is_reported(tmp_path):
    project = make(tmp_path)
    project.save()
    project.close()
    (project.root / "project.lock").write_text(json.dumps(
        {"pid": 1, "hostname": "some-other-host", "time": 1.0, "token": "x"}))
    with pytest.raises(ProjectLockedError, match="some-other-host.*another computer"):
        Project.open(project.root)


def test_newer_schema_is_refused_clearly(tmp_path):
    project = make(tmp_path)
    project.save()
    project.close()
    with h5py.File(project.h5_path, "r+") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(ProjectError, match="newer P-FES Studio.*schema 99"):
        Project.open(project.root)
    assert not (project.root / "project.lock").exists()  # the failed open released its lock


def test_backups_rotate_and_keep_three(tmp_path):
    project = make(tmp_path)
    for i in range(5):
        project.apply(AddLabel("v1", i, "ME"))
        project.save()
    names = sorted(p.name for p in project.root.iterdir() if p.name.startswith("project.h5"))
    assert names == ["project.h5", "project.h5.bak1", "project.h5.bak2", "project.h5.bak3"]
    counts = [b["labels"] for b in list_backups(project.root)]
    assert counts == [4, 3, 2]
    project.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_project_offers_newest_good_backup(tmp_path, damage):
    project = make(tmp_path)
    project.save()
    project.apply(AddLabel("v1", 1, "ME"))
    project.save()
    project.apply(AddLabel("v1", 2, "ME"))
    project.save()
    project.close()
    data = project.h5_path.read_bytes()
    damaged = {"truncate": data[: len(data) // 3], "garbage": b"\x00junk" * 50, "empty": b""}[damage]
    project.h5_path.write_bytes(damaged)
    # make bak1 unreadable too: the message must name bak2, the newest GOOD one
    (project.root / "project.h5.bak1").write_bytes(b"broken")
    with pytest.raises(ProjectError) as info:
        Project.open(project.root)
    msg = str(info.value)
    assert "cannot be read" in msg and "project.h5.bak2" in msg and "pfes restore-backup" in msg
    assert "from_backup=2" in msg
    with pytest.raises(ProjectError, match="cannot be read"):
        Project.open(project.root, readonly=True)

    with Project.open(project.root, from_backup=True) as rescued:
        assert rescued.opened_from_backup.name == "project.h5.bak2"
        assert [lb.frame for lb in rescued.labels.all()] == []  # bak2: the video, before any label
        assert rescued.is_dirty
        rescued.apply(AddLabel("v1", 9, "MaE"))
        rescued.save()
    assert any(p.name.startswith("project.h5.damaged-") for p in project.root.iterdir())
    with Project.open(project.root) as fixed:
        assert [(lb.frame, lb.cls) for lb in fixed.labels.all()] == [(9, "MaE")]


def test_restore_backup_function(tmp_path):
    project = make(tmp_path)
    project.apply(AddLabel("v1", 1, "ME"))
    project.save()
    project.apply(AddLabel("v1", 2, "ME"))
    project.save()
    project.apply(AddLabel("v1", 3, "ME"))  # unsaved, in the journal
    project.close()
    project.h5_path.write_bytes(b"not hdf5")
    used = restore_backup(project.root)
    assert used.name == "project.h5.bak1"
    assert any(p.name.startswith("journal.jsonl.orphaned-") for p in project.root.iterdir())
    with Project.open(project.root) as back:
        assert [lb.frame for lb in back.labels.all()] == [1]
        assert back.recovered_edits == 0


def test_no_backup_message(tmp_path):
    project = Project.create(tmp_path / "p")
    project.close()
    project.h5_path.write_bytes(b"xx")
    with pytest.raises(ProjectError, match="no readable backup"):
        Project.open(project.root)
    with pytest.raises(ProjectError, match="no readable backup"):
        restore_backup(project.root)


def test_unsaved_edits_come_back_from_journal(tmp_path):
    project = make(tmp_path)
    project.save()
    project.apply(AddLabel("v1", 1, "ME", created=1.0))
    project.apply(AddLabel("v1", 2, "ME", created=2.0))
    project.apply(MoveLabel("v1", 2, "ME", 7, modified=3.0))
    project.apply(RetypeLabel("v1", 1, "ME", "MaE", modified=4.0))
    project.apply(DeleteLabel("v1", 7, "ME"))
    project.undo()  # the delete
    project.apply(SetReview("v1", "r", "ME", 1, 2, 3, "accepted"))
    project.set_reference([Interval("v1", "MaE", 0, 1, 2)])
    project.update_settings({"k": 1})
    project.add_video(tmp_path / "v2.mp4", video_id="v2", fps=25, n_frames=10, fingerprint="f2")
    expected = (project.labels.all(), project.reviews.all(), dict(project.reference), dict(project.videos),
                dict(project.settings))
    project.close()  # no save: like a crash

    with Project.open(project.root) as back:
        assert back.recovered_edits == 10
        assert back.is_dirty
        assert (back.labels.all(), back.reviews.all(), back.reference, back.videos, back.settings) == expected
        # the replayed history is undoable: undo the review, then the re-applied delete's undo
        assert isinstance(back.undo(), SetReview)
        assert len(back.reviews) == 0
        back.save()
        assert back.unsaved_edits == 0
    header, records = read_journal(project.root / "journal.jsonl")[:2]
    assert records == [] and header["generation"] == back.generation


def test_journal_from_an_older_generation_is_ignored(tmp_path):
    """Crash after project.h5 was replaced but before the journal was cleared: no double apply."""
    project = make(tmp_path)
    project.save()
    project.apply(AddLabel("v1", 1, "ME"))
    old_journal = (project.root / "journal.jsonl").read_bytes()
    project.save()
    project.close()
    (project.root / "journal.jsonl").write_bytes(old_journal)
    with Project.open(project.root) as back:
        assert back.recovered_edits == 0 and len(back.labels) == 1


def test_failed_edit_changes_nothing_and_is_not_journaled(tmp_path):
    project = make(tmp_path, n_frames=10)
    project.apply(AddLabel("v1", 1, "ME"))
    before = (project.root / "journal.jsonl").read_bytes()
    for bad in (AddLabel("v1", 1, "ME"), AddLabel("v1", 10, "ME"), AddLabel("nope", 1, "ME"),
                AddLabel("v1", 1, "XE"), MoveLabel("v1", 5, "ME", 6), DeleteLabel("v1", 2, "MaE")):
        with pytest.raises(LabelError):
            project.apply(bad)
    assert (project.root / "journal.jsonl").read_bytes() == before
    assert [(lb.frame, lb.cls) for lb in project.labels.all()] == [(1, "ME")]
    project.close()


def test_set_reference_validates_and_replaces_per_video(tmp_path):
    project = make(tmp_path, n_frames=50)
    project.add_video(tmp_path / "v2.mp4", video_id="v2", fps=25, n_frames=50, fingerprint="f2")
    project.set_reference([Interval("v1", "ME", 1, 2, 3), Interval("v2", "MaE", 5, 6, 7)])
    project.set_reference([Interval("v1", "mae", 10, 12, 14)])
    assert project.reference["v1"] == [Interval("v1", "MaE", 10, 12, 14)]
    assert project.reference["v2"] == [Interval("v2", "MaE", 5, 6, 7)]
    for bad in (Interval("zz", "ME", 1, 2, 3), Interval("v1", "ME", 5, 2, 3), Interval("v1", "ME", 1, 2, 50)):
        with pytest.raises(LabelError):
            project.set_reference([bad])
    project.set_reference([], videos=["v2"])
    assert "v2" not in project.reference
    project.close()


def test_review_edits_undo_and_validate(tmp_path):
    project = make(tmp_path, n_frames=50)
    project.apply(SetReview("v1", "r1", "ME", 10, 12, 15, "accepted", score=0.9))
    project.apply(SetReview("v1", "r1", "ME", 10, 12, 15, "adjusted", score=0.9, adjusted=(9, 12, 16)))
    d = project.reviews.get("v1", "r1", "ME", 10, 15)
    assert d.status == "adjusted" and d.interval() == Interval("v1", "ME", 9, 12, 16, 0.9)
    project.undo()
    assert project.reviews.get("v1", "r1", "ME", 10, 15).status == "accepted"
    project.undo()
    assert len(project.reviews) == 0
    project.redo()
    assert project.reviews.status_of("r1", Interval("v1", "ME", 10, 12, 15)) == "accepted"
    with pytest.raises(LabelError, match="status"):
        project.apply(SetReview("v1", "r1", "ME", 10, 12, 15, "maybe"))
    with pytest.raises(LabelError, match="adjusted"):
        project.apply(SetReview("v1", "r1", "ME", 10, 12, 15, "adjusted"))
    with pytest.raises(LabelError, match="past the end"):
        project.apply(SetReview("v1", "r1", "ME", 10, 12, 15, "adjusted", adjusted=(10, 12, 60)))
    project.apply(SetReview("v1", "r1", "ME", 10, 12, 15, None))  # clear
    assert len(project.reviews) == 0
    project.close()


def test_settings_must_be_json(tmp_path):
    project = make(tmp_path)
    with pytest.raises(TypeError):
        project.update_settings({"bad": object()})
    assert project.settings == {}
    project.settings["bad"] = {1, 2}
    with pytest.raises(ProjectError, match="JSON"):
        project.save()
    project.close()


def test_durable_journal_mode_replays_too(tmp_path):
    project = Project.create(tmp_path / "p", durable=True)
    project.add_video(tmp_path / "v.mp4", video_id="v", fps=30, n_frames=10, fingerprint="f")
    project.apply(AddLabel("v", 4, "ME"))
    assert project._journal.durable
    project.close()
    with Project.open(project.root, durable=True) as back:
        assert back.recovered_edits == 2 and back.labels.get("v", 4, "ME") is not None
