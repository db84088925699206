"""Playback: play/pause at a chosen speed, faster/slower, and looping around a label or proposal.

The clock is wall time (``time.monotonic``), not timer ticks, so a slow frame decode drops
frames instead of slowing the video down.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QStyle

SPEEDS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0)
PLAY_TICK_MS = 15


class PlaybackController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.playing = False
        self.loop_range: tuple[int, int] | None = None
        self._loop_anchor = 0        # where L was pressed: stopping the loop comes back here
        self._t0 = 0.0
        self._f0 = 0
        self.timer = QTimer(self)
        self.timer.setInterval(PLAY_TICK_MS)
        self.timer.timeout.connect(self._tick)
        window.play_button.clicked.connect(self.toggle)
        for s in SPEEDS:
            window.speed_combo.addItem(f"{s:g}x", s)
        window.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        window.speed_combo.currentIndexChanged.connect(self._speed_changed)
        self._show_state()

    def install_actions(self, menu) -> None:
        w = self.w
        w.register_action("play.toggle", self.toggle, menu)
        w.register_action("play.faster", lambda: self.nudge_speed(+1), menu)
        w.register_action("play.slower", lambda: self.nudge_speed(-1), menu)
        w.register_action("play.loop", self.toggle_loop, menu)

    def toggle(self) -> None:
        if self.playing:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        w = self.w
        if w.current_video_id is None:
            return
        if self.loop_range is None and w.current_frame >= w.n_frames - 1:
            w.seek(0)
        self.playing = True
        self._t0 = time.monotonic()
        self._f0 = w.current_frame
        self.timer.start()
        self._show_state()

    def stop(self) -> None:
        self.playing = False
        self.timer.stop()
        self._show_state()

    def _show_state(self) -> None:
        """The button says what a click does. Qt's own media icons, not text symbols: a pause
        glyph is missing from common Linux fonts and showed as an empty box."""
        button = self.w.play_button
        icon = QStyle.StandardPixmap.SP_MediaPause if self.playing else QStyle.StandardPixmap.SP_MediaPlay
        button.setIcon(button.style().standardIcon(icon))
        button.setText("Pause" if self.playing else "Play")

    def speed(self) -> float:
        return float(self.w.speed_combo.currentData())

    def _speed_changed(self, *_args) -> None:
        if self.playing:   # restart the clock so the frame does not jump
            self._t0 = time.monotonic()
            self._f0 = self.w.current_frame

    def nudge_speed(self, delta: int) -> None:
        combo = self.w.speed_combo
        i = min(max(combo.currentIndex() + delta, 0), len(SPEEDS) - 1)
        combo.setCurrentIndex(i)
        self.w.show_status(f"Playback speed {SPEEDS[i]:g}x", 1500)

    def _tick(self) -> None:
        w = self.w
        elapsed = time.monotonic() - self._t0
        target = self._f0 + int(elapsed * w.fps * self.speed())
        if self.loop_range is not None:
            lo, hi = self.loop_range
            if target > hi:
                self._t0 = time.monotonic()
                self._f0 = lo
                target = lo
        elif target >= w.n_frames - 1:
            w.seek(w.n_frames - 1)
            self.stop()
            return
        if target != w.current_frame:
            w.seek(target)

    def clear_loop(self) -> None:
        self.loop_range = None

    def toggle_loop(self) -> None:
        """Loop around the proposal under the playhead, else the nearest label. Again: stop, back
        at the frame where the loop began, so the next Delete or T acts on what was looped (the
        loop leaves the playhead anywhere in the span, often off the label's frame)."""
        w = self.w
        if self.loop_range is not None:
            self.loop_range = None
            w.timeline.clear_loop()
            self.stop()
            w.seek(self._loop_anchor)
            w.show_status(f"Stopped looping; back at frame {self._loop_anchor}")
            return
        if w.current_video_id is None:
            return
        f = w.current_frame
        rng = what = None
        for iv in w.timeline.proposals:
            if iv.onset <= f <= iv.offset:
                rng, what = (iv.onset, iv.offset), f"the {iv.cls} proposal {iv.onset}-{iv.offset}"
                break
        if rng is None and w.project is not None:
            lab = w.project.labels.nearest(w.current_video_id, f)
            pad = max(5, int(round(0.5 * w.fps)))
            if lab is not None and abs(lab.frame - f) <= 2 * pad:
                rng = (max(lab.frame - pad, 0), min(lab.frame + pad, w.n_frames - 1))
                what = f"the {lab.cls} label at frame {lab.frame}"
        if rng is None:
            w.show_status("No label or proposal near the playhead to loop around")
            return
        self.loop_range = rng
        self._loop_anchor = f
        w.timeline.set_loop(*rng)
        w.seek(rng[0])
        self.start()
        w.show_status(f"Looping frames {rng[0]}-{rng[1]} around {what} (L again: stop)")


def install(window) -> PlaybackController:
    window.playback = PlaybackController(window)
    return window.playback
