"""The main window: the widgets, the menus and the public API; the work is done by controllers.

Each concern lives in its own module with an ``install(window)`` function, wired here in
``CONTROLLERS`` order (a change to playback touches playback.py only):
  saving.py        SaveController       window.saver      autosave, Ctrl+S, busy indicator
  session.py       SessionMemory        window.session    QSettings: layout, recent, positions
  preferences.py   PreferencesDialog    (Edit menu)       annotator name, rebindable keys
  frame_display.py FrameDisplay         window.display    frame view, difference, landmarks
  playback.py      PlaybackController   window.playback   play/pause, speed, loop
  navigation.py    NavigationController window.nav        video/frame, stepping, jumps
  labelling.py     LabelController      window.labelling  label edits, marker menu, after-edit
  project_io.py    ProjectController    window.projects   new/open/close, add videos, imports
Feature modules (Model menu, review, export, import dialogs...) plug in after construction
through ``pfes_gui.app.EXTENSION_MODULES``: add a module with ``install(window)`` there.

Public API for the other GUI modules (review panel, training dock, export dialog):
  attributes  project (open pfes_core Project or None), undo_stack (QUndoStack),
              current_video_id, current_frame, n_frames, fps, timeline, frame_view, video_list,
              model_menu (QMenu), view_menu, file_menu
  methods     go_to_frame(video_id, frame), set_video(video_id), seek(frame), push_edit(edit),
              register_action(action_id, callback, menu=None, checkable=False) -> QAction
              add_model_action(action), set_export_handler(callable), add_dock(dock, area),
              show_status(text, ms), save(), save_async(), wait_for_save()
  signals     project_changed(), video_changed(str), labels_changed(), frame_changed(int)
"""

from __future__ import annotations

import getpass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QUndoStack
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QDockWidget, QFrame, QHBoxLayout, QLabel, QMainWindow, QMenu,
                               QProgressBar, QPushButton, QSpinBox, QSplitter, QTextBrowser,
                               QToolBar, QVBoxLayout, QWidget)

from pfes_core.errors import LabelError, PfesError

from . import (dialogs, frame_display, labelling, navigation, playback, preferences, project_io,
               saving, session, shortcuts)
from .frame_fetcher import FrameFetcher
from .frame_view import FrameView
from .timeline import Timeline
from .undo_commands import push_edit
from .video_list import VideoList

