"""What every dataset importer shares: media entries, workbook events, the cleaning rules, the
frame-number mapping, point labels from intervals, and building the project.

Cleaning rules (the same for every dataset; each application is counted in the summary):

- **offset coded 0** (or empty): the sheets use 0 for "offset not annotated". The interval is
  made symmetric around the apex: offset = apex + (apex - onset) (onset when the apex is missing
  too), as published evaluation code for CAS(ME)^2 reads such rows.
- **apex missing or outside [onset, offset]** (SAMM-LV writes -1 or 0 for "not annotated"): the
  apex becomes the interval's midpoint.
- **duplicated rows**: rows that give the same video, class, onset and offset (after the rules
  above) are kept once.
- **outside the video**: an interval whose onset is past the video's last frame is dropped; an
  offset past the end is clipped to the last frame.
- **frame numbers** in the workbooks are the numbers in the image file names (frame folders) or
  1-based frame numbers (video files). A number with no image (CAS(ME)^3 has dropped frames) maps
  to the next image that exists (counted as ``frames_missing``). With ``--step N`` frame indices
  are on the every-N-th-frame grid the features and the model use (raw position / N, rounded).
- **rows whose video is not on disk** are skipped and counted (a partial download still imports).

Nothing is written until every row and every video has been read: a malformed workbook or an
unreadable video raises a one-line error naming the file (and sheet and row) and leaves no project.
"""

from __future__ import annotations

import bisect
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..errors import LabelError, PfesError, ProjectError
from ..types import CLASSES, Interval, PointLabel

POINT_MODES = ("apex", "sampled")
_DIGITS = re.compile(r"(\d+)")


@dataclass
class MediaEntry:
    """One video of the dataset: a video file or a folder of numbered images."""

    video_id: str
    subject: str
    path: Path
    fps: float | None = None          # frame folders: the dataset's recording rate
    first_number: int = 1             # video files: the workbook's number of the first frame


@dataclass
class RawEvent:
    """One workbook row, frame numbers as written."""

    video_id: str
    cls: str
    onset: int
    apex: int | None
    offset: int | None
    where: str


@dataclass
class ImportSummary:
    """What an import did, with a count for every cleaning rule applied."""

    dataset: str
    source: str
    project: str
    step: int
    points_mode: str
    seed: int | None
    subjects: list[str] = field(default_factory=list)
    videos: list[dict] = field(default_factory=list)
    intervals: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CLASSES})
    points: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CLASSES})
    offset_zero: int = 0
    apex_fixed: int = 0
    duplicates: int = 0
    outside_video: int = 0
    offset_clipped: int = 0
    frames_missing: int = 0
    rows_without_media: int = 0
    rows_other_subjects: int = 0
    points_same_frame: int = 0

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                for k, v in self.__dict__.items()}

    def lines(self) -> list[str]:
        iv = ", ".join(f"{c} {n}" for c, n in self.intervals.items())
        pt = ", ".join(f"{c} {n}" for c, n in self.points.items())
        how = "apex" if self.points_mode == "apex" else f"sampled around the apex, seed {self.seed}"
        out = [f"imported {self.dataset} from {self.source} into {self.project}",
               f"  {len(self.subjects)} subjects, {len(self.videos)} videos"
               + (f" (every {self.step}th frame analysed)" if self.step > 1 else ""),
               f"  reference intervals: {iv}",
               f"  point labels ({how}): {pt}"]
        notes = [("offset_zero", "offset coded 0: made symmetric around the apex"),
                 ("apex_fixed", "apex missing or outside the interval: midpoint used"),
                 ("duplicates", "duplicated rows kept once"),
                 ("outside_video", "intervals starting past the video's end dropped"),
                 ("offset_clipped", "offsets past the video's end clipped"),
                 ("frames_missing", "frame numbers without an image mapped to the next image"),
                 ("rows_without_media", "rows whose video is not on disk skipped"),
                 ("rows_other_subjects", "rows of subjects not selected skipped"),
                 ("points_same_frame", "points on a frame that already had one of that class merged")]
        for key, text in notes:
            n = getattr(self, key)
            if n:
                out.append(f"  {n} {text}")
        return out


