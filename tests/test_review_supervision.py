"""Review decisions as supervision: decision -> negative masks and span priors, the negative loss
on a tiny real model, faithful mode ignoring decisions, and the run's decisions snapshot."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from pfes_core.gim import GimConstants, make_pseudo_labels
from pfes_core.inference import predict_video
from pfes_core.review_supervision import (INTENSITY, MAE_SCORE, ME_SCORE, PROTECT_RADIUS,
                                          apex_targets_with_rejections, attach_reviews,
                                          decisions_from_snapshot, decisions_snapshot, review_frames,
                                          review_targets, step_negative_weights)
from pfes_core.reviews import ReviewDecision
from pfes_core.training import VideoData, train, train_on_arrays
from test_training import make_motion, make_project, make_videos, tiny_config

torch.set_num_threads(1)


def decision(status, cls, onset, offset, apex=None, adjusted=None, time_=0.0, video="v"):
    apex = (onset + offset) // 2 if apex is None else apex
    return ReviewDecision(video, "run1", cls, onset, apex, offset, 0.5, status, adjusted, "ann", time_)


# ----------------------------------------------------------------------------- decision -> masks


def test_rejected_span_masks_its_class_and_with_intensity_true_the_intensity():
    t = review_targets([decision("rejected", "ME", 100, 112)], points=[], n_frames=300, intensity=True)
    neg = t.negatives
    assert neg.shape == (300, 3) and t.n_rejected == 1
    span = np.zeros(300, bool)
    span[100:113] = True
    assert np.all(neg[span, INTENSITY] == 1.0) and np.all(neg[span, ME_SCORE] == 1.0)
    assert not neg[~span].any()
    assert not neg[:, MAE_SCORE].any()           # an ME rejection says nothing about MaE scores


def test_rejection_leaves_the_intensity_free_by_default():
    """A rejected ME says "no ME here"; the movement may be an unlabelled MaE."""
    t = review_targets([decision("rejected", "ME", 100, 112)], points=[], n_frames=300)
    assert not t.negatives[:, INTENSITY].any() and not t.negatives[:, MAE_SCORE].any()
    assert np.all(t.negatives[100:113, ME_SCORE] == 1.0) and t.negatives[:, ME_SCORE].sum() == 13


def test_looked_span_is_no_target_unless_asked_and_then_masks_both_class_scores():
    """"Nothing here" says no expression of either class; a point label still guards its frames."""
    looked = decision("looked", "ME", 100, 140)
    assert review_targets([looked], points=[], n_frames=300).negatives is None
    t = review_targets([looked], points=[(135, 1)], n_frames=300, looked=True)
    r = PROTECT_RADIUS[1]
    assert np.all(t.negatives[100:135 - r, MAE_SCORE] == 1) and np.all(t.negatives[100:135 - r, ME_SCORE] == 1)
    assert not t.negatives[135 - r:, ME_SCORE].any() and not t.negatives[:100].any()
    assert np.all(t.negatives[135 - r:141, MAE_SCORE] == 1)   # the ME label there says "no MaE" too
    assert not t.negatives[:, INTENSITY].any()       # a look masks no movement, only the class scores


def test_point_label_inside_a_rejected_span_is_never_masked():
    r = PROTECT_RADIUS[0]
    t = review_targets([decision("rejected", "MaE", 50, 200)], points=[(120, 0)], n_frames=400, intensity=True)
    neg = t.negatives
    assert not neg[120 - r:120 + r + 1].any()                          # the label's frames stay free
    assert np.all(neg[50:120 - r, INTENSITY] == 1) and np.all(neg[120 + r + 1:201, MAE_SCORE] == 1)


def test_other_class_label_protects_intensity_but_not_the_rejected_class_score():
    """An MaE label inside a rejected ME span: the frames may be expressive (intensity free), but
    they are still no ME (the ME score stays a negative)."""
    t = review_targets([decision("rejected", "ME", 90, 110)], points=[(100, 0)], n_frames=300)
    assert not t.negatives[90:111, INTENSITY].any()
    assert np.all(t.negatives[90:111, ME_SCORE] == 1.0)


def test_accepted_span_wins_over_an_overlapping_rejection_and_gives_a_span_prior():
    ds = [decision("rejected", "MaE", 80, 140, time_=1.0),
          decision("accepted", "MaE", 100, 130, apex=116, time_=2.0)]
    t = review_targets(ds, points=[(116, 0), (300, 1)], n_frames=400, intensity=True)
    assert not t.negatives[100:131].any() and t.negatives[80, INTENSITY] == 1.0
    assert t.span_priors == {(116, 0): 31} and (t.n_rejected, t.n_kept) == (1, 1)


def test_adjusted_decision_gives_the_adjusted_span_and_attaches_to_the_nearest_label():
    d = decision("adjusted", "ME", 40, 60, apex=50, adjusted=(44, 47, 52))
    t = review_targets([d], points=[(47, 1), (52, 1), (47, 0)], n_frames=100)
    assert t.span_priors == {(47, 1): 9} and t.negatives is None
    # no label of its class inside the span (the reviewer deleted it): no prior
    assert review_targets([d], points=[(47, 0)], n_frames=100).span_priors == {}


def test_spans_are_clipped_to_the_video_and_nothing_means_none():
    t = review_targets([decision("rejected", "MaE", 90, 150)], points=[], n_frames=100, intensity=True)
    assert t.negatives[90:, :2].all() and t.negatives.shape == (100, 3) and not t.negatives[:90].any()
    assert review_targets([decision("rejected", "MaE", 200, 220)], [], 100).negatives is None
    assert review_targets([], [(10, 0)], 100).negatives is None


def test_step_weights_drop_frames_inside_current_pseudo_instances():
    neg = np.ones((6, 3), np.float32)
    in_win = np.zeros((6, 2), bool)
    in_win[1, 0] = True          # MaE window: intensity and MaE free, ME still negative
    in_win[2, 1] = True
    apex = np.full((6, 2), -1.0)
    apex[4, 1] = 1.0             # an ME apex target is never an ME negative
    w = step_negative_weights(neg, in_win, apex)
    assert w[1].tolist() == [0, 0, 1] and w[2].tolist() == [0, 1, 0] and w[4].tolist() == [1, 1, 0]
    assert w[0].tolist() == [1, 1, 1] and neg.all()          # input untouched


def test_review_frames_cover_negatives_and_prior_windows():
    v = VideoData("v", np.zeros((500, 17, 10, 2), np.float32), [(100, 0)])
    assert review_frames(v, v.points, (32, 16)).size == 0
    attach_reviews([v], [decision("rejected", "ME", 300, 310),
                         decision("accepted", "MaE", 70, 130, apex=100)])
    frames = set(review_frames(v, v.points, (32, 16)).tolist())
    assert set(range(300, 311)) <= frames
    assert set(range(100 - 8 - 30, 100 + 8 + 31)) <= frames     # +-k/4 apex search + half of 61


def test_span_prior_sets_the_gim_window():
    a = np.zeros(200)
    a[95:106] = 0.9
    h = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    c = GimConstants(gim_start=1)
    pl = make_pseudo_labels([(100, 0)], a, h, 5, c)
    width = int(pl.in_window[:, 0].sum())
    assert width == 16 + 1                                  # adaptive: n = 11 reliable -> clip low 16
    pl = make_pseudo_labels([(100, 0)], a, h, 5, c, durations={(100, 0): 40})
    assert int(pl.in_window[:, 0].sum()) == 41


def test_snapshot_records_decisions_with_a_stable_hash():
    ds = [decision("rejected", "ME", 10, 20), decision("accepted", "MaE", 30, 60, time_=3.0)]
    snap = decisions_snapshot(ds, used=True)
    assert snap["count"] == 2 and snap["counts"] == {"accepted": 1, "rejected": 1, "adjusted": 0, "looked": 0}
    assert snap["sha256"] == decisions_snapshot(list(reversed(ds)), used=True)["sha256"]
    assert snap["sha256"] != decisions_snapshot(ds[:1], used=True)["sha256"]
    assert sorted(decisions_from_snapshot(json.loads(json.dumps(snap))), key=lambda d: d.onset) == ds


# ----------------------------------------------------------------------------- training


def _video_with_nuisance(seed=0):
    """Labelled MaE/ME bumps, plus a brow-only motion burst (a 'blink') the annotator rejected."""
    rng = np.random.default_rng(seed)
    x, points, _ = make_motion(rng, 500, n_events=4)
    t = np.arange(500)
    bump = np.exp(-0.5 * ((t - 470) / 4.0) ** 2).astype(np.float32)
    vec = x[:, 8].copy()                                  # (T, 10, 2): the window's centre frame
    vec[:, 0:6, 0] += 0.6 * bump[:, None]
    idx = np.clip(t[:, None] + np.arange(-8, 9)[None], 0, 499)
    return VideoData("v", vec[idx], [p for p in points if p[0] < 440], fps=25.0)


def _batch_outputs(model, video, frames):
    """Intensity and apex scores of `frames` as a training step sees them (BatchNorm on the batch's
    statistics, no dropout). Why not eval mode: after a few steps BatchNorm's running averages
    still lag the batch statistics, so eval-mode outputs say little about what the steps taught."""
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.train()
    with torch.no_grad():
        out = model(torch.from_numpy(video.model_input[frames]))
    return out.a.numpy(), out.q.numpy()


def test_training_steps_with_negatives_lower_intensity_in_the_rejected_span():
    cfg = tiny_config(epochs=4, lr=3e-3)
    plain = _video_with_nuisance()
    reviewed = _video_with_nuisance()
    summary = attach_reviews([reviewed], [decision("rejected", "MaE", 462, 478)], intensity=True)
    assert summary["rejected"] == 1 and summary["negative_frames"] == 17
    st_plain = train_on_arrays([plain], cfg)            # same seed: same initial weights
    st_neg = train_on_arrays([reviewed], cfg)
    assert "negative" in st_neg.history[-1] and "negative" not in st_plain.history[-1]
    assert st_neg.history[-1]["negative"] < st_neg.history[0]["negative"]
    frames = np.union1d(np.arange(0, 500, 3), np.arange(462, 479))
    span = np.isin(frames, np.arange(462, 479))
    a_plain, q_plain = _batch_outputs(st_plain.model, plain, frames)
    a_neg, q_neg = _batch_outputs(st_neg.model, reviewed, frames)
    assert a_neg[span].mean() < 0.75 * a_plain[span].mean()
    assert q_neg[span, 0].mean() < q_plain[span, 0].mean()
    # the labelled events keep most of their intensity: negatives never target a label's frames,
    # though the shared network passes some of the push on (measured: 0.66 vs 0.85)
    near = np.isin(frames, [f for p, _ in reviewed.points for f in range(p - 2, p + 3)])
    assert a_neg[near].mean() > 0.65 * a_plain[near].mean()
    assert a_neg[near].mean() > 1.5 * a_neg[span].mean()       # labels stay clearly above the span


def test_default_rejection_makes_apex_negatives_of_its_class_and_no_intensity_term(monkeypatch):
    """The default rejection is a negative of its class's apex score, weighed like the method's own
    negatives (in the apex loss's targets), never of a frame the pseudo-labels call an apex."""
    import pfes_core.training as training

    seen = []
    real = training.apex_loss
    monkeypatch.setattr(training, "apex_loss", lambda q, t, c: seen.append(t.numpy().copy()) or real(q, t, c))
    reviewed = _video_with_nuisance()
    attach_reviews([reviewed], [decision("rejected", "MaE", 462, 478)])
    assert not reviewed.negatives[:, INTENSITY].any()
    st = train_on_arrays([reviewed], tiny_config(epochs=3))
    assert seen and "negative" not in st.history[-1]           # no separate intensity term
    # every apex-loss step reads the rejected span (review_frames): 17 MaE negatives at least, and
    # the ME column of those frames keeps whatever the pseudo-labels said
    assert all((t[:, 0] == 0).sum() >= 17 for t in seen)
    assert apex_targets_with_rejections(np.array([[1.0, -1.0], [-1.0, -1.0], [0.0, 1.0]]),
                                        np.array([[0, 1, 1], [0, 1, 0], [0, 0, 1]], np.float32)
                                        ).tolist() == [[1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]


def test_faithful_mode_and_no_reviews_ignore_negatives():
    v = _video_with_nuisance(1)
    attach_reviews([v], [decision("rejected", "MaE", 462, 478)])
    for cfg in (tiny_config(epochs=1, mode="faithful"), tiny_config(epochs=1, reviews=False)):
        assert not cfg.uses_reviews
        assert "negative" not in train_on_arrays([v], cfg).history[-1]


def test_a_video_with_only_rejections_is_trained_on():
    labelled, = make_videos(seed=2, n=1)
    rejected_only = _video_with_nuisance(2)
    rejected_only.video_id, rejected_only.points = "r", []
    attach_reviews([rejected_only], [decision("rejected", "MaE", 462, 478, video="r")], intensity=True)
    cfg = tiny_config(epochs=1)
    st = train_on_arrays([labelled, rejected_only], cfg)
    without = train_on_arrays([labelled, rejected_only], replace(cfg, reviews=False)).history[-1]
    assert st.history[-1]["steps"] == without["steps"] + 1 and "negative" in st.history[-1]


# ----------------------------------------------------------------------------- project level


@pytest.fixture(scope="module")
def reviewed_project(tmp_path_factory):
    from pfes_core.project import Project
    from pfes_core.reviews import SetReview

    root = make_project(tmp_path_factory.mktemp("rev"), make_videos(seed=5, n=2, subjects=2))
    with Project.open(root) as project:
        project.apply(SetReview("v0", "earlier", "MaE", 300, 305, 320, "rejected", 0.4, annotator="ann"))
        project.apply(SetReview("v1", "earlier", "ME", 10, 14, 20, "rejected", 0.3, annotator="ann"))
        project.save()
    return root


def test_run_snapshot_records_the_decisions_used(reviewed_project):
    events = []
    from pfes_core.progress import ProgressReporter

    run_id = train(reviewed_project, tiny_config(epochs=1), ProgressReporter("none", callback=events.append))
    d = reviewed_project / "runs" / run_id
    snap = json.loads((d / "decisions.json").read_text())
    assert snap["used"] is True and snap["count"] == 2 and snap["counts"]["rejected"] == 2
    assert {x["video"] for x in snap["decisions"]} == {"v0", "v1"}
    assert events[0]["n_decisions"] == 2 and events[0]["decisions_used"] is True
    message = next(str(e["message"]) for e in events if "rejected spans" in str(e.get("message", "")))
    assert message.startswith("review decisions: 2 rejected spans (")
    assert int(message.split("(")[1].split(" negative frames")[0]) > 0
    status = json.loads((d / "status.json").read_text())
    assert status["labels"]["decisions"] == 2 and status["labels"]["decisions_used"] is True


def test_faithful_run_records_decisions_but_does_not_use_them(reviewed_project):
    run_id = train(reviewed_project, tiny_config(epochs=1, mode="faithful"))
    d = reviewed_project / "runs" / run_id
    snap = json.loads((d / "decisions.json").read_text())
    assert snap["used"] is False and snap["count"] == 2 and "faithful" in snap["note"]
    assert "negative" not in json.loads((d / "log.jsonl").read_text().splitlines()[-1])
