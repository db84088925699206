"""Proposal pipeline on hand-made intensity/apex curves."""

import time
from dataclasses import replace

import numpy as np
import pytest

from pfes_core.errors import PfesError
from pfes_core.spotting import (PRESETS, for_mode, SpottingPreset, greedy_nms, iou_1d, preset_for_fps,
                                preset_from_settings, propose, scale_lengths, soft_nms)


def bump(T, centre, half, height=0.9, base=0.02):
    """Flat-topped bump: a > base+... on [centre-half, centre+half] with 2-frame ramps."""
    a = np.full(T, base)
    a[centre - half:centre + half + 1] = height
    a[centre] = height + 0.05
    return a


def apex_for(T, cls_idx, value=0.9):
    q = np.zeros((T, 2))
    q[:, cls_idx] = value
    return q


def test_clean_bump_one_interval_right_class_and_bounds():
    T = 300
    a = bump(T, 150, 15)  # frames 135..165, 31 long
    out = propose(a, apex_for(T, 0), PRESETS["casme2"], video="v1")
    assert len(out) == 1
    iv = out[0]
    assert (iv.video, iv.cls, iv.onset, iv.apex, iv.offset) == ("v1", "MaE", 135, 150, 165)
    # inside mean ~0.9016, flanks of round(0.2*31)=6 at 0.02, + 0.2*0.9
    inside = (0.9 * 30 + 0.95) / 31
    assert iv.score == pytest.approx(inside - 0.02 + 0.18)


def test_me_bump_classified_me():
    T = 200
    a = bump(T, 80, 5)  # 11 frames
    out = propose(a, apex_for(T, 1), PRESETS["casme2"])
    assert [(iv.cls, iv.onset, iv.offset) for iv in out] == [("ME", 75, 85)]


def test_class_gate_uses_peak_frame():
    T = 200
    a = bump(T, 80, 5)
    q = np.zeros((T, 2))
    q[80, 1] = 0.4  # below the 0.5 gate at the peak; high elsewhere does not count
    q[75:80, 1] = 0.99
    assert propose(a, q, PRESETS["casme2"]) == []
    q[80, 1] = 0.51
    assert len(propose(a, q, PRESETS["casme2"])) == 1



def test_run_class_evidence_reads_the_best_apex_score_in_the_run():
    T = 200
    a = bump(T, 80, 5)  # 75..85, peak at 80
    q = np.zeros((T, 2))
    q[84, 1] = 0.8  # the apex branch fires late in the run, not at the intensity peak
    q[90, 1] = 0.99  # outside the run: never counts
    run = preset_from_settings("casme2", {"class_evidence": "run"})
    assert propose(a, q, PRESETS["casme2"]) == []
    out = propose(a, q, run)
    assert [(iv.cls, iv.onset, iv.apex, iv.offset) for iv in out] == [("ME", 75, 80, 85)]
    inside = (0.9 * 10 + 0.95) / 11
    assert out[0].score == pytest.approx(inside - 0.02 + 0.2 * 0.8)
    q[84, 1] = 0.0
    assert propose(a, q, run) == []
    with pytest.raises(PfesError, match="class_evidence"):
        preset_from_settings("default", {"class_evidence": "apex"})


def test_a_run_too_long_for_an_me_does_not_suppress_the_me_inside_it():
    T = 200
    a = np.full(T, 0.02)
    a[60:100] = 0.7          # 40 frames: only a MaE could be this long
    a[75:87] = 0.9           # the ME on top of it: 12 frames
    q = np.zeros((T, 2))
    q[:, 1] = 0.9
    reference_order = replace(PRESETS["default"], lengths_first=(False, False))
    assert propose(a, q, reference_order) == []     # soft-NMS under the long run took it below 0.3
    assert PRESETS["default"].lengths_first == (False, True)
    assert [(p.cls, p.onset, p.offset) for p in propose(a, q, PRESETS["default"])] == [("ME", 75, 86)]
    with pytest.raises(PfesError, match="lengths_first"):
        preset_from_settings("default", {"lengths_first": [True]})

def test_two_bumps_two_intervals_sorted():
    T = 400
    a = np.maximum(bump(T, 100, 15), bump(T, 300, 20))
    out = propose(a, apex_for(T, 0), PRESETS["casme2"])
    assert [(iv.onset, iv.offset) for iv in out] == [(85, 115), (280, 320)]


def test_flat_curve_yields_nothing():
    T = 500
    for level in (0.0, 0.1, 0.55, 0.95):
        assert propose(np.full(T, level), apex_for(T, 0), PRESETS["samm_lv"]) == []


