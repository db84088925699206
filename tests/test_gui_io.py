"""No project.h5 I/O on the GUI thread (issue #6), in the real MainWindow: the autosave writes on
a worker while the GUI keeps running, edits and undo made during a save wait for it and are
kept (in project.h5 or the journal), and opening a project reads it on a worker with a busy bar."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from pfes_core.project import Project  # noqa: E402
from pfes_gui.main_window import MainWindow  # noqa: E402

from video_helpers import pattern_project  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def project_path(tmp_path) -> Path:
    return pattern_project(tmp_path / "io", 90)


@pytest.fixture
def window(open_window, project_path):
    return open_window(project_path, size=(1000, 700))


def press(qtbot, win, key: str) -> None:
    combo = QKeySequence(key)[0]
    QTest.keyClick(win.focusWidget() or win, combo.key(), combo.keyboardModifiers())


def labels(project) -> list[tuple[int, str]]:
    return sorted((lab.frame, lab.cls) for lab in project.labels.all())


class Ticker:
    """Counts timer ticks: proof that the GUI thread's event loop is running."""

    def __init__(self, win):
        self.ticks = 0
        self.busy_seen = False
        self.timer = QTimer(win)          # dies with the window
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self._tick(win))
        self.timer.start()

    def _tick(self, win) -> None:
        self.ticks += 1
        self.busy_seen |= win.busy_bar.isVisible()


