"""`pfes-gui [PROJECT_DIR] [--demo]`: start the desktop app on a qasync event loop.

Start-up order matters: OpenCV's non-headless wheels set QT_QPA_PLATFORM_PLUGIN_PATH when cv2 is
imported, which can make Qt 6 load OpenCV's Qt 5 plugins and abort; the variable is dropped before
QApplication exists and nothing here imports cv2. The asyncio loop is qasync's QEventLoop so
worker processes (training, extraction) run as asyncio subprocesses without blocking the GUI.
Uncaught exceptions are logged and shown in a dialog instead of killing the app.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
import traceback
from pathlib import Path

log = logging.getLogger("pfes_gui")

# Feature modules with an `install(window)` hook; model_menu installs the Model menu, the jobs,
# review and evaluation docks and the export handler.
EXTENSION_MODULES = ("pfes_gui.model_menu", "pfes_gui.import_dialog", "pfes_gui.annotator_layers",
                     "pfes_gui.agreement_view")


def default_demo_path() -> Path:
    """Where `--demo` keeps the demo project (PFES_DEMO_DIR overrides)."""
    env = os.environ.get("PFES_DEMO_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "pfes-studio" / "demo.pfes"


def log_path() -> Path:
    return Path.home() / ".local" / "state" / "pfes-studio" / "pfes-gui.log"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pfes-gui", description="P-FES Studio desktop app")
    parser.add_argument("project", nargs="?", help="project folder (NAME.pfes) to open")
    parser.add_argument("--demo", action="store_true",
                        help=f"open the built-in demo project (built on first use at "
                             f"{default_demo_path()})")
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS",
                        help=argparse.SUPPRESS)   # start-up smoke test: close after opening
    return parser.parse_args(argv)


def prepare_environment(environ=os.environ) -> None:
    """Before QApplication: drop what OpenCV's Qt-enabled wheels set for their own Qt 5 plugins."""
    environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)


def install_excepthook(window) -> None:
    """Show uncaught exceptions in a dialog and log them, instead of a silent crash."""
    from PySide6.QtWidgets import QApplication

    from pfes_core.errors import PfesError

    from . import dialogs

    showing = {"busy": False}

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception\n%s", text)
        if showing["busy"] or not window.isVisible():
            # an error inside the error dialog, or after the window closed (a modal box
            # then would keep a quitting process alive with nobody to answer it): log only
            return
        showing["busy"] = True
        try:
            if isinstance(exc, PfesError):
                dialogs.error(window, "Error", str(exc))
            else:
                dialogs.error(window, "Unexpected error",
                              f"{exc_type.__name__}: {exc}\n\nThe app keeps running; your labels "
                              f"are journaled. Details are in {log_path()}.", details=text)
        finally:
            showing["busy"] = False

    sys.excepthook = hook


def install_extensions(window) -> list[str]:
    """Let the feature modules plug in: call install(window) of each."""
    for name in EXTENSION_MODULES:
        importlib.import_module(name).install(window)
    return list(EXTENSION_MODULES)


BUILDING_PREFIX = ".building-"


def building_folder(path: Path, pid: int | None = None) -> Path:
    """The hidden sibling where `--demo` builds before renaming into ``path``."""
    partial = path.with_name(f"{BUILDING_PREFIX}{pid or os.getpid()}-{path.name}")
    if partial.suffix != ".pfes":
        partial = partial.with_name(partial.name + ".pfes")
    return partial