def test_length_limits_filter():
    T = 400
    a = bump(T, 100, 3)  # 7 frames: too short for ME (9..15) and MaE
    assert propose(a, np.full((T, 2), 0.9), PRESETS["casme2"]) == []
    a = bump(T, 200, 150)  # 301 frames: longer than 240
    assert propose(a, apex_for(T, 0), PRESETS["casme2"]) == []


def test_score_threshold_filter():
    T = 300
    a = bump(T, 150, 15, height=0.45, base=0.1)  # inside-flank ~0.35 + 0.18 = 0.53
    assert len(propose(a, apex_for(T, 0), PRESETS["casme2"])) == 1
    strict = preset_from_settings("casme2", {"score_threshold": [0.6, 0.6]})
    assert propose(a, apex_for(T, 0), strict) == []


def test_budget_respected_best_kept():
    T = 2000
    a = np.full(T, 0.02)
    heights = [0.5, 0.9, 0.6, 0.8, 0.7]
    for k, h in enumerate(heights):
        a[100 + 300 * k:100 + 300 * k + 12] = h  # 12-frame ME bumps
    preset = PRESETS["casme2"]  # ME budget 2
    out = propose(a, apex_for(T, 1), preset)
    assert len(out) == 2
    assert sorted(iv.onset for iv in out) == [400, 1000]  # heights 0.9 and 0.8
    loose = preset_from_settings("casme2", {"budget": [8, None]})
    assert len(propose(a, apex_for(T, 1), loose)) == 5


def test_budget_per_period_scales_with_video_length():
    preset = preset_from_settings("default", {"budget": [1, 1], "budget_period_s": 10})
    T = 30 * 40  # 40 s at 30 fps -> 4 periods
    a = np.full(T, 0.02)
    for k in range(6):
        a[50 + 200 * k:50 + 200 * k + 30] = 0.9
    assert len(propose(a, apex_for(T, 0), preset, fps=30)) == 4
    assert len(propose(a, apex_for(T, 0), preset)) == 1  # no fps: per video


def test_soft_nms_decays_overlapping_scores():
    on = np.array([0, 2, 100])
    off = np.array([19, 21, 119])
    sc = np.array([0.9, 0.8, 0.5])
    order, final = soft_nms(on, off, sc, sigma=0.3)
    assert list(order) == [0, 2, 1]
    ov = iou_1d(0, 19, 2, 21)
    assert final[2] == pytest.approx(0.8 * np.exp(-ov ** 2 / 0.3))
    assert final[1] == pytest.approx(0.5)  # disjoint: untouched
    order2, _ = soft_nms(on, off, sc, sigma=0.3, stop_below=0.6)
    assert list(order2) == [0]


def test_soft_nms_early_stop_keeps_result():
    rng = np.random.default_rng(1)
    on = rng.integers(0, 500, 200)
    off = on + rng.integers(5, 60, 200)
    sc = rng.random(200)
    full_o, full_f = soft_nms(on, off, sc, 0.3)
    cut_o, cut_f = soft_nms(on, off, sc, 0.3, stop_below=0.4)
    keep = full_f >= 0.4
    assert list(cut_o) == list(full_o[keep])
    np.testing.assert_allclose(cut_f, full_f[keep])


def test_greedy_nms_iou_and_budget():
    on = np.array([0, 5, 10, 200])
    off = np.array([19, 24, 29, 219])
    sc = np.array([0.9, 0.8, 0.7, 0.6])
    # [0,19] vs [10,29]: 10/30 < 0.5 kept; [5,24]: 15/25 suppressed
    assert list(greedy_nms(on, off, sc, 0.5, None)) == [0, 2, 3]
    assert list(greedy_nms(on, off, sc, 0.5, 2)) == [0, 2]


def test_inclusive_iou():
    assert iou_1d(0, 9, 5, 14) == pytest.approx(5 / 15)
    assert iou_1d(0, 9, 0, 19) == 0.5
    assert iou_1d(0, 0, 0, 0) == 1.0
    assert iou_1d(0, 9, 10, 19) == 0.0


def test_overlapping_runs_across_thresholds_suppressed():
    # Nested plateau: thresholds give runs [80,120] and [95,105]; both MaE-length? inner is 11.
    T = 300
    a = np.full(T, 0.02)
    a[80:121] = 0.5
    a[90:111] = 0.9
    out = propose(a, apex_for(T, 0), preset_from_settings("casme2", {"score_threshold": [0.2, 0.2]}))
    spans = [(iv.onset, iv.offset) for iv in out]
    assert (90, 110) in spans or (80, 120) in spans
    for x in out:
        for y in out:
            if x is not y:
                assert iou_1d(x.onset, x.offset, y.onset, y.offset) < 0.5