def wait_off_gui(condition, seconds: float = 10.0) -> None:
    """Poll `condition` from a worker thread until it holds, `seconds` at most: a held write or
    open waits here for the GUI's ticks, which never come if the GUI thread is blocked."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def hold_saves(monkeypatch, project):
    """Make project.save wait (on its worker) until the returned event is set."""
    real_save = project.save
    release = threading.Event()
    threads = []

    def held_save():
        threads.append(threading.current_thread())
        assert release.wait(10), "test never released the save"
        real_save()

    monkeypatch.setattr(project, "save", held_save)
    return release, threads


def test_autosave_does_not_block_and_an_edit_during_it_is_kept(qtbot, window, project_path,
                                                               monkeypatch, errors):
    project = window.project
    release, threads = hold_saves(monkeypatch, project)
    window.go_to_frame("face", 5)
    press(qtbot, window, "E")
    t0 = time.perf_counter()
    window.autosave()
    # returned long before the held write could end (it is held up to 10 s); a bound, not a timing
    assert time.perf_counter() - t0 < 2.0
    assert window.saving and "saving" in window.save_label.text()
    ticker = Ticker(window)
    qtbot.waitUntil(lambda: bool(threads), timeout=3000)
    assert threads[0] is not threading.main_thread()
    # the GUI ticks while the write is held (a blocking save: no tick at all); waited for, not
    # counted over a fixed time, so a loaded machine cannot fail it
    qtbot.waitUntil(lambda: ticker.ticks >= 4, timeout=5000)
    assert window.busy_bar.isVisible() and window.saving
    # An edit while the save is in flight: the key waits for the save (the GUI keeps ticking),
    # then applies on top of it. The save is released only after 4 more ticks, so a key that
    # blocked the event loop would hold it until the save's 10 s guard fails the test.
    window.go_to_frame("face", 60)
    before = ticker.ticks
    gate = QTimer(window)
    gate.setInterval(5)
    gate.timeout.connect(lambda: ticker.ticks - before >= 4 and release.set())
    gate.start()
    press(qtbot, window, "M")
    gate.stop()
    assert ticker.ticks - before >= 4
    assert not window.saving and not window.busy_bar.isVisible()
    assert labels(project) == [(5, "ME"), (60, "MaE")]
    # The saved state is shown correctly: the second edit is after the snapshot, so unsaved.
    assert window.isWindowModified() and "unsaved" in window.save_label.text()
    # Crash safety: a second reader sees the first label in project.h5 and the second in the
    # journal (the save must not have dropped the edit made while it ran).
    other = Project.open(project_path, readonly=True)
    assert labels(other) == [(5, "ME"), (60, "MaE")] and other.recovered_edits == 1
    other.close()
    window.close_project()
    assert errors == []
    reopened = Project.open(project_path, readonly=True)
    assert labels(reopened) == [(5, "ME"), (60, "MaE")] and reopened.recovered_edits == 0
    reopened.close()


def test_undo_and_ctrl_s_during_a_background_save(qtbot, window, project_path, monkeypatch,
                                                  errors):
    project = window.project
    release, threads = hold_saves(monkeypatch, project)
    window.go_to_frame("face", 20)
    press(qtbot, window, "M")
    window.go_to_frame("face", 30)
    press(qtbot, window, "E")
    window.autosave()
    qtbot.waitUntil(lambda: bool(threads), timeout=3000)
    QTimer.singleShot(100, release.set)
    press(qtbot, window, "Ctrl+Z")                   # waits for the save, then undoes
    assert labels(project) == [(20, "MaE")]
    assert window.isWindowModified()
    press(qtbot, window, "Ctrl+S")                   # explicit save, also on a worker
    assert len(threads) == 2 and threads[1] is not threading.main_thread()
    assert not window.isWindowModified() and "saved" in window.save_label.text()
    window.close_project()
    assert errors == []
    reopened = Project.open(project_path, readonly=True)
    assert labels(reopened) == [(20, "MaE")] and reopened.recovered_edits == 0
    reopened.close()


def test_open_project_reads_on_a_worker_with_a_busy_indicator(qtbot, errors, project_path,
                                                              monkeypatch):
    win = MainWindow(annotator="ann")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    real_open = Project.open.__func__
    threads = []
    ticker = Ticker(win)

    def slow_open(cls, *args, **kwargs):
        """Held until the GUI has ticked 3 times (10 s at most): a blocking open never ticks."""
        threads.append(threading.current_thread())
        wait_off_gui(lambda: ticker.ticks >= 3)
        return real_open(cls, *args, **kwargs)

    monkeypatch.setattr(Project, "open", classmethod(slow_open))
    assert win.open_project(project_path)
    assert threads and threads[0] is not threading.main_thread()
    assert ticker.ticks >= 3 and ticker.busy_seen    # the GUI ran (a blocking open: 0 ticks), busy bar shown
    assert not win.busy_bar.isVisible()
    assert win.current_video_id == "face" and errors == []
    win.close()


def test_saving_from_a_coroutine_does_not_starve_other_tasks(qtbot, qapp, window, project_path,
                                                            monkeypatch, errors):
    """Export and jobs save from coroutines: save_async awaits the worker (other tasks keep
    running), and a plain save() there must not re-enter asyncio (it waits instead)."""
    import asyncio

    qasync = pytest.importorskip("qasync")
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    project = window.project
    real_save = project.save
    ticks, results = [], []
    hold = {"until": None}

    def held_save():
        """save_async's write is held until the other task has ticked 5 more times (10 s at most:
        a save that blocked the loop would never see them); the plain save() just takes 0.2 s."""
        if hold["until"] is None:
            time.sleep(0.2)
        else:
            wait_off_gui(lambda: len(ticks) >= hold["until"])
        real_save()

    monkeypatch.setattr(project, "save", held_save)

    async def other():
        for _ in range(30):
            await asyncio.sleep(0.01)
            ticks.append(1)

    async def saver(use_async):
        await asyncio.sleep(0.005)
        window.go_to_frame("face", 40 if use_async else 41)
        window.add_label(window.current_frame, "ME")
        before = len(ticks)
        hold["until"] = before + 5 if use_async else None
        ok = await window.save_async() if use_async else window.save()
        results.append((ok, len(ticks) - before))

    try:
        for use_async in (True, False):
            ticks.clear()
            gathered = asyncio.gather(other(), saver(use_async))
            qtbot.waitUntil(gathered.done, timeout=5000)
            gathered.result()
            assert len(ticks) == 30                    # the other task was never lost
    finally:
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
    assert results[0][0] and results[0][1] >= 5        # save_async: other task ran meanwhile
    assert results[1][0]                               # save() in a task: waited, no error
    assert not window.isWindowModified() and errors == []
    reopened = Project.open(project_path, readonly=True)
    assert labels(reopened) == [(40, "ME"), (41, "ME")]
    reopened.close()
