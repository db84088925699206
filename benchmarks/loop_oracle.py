"""The simulated annotator of the review-loop benchmark (bench_review_loop.py).

It knows the ground truth and works as the review desk lets a person work: it judges proposals in
the desk's order, looks at the model's low-scored candidates the queue offers, and (--scans) scans
stretches of video no proposal points at, clicking every expression there. Each step is counted
in annotator actions, the benchmark's cost.
"""

from __future__ import annotations

from pfes_core.spotting import interval_iou
from pfes_core.types import CLASSES, Interval

ADJUST_ACTIONS = 2          # an adjusted proposal: drag its onset and offset to the true ones


def expression_key(t: Interval) -> tuple:
    """How the oracle names a ground-truth expression in `Oracle.found`: (video, class, onset, offset)."""
    return (t.video, t.cls, t.onset, t.offset)


def budget_left(decided: dict, budget: int) -> int:
    """What a round's proposal review (`Oracle.review`'s counts) left of its budget: the looks a
    run that proposed too few gets instead (bench_review_loop.py --fill-looks)."""
    judged = sum(decided.get(k, 0) for k in ("accepted", "rejected", "adjusted", "other_class"))
    return max(budget - judged, 0)


def _holds_label(points: list[tuple[int, int]], p: Interval) -> bool:
    """A point label (frame, class index) of p's class lies inside p (the app's `linked_label`)."""
    c = CLASSES.index(p.cls)
    return any(pc == c and p.onset <= f <= p.offset for f, pc in points)


def review_order(proposals: list[Interval], order: str = "score") -> list[Interval]:
    """The order the annotator works through: "score", highest score first; "time", video by video
    along the timeline, whatever the score; "classes", each class's proposals by score, the classes
    taking turns (MaE, ME, MaE, ...), so the rarer, lower-scored class is seen as early as the other;
    "quantile", each proposal placed by its rank within its own class, so a class gets review in
    proportion to its share of the proposals whatever its scores."""
    by_score = sorted(proposals, key=lambda p: (-(p.score or 0.0), p.video, p.onset))
    if order == "score":
        return by_score
    if order == "time":
        return sorted(proposals, key=lambda p: (p.video, p.onset, p.cls))
    lists = [[p for p in by_score if p.cls == c] for c in CLASSES]
    if order == "quantile":
        # each proposal at its rank within its own class (0 best, 1 worst), the classes merged on it
        ranked = [((i + 0.5) / len(x), -(p.score or 0.0), p.video, p.onset, p) for x in lists
                  for i, p in enumerate(x)]
        return [r[-1] for r in sorted(ranked, key=lambda r: r[:4])]
    out = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


