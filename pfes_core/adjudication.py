"""Adjudication: the disagreements of two annotators as a review list, and the consensus layer.

The consensus layer is the labels of the annotator named ``consensus`` (labels.CONSENSUS): what the
coders agreed on, or what an adjudicator decided where they did not. It is built only by ordinary
label edits, so every decision is journaled and undoable like any other edit, and training can use
it (`pfes train --labels consensus`).

Disagreements come from the class-blind matching of pfes_core.agreement (most pairs within the
tolerance, same class preferred, least offset), per video:
- ``unmatched``: a label of one annotator with no label of the other within the tolerance;
- ``class``: both have a label there, of different classes (MaE vs ME);
- ``offset``: the same class, but further apart than ``large_offset`` frames.

An item is resolved when the consensus layer holds a label within the tolerance of one of its
labels (the adjudicator kept one, or placed one between), or when every label of the item was
rejected (``RejectForConsensus``: "no expression here"). Rejections are kept in the project
settings under ``consensus_rejected`` by an undoable edit, so they survive saves and replays.
"""

from __future__ import annotations

from dataclasses import dataclass

from .agreement import optimal_pairs
from .errors import LabelError
from .labels import CONSENSUS, AddLabel, BulkImport, Edit, annotator_title, register_edit
from .types import PointLabel

SETTINGS_KEY = "consensus_rejected"
KINDS = ("unmatched", "class", "offset")


@dataclass(frozen=True)
class Disagreement:
    """One place where annotators `a` and `b` disagree (`label_a`/`label_b`: None when absent)."""

    video: str
    kind: str
    label_a: PointLabel | None
    label_b: PointLabel | None

    @property
    def labels(self) -> list[PointLabel]:
        return [lb for lb in (self.label_a, self.label_b) if lb is not None]

    @property
    def frame(self) -> int:
        """Where the review list jumps to: the earlier label of the item."""
        return min(lb.frame for lb in self.labels)

    def describe(self) -> str:
        def one(lb):
            return f"{lb.cls} at {lb.frame} by {annotator_title(lb.annotator)}"

        if self.kind == "unmatched":
            lb = self.labels[0]
            return f"only {one(lb)}"
        if self.kind == "class":
            return f"class: {one(self.label_a)} vs {one(self.label_b)}"
        return f"offset {self.label_b.frame - self.label_a.frame:+d}: {one(self.label_a)} vs {one(self.label_b)}"


def _tol(tolerance, video: str) -> int:
    """Frames of tolerance for `video`: one number, or a per-video dict (tolerance in milliseconds
    gives different frame counts at different frame rates: AgreementReport.tolerance_of)."""
    return int(tolerance[video]) if isinstance(tolerance, dict) else int(tolerance)


