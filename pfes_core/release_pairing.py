"""Join a macro-expression's onset and its release into one proposal.

Why: the network scores each frame from the motion inside its own 17-frame window. Around a
macro-expression's apex the face slows, stops (or holds) and turns back, so the windows there see
little motion and the intensity falls back to about zero between the onset movement and the
release movement. A long MaE then shows as two bumps, and the proposal on the first bump ends at
the apex: on the synthetic benchmark most missed MaE had such a proposal, about 0.44 x the
expression's length, with the onset right and the offset early (benchmarks/RESULTS.md, "Onset
and release").

The release is recognised by its motion: the face returns, so the net displacement of the ROIs
over the release is opposite to the net displacement over the onset. Two separate expressions
each end where they started (no net displacement over a whole one), which is what keeps this
from joining neighbours. The rule, per MaE proposal P (in onset order):

1. The first run of ``intensity > preset.release_threshold`` of at least `MIN_RELEASE_FRAMES`
   frames that starts within ``preset.release_gap`` frames after P's offset; joined, the two must
   stay within the MaE length range.
2. P is "open": its net displacement is at least ``preset.release_min_openness`` of the path the
   ROIs travelled over it (an expression that already returned inside P has nothing to release).
3. The cosine between P's net displacement and the run's is below ``preset.release_max_cos``.

Then P's offset moves to the run's end, and proposals of either class lying inside the run are
dropped (the release claimed as a second expression). Onset, apex and score stay P's. A joined
proposal that now duplicates another MaE proposal (IoU >= ``preset.nms_iou``) goes through the
final NMS again: the higher score stays.

`motion` is the per-frame ROI motion of the video (`features.spotting_motion`, (T, R, 2) or
flattened to (T, 2R): the motion from frame t-1 to t); `spotting.propose` checks that it has T
frames and replaces NaN before either rule reads it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .spotting import _runs, greedy_nms
from .types import MAE, Interval

#: Shortest intensity run taken as a release (shorter ones are flicker, not a movement).
MIN_RELEASE_FRAMES = 5
#: Frames of slack when deciding that a proposal lies inside the release run.
INSIDE_SLACK = 2


def _net(motion: np.ndarray, on: int, off: int) -> np.ndarray:
    return motion[on:off + 1].sum(axis=0)


def openness(motion: np.ndarray, on: int, off: int) -> float:
    """|net displacement| / path length over [on, off]: 1 when every frame moved the same way."""
    path = float(np.linalg.norm(motion[on:off + 1], axis=1).sum())
    return float(np.linalg.norm(_net(motion, on, off))) / path if path > 0 else 0.0


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    return float(u @ v) / (nu * nv) if nu > 0 and nv > 0 else 0.0


def pair_releases(proposals: list[Interval], intensity: np.ndarray, motion: np.ndarray,
                  preset) -> list[Interval]:
    """`proposals` with each open MaE proposal joined to its release (module docstring)."""
    a = np.asarray(intensity, dtype=np.float64).reshape(-1)
    if not preset.release_gap:
        return list(proposals)
    m = np.asarray(motion, dtype=np.float64).reshape(len(a), -1)
    starts, ends = _runs(a > preset.release_threshold)
    long_enough = ends - starts + 1 >= MIN_RELEASE_FRAMES
    starts, ends = starts[long_enough], ends[long_enough]
    max_len = preset.mae_length[1]
    dropped: set[int] = set()
    joined: dict[int, Interval] = {}
    order = sorted(range(len(proposals)), key=lambda i: (proposals[i].onset, proposals[i].offset))
    for i in order:
        p = proposals[i]
        if p.cls != MAE or i in dropped:
            continue
        after = np.flatnonzero((starts > p.offset) & (starts <= p.offset + 1 + preset.release_gap))
        if after.size == 0:
            continue
        on, off = int(starts[after[0]]), int(ends[after[0]])
        if off - p.onset + 1 > max_len:
            continue
        if openness(m, p.onset, p.offset) < preset.release_min_openness:
            continue
        if _cosine(_net(m, p.onset, p.offset), _net(m, on, off)) >= preset.release_max_cos:
            continue
        joined[i] = replace(p, offset=off)
        for j, other in enumerate(proposals):
            if j != i and other.onset >= on - INSIDE_SLACK and other.offset <= off + INSIDE_SLACK:
                dropped.add(j)
    out = [joined.get(i, p) for i, p in enumerate(proposals) if i not in dropped]
    return _without_duplicates(out, preset.nms_iou) if joined else out


def _without_duplicates(proposals: list[Interval], iou: float) -> list[Interval]:
    """A joined proposal can land on a MaE proposal that already spanned onset and release (both
    passed NMS while one was short): keep the higher-scored of any MaE pair at IoU >= `iou`."""
    mae = [p for p in proposals if p.cls == MAE]
    if len(mae) < 2:
        return proposals
    keep = greedy_nms(np.array([p.onset for p in mae]), np.array([p.offset for p in mae]),
                      np.array([p.score or 0.0 for p in mae]), iou, None)
    kept = {id(mae[k]) for k in keep}
    return [p for p in proposals if p.cls != MAE or id(p) in kept]


__all__ = ["pair_releases", "openness", "MIN_RELEASE_FRAMES"]
