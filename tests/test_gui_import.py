"""File -> Import annotations and File -> Import dataset, driven through the real main window."""

from __future__ import annotations

from pathlib import Path

import pympi
import pytest

from dataset_fixtures import casme2, pfes
from video_helpers import pattern_frames, write_video


@pytest.fixture
def face_project(tmp_path):
    video = write_video(tmp_path / "face.mp4", pattern_frames(30, w=64, h=48), fps=25)
    assert pfes("init", tmp_path / "p.pfes").returncode == 0
    assert pfes("add-video", tmp_path / "p.pfes", video, "--subject", "s1").returncode == 0
    return tmp_path / "p.pfes"


def _eaf(path: Path, media: Path) -> Path:
    eaf = pympi.Elan.Eaf(author="coder")
    eaf.add_linked_file(str(media), mimetype="video/mp4")
    eaf.add_tier("events")
    eaf.add_annotation("events", 0, 80, "smile")        # middle 40 ms -> frame 1 at 25 fps
    eaf.add_annotation("events", 400, 480, "twitch")    # middle 440 ms -> frame 11
    eaf.add_annotation("events", 600, 640, "blink")     # mapped to '-': passed over
    eaf.to_file(str(path))
    return path


def test_elan_file_previews_then_imports_as_one_undoable_edit(open_window, face_project, tmp_path, errors):
    from pfes_gui.import_dialog import ImportAnnotationsDialog, install

    win = open_window(face_project)
    install(win)                                       # as pfes_gui.app.install_extensions does
    assert "file.import_annotations" in win.actions and win.actions["file.import_annotations"].isEnabled()
    dialog = ImportAnnotationsDialog(win, str(_eaf(tmp_path / "coded.eaf", tmp_path / "face.mp4")))

    # without a word map nothing maps to a class: the preview says why and nothing is written
    dialog.preview()
    assert dialog.imported is not None and "0 point labels" in dialog.summary.text()

    dialog.mapping.setText("smile=MaE, twitch=ME, blink=-")
    assert dialog.preview()
    assert "eaf: 2 point labels (MaE 1, ME 1)" in dialog.summary.text()
    assert "1 annotations not mapped" in dialog.summary.text()
    assert len(win.project.labels) == 0                       # preview writes nothing

    dialog.import_now()
    assert dialog.result() == dialog.DialogCode.Accepted and errors == []
    got = sorted((lb.video, lb.frame, lb.cls, lb.annotator) for lb in win.project.labels.all())
    assert got == [("face", 1, "MaE", "ann"), ("face", 11, "ME", "ann")]     # the desk's annotator

    win.undo_stack.undo()                                    # one edit: one undo removes both
    assert len(win.project.labels) == 0
    win.undo_stack.redo()
    assert len(win.project.labels) == 2


def test_a_bad_file_shows_the_reason_and_writes_nothing(open_window, face_project, tmp_path):
    from pfes_gui.import_dialog import ImportAnnotationsDialog

    win = open_window(face_project)
    bad = tmp_path / "labels.csv"
    bad.write_text("video,frame,class\nface,7,MaE\nface,900,ME\n")
    dialog = ImportAnnotationsDialog(win, str(bad))
    dialog.import_now()
    assert dialog.result() != dialog.DialogCode.Accepted
    text = dialog.summary.text()
    assert text.startswith("Cannot import:") and "line 3" in text and "900" in text
    assert len(win.project.labels) == 0

    # the same dialog, as reference intervals from a table with its own column names
    table = tmp_path / "coded.tsv"
    table.write_text("Filename\tType\tOnset\tApex\tOffset\nface\tMacro\t2\t5\t9\nface\tMicro - 1/2\t12\t14\t16\n")
    dialog.path_edit.setText(str(table))
    dialog.kind.setCurrentIndex(1)
    dialog.format.setCurrentText("table")
    dialog.columns.setText("video=Filename, class=Type, onset=Onset, apex=Apex, offset=Offset")
    dialog.import_now()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert [(iv.cls, iv.onset, iv.apex, iv.offset) for iv in win.project.reference["face"]] == [
        ("MaE", 2, 5, 9), ("ME", 12, 14, 16)]


def test_import_dataset_builds_and_opens_the_project(qtbot, show_window, errors, loop, tmp_path, monkeypatch):
    from pfes_gui import dialogs

    shown = []
    monkeypatch.setattr(dialogs, "info", lambda parent, title, message: shown.append((title, message)))
    from pfes_gui.import_dialog import install

    win = show_window()
    install(win)
    assert not win.actions["file.import_annotations"].isEnabled()     # no project yet
    root = casme2(tmp_path / "CAS(ME)^2")
    options = {"dataset": "casme2", "root": str(root), "project_dir": str(tmp_path / "c2"),
               "subjects": None, "step": None, "points": "apex", "seed": 0}
    task = win.importer.start_dataset_import(options)
    qtbot.waitUntil(task.done, timeout=60000)
    assert task.exception() is None and errors == []
    assert win.project is not None and win.project.root == (tmp_path / "c2.pfes").resolve()
    assert sorted(win.project.videos) == ["15_0101disgustingteeth", "15_0102eatingworms",
                                          "16_0101disgustingteeth"]
    assert len(win.project.labels) == 4 and shown and shown[0][0] == "Dataset imported"

    # a dataset folder without its workbook: an error dialog, no project folder left behind
    empty = tmp_path / "empty"
    empty.mkdir()
    task = win.importer.start_dataset_import({**options, "root": str(empty), "project_dir": str(tmp_path / "x")})
    qtbot.waitUntil(task.done, timeout=30000)
    assert errors and errors[-1][0] == "Cannot import the dataset"
    assert not (tmp_path / "x.pfes").exists()
