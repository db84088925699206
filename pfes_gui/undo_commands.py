"""QUndoCommand wrappers around pfes_core label edits (AddLabel, MoveLabel, RetypeLabel, ...).

The project owns the data and journals every edit the moment it is applied; the QUndoStack only
remembers the order. ``push_edit`` applies the edit *before* pushing, so an invalid edit (e.g. a
duplicate label) raises a LabelError to the caller and never lands on the stack. An undo or redo
the project refuses (the journal cannot be written: disk full) changes nothing; the command is
dropped from the history and ``on_error`` reports why, after the stack is done with it.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QUndoCommand, QUndoStack

from pfes_core.errors import PfesError


def describe(edit) -> str:
    """Short menu text for an edit: 'Add MaE label at 120', 'Move ME label 40 -> 44'."""
    own = getattr(edit, "describe", None)
    if callable(own):
        text = str(own())
        return text[:1].upper() + text[1:]
    name = type(edit).__name__
    cls = getattr(edit, "cls", "")
    frame = getattr(edit, "frame", None)
    if name == "AddLabel":
        return f"Add {cls} label at {frame}"
    if name == "DeleteLabel":
        return f"Delete {cls} label at {frame}"
    if name == "MoveLabel":
        return f"Move {cls} label {frame} -> {getattr(edit, 'new_frame', '?')}"
    if name == "RetypeLabel":
        return f"Retype label at {frame}: {cls} -> {getattr(edit, 'new_cls', '?')}"
    if name == "BulkImport":
        return f"Import {len(getattr(edit, 'labels', ()))} labels"
    return name


class EditCommand(QUndoCommand):
    """One project edit on the undo stack: redo applies it, undo applies its inverse."""

    def __init__(self, project, edit, notify: Callable[[object], None] | None = None,
                 already_applied: bool = False, before: Callable[[], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None):
        super().__init__(describe(edit))
        self.project = project
        self.edit = edit
        self._notify = notify
        self._before = before
        self._on_error = on_error
        self._skip_first_redo = already_applied

    def redo(self) -> None:
        if self._skip_first_redo:
            self._skip_first_redo = False
        elif not self._apply(self.edit):
            return
        if self._notify is not None:
            self._notify(self.edit)

    def undo(self) -> None:
        if self._apply(self.edit.inverse()) and self._notify is not None:
            self._notify(self.edit)

    def _apply(self, edit) -> bool:
        if self._before is not None:
            self._before()
        try:
            self.project.apply(edit)
        except PfesError as exc:
            self.setObsolete(True)           # the stack drops it; the project is unchanged
            if self._on_error is not None:
                QTimer.singleShot(0, lambda error=exc: self._on_error(error))
            else:
                raise
            return False
        return True


def push_edit(stack: QUndoStack, project, edit,
              notify: Callable[[object], None] | None = None,
              before: Callable[[], None] | None = None,
              on_error: Callable[[Exception], None] | None = None) -> EditCommand:
    """Apply ``edit`` to ``project`` (raising its PfesError if invalid), then record it on ``stack``.

    ``before`` runs before every apply (this one, and each later undo/redo): the main window
    uses it to let a background save of the project finish before the project changes."""
    if before is not None:
        before()
    project.apply(edit)
    command = EditCommand(project, edit, notify, already_applied=True, before=before,
                          on_error=on_error)
    stack.push(command)
    return command