#: The window's own controllers, installed in this order (later ones may use earlier ones).
CONTROLLERS = (saving, session, preferences, frame_display, playback, navigation, labelling,
               project_io)

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
        self.actions: dict[str, QAction] = {}
        self._front_docks: dict = {}       # per dock area: the dock whose tab shows first
        self.open_menu: QMenu | None = None
        self.cheat_sheet: QDialog | None = None
        self._export_handler = None

        self.setWindowTitle("P-FES Studio")
        self.resize(1400, 900)
        self.fetcher = FrameFetcher(self)
        self._build_widgets()
        self._build_status_bar()
        for module in CONTROLLERS:
            module.install(self)
        if not annotator:
            self.annotator = self.session.annotator() or _user_name()
        self._build_actions()
        self.undo_stack.cleanChanged.connect(lambda _clean: self.saver.update_save_state())
        self.update_enabled()
        self.saver.update_save_state()

    # ================================================================== construction
    def _build_widgets(self) -> None:
        self.frame_view = FrameView()
        self.timeline = Timeline()

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet("#banner { background: #5a4a12; border: 1px solid #c9a227; }"
                                  "#banner QLabel { color: #fff3c4; }")
        bl = QHBoxLayout(self.banner)
        bl.setContentsMargins(8, 4, 8, 4)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_save = QPushButton("Save now")
        self.banner_save.clicked.connect(self.save)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.banner.hide)
        bl.addWidget(self.banner_text, 1)
        bl.addWidget(self.banner_save)
        bl.addWidget(dismiss)
        self.banner.hide()

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.frame_view)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)    # a drag never hides the frame or the timeline
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        cl.addWidget(self.banner)
        cl.addWidget(splitter, 1)
        self.setCentralWidget(central)
        central.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._central = central
        self.splitter = splitter

        # Side docks keep the full height; a bottom dock (Agreement) sits under the frame and
        # timeline only. Spanning the width, it had to fit under the tallest side dock too and
        # pushed the window past a 1280x720 screen.
        for corner, area in ((Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea),
                             (Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)):
            self.setCorner(corner, area)

        self.video_list = VideoList()
        self.video_dock = QDockWidget("Videos", self)
        self.video_dock.setObjectName("videos_dock")
        self.video_dock.setWidget(self.video_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.video_dock)
        self.resizeDocks([self.video_dock], [330], Qt.Orientation.Horizontal)
        self._build_toolbar()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Playback")
        bar.setObjectName("playback_toolbar")
        bar.setIconSize(QSize(16, 16))
        self.play_button = QPushButton("\u25b6 Play")
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bar.addWidget(self.play_button)
        bar.addWidget(QLabel("  Speed "))
        self.speed_combo = QComboBox()
        self.speed_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
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
        shortcuts.return_keys_on_commit(self.diff_back, self._central)
        shortcuts.return_keys_on_commit(self.diff_gain, self._central)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.playback_toolbar = bar

    def _build_actions(self) -> None:
        """The menu bar; each controller fills its part, in the order the menus show."""
        mb = self.menuBar()
        self.file_menu = mb.addMenu("&File")
        self.edit_menu = mb.addMenu("&Edit")
        self.labels_menu = mb.addMenu("&Labels")
        self.nav_menu = mb.addMenu("&Navigate")
        self.view_menu = mb.addMenu("&View")
        self.model_menu = mb.addMenu("&Model")
        self.help_menu = mb.addMenu("&Help")

        fm = self.file_menu
        self.projects.install_actions(fm)
        fm.addSeparator()
        self.register_action("file.save", self.save, fm)
        self.export_action = self.register_action("file.export", self._export, fm)
        fm.addSeparator()
        self.register_action("file.quit", self.close, fm)

        self.labelling.install_actions(self.edit_menu, self.labels_menu)
        self.edit_menu.addSeparator()
        self.register_action("edit.preferences", self.open_preferences, self.edit_menu)
        self.nav.install_actions(self.nav_menu)
        self.nav_menu.addSeparator()
        self.playback.install_actions(self.nav_menu)

        vm = self.view_menu
        self.display.install_actions(vm)
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
        action.setShortcuts(shortcuts.key_sequences(action_id))
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
        self.update_enabled()

    def _export(self) -> None:
        if self._export_handler is not None:
            self._export_handler()

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
            front = self._front_docks.get(area)
            if front in existing:
                front.raise_()        # a dock added later waits behind its tab
        else:
            self._front_docks[area] = dock
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
            push_edit(self.undo_stack, self.project, edit, self.labelling.edit_applied,
                      self.saver.wait_for_save, on_error=self.edit_failed)
        except LabelError as exc:         # a refused edit (duplicate, out of range): say why
            why = str(exc)
            self.show_status(why[:1].upper() + why[1:], 6000)
            QApplication.beep()
            return False
        except PfesError as exc:          # the journal cannot be written (disk full...)
            self.edit_failed(exc)
            return False
        return True

    def edit_failed(self, exc: Exception) -> None:
        """An edit, undo or redo the project could not record: nothing changed; say so."""
        dialogs.error(self, "Edit not recorded",
                      f"{exc}\n\nNothing else is affected: every earlier edit is kept. Free "
                      f"some disk space (or fix the folder's permissions) and do it again.")
        self.saver.update_save_state()

    def readonly(self) -> bool:
        return self.project is None or bool(getattr(self.project, "readonly", False))

    def update_enabled(self) -> None:
        has_project = self.project is not None
        writable = has_project and not self.readonly()
        for action_id in ("file.add_videos", "file.add_image_folder", "file.import_labels",
                          "file.import_reference", "file.save", "file.remove_video",
                          "label.add_mae", "label.add_me", "label.retype", "label.delete"):
            if action_id in self.actions:
                self.actions[action_id].setEnabled(writable)
        if "file.export_points" in self.actions:
            self.actions["file.export_points"].setEnabled(has_project)
        if hasattr(self, "export_action"):
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

    def restore_session(self) -> bool:
        """Window geometry, docks and table sorts as the annotator left them (call after the
        extensions added their docks); False on a first start."""
        return self.session.restore_window()

    def closeEvent(self, event) -> None:
        self.session.save_window()
        if not self.close_project():
            event.ignore()
            return
        self.fetcher.close()
        event.accept()

    # ---- the controllers' entry points, kept on the window for other modules and tests ---------
    def open_project(self, path, readonly: bool = False) -> bool:
        return self.projects.open_project(path, readonly)

    def new_project(self, path) -> bool:
        return self.projects.new_project(path)

    def close_project(self) -> bool:
        return self.projects.close_project()

    def add_videos(self, paths) -> None:
        self.projects.add_videos(paths)

    def import_labels(self, path) -> bool:
        return self.projects.import_labels(path)

    def import_reference(self, path) -> bool:
        return self.projects.import_reference(path)

    def save(self) -> bool:
        return self.saver.save()

    async def save_async(self) -> bool:
        return await self.saver.save_async()

    def autosave(self) -> None:
        self.saver.autosave()

    def wait_for_save(self) -> None:
        self.saver.wait_for_save()

    @property
    def saving(self) -> bool:
        return self.saver.saving

    @property
    def autosave_timer(self):
        return self.saver.autosave_timer

    def set_video(self, video_id: str) -> None:
        self.nav.set_video(video_id)

    def go_to_frame(self, video_id: str, frame: int) -> None:
        self.nav.go_to_frame(video_id, frame)

    def seek(self, frame: int) -> None:
        self.nav.seek(frame)

    def add_label(self, frame: int, cls: str) -> bool:
        return self.labelling.add_label(frame, cls)

    def label_menu(self, label) -> QMenu:
        return self.labelling.label_menu(label)

    def toggle_play(self) -> None:
        self.playback.toggle()

    def stop_playback(self) -> None:
        self.playback.stop()

    @property
    def playing(self) -> bool:
        return self.playback.playing

    @property
    def loop_range(self) -> tuple[int, int] | None:
        return self.playback.loop_range


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error
        return ""
