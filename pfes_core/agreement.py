"""Agreement between annotators: tolerance matching of point labels, and MEGC matching of intervals.

Expression coders are compared the way spotting is judged, not by frame-level kappa: two coders
agree on an expression when their clicks fall close together. For one pair of annotators (A, B)
and one video:

Same-class matching (precision, recall, F1, offsets). For each class separately, A's and B's
labels are paired one-to-one so that paired labels are at most ``tolerance`` frames apart. The
matching is optimal, not greedy: first as many pairs as possible, then the smallest total
``|offset|``, then (ties) the pairing that uses the earlier labels. A matched pair is an agreement
(TP). With A taken as the reference: recall = TP / |A|, precision = TP / |B|, and
F1 = 2 TP / (|A| + |B|) (symmetric: swapping A and B swaps precision and recall, F1 stays). A ratio
whose denominator is 0 is reported as None (nothing to agree on), never as 0 or 1. The offset of a
pair is ``B.frame - A.frame``; the median offset (signed, and of the absolute values) is taken over
the same-class pairs.

Class confusion (MaE vs ME). A second matching ignores the class: every label of A may pair with
every label of B within the tolerance, again optimal: most pairs, then most pairs of the same class,
then the smallest total offset. The confusion table counts those pairs by (A's class, B's class);
a label left without a partner is counted against "none". The off-diagonal cells are the class
disagreements: both coders saw an expression there, but called it differently. Cohen's kappa over
the pairs of that matching (classes only) is given as ``class_kappa``.

Tolerance in milliseconds: a video at ``fps`` frames per second uses ``floor(ms * fps / 1000)``
frames, so a pair is never further apart in time than the tolerance says.

Counts are summed over videos before ratios are taken ("overall"), as the spotting metrics do.
Interval sets (two sources of reference intervals) are compared with the MEGC rule of
pfes_core.metrics: one-to-one, same class, IoU >= 0.5.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from scipy.optimize import linear_sum_assignment

from .errors import PfesError
from .labels import annotator_title
from .metrics import evaluate
from .types import CLASSES, Interval, PointLabel

NONE = "none"   # the confusion table's row/column for a label without a partner


class AgreementError(PfesError):
    """Agreement cannot be computed as asked (bad tolerance, unknown annotator)."""


@dataclass(frozen=True)
class Pair:
    """Two labels matched to each other: A's, B's; offset = b.frame - a.frame."""

    a: PointLabel
    b: PointLabel

    @property
    def offset(self) -> int:
        return self.b.frame - self.a.frame


def _components(a_frames: list[int], b_frames: list[int], tol: int) -> list[tuple[list[int], list[int]]]:
    """Split two sides into groups that cannot match across (a gap above `tol` in the merged
    frame order), so each assignment problem stays small however long the video is."""
    events = sorted([(f, 0, i) for i, f in enumerate(a_frames)] + [(f, 1, j) for j, f in enumerate(b_frames)])
    groups: list[tuple[list[int], list[int]]] = []
    last = None
    for frame, side, idx in events:
        if last is None or frame - last > tol:
            groups.append(([], []))
        groups[-1][side].append(idx)
        last = frame
    return [g for g in groups if g[0] and g[1]]


def optimal_pairs(a: list[PointLabel], b: list[PointLabel], tol: int, same_class: bool) -> list[Pair]:
    """The optimal one-to-one matching described in the module docstring.

    `same_class=True`: only labels of one class pair; otherwise any two labels may, with pairs of
    the same class preferred. Labels are compared by frame only (callers pass one video)."""
    if tol < 0:
        raise AgreementError(f"tolerance {tol} is negative")
    a = sorted(a, key=lambda lb: (lb.frame, lb.cls))
    b = sorted(b, key=lambda lb: (lb.frame, lb.cls))
    pairs: list[Pair] = []
    for ia, ib in _components([lb.frame for lb in a], [lb.frame for lb in b], tol):
        na, nb = len(ia), len(ib)
        k = min(na, nb)
        # Integer weights of strictly decreasing priority, so one minimum-cost assignment gives
        # most pairs, then (class-blind) most same-class pairs, then least offset, then earliest.
        c1 = 2 * (na + nb) * k + 1                     # per frame of offset; above every tie-break sum
        c2 = k * (tol * c1 + na + nb) + 1              # per class mismatch; above every offset sum
        big = k * (c2 + tol * c1 + na + nb) + 1        # an impossible pair; above everything else
        fa = np.array([a[i].frame for i in ia], dtype=np.int64)[:, None]
        fb = np.array([b[j].frame for j in ib], dtype=np.int64)[None, :]
        dist = np.abs(fb - fa)
        diff = np.array([[a[i].cls != b[j].cls for j in ib] for i in ia], dtype=bool)
        cost = dist * c1 + np.arange(na)[:, None] + np.arange(nb)[None, :]
        cost = cost + (0 if same_class else diff * c2)
        forbidden = (dist > tol) | (diff if same_class else False)
        cost = np.where(forbidden, big, cost).astype(np.float64)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if not forbidden[r, c]:
                pairs.append(Pair(a[ia[r]], b[ib[c]]))
    pairs.sort(key=lambda p: (p.a.frame, p.a.cls))
    return pairs


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _kappa(confusion: dict[str, dict[str, int]]) -> float | None:
    """Cohen's kappa of the classes of matched pairs (None when there are none, or chance is 1)."""
    n = sum(confusion[x][y] for x in CLASSES for y in CLASSES)
    if not n:
        return None
    po = sum(confusion[c][c] for c in CLASSES) / n
    pe = sum(sum(confusion[c][y] for y in CLASSES) * sum(confusion[x][c] for x in CLASSES)
             for c in CLASSES) / (n * n)
    return None if pe >= 1.0 else (po - pe) / (1.0 - pe)