def test_long_video_fast():
    rng = np.random.default_rng(0)
    T = 18000
    a = rng.random(T) * 0.3
    for c in rng.integers(0, T - 60, 120):
        a[c:c + rng.integers(8, 50)] += 0.6
    a = np.clip(np.convolve(a, np.ones(3) / 3, "same"), 0, 1)
    q = rng.random((T, 2))
    t0 = time.perf_counter()
    out = propose(a, q, PRESETS["samm_lv"], video="long")
    assert time.perf_counter() - t0 < 1.0
    assert 0 < len(out) <= 16
    # worst case: every candidate survives the score filter
    t0 = time.perf_counter()
    propose(a, np.full((T, 2), 0.9), preset_from_settings("default", {"score_threshold": [-5, -5]}))
    assert time.perf_counter() - t0 < 3.0


def test_shape_checks_and_empty():
    assert propose(np.zeros(0), np.zeros((0, 2))) == []
    with pytest.raises(PfesError):
        propose(np.zeros(10), np.zeros((10, 3)))


def test_preset_overrides_and_errors():
    p = preset_from_settings("samm_lv", {"score_threshold": [0.5, 0.25], "me_length": [5, 16],
                                         "budget": [None, 3]})
    assert p.score_threshold == (0.5, 0.25) and p.me_length == (5, 16) and p.budget == (None, 3)
    assert p.soft_nms_sigma == 0.3 and p.thresholds[0] == 0.2 and p.thresholds[-1] == 0.8
    assert len(p.thresholds) == 7
    with pytest.raises(PfesError):
        preset_from_settings("nope")
    with pytest.raises(PfesError):
        preset_from_settings("casme2", {"scoer_threshold": [0.1, 0.1]})
    with pytest.raises(PfesError):
        preset_from_settings("casme2", {"me_length": [10, 5]})
    assert PRESETS["casme2"].budget == (8, 2) and PRESETS["samm_lv"].budget == (8, 8)
    assert PRESETS["casme2"].score_threshold == (0.5, 0.5)
    assert PRESETS["samm_lv"].score_threshold == (0.4, 0.3)
    assert PRESETS["casme3"].score_threshold == (0.3, 0.3)
    d = p.to_dict()
    assert d["budget"] == [None, 3] and d["name"] == "samm_lv"


def test_scale_lengths():
    p = SpottingPreset(mae_length=(15, 240), me_length=(9, 15), ref_fps=30.0)
    s = scale_lengths(p, 60.0)
    assert s.mae_length == (30, 480) and s.me_length == (18, 30) and s.ref_fps == 60.0
    s = scale_lengths(p, 25.0)
    assert s.me_length == (7, 13)  # floor 7.5, ceil 12.5
    assert preset_for_fps(p, 28.0) is p  # within tolerance
    assert preset_for_fps(p, 60.0).me_length == (18, 30)
    assert preset_for_fps(p, None) is p


def test_project_preset_from_settings():
    from pfes_core.spotting import project_preset

    assert project_preset({}) == PRESETS["default"]
    p = project_preset({"spotting": {"preset": "samm_lv", "budget": [3, 3]}})
    assert p.name == "samm_lv" and p.budget == (3, 3) and p.score_threshold == (0.4, 0.3)
    q = project_preset({"spotting": {"preset": "samm_lv", "budget": [3, 3]}}, "casme2")
    assert q.name == "casme2" and q.budget == (3, 3) and q.score_threshold == (0.5, 0.5)


def test_exclusive_classes_one_class_per_run():
    T = 300
    a = bump(T, 150, 6)  # 13 frames: a valid length for both classes in the default preset
    q = np.zeros((T, 2))
    q[:, 0], q[:, 1] = 0.7, 0.8
    both = propose(a, q, PRESETS["default"])
    assert sorted(iv.cls for iv in both) == ["ME", "MaE"]
    one = propose(a, q, preset_from_settings("default", {"exclusive_classes": True}))
    assert [iv.cls for iv in one] == ["ME"]
    with pytest.raises(PfesError):
        preset_from_settings("default", {"exclusive_classes": "yes"})


