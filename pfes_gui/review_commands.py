"""Review actions on interval proposals as undoable project edits, plus the review queue.

Why edits and not widget state: a decision is data (project.reviews, journaled like a label), so
it survives a crash, exports the same from the CLI and the app, and undoes with Ctrl+Z. Accepting
a proposal is two pfes_core edits - a point label at the apex (so the next training run learns
from it) and a SetReview decision - pushed as ONE undo step (a QUndoStack macro over the shell's
``MainWindow.push_edit``, which journals each edit and refreshes the views).

The "do" functions here take plain values and a project, so tests and other front ends can use
them without widgets (SLEAP's ask/do split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pfes_core.labels import AddLabel, validate_label
from pfes_core.reviews import SetReview, as_other_class
from pfes_core.types import Interval, other_class

ACCEPTED = "accepted"
REJECTED = "rejected"
ADJUSTED = "adjusted"
#: An unreviewed proposal with a label of its class inside: accepting it would only link to that
#: label, so the desk does not step to it (it can still be accepted for the record).
SETTLED = "settled"
#: Statuses that keep a proposal in an export (the CLI's rule, see eval_cmds.reviewed_intervals).
KEPT = (ACCEPTED, ADJUSTED)

# Review-queue defaults. A proposal with no label within MISS_RADIUS frames of its interval is a
# likely miss of the annotator; a label whose predicted intensity stays below SUSPICIOUS_LEVEL
# within +-SUSPICIOUS_HALF_WINDOW frames is suspicious (a misclick, or a class the model never saw).
MISS_RADIUS = 10
SUSPICIOUS_HALF_WINDOW = 15
SUSPICIOUS_LEVEL = 0.2


def status_of(project, run_id: str | None, proposal: Interval) -> str | None:
    """The review status of `proposal` in `run_id` (None: unreviewed)."""
    if project is None or run_id is None:
        return None
    return project.reviews.status_of(run_id, proposal)


def decision_of(project, run_id: str | None, proposal: Interval):
    if project is None or run_id is None:
        return None
    return project.reviews.get(proposal.video, run_id, proposal.cls, proposal.onset,
                               proposal.offset)


class _StateMemo:
    """review_state answers while neither the labels nor the decisions change (their stores'
    `revision`). Why: after one edit the review table, the timeline and the video list each ask
    for the states of the same proposals; the earlier-run search and the label lookup then run
    once per proposal, not three times. Keyed on the store objects themselves, so a reopened or
    reloaded project never reads another's answers."""

    def __init__(self):
        self.labels = self.reviews = self.run_id = None
        self.revisions = (-1, -1)
        self.states: dict = {}

    def lookup(self, project, run_id: str, proposal: Interval):
        labels, reviews = project.labels, project.reviews
        if (labels is not self.labels or reviews is not self.reviews or run_id != self.run_id
                or (labels.revision, reviews.revision) != self.revisions):
            self.labels, self.reviews, self.run_id = labels, reviews, run_id
            self.revisions = (labels.revision, reviews.revision)
            self.states = {}
        state = self.states.get(proposal)
        if state is None:
            state = self.states[proposal] = _review_state(project, run_id, proposal)
        return state


_memo = _StateMemo()


def review_state(project, run_id: str | None, proposal: Interval):
    """(state, adjusted span or None, note) of a proposal as the desk shows it.

    state: this run's decision; else the annotator's decision on the same expression in an
    earlier run (a retrained model proposes it again, frames a little off; note names the run);
    else SETTLED when a label of its class lies inside it; else None: it needs a look. Why: each
    retrain makes new proposals, and asking the annotator again about what they judged or
    labelled costs an action and finds nothing."""
    if project is None or run_id is None:
        return None, None, ""
    return _memo.lookup(project, run_id, proposal)


def _review_state(project, run_id: str, proposal: Interval):
    d = decision_of(project, run_id, proposal)
    note = ""
    if d is None:
        d = project.reviews.earlier_decision(run_id, proposal)
        note = "" if d is None else f"{d.status} in run {d.run_id}"
    if d is not None:
        return d.status, (d.adjusted if d.status == ADJUSTED else None), note
    lab = linked_label(project, proposal)
    if lab is not None:
        return SETTLED, None, f"labelled at frame {lab.frame}"
    return None, None, ""


