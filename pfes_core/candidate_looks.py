"""Where to look for expressions the model nearly proposed: its candidate runs that no proposal passed.

Why: judging proposals, highest score first, mostly confirms what the model already finds, and the
labels added that way teach the next training little. Looking instead at the model's own
low-scored candidate runs (under the score threshold or the class gate, past the budget) where no
proposal and no label is, and clicking the expressions found there, is what made review rounds pay
off on fresh data (benchmarks/RESULTS.md, "Looking at the model's low-scored candidates").

A candidate is an interval with the class the model scored higher for it; the annotator decides
the class by the label they click. A look that finds nothing is recorded as a "looked" review
decision (`pfes_core.reviews.LOOKED`), so the span is not offered again, in this run or a later
one. It is not a training target: the loop was measured without it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from .spotting import SpottingPreset, interval_iou, preset_for_fps, propose
from .types import Interval

#: Frames either side of a candidate where a label still means "someone looked here".
LOOK_SLACK = 4
#: A candidate this close (IoU) to a span looked at before is the same place.
SAME_PLACE_IOU = 0.5


def loose_preset(preset: SpottingPreset) -> SpottingPreset:
    """The project's spotting rules with every cut removed: no score threshold, no class gate, no
    budget. What remains are the model's candidate runs, scored and de-duplicated as proposals are."""
    return replace(preset, score_threshold=(-1.0, -1.0), class_gate=0.0, budget=(None, None),
                   budget_period_s=None, faithful=False)


def model_candidates(intensity, apex, preset: SpottingPreset, video: str,
                     fps: float | None = None) -> list[Interval]:
    """Every candidate run of one video's model output under the loose rules (`loose_preset`)."""
    return propose(intensity, apex, preset_for_fps(loose_preset(preset), fps), video, fps)


def needs_look(candidate: Interval, proposals: Iterable[Interval], label_frames: Iterable[int],
               looked: Iterable[Interval], slack: int = LOOK_SLACK) -> bool:
    """True when nothing covers `candidate` yet: no proposal overlaps it, no label lies within
    `slack` frames of it, and no span looked at before is the same place (any class, any run)."""
    lo, hi = candidate.onset - slack, candidate.offset + slack
    if any(lo <= f <= hi for f in label_frames):
        return False
    if any(p.onset <= candidate.offset and candidate.onset <= p.offset for p in proposals):
        return False
    return not any(interval_iou(candidate, s) >= SAME_PLACE_IOU for s in looked)


def looks_needed(candidates: Iterable[Interval], proposals: Iterable[Interval],
                 label_frames: Iterable[int], looked: Iterable[Interval],
                 slack: int = LOOK_SLACK) -> list[Interval]:
    """The candidates of one video worth a look (`needs_look`), one per span (the class the model
    scored higher), highest score first."""
    proposals, frames, looked = list(proposals), list(label_frames), list(looked)
    best: dict[tuple[int, int], Interval] = {}
    for c in candidates:
        if not needs_look(c, proposals, frames, looked, slack):
            continue
        key = (c.onset, c.offset)
        if key not in best or (c.score or 0.0) > (best[key].score or 0.0):
            best[key] = c
    return sorted(best.values(), key=lambda c: (-(c.score or 0.0), c.onset))


def project_looks(project, predictions: dict, preset: SpottingPreset) -> list[Interval]:
    """Looks for every video of a run's predictions ({video: Predictions}), highest score first
    across videos: the candidates no proposal, label or earlier look covers."""
    out: list[Interval] = []
    for video, pred in predictions.items():
        record = project.videos.get(video)
        if record is None:
            continue
        candidates = model_candidates(pred.intensity, pred.apex, preset, video, record.fps)
        frames = [lab.frame for lab in project.labels.for_video(video)]
        out.extend(looks_needed(candidates, pred.proposals, frames, project.reviews.looked(video)))
    out.sort(key=lambda c: (-(c.score or 0.0), c.video, c.onset))
    return out


__all__ = ["LOOK_SLACK", "SAME_PLACE_IOU", "loose_preset", "model_candidates", "needs_look",
           "looks_needed", "project_looks"]
