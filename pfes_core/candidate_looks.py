"""Where to look for expressions the model nearly proposed: its candidate runs that no proposal passed.

Why: judging proposals, highest score first, mostly confirms what the model already finds, and the
labels added that way teach the next training little. Looking instead at the model's own
low-scored candidate runs (under the score threshold or the class gate, past the budget) where no
proposal and no label is, and clicking the expressions found there, is what made review rounds pay
off on fresh data (benchmarks/RESULTS.md, "Looking at the model's low-scored candidates").

A candidate is an interval with the class the model scored higher for it; the annotator decides
the class by the label they click. A look that finds nothing is recorded as a "looked" review
decision (`pfes_core.reviews.LOOKED`), so the span is not offered again, in this run or a later
one. It is not a training target: as class-score negatives (`review_supervision.review_targets(looked=True)`)
it did not help beyond the seed noise (benchmarks/RESULTS.md, "Scanning stretches").
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import replace
from itertools import accumulate
from typing import Iterable

from .spotting import ME_RULES_OFF, SpottingPreset, interval_iou, preset_for_fps, propose
from .types import Interval

#: Frames either side of a candidate where a label still means "someone looked here".
LOOK_SLACK = 4
#: A candidate this close (IoU) to a span looked at before is the same place.
SAME_PLACE_IOU = 0.5


def loose_preset(preset: SpottingPreset) -> SpottingPreset:
    """The project's spotting rules with every cut removed: no score threshold, no class gate, no
    budget. What remains are the model's candidate runs, scored and de-duplicated as proposals are."""
    return replace(preset, score_threshold=(-1.0, -1.0), class_gate=0.0, budget=(None, None),
                   budget_period_s=None, faithful=False, **ME_RULES_OFF)


def model_candidates(intensity, apex, preset: SpottingPreset, video: str,
                     fps: float | None = None) -> list[Interval]:
    """Every candidate run of one video's model output under the loose rules (`loose_preset`).
    Without a score threshold soft-NMS goes through every candidate: about 12 times the work of the
    run's proposals (3 s for 8 hours of video, bench_look_queue.py), so the desk finds them off the
    GUI thread (`run_candidates`)."""
    return propose(intensity, apex, preset_for_fps(loose_preset(preset), fps), video, fps)


def run_candidates(predictions: dict, preset: SpottingPreset, fps: dict) -> dict[str, list[Interval]]:
    """{video: model_candidates} for a run's predictions ({video: Predictions}); `fps` per video."""
    return {video: model_candidates(pred.intensity, pred.apex, preset, video, fps.get(video))
            for video, pred in predictions.items()}


class Cover:
    """What already covers a video's frames: label frames, proposals, spans looked at. Answers
    `covers` in O(log n): the desk asks for every candidate of every video after each edit."""

    def __init__(self, proposals: Iterable[Interval], label_frames: Iterable[int],
                 looked: Iterable[Interval]):
        self.frames = sorted(int(f) for f in label_frames)
        spans = sorted((p.onset, p.offset) for p in proposals)
        self.onsets = [on for on, _ in spans]
        self.reach = list(accumulate((off for _, off in spans), max))    # furthest offset so far
        self.looked = sorted(looked, key=lambda s: s.onset)
        self.looked_onsets = [s.onset for s in self.looked]
        self.longest = max((s.offset - s.onset for s in self.looked), default=0)

    def covers(self, c: Interval, slack: int = LOOK_SLACK) -> bool:
        i = bisect_left(self.frames, c.onset - slack)
        if i < len(self.frames) and self.frames[i] <= c.offset + slack:
            return True                      # a label within `slack` frames
        j = bisect_right(self.onsets, c.offset)
        if j and self.reach[j - 1] >= c.onset:
            return True                      # a proposal overlapping it
        return self.same_place(c)

    def same_place(self, c: Interval) -> bool:
        """A span looked at is the same place as `c` (IoU >= SAME_PLACE_IOU, any class) or holds it
        whole (a scanned stretch, `scan_stretches`, answers for every candidate inside it)."""
        lo = bisect_left(self.looked_onsets, c.onset - self.longest)
        hi = bisect_right(self.looked_onsets, c.offset)
        return any((s.onset <= c.onset and c.offset <= s.offset) or interval_iou(c, s) >= SAME_PLACE_IOU
                   for s in self.looked[lo:hi])

    def add_looked(self, span: Interval) -> None:
        i = bisect_right(self.looked_onsets, span.onset)
        self.looked_onsets.insert(i, span.onset)
        self.looked.insert(i, span)
        self.longest = max(self.longest, span.offset - span.onset)


def needs_look(candidate: Interval, proposals: Iterable[Interval], label_frames: Iterable[int],
               looked: Iterable[Interval], slack: int = LOOK_SLACK) -> bool:
    """True when nothing covers `candidate` yet: no proposal overlaps it, no label lies within
    `slack` frames of it, and no span looked at before is the same place or holds it (any class,
    any run)."""
    return not Cover(proposals, label_frames, looked).covers(candidate, slack)


def looks_needed(candidates: Iterable[Interval], proposals: Iterable[Interval],
                 label_frames: Iterable[int], looked: Iterable[Interval],
                 slack: int = LOOK_SLACK) -> list[Interval]:
    """The candidates of one video worth a look (`needs_look`), highest score first, one per place:
    a candidate that is the same place (IoU >= SAME_PLACE_IOU, either class) as a higher-scored
    one is left out, since one look answers both (a label there or "nothing here" covers it)."""
    cover = Cover(proposals, label_frames, looked)
    ranked = sorted((c for c in candidates if not cover.covers(c, slack)),
                    key=lambda c: (-(c.score or 0.0), c.onset, c.offset))
    kept: list[Interval] = []
    places = Cover((), (), ())           # the kept ones, as "looked" spans: the same-place test
    for c in ranked:
        if not places.same_place(c):
            kept.append(c)
            places.add_looked(c)
    return kept


def project_looks(project, predictions: dict, preset: SpottingPreset,
                  cache: dict | None = None) -> list[Interval]:
    """Looks for every video of a run's predictions ({video: Predictions}), highest score first
    across videos: the candidates no proposal, label or earlier look covers.

    ``cache`` ({video: candidates}, filled here) keeps the candidate runs of a run between calls:
    they depend on the model's output only, and the desk asks again after every label edit."""
    out: list[Interval] = []
    for video, pred in predictions.items():
        record = project.videos.get(video)
        if record is None:
            continue
        candidates = None if cache is None else cache.get(video)
        if candidates is None:
            candidates = model_candidates(pred.intensity, pred.apex, preset, video, record.fps)
            if cache is not None:
                cache[video] = candidates
        frames = [lab.frame for lab in project.labels.for_video(video)]
        out.extend(looks_needed(candidates, pred.proposals, frames, project.reviews.looked(video)))
    out.sort(key=lambda c: (-(c.score or 0.0), c.video, c.onset))
    return out


__all__ = ["LOOK_SLACK", "SAME_PLACE_IOU", "loose_preset", "model_candidates", "run_candidates",
           "Cover", "needs_look", "looks_needed", "project_looks"]
