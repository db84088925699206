"""Review decisions on the model's interval proposals: accepted, rejected or adjusted.

Kept apart from point labels because they answer a different question ("was this proposal
right?") and belong to one run. A decision is keyed by the proposal it judges:
``(video, run_id, cls, onset, offset)`` of the proposal as the run produced it; an "adjusted"
decision also carries the interval the reviewer settled on. Decisions change through the
undoable, journaled edit ``SetReview`` exactly like labels.

A retrained model proposes the same expression again with frames a little off, under a new run id.
``ReviewStore.earlier_decision`` finds the annotator's verdict on it from another run (same video
and class, IoU >= CARRY_MIN_IOU with the decided span), so the review desk does not ask twice and
an export does not bring back what was rejected.

A fourth status, "looked", is no verdict on a proposal: it marks a low-scored candidate span the
annotator looked at and found empty (`pfes_core.candidate_looks`).
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, replace
from typing import Iterable

from .errors import LabelError
from .labels import Edit, register_edit
from .safe_paths import id_problem
from .spotting import interval_iou
from .types import Interval, other_class, parse_class

#: A candidate run the model did not propose, looked at and found empty (pfes_core.candidate_looks):
#: remembered so it is not offered again; no training target, and never carried onto a proposal.
LOOKED = "looked"
STATUSES = ("accepted", "rejected", "adjusted", LOOKED)
CARRY_MIN_IOU = 0.5     # the MEGC match rule: a proposal this close is the same expression


def as_other_class(proposal: Interval) -> Interval:
    """The proposal's span with the other class: what "accept as the other class" labels, and what
    the export writes for it."""
    return replace(proposal, cls=other_class(proposal.cls))


def other_class_labels(labels, proposal: Interval) -> list:
    """The point labels of the other class inside `proposal` (`labels`: a LabelStore). A rejected
    proposal with one was accepted as the other class (the desk's C): the review table, the export
    and the desk's link all read it so."""
    other = other_class(proposal.cls)
    return [lab for lab in labels.in_range(proposal.video, proposal.onset, proposal.offset)
            if lab.cls == other]


@dataclass(frozen=True)
class ReviewDecision:
    """The verdict on one proposal. `adjusted` is (onset, apex, offset) when status is 'adjusted'."""

    video: str
    run_id: str
    cls: str
    onset: int
    apex: int
    offset: int
    score: float | None
    status: str
    adjusted: tuple[int, int, int] | None = None
    annotator: str = ""
    time: float = 0.0

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.video, self.run_id, self.cls, self.onset, self.offset)

    def interval(self) -> Interval:
        """The interval this decision stands for: the adjusted one if adjusted, else the proposal."""
        if self.adjusted is not None:
            on, ap, off = self.adjusted
            return Interval(self.video, self.cls, on, ap, off, self.score)
        return Interval(self.video, self.cls, self.onset, self.apex, self.offset, self.score)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["adjusted"] = list(self.adjusted) if self.adjusted is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ReviewDecision":
        adj = d.get("adjusted")
        score = d.get("score")
        return cls(str(d["video"]), str(d["run_id"]), str(d["cls"]), int(d["onset"]), int(d["apex"]),
                   int(d["offset"]), None if score is None else float(score), str(d["status"]),
                   None if adj is None else (int(adj[0]), int(adj[1]), int(adj[2])),
                   str(d.get("annotator", "")), float(d.get("time", 0.0)))


def _check_interval(on: int, ap: int, off: int, what: str) -> None:
    if not (0 <= on <= ap <= off):
        raise LabelError(f"{what} needs 0 <= onset <= apex <= offset, got {on}, {ap}, {off}")


