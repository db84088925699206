"""Edit -> Preferences: the annotator's name, the Ray cluster for background jobs (pfes_gui.cluster),
the models a Retrain averages (pfes_gui.training_members) and the keyboard shortcuts.

The key table is the one of shortcuts.py: the dialog edits a copy, refuses a set of keys in
which two actions share a key (and names them), and on OK rebinds every QAction, stores the
choices in the session settings (so they survive restarts) and refreshes the cheat sheet.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFormLayout,
                               QHBoxLayout, QHeaderView, QKeySequenceEdit, QLabel, QLineEdit,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from . import cluster, shortcuts, training_members

SETTINGS_KEY = "shortcuts"


def saved_keys(store) -> dict[str, str]:
    """The user's keys from the settings store (id -> key text)."""
    raw = store.value(SETTINGS_KEY, "")
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def store_keys(store) -> None:
    store.setValue(SETTINGS_KEY, json.dumps(shortcuts.user_keys(), sort_keys=True))
    store.sync()


def apply_to_window(window) -> None:
    """Give every QAction of the window the keys the table holds now."""
    for action_id, action in window.actions.items():
        try:
            action.setShortcuts(shortcuts.key_sequences(action_id))
        except KeyError:
            continue
    if window.cheat_sheet is not None and window.cheat_sheet.isVisible():
        window.show_cheat_sheet()