def subject_filter(subjects: Iterable[str] | None) -> Callable[[str], bool]:
    """Predicate for --subjects: ids match exactly or by their number ('15' selects 's15',
    '6' selects '006', '1' selects 'spNO.1')."""
    wanted = [str(s).strip() for s in (subjects or []) if str(s).strip()]
    if not wanted:
        return lambda subject: True

    def number(text: str) -> int | None:
        digits = _DIGITS.findall(text)
        return int(digits[-1]) if digits else None

    exact = {w.lower() for w in wanted}
    numbers = {int(w) for w in wanted if w.isdigit()}
    return lambda subject: subject.lower() in exact or (number(subject) in numbers)


def image_numbers(folder: Path) -> list[int]:
    """The frame number in each image name of a frame folder (its last digit group), sorted."""
    from ..video import list_image_frames

    numbers = []
    for f in list_image_frames(folder):
        digits = _DIGITS.findall(f.stem)
        if not digits:
            raise PfesError(f"{f}: image name has no frame number")
        numbers.append(int(digits[-1]))
    return sorted(numbers)


class _FrameIndex:
    """Maps the workbook's frame numbers of one video to frame indices of the project."""

    def __init__(self, entry: MediaEntry, n_raw: int, step: int):
        self.numbers = image_numbers(entry.path) if entry.path.is_dir() else None
        self.first = entry.first_number
        self.n_raw = n_raw
        self.step = step

    def position(self, number: int, summary: ImportSummary) -> int | None:
        """Raw position of `number` (None: past the end)."""
        if self.numbers is None:
            pos = number - self.first
            return max(pos, 0) if pos < self.n_raw else None
        pos = bisect.bisect_left(self.numbers, number)
        if pos >= len(self.numbers):
            return None
        if self.numbers[pos] != number and number >= self.numbers[0]:
            summary.frames_missing += 1
        return pos

    def index(self, pos: int) -> int:
        return int(pos / self.step + 0.5)


def _clean(ev: RawEvent, summary: ImportSummary) -> tuple[int, int, int]:
    """Apply the offset-0 and apex rules to workbook numbers; LabelError on impossible rows."""
    onset, apex, offset = ev.onset, ev.apex, ev.offset
    if onset is None or onset < 0:
        raise LabelError(f"{ev.where}: onset {onset} is not a frame number")
    if offset is None or offset == 0:
        summary.offset_zero += 1
        offset = max(onset, 2 * apex - onset) if apex is not None and apex >= onset else onset
    if offset < onset:
        raise LabelError(f"{ev.where}: offset {offset} is before onset {onset}")
    if apex is None or not onset <= apex <= offset:
        summary.apex_fixed += 1
        apex = (onset + offset) // 2
    return onset, apex, offset


def convert_events(events: list[RawEvent], media: dict[str, MediaEntry], n_raw: dict[str, int],
                   step: int, summary: ImportSummary) -> list[Interval]:
    """Workbook rows -> project intervals (frame indices), applying the module's rules."""
    index = {vid: _FrameIndex(media[vid], n_raw[vid], step) for vid in media}
    seen: set[tuple] = set()
    out: list[Interval] = []
    for ev in events:
        onset, apex, offset = _clean(ev, summary)
        fi = index[ev.video_id]
        p_on = fi.position(onset, summary)
        if p_on is None:
            summary.outside_video += 1
            continue
        p_ap, p_off = fi.position(apex, summary), fi.position(offset, summary)
        if p_off is None:
            summary.offset_clipped += 1
            p_off = fi.n_raw - 1
        if p_ap is None or p_ap > p_off:
            p_ap = (p_on + p_off) // 2
        on, ap, off = fi.index(p_on), fi.index(p_ap), fi.index(p_off)
        key = (ev.video_id, ev.cls, on, off)
        if key in seen:
            summary.duplicates += 1
            continue
        seen.add(key)
        out.append(Interval(ev.video_id, ev.cls, on, min(max(ap, on), off), off))
    out.sort(key=lambda iv: (iv.video, iv.onset, iv.offset, iv.cls))
    return out


