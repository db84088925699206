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
    press(qtbot, window, "M")          # MaE and ME may share a frame
    assert labels(window) == [(10, "MaE"), (25, "MaE"), (25, "ME")]
    assert len(changes) == 3
    assert window.video_list.item(0, 1).text() == "2" and window.video_list.item(0, 2).text() == "1"
    assert window.isWindowModified() and "unsaved" in window.save_label.text()
    # A second MaE on the same frame is refused: status message, nothing pushed.
    press(qtbot, window, "M")
    assert window.undo_stack.count() == 3
    assert "already exists" in window.statusBar().currentMessage()
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
    press(qtbot, window, "Ctrl+Z")
    assert labels(window) == [(20, "MaE")]
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
