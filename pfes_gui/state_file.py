"""The state file of the real-window check: what the window shows and where to click.

`pfes-gui` with ``PFES_GUI_STATE_FILE`` set keeps a small JSON file of the window's state (video,
frame, labels per annotator, proposals with their review status, the frame view's zoom) and of
where an outside driver can click (menu titles, timeline rows, open dialogs with their buttons
and named widgets, visible item-view rows, dock tabs, an open popup menu).
``scripts/real_window_check.py`` reads it while it drives the app with real X events, since
it cannot look inside the process. Nothing here runs unless the variable is set, and a failure
here is logged, never shown.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QComboBox,
                               QKeySequenceEdit, QLabel, QLineEdit, QMenu, QTabBar, QWidget)

log = logging.getLogger("pfes_gui")


def install_state_file(window, path: str) -> None:
    """Keep the JSON file at ``path`` current: rewritten atomically whenever the window's state
    changes (its signals), and twice a second for dialogs, menus and docks."""
    target = Path(path)
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
    p = widget.mapToGlobal(point if point is not None else widget.rect().center())
    return [p.x(), p.y()] if isinstance(p, QPoint) else [round(p.x()), round(p.y())]


def _ui_geometry(window) -> dict:
    """Where an outside driver can click: every visible top-level window (dialogs, message
    boxes, the main window with its docks) with the screen centres of its buttons (by text),
    named widgets (by object name), the visible rows of named item views, dock tab titles, and
    the items of an open popup menu; plus the widget that has the keyboard focus."""
    app = QApplication.instance()
    windows = []
    for top in app.topLevelWidgets():
        if not top.isVisible() or isinstance(top, QMenu) or top.windowType() == Qt.WindowType.ToolTip:
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
