"""Review decisions as supervision for the next training run.

An annotator who reviews proposals tells the model three things, and each becomes a target:
- rejected: "no expression of this class here". The proposal's frames become apex-loss negatives
  of that class (the score that gates that class's proposals), weighed like the method's own
  negatives (`apex_targets_with_rejections`). Two stronger forms collapsed the model in the review
  benchmark (benchmarks/RESULTS.md, "Review rounds that do not collapse"): a separate BCE term on
  the class score pushed every apex score under the class gate (test F1 0.069 after a full
  retrain, one seed), and with an intensity negative as well (a rejected ME proposal often sits on
  an unlabelled MaE) a warm round fell from F1 0.475 to 0.049.
  `intensity=True` still adds the intensity negative. Frames near a point label, or inside an
  accepted span, are never negatives: a point label wins over a rejection that covers it.
- accepted: the review action already added a point label at the apex; the proposal's span
  becomes a span prior for that label (the duration GIM would otherwise guess).
- adjusted: the same, with the reviewer's onset/offset as the span prior.

Decisions are keyed by the run whose proposal they judge, but their frames are the video's, so
decisions of every run are used. Faithful mode (the published method) uses none of them.

Everything here is numpy: the masks are made once per run, before training starts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .reviews import LOOKED, STATUSES, ReviewDecision
from .types import CLASSES

#: Negative-mask columns: intensity, MaE apex score, ME apex score.
INTENSITY, MAE_SCORE, ME_SCORE = 0, 1, 2
#: Frames on each side of a point label that a rejected span never masks, per class (MaE, ME):
#: half of GIM's typical length k (32, 16), the reach of the label's own pseudo-instance.
PROTECT_RADIUS = (16, 8)
KEPT = ("accepted", "adjusted")


@dataclass
class ReviewTargets:
    """What one video's decisions add to its point labels."""

    negatives: np.ndarray | None            # (T, 3) float32 weights, columns INTENSITY, MAE_SCORE, ME_SCORE
    span_priors: dict[tuple[int, int], int]  # (point frame, class index) -> reviewed duration in frames
    n_rejected: int = 0
    n_kept: int = 0


def decisions_snapshot(decisions: Iterable[ReviewDecision], used: bool, note: str = "") -> dict:
    """JSON-able frozen copy of the decisions a run saw, with a content hash (runs/<id>/decisions.json).

    `used` says whether training turned them into targets (faithful mode and --no-reviews do not)."""
    items = sorted((d.to_dict() for d in decisions),
                   key=lambda d: (d["video"], d["run_id"], d["cls"], d["onset"], d["offset"]))
    blob = json.dumps([[d["video"], d["run_id"], d["cls"], d["onset"], d["offset"], d["status"],
                        d["adjusted"]] for d in items]).encode()
    counts = {s: sum(1 for d in items if d["status"] == s) for s in STATUSES}
    return {"count": len(items), "sha256": hashlib.sha256(blob).hexdigest(), "used": bool(used),
            "note": note, "counts": counts, "decisions": items}


def decisions_from_snapshot(snapshot: dict | None) -> list[ReviewDecision]:
    if not snapshot:
        return []
    return [ReviewDecision.from_dict(d) for d in snapshot.get("decisions", [])]


def _span(on: int, off: int, n: int) -> tuple[int, int] | None:
    lo, hi = max(int(on), 0), min(int(off), n - 1)
    return (lo, hi) if lo <= hi else None


def review_targets(decisions: Iterable[ReviewDecision], points: list[tuple[int, int]], n_frames: int,
                   weight: float = 1.0, protect: tuple[int, int] = PROTECT_RADIUS,
                   intensity: bool = False, looked: bool = False) -> ReviewTargets:
    """One video's decisions -> negative masks and span priors.

    points: the video's point labels as (frame, class index), the run's label snapshot (the labels
    that accepted proposals added are among them). Later decisions (by time) win on the same point.
    intensity=True: a rejection also masks the class-agnostic intensity (by default it masks only
    its class's apex score: a rejected ME on an unlabelled MaE says "no ME here", not "no movement").
    `weight` scales the intensity negative only; in the class columns any weight > 0 just marks the
    frames that become apex-loss negatives (`apex_targets_with_rejections`), and 0 drops rejections.
    looked=True: a "nothing here" span becomes an apex negative of both classes (the annotator saw
    no expression of either there); points still guard it.
    """
    neg = np.zeros((n_frames, 3), dtype=np.float32)
    guard = np.zeros((n_frames, 3), dtype=bool)        # frames a rejection may not mask
    priors: dict[tuple[int, int], int] = {}
    n_rej = n_kept = 0
    for p, c in points:
        span = _span(p - protect[c], p + protect[c], n_frames)
        if span is not None:
            guard[span[0]:span[1] + 1, INTENSITY] = True
            guard[span[0]:span[1] + 1, 1 + c] = True
    for d in sorted(decisions, key=lambda d: d.time):
        c = CLASSES.index(d.cls)
        iv = d.interval()
        span = _span(iv.onset, iv.offset, n_frames)
        if span is None:
            continue
        lo, hi = span
        if d.status == "rejected":
            if intensity:
                neg[lo:hi + 1, INTENSITY] = weight
            neg[lo:hi + 1, 1 + c] = weight
            n_rej += 1
        elif d.status == LOOKED and looked:
            neg[lo:hi + 1, MAE_SCORE] = weight
            neg[lo:hi + 1, ME_SCORE] = weight
            n_rej += 1
        elif d.status in KEPT:
            guard[lo:hi + 1, INTENSITY] = True
            guard[lo:hi + 1, 1 + c] = True
            n_kept += 1
            inside = [p for p, pc in points if pc == c and lo <= p <= hi]
            if inside:
                p = min(inside, key=lambda f: (abs(f - iv.apex), f))
                priors[(int(p), c)] = int(hi - lo + 1)
    neg[guard] = 0.0
    return ReviewTargets(neg if neg.any() else None, priors, n_rej, n_kept)


