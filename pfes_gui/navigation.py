"""Navigation: which video and which frame is current, stepping, go-to, and jumps between
labels and proposals. Every move ends in ``seek``, which updates the playhead, the frame view
and the frame counter and emits ``frame_changed``."""

from __future__ import annotations

import bisect
import time

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from pfes_core.errors import PfesError

from . import dialogs

# Holding an arrow key: after this many auto-repeats the step grows (1 -> 2 -> 5 -> 10 frames).
ACCEL_STEPS = ((40, 10), (25, 5), (10, 2), (0, 1))
# A step action counts as the key's own auto-repeat only right after that key event.
KEY_EVENT_FRESH_S = 0.25
SAME_INSTANT_MS = 2         # an X auto-repeat release+press pair shares its timestamp
GOTO_MAX = 2**31 - 1        # the Go-to box's bound (a QSpinBox int); past the video's end is clamped


class NavigationController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self._step_repeat = 0
        self._step_last = 0
        self._last_key = (0.0, False)     # (time, auto-repeat?) of the latest key press
        self._last_release = (0, 0)       # (key, X timestamp) of the latest key release
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        window.timeline.frame_clicked.connect(lambda f: self.seek(f))
        window.video_list.video_selected.connect(self.set_video)

    def install_actions(self, menu) -> None:
        w = self.w
        w.register_action("nav.next_frame", lambda: self.step(+1, 1), menu)
        w.register_action("nav.prev_frame", lambda: self.step(-1, 1), menu)
        w.register_action("nav.next_frame_10", lambda: self.step(+1, 10), menu)
        w.register_action("nav.prev_frame_10", lambda: self.step(-1, 10), menu)
        w.register_action("nav.first_frame", lambda: self.seek(0), menu)
        w.register_action("nav.last_frame", lambda: self.seek(w.n_frames - 1), menu)
        w.register_action("nav.goto", self.goto_dialog, menu)
        menu.addSeparator()
        w.register_action("nav.next_proposal", lambda: self.jump_proposal(+1), menu)
        w.register_action("nav.prev_proposal", lambda: self.jump_proposal(-1), menu)
        w.register_action("nav.next_unreviewed", self.jump_unreviewed, menu)
        menu.addSeparator()
        w.register_action("nav.next_video", lambda: self.switch_video(+1), menu)
        w.register_action("nav.prev_video", lambda: self.switch_video(-1), menu)

    # ---- video ---------------------------------------------------------------------------------
    def set_video(self, video_id: str) -> None:
        """Show another video of the project at the frame the annotator last had in it (frame 0
        the first time); overlays of the old one are cleared."""
        w = self.w
        if w.project is None or video_id not in w.project.videos:
            return
        if video_id == w.current_video_id:
            return
        w.playback.stop()
        w.playback.clear_loop()
        w.session.remember_frame()
        record = w.project.videos[video_id]
        w.current_video_id = video_id
        w.n_frames = int(record.n_frames)
        w.fps = float(record.fps) or 30.0
        w.current_frame = min(max(w.session.last_frame(video_id), 0), max(w.n_frames - 1, 0))
        w.timeline.set_video(w.n_frames, w.fps)
        w.timeline.set_labels(w.project.labels.for_video(video_id))
        w.timeline.set_reference(w.project.reference.get(video_id, []))
        w.frame_view.clear(f"Opening {video_id}...")
        try:
            media = w.project.video_path(video_id)
        except PfesError as exc:
            w.display.video_switched()
            w.display.fetch_failed(video_id, str(exc))
            return
        w.fetcher.set_video(video_id, str(media), record.step, record.fps)
        w.fetcher.request(w.current_frame)
        w.timeline.set_playhead(w.current_frame)
        w.display.video_switched()
        w.video_list.select(video_id)
        w.display.update_frame_label()
        w.video_changed.emit(video_id)

    def switch_video(self, delta: int) -> None:
        """PgDn / PgUp: the next / previous video in the list's order; stops at either end."""
        ids = self.w.video_list.video_ids()
        if not ids:
            return
        if self.w.current_video_id not in ids:
            self.set_video(ids[0])
            return
        i = ids.index(self.w.current_video_id) + delta
        if not 0 <= i < len(ids):
            self.w.show_status("This is the last video" if delta > 0 else "This is the first video")
            return
        self.set_video(ids[i])

    def go_to_frame(self, video_id: str, frame: int) -> None:
        """Show ``frame`` of ``video_id`` (switching video if needed) and put the playhead there."""
        if video_id != self.w.current_video_id:
            self.set_video(video_id)
        if video_id == self.w.current_video_id:
            self.seek(frame)

    # ---- frames --------------------------------------------------------------------------------
    def seek(self, frame: int) -> None:
        """Move the playhead in the current video; shows the frame at once when it is cached."""
        w = self.w
        if w.current_video_id is None:
            return
        frame = int(min(max(int(frame), 0), max(w.n_frames - 1, 0)))
        w.current_frame = frame
        w.session.remember_frame()
        w.timeline.set_playhead(frame)
        w.display.show_current()
        w.display.update_frame_label()
        w.frame_changed.emit(frame)

    def eventFilter(self, obj, event) -> bool:
        """Note whether the latest key press is the keyboard's auto-repeat (a held key).

        A shortcut fires from the ShortcutOverride that precedes the key press, so both are
        watched. The flag comes from the window system, not from how fast keys come, so fast
        taps stay taps. X sends a held key as release+press pairs with one timestamp, and Qt
        does not flag every pair under load; a press at the very millisecond of the same key's
        release is therefore a repeat too (a finger cannot release and press that fast).
        """
        kind = event.type()
        if kind == QEvent.Type.KeyRelease:
            self._last_release = (event.key(), event.timestamp())
        elif kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            key, released_at = self._last_release
            same_instant = (event.timestamp() > 0 and key == event.key()
                            and 0 <= event.timestamp() - released_at <= SAME_INSTANT_MS)
            self._last_key = (time.monotonic(), event.isAutoRepeat() or same_instant)
        return False

    def _held(self) -> bool:
        t, auto_repeat = self._last_key
        self._last_key = (0.0, False)
        return auto_repeat and time.monotonic() - t < KEY_EVENT_FRESH_S

    def step(self, sign: int, base: int) -> None:
        """Arrow keys: a tap (or a menu click) moves exactly ``base`` frames; only the key's
        real auto-repeat (the key held down) accelerates, after ACCEL_STEPS repeats."""
        held = self._held() and self._step_last == sign * base
        self._step_repeat = self._step_repeat + 1 if held else 0
        self._step_last = sign * base
        factor = next(f for n, f in ACCEL_STEPS if self._step_repeat >= n) if base == 1 else 1
        self.w.playback.stop()
        self.seek(self.w.current_frame + sign * base * factor)

    def goto_dialog(self) -> None:
        w = self.w
        if w.current_video_id is None:
            return
        last = w.n_frames - 1
        # The box takes any frame number: bounded at the last frame, it refused the digits that
        # went past it, so a typed 9999 silently went to frame 99. Past the end is said instead.
        frame = dialogs.get_int(w, "Go to frame", f"Frame (0 - {last}):", w.current_frame, 0,
                                GOTO_MAX)
        if frame is None:
            return
        self.seek(frame)
        if frame > last:
            w.show_status(f"Frame {frame} is past the end of {w.current_video_id} "
                          f"(frames 0-{last}): at the last frame, {last}")

    # ---- jumps ---------------------------------------------------------------------------------
    def jump_label(self, direction: int) -> None:
        w = self.w
        if w.project is None or w.current_video_id is None:
            return
        frames = sorted({lab.frame for lab in w.project.labels.for_video(w.current_video_id)})
        target = neighbour(frames, w.current_frame, direction)
        if target is None:
            w.show_status("No more labels in this direction")
        else:
            self.seek(target)

    def jump_proposal(self, direction: int) -> None:
        w = self.w
        props = w.timeline.proposals
        apexes = sorted(iv.apex for iv in props)
        target = neighbour(apexes, w.current_frame, direction)
        if target is None:
            w.show_status("No more proposals in this direction" if props else
                          "No proposals for this video (Model menu: spot)")
        else:
            self.seek(target)

    def jump_unreviewed(self) -> None:
        """Next proposal (by apex, wrapping around) that needs a look: no decision in this run or
        an earlier one, no label of its class inside; proposals sharing an apex come one after
        another (Timeline.next_unreviewed)."""
        w = self.w
        target = w.timeline.next_unreviewed(w.current_frame)
        if target is None:
            w.show_status("Every proposal of this video is reviewed, decided earlier or labelled"
                          if w.timeline.proposals else "No proposals for this video")
            return
        self.seek(target.apex)
        w.timeline.focus_proposal(target)


def neighbour(sorted_frames: list[int], frame: int, direction: int) -> int | None:
    """The next (direction > 0) or previous value strictly beyond ``frame``, or None."""
    if direction > 0:
        i = bisect.bisect_right(sorted_frames, frame)
        return sorted_frames[i] if i < len(sorted_frames) else None
    i = bisect.bisect_left(sorted_frames, frame)
    return sorted_frames[i - 1] if i > 0 else None


def install(window) -> NavigationController:
    window.nav = NavigationController(window)
    return window.nav