@dataclass
class PairCounts:
    """One annotator pair's figures over some videos (one video, or summed over all)."""

    a: str
    b: str
    n_a: int = 0
    n_b: int = 0
    matched: int = 0                                  # same-class pairs (TP)
    per_class: dict[str, list[int]] = field(default_factory=lambda: {c: [0, 0, 0] for c in CLASSES})
    confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: {x: {y: 0 for y in (*CLASSES, NONE)} for x in (*CLASSES, NONE)})
    offsets: list[int] = field(default_factory=list)  # b - a of each same-class pair

    def add(self, other: "PairCounts") -> None:
        self.n_a += other.n_a
        self.n_b += other.n_b
        self.matched += other.matched
        for c in CLASSES:
            self.per_class[c] = [x + y for x, y in zip(self.per_class[c], other.per_class[c])]
        for x in self.confusion:
            for y in self.confusion[x]:
                self.confusion[x][y] += other.confusion[x][y]
        self.offsets.extend(other.offsets)

    @property
    def precision(self) -> float | None:
        return _ratio(self.matched, self.n_b)

    @property
    def recall(self) -> float | None:
        return _ratio(self.matched, self.n_a)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.matched, self.n_a + self.n_b)

    @property
    def median_offset(self) -> float | None:
        return float(statistics.median(self.offsets)) if self.offsets else None

    @property
    def median_abs_offset(self) -> float | None:
        return float(statistics.median(abs(x) for x in self.offsets)) if self.offsets else None

    @property
    def class_disagreements(self) -> int:
        return sum(self.confusion[x][y] for x in CLASSES for y in CLASSES if x != y)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "n_a": self.n_a, "n_b": self.n_b, "matched": self.matched,
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "per_class": {c: {"n_a": v[0], "n_b": v[1], "matched": v[2], "f1": _ratio(2 * v[2], v[0] + v[1])}
                              for c, v in self.per_class.items()},
                "confusion": self.confusion, "class_disagreements": self.class_disagreements,
                "class_kappa": _kappa(self.confusion),
                "median_offset": self.median_offset, "median_abs_offset": self.median_abs_offset}


def compare_video(a_labels: list[PointLabel], b_labels: list[PointLabel], tol: int,
                  a: str = "A", b: str = "B") -> PairCounts:
    """Figures of one annotator pair on one video (labels of that video only)."""
    out = PairCounts(a, b, len(a_labels), len(b_labels))
    for c in CLASSES:
        sa = [lb for lb in a_labels if lb.cls == c]
        sb = [lb for lb in b_labels if lb.cls == c]
        pairs = optimal_pairs(sa, sb, tol, same_class=True)
        out.per_class[c] = [len(sa), len(sb), len(pairs)]
        out.matched += len(pairs)
        out.offsets.extend(p.offset for p in pairs)
    blind = optimal_pairs(a_labels, b_labels, tol, same_class=False)
    for p in blind:
        out.confusion[p.a.cls][p.b.cls] += 1
    paired_a = {p.a for p in blind}
    paired_b = {p.b for p in blind}
    for lb in a_labels:
        if lb not in paired_a:
            out.confusion[lb.cls][NONE] += 1
    for lb in b_labels:
        if lb not in paired_b:
            out.confusion[NONE][lb.cls] += 1
    return out


def tolerance_frames(fps: float, tolerance: int | None = None, tolerance_ms: float | None = None) -> int:
    """Frames of tolerance for a video at `fps` (from frames, or milliseconds rounded down)."""
    if tolerance is not None and tolerance_ms is not None:
        raise AgreementError("give the tolerance in frames or in milliseconds, not both")
    if tolerance_ms is not None:
        if not (math.isfinite(tolerance_ms) and tolerance_ms >= 0):
            raise AgreementError(f"tolerance {tolerance_ms} ms is not a non-negative number")
        return int(math.floor(tolerance_ms * fps / 1000.0 + 1e-9))
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    if isinstance(tol, bool) or not isinstance(tol, int) or tol < 0:
        raise AgreementError(f"tolerance {tol!r} is not a whole number of frames >= 0")
    return tol


