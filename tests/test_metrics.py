"""MEGC counting on hand-made cases."""

import pytest

from pfes_core.metrics import (BEST_EPOCH, FIXED_EPOCH, EvaluationSummary, evaluate, format_table,
                               match_video, pool)
from pfes_core.types import Interval


def I(on, off, cls="MaE", score=None, video="v"):
    return Interval(video, cls, on, (on + off) // 2, off, score)


def test_iou_exactly_half_is_tp():
    r = match_video([I(0, 9, score=1.0)], [I(0, 19)])  # 10 / 20
    assert r.counts["MaE"].tp == 1 and r.matches[0].iou == 0.5


def test_iou_just_below_half_is_fp():
    r = match_video([I(0, 9, score=1.0)], [I(0, 20)])  # 10 / 21
    c = r.counts["MaE"]
    assert (c.tp, c.fp, c.fn) == (0, 1, 1)
    assert r.false_positives == [I(0, 9, score=1.0)] and r.missed == [I(0, 20)]


def test_duplicate_predictions_only_one_tp():
    gt = [I(10, 29)]
    preds = [I(10, 29, score=0.9), I(11, 29, score=0.8), I(10, 28, score=0.95)]
    r = match_video(preds, gt)
    c = r.counts["MaE"]
    assert (c.tp, c.fp, c.fn) == (1, 2, 0)
    assert r.matches[0].pred.score == 0.95  # highest score matched first
    assert c.f1 == pytest.approx(2 * 1 / (1 + 2 + 1))


def test_overlapping_ground_truths_each_matched_once():
    gt = [I(0, 19), I(5, 24)]
    preds = [I(3, 22, score=0.9), I(4, 23, score=0.5)]
    r = match_video(preds, gt)
    assert r.counts["MaE"].tp == 2 and r.counts["MaE"].fp == 0
    # The best-scored prediction [3,22] takes the GT with higher IoU: [5,24] has 18/22 > [0,19] 17/23
    assert r.matches[0].truth == I(5, 24)
    assert r.matches[1].truth == I(0, 19)


def test_greedy_by_score_can_cost_a_match():
    # Protocol is greedy in score order, not an optimal assignment.
    gt = [I(0, 19), I(30, 49)]
    preds = [I(0, 19, score=0.2), I(2, 21, score=0.9)]
    r = match_video(preds, gt)
    assert r.counts["MaE"].tp == 1 and r.counts["MaE"].fp == 1


def test_wrong_class_is_fp_and_miss():
    r = match_video([I(0, 13, cls="ME", score=1.0)], [I(0, 13, cls="MaE")])
    assert r.counts["ME"].fp == 1 and r.counts["MaE"].fn == 1
    assert r.counts["ME"].tp == 0 and r.counts["MaE"].tp == 0
    assert r.overall.f1 == 0.0


def test_empty_videos_and_missing_entries():
    truth = {"a": [I(0, 19, video="a")], "b": []}
    pred = {"b": [], "c": [I(0, 9, cls="ME", score=0.4, video="c")]}
    rep = evaluate(pred, truth)
    assert set(rep.per_video) == {"a", "b", "c"}
    assert rep.per_video["a"].missed == [I(0, 19, video="a")]
    assert rep.per_video["b"].overall.n_gt == 0 and rep.per_video["b"].overall.n_pred == 0
    assert rep.per_video["c"].false_positives[0].video == "c"
    o = rep.overall
    assert (o.tp, o.fp, o.fn, o.n_gt) == (0, 1, 1, 1)
    empty = evaluate({}, {})
    assert empty.overall.f1 == 0.0 and empty.overall.precision == 0.0 and empty.overall.recall == 0.0


def test_pooled_counts_not_averaged_f1():
    truth = {"a": [I(0, 19, video="a")],
             "b": [I(0, 19, video="b"), I(50, 69, video="b"), I(100, 119, video="b")]}
    pred = {"a": [I(0, 19, score=1, video="a")], "b": [I(200, 219, score=1, video="b")]}
    rep = evaluate(pred, truth)
    assert rep.overall.tp == 1 and rep.overall.fp == 1 and rep.overall.n_gt == 4
    assert rep.f1() == pytest.approx(2 / 6)
    assert rep.overall.precision == 0.5 and rep.overall.recall == 0.25


def test_per_class_and_overall():
    truth = {"v": [I(0, 29), I(100, 111, cls="ME"), I(200, 212, cls="ME")]}
    pred = {"v": [I(0, 29, score=0.9), I(100, 111, cls="ME", score=0.8),
                  I(300, 310, cls="ME", score=0.7)]}
    rep = evaluate(pred, truth)
    assert rep.f1("MaE") == 1.0
    assert rep.f1("ME") == pytest.approx(2 / 4)
    assert rep.f1() == pytest.approx(2 * 2 / (2 + 1 + 3))
    d = rep.to_dict()
    assert d["classes"]["ME"]["fn"] == 1 and d["overall"]["tp"] == 2
    assert d["videos"][0]["missed"][0]["onset"] == 200
    text = format_table(rep)
    assert "overall" in text and "0.6667" in text and FIXED_EPOCH in text


def test_pool_folds_and_selection_guard():
    f1 = evaluate({"a": [I(0, 9, score=1, video="a")]}, {"a": [I(0, 9, video="a")]})
    f2 = evaluate({"b": []}, {"b": [I(0, 9, video="b")]})
    p = pool([f1, f2])
    assert p.overall.tp == 1 and p.overall.n_gt == 2 and p.selection == FIXED_EPOCH
    b = evaluate({}, {}, selection=BEST_EPOCH)
    with pytest.raises(ValueError):
        pool([f1, b])
    s = EvaluationSummary(fixed_epoch=p, best_epoch=pool([b]), fixed_epoch_index=40)
    d = s.to_dict()
    assert set(d) == {FIXED_EPOCH, BEST_EPOCH, "fixed_epoch_index"}
    assert d[FIXED_EPOCH]["overall"]["tp"] == 1


def test_unscored_predictions_rank_last():
    gt = [I(0, 19)]
    r = match_video([I(0, 19), I(1, 19, score=0.1)], gt)
    assert r.matches[0].pred.score == 0.1
