"""The published proposal step, rule for rule (faithful mode; `SpottingPreset.faithful`).

`spotting.propose` is the project's pipeline. This module is what the published GIM code does with
the same outputs, so that faithful-mode figures are the method's own (checked against the
reference code's outputs in tests/test_reference_proposals.py). Where it departs from the
project's pipeline (docs/REFERENCE.md lists each one):

1. Runs are kept per class and per threshold without merging duplicates: a run found at several
   thresholds enters soft-NMS several times, each copy lowering the others.
2. A run ``[s, e]`` is stored with an exclusive end ``e + 1``. Its flanks are
   ``int(s - 0.2 L) .. s - 1`` and ``e + 1 .. int(e + 0.2 L)`` (truncation, clipped to the video),
   so they are asymmetric: a run of 3 frames has a left flank of 1 frame and no right flank. When
   the only frame above a threshold is frame 0 the threshold yields no run.
3. Soft-NMS swaps the picked candidate to the front (which decides later ties) and measures IoU
   with lengths ``end - start + 1`` on the exclusive ends: one frame too many on each side.
4. The length filter reads ``end - start + 1``, i.e. frames + 1 (MaE 15..240 keeps 14..239 frames).
5. The final NMS takes the best score, spends the class budget, and deletes same-class candidates
   with IoU > 0.5 (exclusive lengths; exactly 0.5 survives). Its deletion loop skips the candidate
   that follows each deleted one, so some overlapping candidates survive. A best score of exactly
   0 ends it.
"""

from __future__ import annotations

import numpy as np

from .types import CLASSES, Interval

#: The published thresholds: ``numpy.linspace(0.2, 0.8, 7)`` (one of them is 0.6000000000000001).
REFERENCE_THRESHOLDS = tuple(float(t) for t in np.linspace(0.2, 0.8, 7))


def _runs_of(a: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` of ``a > threshold``; none when only frame 0 passes."""
    pos = np.flatnonzero(a > threshold)
    if not pos.any():               # the published test: an index list of just [0] counts as empty
        return []
    breaks = np.flatnonzero(np.diff(pos) != 1)
    firsts = np.concatenate(([pos[0]], pos[breaks + 1]))
    lasts = np.concatenate((pos[breaks], [pos[-1]]))
    return list(zip(firsts.tolist(), lasts.tolist()))


def candidates(a: np.ndarray, q: np.ndarray, c: int, preset) -> list[list[float]]:
    """``[c, score, start, end_exclusive, apex]`` for class ``c`` in the published order
    (threshold by threshold, runs in time order)."""
    T = a.size
    out = []
    for th in preset.thresholds:
        for s, e in _runs_of(a, th):
            length = e - s + 1
            inner = float(np.mean(a[s:e + 1]))
            lo = max(0, int(s - preset.flank_ratio * length))
            hi = min(T - 1, int(e + preset.flank_ratio * length))
            flank = np.concatenate((a[lo:s], a[e + 1:hi + 1]))
            outer = float(np.mean(flank)) if flank.size else 0.0
            apex = s + int(np.argmax(a[s:e + 1]))
            action = float(q[apex, c])
            if action > preset.class_gate:
                out.append([float(c), inner - outer + preset.apex_weight * action,
                            float(s), float(e + 1), float(apex)])
    return out


def soft_nms(dets: list[list[float]], sigma: float) -> list[list[float]]:
    """Gaussian soft-NMS on ``[c, score, start, end, apex]`` rows, as published (see item 3)."""
    if not dets:
        return []
    rows = np.asarray(dets, dtype=np.float64)
    rows = np.concatenate((rows, (rows[:, 3] - rows[:, 2] + 1)[:, None]), axis=1)
    kept = []
    while rows.shape[0]:
        j = int(np.argmax(rows[:, 1]))
        rows[[0, j]] = rows[[j, 0]]
        kept.append(rows[0, :-1].tolist())
        rest = rows[1:]
        inter = np.maximum(np.minimum(rows[0, 3], rest[:, 3]) - np.maximum(rows[0, 2], rest[:, 2]) + 1, 0.0)
        iou = inter / (rows[0, -1] + rest[:, -1] - inter)
        rest[:, 1] *= np.exp(-(iou * iou) / sigma)
        rows = rest
    return kept


def final_nms(dets: list[list[float]], budget: list[int | None], iou: float = 0.5) -> list[list[float]]:
    """Greedy NMS on ``[start, end, score, label, apex]`` rows with per-class budgets, as published
    (see item 5; ``None`` in ``budget`` means no cap)."""
    rows = [list(r) for r in dets]
    left = list(budget)
    kept = []
    while rows:
        if all(b == 0 for b in left):
            break
        best = max(range(len(rows)), key=lambda k: (rows[k][2], -k))
        start_i, end_i, score_i, label_i, _ = picked = rows[best]
        if score_i == 0.0:
            break
        cls = int(label_i)
        del rows[best]
        if left[cls] == 0:
            continue
        if left[cls] is not None:
            left[cls] -= 1
        kept.append(picked)
        n = len(rows)
        i = 0
        while i < n and i < len(rows):
            start_j, end_j, _, label_j, _ = rows[i]
            if label_j == label_i:
                overlap = max(0.0, min(end_i, end_j) - max(start_i, start_j))
                union = (end_i - start_i) + (end_j - start_j) - overlap
                if overlap / union > iou:
                    del rows[i]     # the next row moves into slot i and is never looked at
            i += 1
    return kept


def propose(a: np.ndarray, q: np.ndarray, preset, video: str = "",
            budget: tuple[int | None, int | None] | None = None) -> list[Interval]:
    """The published proposals for one video as Intervals (inclusive ``offset = end - 1``),
    sorted by onset. ``a`` (T,) and ``q`` (T, 2) as float64 holding the network's float32 values."""
    picked = []
    for c in range(len(CLASSES)):
        picked.extend(soft_nms(candidates(a, q, c, preset), preset.soft_nms_sigma))
    rows = []
    for c, score, start, end, apex in picked:
        lo, hi = preset.length_range(CLASSES[int(c)])
        if lo <= end - start + 1 <= hi and score >= preset.score_threshold[int(c)]:
            rows.append([start, end, score, c, apex])
    kept = final_nms(rows, list(budget if budget is not None else preset.budget), preset.nms_iou)
    out = [Interval(video=video, cls=CLASSES[int(label)], onset=int(start), apex=int(apex),
                    offset=int(end) - 1, score=float(score))
           for start, end, score, label, apex in kept]
    out.sort(key=lambda iv: (iv.onset, iv.offset, iv.cls, -iv.score))
    return out


__all__ = ["REFERENCE_THRESHOLDS", "candidates", "soft_nms", "final_nms", "propose"]
