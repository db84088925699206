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
EXTENSION_MODULES = ("pfes_gui.model_menu",)


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
        if showing["busy"]:       # an error inside the error dialog: log only
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


async def build_demo(window, path: Path) -> bool:
    """Build the demo project with the `pfes demo` worker, behind a cancellable progress dialog.

    It is built in a sibling folder and renamed into place only when complete, so a cancelled or
    failed build never leaves a half-made demo that later opens without features.
    """
    import shutil

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QProgressDialog

    from . import dialogs
    from .jobs import WorkerJob, pfes_command

    partial = path.with_name(f".building-{os.getpid()}-{path.name}")
    if partial.suffix != ".pfes":
        partial = partial.with_name(partial.name + ".pfes")
    shutil.rmtree(partial, ignore_errors=True)
    job = WorkerJob(pfes_command("demo", str(partial)), name="build demo")
    dlg = QProgressDialog("Building the demo project (first start only)...", "Cancel", 0, 0, window)
    dlg.setWindowTitle("P-FES Studio demo")
    dlg.setWindowModality(Qt.WindowModality.WindowModal)
    dlg.setMinimumDuration(0)
    dlg.setMinimumWidth(460)
    dlg.canceled.connect(job.cancel)

    def on_progress(event: dict) -> None:
        stage = event.get("stage", "")
        message = event.get("message") or ""
        if event.get("total"):
            dlg.setMaximum(int(event["total"]))
            dlg.setValue(min(int(event.get("step", 0)), int(event["total"])))
        dlg.setLabelText(f"Building the demo project: {stage} {message}".strip())

    job.progress.connect(on_progress)
    dlg.show()
    job.start()
    result = await job.wait()
    dlg.close()
    if not result.get("ok"):
        shutil.rmtree(partial, ignore_errors=True)
        if not result.get("cancelled"):
            dialogs.error(window, "Cannot build the demo project",
                          result.get("error") or "the demo builder failed",
                          details="\n".join(result.get("stderr_tail") or []))
        return False
    try:
        os.replace(partial, path)
    except OSError as exc:
        dialogs.error(window, "Cannot build the demo project", f"cannot move it into {path}: {exc}")
        return False
    return True


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
    install_extensions(window)
    window.fit_to_screen()
    window.show()

    async def start() -> None:
        if args.demo:
            path = default_demo_path()
            if not (path / "project.h5").exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                if not await build_demo(window, path):
                    return
            window.open_project(path)
        elif args.project:
            window.open_project(args.project)

    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)

    async def run() -> None:
        await start()
        if args.quit_after is not None:
            await asyncio.sleep(args.quit_after)
            window.close()
        await closed.wait()

    with loop:
        loop.run_until_complete(run())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