class Oracle:
    """Judges proposals against the ground truth; remembers what it found and decided.

    A proposal with IoU >= 0.5 with an expression of its class is accepted, also when that
    expression was found before (the annotator accepts it again, linked to the existing label; it
    costs an action and finds nothing new). adjust=True: a proposal of the right class that
    overlaps an expression but misses IoU 0.5 is adjusted to the true span (ADJUST_ACTIONS
    actions), as the review panel allows, instead of rejected. reclass=True: a proposal whose apex
    lies inside an expression of the other class not yet found is accepted as that class (one
    action, the desk's "accept as the other class": a rejection of the proposal's class and a point
    of the other class at its apex). Everything else is rejected."""

    def __init__(self, truth: dict[str, list[Interval]], adjust: bool = False, reclass: bool = False):
        self.truth = truth
        self.adjust = adjust
        self.reclass = reclass
        self.found: set[tuple] = set()
        self.decided: list[tuple[str, Interval]] = []    # (status, proposal or adjusted span)
        self.clicked: list[tuple[str, int, int]] = []    # (video, frame, class index): misses clicked
                                                         # and proposals accepted as the other class
        self.looked: dict[str, list[Interval]] = {}      # spans looked at and found empty
        self.actions = 0

    def _match(self, p: Interval, min_iou: float = 0.5):
        best, best_iou = None, 0.0
        for t in self.truth.get(p.video, []):
            iou = interval_iou(p, t)
            if t.cls == p.cls and iou >= min_iou and iou > best_iou and iou > 0:
                best, best_iou = t, iou
        return best

    def _other_class(self, p: Interval):
        """An expression of the other class, not yet found, with p's apex inside: what a person who
        sees a MaE proposal on an ME (or the reverse) would accept as the other class."""
        return next((t for t in self.truth.get(p.video, [])
                     if t.cls != p.cls and t.onset <= p.apex <= t.offset
                     and expression_key(t) not in self.found), None)

    def _seen(self, p: Interval) -> bool:
        """A proposal the desk steps over (pfes_gui.review_commands.review_state): the annotator
        judged it (same class, IoU >= 0.5 with a decided span) or a label of its class is inside."""
        return (any(d.video == p.video and d.cls == p.cls and interval_iou(p, d) >= 0.5
                    for _, d in self.decided)
                or _holds_label(self.points(p.video), p))

    def review(self, proposals: dict[str, list[Interval]], budget: int, order: str = "score") -> dict:
        ranked = review_order([p for ps in proposals.values() for p in ps], order)
        acc = rej = adj = other = 0
        for p in ranked:
            if acc + rej + adj + other >= budget:
                break
            if self._seen(p):
                continue
            t = self._match(p)
            key = None if t is None else expression_key(t)
            if key is not None:
                # a proposal on an expression already found is the same expression again: the
                # annotator accepts it (linked to the existing label), never rejects a true one
                self.found.add(key)
                self.decided.append(("accepted", p))
                acc += 1
                continue
            near = self._match(p, min_iou=0.0) if self.adjust else None
            if near is not None:
                self.found.add(expression_key(near))
                self.decided.append(("adjusted", Interval(p.video, p.cls, near.onset, near.apex, near.offset,
                                                          p.score)))
                adj += 1
                continue
            flipped = self._other_class(p) if self.reclass else None
            self.decided.append(("rejected", p))
            if flipped is not None:
                self.found.add(expression_key(flipped))
                self.clicked.append((p.video, p.apex, CLASSES.index(flipped.cls)))
                other += 1
            else:
                rej += 1
        self.actions += acc + rej + other + ADJUST_ACTIONS * adj
        return {"accepted": acc, "rejected": rej, "adjusted": adj, "other_class": other}

    def visit_misses(self, candidates: dict[str, list[Interval]], shown: dict[str, list[Interval]],
                     budget: int) -> int:
        """Look at up to `budget` candidates (the model's low-scored runs, or the motion baseline's
        proposals), highest score first, that the desk's queue offers
        (`pfes_core.candidate_looks.needs_look`: no proposal, label or earlier look covers them):
        one action each. Where a true expression not yet found has its apex inside (+-LOOK_SLACK
        frames), the annotator clicks it as a point of its class; else the span is marked looked.
        Returns the clicks."""
        from pfes_core.candidate_looks import LOOK_SLACK, looks_needed, needs_look

        ranked = sorted((c for v, cs in candidates.items()
                         for c in looks_needed(cs, shown.get(v, []), [], [])),
                        key=lambda c: (-(c.score or 0.0), c.video, c.onset))
        seen = clicks = 0
        for p in ranked:
            if seen >= budget:
                break
            frames = [f for f, _ in self.points(p.video)]
            if not needs_look(p, shown.get(p.video, []), frames, self.looked.get(p.video, [])):
                continue          # a click or a look earlier in this round covers it now
            seen += 1
            lo, hi = p.onset - LOOK_SLACK, p.offset + LOOK_SLACK
            hit = next((t for t in self.truth.get(p.video, [])
                        if lo <= t.apex <= hi and expression_key(t) not in self.found), None)
            if hit is None:
                self.looked.setdefault(p.video, []).append(p)
                continue
            self.found.add(expression_key(hit))
            self.clicked.append((p.video, hit.apex, CLASSES.index(hit.cls)))
            clicks += 1
        self.actions += seen
        return clicks

    def scan(self, videos: dict[str, tuple[int, float]], n: int) -> int:
        """Scan the next `n` stretches the desk offers (`pfes_core.scan_stretches`: a fixed
        shuffle of each video's 6 s grid, videos taking turns): every expression not yet found
        that overlaps the stretch is clicked at its apex (one action each), the stretch itself
        costs one action and is then marked looked ("nothing else here"). An unbiased sample of
        the pool, where proposals and candidates show only what the model sees. videos: {video:
        (frames, fps)}. Returns the clicks."""
        from pfes_core.scan_stretches import stretches_needed

        labels = {v: len(self.points(v)) for v in videos}
        clicks = 0
        stretches = stretches_needed(videos, self.looked, labels)[:n]
        for s in stretches:
            for t in self.truth.get(s.video, []):
                key = expression_key(t)
                if t.offset >= s.onset and t.onset <= s.offset and key not in self.found:
                    self.found.add(key)
                    self.clicked.append((s.video, t.apex, CLASSES.index(t.cls)))
                    clicks += 1
            self.looked.setdefault(s.video, []).append(s)
        self.actions += len(stretches) + clicks
        return clicks

    def decisions(self):
        """The review decisions as the app stores them, "looked" spans (candidates and scanned
        stretches found empty) last."""
        from pfes_core.reviews import LOOKED, ReviewDecision

        kept = self.decided + [(LOOKED, p) for ps in self.looked.values() for p in ps]
        return [ReviewDecision(p.video, "bench", p.cls, p.onset, p.apex, p.offset, p.score, status,
                               (p.onset, p.apex, p.offset) if status == "adjusted" else None,
                               "oracle", float(i)) for i, (status, p) in enumerate(kept)]

    def points(self, video: str) -> list[tuple[int, int]]:
        """Point labels the kept decisions added, as the app's Accept does: one at the apex unless a
        label of that class already lies inside the span (the decision then stands for it)."""
        out: list[tuple[int, int]] = [(f, c) for v, f, c in self.clicked if v == video]
        for s, p in self.decided:
            if s == "rejected" or p.video != video:
                continue
            if not _holds_label(out, p):
                out.append((p.apex, CLASSES.index(p.cls)))
        return sorted(out)


