"""What the frame view shows: the frame at the playhead, the difference overlay, landmarks,
the caption and the status-bar frame counter. Frames come from the FrameFetcher thread; a
cached frame is painted synchronously so stepping through the read-ahead never waits."""

from __future__ import annotations

from PySide6.QtCore import QObject

from . import dialogs


class FrameDisplay(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.diff_reference_frame: int | None = None
        self.features_for: str | None = None
        self.reported_failures: set[str] = set()
        f = window.fetcher
        f.frame_ready.connect(self._frame_ready)
        f.failed.connect(self.fetch_failed)
        f.video_opened.connect(self._video_opened)
        f.features_ready.connect(self._features_ready)
        for widget in (window.diff_mode, window.diff_back, window.diff_gain):
            signal = widget.currentIndexChanged if widget is window.diff_mode else widget.valueChanged
            signal.connect(self.options_changed)

    def install_actions(self, menu) -> None:
        w = self.w
        lm_act = w.register_action("view.landmarks", None, menu, checkable=True)
        lm_act.toggled.connect(w.landmarks_box.setChecked)
        w.landmarks_box.toggled.connect(lm_act.setChecked)
        lm_act.toggled.connect(self.options_changed)
        diff_act = w.register_action("view.difference", None, menu, checkable=True)
        diff_act.toggled.connect(w.diff_box.setChecked)
        w.diff_box.toggled.connect(diff_act.setChecked)
        diff_act.toggled.connect(self.options_changed)
        w.register_action("view.set_reference", self.set_diff_reference, menu)

    def video_switched(self) -> None:
        """A new video is current: forget the old one's reference frame and features."""
        self.diff_reference_frame = None
        self.features_for = None
        self.w.frame_view.set_features(None)
        if self.w.landmarks_box.isChecked():
            self.load_features()

    def reference_for(self, frame: int) -> int | None:
        w = self.w
        if not w.diff_box.isChecked():
            return None
        if w.diff_mode.currentData() == "fixed":
            return self.diff_reference_frame
        return max(frame - w.diff_back.value(), 0)

    def show_if_cached(self) -> bool:
        """Paint the current frame now if it (and its difference reference) is cached."""
        w = self.w
        frame = w.current_frame
        img = w.fetcher.cached(frame)
        if img is None:
            return False
        ref_index = self.reference_for(frame)
        ref = w.fetcher.cached(ref_index) if ref_index is not None else None
        if ref_index is not None and ref is None:
            return False
        fv = w.frame_view
        fv.diff_gain = float(w.diff_gain.value())
        fv.show_difference = w.diff_box.isChecked()
        fv.show_landmarks = w.landmarks_box.isChecked()
        fv.show_frame(frame, img, ref, caption=self.caption(frame))
        return True

    def show_current(self) -> None:
        w = self.w
        if w.current_video_id is None:
            return
        if self.show_if_cached():
            w.fetcher.hint(w.current_frame)      # keep the read-ahead going past this frame
        else:
            w.fetcher.request(w.current_frame, self.reference_for(w.current_frame))

    def _frame_ready(self, video_id: str, frame: int, _img) -> None:
        w = self.w
        if video_id == w.current_video_id and frame in (w.current_frame,
                                                         self.reference_for(w.current_frame)):
            self.show_if_cached()

    def _video_opened(self, video_id: str, n_frames: int, _fps: float, _size) -> None:
        w = self.w
        if video_id == w.current_video_id and n_frames != w.n_frames:
            w.show_status(f"{video_id}: the file now has {n_frames} frames, the project "
                          f"recorded {w.n_frames}; labels keep the project's numbering", 8000)

    def fetch_failed(self, video_id: str, message: str) -> None:
        w = self.w
        w.video_list.set_missing(video_id, message)
        if video_id == w.current_video_id:
            w.frame_view.clear(message)
        if video_id not in self.reported_failures:
            self.reported_failures.add(video_id)
            dialogs.error(w, "Cannot show video", message)

    def load_features(self) -> None:
        w = self.w
        if w.project is not None and w.current_video_id is not None \
                and self.features_for != w.current_video_id:
            self.features_for = w.current_video_id
            w.fetcher.request_features(w.project, w.current_video_id)

    def _features_ready(self, video_id: str, features) -> None:
        w = self.w
        if video_id != w.current_video_id:
            return
        w.frame_view.set_features(features)
        if features is None and w.landmarks_box.isChecked():
            w.show_status(f"No features for {video_id} yet (Model menu: extract features)", 6000)

    def options_changed(self, *_args) -> None:
        w = self.w
        if w.landmarks_box.isChecked():
            self.load_features()
        w.frame_view.show_landmarks = w.landmarks_box.isChecked()
        if w.current_video_id is not None and not self.show_if_cached():
            w.fetcher.request(w.current_frame, self.reference_for(w.current_frame))

    def set_diff_reference(self) -> None:
        """Use the current frame as the fixed reference of the difference overlay."""
        w = self.w
        self.diff_reference_frame = w.current_frame
        w.diff_mode.setCurrentIndex(w.diff_mode.findData("fixed"))
        w.diff_box.setChecked(True)
        w.show_status(f"Difference reference: frame {w.current_frame}")
        self.options_changed()

    def caption(self, frame: int) -> str:
        w = self.w
        here = []
        if w.project is not None and w.current_video_id is not None:
            here = [lab.cls for lab in w.project.labels.at(w.current_video_id, frame)]
        tag = f"   \u25c6 {' + '.join(here)} label" if here else ""
        return f"{w.current_video_id}   frame {frame} / {w.n_frames - 1}   " \
               f"{timecode(frame, w.fps)}{tag}"

    def update_frame_label(self) -> None:
        w = self.w
        if w.current_video_id is None:
            w.frame_label.setText("no video")
            return
        w.frame_label.setText(f"frame {w.current_frame} / {w.n_frames - 1}  "
                              f"{timecode(w.current_frame, w.fps)}")
        w.frame_view.set_caption(self.caption(w.current_frame))


def timecode(frame: int, fps: float) -> str:
    seconds = frame / fps if fps else 0.0
    minutes, sec = divmod(seconds, 60.0)
    return f"{int(minutes):02d}:{sec:05.2f}"


def install(window) -> FrameDisplay:
    window.display = FrameDisplay(window)
    return window.display
