"""MEGC counting on hand-made cases; the reference protocol against the published evaluation's counts."""

import json
from pathlib import Path

import pytest

from pfes_core.metrics import (BEST_EPOCH, FIXED_EPOCH, REFERENCE, Counts, EvaluationSummary, evaluate,
                               format_table, match_video, pool)
from pfes_core.types import CLASSES, Interval


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


# ----------------------------------------------------------------------------- reference protocol

F1_FIXTURE = Path(__file__).parent / "data" / "gim_reference" / "f1.json"


def _fixture_case(case):
    """(pred, truth, videos) of one f1.json subject as the project's Intervals (inclusive offsets)."""
    def iv(d, score=None):
        return Interval(video=d["video"], cls=CLASSES[d["label"]], onset=d["onset"], apex=d["apex"],
                        offset=d["offset"], score=score)

    truth, pred = {}, {}
    for d in case["ground_truth"]:
        truth.setdefault(d["video"], []).append(iv(d))
    for d in case["predictions"]:
        pred.setdefault(d["video"], []).append(iv(d, d["score"]))
    videos = list(dict.fromkeys([*truth, *pred, *case.get("videos_without_ground_truth", [])]))
    return pred, truth, videos


def test_reference_protocol_reproduces_the_published_counts():
    """Every subject of the published evaluation's fixture (24 random, 6 edge cases) and the pooled
    figure: TP, FP and GT per class exactly, as that code ran (inclusive offsets read as ends)."""
    data = json.loads(F1_FIXTURE.read_text())
    pooled = {c: Counts() for c in CLASSES}
    for case in data["cases"]:
        pred, truth, videos = _fixture_case(case)
        rep = evaluate(pred, truth, videos=videos, protocol=REFERENCE)
        assert rep.protocol == REFERENCE
        want = case["official"]["as_run"]
        for c in CLASSES:
            got = rep.classes[c]
            assert (got.tp, got.fp, got.n_gt) == (want[c]["TP"], want[c]["FP"], want[c]["GT"]), (case["subject"], c)
            if want[c]["F1"] is not None:
                assert got.f1 == want[c]["F1"]
            pooled[c] = pooled[c] + got
        ov = want["overall"]
        assert (rep.overall.tp, rep.overall.fp, rep.overall.n_gt) == (ov["TP"], ov["FP"], ov["GT"])
    for c in CLASSES:
        assert (pooled[c].tp, pooled[c].fp, pooled[c].n_gt) == (
            data["pooled"]["as_run"][c]["TP"], data["pooled"]["as_run"][c]["FP"], data["pooled"]["as_run"][c]["GT"])
    total = pooled[CLASSES[0]] + pooled[CLASSES[1]]
    assert total.f1 == data["pooled"]["as_run"]["overall"]["F1"]


def test_megc_protocol_differs_where_the_reference_departs():
    """MEGC counts predictions of a class without ground truth as false positives and compares
    inclusive intervals; on the same fixture it disagrees with the published counts exactly in the
    subjects that exercise those two rules."""
    data = json.loads(F1_FIXTURE.read_text())
    differ = []
    for case in data["cases"]:
        pred, truth, videos = _fixture_case(case)
        megc = evaluate(pred, truth, videos=videos)
        ref = evaluate(pred, truth, videos=videos, protocol=REFERENCE)
        assert megc.protocol == "megc" and megc.overall.n_gt == ref.overall.n_gt
        if (megc.overall.tp, megc.overall.fp) != (ref.overall.tp, ref.overall.fp):
            differ.append(case["subject"])
    only_mae = [c["subject"] for c in data["cases"]
                if c["predictions"] and {g["label"] for g in c["ground_truth"]} == {0}
                and any(p["label"] == 1 for p in c["predictions"])]
    assert only_mae and set(only_mae) <= set(differ)


def test_reference_protocol_per_subject_and_labelled():
    a = Interval(video="s1_v", cls="ME", onset=10, apex=12, offset=20, score=0.9)
    truth = {"s2_v": [Interval(video="s2_v", cls="ME", onset=10, apex=12, offset=20)]}
    pred = {"s1_v": [a], "s2_v": [Interval(video="s2_v", cls="ME", onset=10, apex=12, offset=20, score=0.8)]}
    # One subject: the ME in s1_v is a false positive, because the subject has ME ground truth.
    rep = evaluate(pred, truth, protocol=REFERENCE)
    assert (rep.classes["ME"].tp, rep.classes["ME"].fp) == (1, 1)
    # Two subjects: s1 has no ME ground truth, so its ME prediction is ignored there.
    rep = evaluate(pred, truth, protocol=REFERENCE, groups={"s1_v": "s1", "s2_v": "s2"})
    assert (rep.classes["ME"].tp, rep.classes["ME"].fp) == (1, 0)
    assert rep.per_video["s1_v"].to_dict()["ignored"][0]["onset"] == 10
    assert "protocol: reference" in format_table(rep) and rep.to_dict()["protocol"] == "reference"
    assert "protocol: MEGC" in format_table(evaluate(pred, truth))
    with pytest.raises(ValueError, match="refusing to pool"):
        pool([rep, evaluate(pred, truth)])
    with pytest.raises(ValueError, match="unknown evaluation protocol"):
        evaluate(pred, truth, protocol="anet")
