"""Session memory: the app comes back where the annotator left it.

Stored with QSettings (an INI file in the user's config folder; ``PFES_GUI_SETTINGS`` names
another file, which tests use): window geometry and dock layout, the sort column of every
sortable table, the recent projects (File -> Open Recent), per project the last video and per
video the last frame, the annotator's name and the user's shortcut keys (``preferences.py``).
Positions are written when the video changes, after every save and on close, so even after a
crash the app reopens at (nearly) the last frame.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QAbstractItemView, QDockWidget

from . import dialogs

MAX_RECENT = 8


def settings() -> QSettings:
    """The app's settings store (the file named by PFES_GUI_SETTINGS when set)."""
    path = os.environ.get("PFES_GUI_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "P-FES", "P-FES Studio")


def _project_key(root) -> str:
    return "project_" + hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:16]


class SessionMemory(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.store = settings()
        self.positions: dict = {"video": None, "frames": {}}   # of the open project
        window.project_changed.connect(self._project_changed)
        window.video_changed.connect(lambda _vid: self.store_position())
        window.save_finished.connect(lambda _ok: self.store_position())

    # ---- File -> Open Recent ---------------------------------------------------------------------
    def install_actions(self, file_menu) -> None:
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setObjectName("recent_menu")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self.fill_recent_menu()

    def recent_projects(self) -> list[str]:
        value = self.store.value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, root) -> None:
        root = str(Path(root).resolve())
        items = [root] + [p for p in self.recent_projects() if p != root]
        self.store.setValue("recent_projects", items[:MAX_RECENT])
        self.store.sync()

    def forget_recent(self, root) -> None:
        self.store.setValue("recent_projects", [p for p in self.recent_projects() if p != str(root)])
        self.store.sync()

    def fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        recent = self.recent_projects()
        for i, root in enumerate(recent):
            act = menu.addAction(f"&{i + 1}  {Path(root).name}   ({Path(root).parent})")
            act.setObjectName(f"recent_{i}")
            act.setData(root)
            act.triggered.connect(lambda _c=False, r=root: self.open_recent(r))
        if not recent:
            menu.addAction("(no recent projects)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", self._clear_recent)

    def _clear_recent(self) -> None:
        self.store.setValue("recent_projects", [])
        self.store.sync()

    def open_recent(self, root: str) -> bool:
        if not (Path(root) / "project.h5").exists():
            dialogs.error(self.w, "Cannot open project",
                          f"{root} is gone (moved or deleted); it is removed from the recent list.")
            self.forget_recent(root)
            return False
        return self.w.open_project(root)

    # ---- where the annotator was ---------------------------------------------------------------
    def _project_changed(self) -> None:
        project = self.w.project
        if project is None:
            self.positions = {"video": None, "frames": {}}
            return
        self.add_recent(project.root)
        raw = self.store.value(_project_key(project.root), "")
        try:
            data = json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            data = {}
        frames = data.get("frames") if isinstance(data.get("frames"), dict) else {}
        self.positions = {"video": data.get("video"),
                          "frames": {str(k): int(v) for k, v in frames.items()
                                     if isinstance(v, (int, float))}}

    def last_video(self) -> str | None:
        """The video the annotator was on in the open project, if it is still there."""
        vid = self.positions.get("video")
        project = self.w.project
        return vid if project is not None and vid in project.videos else None

    def last_frame(self, video_id: str) -> int:
        return int(self.positions["frames"].get(video_id, 0))

    def remember_frame(self) -> None:
        """Keep the current video's frame in memory (called when the frame or video changes)."""
        w = self.w
        if w.project is not None and w.current_video_id is not None:
            self.positions["frames"][w.current_video_id] = int(w.current_frame)
            self.positions["video"] = w.current_video_id

    def store_position(self) -> None:
        """Write the open project's positions to the settings file."""
        w = self.w
        if w.project is None:
            return
        self.remember_frame()
        self.store.setValue(_project_key(w.project.root), json.dumps(self.positions))
        self.store.sync()

    # ---- annotator name ----------------------------------------------------------------------------
    def annotator(self) -> str:
        return str(self.store.value("annotator", "") or "")

    def set_annotator(self, name: str) -> None:
        self.store.setValue("annotator", name)
        self.store.sync()

    # ---- window layout and table sorts ---------------------------------------------------------------
    def save_window(self) -> None:
        w = self.w
        self.store.setValue("window/geometry", w.saveGeometry())
        self.store.setValue("window/state", w.saveState())
        for key, view in self._sortable_views():
            header = view.horizontalHeader() if hasattr(view, "horizontalHeader") else view.header()
            self.store.setValue(f"sort/{key}", [header.sortIndicatorSection(),
                                                 int(header.sortIndicatorOrder().value)])
        self.store.sync()

    def restore_window(self) -> bool:
        """Geometry, docks and table sorts as they were; False when nothing was saved yet."""
        w = self.w
        geometry = self.store.value("window/geometry")
        if geometry is None:
            return False
        w.restoreGeometry(geometry)
        state = self.store.value("window/state")
        if state is not None:
            w.restoreState(state)
        for key, view in self._sortable_views():
            value = self.store.value(f"sort/{key}")
            try:
                column, order = int(value[0]), int(value[1])
            except (TypeError, ValueError, IndexError):
                continue
            if 0 <= column < view.model().columnCount():
                view.sortByColumn(column, Qt.SortOrder(order))
        return True

    def _sortable_views(self):
        """(stable key, view) for every sortable table or tree in the window."""
        seen: dict[str, int] = {}
        for view in self.w.findChildren(QAbstractItemView):
            if not getattr(view, "isSortingEnabled", lambda: False)():
                continue
            owner = view.parent()
            while owner is not None and not isinstance(owner, QDockWidget):
                owner = owner.parent()
            base = f"{owner.objectName() if owner is not None else 'main'}." \
                   f"{view.objectName() or type(view).__name__}"
            seen[base] = seen.get(base, -1) + 1
            yield f"{base}.{seen[base]}", view


def install(window) -> SessionMemory:
    window.session = SessionMemory(window)
    return window.session