class ReviewStore:
    """Decisions keyed by proposal; small (hundreds), so a dict is enough."""

    def __init__(self, decisions: Iterable[ReviewDecision] = ()):
        self._items: dict[tuple, ReviewDecision] = {}
        self._by_expression: dict | None = None        # see _expression_index
        self._stale: set[tuple[str, str]] = set()
        self.revision = 0        # bumped by every change: lets views cache what they derive
        for d in decisions:
            self._items[d.key] = d

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self.all())

    def get(self, video: str, run_id: str, cls: str, onset: int, offset: int) -> ReviewDecision | None:
        return self._items.get((video, run_id, cls, int(onset), int(offset)))

    def status_of(self, run_id: str, proposal: Interval) -> str | None:
        d = self.get(proposal.video, run_id, proposal.cls, proposal.onset, proposal.offset)
        return None if d is None else d.status

    def all(self) -> list[ReviewDecision]:
        return sorted(self._items.values(), key=lambda d: (d.video, d.run_id, d.onset, d.cls, d.offset))

    def for_video(self, video: str, run_id: str | None = None) -> list[ReviewDecision]:
        return [d for d in self.all() if d.video == video and (run_id is None or d.run_id == run_id)]

    def for_run(self, run_id: str) -> list[ReviewDecision]:
        return [d for d in self.all() if d.run_id == run_id]

    def accepted(self, run_id: str | None = None) -> list[Interval]:
        """Accepted and adjusted decisions as intervals (what an export of reviewed results holds)."""
        return [d.interval() for d in self.all()
                if d.status in ("accepted", "adjusted") and (run_id is None or d.run_id == run_id)]

    def looked(self, video: str) -> list[Interval]:
        """Spans of `video` looked at and found empty, in any run (status LOOKED)."""
        return [d.interval() for d in self._items.values() if d.video == video and d.status == LOOKED]

    def earlier_decision(self, run_id: str | None, proposal: Interval,
                         min_iou: float = CARRY_MIN_IOU) -> ReviewDecision | None:
        """The newest decision of another run on the same expression as `proposal`: same video
        and class, IoU >= `min_iou` with the span decided (the adjusted one if adjusted)."""
        spans = self._expression_index().get((proposal.video, proposal.cls))
        if not spans:
            return None
        onsets, longest, rows = spans
        # only spans that start no earlier than the longest one reaching the proposal can overlap it
        lo = bisect_left(onsets, proposal.onset - longest)
        hi = bisect_right(onsets, proposal.offset)
        best = None
        for span, d in rows[lo:hi]:
            if d.run_id == run_id or d.status == LOOKED or interval_iou(span, proposal) < min_iou:
                continue
            if best is None or (d.time, d.key) > (best.time, best.key):
                best = d
        return best

    def _expression_index(self) -> dict:
        """{(video, cls): (sorted onsets, longest span, [(decided span, decision)])}. Groups an
        edit touched are rebuilt on the next call: the review desk asks `earlier_decision` for
        every proposal after every edit."""
        if self._by_expression is None or self._stale:
            wanted = None if self._by_expression is None else self._stale
            groups: dict[tuple[str, str], list] = {}
            for d in self._items.values():
                if wanted is None or (d.video, d.cls) in wanted:
                    groups.setdefault((d.video, d.cls), []).append((d.interval(), d))
            index = {} if wanted is None else self._by_expression
            for key in wanted or ():
                index.pop(key, None)
            for key, rows in groups.items():
                rows.sort(key=lambda r: r[0].onset)
                index[key] = ([r[0].onset for r in rows], max(r[0].offset - r[0].onset for r in rows),
                              rows)
            self._by_expression, self._stale = index, set()
        return self._by_expression

    def _set(self, key: tuple, decision: ReviewDecision | None) -> ReviewDecision | None:
        self._stale.add((key[0], key[2]))           # (video, cls) of the decision's group
        self.revision += 1
        before = self._items.get(key)
        if decision is None:
            self._items.pop(key, None)
        else:
            self._items[key] = decision
        return before