def step_negative_weights(negatives: np.ndarray, in_window: np.ndarray, apex_positive=None) -> np.ndarray:
    """This step's negative weights for the frames read: a frame inside a current pseudo-instance
    window is never a negative for the intensity (any class's window) or for that class's score;
    nor is a frame that is an apex target (apex_positive (N, 2), when given).

    negatives (N, 3), in_window (N, 2) bool -> (N, 3) float32 (a copy)."""
    w = np.array(negatives, dtype=np.float32, copy=True)
    w[in_window.any(axis=1), INTENSITY] = 0.0
    for c in range(2):
        w[in_window[:, c], 1 + c] = 0.0
        if apex_positive is not None:
            w[apex_positive[:, c] > 0, 1 + c] = 0.0
    return w


def apex_targets_with_rejections(apex: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The step's apex targets (N, 2: 1 positive, 0 negative, -1 ignored) with every frame a
    rejection masks for a class (`step_negative_weights` columns MAE_SCORE, ME_SCORE) made a
    negative of that class, unless it is a positive. Returns a copy."""
    out = np.array(apex, dtype=np.float32, copy=True)
    for c in range(2):
        out[(weights[:, 1 + c] > 0) & (out[:, c] != 1), c] = 0.0
    return out


def review_frames(video, group: list[tuple[int, int]], k: tuple[int, int]) -> np.ndarray:
    """Frames a training step must read beyond its points' reach: every negative frame of the
    video, and the whole GIM window a span prior can give a point of `group` (pseudo-apex within
    +-k/4 of the point, then +-duration/2), which may be wider than the adaptive duration's.
    Empty for a video without review targets."""
    n = len(video.model_input)
    parts = []
    if getattr(video, "negatives", None) is not None:
        parts.append(np.flatnonzero(video.negatives.any(axis=1)))
    priors = getattr(video, "span_priors", None) or {}
    for p, c in group:
        dur = priors.get((p, c))
        if dur:
            r = k[c] // 4 + dur // 2 + 1
            parts.append(np.arange(max(p - r, 0), min(p + r + 1, n)))
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts)).astype(np.int64)


def attach_reviews(videos, decisions: Iterable[ReviewDecision], weight: float = 1.0,
                   intensity: bool = False, looked: bool = False) -> dict:
    """Set `negatives` and `span_priors` on each training.VideoData from the decisions of its video
    (`intensity`: whether rejections also mask the intensity, see `review_targets`).

    Returns a summary for the run's log: videos touched, rejected spans, kept spans, priors."""
    by_video: dict[str, list[ReviewDecision]] = {}
    for d in decisions:
        by_video.setdefault(d.video, []).append(d)
    summary = {"videos": 0, "rejected": 0, "kept": 0, "span_priors": 0, "negative_frames": 0}
    for v in videos:
        ds = by_video.get(v.video_id)
        if not ds:
            continue
        t = review_targets(ds, v.points, len(v.model_input), weight, intensity=intensity, looked=looked)
        v.negatives, v.span_priors = t.negatives, t.span_priors
        summary["videos"] += 1
        summary["rejected"] += t.n_rejected
        summary["kept"] += t.n_kept
        summary["span_priors"] += len(t.span_priors)
        summary["negative_frames"] += 0 if t.negatives is None else int((t.negatives > 0).any(axis=1).sum())
    return summary


__all__ = ["ReviewTargets", "decisions_snapshot", "decisions_from_snapshot", "review_targets",
           "apex_targets_with_rejections",
           "step_negative_weights", "attach_reviews", "PROTECT_RADIUS", "INTENSITY", "MAE_SCORE",
           "ME_SCORE"]