def remove_stale_builds(path: Path) -> list[Path]:
    """Remove the half-built demo folders of app processes that are gone (killed, crashed).

    A build in progress in another running app (its pid is alive) is left alone."""
    import shutil

    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.glob(f"{BUILDING_PREFIX}*-{path.name}*"):
        pid_text = entry.name[len(BUILDING_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or (int(pid_text) != os.getpid() and _pid_alive(int(pid_text))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # alive, owned by someone else
        return True
    return True


async def build_demo(window, path: Path) -> bool:
    """Build the demo project with the `pfes demo` worker, behind a cancellable progress dialog.

    It is built in a hidden sibling folder and renamed into place only when complete, so a
    cancelled or failed build never leaves a half-made demo; the folder is removed whatever
    happens (finished, failed, cancelled, the app closed), and ones left by killed apps are
    removed first. The dialog's updates never run the event loop inside this task (dialogs.py).
    """
    import shutil

    from . import dialogs
    from .jobs import WorkerJob, pfes_command

    remove_stale_builds(path)
    partial = building_folder(path)
    shutil.rmtree(partial, ignore_errors=True)
    job = WorkerJob(pfes_command("demo", str(partial)), name="build demo")
    dlg = dialogs.ProgressDialog(window, "P-FES Studio demo",
                                 "Building the demo project (first start only)...")
    dlg.canceled.connect(job.cancel)

    def on_progress(event: dict) -> None:
        stage = event.get("stage", "")
        message = event.get("message") or ""
        dlg.set_progress(event.get("step"), event.get("total"),
                         f"Building the demo project: {stage} {message}".strip())

    job.progress.connect(on_progress)
    dlg.open()
    try:
        job.start()
        result = await job.wait()
        dlg.finish()
        if not result.get("ok"):
            if not result.get("cancelled"):
                dialogs.error(window, "Cannot build the demo project",
                              result.get("error") or "the demo builder failed",
                              details=result.get("stderr_tail") or None)
            return False
        try:
            os.replace(partial, path)
        except OSError as exc:
            dialogs.error(window, "Cannot build the demo project",
                          f"cannot move it into {path}: {exc}")
            return False
        return True
    finally:
        if job.is_running:          # the app is closing while the worker runs: stop it first
            job.cancel()
            try:
                await asyncio.wait_for(job.wait(), job.grace_s + 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        dlg.finish()
        shutil.rmtree(partial, ignore_errors=True)


def open_from_event_loop(window, path) -> "asyncio.Future[bool]":
    """``window.open_project(path)`` run from the Qt event loop, not inside the calling task:
    opening may ask a question (locked, damaged), and a modal dialog must not nest in a task."""
    from PySide6.QtCore import QTimer

    future = asyncio.get_event_loop().create_future()

    def go() -> None:
        try:
            ok = window.open_project(path)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(ok)

    QTimer.singleShot(0, go)
    return future


def install_state_file(window, path: str) -> None:
    """Keep a small JSON file with what the window shows (video, frame, labels, title), for the
    real-window check (scripts/real_window_check.py) that drives the app with X events and needs
    to read back where it is. Set PFES_GUI_STATE_FILE to enable; rewritten atomically per change."""
    import json

    target = Path(path)

    from PySide6.QtCore import QTimer

    last = {"text": ""}

    def write(*_args) -> None:
        project = window.project
        vid = window.current_video_id
        here = list(project.labels.for_video(vid)) if project is not None and vid is not None else []
        state = {"project": str(project.root) if project is not None else None,
                 "video": vid, "frame": window.current_frame, "n_frames": window.n_frames,
                 "labels": [[lab.frame, lab.cls] for lab in here],
                 "labels_by": [[lab.frame, lab.cls, lab.annotator] for lab in here],
                 "shown_labels": [[lab.frame, lab.cls, lab.annotator] for lab in window.timeline.labels],
                 "annotator": window.annotator,
                 "n_labels": len(project.labels) if project is not None else 0,
                 "videos": window.video_list.video_ids(), "playing": window.playing,
                 "title": window.windowTitle(), "status": window.statusBar().currentMessage(),
                 "timeline": _timeline_geometry(window), "menus": _menu_geometry(window),
                 "frame_view": _safely(_frame_view_state, window),
                 "proposals": _safely(_proposal_state, window),
                 "ui": _safely(_ui_geometry, window)}
        text = json.dumps(state)
        if text == last["text"]:
            return
        last["text"] = text
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, target)

    for signal in (window.frame_changed, window.video_changed, window.labels_changed,
                   window.project_changed, window.statusBar().messageChanged):
        signal.connect(write)
    # dialogs, menus and docks open and move without a window signal: look twice a second
    timer = QTimer(window)
    timer.setInterval(500)
    timer.timeout.connect(write)
    timer.start()
    write()


def _safely(describe, window):
    """A driver's aid must never break the app: a failure is logged once and gives None."""
    try:
        return describe(window)
    except Exception:  # noqa: BLE001 - logged; the state file simply lacks this part
        if not getattr(describe, "_logged", False):
            describe._logged = True
            log.exception("state file: %s failed", describe.__name__)
        return None


def _centre(widget, point=None) -> list[int]:
    from PySide6.QtCore import QPoint

    p = widget.mapToGlobal(point if point is not None else widget.rect().center())
    return [p.x(), p.y()] if isinstance(p, QPoint) else [round(p.x()), round(p.y())]


def _ui_geometry(window) -> dict:
    """Where an outside driver can click: every visible top-level window (dialogs, message
    boxes, the main window with its docks) with the screen centres of its buttons (by text),
    named widgets (by object name), the visible rows of named item views, dock tab titles, and
    the items of an open popup menu; plus the widget that has the keyboard focus."""
    from PySide6.QtCore import QModelIndex, QPoint
    from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QComboBox,
                                   QKeySequenceEdit, QLabel, QLineEdit, QMenu, QTabBar, QWidget)

    app = QApplication.instance()
    windows = []
    for top in app.topLevelWidgets():
        if not top.isVisible() or isinstance(top, QMenu) or top.windowType() == 0x0000000C:
            continue
        info = {"title": top.windowTitle(), "class": type(top).__name__, "buttons": {},
                "named": {}, "rows": {}, "tabs": {}, "active": top.isActiveWindow()}
        for b in top.findChildren(QAbstractButton):
            if b.isVisible() and b.text():
                at = _centre(b, QPoint(9, b.height() // 2)) if b.isCheckable() and \
                    type(b).__name__ in ("QCheckBox", "QRadioButton") else _centre(b)
                info["buttons"][b.text().replace("&", "")] = at + [b.isChecked(), b.isEnabled()]
        for w in top.findChildren(QWidget):
            name = w.objectName()
            if name and not name.startswith("qt_") and w.isVisible():
                text = (w.text() if isinstance(w, (QLabel, QLineEdit, QAbstractButton))
                        else w.currentText() if isinstance(w, QComboBox)
                        else w.keySequence().toString() if isinstance(w, QKeySequenceEdit) else "")
                info["named"][name] = _centre(w) + [text]
        for view in top.findChildren(QAbstractItemView):
            name = view.objectName()
            model = view.model()
            if not name or not view.isVisible() or model is None:
                continue
            rows = []
            root = QModelIndex()
            for r in range(min(model.rowCount(root), 80)):
                rect = view.visualRect(model.index(r, 0))
                if not rect.isValid() or not view.viewport().rect().intersects(rect):
                    continue
                cells = [model.index(r, c) for c in range(6)]     # list models: 1 valid
                text = " | ".join(str(i.data() or "") for i in cells if i.isValid())
                rows.append([text] + _centre(view.viewport(), rect.center()))
            info["rows"][name] = rows
        for bar in top.findChildren(QTabBar):
            if bar.isVisible():
                for i in range(bar.count()):
                    at = _centre(bar, bar.tabRect(i).center())
                    if top.frameGeometry().contains(QPoint(*at)):   # not a stale, unmapped bar
                        info["tabs"][bar.tabText(i).replace("&", "")] = at
        windows.append(info)
    popup = app.activePopupWidget()
    menu = {}
    if isinstance(popup, QMenu):
        for action in popup.actions():
            rect = popup.actionGeometry(action)
            if action.text() and rect.isValid():
                menu[action.text().replace("&", "")] = _centre(popup, rect.center())
    focus = app.focusWidget()
    return {"windows": windows, "popup_menu": menu,
            "focus": [type(focus).__name__, focus.objectName()] if focus is not None else None}


def _frame_view_state(window) -> dict | None:
    """What the frame view shows: the image's size and the view box's range (the zoom)."""
    view = getattr(window, "frame_view", None)
    state = view.zoom_state() if view is not None else None
    if state is not None:
        state["caption"] = view.caption.text()
        state["centre"] = _centre(view.view.viewport())
    return state


def _proposal_state(window) -> list:
    """Every shown proposal, [video, onset, apex, offset, class, review status or None]."""
    from .review_commands import status_of

    controller = getattr(window, "model_controller", None)
    review = getattr(controller, "review", None)
    if review is None:
        return []
    return [[vid, p.onset, p.apex, p.offset, p.cls, status_of(window.project, review.run_id, p)]
            for vid, pred in review.predictions.items() for p in pred.proposals]


def _menu_geometry(window) -> dict:
    """Screen centre of each menu title in the menu bar (for clicking menus from outside)."""
    bar = window.menuBar()
    out = {}
    for action in bar.actions():
        rect = bar.actionGeometry(action)
        if rect.isValid():
            centre = bar.mapToGlobal(rect.center())
            out[action.text().replace("&", "")] = [centre.x(), centre.y()]
    return out


def _timeline_geometry(window) -> dict | None:
    """Screen coordinates of the timeline's label rows and of two frames (x is linear in frame),
    so an outside driver can click and drag label markers."""
    from PySide6.QtCore import QPoint

    from .timeline import LABEL_ROWS

    tl = window.timeline
    if window.current_video_id is None or not tl.isVisible():
        return None
    lo, hi = tl.view_range()
    out = {"frames": [lo, hi], "rows": {}}
    for cls, y in LABEL_ROWS.items():
        p = tl.view_pos_for(lo, y)
        out["rows"][cls] = tl.detail.mapToGlobal(QPoint(round(p.x()), round(p.y()))).y()
    xs = []
    for f in (lo, hi):
        p = tl.view_pos_for(f, LABEL_ROWS["MaE"])
        xs.append(tl.detail.mapToGlobal(QPoint(round(p.x()), round(p.y()))).x())
    out["x"] = xs
    return out


def install_close_on_sigterm(window) -> None:
    """SIGTERM (logout, `kill PID`) closes the window as File -> Quit does: the project is
    saved and released and a first-start demo build is cancelled and its folder removed, where
    Python's default would end the process mid-write. The signal wakes Qt through a socket
    (signal.set_wakeup_fd), since Python runs its handlers only when Python code runs."""
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier

    if sys.platform.startswith("win"):
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    signal.signal(signal.SIGTERM, lambda *_args: None)   # the wake-up byte does the work
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, window)

    def woken() -> None:
        try:
            got = reader.recv(64)
        except OSError:
            return
        if signal.SIGTERM in got:
            log.info("SIGTERM: closing the window")
            window.close()

    notifier.activated.connect(woken)
    window._sigterm_wakeup = (reader, writer, notifier)   # kept alive with the window


def apply_dark_theme(app) -> None:
    """One dark palette for widgets and plots, so the frame and the timeline do not glare."""
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#262626", QPalette.ColorRole.WindowText: "#dddddd",
        QPalette.ColorRole.Base: "#1d1d1d", QPalette.ColorRole.AlternateBase: "#2a2a2a",
        QPalette.ColorRole.Text: "#dddddd", QPalette.ColorRole.Button: "#333333",
        QPalette.ColorRole.ButtonText: "#dddddd", QPalette.ColorRole.ToolTipBase: "#333333",
        QPalette.ColorRole.ToolTipText: "#eeeeee", QPalette.ColorRole.Highlight: "#3d6f99",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#888888",
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#777777"))
    app.setStyle("Fusion")
    app.setPalette(pal)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_environment()
    log_file = log_path()
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=log_file, level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    except OSError:
        logging.basicConfig(level=logging.INFO)

    import pyqtgraph as pg
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("P-FES Studio")
    app.setOrganizationName("P-FES")
    apply_dark_theme(app)
    pg.setConfigOptions(background="#1b1b1b", foreground="#d0d0d0")

    from .main_window import MainWindow

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow()
    install_excepthook(window)
    install_close_on_sigterm(window)
    install_extensions(window)
    if os.environ.get("PFES_GUI_STATE_FILE"):
        install_state_file(window, os.environ["PFES_GUI_STATE_FILE"])
    if not window.restore_session():
        window.fit_to_screen()
    window.show()

    async def start() -> None:
        if args.demo:
            path = default_demo_path()
            if not (path / "project.h5").exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                if not await build_demo(window, path):
                    return
            else:
                remove_stale_builds(path)
            await open_from_event_loop(window, path)
        elif args.project:
            await open_from_event_loop(window, args.project)

    # The loop ends when run() returns, not when the window closes: closing during the
    # first-start build must still let the build stop its worker and remove its folder.
    app.setQuitOnLastWindowClosed(False)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)

    async def run() -> None:
        starter = asyncio.ensure_future(start())
        if args.quit_after is not None:
            await starter
            await asyncio.sleep(args.quit_after)
            window.close()
        await closed.wait()
        if not starter.done():      # closed during the first-start build: stop and clean up
            starter.cancel()
            await asyncio.gather(starter, return_exceptions=True)

    with loop:
        loop.run_until_complete(run())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
