"""Labelling: add, move, retype and delete point labels, the label marker's menu, and what
happens after every edit, undo or redo (redraw, recount, schedule the autosave).

Every change is a pfes_core edit pushed through ``MainWindow.push_edit``: the project journals
it at once and the QUndoStack gives undo/redo. Edits name a label by its full identity (video,
frame, class, annotator); another annotator's label changes only with "Edit other annotators'
labels" on (pfes_gui.annotator_layers).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint
from PySide6.QtWidgets import QMenu

from pfes_core.types import CLASSES, other_class

from . import shortcuts


class LabelController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        window.timeline.add_label_requested.connect(self.add_label)
        window.timeline.label_moved.connect(self.move_label)
        window.timeline.label_menu_requested.connect(self._popup_label_menu)

    def install_actions(self, edit_menu, labels_menu) -> None:
        w = self.w
        undo = w.undo_stack.createUndoAction(w, "&Undo")
        redo = w.undo_stack.createRedoAction(w, "&Redo")
        for action, action_id, step in ((undo, "edit.undo", self.undo_step), (redo, "edit.redo", self.redo_step)):
            # the stack's own slot would move silently; ours also says what moved (the status
            # line would otherwise still read the undone edit's "now ME (was MaE)")
            action.triggered.disconnect()
            action.triggered.connect(step)
            action.setShortcuts(shortcuts.key_sequences(action_id))
            action.setObjectName(action_id)
            w.actions[action_id] = action
            w.addAction(action)
            edit_menu.addAction(action)
        lm = labels_menu
        w.register_action("label.add_mae", lambda: self.add_label(w.current_frame, "MaE"), lm)
        w.register_action("label.add_me", lambda: self.add_label(w.current_frame, "ME"), lm)
        w.register_action("label.retype", self.retype_at_playhead, lm)
        w.register_action("label.delete", self.delete_at_playhead, lm)
        lm.addSeparator()
        w.register_action("label.next", lambda: w.nav.jump_label(+1), lm)
        w.register_action("label.prev", lambda: w.nav.jump_label(-1), lm)

    # ---- undo / redo ---------------------------------------------------------------------------
    def undo_step(self) -> None:
        stack = self.w.undo_stack
        self._step(stack.undo, stack.undoText(), "Undone")

    def redo_step(self) -> None:
        stack = self.w.undo_stack
        self._step(stack.redo, stack.redoText(), "Redone")

    def _step(self, move, text: str, verb: str) -> None:
        """Move the undo stack one step and say what moved; a step the project refused drops its
        command from the stack (count falls) and `MainWindow.edit_failed` says why instead."""
        stack = self.w.undo_stack
        count = stack.count()
        move()
        if text and stack.count() == count:
            self.w.show_status(f"{verb}: {text}", 6000)

    # ---- edits ---------------------------------------------------------------------------------
    def add_label(self, frame: int, cls: str) -> bool:
        from pfes_core.labels import AddLabel

        w = self.w
        if w.current_video_id is None or w.readonly():
            return False
        if not w.push_edit(AddLabel(w.current_video_id, int(frame), cls, w.annotator)):
            return False
        # said like Delete and T are: a late M after a held arrow key lands a frame or two on
        w.show_status(f"{cls} label added at frame {int(frame)}", 4000)
        return True

    def _may_edit(self, label) -> bool:
        """Refuse (with a message) to change another annotator's label unless the switch is on."""
        layers = getattr(self.w, "layers", None)
        if layers is None or layers.may_edit(label):
            return True
        from pfes_core.labels import annotator_title

        self.w.show_status(f"That {label.cls} label is {annotator_title(label.annotator)}'s; turn on "
                           f"\"Edit other annotators' labels\" (Annotators dock) to change it", 6000)
        return False

    def move_label(self, label, new_frame: int) -> bool:
        from pfes_core.labels import MoveLabel

        w = self.w
        if w.readonly() or not self._may_edit(label):
            w.timeline.set_labels(w.project.labels.for_video(label.video))
            return False
        ok = w.push_edit(MoveLabel(label.video, label.frame, label.cls, int(new_frame), annotator=label.annotator))
        if not ok:   # put the marker back where the store says it is
            w.timeline.set_labels(w.project.labels.for_video(label.video))
        elif int(new_frame) != label.frame:   # at 2 px a frame, the marker alone does not say where it landed
            w.show_status(f"Moved the {label.cls} label from frame {label.frame} to {int(new_frame)}", 4000)
        return ok

    def retype_label(self, label, new_cls: str) -> bool:
        from pfes_core.labels import RetypeLabel

        if self.w.readonly() or not self._may_edit(label):
            return False
        return self.w.push_edit(RetypeLabel(label.video, label.frame, label.cls, new_cls, annotator=label.annotator))

    def delete_label(self, label) -> bool:
        from pfes_core.labels import DeleteLabel

        if self.w.readonly() or not self._may_edit(label):
            return False
        return self.w.push_edit(DeleteLabel(label.video, label.frame, label.cls, label.annotator))

    def _at_playhead(self, editable: bool) -> list:
        """The labels at the playhead through the annotator layers: those drawn (hidden layers left
        out), or those one may change (`editable`: Del/T never touch a colleague's)."""
        w = self.w
        if w.project is None or w.current_video_id is None:
            return []
        here = w.project.labels.at(w.current_video_id, w.current_frame)
        layers = getattr(w, "layers", None)
        if layers is None:
            return here
        return layers.editable(here) if editable else layers.visible(here)

    def labels_at_playhead(self) -> list:
        return self._at_playhead(editable=True)

    def _single_at_playhead(self, verb: str):
        """The one label at the playhead, or None after saying why the key did nothing.

        Del and T act alike: on a frame that holds both an MaE and an ME label neither key
        guesses which one is meant; the marker's right-click menu picks one."""
        here = self.labels_at_playhead()
        if not here:
            shown = self._at_playhead(editable=False)
            if shown:              # a colleague's marker is drawn here: say whose, not "no label"
                self._may_edit(shown[0])
            else:
                self.w.show_status(f"No label at frame {self.w.current_frame} to {verb}", 4000)
            return None
        if len(here) > 1:
            self.w.show_status(f"Frame {self.w.current_frame} holds both an MaE and an ME label; "
                               f"nothing changed. Right-click the marker you mean to {verb} it.",
                               6000)
            return None
        return here[0]

    def delete_at_playhead(self) -> None:
        lab = self._single_at_playhead("delete")
        if lab is not None and self.delete_label(lab):
            self.w.show_status(f"Deleted the {lab.cls} label at frame {lab.frame} (Ctrl+Z brings "
                               f"it back)", 4000)

    def retype_at_playhead(self) -> None:
        lab = self._single_at_playhead("change")
        if lab is not None and self.retype_label(lab, other_class(lab.cls)):
            self.w.show_status(f"The label at frame {lab.frame} is now {other_class(lab.cls)} "
                               f"(was {lab.cls})", 4000)

    # ---- the marker's menu ---------------------------------------------------------------------
    def label_menu(self, label) -> QMenu:
        """The right-click menu of a label marker (built separately so tests can trigger it)."""
        w = self.w
        menu = QMenu(w)
        menu.setObjectName("label_menu")
        from pfes_core.labels import annotator_title

        title = menu.addAction(f"{label.cls} label at frame {label.frame} ({annotator_title(label.annotator)})")
        title.setEnabled(False)
        menu.addSeparator()
        for cls in CLASSES:
            if cls != label.cls:
                act = menu.addAction(f"Change to {cls}")
                act.setObjectName(f"retype_{cls}")
                act.triggered.connect(lambda _c=False, c=cls: self.retype_label(label, c))
        go = menu.addAction("Go to label")
        go.triggered.connect(lambda: w.seek(label.frame))
        delete = menu.addAction("Delete")
        delete.setObjectName("delete")
        delete.triggered.connect(lambda: self.delete_label(label))
        layers = getattr(w, "layers", None)
        mine = layers is None or layers.may_edit(label)
        for act in menu.actions():
            if act is not go and act is not title:
                act.setEnabled(not w.readonly() and mine)
        return menu

    def _popup_label_menu(self, label, pos: QPoint) -> None:
        self.w.open_menu = self.label_menu(label)
        self.w.open_menu.popup(pos)

    # ---- after every edit ----------------------------------------------------------------------
    def edit_applied(self, edit) -> None:
        """After every apply/undo/redo: redraw, recount, schedule the autosave."""
        w = self.w
        video = getattr(edit, "video", None)
        if isinstance(video, str) and video != w.current_video_id \
                and w.project is not None and video in w.project.videos:
            # Undo/redo of an edit made in another video: show it where it happens.
            w.set_video(video)
            frame = getattr(edit, "frame", None)
            if isinstance(frame, int):
                w.seek(frame)
        if w.current_video_id is not None and video in (None, w.current_video_id):
            w.timeline.set_labels(w.project.labels.for_video(w.current_video_id))
        elif w.current_video_id is not None and type(edit).__name__.startswith("Bulk"):
            w.timeline.set_labels(w.project.labels.for_video(w.current_video_id))
        w.video_list.refresh(video if isinstance(video, str) else None)
        w.display.update_frame_label()
        w.saver.mark_dirty()
        w.labels_changed.emit()


def install(window) -> LabelController:
    window.labelling = LabelController(window)
    return window.labelling
