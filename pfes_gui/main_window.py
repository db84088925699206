"""The main window: project life cycle, annotation, navigation and playback.

Public API for the other GUI modules (review panel, training dock, export dialog):
  attributes  project (open pfes_core Project or None), undo_stack (QUndoStack),
              current_video_id, current_frame, n_frames, fps, timeline, frame_view, video_list,
              model_menu (QMenu), view_menu
  methods     go_to_frame(video_id, frame), set_video(video_id), push_edit(edit),
              register_action(action_id, callback, menu=None, checkable=False) -> QAction
              add_model_action(action), set_export_handler(callable), add_dock(dock, area),
              show_status(text, ms)
  signals     project_changed(), video_changed(str), labels_changed(), frame_changed(int)
Every label edit is a pfes_core edit pushed through ``push_edit``: the project journals it at
once, the QUndoStack gives undo/redo, and an idle timer saves project.h5 a few seconds later.

No project.h5 I/O on the GUI thread: the autosave runs ``Project.save`` on a worker thread and
returns at once; an explicit save (Ctrl+S, before export/training) and opening a project run
on a worker too, while the GUI thread keeps its event loop going (painting, timers, playback)
with a busy indicator. Project.save reads the live label/review stores and then rewrites the
journal, so the project must not change while it runs: every change (``push_edit``, undo/redo,
adding videos, importing) first calls ``wait_for_save()``, which lets an in-flight save finish
(user input is held back, in order, until then; painting goes on). No edit is lost or reordered.
"""

from __future__ import annotations

import bisect
import getpass
import threading
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCursor, QKeySequence, QUndoStack
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QDockWidget, QFrame, QHBoxLayout, QLabel, QMainWindow, QMenu,
                               QProgressBar, QPushButton, QSpinBox, QSplitter, QTextBrowser,
                               QToolBar, QVBoxLayout, QWidget)

from pfes_core.errors import PfesError, ProjectError, ProjectLockedError
from pfes_core.types import CLASSES

from . import dialogs, shortcuts
from .frame_fetcher import FrameFetcher
from .frame_view import FrameView
from .timeline import Timeline
from .undo_commands import push_edit
from .video_list import VideoList

AUTOSAVE_IDLE_MS = 3000
SPEEDS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0)
PLAY_TICK_MS = 15
# Holding an arrow key: after this many auto-repeats the step grows (1 -> 2 -> 5 -> 10 frames).
ACCEL_STEPS = ((40, 10), (25, 5), (10, 2), (0, 1))
REPEAT_GAP_S = 0.2          # key events closer than this count as one held key

MOUSE_HELP = (
    "<br><b>Mouse (timeline)</b><table cellpadding='3'>"
    "<tr><td>click</td><td>move the playhead there</td></tr>"
    "<tr><td>double-click a label row (MaE / ME)</td><td>add a label of that class there</td></tr>"
    "<tr><td>drag a label marker</td><td>move the label</td></tr>"
    "<tr><td>right-click a label marker</td><td>change its class or delete it</td></tr>"
    "<tr><td>drag the red playhead</td><td>scrub</td></tr>"
    "<tr><td>drag the edges of the selected proposal</td>"
    "<td>adjust its boundaries (an undoable 'adjusted' review decision)</td></tr>"
    "<tr><td>wheel / drag empty space</td><td>zoom / pan the detail view</td></tr>"
    "<tr><td>click or drag in the overview strip</td><td>choose the visible range</td></tr>"
    "</table>")