def linked_label(project, proposal: Interval, adjusted: tuple[int, int, int] | None = None):
    """The annotator's label this accept stands for: a label of the proposal's class inside its
    (adjusted) interval, the one nearest the apex; None when there is none.

    Why: a label two frames off the apex is the same expression clicked by hand. Adding one
    more label at the apex would give the next training run two points for one event."""
    on, ap, off = adjusted if adjusted is not None else (proposal.onset, proposal.apex,
                                                         proposal.offset)
    inside = [lab for lab in project.labels.in_range(proposal.video, on, off)
              if lab.cls == proposal.cls]
    return min(inside, key=lambda lab: (abs(lab.frame - ap), lab.frame)) if inside else None


def review_edits(project, run_id: str, proposal: Interval, status: str | None,
                 annotator: str = "", adjusted: tuple[int, int, int] | None = None) -> list:
    """The pfes_core edits for one review decision, in apply order.

    accepted/adjusted: a point label at the (adjusted) apex unless a label of that class already
    lies inside the (adjusted) interval (`linked_label`: the accept then stands for that label),
    then the decision; rejected or None (clear): the decision only. A label that an earlier
    accept added is never deleted implicitly: it may be the annotator's own click (undo removes it).
    """
    edits: list = []
    if status in KEPT:
        span = adjusted if (status == ADJUSTED and adjusted is not None) else None
        apex = span[1] if span is not None else proposal.apex
        validate_label(project, proposal.video, apex, proposal.cls)
        if linked_label(project, proposal, span) is None:
            edits.append(AddLabel(proposal.video, apex, proposal.cls, annotator))
    edits.append(SetReview.for_proposal(run_id, proposal, status,
                                        adjusted=adjusted if status == ADJUSTED else None,
                                        annotator=annotator))
    return edits


def decision_link(project, proposal: Interval, status: str | None, adjusted=None,
                  as_other: bool = False):
    """The label a decision stands for instead of adding one (`linked_label`): one of the other
    class for an accept as the other class, of the proposal's class for an accept or adjust."""
    if as_other:
        return linked_label(project, as_other_class(proposal))
    if status in KEPT:
        return linked_label(project, proposal, adjusted if status == ADJUSTED else None)
    return None


def other_class_edits(project, run_id: str, proposal: Interval, annotator: str = "") -> list:
    """"Accept as the other class": the movement is real, the class is wrong (a MaE proposal on an
    ME, or the reverse). A point label of the other class at the apex, unless one of that class
    already lies inside (`linked_label`), then a rejection of the proposal's own class, so the next
    run learns both "an expression of the other class here" and "not this class here"
    (review_supervision: the label guards the intensity, not the rejected class's score)."""
    flipped = as_other_class(proposal)
    validate_label(project, proposal.video, proposal.apex, flipped.cls)
    edits: list = []
    if linked_label(project, flipped) is None:
        edits.append(AddLabel(proposal.video, proposal.apex, flipped.cls, annotator))
    edits.append(SetReview.for_proposal(run_id, proposal, REJECTED, annotator=annotator))
    return edits


def describe(status: str | None, proposal: Interval, adjusted=None, as_other: bool = False,
             done: bool = False) -> str:
    """Undo-menu text: 'Accept ME proposal 120-131 (v01)', 'Accept MaE proposal 120-131 as ME (v01)';
    done=True: what the status line confirms afterwards, 'Accepted ME proposal 120-131 (v01)'."""
    verb = ({ACCEPTED: "Accepted", REJECTED: "Rejected", ADJUSTED: "Adjusted", None: "Cleared the review of"}
            if done else {ACCEPTED: "Accept", REJECTED: "Reject", ADJUSTED: "Adjust", None: "Clear review of"})
    if as_other:
        return (f"{verb[ACCEPTED]} {proposal.cls} proposal {proposal.onset}-{proposal.offset} as "
                f"{other_class(proposal.cls)} ({proposal.video})")
    text = f"{verb.get(status, status)} {proposal.cls} proposal {proposal.onset}-{proposal.offset}"
    if status == ADJUSTED and adjusted is not None:
        text += f" to {adjusted[0]}-{adjusted[2]}"
    return f"{text} ({proposal.video})"


