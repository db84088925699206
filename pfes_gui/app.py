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

    from pfes_core.lock import pid_alive

    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.glob(f"{BUILDING_PREFIX}*-{path.name}*"):
        pid_text = entry.name[len(BUILDING_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or (int(pid_text) != os.getpid() and pid_alive(int(pid_text))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


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
        from .state_file import install_state_file

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