def points_from_intervals(intervals: list[Interval], mode: str, seed: int, annotator: str,
                          now: float) -> list[PointLabel]:
    """One point label per interval: its apex, or a frame drawn around the apex the way the
    reference point labels look (Gaussian, sigma = length / 6, clipped; see synth.draw_point)."""
    if mode not in POINT_MODES:
        raise PfesError(f"unknown point mode {mode!r} (expected {' or '.join(POINT_MODES)})")
    rng = None
    if mode == "sampled":
        import numpy as np

        rng = np.random.default_rng(seed)
    from ..synth import draw_point

    out = []
    for iv in intervals:
        frame = iv.apex if rng is None else draw_point(rng, iv.onset, iv.apex, iv.offset)
        out.append(PointLabel(iv.video, int(frame), iv.cls, annotator, now, now))
    return out


def _probe(entry: MediaEntry) -> tuple[float, int, str]:
    from ..video import open_video, video_fingerprint

    reader = open_video(entry.path, step=1, fps=entry.fps if entry.path.is_dir() else None)
    try:
        return float(reader.fps), int(reader.n_frames), video_fingerprint(entry.path)
    finally:
        reader.close()


def build_project(project_dir, summary: ImportSummary, media: list[MediaEntry],
                  events: list[RawEvent], progress: Callable[[int, int, str], None] | None = None
                  ) -> ImportSummary:
    """Probe every video, convert the rows, then create the project in one go. On any error the
    half-made project folder is removed, so a failed import leaves nothing behind."""
    from ..labels import BulkImport
    from ..project import SUFFIX, Project

    if not media:
        raise ProjectError(f"{summary.source}: no videos found for the selected subjects")
    by_id: dict[str, MediaEntry] = {}
    for m in media:
        if m.video_id in by_id:
            raise ProjectError(f"two videos with the id {m.video_id!r}: {by_id[m.video_id].path} and {m.path}")
        by_id[m.video_id] = m
    probed: dict[str, tuple[float, int, str]] = {}
    for k, m in enumerate(media):
        if progress is not None:
            progress(k, len(media), f"reading {m.video_id}")
        probed[m.video_id] = _probe(m)
    intervals = convert_events(events, by_id, {v: p[1] for v, p in probed.items()}, summary.step, summary)
    now = time.time()
    points = points_from_intervals(intervals, summary.points_mode, summary.seed or 0,
                                   f"{summary.dataset}:{summary.points_mode}", now)

    root = Path(project_dir).expanduser()
    if root.suffix != SUFFIX:
        root = root.with_name(root.name + SUFFIX)
    existed = root.exists()
    was_empty_dir = existed and root.is_dir() and not any(root.iterdir())
    try:
        with Project.create(root) as project:
            summary.project = str(project.root)
            for m in media:
                fps, n_raw, fingerprint = probed[m.video_id]
                project.add_video(m.path, subject=m.subject, video_id=m.video_id, fps=fps, n_frames=n_raw,
                                  fingerprint=fingerprint, step=summary.step)
                summary.videos.append({"id": m.video_id, "subject": m.subject, "path": str(m.path),
                                       "fps": fps, "frames": n_raw})
            project.set_reference(intervals)
            edit = BulkImport(points, skip_existing=True)
            project.apply(edit)
            # The dataset preset: training reads its loss weights, spotting its preset from these.
            project.settings.update({"dataset": summary.dataset,
                                     "spotting": {"preset": summary.dataset.replace("-", "_")}})
            project.save()
    except BaseException:
        if (not existed or was_empty_dir) and root.exists():
            shutil.rmtree(root, ignore_errors=True)
            if was_empty_dir:
                root.mkdir()
        raise
    summary.subjects = sorted({m.subject for m in media})
    for iv in intervals:
        summary.intervals[iv.cls] += 1
    for lb in edit.added:
        summary.points[lb.cls] += 1
    summary.points_same_frame = len(points) - len(edit.added)
    return summary
