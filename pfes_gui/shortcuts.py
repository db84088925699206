"""One declarative table of every keyboard shortcut in the app, conflict-checked.

Why a table: the menus, the QActions, the cheat sheet (Help -> Keyboard shortcuts) and the tests
all read the same rows, so a key can never be bound twice or go undocumented. Other modules add
their rows with ``register(...)`` at import time (e.g. the review panel's accept/reject keys);
a clash raises ``ShortcutConflict`` immediately instead of silently shadowing an action.

The user may rebind any row (Edit -> Preferences, ``preferences.py``): ``set_keys`` checks the
whole new table for clashes before changing anything, and ``apply_user_keys`` restores the saved
choices at start-up (rows registered later pick theirs up when they register). Keys that need
AltGr on some keyboard layouts (``[`` ``]`` on German or French keyboards) have an alternate
key that every layout types directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtGui import QKeySequence


class ShortcutConflict(ValueError):
    """Two actions claim the same key, or one action id is registered twice."""


@dataclass(frozen=True)
class Shortcut:
    """One row: a stable action id, its key (Qt portable text), what it does, its group, extra
    keys that do the same, and the built-in key (``key`` differs when the user rebound it)."""

    action_id: str
    key: str
    description: str
    group: str
    alternates: tuple[str, ...] = ()
    default_key: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key bound to the action, the main one first."""
        return tuple(k for k in (self.key, *self.alternates) if k)


# The built-in table. Keys are Qt portable key strings ("Shift+Right", "Ctrl+G", "]").
_DEFAULTS: tuple[tuple[str, str, str, str], ...] = (
    # File
    ("file.new", "Ctrl+N", "New project", "File"),
    ("file.open", "Ctrl+O", "Open project", "File"),
    ("file.add_videos", "Ctrl+Shift+A", "Add videos to the project", "File"),
    ("file.add_image_folder", "", "Add a folder of numbered images as a video", "File"),
    ("file.import_labels", "Ctrl+I", "Import point labels (CSV/JSON)", "File"),
    ("file.import_reference", "Ctrl+Shift+I", "Import reference intervals (CSV)", "File"),
    ("file.export_points", "Ctrl+Shift+E", "Export point labels (CSV, JSON or ELAN)", "File"),
    ("file.remove_video", "", "Remove the current video from the project", "File"),
    ("file.save", "Ctrl+S", "Save the project now", "File"),
    ("file.export", "Ctrl+E", "Export spotted intervals", "File"),
    ("file.quit", "Ctrl+Q", "Quit", "File"),
    # Edit
    ("edit.undo", "Ctrl+Z", "Undo the last edit (labels and review decisions alike)", "Edit"),
    ("edit.redo", "Ctrl+Shift+Z", "Redo the last undone edit", "Edit"),
    ("edit.preferences", "Ctrl+,", "Preferences: keys and annotator name", "Edit"),
    # Labels
    ("label.add_mae", "M", "Add a macro-expression (MaE) label at the playhead", "Labels"),
    ("label.add_me", "E", "Add a micro-expression (ME) label at the playhead", "Labels"),
    ("label.delete", "Delete", "Delete the label at the playhead", "Labels"),
    ("label.retype", "T", "Switch the class (MaE <-> ME) of the label at the playhead", "Labels"),
    ("label.next", "]", "Jump to the next label", "Labels", ("N",)),
    ("label.prev", "[", "Jump to the previous label", "Labels", ("Shift+N",)),
    # Navigation
    ("nav.next_frame", "Right", "Next frame (a tap: exactly 1; hold to accelerate)", "Navigation"),
    ("nav.prev_frame", "Left", "Previous frame (a tap: exactly 1; hold to accelerate)",
     "Navigation"),
    ("nav.next_frame_10", "Shift+Right", "Exactly 10 frames forward", "Navigation"),
    ("nav.prev_frame_10", "Shift+Left", "Exactly 10 frames back", "Navigation"),
    ("nav.first_frame", "Home", "First frame", "Navigation"),
    ("nav.last_frame", "End", "Last frame", "Navigation"),
    ("nav.goto", "Ctrl+G", "Go to frame...", "Navigation"),
    ("nav.next_video", "PgDown", "Next video (at the frame you left it)", "Navigation"),
    ("nav.prev_video", "PgUp", "Previous video (at the frame you left it)", "Navigation"),
    ("nav.next_proposal", ".", "Jump to the next proposal", "Navigation"),
    ("nav.prev_proposal", ",", "Jump to the previous proposal", "Navigation"),
    ("nav.next_unreviewed", "U", "Jump to the next unreviewed proposal", "Navigation"),
    # Playback
    ("play.toggle", "Space", "Play / pause", "Playback"),
    ("play.faster", "Ctrl+Up", "Faster playback", "Playback"),
    ("play.slower", "Ctrl+Down", "Slower playback", "Playback"),
    ("play.loop", "L", "Loop around the label or proposal at the playhead (again: stop, back where it "
                       "began)", "Playback"),
    # View
    ("view.landmarks", "O", "Show / hide landmarks and ROIs", "View"),
    ("view.difference", "D", "Show / hide the amplified difference to the reference frame", "View"),
    ("view.set_reference", "Shift+D", "Use the current frame as the difference reference", "View"),
    ("view.zoom_in", "=", "Zoom the timeline in", "View", ("+",)),
    ("view.zoom_out", "-", "Zoom the timeline out", "View"),
    ("view.zoom_fit", "Z", "Show the whole video in the timeline", "View"),
    # Help
    ("help.shortcuts", "F1", "Keyboard shortcuts (this sheet)", "Help"),
)


