"""Decode video frames on a worker thread, latest request wins, with a read-ahead frame cache.

Why: seeking a long video can take tens of milliseconds and opening one (building the pts index)
seconds; doing that on the GUI thread freezes the app. The GUI asks for frame i; if a newer
request arrives before the worker gets to it, the old one is dropped. Frames already decoded
(including the ones read ahead in the direction of travel) are served straight from ``cached``
on the GUI thread, so stepping shows the frame without any thread hop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, Signal

from pfes_core.errors import PfesError

READ_AHEAD = 12
CACHE_BYTES = 256 * 1024 * 1024
READER_CACHE_MB = 128      # the reader keeps its own LRU around seek targets


class FrameCache:
    """A thread-safe LRU of decoded frames keyed by (video_id, frame), bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, video_id: str, frame: int) -> np.ndarray | None:
        with self._lock:
            img = self._items.get((video_id, frame))
            if img is not None:
                self._items.move_to_end((video_id, frame))
            return img

    def put(self, video_id: str, frame: int, img: np.ndarray) -> None:
        key = (video_id, frame)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return
            self._items[key] = img
            self._bytes += img.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


class FrameFetcher(QObject):
    """Owns one video reader on a daemon thread; results come back as queued Qt signals."""

    video_opened = Signal(str, int, float, object)   # video_id, n_frames, fps, (w, h)
    frame_ready = Signal(str, int, object)           # video_id, frame, RGB uint8 (H, W, 3)
    features_ready = Signal(str, object)             # video_id, Features or None
    failed = Signal(str, str)                        # video_id, one-line message for the user

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.cache = FrameCache()
        self._cond = threading.Condition()
        self._stop = False
        self._open: tuple[str, str, int, float | None] | None = None
        self._request: list[int] | None = None      # frames wanted now, first is the main one
        self._features: tuple[object, str] | None = None
        self._hint: int | None = None
        self._direction = 1
        self._last_frame = -1
        self._reader = None
        self._video_id: str | None = None
        self._n_frames = 0
        self._thread = threading.Thread(target=self._run, name="pfes-frame-fetcher", daemon=True)
        self._thread.start()

    # -- GUI-thread API -------------------------------------------------------------------
    @property
    def video_id(self) -> str | None:
        return self._video_id

    def set_video(self, video_id: str, path: str, step: int = 1, fps: float | None = None) -> None:
        """Open another video (on the worker); pending frame requests are dropped.
        ``fps`` is the project's rate for a folder of images (folders store none)."""
        with self._cond:
            self._open = (video_id, str(path), int(step), fps)
            self._request = None
            self._cond.notify()

    def cached(self, frame: int) -> np.ndarray | None:
        """The decoded frame if it is in the cache already (no decoding, no waiting)."""
        if self._video_id is None:
            return None
        return self.cache.get(self._video_id, frame)

    def request(self, *frames: int) -> None:
        """Ask for frames (e.g. the current one and a reference); replaces any pending request."""
        wanted = [int(f) for f in frames if f is not None]
        if not wanted:
            return
        with self._cond:
            if wanted[0] != self._last_frame and self._last_frame >= 0:
                self._direction = 1 if wanted[0] > self._last_frame else -1
            self._last_frame = wanted[0]
            self._request = wanted
            self._cond.notify()

    def hint(self, frame: int) -> None:
        """The GUI showed ``frame`` from the cache: keep reading ahead from there (no answer)."""
        with self._cond:
            if frame != self._last_frame and self._last_frame >= 0:
                self._direction = 1 if frame > self._last_frame else -1
            self._last_frame = int(frame)
            self._hint = int(frame)
            self._cond.notify()

    def request_features(self, project, video_id: str) -> None:
        """Load the features file of a video off the GUI thread (answer: features_ready)."""
        with self._cond:
            self._features = (project, video_id)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=2.0)
        self._close_reader()

    # -- worker thread ----------------------------------------------------------------------
    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and hasattr(reader, "close"):
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - closing a broken reader must not kill the worker
                pass

    def _run(self) -> None:
        read_ahead: list[int] = []
        while True:
            with self._cond:
                while not (self._stop or self._open or self._request or self._features
                           or read_ahead or self._hint is not None):
                    self._cond.wait()
                if self._stop:
                    return
                job_open, self._open = self._open, None
                job_req, self._request = self._request, None
                job_feat, self._features = self._features, None
                job_hint, self._hint = self._hint, None
                direction = self._direction
            if job_open is not None:
                read_ahead = []
                self._do_open(*job_open)
            if job_req is not None and self._reader is not None:
                for frame in job_req:
                    self._serve(frame, emit=True)
                base = job_req[0]
                read_ahead = [base + direction * k for k in range(1, READ_AHEAD + 1)]
            elif job_hint is not None and self._reader is not None:
                read_ahead = [job_hint + direction * k for k in range(1, READ_AHEAD + 1)]
                read_ahead = [f for f in read_ahead if self.cache.get(self._video_id, f) is None]
            if job_feat is not None:
                self._do_features(*job_feat)
            if read_ahead and job_req is None and self._reader is not None:
                # Only one read-ahead frame per pass, so a new request is seen at once.
                self._serve(read_ahead.pop(0), emit=False)
            elif self._reader is None:
                read_ahead = []

    def _do_open(self, video_id: str, path: str, step: int, fps: float | None) -> None:
        self._close_reader()
        self._video_id = None
        try:
            from pathlib import Path

            from pfes_core.video import open_video  # lazy: pulls in PyAV (and maybe cv2)

            folder_fps = fps if fps and Path(path).is_dir() else None
            reader = open_video(path, step=step, fps=folder_fps, cache_mb=READER_CACHE_MB)
            n_frames = int(reader.n_frames)
        except PfesError as exc:
            self.failed.emit(video_id, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - any decoder failure is shown, not raised
            self.failed.emit(video_id, f"cannot open video {path}: {exc}")
            return
        self._reader = reader
        self._n_frames = n_frames
        self._video_id = video_id
        self.video_opened.emit(video_id, n_frames, float(reader.fps), tuple(reader.size))

    def _serve(self, frame: int, emit: bool) -> None:
        video_id = self._video_id
        if video_id is None or not 0 <= frame < self._n_frames:
            return
        img = self.cache.get(video_id, frame)
        if img is None:
            try:
                img = np.ascontiguousarray(self._reader.get(frame))
            except Exception as exc:  # noqa: BLE001
                if emit:
                    self.failed.emit(video_id, f"cannot decode frame {frame}: {exc}")
                return
            self.cache.put(video_id, frame, img)
        if emit:
            self.frame_ready.emit(video_id, frame, img)

    def _do_features(self, project, video_id: str) -> None:
        try:
            from pfes_core.features import load_features

            feats = load_features(project, video_id)
        except PfesError as exc:
            self.failed.emit(video_id, str(exc))
            feats = None
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(video_id, f"cannot read the features of {video_id}: {exc}")
            feats = None
        self.features_ready.emit(video_id, feats)