@register_edit
class SetReview(Edit):
    """Set (status in STATUSES) or clear (status None) the decision on one proposal."""

    kind = "set_review"

    def __init__(self, video: str, run_id: str, cls: str, onset: int, apex: int, offset: int,
                 status: str | None, score: float | None = None,
                 adjusted: tuple[int, int, int] | None = None, annotator: str = "",
                 time_: float | None = None):
        self.video, self.run_id, self.cls = str(video), str(run_id), cls
        self.onset, self.apex, self.offset = int(onset), int(apex), int(offset)
        self.status = status
        self.score = None if score is None else float(score)
        self.adjusted = None if adjusted is None else tuple(int(x) for x in adjusted)
        self.annotator = str(annotator or "")
        self.time = time.time() if time_ is None else float(time_)
        self.before: ReviewDecision | None = None
        self.applied = False

    @classmethod
    def for_proposal(cls, run_id: str, proposal: Interval, status: str | None,
                     adjusted: tuple[int, int, int] | None = None, annotator: str = "") -> "SetReview":
        return cls(proposal.video, run_id, proposal.cls, proposal.onset, proposal.apex, proposal.offset,
                   status, proposal.score, adjusted, annotator)

    @classmethod
    def restoring(cls, key: tuple, decision: ReviewDecision | None) -> "SetReview":
        """The edit that puts back `decision` (or clears the key when None)."""
        if decision is None:
            video, run_id, c, onset, offset = key
            return cls(video, run_id, c, onset, onset, offset, None)
        return cls(decision.video, decision.run_id, decision.cls, decision.onset, decision.apex,
                   decision.offset, decision.status, decision.score, decision.adjusted,
                   decision.annotator, decision.time)

    def _decision(self) -> ReviewDecision | None:
        if self.status is None:
            return None
        return ReviewDecision(self.video, self.run_id, self.cls, self.onset, self.apex, self.offset,
                              self.score, self.status, self.adjusted, self.annotator, self.time)

    def apply(self, state) -> None:
        self.cls = parse_class(self.cls)
        if self.status is not None and self.status not in STATUSES:
            raise LabelError(f"unknown review status {self.status!r} (expected one of {', '.join(STATUSES)})")
        record = state.videos.get(self.video)
        if record is None:
            raise LabelError(f"unknown video {self.video!r}")
        problem = id_problem(self.run_id)
        if problem is not None:  # run ids name folders under runs/
            raise LabelError(f"invalid run id {self.run_id[:60]!r}: it {problem}")
        if self.status is not None:
            _check_interval(self.onset, self.apex, self.offset, "a proposal")
        if self.status == "adjusted":
            if self.adjusted is None:
                raise LabelError("an adjusted review needs the adjusted onset, apex and offset")
            _check_interval(*self.adjusted, "an adjusted interval")
            if self.adjusted[2] >= record.n_frames:
                raise LabelError(f"adjusted offset {self.adjusted[2]} is past the end of {self.video!r}")
        elif self.status is not None:
            self.adjusted = None
        key = (self.video, self.run_id, self.cls, self.onset, self.offset)
        self.before = state.reviews._set(key, self._decision())
        self.applied = True

    def inverse(self) -> "SetReview":
        if not self.applied:
            raise LabelError("cannot invert a review edit that was not applied")
        return SetReview.restoring((self.video, self.run_id, self.cls, self.onset, self.offset), self.before)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "video": self.video, "run_id": self.run_id, "cls": self.cls,
                "onset": self.onset, "apex": self.apex, "offset": self.offset, "status": self.status,
                "score": self.score, "adjusted": None if self.adjusted is None else list(self.adjusted),
                "annotator": self.annotator, "time": self.time}

    @classmethod
    def from_dict(cls, d: dict) -> "SetReview":
        return cls(d["video"], d["run_id"], d["cls"], d["onset"], d["apex"], d["offset"], d.get("status"),
                   d.get("score"), d.get("adjusted"), d.get("annotator", ""), d.get("time"))

    def describe(self) -> str:
        if self.status == LOOKED:
            return f"Nothing here: frames {self.onset}-{self.offset} ({self.video})"
        return f"{self.status or 'clear'} proposal {self.onset}-{self.offset}"
