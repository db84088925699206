"""Pseudo-labels on hand-made intensity curves: schedule, hard/soft/GIM windows, duration rule, neutrals."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pfes_core.gim import (GimConstants, gaussian_labels, gim_duration, make_pseudo_labels, mine_neutrals,
                           phase, pseudo_apex, reliable_threshold)

C = GimConstants()
MAE, ME = 0, 1


def line_h(n: int) -> np.ndarray:
    """Hidden features on a line: ||h_t - h_s||^2 = (t - s)^2."""
    return np.arange(n, dtype=np.float32)[:, None]


def test_phase_schedule():
    assert [phase(e, C) for e in range(7)] == ["hard", "soft", "soft", "soft", "soft", "gim", "gim"]
    assert phase(50, C, ablation="hard") == "hard"


@pytest.mark.parametrize("epoch,theta", [(0, 0.8), (5, 0.8), (13, 0.7), (28, 0.8 - 23 / 80), (29, 0.5), (80, 0.5)])
def test_reliable_threshold_schedule(epoch, theta):
    assert reliable_threshold(epoch, C) == pytest.approx(theta)


@pytest.mark.parametrize("n,cls,d", [(0, MAE, 16), (13, MAE, 16), (14, MAE, 17), (20, MAE, 24), (30, MAE, 36),
                                     (40, MAE, 36), (0, ME, 8), (10, ME, 12), (20, ME, 16)])
def test_duration_rule(n, cls, d):
    assert gim_duration(n, cls, C) == d


def test_context_radius_covers_gim_reach():
    assert C.context_radius == 32      # k/4 (8) + widest half-duration (18) + apex margin (6)


def test_hard_boxes_epoch0():
    a = np.full(200, 0.2)
    pl = make_pseudo_labels([(50, MAE), (120, ME)], a, line_h(200), 0, C)
    assert np.flatnonzero(pl.in_window[:, MAE]).tolist() == list(range(45, 55))
    assert np.flatnonzero(pl.in_window[:, ME]).tolist() == list(range(117, 123))
    assert pl.y[45:55, MAE].tolist() == [1.0] * 10 and pl.y[:, ME].sum() == 6
    assert pl.apex is None
    assert pl.neutral.sum() == 16 and not (pl.neutral & pl.in_window.any(1)).any()


def test_hard_box_clipped_at_video_start():
    pl = make_pseudo_labels([(2, MAE)], np.zeros(30), line_h(30), 0, C)
    assert np.flatnonzero(pl.in_window[:, MAE]).tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_soft_point_centred_gaussian_by_hand():
    a = np.full(100, 0.2)
    pl = make_pseudo_labels([(50, MAE)], a, line_h(100), 1, C)       # d = 1 -> +-2
    assert np.flatnonzero(pl.in_window[:, MAE]).tolist() == [48, 49, 50, 51, 52]
    # d2 = [4, 1, 0, 1, 4], sigma^2 = 2 -> y = exp(-d2 / 4)
    expect = [math.exp(-1), math.exp(-0.25), 1.0, math.exp(-0.25), math.exp(-1)]
    np.testing.assert_allclose(pl.y[48:53, MAE], expect, rtol=1e-5)
    pl3 = make_pseudo_labels([(50, MAE), (80, ME)], a, line_h(100), 3, C)   # d = 2 -> +-4 / +-2
    assert np.flatnonzero(pl3.in_window[:, MAE]).tolist() == list(range(46, 55))
    assert np.flatnonzero(pl3.in_window[:, ME]).tolist() == list(range(78, 83))


def bump_curve(n=200, peak=60, half_width=10, level=0.9):
    """0.1 baseline, 2*half_width frames at `level`, one unique maximum 0.95 at `peak`."""
    a = np.full(n, 0.1)
    a[peak - half_width:peak + half_width] = level
    a[peak] = 0.95
    return a


def test_gim_pseudo_apex_duration_window_and_apex_targets():
    a = bump_curve()
    assert pseudo_apex(a, 55, MAE, C) == 60               # search [47, 63]
    pl = make_pseudo_labels([(55, MAE)], a, line_h(200), 5, C)     # theta 0.8: 20 reliable -> D 24
    assert pl.instances[0]["centre"] == 60
    assert (pl.instances[0]["lo"], pl.instances[0]["hi"]) == (48, 72)
    assert np.flatnonzero(pl.in_window[:, MAE]).tolist() == list(range(48, 73))
    assert pl.y[60, MAE] == pytest.approx(1.0)
    assert pl.y[48, MAE] < pl.y[55, MAE] < 1.0
    assert np.flatnonzero(pl.apex[:, MAE] == 1).tolist() == [58, 59, 60, 61, 62]
    assert (pl.apex[:, ME] == 1).sum() == 0
    strong = np.flatnonzero(pl.y[:, MAE] > 0.5)
    # negatives: within +-6 of strong frames (minus the apex positives) and at neutrals; the rest ignored
    near = set(range(strong[0] - 6, strong[-1] + 7)) - set(range(58, 63))
    neg = set(np.flatnonzero(pl.apex[:, MAE] == 0).tolist())
    assert near <= neg and neg - near == set(np.flatnonzero(pl.neutral).tolist()) - near
    assert pl.apex[150, MAE] == -1 or pl.neutral[150]


def test_gim_duration_follows_threshold_schedule():
    a = bump_curve(level=0.6, half_width=14)      # 28 frames at 0.6: unreliable at 0.8, reliable at 0.5
    early = make_pseudo_labels([(60, MAE)], a, line_h(200), 5, C)
    late = make_pseudo_labels([(60, MAE)], a, line_h(200), 29, C)
    assert early.in_window[:, MAE].sum() == 17           # n = 1 -> D = 16 -> [52, 68]
    assert late.in_window[:, MAE].sum() == 35            # n = 28 -> round(33.6) = 34 -> 60 +- 17
    me = make_pseudo_labels([(60, ME)], a, line_h(200), 29, C)
    assert me.in_window[:, ME].sum() == 17               # ME clipped at 16 -> 60 +- 8


def test_gim_pseudo_apex_ignores_unevaluated_frames():
    a = bump_curve()
    a[57:64] = np.nan
    assert pseudo_apex(a, 55, MAE, C) not in range(57, 64)


def test_neutrals_are_lowest_outside_windows():
    a = np.linspace(0.9, 0.0, 50)
    expression = np.zeros(50, bool)
    expression[45:50] = True         # the lowest frames are expression frames: never neutral
    neutral = mine_neutrals(a, expression)
    assert np.flatnonzero(neutral).tolist() == [40, 41, 42, 43, 44]
    a[44] = np.nan
    assert np.flatnonzero(mine_neutrals(a, expression)).tolist() == [39, 40, 41, 42, 43]
    assert mine_neutrals(a, np.zeros(50, bool)).sum() == 1      # K >= 1


def test_hardest_neutrals_are_the_highest_frames_beyond_every_points_reach():
    c = replace(C, neutral_mining="hardest", gim_start=0)
    n, point = 300, 100
    a = np.full(n, 0.05)
    a[20:26] = 0.9                   # a blink the model fires on, far from the point
    a[100 - 40:100 + 40] = 0.6       # near the point: may belong to the expression, never mined
    pl = make_pseudo_labels([(point, MAE)], a, np.zeros((n, 4), np.float32), 8, c)
    neutral = np.flatnonzero(pl.neutral)
    k = int(pl.in_window.any(axis=1).sum())
    assert len(neutral) == k
    assert set(range(20, 26)) <= set(neutral.tolist())
    assert all(abs(f - point) > c.context_radius for f in neutral)
    assert (pl.apex[20:26] == 0).all()          # the blink is an apex negative for both classes
    lowest = make_pseudo_labels([(point, MAE)], a, np.zeros((n, 4), np.float32), 8, replace(c, neutral_mining="lowest"))
    assert not lowest.neutral[20:26].any()      # the reference's mining never sees it


def test_hardest_neutrals_fall_back_to_the_lowest_when_nothing_is_far():
    a = np.linspace(0.9, 0.0, 50)
    expression = np.zeros(50, bool)
    expression[45:50] = True
    far = np.zeros(50, bool)
    assert np.flatnonzero(mine_neutrals(a, expression, far)).tolist() == [40, 41, 42, 43, 44]


def test_gaussian_labels_constant_features_are_all_one():
    h = np.ones((10, 4), np.float32)
    np.testing.assert_allclose(gaussian_labels(h, 5, 2, 8), 1.0)


def test_overlapping_windows_keep_the_max():
    a = np.full(100, 0.1)
    pl = make_pseudo_labels([(40, MAE), (44, MAE)], a, line_h(100), 1, C)
    assert pl.y[40, MAE] == 1.0 and pl.y[44, MAE] == 1.0
    assert np.flatnonzero(pl.in_window[:, MAE]).tolist() == list(range(38, 47))


def test_keep_reliable_labels_cover_the_reliable_frames():
    """The reference's sigma can label fewer frames above theta than the n reliable frames that sized
    the window (the shrinking loop); keep_reliable widens sigma just enough, and only then."""
    a = bump_curve(level=0.6, half_width=14)      # 28 reliable frames at theta 0.5 -> window 35
    ref = make_pseudo_labels([(60, MAE)], a, line_h(200), 29, C)
    kept = make_pseudo_labels([(60, MAE)], a, line_h(200), 29, GimConstants(keep_reliable=True))
    assert (ref.y[:, MAE] >= 0.5).sum() == 23             # mean t^2 = 102 -> |t| <= 11
    assert (kept.y[:, MAE] >= 0.5).sum() == 29            # 28th nearest at |t| = 14 -> |t| <= 14
    assert kept.in_window[:, MAE].sum() == ref.in_window[:, MAE].sum() == 35
    narrow = bump_curve(level=0.6, half_width=2)          # n = 4: the reference already covers it
    np.testing.assert_array_equal(
        make_pseudo_labels([(60, MAE)], narrow, line_h(200), 29, C).y,
        make_pseudo_labels([(60, MAE)], narrow, line_h(200), 29, GimConstants(keep_reliable=True)).y)


def test_duration_clip_follows_the_frame_rate():
    assert C.scaled_durations(25.0).duration_clip == ((13, 30), (7, 13))
    assert C.scaled_durations(29.0) is C and C.scaled_durations(None) is C
    assert C.scaled_durations(60.0).duration_clip == ((32, 72), (16, 32))