class PreferencesDialog(QDialog):
    """Name and keys; ``accept`` applies them (or shows why not and stays open)."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.setWindowTitle("Preferences")
        self.resize(640, 640)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name_edit = QLineEdit(window.annotator)
        self.name_edit.setObjectName("annotator_name")
        self.name_edit.setPlaceholderText("your name or initials (stored with every label)")
        form.addRow("Annotator:", self.name_edit)
        self.cluster_edit = cluster.address_edit(window.session.store)     # pfes_gui.cluster
        form.addRow("Ray cluster:", self.cluster_edit)
        self.members_spin = training_members.members_spin(window.session.store)
        form.addRow("Models per Retrain:", self.members_spin)
        layout.addLayout(form)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("shortcut_filter")
        self.filter_edit.setPlaceholderText("Find an action or a key (e.g. micro, playhead, Ctrl+G)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.filter_rows)
        layout.addWidget(self.filter_edit)

        self.rows = shortcuts.all_shortcuts()
        self.keys = {row.action_id: row.key for row in self.rows}
        self.table = QTableWidget(len(self.rows), 3)
        self.table.setObjectName("shortcut_table")
        self.table.setHorizontalHeaderLabels(("Group", "Action", "Key"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for i, row in enumerate(self.rows):
            self.table.setItem(i, 0, QTableWidgetItem(row.group))
            self.table.setItem(i, 1, QTableWidgetItem(row.description))
            self.table.setItem(i, 2, QTableWidgetItem(""))
            self._show_key(i)
        self.table.currentCellChanged.connect(lambda r, *_: self._select(r))
        layout.addWidget(self.table, 1)

        edit_row = QHBoxLayout()
        edit_row.addWidget(QLabel("Key for the selected action:"))
        self.key_edit = QKeySequenceEdit()
        self.key_edit.setObjectName("shortcut_key_edit")
        self.key_edit.setMaximumSequenceLength(1)
        self.key_edit.editingFinished.connect(self._key_entered)
        edit_row.addWidget(self.key_edit, 1)
        clear = QPushButton("No key")
        clear.clicked.connect(lambda: self.set_key(self.current_id(), ""))
        default = QPushButton("Default")
        default.clicked.connect(self._reset_one)
        reset_all = QPushButton("All defaults")
        reset_all.clicked.connect(self._reset_all)
        for b in (clear, default, reset_all):
            edit_row.addWidget(b)
        layout.addLayout(edit_row)

        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #e15759;")
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.table.setCurrentCell(0, 1)

    def filter_rows(self, text: str) -> None:
        """Show only the rows whose group, action or key hold every word typed; the first one
        shown becomes the selected row when the selected one is hidden."""
        words = text.lower().split()
        first = None
        for i, row in enumerate(self.rows):
            hay = f"{row.group} {row.description} {self.table.item(i, 2).text()}".lower()
            hidden = not all(word in hay for word in words)
            self.table.setRowHidden(i, hidden)
            if not hidden and first is None:
                first = i
        if first is not None and self.table.isRowHidden(max(self.table.currentRow(), 0)):
            self.table.setCurrentCell(first, 1)

    # ---- editing the copy --------------------------------------------------------------------
    def current_id(self) -> str:
        return self.rows[max(self.table.currentRow(), 0)].action_id

    def _select(self, r: int) -> None:
        if 0 <= r < len(self.rows):
            self.key_edit.setKeySequence(QKeySequence(self.keys[self.rows[r].action_id]))

    def _key_entered(self) -> None:
        self.set_key(self.current_id(),
                     self.key_edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText))

    def set_key(self, action_id: str, key: str) -> None:
        """Change one key in the dialog's copy (applied on OK); clashes are shown at once."""
        self.keys[action_id] = key
        i = next(n for n, row in enumerate(self.rows) if row.action_id == action_id)
        self._show_key(i)
        self._check()

    def _reset_one(self) -> None:
        row = shortcuts.get(self.current_id())
        self.set_key(row.action_id, row.default_key)
        self._select(self.table.currentRow())

    def _reset_all(self) -> None:
        for i, row in enumerate(self.rows):
            self.keys[row.action_id] = row.default_key
            self._show_key(i)
        self._select(self.table.currentRow())
        self._check()

    def _show_key(self, i: int) -> None:
        row = self.rows[i]
        keys = [k for k in (self.keys[row.action_id], *row.alternates) if k]
        text = " or ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
                           for k in keys)
        item = self.table.item(i, 2)
        item.setText(text or "(none)")
        font = item.font()
        font.setBold(self.keys[row.action_id] != row.default_key)
        item.setFont(font)

    def _conflicts(self) -> str:
        from dataclasses import replace

        proposed = [replace(row, key=self.keys[row.action_id]) for row in self.rows]
        clashes = shortcuts.find_conflicts(proposed)
        desc = {row.action_id: row.description for row in self.rows}
        return "; ".join(f"{QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)} "
                         f"is bound to both \u201c{desc[a]}\u201d and \u201c{desc[b]}\u201d"
                         for k, a, b in clashes)

    def _check(self) -> bool:
        text = self._conflicts()
        self.problem.setText(f"Two actions share a key: {text}. Change one of them." if text else "")
        return not text

    # ---- applying ----------------------------------------------------------------------------
    def accept(self) -> None:
        if not self._check():
            return                                   # refused: the dialog stays open
        changed = {row.action_id: self.keys[row.action_id] for row in self.rows
                   if self.keys[row.action_id] != row.key}
        try:
            shortcuts.set_keys(changed)
        except (shortcuts.ShortcutConflict, ValueError) as exc:
            self.problem.setText(str(exc))
            return
        store_keys(self.w.session.store)
        cluster.set_ray_address(self.w.session.store, self.cluster_edit.text())
        training_members.set_training_members(self.w.session.store, self.members_spin.value())
        apply_to_window(self.w)
        name = self.name_edit.text().strip()
        if name:
            self.w.annotator = name
            self.w.session.set_annotator(name)
            if getattr(self.w, "layers", None) is not None:   # pfes_gui.annotator_layers: "you" changed
                self.w.layers.redraw()
        self.w.show_status("Preferences saved", 3000)
        super().accept()


def install(window):
    """Load the saved keys into the table and add Edit -> Preferences."""
    skipped = shortcuts.apply_user_keys(saved_keys(window.session.store))
    if skipped:
        window.show_status(f"{len(skipped)} saved key(s) now clash with built-in keys; "
                           f"their defaults are used (Edit -> Preferences)", 8000)
    window.preferences_dialog = lambda: PreferencesDialog(window)

    def open_dialog() -> None:
        dialog = PreferencesDialog(window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    window.open_preferences = open_dialog
    return window