def return_keys_on_commit(box, target) -> None:
    """Hand the keyboard back to `target` once a spin box's value is committed (Return, its
    arrows clicked or the Up key): a box that kept the focus took the next Right as a cursor move,
    not a frame step, and swallowed M. Leaving it by Tab or a click elsewhere is left alone."""
    box.setKeyboardTracking(False)          # typed digits commit on Return, not on each key

    def commit(*_args) -> None:
        if box.hasFocus():
            target.setFocus()

    box.editingFinished.connect(commit)
    box.valueChanged.connect(commit)


def normalize_key(key: str) -> str:
    """Canonical portable text for a key string, so 'shift+right' and 'Shift+Right' collide."""
    seq = QKeySequence(key)
    text = seq.toString(QKeySequence.SequenceFormat.PortableText)
    if not text:
        raise ValueError(f"not a valid key sequence: {key!r}")
    return text


_TABLE: dict[str, Shortcut] = {}
_BY_KEY: dict[str, str] = {}
_PENDING: dict[str, str] = {}      # user keys of rows not registered yet


def register(action_id: str, key: str, description: str, group: str = "Other",
             alternates: tuple[str, ...] = ()) -> Shortcut:
    """Add one row to the registry; raise ShortcutConflict on a duplicate id or key.

    ``key`` may be empty for an action without a default shortcut (listed, not bound).
    A key the user chose earlier for this action replaces ``key`` unless it clashes.
    """
    if action_id in _TABLE:
        raise ShortcutConflict(f"action {action_id!r} is registered twice")
    norm = normalize_key(key) if key else ""
    alts = tuple(normalize_key(k) for k in alternates)
    for k in (norm, *alts):
        if k and k in _BY_KEY:
            raise ShortcutConflict(
                f"key {k!r} of {action_id!r} is already bound to {_BY_KEY[k]!r}")
    row = Shortcut(action_id, norm, description, group, alts, norm)
    _TABLE[action_id] = row
    for k in row.keys:
        _BY_KEY[k] = action_id
    if action_id in _PENDING:
        try:
            set_keys({action_id: _PENDING.pop(action_id)})
        except (ShortcutConflict, ValueError):
            pass
    return _TABLE[action_id]


def set_keys(mapping: dict[str, str]) -> None:
    """Rebind actions (id -> key text, "" for no key) all at once. Raises ShortcutConflict
    naming every clash, or ValueError for an unknown id or an invalid key; then nothing changes."""
    proposed = dict(_TABLE)
    for action_id, key in mapping.items():
        if action_id not in proposed:
            raise ValueError(f"unknown action {action_id!r}")
        proposed[action_id] = replace(proposed[action_id], key=normalize_key(key) if key else "")
    clashes = find_conflicts(proposed.values())
    if clashes:
        raise ShortcutConflict("; ".join(
            f"{key} is bound to both {_TABLE[a].description!r} and {_TABLE[b].description!r}"
            for key, a, b in clashes))
    _TABLE.update(proposed)
    _reindex()


def user_keys() -> dict[str, str]:
    """The rows the user rebound: id -> key ("" when the user removed the key)."""
    return {row.action_id: row.key for row in _TABLE.values() if row.key != row.default_key}


def apply_user_keys(mapping: dict[str, str]) -> list[str]:
    """Start-up: every row back to its built-in key, then the saved choices. A saved key that
    now clashes (a newer built-in row took it) is skipped; returns the skipped action ids."""
    for action_id, row in list(_TABLE.items()):
        _TABLE[action_id] = replace(row, key=row.default_key)
    _reindex()
    _PENDING.clear()
    skipped = []
    for action_id, key in mapping.items():
        if action_id not in _TABLE:
            _PENDING[action_id] = key
            continue
        try:
            set_keys({action_id: key})
        except (ShortcutConflict, ValueError):
            skipped.append(action_id)
    return skipped


def _reindex() -> None:
    _BY_KEY.clear()
    for row in _TABLE.values():
        for k in row.keys:
            _BY_KEY.setdefault(k, row.action_id)


def key_sequences(action_id: str) -> list[QKeySequence]:
    """What QAction.setShortcuts needs for a row (main key first)."""
    return [QKeySequence(k) for k in _TABLE[action_id].keys]


def get(action_id: str) -> Shortcut:
    """The registry row of an action (KeyError when unknown)."""
    return _TABLE[action_id]


def all_shortcuts() -> list[Shortcut]:
    """Every row, in registration order (the cheat sheet's order)."""
    return list(_TABLE.values())


def find_conflicts(rows) -> list[tuple[str, str, str]]:
    """(key, first id, second id) for every key bound twice in ``rows``; empty when clean."""
    seen: dict[str, str] = {}
    out = []
    for row in rows:
        for key in getattr(row, "keys", (row.key,)):
            if not key:
                continue
            norm = normalize_key(key)
            if norm in seen:
                out.append((norm, seen[norm], row.action_id))
            else:
                seen[norm] = row.action_id
    return out


def cheat_sheet_html() -> str:
    """The Help -> Keyboard shortcuts text, generated from the table (grouped, in order)."""
    groups: dict[str, list[Shortcut]] = {}
    for row in _TABLE.values():
        groups.setdefault(row.group, []).append(row)
    parts = ["<table cellspacing='0' cellpadding='3'>"]
    for group, rows in groups.items():
        parts.append(f"<tr><td colspan='2'><br><b>{group}</b></td></tr>")
        for row in rows:
            native = (" or ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
                                  for k in row.keys) if row.keys else "(none)")
            parts.append(f"<tr><td><code>{_escape(native)}</code>&nbsp;&nbsp;</td>"
                         f"<td>{_escape(row.description)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


for _row in _DEFAULTS:
    register(*_row)
del _row
