"""Agreement and adjudication on hand-made cases whose figures are worked out in the comments."""

from __future__ import annotations

import pytest

from pfes_core import adjudication as adj
from pfes_core.agreement import (AgreementError, compare_video, interval_agreement, label_agreement,
                                 optimal_pairs, tolerance_frames)
from pfes_core.labels import CONSENSUS, BulkImport
from pfes_core.project import Project
from pfes_core.types import Interval, PointLabel


def pts(ann, *items, video="v1"):
    return [PointLabel(video, f, c, ann) for f, c in items]


def test_tie_goes_to_the_earlier_label():
    # A ME@10; B ME@8 and ME@12, both 2 frames away: one pair, the earlier B label.
    c = compare_video(pts("a", (10, "ME")), pts("b", (8, "ME"), (12, "ME")), tol=2)
    assert (c.n_a, c.n_b, c.matched) == (1, 2, 1)
    assert c.precision == 0.5 and c.recall == 1.0 and c.f1 == pytest.approx(2 / 3)
    assert c.offsets == [-2] and c.median_offset == -2.0
    assert c.confusion["ME"]["ME"] == 1 and c.confusion["none"]["ME"] == 1


def test_one_label_near_two_is_matched_optimally_not_greedily():
    # A 10, 13; B 12, 15 (tol 2). Greedy takes the closest pair 13-12 first and then 10 has no
    # partner (15 is 5 away): 1 match. The optimal matching is 10-12 and 13-15: 2 matches.
    c = compare_video(pts("a", (10, "ME"), (13, "ME")), pts("b", (12, "ME"), (15, "ME")), tol=2)
    assert c.matched == 2 and c.f1 == 1.0
    assert sorted(c.offsets) == [2, 2] and c.median_abs_offset == 2.0
    # Outside the tolerance nothing matches; exactly at it, it does.
    assert compare_video(pts("a", (10, "ME")), pts("b", (13, "ME")), tol=2).matched == 0
    assert compare_video(pts("a", (10, "ME")), pts("b", (12, "ME")), tol=2).matched == 1


def test_class_disagreement_is_no_agreement_but_shows_in_the_confusion():
    # A MaE@50, B ME@51: both saw something, but called it differently.
    c = compare_video(pts("a", (50, "MaE")), pts("b", (51, "ME")), tol=3)
    assert c.matched == 0 and c.f1 == 0.0 and c.median_offset is None
    assert c.confusion["MaE"]["ME"] == 1 and c.class_disagreements == 1
    assert c.confusion["MaE"]["none"] == 0 and c.confusion["none"]["ME"] == 0
    # Class-blind matching prefers same-class pairs over closer cross-class ones:
    # A MaE@100, ME@101; B ME@100, MaE@102 -> MaE-MaE (2 frames) and ME-ME (1 frame), no conflict.
    c = compare_video(pts("a", (100, "MaE"), (101, "ME")), pts("b", (100, "ME"), (102, "MaE")), tol=3)
    assert c.confusion["MaE"]["MaE"] == 1 and c.confusion["ME"]["ME"] == 1 and c.class_disagreements == 0
    assert c.matched == 2 and sorted(c.offsets) == [-1, 2]


def test_empty_sides():
    only_a = compare_video(pts("a", (1, "ME"), (9, "MaE")), [], tol=2)
    assert only_a.precision is None and only_a.recall == 0.0 and only_a.f1 == 0.0
    assert only_a.confusion["ME"]["none"] == 1 and only_a.confusion["MaE"]["none"] == 1
    nothing = compare_video([], [], tol=2)
    assert nothing.precision is None and nothing.recall is None and nothing.f1 is None
    assert optimal_pairs([], pts("b", (1, "ME")), 2, same_class=True) == []


def test_class_kappa_of_matched_pairs():
    # Pairs: MaE-MaE twice, ME-ME once, MaE-ME once. po = 3/4; A's marginals MaE 3, ME 1, B's MaE 2,
    # ME 2: pe = (3*2 + 1*2) / 16 = 1/2; kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2.
    a = pts("a", (10, "MaE"), (30, "MaE"), (50, "ME"), (70, "MaE"))
    b = pts("b", (10, "MaE"), (31, "MaE"), (50, "ME"), (71, "ME"))
    assert compare_video(a, b, tol=2).to_dict()["class_kappa"] == pytest.approx(0.5)


def test_tolerance_in_milliseconds_rounds_down_per_video():
    assert tolerance_frames(30.0, tolerance_ms=100) == 3
    assert tolerance_frames(25.0, tolerance_ms=100) == 2      # 2.5 frames -> 2
    assert tolerance_frames(200.0, tolerance_ms=33.3) == 6
    assert tolerance_frames(30.0) == 5
    with pytest.raises(AgreementError, match="not both"):
        tolerance_frames(30.0, 2, 100)
    with pytest.raises(AgreementError, match="whole number"):
        tolerance_frames(30.0, -1)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p")
    p.add_video(tmp_path / "v1.mp4", video_id="v1", fps=30.0, n_frames=300, fingerprint="a")
    p.add_video(tmp_path / "v2.mp4", video_id="v2", fps=25.0, n_frames=300, fingerprint="b")
    p.apply(BulkImport(pts("ann", (10, "ME"), (100, "MaE"), (200, "ME"))
                       + pts("bob", (12, "ME"), (101, "ME"), (250, "MaE"))
                       + pts("ann", (40, "MaE"), video="v2") + pts("bob", (44, "MaE"), video="v2")))
    yield p
    p.close()