def default_large_offset(tol: int) -> int:
    """Offsets above half the tolerance are worth a look (both frames are still a match)."""
    return max(1, tol // 2)


def disagreements(project, a: str, b: str, tolerance, large_offset: int | None = None,
                  videos=None) -> list[Disagreement]:
    """The review list for annotators `a` and `b`, per video in frame order."""
    if a == b:
        raise LabelError("choose two different annotators to compare")
    out: list[Disagreement] = []
    for v in (sorted(project.videos) if videos is None else videos):
        tol = _tol(tolerance, v)
        large = default_large_offset(tol) if large_offset is None else int(large_offset)
        la, lb = project.labels.for_video(v, [a]), project.labels.for_video(v, [b])
        pairs = optimal_pairs(la, lb, tol, same_class=False)
        items: list[Disagreement] = []
        for p in pairs:
            if p.a.cls != p.b.cls:
                items.append(Disagreement(v, "class", p.a, p.b))
            elif abs(p.offset) > large:
                items.append(Disagreement(v, "offset", p.a, p.b))
        paired = {p.a for p in pairs} | {p.b for p in pairs}
        items += [Disagreement(v, "unmatched", x, None) for x in la if x not in paired]
        items += [Disagreement(v, "unmatched", None, x) for x in lb if x not in paired]
        out += sorted(items, key=lambda d: (d.frame, d.kind))
    return out


def agreements(project, a: str, b: str, tolerance, large_offset: int | None = None,
               videos=None) -> list[PointLabel]:
    """Consensus labels for what `a` and `b` agree on: same-class pairs no further apart than
    `large_offset`, placed at the midpoint (the earlier frame when it falls between two)."""
    out: list[PointLabel] = []
    for v in (sorted(project.videos) if videos is None else videos):
        tol = _tol(tolerance, v)
        large = default_large_offset(tol) if large_offset is None else int(large_offset)
        pairs = optimal_pairs(project.labels.for_video(v, [a]), project.labels.for_video(v, [b]), tol,
                              same_class=False)
        out += [PointLabel(v, (p.a.frame + p.b.frame) // 2, p.a.cls, CONSENSUS)
                for p in pairs if p.a.cls == p.b.cls and abs(p.offset) <= large]
    return out


def accept_agreements_edit(project, a: str, b: str, tolerance, large_offset: int | None = None,
                           now: float = 0.0) -> BulkImport:
    """One undoable edit adding the agreed labels to the consensus layer (existing ones kept)."""
    labels = [PointLabel(lb.video, lb.frame, lb.cls, CONSENSUS, now, now)
              for lb in agreements(project, a, b, tolerance, large_offset)]
    return BulkImport(labels, skip_existing=True)


def rejected(state) -> set[tuple[str, int, str, str]]:
    return {tuple(k) for k in (getattr(state, "settings", {}) or {}).get(SETTINGS_KEY, [])}


def resolution(project, item: Disagreement, tolerance) -> str | None:
    """How an item was resolved ('consensus MaE at 120', 'rejected'), or None while it is open."""
    tolerance = _tol(tolerance, item.video)
    for lb in item.labels:
        near = project.labels.nearest(item.video, lb.frame, annotators=[CONSENSUS])
        if near is not None and abs(near.frame - lb.frame) <= tolerance:
            return f"consensus {near.cls} at {near.frame}"
    gone = rejected(project)
    if all((lb.video, lb.frame, lb.cls, lb.annotator) in gone for lb in item.labels):
        return "rejected"
    return None


def keep_edit(label: PointLabel, cls: str | None = None, frame: int | None = None) -> AddLabel:
    """The edit that puts `label` (or its class at another frame) into the consensus layer."""
    return AddLabel(label.video, label.frame if frame is None else frame, cls or label.cls, CONSENSUS)


def midpoint_edit(item: Disagreement) -> AddLabel:
    """For an offset disagreement: one consensus label halfway between the two."""
    if item.label_a is None or item.label_b is None or item.label_a.cls != item.label_b.cls:
        raise LabelError("a midpoint needs two labels of the same class")
    return keep_edit(item.label_a, frame=(item.label_a.frame + item.label_b.frame) // 2)


@register_edit
class RejectForConsensus(Edit):
    """Mark labels as "no expression here" for adjudication (or take that back: `reject=False`)."""

    kind = "consensus_reject"

    def __init__(self, labels, reject: bool = True):
        self.keys = [(str(v), int(f), str(c), str(a)) for v, f, c, a in
                     ((lb.video, lb.frame, lb.cls, lb.annotator) if isinstance(lb, PointLabel) else lb
                      for lb in labels)]
        self.reject = bool(reject)
        self.changed: list[tuple] | None = None

    def apply(self, state) -> None:
        settings = getattr(state, "settings", None)
        if settings is None:
            raise LabelError("rejections are kept in project settings, which this state lacks")
        current = [tuple(k) for k in settings.get(SETTINGS_KEY, [])]
        have = set(current)
        if self.reject:
            changed = [k for k in dict.fromkeys(self.keys) if k not in have]
            current += changed
        else:
            changed = [k for k in dict.fromkeys(self.keys) if k in have]
            current = [k for k in current if k not in set(changed)]
        state.settings = {**settings, SETTINGS_KEY: [list(k) for k in current]}
        if hasattr(state, "_saved_settings"):
            state._dirty = True
        self.changed = changed

    def inverse(self) -> "RejectForConsensus":
        return RejectForConsensus(self.changed if self.changed is not None else self.keys, not self.reject)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "keys": [list(k) for k in self.keys], "reject": self.reject}

    @classmethod
    def from_dict(cls, d: dict) -> "RejectForConsensus":
        keys = d["keys"]
        if not isinstance(keys, list) or any(not isinstance(k, list) or len(k) != 4 for k in keys):
            raise LabelError("consensus_reject keys must be [video, frame, class, annotator] lists")
        return cls(keys, bool(d.get("reject", True)))

    def describe(self) -> str:
        n = len(self.keys)
        return f"{'reject' if self.reject else 'restore'} {n} label{'s' if n != 1 else ''} for consensus"