DEFAULT_TOLERANCE = 5   # frames: a sixth of a second at 30 fps, within the spread of apex clicks


@dataclass
class AgreementReport:
    """Every annotator pair, per video and overall."""

    annotators: list[str]
    tolerance: int | None
    tolerance_ms: float | None
    per_video: dict[tuple[str, str], dict[str, PairCounts]] = field(default_factory=dict)
    tolerance_of: dict[str, int] = field(default_factory=dict)   # frames used per video

    def pairs(self) -> list[tuple[str, str]]:
        return list(self.per_video)

    def overall(self, a: str, b: str) -> PairCounts:
        total = PairCounts(a, b)
        for counts in self.per_video[(a, b)].values():
            total.add(counts)
        return total

    def to_dict(self) -> dict:
        return {"annotators": self.annotators, "tolerance_frames": self.tolerance,
                "tolerance_ms": self.tolerance_ms, "tolerance_per_video": self.tolerance_of,
                "pairs": [{**self.overall(a, b).to_dict(),
                           "videos": {v: c.to_dict() for v, c in self.per_video[(a, b)].items()}}
                          for a, b in self.pairs()]}


def label_agreement(project, annotators: Iterable[str] | None = None, tolerance: int | None = None,
                    tolerance_ms: float | None = None, videos: Iterable[str] | None = None) -> AgreementReport:
    """Agreement of every pair of `annotators` (default: every annotator with labels, the consensus
    layer included) over `videos` (default: every video of the project)."""
    names = list(annotators) if annotators is not None else project.labels.annotators()
    known = set(project.annotators())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise AgreementError(f"unknown annotator {annotator_title(unknown[0])!r} (the project has "
                             f"{', '.join(repr(annotator_title(n)) for n in project.annotators()) or 'none'})")
    if len(set(names)) != len(names):
        raise AgreementError("an annotator is named twice")
    vids = list(videos) if videos is not None else sorted(project.videos)
    report = AgreementReport(names, None if tolerance_ms is not None else tolerance_frames(30.0, tolerance),
                             tolerance_ms)
    for v in vids:
        report.tolerance_of[v] = tolerance_frames(project.videos[v].fps, tolerance, tolerance_ms)
    for a, b in itertools.combinations(names, 2):
        report.per_video[(a, b)] = {
            v: compare_video(project.labels.for_video(v, [a]), project.labels.for_video(v, [b]),
                             report.tolerance_of[v], a, b)
            for v in vids}
    return report


def interval_agreement(a: dict[str, list[Interval]], b: dict[str, list[Interval]],
                       videos: Iterable[str] | None = None) -> dict:
    """Two sets of reference intervals (A as reference, B compared to it) by the MEGC rule
    (same class, one-to-one, IoU >= 0.5): counts, precision, recall, F1 per class, per video, overall."""
    plain_b = {v: [Interval(iv.video, iv.cls, iv.onset, iv.apex, iv.offset, None) for iv in ivs]
               for v, ivs in b.items()}  # input order, not a score, decides MEGC's visiting order
    report = evaluate(plain_b, a, list(videos) if videos is not None else None, label="interval agreement")
    return report.to_dict()


def format_report(report: AgreementReport, per_video: bool = True) -> str:
    """Plain-text tables: one block per annotator pair, its videos and its overall row."""
    def num(x, fmt="{:.3f}"):
        return "-" if x is None else fmt.format(x)

    lines = []
    tol = (f"{report.tolerance_ms:g} ms" if report.tolerance_ms is not None else f"{report.tolerance} frames")
    if len(report.annotators) < 2:
        return (f"agreement needs labels of two annotators; this project has "
                f"{len(report.annotators)} ({', '.join(annotator_title(a) for a in report.annotators) or 'none'})")
    for a, b in report.pairs():
        lines.append(f"{annotator_title(a)} (A) vs {annotator_title(b)} (B), tolerance {tol}")
        lines.append(f"  {'video':<20} {'A':>5} {'B':>5} {'match':>5} {'prec':>6} {'rec':>6} {'F1':>6} "
                     f"{'MaE<>ME':>7} {'med.off':>7}")
        rows = list(report.per_video[(a, b)].items()) if per_video else []
        for name, c in rows + [("overall", report.overall(a, b))]:
            lines.append(f"  {name[:20]:<20} {c.n_a:>5} {c.n_b:>5} {c.matched:>5} {num(c.precision):>6} "
                         f"{num(c.recall):>6} {num(c.f1):>6} {c.class_disagreements:>7} "
                         f"{num(c.median_offset, '{:+.1f}'):>7}")
        conf = report.overall(a, b).confusion
        lines.append("  class confusion (rows A, columns B): " + "; ".join(
            f"{x}: " + " ".join(f"{y}={conf[x][y]}" for y in (*CLASSES, NONE)) for x in (*CLASSES, NONE)))
    return "\n".join(lines)