def test_project_agreement_per_video_and_overall(project):
    r = label_agreement(project, tolerance=3)
    assert r.pairs() == [("ann", "bob")]
    v1, v2 = r.per_video[("ann", "bob")]["v1"], r.per_video[("ann", "bob")]["v2"]
    # v1: 10-12 agree (ME, +2); 100 MaE vs 101 ME a class conflict; 200 and 250 unmatched.
    assert (v1.n_a, v1.n_b, v1.matched, v1.class_disagreements) == (3, 3, 1, 1)
    # v2: 40 vs 44 is 4 frames, outside the tolerance of 3.
    assert v2.matched == 0
    total = r.overall("ann", "bob")
    assert (total.n_a, total.n_b, total.matched) == (4, 4, 1) and total.f1 == pytest.approx(2 / 8)
    # 150 ms: v1 at 30 fps -> 4 frames, v2 at 25 fps -> 3 frames (3.75 rounded down).
    r = label_agreement(project, tolerance_ms=150)
    assert r.tolerance_of == {"v1": 4, "v2": 3} and r.overall("ann", "bob").matched == 1
    assert label_agreement(project, tolerance=4).overall("ann", "bob").matched == 2
    with pytest.raises(AgreementError, match="unknown annotator 'zed'"):
        label_agreement(project, ["ann", "zed"])
    d = r.to_dict()
    assert d["pairs"][0]["videos"]["v1"]["confusion"]["MaE"]["ME"] == 1


def test_interval_sets_from_two_sources_use_megc_matching():
    # MaE [10,20] vs [12,22]: IoU 9/13 >= 0.5, a match. ME [50,70] vs [50,55]: IoU 6/21, none.
    a = {"v1": [Interval("v1", "MaE", 10, 15, 20), Interval("v1", "ME", 50, 60, 70)]}
    b = {"v1": [Interval("v1", "MaE", 12, 15, 22), Interval("v1", "ME", 50, 52, 55)]}
    d = interval_agreement(a, b)
    assert d["overall"]["tp"] == 1 and d["overall"]["precision"] == 0.5 and d["overall"]["recall"] == 0.5
    assert d["classes"]["ME"]["tp"] == 0


def test_disagreements_and_resolution_into_a_journaled_consensus_layer(project):
    items = adj.disagreements(project, "ann", "bob", tolerance=3, large_offset=1)
    kinds = [(d.video, d.kind, d.frame) for d in items]
    # 10 vs 12 agree in class but 2 > large_offset 1; 100/101 class; 200 and 250 unmatched; v2 both alone.
    assert kinds == [("v1", "offset", 10), ("v1", "class", 100), ("v1", "unmatched", 200),
                     ("v1", "unmatched", 250), ("v2", "unmatched", 40), ("v2", "unmatched", 44)]
    assert all(adj.resolution(project, d, 3) is None for d in items)
    offset, conflict, only_a = items[0], items[1], items[2]
    project.apply(adj.midpoint_edit(offset))                      # consensus ME at 11
    project.apply(adj.keep_edit(conflict.label_b))                # bob's ME at 101
    project.apply(adj.RejectForConsensus(only_a.labels))          # ann's 200: no expression
    assert adj.resolution(project, offset, 3) == "consensus ME at 11"
    assert adj.resolution(project, conflict, 3) == "consensus ME at 101"
    assert adj.resolution(project, only_a, 3) == "rejected"
    assert [(lb.frame, lb.cls) for lb in project.labels.all([CONSENSUS])] == [(11, "ME"), (101, "ME")]
    project.undo()
    assert adj.resolution(project, only_a, 3) is None
    project.redo()
    root = project.root
    project.close()
    with Project.open(root) as back:   # replayed from the journal
        assert adj.resolution(back, only_a, 3) == "rejected"
        assert len(back.labels.all([CONSENSUS])) == 2
        back.save()
    with Project.open(root) as back:   # from project.h5
        assert adj.resolution(back, only_a, 3) == "rejected"
        assert "consensus" in back.annotators()


def test_accepting_agreements_fills_the_consensus_layer_once(project):
    edit = adj.accept_agreements_edit(project, "ann", "bob", tolerance=3)   # large offset: 1 frame
    project.apply(edit)
    assert edit.added == []   # 10/12 differ by 2 > 1: left for review
    edit = adj.accept_agreements_edit(project, "ann", "bob", tolerance=3, large_offset=2)
    project.apply(edit)
    assert [(lb.frame, lb.cls, lb.annotator) for lb in edit.added] == [(11, "ME", CONSENSUS)]
    again = adj.accept_agreements_edit(project, "ann", "bob", tolerance=3, large_offset=2)
    project.apply(again)
    assert again.added == []
