"""Stretches of video to scan whole: a sample of the places the model does not point at.

Why: proposals and the model's low-scored candidates show only what the model already sees, and
the labels found there are a biased sample; labelling every expression of the review videos is
what lifted the next training most (the loop's ceiling). Scanning a few stretches of a few seconds
each, clicking every expression in them, came closer for the same number of actions
(benchmarks/RESULTS.md, "Scanning stretches").

Each video is cut into stretches of SCAN_SECONDS on a fixed grid. The order in which a video's
stretches are offered is a fixed shuffle keyed by the video id, so it spreads over the video, is
the same for every run and annotator, and owes nothing to the model. Videos take turns, the one
with the fewest stretches scanned first (then the one with the fewest labels per minute). A
stretch is done when a "looked" review decision holds it (`pfes_core.reviews.LOOKED`, "nothing
else here"); labels inside do not take it off the list, since one stretch may hold several
expressions.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Iterable

import numpy as np

from .candidate_looks import Cover
from .types import Interval

SCAN_SECONDS = 6.0
#: The class a stretch is stored under (a "looked" decision has one; stretches match any class).
STRETCH_CLASS = "MaE"


def stretch_frames(fps: float | None) -> int:
    """Frames in one stretch at `fps` (25 when unknown)."""
    return max(int(round(SCAN_SECONDS * (fps or 25.0))), 1)


@lru_cache(maxsize=4096)
def video_stretches(video: str, n_frames: int, fps: float | None) -> tuple[Interval, ...]:
    """The video's stretches in the order they are offered (a fixed shuffle of the grid). Kept
    per video: the desk asks again after every edit."""
    size = stretch_frames(fps)
    grid = [Interval(video, STRETCH_CLASS, lo, (lo + min(lo + size, n_frames) - 1) // 2,
                     min(lo + size, n_frames) - 1, None) for lo in range(0, max(n_frames, 0), size)]
    key = int.from_bytes(hashlib.sha256(video.encode()).digest()[:8], "little")
    order = np.random.default_rng(key).permutation(len(grid))
    return tuple(grid[i] for i in order)


def stretches_needed(videos: dict[str, tuple[int, float | None]], looked: dict[str, Iterable[Interval]],
                     labels: dict[str, int] | None = None) -> list[Interval]:
    """Every stretch not scanned yet, in the order to offer them: videos take turns, the least
    scanned first, ties to the one with the fewest labels per minute, then by id.

    videos: {video: (frames, fps)}; looked: {video: spans looked at}; labels: {video: label count}.
    """
    labels = labels or {}
    ranked = []
    for video, (n_frames, fps) in videos.items():
        spans = list(looked.get(video, ()))
        stretches = video_stretches(video, n_frames, fps)
        cover = Cover((), (), spans) if spans else None
        open_ = [s for s in stretches if not cover.same_place(s)] if cover else stretches
        done = len(stretches) - len(open_)
        minutes = max(n_frames / (fps or 25.0) / 60.0, 1e-9)
        density = labels.get(video, 0) / minutes
        ranked.extend(((done + i, density, video, i), s) for i, s in enumerate(open_))
    ranked.sort(key=lambda r: r[0])
    return [s for _, s in ranked]


def project_stretches(project, videos: Iterable[str]) -> list[Interval]:
    """`stretches_needed` for these videos of an open project (the ones a run spotted)."""
    sizes, looked, labels = {}, {}, {}
    for video in videos:
        record = project.videos.get(video)
        if record is None:
            continue
        sizes[video] = (int(record.n_frames), record.fps)
        looked[video] = project.reviews.looked(video)
        labels[video] = len(project.labels.for_video(video))
    return stretches_needed(sizes, looked, labels)


__all__ = ["SCAN_SECONDS", "STRETCH_CLASS", "stretch_frames", "video_stretches", "stretches_needed",
           "project_stretches"]
