"""Facial landmarks: MediaPipe Tasks FaceLandmarker (478-point mesh) mapped to the 68-point layout.

Why 68 points: METHOD.md and the reference place the motion ROIs at 68-point (iBUG/dlib) indices.
Convention here: **zero-based** 68-point indices, so 0..16 jaw (image left to right), 17..21 the
brow on the image's left (the subject's right), 22..26 the other brow, 27..30 nose bridge to tip,
31..35 nostrils, 36..41 and 42..47 eyes (36 and 45 outer corners), 48..59 outer lips (48, 54
corners, 51 top, 57 bottom), 60..67 inner lips. The ROI list 18,19,20 / 23,24,25 / 28,30 /
48,51,54,57 is read in this convention.

The model bundle is vendored (resources/face_landmarker.task, Apache-2.0); nothing is downloaded.
Coordinates are in pixels of the frame given, (x, y), float32.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

import numpy as np

from .errors import CancelledError, NoFaceError
from .resources import resource_path

# 68-point index -> MediaPipe face-mesh index. Chosen on the canonical mesh so that each mesh
# vertex sits where the iBUG annotation puts the point (checked by tests/test_face.py on real
# faces: ordering, symmetry, and brows above eyes above nose above mouth above chin).
MESH_TO_68 = np.array([
    # jaw 0..16, from the image-left ear to the image-right ear through the chin (8)
    127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,
    # brow 17..21 (image left), outer -> inner
    70, 63, 105, 66, 107,
    # brow 22..26 (image right), inner -> outer
    336, 296, 334, 293, 300,
    # nose bridge 27..30, top -> tip
    168, 197, 5, 4,
    # nostrils 31..35, image left -> right
    98, 97, 2, 326, 327,
    # eye 36..41 (image left): outer corner, upper lid x2, inner corner, lower lid x2
    33, 160, 158, 133, 153, 144,
    # eye 42..47 (image right): inner corner, upper lid x2, outer corner, lower lid x2
    362, 385, 387, 263, 373, 380,
    # outer lips 48..59: left corner, upper lip to the right corner, lower lip back
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    # inner lips 60..67
    78, 81, 13, 311, 308, 402, 14, 178,
], dtype=np.int64)
assert MESH_TO_68.shape == (68,)

# The 12 motion ROIs of METHOD.md section 1, zero-based 68-point indices.
ROI_LANDMARKS = (18, 19, 20, 23, 24, 25, 28, 30, 48, 51, 54, 57)
NOSE_ROIS = (6, 7)   # positions of 28 and 30 in ROI_LANDMARKS
NON_NOSE_ROIS = tuple(k for k in range(len(ROI_LANDMARKS)) if k not in NOSE_ROIS)


def _create_landmarker(video_mode: bool):
    # MediaPipe's C++ side logs INFO/WARNING lines to stderr that would garble progress bars.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(resource_path("face_landmarker.task"))),
        running_mode=vision.RunningMode.VIDEO if video_mode else vision.RunningMode.IMAGE,
        num_faces=1,
        min_face_detection_confidence=0.5,
        min_face_presence_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    return vision.FaceLandmarker.create_from_options(options)


def _to_68(result, width: int, height: int) -> np.ndarray | None:
    if not result.face_landmarks:
        return None
    mesh = result.face_landmarks[0]
    pts = np.array([(mesh[k].x, mesh[k].y) for k in MESH_TO_68], dtype=np.float32)
    pts[:, 0] *= width
    pts[:, 1] *= height
    return pts


class LandmarkTracker:
    """One FaceLandmarker in VIDEO mode (it tracks the face between frames, faster than detection).

    Timestamps must increase; `detect` derives them from the frame index and the frame rate.
    """

    def __init__(self, fps: float = 30.0):
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self._landmarker = _create_landmarker(video_mode=True)
        self._last_ms = -1

    def detect(self, rgb: np.ndarray, index: int) -> np.ndarray | None:
        """(68, 2) pixel landmarks of frame number `index`, or None when no face is found."""
        import mediapipe as mp

        ms = max(int(round(index * 1000.0 / self.fps)), self._last_ms + 1)
        self._last_ms = ms
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._landmarker.detect_for_video(image, ms)
        return _to_68(result, rgb.shape[1], rgb.shape[0])

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> "LandmarkTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def detect_landmarks_image(rgb: np.ndarray) -> np.ndarray | None:
    """(68, 2) float32 pixel landmarks of the most prominent face in a still RGB image, or None.

    Uses IMAGE mode with a landmarker made and closed per call: still photos are rare (face
    crops, tests), and a landmarker left open until interpreter exit fails in its finaliser.
    """
    import mediapipe as mp

    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    landmarker = _create_landmarker(video_mode=False)
    try:
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
    finally:
        landmarker.close()
    return _to_68(result, rgb.shape[1], rgb.shape[0])


def fill_missing(landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Fill frames without a face by linear interpolation between found neighbours (ends: nearest).

    Why: a blink or a hand can hide the face for a few frames; the motion pipeline needs a
    position on every frame, and `face_found` keeps the information that these are guesses.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32).copy()
    found = np.asarray(found, dtype=bool)
    if found.all():
        return landmarks
    if not found.any():
        raise ValueError("no frame has a face")
    t = np.arange(len(found))
    known = t[found]
    flat = landmarks.reshape(len(found), -1)
    for c in range(flat.shape[1]):
        flat[~found, c] = np.interp(t[~found], known, flat[found, c])
    return flat.reshape(landmarks.shape)


def track_frames(frames: Iterable[np.ndarray], n_frames: int, fps: float, name: str = "video",
                 every: int = 1, progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of a frame sequence: (T, 68, 2) float32 (gaps interpolated) and found (T,) bool.

    `every` > 1 runs the landmarker on every `every`-th frame only and interpolates the rest (a
    speed option; landmarks move little between adjacent frames). Raises NoFaceError naming
    `name` when no frame has a face.
    """
    landmarks = np.zeros((n_frames, 68, 2), dtype=np.float32)
    found = np.zeros(n_frames, dtype=bool)
    detected = np.zeros(n_frames, dtype=bool)
    count = 0
    with LandmarkTracker(fps) as tracker:
        for i, rgb in enumerate(frames):
            if i >= n_frames:
                break
            if cancel is not None and cancel():
                raise CancelledError("landmark tracking cancelled")
            if i % every == 0 or i == n_frames - 1:
                pts = tracker.detect(rgb, i)
                detected[i] = True
                if pts is not None:
                    landmarks[i] = pts
                    found[i] = True
            count = i + 1
            if progress is not None:
                progress(count, n_frames)
    if count < n_frames:
        n_frames = count
        landmarks, found, detected = landmarks[:count], found[:count], detected[:count]
    if not found.any():
        raise NoFaceError(f"no face found in any frame of {name}")
    if every > 1:
        # Skipped frames count as found when both detected neighbours found the face.
        idx = np.arange(n_frames)
        prev_ok = np.maximum.accumulate(np.where(detected, idx, -1))
        nxt = np.where(detected, idx, n_frames)
        next_ok = np.minimum.accumulate(nxt[::-1])[::-1]
        skipped = ~detected
        ok = np.zeros(n_frames, dtype=bool)
        ok[skipped] = found[prev_ok[skipped].clip(0)] & found[next_ok[skipped].clip(max=n_frames - 1)]
        landmarks = fill_missing(landmarks, found)
        found = found | ok
        return landmarks, found
    return fill_missing(landmarks, found), found
