"""MEGC spotting evaluation (METHOD.md section 6): interval matching, pooled counts, F1.

Matching, per video and class: predictions are visited by descending score (None counts as the
lowest; ties keep input order). Each is a true positive when some still-unmatched ground truth of
the same class has IoU >= 0.5 with it; it then takes the unmatched ground truth with the highest
IoU (earliest onset on ties), so every ground truth is matched at most once. Everything else is a
false positive; unmatched ground truths are false negatives.

IoU is on inclusive frame intervals: ``|A n B| / |A u B|`` counting frames, lengths
``offset - onset + 1``. IoU exactly 0.5 counts as a match (e.g. [0, 9] vs [0, 19]: 10 / 20).

F1 = 2 TP / (TP + FP + GT), precision = TP / (TP + FP), recall = TP / GT; each is 0.0 when its
denominator is 0. Counts are pooled (summed) over videos, and over folds with `pool`, before any
ratio is taken, as the protocol prescribes.

``protocol="reference"`` scores as the published GIM evaluation does, so figures can be put beside
published tables (checked against that code's counts in tests/test_metrics.py):

- intervals are compared as the published pipeline feeds them: a prediction ends at
  ``offset + 1`` (its proposals have exclusive ends) but a ground truth at ``offset`` (the stored
  inclusive offset read as exclusive), and IoU uses lengths ``end - start``; so a ground truth
  counts one frame shorter than a prediction covering the same frames;
- a class with no ground truth in a subject (``groups``) is skipped there: its predictions are
  neither true nor false positives (listed as ``ignored``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .spotting import interval_iou
from .types import CLASSES, Interval

MATCH_IOU = 0.5

#: Scoring conventions (`evaluate`): the MEGC protocol, or the published code's own.
MEGC = "megc"
REFERENCE = "reference"
PROTOCOLS = (MEGC, REFERENCE)

#: How a report's figures were chosen (METHOD.md: always say which).
FIXED_EPOCH = "fixed-epoch"
BEST_EPOCH = "per-subject-best-epoch"


@dataclass
class Counts:
    """TP/FP/GT counts of one class (or all classes together) with the derived ratios."""

    tp: int = 0
    fp: int = 0
    n_gt: int = 0

    @property
    def fn(self) -> int:
        return self.n_gt - self.tp

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gt if self.n_gt else 0.0

    @property
    def f1(self) -> float:
        denom = self.tp + self.fp + self.n_gt
        return 2.0 * self.tp / denom if denom else 0.0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.tp + other.tp, self.fp + other.fp, self.n_gt + other.n_gt)

    def to_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "n_gt": self.n_gt,
                "n_pred": self.n_pred, "precision": self.precision, "recall": self.recall,
                "f1": self.f1}


@dataclass
class Match:
    """A true positive: the prediction, the ground truth it took, and their IoU."""

    pred: Interval
    truth: Interval
    iou: float


@dataclass
class VideoResult:
    """One video's outcome; the GUI's evaluation table jumps to `false_positives` and `missed`."""

    video: str
    counts: dict[str, Counts] = field(default_factory=lambda: {c: Counts() for c in CLASSES})
    matches: list[Match] = field(default_factory=list)
    false_positives: list[Interval] = field(default_factory=list)
    missed: list[Interval] = field(default_factory=list)
    ignored: list[Interval] = field(default_factory=list)   # reference protocol: class without ground truth

    @property
    def overall(self) -> Counts:
        total = Counts()
        for c in CLASSES:
            total = total + self.counts[c]
        return total

    def to_dict(self) -> dict:
        return {
            "video": self.video,
            "classes": {c: self.counts[c].to_dict() for c in CLASSES},
            "overall": self.overall.to_dict(),
            "matches": [{"pred": _iv(m.pred), "truth": _iv(m.truth), "iou": m.iou}
                        for m in self.matches],
            "false_positives": [_iv(iv) for iv in self.false_positives],
            "missed": [_iv(iv) for iv in self.missed],
            **({"ignored": [_iv(iv) for iv in self.ignored]} if self.ignored else {}),
        }


def _iv(iv: Interval) -> dict:
    return {"video": iv.video, "class": iv.cls, "onset": iv.onset, "apex": iv.apex,
            "offset": iv.offset, "score": iv.score}


@dataclass
class MetricsReport:
    """Pooled counts per class and overall, plus the per-video breakdown.

    ``selection`` says how the model behind these figures was chosen (`FIXED_EPOCH` or
    `BEST_EPOCH`), so an optimistic figure is never mistaken for an honest one.
    """

    per_video: dict[str, VideoResult] = field(default_factory=dict)
    selection: str = FIXED_EPOCH
    label: str = ""
    protocol: str = MEGC

    @property
    def classes(self) -> dict[str, Counts]:
        out = {c: Counts() for c in CLASSES}
        for vr in self.per_video.values():
            for c in CLASSES:
                out[c] = out[c] + vr.counts[c]
        return out

    @property
    def overall(self) -> Counts:
        total = Counts()
        for counts in self.classes.values():
            total = total + counts
        return total

    def f1(self, cls: str | None = None) -> float:
        return (self.overall if cls is None else self.classes[cls]).f1

    def to_dict(self, per_video: bool = True) -> dict:
        out = {"protocol": self.protocol, "selection": self.selection, "label": self.label,
               "classes": {c: v.to_dict() for c, v in self.classes.items()},
               "overall": self.overall.to_dict()}
        if per_video:
            out["videos"] = [vr.to_dict() for vr in self.per_video.values()]
        return out


def reference_iou(pred: Interval, truth: Interval) -> float:
    """IoU as the published evaluation computes it (prediction end exclusive, ground-truth end
    the stored inclusive offset, lengths ``end - start``)."""
    p_end, t_end = pred.offset + 1, truth.offset
    inter = max(0, min(p_end, t_end) - max(pred.onset, truth.onset))
    union = (p_end - pred.onset) + (t_end - truth.onset) - inter
    return inter / union if union > 0 else 0.0


def match_video(preds: list[Interval], truths: list[Interval], video: str = "",
                iou_threshold: float = MATCH_IOU, protocol: str = MEGC) -> VideoResult:
    """Match one video's predictions to its ground truth (rules in the module docstring)."""
    iou = reference_iou if protocol == REFERENCE else interval_iou
    result = VideoResult(video=video)
    order = sorted(range(len(preds)),
                   key=lambda i: (preds[i].score is None,
                                  -(preds[i].score if preds[i].score is not None else 0.0), i))
    taken = [False] * len(truths)
    for i in order:
        p = preds[i]
        if p.cls not in result.counts:
            raise ValueError(f"unknown class {p.cls!r} in predictions")
        best, best_iou = -1, -1.0
        for j, t in enumerate(truths):
            if taken[j] or t.cls != p.cls:
                continue
            ov = iou(p, t)
            if ov >= iou_threshold and (ov > best_iou or (ov == best_iou and t.onset < truths[best].onset)):
                best, best_iou = j, ov
        if best >= 0:
            taken[best] = True
            result.counts[p.cls].tp += 1
            result.matches.append(Match(p, truths[best], best_iou))
        else:
            result.counts[p.cls].fp += 1
            result.false_positives.append(p)
    for j, t in enumerate(truths):
        if t.cls not in result.counts:
            raise ValueError(f"unknown class {t.cls!r} in ground truth")
        result.counts[t.cls].n_gt += 1
        if not taken[j]:
            result.missed.append(t)
    result.false_positives.sort(key=lambda iv: (iv.onset, iv.cls))
    result.missed.sort(key=lambda iv: (iv.onset, iv.cls))
    return result


