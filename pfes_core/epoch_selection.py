"""Choosing the epoch without an oracle: a validation subject taken from the training subjects.

The fixed last epoch is the honest figure, but from one epoch to the next a fold's held-out F1
moves by several points, and choosing the epoch on the held-out subject's own score (the
reference's "best epoch") is optimistic: it looks at the test data. Here one of the *training*
subjects is set aside; after every epoch its videos are spotted with the run's own spotting preset
and scored against its point labels, the only truth a lab's project has before review: a proposal
hits when it contains a not-yet-matched point label of its class. The weights of the best epoch
are kept (ties go to the later epoch, which had the lower learning rate).

Only epochs from the second half of the schedule compete: before that GIM's soft labels have not
reached their final threshold, and a lucky early epoch on a few validation points would stop the
schedule halfway. Fewer than three labelled subjects leave no subject to spare; the run then keeps
its last epoch and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .types import CLASSES, Interval

#: `TrainConfig.select_epoch` values.
SELECTIONS = ("last", "validation")
#: A validation subject is taken only when at least this many labelled subjects remain to train on.
MIN_TRAIN_SUBJECTS = 2


def point_hits(proposals: list[Interval], points: list[tuple[int, int]]) -> int:
    """Proposals that contain a point label of their class, each point matched once, highest
    score first (the nearest point to the proposal's apex when several fit)."""
    free = {(int(f), int(c)) for f, c in points}
    hits = 0
    for iv in sorted(proposals, key=lambda p: -(p.score or 0.0)):
        c = CLASSES.index(iv.cls)
        inside = [f for f, pc in free if pc == c and iv.onset <= f <= iv.offset]
        if inside:
            apex = iv.apex if iv.apex is not None else (iv.onset + iv.offset) // 2
            free.discard((min(inside, key=lambda f: (abs(f - apex), f)), c))
            hits += 1
    return hits


def point_f1(hits: int, n_proposals: int, n_points: int) -> float:
    return 2.0 * hits / (n_proposals + n_points) if n_proposals + n_points else 0.0


def validation_subject(videos: list, seed: int) -> str | None:
    """One labelled training subject to set aside (drawn with the training seed, so several seeds
    validate on different subjects), or None when too few subjects are labelled."""
    subjects = sorted({v.subject for v in videos if v.points})
    if len(subjects) < MIN_TRAIN_SUBJECTS + 1:
        return None
    return subjects[int(np.random.default_rng(seed).integers(len(subjects)))]


@dataclass
class EpochChoice:
    """Scores of every epoch on the validation subject and the epoch whose weights were kept."""

    subject: str | None
    first_candidate: int
    scores: dict[int, float] = field(default_factory=dict)
    epoch: int | None = None
    best_state: dict | None = None

    def observe(self, epoch: int, f1: float, model) -> None:
        self.scores[epoch] = round(float(f1), 4)
        if epoch < self.first_candidate:
            return
        if self.epoch is None or f1 >= self.scores[self.epoch]:
            self.epoch = epoch
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def to_dict(self) -> dict:
        if self.subject is None:
            return {"select_epoch": "last", "note": "fewer than three labelled subjects: no validation subject"}
        return {"select_epoch": "validation", "validation_subject": self.subject, "epoch": self.epoch,
                "validation_point_f1": self.scores.get(self.epoch), "per_epoch": self.scores}


def train_model(videos: list, config, spot_preset, reporter=None, cancel=None, state=None, device=None,
                on_epoch_end: Callable | None = None, **kwargs):
    """`training.train_on_arrays`, or under `select_epoch="validation"` the same training on all
    but the validation subject with the best epoch's weights restored at the end.

    Returns (state, choice dict or None)."""
    from .inference import predict_video
    from .spotting import preset_for_fps, propose
    from .training import train_on_arrays

    selecting = config.select_epoch == "validation"
    subject = validation_subject(videos, config.seed) if selecting else None
    if subject is None:
        state = train_on_arrays(videos, config, reporter, cancel, state=state, device=device,
                                on_epoch_end=on_epoch_end, **kwargs)
        return state, (EpochChoice(None, first_candidate=0).to_dict() if selecting else None)
    choice = EpochChoice(subject, first_candidate=max(1, (config.epochs + 1) // 2))
    held = [v for v in videos if v.subject == subject and v.points]
    n_points = sum(len(v.points) for v in held)

    def score_epoch(st) -> None:
        hits = n_props = 0
        for v in held:
            a, q = predict_video(st.model, v.model_input, config.predict_chunk, device)
            props = propose(a, q, preset_for_fps(spot_preset, v.fps), v.video_id, v.fps)
            hits += point_hits(props, v.points)
            n_props += len(props)
        choice.observe(st.epoch, point_f1(hits, n_props, n_points), st.model)
        if on_epoch_end is not None:
            on_epoch_end(st)

    state = train_on_arrays([v for v in videos if v.subject != subject], config, reporter, cancel,
                            state=state, device=device, on_epoch_end=score_epoch, **kwargs)
    if choice.best_state is not None:
        state.model.load_state_dict(choice.best_state)
    return state, choice.to_dict()


__all__ = ["SELECTIONS", "point_hits", "point_f1", "validation_subject", "EpochChoice", "train_model"]
