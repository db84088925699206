"""Shared pytest fixtures. Each fixture is self-contained; add yours below with its own imports."""

from __future__ import annotations

import asyncio

import pytest

from video_helpers import write_noise_video


# ---- tiny_video (project store tests) ---------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory):
    """A 30-frame, 30 fps, 64x48 mpeg4 file of random noise (made once per test session)."""
    path = tmp_path_factory.mktemp("tiny_video") / "tiny.mp4"
    write_noise_video(path)
    return path


# ---- small_demo_project (synthetic subjects with labels, reference and features) ---------------
@pytest.fixture(scope="session")
def small_demo_project(tmp_path_factory):
    """A demo project built once per session: 2 subjects x 1 video of 8 s (25 fps, 256x256),
    point labels loaded, ground truth as reference, features extracted. Returns its root Path;
    open it read-only (or copy it) in tests that change it."""
    from pfes_core.demo import build_demo_project

    return build_demo_project(tmp_path_factory.mktemp("demo") / "small_demo", seed=0, subjects=2,
                              videos_per_subject=1, seconds=8.0, jobs=2)


# ---- GUI helpers --------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def gui_settings_file(tmp_path, monkeypatch):
    """Each test gets its own session-memory file (QSettings), never the user's real one."""
    path = tmp_path / "pfes-gui-settings.ini"
    monkeypatch.setenv("PFES_GUI_SETTINGS", str(path))
    return path


@pytest.fixture
def loop(qapp):
    """A qasync loop that counts as running, so pytest-qt's waits also drive asyncio."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    for task in [t for t in asyncio.all_tasks(loop) if not t.done()]:
        task.cancel()
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture
def errors(monkeypatch):
    """Error dialogs recorded as (title, message) instead of shown; yes/no questions answer no."""
    from pfes_gui import dialogs

    seen = []
    monkeypatch.setattr(dialogs, "error", lambda parent, title, message, details=None:
                        seen.append((title, message)))
    monkeypatch.setattr(dialogs, "ask_yes_no", lambda *a, **k: False)
    return seen


@pytest.fixture
def show_window(qtbot):
    """Factory: the real MainWindow, no project, shown and exposed (qtbot closes it at teardown).
    `extensions=True` adds what `pfes-gui` installs (Agreement and Annotators docks...);
    `size=None` keeps the window's own size."""
    from pfes_gui.app import install_extensions
    from pfes_gui.main_window import MainWindow

    def _show(annotator="ann", size=(1200, 800), extensions=False):
        win = MainWindow(annotator=annotator)
        qtbot.addWidget(win)
        if extensions:
            install_extensions(win)
        if size is not None:
            win.resize(*size)
        win.show()
        qtbot.waitExposed(win)
        return win

    return _show


@pytest.fixture
def open_window(qtbot, show_window, errors):
    """Factory: the real MainWindow, shown, with a project open at frame 0; closed at teardown."""
    opened = []

    def _open(project_path, size=(1200, 800)):
        win = show_window(size=size)
        win.activateWindow()
        assert win.open_project(project_path)
        qtbot.waitUntil(lambda: win.frame_view.frame_index == 0, timeout=5000)
        opened.append(win)
        return win

    yield _open
    for win in opened:
        win.close()