def evaluate(pred: dict[str, list[Interval]], truth: dict[str, list[Interval]],
             videos: list[str] | None = None, selection: str = FIXED_EPOCH,
             label: str = "", protocol: str = MEGC, groups: dict[str, str] | None = None) -> MetricsReport:
    """Pooled metrics over ``videos`` (default: every video in either dict) under ``protocol``.

    A video with ground truth but no predictions counts all its ground truth as missed; a video
    with predictions but no ground truth entry counts them all as false positives (under the
    reference protocol, only for classes with ground truth in its subject). ``groups`` maps a
    video to its subject for the reference protocol (default: all videos are one subject).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r} (expected {' or '.join(PROTOCOLS)})")
    names = list(videos) if videos is not None else list(dict.fromkeys([*truth, *pred]))
    report = MetricsReport(selection=selection, label=label, protocol=protocol)
    for v in names:
        report.per_video[v] = match_video(list(pred.get(v, [])), list(truth.get(v, [])), video=v,
                                          protocol=protocol)
    if protocol == REFERENCE:
        _skip_classes_without_truth(report, groups or {})
    return report


def _skip_classes_without_truth(report: MetricsReport, groups: dict[str, str]) -> None:
    """The published evaluation scores a class per subject only when it has ground truth there."""
    by_subject: dict[str, list[VideoResult]] = {}
    for v, vr in report.per_video.items():
        by_subject.setdefault(groups.get(v, ""), []).append(vr)
    for results in by_subject.values():
        for c in CLASSES:
            if any(vr.counts[c].n_gt for vr in results):
                continue
            for vr in results:
                vr.counts[c].fp = 0
                vr.ignored.extend(iv for iv in vr.false_positives if iv.cls == c)
                vr.false_positives = [iv for iv in vr.false_positives if iv.cls != c]


def pool(reports: list[MetricsReport], selection: str | None = None, label: str = "") -> MetricsReport:
    """Combine fold reports (disjoint videos, e.g. leave-one-subject-out) into one pooled report.

    A video appearing in several folds is kept under ``"<fold>/<video>"`` so nothing is lost.
    """
    if selection is None:
        kinds = {r.selection for r in reports}
        if len(kinds) > 1:
            raise ValueError(f"refusing to pool {sorted(kinds)} figures together")
        selection = kinds.pop() if kinds else FIXED_EPOCH
    protocols = {r.protocol for r in reports}
    if len(protocols) > 1:
        raise ValueError(f"refusing to pool {sorted(protocols)} figures together")
    out = MetricsReport(selection=selection, label=label, protocol=protocols.pop() if protocols else MEGC)
    for k, r in enumerate(reports):
        for v, vr in r.per_video.items():
            key = v if v not in out.per_video else f"{k}/{v}"
            out.per_video[key] = vr
    return out


@dataclass
class EvaluationSummary:
    """The two figures METHOD.md asks for, kept apart: fixed-epoch (honest) and per-subject-best
    (the reference's optimistic choice, None when not computed)."""

    fixed_epoch: MetricsReport
    best_epoch: MetricsReport | None = None
    fixed_epoch_index: int | None = None

    def to_dict(self, per_video: bool = False) -> dict:
        out = {FIXED_EPOCH: self.fixed_epoch.to_dict(per_video=per_video),
               "fixed_epoch_index": self.fixed_epoch_index}
        if self.best_epoch is not None:
            out[BEST_EPOCH] = self.best_epoch.to_dict(per_video=per_video)
        return out


def format_table(report: MetricsReport) -> str:
    """Plain-text table: one row per class and one overall row."""
    head = f"{'class':<8}{'GT':>6}{'pred':>6}{'TP':>6}{'FP':>6}{'FN':>6}{'prec':>8}{'recall':>8}{'F1':>8}"
    protocol = ("protocol: MEGC" if report.protocol == MEGC else
                "protocol: reference (the published GIM evaluation: classes without ground truth in a subject "
                "skipped, ground-truth offsets read as exclusive ends)")
    lines = [f"[{report.selection}]{' ' + report.label if report.label else ''}", protocol, head]
    rows = list(report.classes.items()) + [("overall", report.overall)]
    for name, c in rows:
        lines.append(f"{name:<8}{c.n_gt:>6}{c.n_pred:>6}{c.tp:>6}{c.fp:>6}{c.fn:>6}"
                     f"{c.precision:>8.4f}{c.recall:>8.4f}{c.f1:>8.4f}")
    return "\n".join(lines)


__all__ = ["Counts", "Match", "VideoResult", "MetricsReport", "EvaluationSummary", "match_video",
           "evaluate", "pool", "format_table", "reference_iou", "MATCH_IOU", "MEGC", "REFERENCE", "PROTOCOLS",
           "FIXED_EPOCH", "BEST_EPOCH"]