# ---- ME proposals on a MaE proposal (cross_class_overlap) ----------------------------------------
def test_cross_class_suppression_keeps_the_higher_scored_of_an_overlapping_pair():
    from pfes_core.spotting import suppress_cross_class
    from pfes_core.types import Interval

    def iv(cls, on, off, score):
        return Interval(video="v", cls=cls, onset=on, apex=on, offset=off, score=score)

    mae, me_on_peak, me_apart = iv("MaE", 10, 60, 0.8), iv("ME", 30, 40, 0.6), iv("ME", 100, 110, 0.7)
    assert suppress_cross_class([mae, me_on_peak, me_apart], 0.5) == [mae, me_apart]
    strong_me = iv("ME", 30, 40, 0.9)
    assert suppress_cross_class([mae, strong_me], 0.5) == [strong_me]
    # an ME proposal that shares under half of its frames with the MaE proposal stays
    edge = iv("ME", 55, 65, 0.5)                      # 6 of 11 frames shared: kept at 0.6, gone at 0.5
    assert edge in suppress_cross_class([mae, edge], 0.6)
    assert edge not in suppress_cross_class([mae, edge], 0.5)
    # a tie keeps the MaE, whichever comes first in the list
    tied = iv("ME", 30, 40, 0.8)
    assert suppress_cross_class([tied, mae], 0.5) == [mae]
    # same-class overlaps are NMS's business, not this rule's
    assert len(suppress_cross_class([iv("ME", 1, 9, 0.5), iv("ME", 2, 9, 0.4)], 0.5)) == 2


def test_cross_class_overlap_in_propose_and_settings():
    t = np.arange(400)
    # a broad movement with a sharp peak: MaE-length runs at low thresholds, ME-length at high ones
    a = 0.35 * np.exp(-0.5 * ((t - 200) / 25.0) ** 2) + 0.6 * np.exp(-0.5 * ((t - 200) / 3.0) ** 2)
    q = np.zeros((400, 2))
    q[:, 0] = q[:, 1] = 0.9                             # both classes claim the bump
    both = propose(a, q, PRESETS["default"], "v", 25.0)
    assert {p.cls for p in both} == {"MaE", "ME"}
    one = propose(a, q, preset_from_settings("default", {"cross_class_overlap": 0.5}), "v", 25.0)
    assert len(one) < len(both)
    for m in [p for p in one if p.cls == "ME"]:
        assert not any(x.cls == "MaE" and x.onset <= m.onset and m.offset <= x.offset for x in one)
    with pytest.raises(PfesError, match="cross_class_overlap"):
        preset_from_settings("default", {"cross_class_overlap": 1.5})


# ---- a short MaE proposal on an ME proposal (me_covers_mae) ---------------------------------------
def test_short_mae_under_an_me_goes_whatever_the_scores():
    from pfes_core.spotting import suppress_short_mae
    from pfes_core.types import Interval

    def iv(cls, on, off, score):
        return Interval(video="v", cls=cls, onset=on, apex=on, offset=off, score=score)

    me = iv("ME", 100, 112, 0.5)
    short_mae = iv("MaE", 98, 115, 0.9)                 # 18 frames, 13 of them the ME's: 0.72
    long_mae = iv("MaE", 80, 160, 0.9)                  # 81 frames, 13 shared: an ME on its rise
    far_mae = iv("MaE", 300, 318, 0.9)
    assert suppress_short_mae([short_mae, me, long_mae, far_mae], 0.5) == [me, long_mae, far_mae]
    assert suppress_short_mae([short_mae, me], 0.75) == [short_mae, me]      # 0.72 < 0.75: kept
    # an ME is never dropped by the rule, and MaE proposals do not suppress one another
    assert suppress_short_mae([me], 0.5) == [me]
    assert suppress_short_mae([short_mae, iv("MaE", 100, 110, 0.3)], 0.5) == [short_mae, iv("MaE", 100, 110, 0.3)]


def test_me_covers_mae_in_propose_settings_and_faithful_mode():
    t = np.arange(400)
    a = 0.35 * np.exp(-0.5 * ((t - 200) / 6.0) ** 2) + 0.6 * np.exp(-0.5 * ((t - 200) / 3.0) ** 2)
    q = np.zeros((400, 2))
    q[:, 0] = q[:, 1] = 0.9                             # both classes claim the short movement
    both = propose(a, q, PRESETS["default"], "v", 25.0)
    assert {p.cls for p in both} == {"MaE", "ME"}
    one = propose(a, q, preset_from_settings("default", {"me_covers_mae": 0.5}), "v", 25.0)
    assert [p.cls for p in one] == ["ME"]
    assert [p for p in both if p.cls == "ME"] == one
    with pytest.raises(PfesError, match="me_covers_mae"):
        preset_from_settings("default", {"me_covers_mae": 0})
    assert for_mode(preset_from_settings("default", {"me_covers_mae": 0.5}), "faithful").me_covers_mae is None
