"""Non-learned baseline: thresholded ROI motion magnitude through the same proposal pipeline.

It gives the accuracy benchmark a floor: anything learned must beat "spot where the face moves".

Intensity: per frame, the motion magnitude of each of the 10 non-nose ROIs (the nose ROIs carry
the head motion that was already subtracted), averaged within the three facial groups (left
brow, right brow, mouth) and maxed over groups, because expressions are local; smoothed with a
moving average of about 0.3 s (an expression's onset and offset motions are short pulses, the
window merges them into one bump); then normalised per video, 0 at the median (the resting
face) and 1 at the 99th percentile, clipped to [0, 1].

Apex scores, from duration alone (the baseline has no class model): every maximal run of frames
with intensity above `CLASS_LEVEL` is ME when it is no longer than the preset's ME maximum, else
MaE; its frames get apex score 1 for that class and 0 for the other. Frames outside such runs get
0 for both, so the class gate in `spotting.propose` drops them.

A label-free first pass (`project_baseline`): before any model is trained, the same proposals
for every video with features let the annotator start reviewing (and so labelling) at once.
Their decisions are kept under the reserved run id `BASELINE_RUN_ID`; the proposals are a pure
function of the features and the project's spotting preset, so recomputing them finds the same
proposals and their decisions again.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .errors import FeatureError
from .features import spotting_motion
from .spotting import ME_RULES_OFF, PRESETS, SpottingPreset, _runs, preset_for_fps, project_preset, propose
from .types import Interval

#: Run id under which review decisions on the motion proposals are stored (no run folder).
BASELINE_RUN_ID = "motion-baseline"
#: How the GUI and exports name where these proposals come from.
BASELINE_ORIGIN = "motion baseline (no model)"

#: ROI order of Features.roi_vectors (METHOD.md 1.5): brow L 0-2, brow R 3-5, nose 6-7, mouth 8-11.
GROUPS = ((0, 1, 2), (3, 4, 5), (8, 9, 10, 11))
SMOOTH_SECONDS = 0.3
CLASS_LEVEL = 0.3


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or x.size == 0:
        return x
    pad = width // 2
    padded = np.pad(x, (pad, width - 1 - pad), mode="edge")
    csum = np.concatenate(([0.0], np.cumsum(padded)))
    return (csum[width:] - csum[:-width]) / width


def motion_intensity(roi_vectors, fps: float | None = None) -> np.ndarray:
    """(T, 12, 2) ROI motion vectors -> (T,) intensity in [0, 1] (see module docstring)."""
    v = np.asarray(roi_vectors, dtype=np.float64)
    if v.ndim != 3 or v.shape[1:] != (12, 2):
        raise FeatureError(f"ROI vectors must be (T, 12, 2), got {v.shape}")
    if v.shape[0] == 0:
        return np.zeros(0)
    mag = np.nan_to_num(np.linalg.norm(v, axis=2))
    m = np.max(np.stack([mag[:, list(g)].mean(axis=1) for g in GROUPS], axis=1), axis=1)
    width = max(1, int(round(SMOOTH_SECONDS * (fps or 30.0))))
    s = _moving_average(m, width)
    lo = float(np.median(s))
    hi = float(np.percentile(s, 99))
    if hi - lo <= 1e-12:
        return np.zeros_like(s)
    return np.clip((s - lo) / (hi - lo), 0.0, 1.0)


def duration_apex(intensity: np.ndarray, preset: SpottingPreset) -> np.ndarray:
    """(T,) intensity -> (T, 2) apex scores from the length of the run each frame belongs to."""
    a = np.asarray(intensity, dtype=np.float64)
    q = np.zeros((a.size, 2))
    starts, ends = _runs(a > CLASS_LEVEL)
    if starts.size == 0:
        return q
    lengths = ends - starts + 1
    is_me = lengths <= preset.me_length[1]
    cls_idx = np.where(is_me, 1, 0)
    run_of = np.repeat(np.arange(starts.size), lengths)
    first = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    frames = np.arange(lengths.sum()) - np.repeat(first, lengths) + np.repeat(starts, lengths)
    q[frames, cls_idx[run_of]] = 1.0
    return q


def baseline_predict(roi_vectors, preset: SpottingPreset | None = None, video: str = "",
                     fps: float | None = None) -> tuple[np.ndarray, np.ndarray, list[Interval]]:
    """(intensity (T,), apex (T, 2), proposals) for one video, using the spotting pipeline (with
    the same ROI motion to join MaE onsets to their releases). The ME rules of `me_return` are
    left out: they judge the network's curve, which spans a whole ME, while this curve is the
    speed of the face, on which an ME's onset and return are two one-way bumps. ME lengths keep the
    reference's order (the floor stays as measured), and no head track is given."""
    preset = replace(preset or PRESETS["default"], **ME_RULES_OFF)
    a = motion_intensity(roi_vectors, fps)
    q = duration_apex(a, preset)
    return a, q, propose(a, q, preset, video=video, fps=fps, motion=spotting_motion(roi_vectors))


def project_baseline(project, video_ids=None) -> tuple[dict, list[str]]:
    """Motion proposals for the project's videos that have features, with the project's
    spotting preset scaled to each video's frame rate (as `pfes spot` does).

    Returns ({video: runs.Predictions}, ids of videos skipped for lack of features)."""
    from .features import load_features
    from .runs import Predictions

    preset = project_preset(project.settings)
    out, skipped = {}, []
    for vid in list(video_ids if video_ids is not None else project.videos):
        record = project.videos.get(vid)
        feats = load_features(project, vid) if record is not None else None
        if feats is None:
            skipped.append(vid)
            continue
        fps = float(record.fps) / max(int(record.step or 1), 1) if record.fps else None
        a, q, props = baseline_predict(feats.roi_vectors, preset_for_fps(preset, fps), vid, fps)
        out[vid] = Predictions(a, q, props)
    return out, skipped


__all__ = ["motion_intensity", "duration_apex", "baseline_predict", "project_baseline",
           "BASELINE_RUN_ID", "BASELINE_ORIGIN", "GROUPS"]