class MainWindow(QMainWindow):
    """P-FES Studio's main window (see the module docstring for the API other modules use)."""

    project_changed = Signal()
    video_changed = Signal(str)
    labels_changed = Signal()
    frame_changed = Signal(int)
    _probe_done = Signal(object)        # (path, result or exception) from the add-video thread
    _io_done = Signal(object)           # an _IoTask finished on its worker thread
    save_finished = Signal(bool)        # a save (background or explicit) ended: ok?

    def __init__(self, annotator: str | None = None):
        super().__init__()
        self.project = None
        self.annotator = annotator or _user_name()
        self.undo_stack = QUndoStack(self)
        self.current_video_id: str | None = None
        self.current_frame = 0
        self.n_frames = 0
        self.fps = 30.0
        self.diff_reference_frame: int | None = None
        self.playing = False
        self.loop_range: tuple[int, int] | None = None
        self.actions: dict[str, QAction] = {}
        self.open_menu: QMenu | None = None
        self.cheat_sheet: QDialog | None = None
        self._export_handler = None
        self._reported_failures: set[str] = set()
        self._step_repeat = 0
        self._step_last = (0.0, 0)
        self._play_t0 = 0.0
        self._play_f0 = 0
        self._features_for: str | None = None
        self._probes_pending = 0
        self._save_task: _IoTask | None = None     # the background save in flight, if any
        self._busy_depth = 0
        self.saves_started = 0                      # counters for tests and the status bar

        self.setWindowTitle("P-FES Studio")
        self.resize(1400, 900)
        self.fetcher = FrameFetcher(self)
        self.fetcher.frame_ready.connect(self._frame_ready)
        self.fetcher.failed.connect(self._fetch_failed)
        self.fetcher.video_opened.connect(self._video_opened)
        self.fetcher.features_ready.connect(self._features_ready)
        self._probe_done.connect(self._add_probed_video)
        self._io_done.connect(self._io_task_done)

        self._build_widgets()
        self._build_actions()
        self._build_status_bar()

        self.autosave_timer = QTimer(self)
        self.autosave_timer.setSingleShot(True)
        self.autosave_timer.setInterval(AUTOSAVE_IDLE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(PLAY_TICK_MS)
        self.play_timer.timeout.connect(self._play_tick)
        self.undo_stack.cleanChanged.connect(lambda _clean: self._update_save_state())
        self._update_enabled()
        self._update_save_state()

    # ================================================================== construction
    def _build_widgets(self) -> None:
        self.frame_view = FrameView()
        self.timeline = Timeline()
        self.timeline.frame_clicked.connect(lambda f: self.seek(f))
        self.timeline.add_label_requested.connect(self.add_label)
        self.timeline.label_moved.connect(self.move_label)
        self.timeline.label_menu_requested.connect(self._popup_label_menu)

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet("#banner { background: #5a4a12; border: 1px solid #c9a227; }"
                                  "#banner QLabel { color: #fff3c4; }")
        bl = QHBoxLayout(self.banner)
        bl.setContentsMargins(8, 4, 8, 4)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        save_now = QPushButton("Save now")
        save_now.clicked.connect(self.save)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.banner.hide)
        bl.addWidget(self.banner_text, 1)
        bl.addWidget(save_now)
        bl.addWidget(dismiss)
        self.banner.hide()

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.frame_view)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        cl.addWidget(self.banner)
        cl.addWidget(splitter, 1)
        self.setCentralWidget(central)
        central.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._central = central

        self.video_list = VideoList()
        self.video_list.video_selected.connect(self.set_video)
        self.video_dock = QDockWidget("Videos", self)
        self.video_dock.setObjectName("videos_dock")
        self.video_dock.setWidget(self.video_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.video_dock)
        self.resizeDocks([self.video_dock], [330], Qt.Orientation.Horizontal)

        bar = QToolBar("Playback")
        bar.setObjectName("playback_toolbar")
        bar.setIconSize(QSize(16, 16))
        self.play_button = QPushButton("\u25b6 Play")
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button.clicked.connect(self.toggle_play)
        bar.addWidget(self.play_button)
        bar.addWidget(QLabel("  Speed "))
        self.speed_combo = QComboBox()
        self.speed_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for s in SPEEDS:
            self.speed_combo.addItem(f"{s:g}x", s)
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_combo.currentIndexChanged.connect(self._speed_changed)
        bar.addWidget(self.speed_combo)
        bar.addSeparator()
        self.landmarks_box = QCheckBox("Landmarks/ROIs")
        self.landmarks_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bar.addWidget(self.landmarks_box)
        bar.addSeparator()
        self.diff_box = QCheckBox("Difference")
        self.diff_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bar.addWidget(self.diff_box)
        self.diff_mode = QComboBox()
        self.diff_mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.diff_mode.addItem("to N frames back", "back")
        self.diff_mode.addItem("to the reference frame", "fixed")
        bar.addWidget(self.diff_mode)
        bar.addWidget(QLabel(" N "))
        self.diff_back = QSpinBox()
        self.diff_back.setRange(1, 120)
        self.diff_back.setValue(5)
        self.diff_back.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        bar.addWidget(self.diff_back)
        bar.addWidget(QLabel(" gain "))
        self.diff_gain = QSpinBox()
        self.diff_gain.setRange(1, 64)
        self.diff_gain.setValue(8)
        self.diff_gain.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        bar.addWidget(self.diff_gain)
        for w in (self.diff_mode, self.diff_back, self.diff_gain):
            w.setToolTip("|frame - reference| x gain, added on top of the frame: subtle motion lights up")
        self.diff_mode.currentIndexChanged.connect(self._view_options_changed)
        self.diff_back.valueChanged.connect(self._view_options_changed)
        self.diff_gain.valueChanged.connect(self._view_options_changed)
        self.diff_back.editingFinished.connect(self._central.setFocus)
        self.diff_gain.editingFinished.connect(self._central.setFocus)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.playback_toolbar = bar

    def _build_actions(self) -> None:
        mb = self.menuBar()
        self.file_menu = mb.addMenu("&File")
        self.edit_menu = mb.addMenu("&Edit")
        self.labels_menu = mb.addMenu("&Labels")
        self.nav_menu = mb.addMenu("&Navigate")
        self.view_menu = mb.addMenu("&View")
        self.model_menu = mb.addMenu("&Model")
        self.help_menu = mb.addMenu("&Help")

        fm = self.file_menu
        self.register_action("file.new", self.new_project_dialog, fm)
        self.register_action("file.open", self.open_project_dialog, fm)
        fm.addSeparator()
        self.register_action("file.add_videos", self.add_videos_dialog, fm)
        self.register_action("file.add_image_folder", self.add_image_folder_dialog, fm)
        self.register_action("file.import_labels", self.import_labels_dialog, fm)
        self.register_action("file.import_reference", self.import_reference_dialog, fm)
        fm.addSeparator()
        self.register_action("file.save", self.save, fm)
        self.export_action = self.register_action("file.export", self._export, fm)
        fm.addSeparator()
        self.register_action("file.quit", self.close, fm)

        undo = self.undo_stack.createUndoAction(self, "&Undo")
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        for action, action_id in ((undo, "edit.undo"), (redo, "edit.redo")):
            action.setShortcut(QKeySequence(shortcuts.get(action_id).key))
            self.actions[action_id] = action
            self.addAction(action)
            self.edit_menu.addAction(action)

        lm = self.labels_menu
        self.register_action("label.add_mae", lambda: self.add_label(self.current_frame, "MaE"), lm)
        self.register_action("label.add_me", lambda: self.add_label(self.current_frame, "ME"), lm)
        self.register_action("label.retype", self.retype_at_playhead, lm)
        self.register_action("label.delete", self.delete_at_playhead, lm)
        lm.addSeparator()
        self.register_action("label.next", lambda: self.jump_label(+1), lm)
        self.register_action("label.prev", lambda: self.jump_label(-1), lm)

        nm = self.nav_menu
        self.register_action("nav.next_frame", lambda: self._step(+1, 1), nm)
        self.register_action("nav.prev_frame", lambda: self._step(-1, 1), nm)
        self.register_action("nav.next_frame_10", lambda: self._step(+1, 10), nm)
        self.register_action("nav.prev_frame_10", lambda: self._step(-1, 10), nm)
        self.register_action("nav.first_frame", lambda: self.seek(0), nm)
        self.register_action("nav.last_frame", lambda: self.seek(self.n_frames - 1), nm)
        self.register_action("nav.goto", self.goto_dialog, nm)
        nm.addSeparator()
        self.register_action("nav.next_proposal", lambda: self.jump_proposal(+1), nm)
        self.register_action("nav.prev_proposal", lambda: self.jump_proposal(-1), nm)
        self.register_action("nav.next_unreviewed", self.jump_unreviewed, nm)
        nm.addSeparator()
        self.register_action("nav.next_video", lambda: self.switch_video(+1), nm)
        self.register_action("nav.prev_video", lambda: self.switch_video(-1), nm)
        nm.addSeparator()
        self.register_action("play.toggle", self.toggle_play, nm)
        self.register_action("play.faster", lambda: self._nudge_speed(+1), nm)
        self.register_action("play.slower", lambda: self._nudge_speed(-1), nm)
        self.register_action("play.loop", self.toggle_loop, nm)

        vm = self.view_menu
        lm_act = self.register_action("view.landmarks", None, vm, checkable=True)
        lm_act.toggled.connect(self.landmarks_box.setChecked)
        self.landmarks_box.toggled.connect(lm_act.setChecked)
        lm_act.toggled.connect(self._view_options_changed)
        diff_act = self.register_action("view.difference", None, vm, checkable=True)
        diff_act.toggled.connect(self.diff_box.setChecked)
        self.diff_box.toggled.connect(diff_act.setChecked)
        diff_act.toggled.connect(self._view_options_changed)
        self.register_action("view.set_reference", self.set_diff_reference, vm)
        vm.addSeparator()
        self.register_action("view.zoom_in", lambda: self.timeline.zoom(0.5), vm)
        self.register_action("view.zoom_out", lambda: self.timeline.zoom(2.0), vm)
        self.register_action("view.zoom_fit", self.timeline.zoom_fit, vm)
        vm.addSeparator()
        self.panels_menu = vm.addMenu("Panels")
        self.panels_menu.addAction(self.video_dock.toggleViewAction())
        self.panels_menu.addAction(self.playback_toolbar.toggleViewAction())

        self.register_action("help.shortcuts", self.show_cheat_sheet, self.help_menu)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.frame_label = QLabel("no video")
        self.save_label = QLabel("")
        self.save_label.setMinimumWidth(150)
        self.busy_bar = QProgressBar()          # indeterminate: project.h5 is being read/written
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(110)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        sb.addPermanentWidget(self.frame_label)
        sb.addPermanentWidget(self.busy_bar)
        sb.addPermanentWidget(self.save_label)

    # ================================================================== public API
    def register_action(self, action_id: str, callback, menu: QMenu | None = None,
                        checkable: bool = False) -> QAction:
        """A QAction for a registry row: its text and key come from shortcuts.py.

        The action is added to the window (so its key works with the menus closed) and to
        ``menu`` when given. Other modules call this after ``shortcuts.register(...)``.
        """
        row = shortcuts.get(action_id)
        action = QAction(row.description, self)
        if row.key:
            action.setShortcut(QKeySequence(row.key))
        action.setCheckable(checkable)
        action.setObjectName(action_id)
        if callback is not None:
            action.triggered.connect(lambda _checked=False: callback())
        self.addAction(action)
        if menu is not None:
            menu.addAction(action)
        self.actions[action_id] = action
        return action

    def add_model_action(self, action: QAction) -> None:
        """Put an action (train, extract, spot, evaluate...) into the Model menu."""
        self.model_menu.addAction(action)

    def set_export_handler(self, handler) -> None:
        """Who answers File -> Export spotted intervals (the export dialog); enables the item."""
        self._export_handler = handler
        self._update_enabled()

    def add_dock(self, dock: QDockWidget,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        """Add a dock (tabbed with any dock already in that area) and list it under View -> Panels."""
        if not dock.objectName():
            dock.setObjectName(dock.windowTitle() or type(dock).__name__)
        existing = [d for d in self.findChildren(QDockWidget)
                    if d is not dock and self.dockWidgetArea(d) == area and not d.isFloating()]
        self.addDockWidget(area, dock)
        if existing:
            self.tabifyDockWidget(existing[-1], dock)
        self.panels_menu.addAction(dock.toggleViewAction())

    def fit_to_screen(self) -> None:
        """Take most of the screen and give side docks a fixed share, so the frame stays large."""
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None:
            self.resize(int(screen.width() * 0.96), int(screen.height() * 0.94))
        width = self.width()
        for area, share in ((Qt.DockWidgetArea.LeftDockWidgetArea, 0.22),
                            (Qt.DockWidgetArea.RightDockWidgetArea, 0.28)):
            docks = [d for d in self.findChildren(QDockWidget)
                     if self.dockWidgetArea(d) == area and not d.isFloating()]
            if docks:
                self.resizeDocks(docks, [int(width * share)] * len(docks), Qt.Orientation.Horizontal)

    def show_status(self, text: str, ms: int = 4000) -> None:
        self.statusBar().showMessage(text, ms)

    def push_edit(self, edit) -> bool:
        """Apply a pfes_core edit through the undo stack; a refused edit is reported, not raised."""
        if self.project is None:
            return False
        try:
            push_edit(self.undo_stack, self.project, edit, self._edit_applied, self.wait_for_save)
        except PfesError as exc:
            self.show_status(str(exc), 6000)
            QApplicationBeep()
            return False
        return True

    # ================================================================== project life cycle
    def open_project(self, path, readonly: bool = False) -> bool:
        """Open a project folder; every failure ends in a dialog, never an exception."""
        from pfes_core.project import Project, newest_good_backup

        if not self.close_project():
            return False
        try:
            project = self._run_in_worker(lambda: Project.open(path, readonly=readonly),
                                          f"Opening {Path(path).name}...")
        except ProjectLockedError as exc:
            if not dialogs.ask_yes_no(self, "Project in use",
                                      f"{exc}\n\nOpen it read-only (no edits)?", default_yes=False):
                return False
            return self.open_project(path, readonly=True)
        except ProjectError as exc:
            try:
                good = newest_good_backup(path)
            except PfesError:
                good = None
            if good is None or "cannot be read" not in str(exc):
                dialogs.error(self, "Cannot open project", str(exc))
                return False
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(good["saved"])) \
                if good.get("saved") else "an earlier save"
            question = (f"{exc}\n\nOpen the newest good backup instead ({good['path'].name}, "
                        f"saved {when}, {good['labels']} labels)? Saving writes it back as "
                        f"project.h5; the damaged file is kept.")
            if not dialogs.ask_yes_no(self, "Project is damaged", question):
                return False
            try:
                project = self._run_in_worker(
                    lambda: Project.open(path, readonly=readonly, from_backup=True),
                    f"Opening the backup of {Path(path).name}...")
            except PfesError as exc2:
                dialogs.error(self, "Cannot open the backup either", str(exc2))
                return False
        except PfesError as exc:
            dialogs.error(self, "Cannot open project", str(exc))
            return False
        except OSError as exc:
            dialogs.error(self, "Cannot open project", f"{path}: {exc.strerror or exc}")
            return False
        self._set_project(project)
        return True

    def new_project(self, path) -> bool:
        from pfes_core.project import Project

        if not self.close_project():
            return False
        try:
            project = Project.create(path)
        except (PfesError, OSError) as exc:
            dialogs.error(self, "Cannot create project", str(exc))
            return False
        self._set_project(project)
        return True

    def _set_project(self, project) -> None:
        self.project = project
        self.undo_stack.clear()
        self._reported_failures.clear()
        self.video_list.set_project(project)
        self.current_video_id = None
        self.frame_view.clear("Choose a video in the list (or File -> Add videos)")
        self.timeline.set_video(1, self.fps)
        self._update_enabled()
        self._update_save_state()
        self.project_changed.emit()
        notes = []
        if project.recovered_edits:
            notes.append(f"Recovered {project.recovered_edits} unsaved edit"
                         f"{'s' if project.recovered_edits != 1 else ''} from the journal after "
                         f"an unexpected exit. They are in place; save to keep them in project.h5.")
        if getattr(project, "replay_errors", None):
            notes.append(f"{len(project.replay_errors)} journal entries could not be replayed.")
        if getattr(project, "opened_from_backup", None) is not None:
            notes.append(f"Opened from backup {project.opened_from_backup.name}.")
        if getattr(project, "readonly", False):
            notes.append("Read-only: another process holds this project; edits are disabled.")
        if notes:
            self.banner_text.setText(" ".join(notes))
            self.banner.show()
        else:
            self.banner.hide()
        if project.videos:
            self.set_video(next(iter(project.videos)))

    def close_project(self) -> bool:
        """Save and release the open project. False only when the user chose to keep it open."""
        if self.project is None:
            return True
        self.stop_playback()
        self.wait_for_save()
        if self._is_dirty() and not self._readonly():
            project = self.project
            try:
                self._run_in_worker(project.save, "Saving...")
            except (PfesError, OSError) as exc:
                if not dialogs.ask_yes_no(
                        self, "Save failed",
                        f"{exc}\n\nClose anyway? Your edits stay in the journal and come back "
                        f"the next time you open the project.", default_yes=False):
                    return False
        try:
            self.project.close()
        except (PfesError, OSError):
            pass
        self.project = None
        self.current_video_id = None
        self.undo_stack.clear()
        self.video_list.set_project(None)
        self.frame_view.clear()
        self.timeline.set_video(1, 30.0)
        self.banner.hide()
        self._update_enabled()
        self._update_save_state()
        self.project_changed.emit()
        return True

    def save(self) -> bool:
        """Save now (Ctrl+S; export and training save first). Returns when project.h5 is
        written; the write runs on a worker thread while the GUI keeps painting."""
        if self.project is None or self._readonly():
            return False
        self.autosave_timer.stop()
        self.wait_for_save()
        project = self.project
        if project is None:
            return False
        self.saves_started += 1
        try:
            self._run_in_worker(project.save, "Saving...")
        except (PfesError, OSError) as exc:
            self._save_failed(exc)
            return False
        self._save_succeeded()
        return True

    def autosave(self) -> None:
        """The idle-timer save: starts Project.save on a worker thread and returns at once."""
        if self.project is None or not self._is_dirty() or self._readonly() \
                or self._save_task is not None:
            return
        self._start_background_save()

    def _start_background_save(self) -> "_IoTask":
        self.saves_started += 1
        task = _IoTask(self.project.save, self._io_done, purpose="autosave")
        task.project = self.project
        self._save_task = task
        self._set_busy(True, "Saving...")
        self._update_save_state()
        task.start()
        return task

    async def save_async(self) -> bool:
        """``save()`` for coroutines (export, jobs): awaits the worker instead of running a
        local event loop, which would re-enter asyncio while the calling task is running."""
        import asyncio

        if self.project is None or self._readonly():
            return False
        self.autosave_timer.stop()
        while self._save_task is not None:          # an autosave in flight: let it finish
            task = self._save_task
            while not task.finished.is_set():
                await asyncio.sleep(0.01)
            self._io_task_done(task)
        if self.project is None:
            return False
        task = self._start_background_save()
        while not task.finished.is_set():
            await asyncio.sleep(0.01)
        self._io_task_done(task)
        return task.error is None

    @property
    def saving(self) -> bool:
        """True while a background save is writing project.h5."""
        return self._save_task is not None

    def wait_for_save(self) -> None:
        """Let an in-flight background save finish before the project changes (see the module
        docstring). The event loop keeps running meanwhile; user input waits, in order."""
        task = self._save_task
        if task is not None:
            task.wait_with_events()
            self._io_task_done(task)     # settle it now (its queued signal is then a no-op)

    def _io_task_done(self, task) -> None:
        """A worker finished (queued signal, or called by wait_for_save): finish a background save."""
        if task.purpose != "autosave" or task is not self._save_task:
            return
        self._save_task = None
        self._set_busy(False)
        if task.project is not self.project:
            return
        if task.error is not None:
            self._save_failed(task.error)
        else:
            self._save_succeeded()

    def _save_succeeded(self) -> None:
        # Nothing changed the project during the write (wait_for_save), so it is clean now.
        self.undo_stack.setClean()
        self._update_save_state()
        self.show_status("Saved", 2000)
        self.save_finished.emit(True)

    def _save_failed(self, exc) -> None:
        dialogs.error(self, "Save failed",
                      f"{exc}\n\nYour edits are safe in the journal; try again after fixing "
                      f"the problem.")
        self._update_save_state()
        self.save_finished.emit(False)

    def _run_in_worker(self, fn, busy_text: str):
        """Run ``fn`` on a worker thread and return its result (or raise its exception) while
        this thread keeps processing events except user input, with a busy indicator."""
        task = _IoTask(fn, self._io_done)
        self._set_busy(True, busy_text)
        try:
            task.start()
            task.wait_with_events()
        finally:
            self._set_busy(False)
        if task.error is not None:
            raise task.error
        return task.result

    def _set_busy(self, busy: bool, text: str = "") -> None:
        if busy:
            self._busy_depth += 1
            if self._busy_depth == 1:
                self.busy_bar.show()
                QApplication.setOverrideCursor(QCursor(Qt.CursorShape.BusyCursor))
            if text:
                self.statusBar().showMessage(text)
        elif self._busy_depth > 0:
            self._busy_depth -= 1
            if self._busy_depth == 0:
                self.busy_bar.hide()
                QApplication.restoreOverrideCursor()
                self.statusBar().clearMessage()

    def closeEvent(self, event) -> None:
        if not self.close_project():
            event.ignore()
            return
        self.fetcher.close()
        event.accept()

    # ---- dialogs for the File menu ----------------------------------------------------------
    def new_project_dialog(self) -> None:
        path = dialogs.get_save_file(self, "New project (a NAME.pfes folder)", "P-FES project (*.pfes)")
        if path and self.new_project(path):
            self.add_videos_dialog()

    def open_project_dialog(self) -> None:
        path = dialogs.get_existing_dir(self, "Open project (a NAME.pfes folder)")
        if path:
            self.open_project(path)

    def add_videos_dialog(self) -> None:
        if self.project is None:
            return
        paths = dialogs.get_open_files(
            self, "Add videos", "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)")
        self.add_videos(paths)

    def add_image_folder_dialog(self) -> None:
        if self.project is None:
            return
        path = dialogs.get_existing_dir(self, "Add a folder of numbered images")
        if path:
            self.add_videos([path])

    def add_videos(self, paths) -> None:
        """Probe each video on a thread (frame count, fps, fingerprint), then register it."""
        for path in paths:
            self._probes_pending += 1
            threading.Thread(target=self._probe, args=(str(path),), daemon=True).start()
        if paths:
            self.show_status(f"Reading {len(paths)} video(s)...", 0)

    def _probe(self, path: str) -> None:
        try:
            from pfes_core.project import probe_video

            result = probe_video(Path(path))
        except Exception as exc:  # noqa: BLE001 - reported in a dialog on the GUI thread
            result = exc
        self._probe_done.emit((path, result))

    def _add_probed_video(self, payload) -> None:
        path, result = payload
        self._probes_pending -= 1
        if self._probes_pending <= 0:
            self.statusBar().clearMessage()
        if self.project is None:
            return
        if isinstance(result, BaseException):
            message = str(result) if isinstance(result, PfesError) else f"{Path(path).name}: {result}"
            dialogs.error(self, "Cannot add video", message)
            return
        fps, n_frames, fingerprint = result
        self.wait_for_save()
        if self.project is None:
            return
        try:
            record = self.project.add_video(path, fps=fps, n_frames=n_frames, fingerprint=fingerprint)
        except PfesError as exc:
            dialogs.error(self, "Cannot add video", str(exc))
            return
        self.video_list.set_project(self.project)
        self._mark_dirty()
        if self.current_video_id is None:
            self.set_video(record.id)
        else:
            self.video_list.select(self.current_video_id)

    def import_labels_dialog(self) -> None:
        if self.project is None:
            return
        path = dialogs.get_open_file(self, "Import point labels", "Labels (*.csv *.json);;All files (*)")
        if path:
            self.import_labels(path)

    def import_labels(self, path) -> bool:
        from pfes_core.labelfiles import read_points
        from pfes_core.labels import BulkImport

        try:
            labels = read_points(path)
            edit = BulkImport(labels, skip_existing=True)
            push_edit(self.undo_stack, self.project, edit, self._edit_applied, self.wait_for_save)
        except (PfesError, OSError) as exc:
            dialogs.error(self, "Cannot import labels", str(exc))
            return False
        self.show_status(f"Imported labels from {Path(path).name}")
        return True

    def import_reference_dialog(self) -> None:
        if self.project is None:
            return
        path = dialogs.get_open_file(self, "Import reference intervals", "Intervals (*.csv);;All files (*)")
        if path:
            self.import_reference(path)

    def import_reference(self, path) -> bool:
        from pfes_core.labelfiles import read_intervals

        try:
            intervals = read_intervals(path)
            self.wait_for_save()
            self.project.set_reference(intervals)
        except (PfesError, OSError) as exc:
            dialogs.error(self, "Cannot import reference intervals", str(exc))
            return False
        self._mark_dirty()
        if self.current_video_id is not None:
            self.timeline.set_reference(self.project.reference.get(self.current_video_id, []))
        self.show_status(f"Imported reference intervals from {Path(path).name}")
        return True

    def _export(self) -> None:
        if self._export_handler is not None:
            self._export_handler()

    # ================================================================== video and frames
    def set_video(self, video_id: str) -> None:
        """Show another video of the project (frame 0); overlays of the old one are cleared."""
        if self.project is None or video_id not in self.project.videos:
            return
        if video_id == self.current_video_id:
            return
        self.stop_playback()
        self.loop_range = None
        record = self.project.videos[video_id]
        self.current_video_id = video_id
        self.n_frames = int(record.n_frames)
        self.fps = float(record.fps) or 30.0
        self.current_frame = 0
        self.diff_reference_frame = None
        self.timeline.set_video(self.n_frames, self.fps)
        self.timeline.set_labels(self.project.labels.for_video(video_id))
        self.timeline.set_reference(self.project.reference.get(video_id, []))
        self.frame_view.clear(f"Opening {video_id}...")
        self.frame_view.set_features(None)
        self._features_for = None
        try:
            media = self.project.video_path(video_id)
        except PfesError as exc:
            self._fetch_failed(video_id, str(exc))
            return
        self.fetcher.set_video(video_id, str(media), record.step, record.fps)
        self.fetcher.request(0)
        if self.landmarks_box.isChecked():
            self._load_features()
        self.video_list.select(video_id)
        self._update_frame_label()
        self.video_changed.emit(video_id)

    def switch_video(self, delta: int) -> None:
        ids = self.video_list.video_ids()
        if not ids:
            return
        i = ids.index(self.current_video_id) if self.current_video_id in ids else -1
        self.set_video(ids[(i + delta) % len(ids)])

    def go_to_frame(self, video_id: str, frame: int) -> None:
        """Show ``frame`` of ``video_id`` (switching video if needed) and put the playhead there."""
        if video_id != self.current_video_id:
            self.set_video(video_id)
        if video_id == self.current_video_id:
            self.seek(frame)

    def seek(self, frame: int) -> None:
        """Move the playhead in the current video; shows the frame at once when it is cached."""
        if self.current_video_id is None:
            return
        frame = int(min(max(int(frame), 0), max(self.n_frames - 1, 0)))
        self.current_frame = frame
        self.timeline.set_playhead(frame)
        if self._show_if_cached():
            self.fetcher.hint(frame)          # keep the read-ahead going past this frame
        else:
            self.fetcher.request(frame, self._reference_for(frame))
        self._update_frame_label()
        self.frame_changed.emit(frame)

    def _reference_for(self, frame: int) -> int | None:
        if not self.diff_box.isChecked():
            return None
        if self.diff_mode.currentData() == "fixed":
            return self.diff_reference_frame if self.diff_reference_frame is not None else None
        return max(frame - self.diff_back.value(), 0)

    def _show_if_cached(self) -> bool:
        frame = self.current_frame
        img = self.fetcher.cached(frame)
        if img is None:
            return False
        ref_index = self._reference_for(frame)
        ref = self.fetcher.cached(ref_index) if ref_index is not None else None
        if ref_index is not None and ref is None:
            return False
        self.frame_view.diff_gain = float(self.diff_gain.value())
        self.frame_view.show_difference = self.diff_box.isChecked()
        self.frame_view.show_landmarks = self.landmarks_box.isChecked()
        self.frame_view.show_frame(frame, img, ref, caption=self._caption(frame))
        return True

    def _frame_ready(self, video_id: str, frame: int, _img) -> None:
        if video_id == self.current_video_id and frame in (self.current_frame,
                                                            self._reference_for(self.current_frame)):
            self._show_if_cached()

    def _video_opened(self, video_id: str, n_frames: int, _fps: float, _size) -> None:
        if video_id == self.current_video_id and n_frames != self.n_frames:
            self.show_status(f"{video_id}: the file now has {n_frames} frames, the project "
                             f"recorded {self.n_frames}; labels keep the project's numbering", 8000)

    def _fetch_failed(self, video_id: str, message: str) -> None:
        self.video_list.set_missing(video_id, message)
        if video_id == self.current_video_id:
            self.frame_view.clear(message)
        if video_id not in self._reported_failures:
            self._reported_failures.add(video_id)
            dialogs.error(self, "Cannot show video", message)

    def _load_features(self) -> None:
        if self.project is not None and self.current_video_id is not None \
                and self._features_for != self.current_video_id:
            self._features_for = self.current_video_id
            self.fetcher.request_features(self.project, self.current_video_id)

    def _features_ready(self, video_id: str, features) -> None:
        if video_id != self.current_video_id:
            return
        self.frame_view.set_features(features)
        if features is None and self.landmarks_box.isChecked():
            self.show_status(f"No features for {video_id} yet (Model menu: extract features)", 6000)

    def _view_options_changed(self, *_args) -> None:
        if self.landmarks_box.isChecked():
            self._load_features()
        self.frame_view.show_landmarks = self.landmarks_box.isChecked()
        if self.current_video_id is not None and not self._show_if_cached():
            self.fetcher.request(self.current_frame, self._reference_for(self.current_frame))

    def set_diff_reference(self) -> None:
        """Use the current frame as the fixed reference of the difference overlay."""
        self.diff_reference_frame = self.current_frame
        self.diff_mode.setCurrentIndex(self.diff_mode.findData("fixed"))
        self.diff_box.setChecked(True)
        self.show_status(f"Difference reference: frame {self.current_frame}")
        self._view_options_changed()

    def _caption(self, frame: int) -> str:
        here = []
        if self.project is not None and self.current_video_id is not None:
            here = [lab.cls for lab in self.project.labels.at(self.current_video_id, frame)]
        tag = f"   \u25c6 {' + '.join(here)} label" if here else ""
        return f"{self.current_video_id}   frame {frame} / {self.n_frames - 1}   " \
               f"{_timecode(frame, self.fps)}{tag}"

    def _update_frame_label(self) -> None:
        if self.current_video_id is None:
            self.frame_label.setText("no video")
            return
        self.frame_label.setText(f"frame {self.current_frame} / {self.n_frames - 1}  "
                                 f"{_timecode(self.current_frame, self.fps)}")
        self.frame_view.caption.setText(self._caption(self.current_frame))

    # ================================================================== navigation
    def _step(self, sign: int, base: int) -> None:
        """Arrow keys: exact steps; a held key (events < REPEAT_GAP_S apart) accelerates."""
        now = time.monotonic()
        last_t, last_dir = self._step_last
        if now - last_t < REPEAT_GAP_S and last_dir == sign * base:
            self._step_repeat += 1
        else:
            self._step_repeat = 0
        self._step_last = (now, sign * base)
        factor = next(f for n, f in ACCEL_STEPS if self._step_repeat >= n)
        self.stop_playback()
        self.seek(self.current_frame + sign * base * factor)

    def goto_dialog(self) -> None:
        if self.current_video_id is None:
            return
        frame = dialogs.get_int(self, "Go to frame", f"Frame (0 - {self.n_frames - 1}):",
                                self.current_frame, 0, self.n_frames - 1)
        if frame is not None:
            self.seek(frame)

    def jump_label(self, direction: int) -> None:
        if self.project is None or self.current_video_id is None:
            return
        frames = sorted({lab.frame for lab in self.project.labels.for_video(self.current_video_id)})
        target = _neighbour(frames, self.current_frame, direction)
        if target is None:
            self.show_status("No more labels in this direction")
        else:
            self.seek(target)

    def jump_proposal(self, direction: int) -> None:
        props = self.timeline.proposals
        apexes = sorted(iv.apex for iv in props)
        target = _neighbour(apexes, self.current_frame, direction)
        if target is None:
            self.show_status("No more proposals in this direction" if props else
                             "No proposals for this video (Model menu: spot)")
        else:
            self.seek(target)

    def jump_unreviewed(self) -> None:
        """Next proposal (by apex, wrapping around) that has no review decision yet."""
        pending = sorted(iv.apex for iv, st in zip(self.timeline.proposals,
                                                   self.timeline.proposal_status) if st is None)
        if not pending:
            self.show_status("Every proposal of this video is reviewed" if self.timeline.proposals
                             else "No proposals for this video")
            return
        i = bisect.bisect_right(pending, self.current_frame)
        self.seek(pending[i % len(pending)])

    # ================================================================== playback
    def toggle_play(self) -> None:
        if self.playing:
            self.stop_playback()
        else:
            self.start_playback()

    def start_playback(self) -> None:
        if self.current_video_id is None:
            return
        if self.loop_range is None and self.current_frame >= self.n_frames - 1:
            self.seek(0)
        self.playing = True
        self._play_t0 = time.monotonic()
        self._play_f0 = self.current_frame
        self.play_timer.start()
        self.play_button.setText("\u23f8 Pause")

    def stop_playback(self) -> None:
        self.playing = False
        self.play_timer.stop()
        self.play_button.setText("\u25b6 Play")

    def _speed(self) -> float:
        return float(self.speed_combo.currentData())

    def _speed_changed(self, *_args) -> None:
        if self.playing:   # restart the clock so the frame does not jump
            self._play_t0 = time.monotonic()
            self._play_f0 = self.current_frame

    def _nudge_speed(self, delta: int) -> None:
        i = min(max(self.speed_combo.currentIndex() + delta, 0), len(SPEEDS) - 1)
        self.speed_combo.setCurrentIndex(i)
        self.show_status(f"Playback speed {SPEEDS[i]:g}x", 1500)

    def _play_tick(self) -> None:
        elapsed = time.monotonic() - self._play_t0
        target = self._play_f0 + int(elapsed * self.fps * self._speed())
        if self.loop_range is not None:
            lo, hi = self.loop_range
            if target > hi:
                self._play_t0 = time.monotonic()
                self._play_f0 = lo
                target = lo
        elif target >= self.n_frames - 1:
            self.seek(self.n_frames - 1)
            self.stop_playback()
            return
        if target != self.current_frame:
            self.seek(target)

    def toggle_loop(self) -> None:
        """Loop around the proposal under the playhead, else the nearest label (again: stop)."""
        if self.loop_range is not None:
            self.loop_range = None
            self.timeline.clear_loop()
            self.stop_playback()
            return
        if self.current_video_id is None:
            return
        f = self.current_frame
        rng = None
        for iv in self.timeline.proposals:
            if iv.onset <= f <= iv.offset:
                rng = (iv.onset, iv.offset)
                break
        if rng is None and self.project is not None:
            lab = self.project.labels.nearest(self.current_video_id, f)
            pad = max(5, int(round(0.5 * self.fps)))
            if lab is not None and abs(lab.frame - f) <= 2 * pad:
                rng = (max(lab.frame - pad, 0), min(lab.frame + pad, self.n_frames - 1))
        if rng is None:
            self.show_status("No label or proposal near the playhead to loop around")
            return
        self.loop_range = rng
        self.timeline.set_loop(*rng)
        self.seek(rng[0])
        self.start_playback()

    # ================================================================== annotation
    def add_label(self, frame: int, cls: str) -> bool:
        from pfes_core.labels import AddLabel

        if self.current_video_id is None or self._readonly():
            return False
        return self.push_edit(AddLabel(self.current_video_id, int(frame), cls, self.annotator))

    def move_label(self, label, new_frame: int) -> bool:
        from pfes_core.labels import MoveLabel

        if self._readonly():
            self.timeline.set_labels(self.project.labels.for_video(label.video))
            return False
        ok = self.push_edit(MoveLabel(label.video, label.frame, label.cls, int(new_frame)))
        if not ok:   # put the marker back where the store says it is
            self.timeline.set_labels(self.project.labels.for_video(label.video))
        return ok

    def retype_label(self, label, new_cls: str) -> bool:
        from pfes_core.labels import RetypeLabel

        if self._readonly():
            return False
        return self.push_edit(RetypeLabel(label.video, label.frame, label.cls, new_cls))

    def delete_label(self, label) -> bool:
        from pfes_core.labels import DeleteLabel

        if self._readonly():
            return False
        return self.push_edit(DeleteLabel(label.video, label.frame, label.cls))

    def labels_at_playhead(self) -> list:
        if self.project is None or self.current_video_id is None:
            return []
        return self.project.labels.at(self.current_video_id, self.current_frame)

    def delete_at_playhead(self) -> None:
        here = self.labels_at_playhead()
        if not here:
            self.show_status("No label at the playhead")
            return
        if len(here) == 1:
            self.delete_label(here[0])
            return
        self.undo_stack.beginMacro(f"Delete {len(here)} labels at {self.current_frame}")
        try:
            for lab in here:
                self.delete_label(lab)
        finally:
            self.undo_stack.endMacro()

    def retype_at_playhead(self) -> None:
        here = self.labels_at_playhead()
        if len(here) != 1:
            self.show_status("No label at the playhead" if not here else
                             "Both classes are labelled here; right-click a marker to change one")
            return
        lab = here[0]
        self.retype_label(lab, _other_class(lab.cls))

    def label_menu(self, label) -> QMenu:
        """The right-click menu of a label marker (built separately so tests can trigger it)."""
        menu = QMenu(self)
        menu.setObjectName("label_menu")
        title = menu.addAction(f"{label.cls} label at frame {label.frame}")
        title.setEnabled(False)
        menu.addSeparator()
        for cls in CLASSES:
            if cls != label.cls:
                act = menu.addAction(f"Change to {cls}")
                act.setObjectName(f"retype_{cls}")
                act.triggered.connect(lambda _c=False, c=cls: self.retype_label(label, c))
        go = menu.addAction("Go to label")
        go.triggered.connect(lambda: self.seek(label.frame))
        delete = menu.addAction("Delete")
        delete.setObjectName("delete")
        delete.triggered.connect(lambda: self.delete_label(label))
        for act in menu.actions():
            if act is not go and act is not title:
                act.setEnabled(not self._readonly())
        return menu

    def _popup_label_menu(self, label, pos: QPoint) -> None:
        self.open_menu = self.label_menu(label)
        self.open_menu.popup(pos)

    def _edit_applied(self, edit) -> None:
        """After every apply/undo/redo: redraw, recount, schedule the autosave."""
        video = getattr(edit, "video", None)
        if isinstance(video, str) and video != self.current_video_id \
                and self.project is not None and video in self.project.videos:
            # Undo/redo of an edit made in another video: show it where it happens.
            self.set_video(video)
            frame = getattr(edit, "frame", None)
            if isinstance(frame, int):
                self.seek(frame)
        if self.current_video_id is not None and video in (None, self.current_video_id):
            self.timeline.set_labels(self.project.labels.for_video(self.current_video_id))
        elif self.current_video_id is not None and type(edit).__name__.startswith("Bulk"):
            self.timeline.set_labels(self.project.labels.for_video(self.current_video_id))
        self.video_list.refresh(video if isinstance(video, str) else None)
        self._update_frame_label()
        self._mark_dirty()
        self.labels_changed.emit()

    # ================================================================== state display
    def _mark_dirty(self) -> None:
        self.autosave_timer.start()
        self._update_save_state()

    def _is_dirty(self) -> bool:
        return self.project is not None and bool(self.project.is_dirty)

    def _readonly(self) -> bool:
        return self.project is None or bool(getattr(self.project, "readonly", False))

    def _update_save_state(self) -> None:
        if self.project is None:
            self.setWindowTitle("P-FES Studio")
            self.setWindowModified(False)
            self.save_label.setText("")
            return
        dirty = self._is_dirty() or self.saving
        name = Path(self.project.root).name
        ro = " [read-only]" if self._readonly() else ""
        self.setWindowTitle(f"{name}{ro}[*] \u2014 P-FES Studio")
        self.setWindowModified(dirty)
        if self._readonly():
            self.save_label.setText("read-only")
            self.save_label.setStyleSheet("color: #c9a227;")
        elif self.saving:
            self.save_label.setText("\u25cf saving...")
            self.save_label.setStyleSheet("color: #e0a030;")
        elif dirty:
            self.save_label.setText("\u25cf unsaved (journaled)")
            self.save_label.setStyleSheet("color: #e0a030;")
        else:
            self.save_label.setText("\u2713 saved")
            self.save_label.setStyleSheet("color: #6cbf6c;")

    def _update_enabled(self) -> None:
        has_project = self.project is not None
        writable = has_project and not self._readonly()
        for action_id in ("file.add_videos", "file.add_image_folder", "file.import_labels",
                          "file.import_reference", "file.save", "label.add_mae", "label.add_me",
                          "label.retype", "label.delete"):
            self.actions[action_id].setEnabled(writable)
        self.export_action.setEnabled(has_project and self._export_handler is not None)

    def show_cheat_sheet(self) -> QDialog:
        """Help -> Keyboard shortcuts: generated from the registry, non-modal."""
        if self.cheat_sheet is None:
            dlg = QDialog(self)
            dlg.setWindowTitle("Keyboard shortcuts")
            dlg.resize(560, 720)
            layout = QVBoxLayout(dlg)
            self.cheat_sheet_text = QTextBrowser()
            layout.addWidget(self.cheat_sheet_text)
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            buttons.rejected.connect(dlg.close)
            layout.addWidget(buttons)
            self.cheat_sheet = dlg
        # Regenerated each time: other modules may have registered actions since.
        self.cheat_sheet_text.setHtml(shortcuts.cheat_sheet_html() + MOUSE_HELP)
        self.cheat_sheet.show()
        self.cheat_sheet.raise_()
        return self.cheat_sheet


