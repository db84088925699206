"""Annotating in the real MainWindow: keys, mouse gestures on the timeline, undo/redo, autosave,
and labels surviving save + reopen. Dialogs are monkeypatched through pfes_gui.dialogs."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from pfes_gui.timeline import LABEL_ROWS  # noqa: E402

from video_helpers import pattern_frames, pattern_project, write_video  # noqa: E402

pytestmark = pytest.mark.gui
N_FRAMES = 120


@pytest.fixture
def project_path(tmp_path) -> Path:
    return pattern_project(tmp_path / "annot", N_FRAMES)


@pytest.fixture
def window(open_window, project_path):
    return open_window(project_path, size=(1200, 800))


def press(qtbot, win, key: str) -> None:
    combo = QKeySequence(key)[0]
    qtbot.keyClick(win, combo.key(), combo.keyboardModifiers())


def labels(win) -> list[tuple[int, str]]:
    return [(lab.frame, lab.cls) for lab in win.project.labels.for_video("face")]


def timeline_point(win, frame: float, cls: str) -> QPoint:
    """Viewport pixel of a frame on a label row (what a user would click)."""
    pos = win.timeline.view_pos_for(frame, LABEL_ROWS[cls])
    return QPoint(round(pos.x()), round(pos.y()))


def test_keys_add_labels_and_undo_redo(qtbot, window):
    changes = []
    window.labels_changed.connect(lambda: changes.append(1))
    window.go_to_frame("face", 10)
    press(qtbot, window, "M")
    window.go_to_frame("face", 25)
    press(qtbot, window, "E")
    assert window.statusBar().currentMessage() == "ME label added at frame 25"
    press(qtbot, window, "M")          # MaE and ME may share a frame
    assert window.statusBar().currentMessage() == "MaE label added at frame 25"
    assert labels(window) == [(10, "MaE"), (25, "MaE"), (25, "ME")]
    assert len(changes) == 3
    assert window.video_list.item(0, 1).text() == "2" and window.video_list.item(0, 2).text() == "1"
    assert window.isWindowModified() and "unsaved" in window.save_label.text()
    # A second MaE on the same frame is refused: status message, nothing pushed.
    press(qtbot, window, "M")
    assert window.undo_stack.count() == 3
    assert window.statusBar().currentMessage().startswith("A MaE label of annotator 'ann' already "
                                                          "exists at frame 25")
    press(qtbot, window, "Ctrl+Z")
    press(qtbot, window, "Ctrl+Z")
    assert labels(window) == [(10, "MaE")]
    press(qtbot, window, "Ctrl+Shift+Z")
    assert labels(window) == [(10, "MaE"), (25, "ME")]
    assert window.undo_stack.undoText() == "Add ME label at frame 25"
    # The timeline shows what the store holds.
    assert [lab.frame for lab in window.timeline.labels] == [10, 25]


def test_delete_retype_and_label_navigation_keys(qtbot, window):
    for frame, cls in ((5, "MaE"), (40, "ME"), (90, "MaE")):
        window.go_to_frame("face", frame)
        assert window.add_label(frame, cls)
    window.go_to_frame("face", 0)
    press(qtbot, window, "]")
    assert window.current_frame == 5
    press(qtbot, window, "]")
    assert window.current_frame == 40
    press(qtbot, window, "T")                  # retype ME -> MaE
    assert (40, "MaE") in labels(window)
    press(qtbot, window, "]")
    assert window.current_frame == 90
    press(qtbot, window, "Delete")
    assert labels(window) == [(5, "MaE"), (40, "MaE")]
    press(qtbot, window, "[")
    assert window.current_frame == 40
    press(qtbot, window, "Ctrl+Z")             # undo delete
    press(qtbot, window, "Ctrl+Z")             # undo retype
    assert labels(window) == [(5, "MaE"), (40, "ME"), (90, "MaE")]
    press(qtbot, window, "Delete")             # the ME label at 40 is back, and goes again
    assert labels(window) == [(5, "MaE"), (90, "MaE")]


def double_click(widget, pos: QPoint) -> None:
    """What a real double-click delivers: press, release, double-click press, release."""
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mouseClick(widget, left, none, pos)
    QTest.mouseDClick(widget, left, none, pos)
    QTest.mouseRelease(widget, left, none, pos)


def test_double_click_on_label_row_adds_label(qtbot, window):
    window.timeline.set_view_range(-0.5, 99.5)
    vp = window.timeline.detail.viewport()
    double_click(vp, timeline_point(window, 30, "ME"))
    qtbot.waitUntil(lambda: labels(window) == [(30, "ME")], timeout=3000)
    double_click(vp, timeline_point(window, 60, "MaE"))
    qtbot.waitUntil(lambda: labels(window) == [(30, "ME"), (60, "MaE")], timeout=3000)
    # A single click elsewhere moves the playhead (and adds nothing).
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     timeline_point(window, 75, "MaE") + QPoint(0, 150))
    qtbot.waitUntil(lambda: window.current_frame == 75, timeout=3000)
    assert len(labels(window)) == 2


def test_drag_marker_moves_label(qtbot, window):
    window.timeline.set_view_range(-0.5, 99.5)
    assert window.add_label(20, "MaE")
    vp = window.timeline.detail.viewport()
    start = timeline_point(window, 20, "MaE")
    end = timeline_point(window, 33, "MaE")
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    steps = 8
    for i in range(1, steps + 1):
        QTest.mouseMove(vp, start + (end - start) * i / steps)
        qtbot.wait(5)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    qtbot.waitUntil(lambda: labels(window) == [(33, "MaE")], timeout=3000)
    assert window.timeline.view_range() == pytest.approx((-0.5, 99.5))   # no pan
    assert window.statusBar().currentMessage() == "Moved the MaE label from frame 20 to 33"
    press(qtbot, window, "Ctrl+Z")
    assert labels(window) == [(20, "MaE")]
    assert window.statusBar().currentMessage() == "Undone: Move MaE label from frame 20 to 33"
    # Dragging empty space pans the view instead.
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     timeline_point(window, 60, "ME"))
    for i in range(1, 6):
        QTest.mouseMove(vp, timeline_point(window, 60 - 4 * i, "ME"))
        qtbot.wait(5)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       timeline_point(window, 40, "ME"))
    assert labels(window) == [(20, "MaE")]
    assert window.timeline.view_range()[0] > 5


def test_right_click_menu_retypes_and_deletes(qtbot, window):
    window.timeline.set_view_range(-0.5, 99.5)
    assert window.add_label(50, "ME")
    vp = window.timeline.detail.viewport()
    QTest.mouseClick(vp, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier,
                     timeline_point(window, 50, "ME"))
    qtbot.waitUntil(lambda: window.open_menu is not None and window.open_menu.isVisible(),
                    timeout=3000)
    menu = window.open_menu
    menu.findChild(type(menu.actions()[0]), "retype_MaE").trigger()
    menu.close()
    assert labels(window) == [(50, "MaE")]
    window.open_menu = None
    QTest.mouseClick(vp, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier,
                     timeline_point(window, 50, "MaE"))
    qtbot.waitUntil(lambda: window.open_menu is not None, timeout=3000)
    window.open_menu.findChild(type(menu.actions()[0]), "delete").trigger()
    window.open_menu.close()
    assert labels(window) == []
    press(qtbot, window, "Ctrl+Z")
    assert labels(window) == [(50, "MaE")]


def test_autosave_after_idle_and_reopen(qtbot, window, project_path):
    window.autosave_timer.setInterval(100)
    window.go_to_frame("face", 7)
    press(qtbot, window, "E")
    window.go_to_frame("face", 70)
    press(qtbot, window, "M")
    assert window.isWindowModified()
    qtbot.waitUntil(lambda: not window.isWindowModified(), timeout=5000)
    assert "saved" in window.save_label.text() and "unsaved" not in window.save_label.text()
    window.close_project()
    assert window.project is None
    # A fresh window finds the labels in project.h5, with the annotator recorded.
    assert window.open_project(project_path)
    assert window.project.recovered_edits == 0
    assert labels(window) == [(7, "ME"), (70, "MaE")]
    assert {lab.annotator for lab in window.project.labels.all()} == {"ann"}
    assert [lab.frame for lab in window.timeline.labels] == [7, 70]


def test_undo_after_save_reopen_is_cleared_but_edits_persist(qtbot, window, project_path):
    window.go_to_frame("face", 11)
    press(qtbot, window, "M")
    press(qtbot, window, "Ctrl+S")
    assert not window.isWindowModified()
    window.close_project()
    window.open_project(project_path)
    assert window.undo_stack.count() == 0
    assert labels(window) == [(11, "MaE")]
    window.go_to_frame("face", 11)
    press(qtbot, window, "Delete")
    press(qtbot, window, "Ctrl+Z")
    assert labels(window) == [(11, "MaE")]


def test_undo_in_another_video_shows_that_video(qtbot, window, tmp_path):
    second = write_video(tmp_path / "other.mp4", pattern_frames(40, w=96, h=64, seed=1), fps=30)
    window.add_videos([second])
    qtbot.waitUntil(lambda: "other" in window.project.videos, timeout=10000)
    window.go_to_frame("face", 33)
    press(qtbot, window, "E")
    press(qtbot, window, "PgDown")
    assert window.current_video_id == "other"
    press(qtbot, window, "M")                      # a label in the second video, at frame 0
    press(qtbot, window, "Ctrl+Z")
    press(qtbot, window, "Ctrl+Z")                 # undoes the ME label in "face"
    assert window.current_video_id == "face" and window.current_frame == 33
    assert labels(window) == []
    press(qtbot, window, "Ctrl+Shift+Z")
    assert labels(window) == [(33, "ME")]


def test_delete_and_retype_agree_on_a_frame_with_both_classes(qtbot, window):
    window.go_to_frame("face", 30)
    press(qtbot, window, "M")
    press(qtbot, window, "E")
    for key in ("Delete", "T"):               # neither key guesses which label is meant
        press(qtbot, window, key)
        assert labels(window) == [(30, "MaE"), (30, "ME")]
        assert "both an MaE and an ME label" in window.statusBar().currentMessage()
    window.go_to_frame("face", 50)
    press(qtbot, window, "E")
    press(qtbot, window, "T")
    assert labels(window)[-1] == (50, "MaE")
    assert "now MaE (was ME)" in window.statusBar().currentMessage()
    # Undo and redo say what they moved: the line must not keep claiming "now MaE" after Ctrl+Z
    press(qtbot, window, "Ctrl+Z")
    assert labels(window)[-1] == (50, "ME")
    assert window.statusBar().currentMessage() == "Undone: Change label at frame 50 from ME to MaE"
    press(qtbot, window, "Ctrl+Shift+Z")
    assert labels(window)[-1] == (50, "MaE")
    assert window.statusBar().currentMessage() == "Redone: Change label at frame 50 from ME to MaE"
    press(qtbot, window, "Delete")
    assert (50, "MaE") not in labels(window)
    assert "Deleted the MaE label at frame 50" in window.statusBar().currentMessage()


def test_export_point_labels_from_the_file_menu(qtbot, window, tmp_path, monkeypatch):
    from pfes_core.labelfiles import read_points
    from pfes_gui import dialogs

    for frame, cls in ((12, "M"), (40, "E")):
        window.go_to_frame("face", frame)
        press(qtbot, window, cls)
    out = tmp_path / "points.csv"
    monkeypatch.setattr(dialogs, "get_save_file", lambda *a, **k: str(out))
    window.actions["file.export_points"].trigger()
    assert [(lab.video, lab.frame, lab.cls) for lab in read_points(out)] == \
        [("face", 12, "MaE"), ("face", 40, "ME")]


def test_remove_video_asks_then_removes_it_durably(qtbot, window, tmp_path, monkeypatch,
                                                   errors):
    from pfes_core.project import Project
    from pfes_gui import dialogs

    second = write_video(tmp_path / "other.mp4", pattern_frames(40, w=96, h=64, seed=1), fps=30)
    window.add_videos([second])
    qtbot.waitUntil(lambda: "other" in window.project.videos, timeout=10000)
    window.go_to_frame("face", 20)
    press(qtbot, window, "M")
    asked = []
    monkeypatch.setattr(dialogs, "ask_yes_no",
                        lambda _p, title, q, default_yes=True: asked.append(q) or False)
    window.actions["file.remove_video"].trigger()          # "No": nothing happens
    assert "face" in window.project.videos and "1 point label" in asked[-1]
    monkeypatch.setattr(dialogs, "ask_yes_no", lambda *a, **k: True)
    window.actions["file.remove_video"].trigger()
    assert list(window.project.videos) == ["other"] and window.current_video_id == "other"
    assert len(window.project.labels) == 0 and window.video_list.video_ids() == ["other"]
    root = window.project.root
    # The removal is journaled: a crash now (no save) still opens without the video.
    journal = (root / "journal.jsonl").read_text()
    assert '"remove_video"' in journal
    with Project.open(root, readonly=True) as replayed:      # what a crash would reopen
        assert list(replayed.videos) == ["other"] and len(replayed.labels) == 0
    assert errors == []


def test_disk_full_on_an_edit_or_a_save_is_a_dialog_and_loses_nothing(qtbot, window,
                                                                     monkeypatch, errors):
    import errno

    from pfes_core import journal

    window.go_to_frame("face", 10)
    press(qtbot, window, "M")
    real_write = journal._write_all

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal, "_write_all", full)
    press(qtbot, window, "E")                                  # the edit cannot be recorded
    assert labels(window) == [(10, "MaE")]
    assert errors and errors[-1][0] == "Edit not recorded" and "No space left" in errors[-1][1]
    press(qtbot, window, "Ctrl+Z")                             # neither can its undo
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=2000)
    assert labels(window) == [(10, "MaE")]
    assert not window.statusBar().currentMessage().startswith("Undone")   # it was not
    window.project.save = full                                 # and project.h5 cannot be written
    assert not window.save()
    assert errors[-1][0] == "Save failed" and "No space left" in errors[-1][1]
    assert window.isWindowModified()
    monkeypatch.setattr(journal, "_write_all", real_write)
    del window.project.save
    press(qtbot, window, "E")                                  # space again: all works
    assert labels(window) == [(10, "MaE"), (10, "ME")]
    assert window.save() and not window.isWindowModified()
