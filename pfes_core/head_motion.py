"""Drop an ME proposal while the head moves: a quick head turn is not a micro-expression.

Why: the ROI flow has the nose patch's motion subtracted (`pfes_core.motion`), but a turn of the
head is a rotation, and what is left of it after that subtraction is a brief ROI movement of
micro-expression length that the intensity model scores like one. On the synthetic benchmark most
false ME proposals on no expression sat on a quick head turn or a blink; over true ME proposals the
face's rigid points (nose bridge and tip, eye corners) moved a median 0.003 eye distances, over the
head-turn ones 0.02-0.05 (benchmarks/RESULTS.md, "ME proposals on a head turn").

The head track is the mean position of those rigid landmarks per frame, in eye distances (the
video's median distance between the outer eye corners), averaged over 5 frames. An ME proposal is
dropped when, from two frames before its onset to two frames after its offset, the track moves
further than ``preset.me_max_head_motion`` from where it started, or further than the video's
landmark jitter allows, whichever is more. Landmarks jitter more on real recordings than on the
synthetic faces: with independent jitter of 0.01 eye distances per point and frame added to the
benchmark's landmarks, the raw track dropped 33 of 47 true ME proposals, the smoothed track with
the jitter margin 1; at 0.02, 46 and 1 (it still dropped 26 of 77 false ones). MaE proposals are
untouched: a long expression often comes with a head movement.
"""

from __future__ import annotations

import numpy as np

from .types import MAE, Interval

#: 68-point indices of points an expression does not move: nose bridge and tip, outer and inner eye
#: corners.
RIGID_LANDMARKS = (27, 28, 29, 30, 36, 39, 42, 45)
#: Frames looked at before the onset and after the offset: the model's 17-frame window blurs a
#: movement's edges by a few frames, so a turn may begin just before the proposal does.
PAD = 2
#: Frames the head track is averaged over: a quick turn (3-7 frames) moves the head and leaves it
#: there, which averaging keeps, while frame-to-frame landmark jitter shrinks.
SMOOTH = 5
#: The head must move at least this many times the median frame-to-frame step of the smoothed
#: track (for a still face's Gaussian jitter, about 8 standard deviations of that step) before a
#: proposal is dropped.
JITTER_MARGIN = 12.0


def eye_distance(landmarks) -> float:
    """The video's median distance between the outer eye corners (36, 45), in landmark units; 0
    when there is none to measure."""
    lm = np.asarray(landmarks, dtype=np.float64)
    scale = float(np.median(np.linalg.norm(lm[:, 45] - lm[:, 36], axis=1))) if len(lm) else 0.0
    return scale if np.isfinite(scale) and scale > 0 else 0.0


def head_track(landmarks) -> np.ndarray:
    """(T, 2) mean rigid-landmark position per frame, in eye distances, from (T, 68, 2) landmarks."""
    lm = np.asarray(landmarks, dtype=np.float64)
    scale = eye_distance(lm)
    if scale == 0.0:
        return np.zeros((len(lm), 2))
    return lm[:, list(RIGID_LANDMARKS)].mean(axis=1) / scale


def smoothed(track) -> np.ndarray:
    """The track averaged over `SMOOTH` centred frames (ends repeated)."""
    t = np.asarray(track, dtype=np.float64)
    if len(t) < 2:
        return t
    half = SMOOTH // 2
    padded = np.pad(t, ((half, half), (0, 0)), mode="edge")
    csum = np.vstack([np.zeros((1, t.shape[1])), np.cumsum(padded, axis=0)])
    return (csum[SMOOTH:] - csum[:-SMOOTH]) / SMOOTH


def jitter_floor(track) -> float:
    """`JITTER_MARGIN` x the median frame-to-frame step of a smoothed track (the larger axis)."""
    if len(track) < 2:
        return 0.0
    steps = np.abs(np.diff(track, axis=0))
    return JITTER_MARGIN * float(np.nanmedian(steps, axis=0).max())


def head_displacement(track: np.ndarray, onset: int, offset: int) -> float:
    """How far the head track moves, within `PAD` frames around [onset, offset], from its first frame."""
    lo, hi = max(onset - PAD, 0), min(offset + PAD, len(track) - 1)
    seg = track[lo:hi + 1]
    moved = np.linalg.norm(seg - seg[0], axis=1) if len(seg) else np.zeros(0)
    moved = moved[np.isfinite(moved)]
    return float(moved.max()) if moved.size else 0.0


def drop_me_on_head_motion(proposals: list[Interval], track, preset) -> list[Interval]:
    """`proposals` without the ME proposals over which the head moved more than the preset allows."""
    if preset.me_max_head_motion is None or track is None:
        return list(proposals)
    t = smoothed(track)
    limit = max(preset.me_max_head_motion, jitter_floor(t))
    return [p for p in proposals if p.cls == MAE or head_displacement(t, p.onset, p.offset) <= limit]


__all__ = ["RIGID_LANDMARKS", "PAD", "SMOOTH", "JITTER_MARGIN", "eye_distance", "head_track", "smoothed", "jitter_floor",
           "head_displacement", "drop_me_on_head_motion"]