def apply_review(main_window, run_id: str, proposal: Interval, status: str | None,
                 adjusted: tuple[int, int, int] | None = None, as_other: bool = False) -> bool:
    """Push the decision's edits through the shell as one undo step; False when refused.
    as_other=True: "accept as the other class" (`other_class_edits`; status is ignored).

    A refused edit is reported by ``main_window.push_edit`` in the status bar; if the second edit
    of a pair is refused, the first is rolled back so no half decision stays in the project.
    """
    from pfes_core.errors import PfesError

    project = main_window.project
    if project is None or getattr(project, "readonly", False) or run_id is None:
        return False
    linked = decision_link(project, proposal, status, adjusted, as_other)
    annotator = getattr(main_window, "annotator", "")
    try:
        edits = (other_class_edits(project, run_id, proposal, annotator) if as_other
                 else review_edits(project, run_id, proposal, status, annotator, adjusted))
    except PfesError as exc:
        main_window.show_status(str(exc), 6000)
        return False
    text = describe(status, proposal, adjusted, as_other)
    stack = main_window.undo_stack
    stack.beginMacro(text)
    pushed = 0
    for edit in edits:
        if not main_window.push_edit(edit):
            break
        pushed += 1
    stack.endMacro()
    if pushed < len(edits):
        stack.undo()   # rolls back what the macro applied (nothing, or the label)
        return False
    # say what the key did: the desk moves on to the next proposal at once
    done = describe(status, proposal, adjusted, as_other, done=True)
    added = next((e for e in edits if isinstance(e, AddLabel)), None)
    if linked is not None:
        main_window.show_status(f"{done}: linked to the {linked.cls} label at frame {linked.frame} "
                                f"inside it (no new label added)", 8000)
    else:
        main_window.show_status(done if added is None
                                else f"{done}: {added.cls} label at frame {added.frame}", 6000)
    return True


# --------------------------------------------------------------------------------- review queue
@dataclass(frozen=True)
class QueueItem:
    """One row of the review queue: what to look at, where, and why."""

    kind: str          # "miss" (proposal nobody labelled) or "suspicious" (label the model doubts)
    video: str
    frame: int
    cls: str
    reason: str
    score: float       # higher = look first


def likely_misses(project, run_id: str | None, predictions: dict,
                  radius: int = MISS_RADIUS) -> list[QueueItem]:
    """Unrejected proposals (in this run or, as the same expression, an earlier one) with no
    point label (any class) within `radius` frames of them."""
    out = []
    for video, pred in predictions.items():
        if video not in project.videos:
            continue
        for p in pred.proposals:
            if project.labels.in_range(video, p.onset - radius, p.offset + radius):
                continue
            if review_state(project, run_id, p)[0] == REJECTED:
                continue
            score = float(p.score) if p.score is not None else 0.0
            out.append(QueueItem("miss", video, int(p.apex), p.cls,
                                 f"unlabelled {p.cls} proposal {p.onset}-{p.offset}"
                                 f" (score {score:.2f})", score))
    out.sort(key=lambda q: (-q.score, q.video, q.frame))
    return out


def suspicious_labels(project, predictions: dict, half_window: int = SUSPICIOUS_HALF_WINDOW,
                      level: float = SUSPICIOUS_LEVEL) -> list[QueueItem]:
    """Labels where the predicted intensity stays below `level` within +-`half_window` frames."""
    out = []
    for video, pred in predictions.items():
        intensity = getattr(pred, "intensity", None)
        if intensity is None or video not in project.videos:
            continue
        intensity = np.asarray(intensity, dtype=float)
        n = len(intensity)
        if n == 0:
            continue
        for lab in project.labels.for_video(video):
            lo, hi = max(0, lab.frame - half_window), min(n, lab.frame + half_window + 1)
            if lo >= hi:
                continue
            peak = float(np.nanmax(intensity[lo:hi]))
            if peak < level:
                out.append(QueueItem("suspicious", video, int(lab.frame), lab.cls,
                                     f"{lab.cls} label, predicted intensity <= {peak:.2f} "
                                     f"within +-{half_window} frames", level - peak))
    out.sort(key=lambda q: (-q.score, q.video, q.frame))
    return out