# ---- helpers --------------------------------------------------------------------------------

def _in_asyncio_task() -> bool:
    import asyncio

    try:
        return asyncio.current_task() is not None
    except RuntimeError:            # no running event loop
        return False


class _IoTask:
    """One call on a daemon worker thread; ``done`` (a Signal, queued to the GUI thread) is
    emitted with the task when it ends. ``wait_with_events`` runs a local event loop that
    excludes user input until then: windows repaint, timers and other threads' signals are
    served, clicks and keys stay queued and are delivered in order afterwards."""

    def __init__(self, fn, done: Signal, purpose: str = ""):
        self.fn = fn
        self.done_signal = done
        self.purpose = purpose
        self.project = None
        self.result = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._loop: QEventLoop | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"pfes-io-{self.purpose or 'call'}",
                         daemon=True).start()

    def _run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread
            self.error = exc
        finally:
            self.finished.set()
            try:
                self.done_signal.emit(self)
            except RuntimeError:        # the window is gone (application exit)
                pass

    def wait_with_events(self) -> None:
        if _in_asyncio_task():
            # Called from a coroutine: a local event loop would let qasync step other tasks
            # inside this one's step, which asyncio refuses (their wake-ups would be lost).
            # Coroutines should use MainWindow.save_async(); this is the safe fallback.
            self.finished.wait()
            return
        while not self.finished.is_set():
            loop = QEventLoop()
            self._loop = loop
            # Wake the loop from the worker (queued call), and poll as a safety net.
            self.done_signal.connect(loop.quit)
            timer = QTimer()
            timer.setInterval(25)
            timer.timeout.connect(lambda: self.finished.is_set() and loop.quit())
            timer.start()
            try:
                if not self.finished.is_set():
                    loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
            finally:
                timer.stop()
                self.done_signal.disconnect(loop.quit)
                self._loop = None


def QApplicationBeep() -> None:  # noqa: N802 - mirrors QApplication.beep
    from PySide6.QtWidgets import QApplication

    QApplication.beep()


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error
        return ""


def _other_class(cls: str) -> str:
    return next(c for c in CLASSES if c != cls)


def _neighbour(sorted_frames: list[int], frame: int, direction: int) -> int | None:
    """The next (direction > 0) or previous value strictly beyond ``frame``, or None."""
    if direction > 0:
        i = bisect.bisect_right(sorted_frames, frame)
        return sorted_frames[i] if i < len(sorted_frames) else None
    i = bisect.bisect_left(sorted_frames, frame)
    return sorted_frames[i - 1] if i > 0 else None


def _timecode(frame: int, fps: float) -> str:
    seconds = frame / fps if fps else 0.0
    minutes, sec = divmod(seconds, 60.0)
    return f"{int(minutes):02d}:{sec:05.2f}"

