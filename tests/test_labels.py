"""LabelStore queries against brute force, the one-label-per-class-per-frame rule, edits and inverses."""

from __future__ import annotations

import random
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfes_core.errors import LabelError
from pfes_core.labels import (AddLabel, BulkDelete, BulkImport, DeleteLabel, LabelStore, MoveLabel,
                              RetypeLabel, edit_from_dict)
from pfes_core.reviews import ReviewStore, SetReview
from pfes_core.types import PointLabel, VideoRecord


def state(n_frames=1000, videos=("a", "b")):
    """The minimal thing edits apply to: labels, reviews, videos."""
    return SimpleNamespace(labels=LabelStore(), reviews=ReviewStore(),
                           videos={v: VideoRecord(v, f"{v}.mp4", 30.0, n_frames, "fp") for v in videos})


label_sets = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 60), st.sampled_from(["MaE", "ME"])),
                      unique=True, max_size=40)


@settings(max_examples=60, deadline=None)
@given(keys=label_sets, frame=st.integers(-5, 70), lo=st.integers(-5, 70), span=st.integers(0, 30),
       cls=st.sampled_from([None, "MaE", "ME"]))
def test_queries_match_brute_force(keys, frame, lo, span, cls):
    labels = [PointLabel(v, f, c) for v, f, c in keys]
    store = LabelStore(random.Random(0).sample(labels, len(labels)))
    order = {"MaE": 0, "ME": 1}
    srt = sorted(labels, key=lambda lb: (lb.video, lb.frame, order[lb.cls]))
    assert len(store) == len(labels)
    assert store.all() == srt
    assert store.for_video("a") == [lb for lb in srt if lb.video == "a"]
    assert store.at("a", frame) == [lb for lb in srt if lb.video == "a" and lb.frame == frame]
    assert store.in_range("b", lo, lo + span) == [lb for lb in srt if lb.video == "b" and lo <= lb.frame <= lo + span]
    cands = [lb for lb in srt if lb.video == "a" and (cls is None or lb.cls == cls)]
    got = store.nearest("a", frame, cls)
    if not cands:
        assert got is None
    else:
        best = min(abs(lb.frame - frame) for lb in cands)
        assert got is not None and abs(got.frame - frame) == best
        assert got.frame == min(lb.frame for lb in cands if abs(lb.frame - frame) == best)
    counts = store.counts()
    for v in ("a", "b"):
        for c in ("MaE", "ME"):
            n = sum(1 for lb in labels if lb.video == v and lb.cls == c)
            assert counts.get(v, {"MaE": 0, "ME": 0})[c] == n


def test_same_class_same_frame_refused_but_mae_and_me_coexist():
    s = state()
    AddLabel("a", 5, "ME").apply(s)
    AddLabel("a", 5, "MaE").apply(s)
    assert [lb.cls for lb in s.labels.at("a", 5)] == ["MaE", "ME"]
    with pytest.raises(LabelError, match="already exists"):
        AddLabel("a", 5, "me").apply(s)
    AddLabel("a", 6, "ME").apply(s)
    with pytest.raises(LabelError, match="already exists"):
        MoveLabel("a", 6, "ME", 5).apply(s)
    AddLabel("a", 6, "MaE").apply(s)
    with pytest.raises(LabelError, match="already exists"):
        RetypeLabel("a", 6, "ME", "MaE").apply(s)
    assert [(lb.frame, lb.cls) for lb in s.labels.all()] == [(5, "MaE"), (5, "ME"), (6, "MaE"), (6, "ME")]


@pytest.mark.parametrize("frame", [-1, 1000, 10**9, 2.5, "x", None, True])
def test_frame_must_be_inside_the_video(frame):
    s = state(n_frames=1000)
    with pytest.raises(LabelError):
        AddLabel("a", frame, "ME").apply(s)
    assert len(s.labels) == 0


def test_unknown_video_and_class():
    s = state()
    with pytest.raises(LabelError, match="unknown video"):
        AddLabel("zz", 1, "ME").apply(s)
    with pytest.raises(LabelError, match="unknown expression class"):
        AddLabel("a", 1, "smile").apply(s)


def test_inverses_restore_exactly():
    s = state()
    AddLabel("a", 3, "ME", "ann", created=100.0, modified=150.0).apply(s)
    original = s.labels.all()
    for edit in (MoveLabel("a", 3, "ME", 9, modified=200.0), RetypeLabel("a", 3, "ME", "MaE", modified=300.0),
                 DeleteLabel("a", 3, "ME")):
        edit.apply(s)
        assert s.labels.all() != original
        edit.inverse().apply(s)
        assert s.labels.all() == original  # annotator, created AND modified restored
    move = MoveLabel("a", 3, "ME", 9, modified=200.0)
    move.apply(s)
    assert s.labels.get("a", 9, "ME") == PointLabel("a", 9, "ME", "ann", 100.0, 200.0)


def test_bulk_import_is_all_or_nothing_and_undoable():
    s = state(n_frames=100)
    AddLabel("a", 1, "ME").apply(s)
    good = [PointLabel("a", i, "MaE", "x", 1.0, 1.0) for i in range(10)]
    with pytest.raises(LabelError):
        BulkImport(good + [PointLabel("a", 100, "ME")]).apply(s)
    with pytest.raises(LabelError, match="already exists"):
        BulkImport(good + [PointLabel("a", 1, "ME")]).apply(s)
    with pytest.raises(LabelError, match="already exists"):
        BulkImport(good + [good[0]]).apply(s)
    assert len(s.labels) == 1
    edit = BulkImport(good + [PointLabel("a", 1, "ME")], skip_existing=True)
    edit.apply(s)
    assert len(s.labels) == 11 and len(edit.added) == 10
    inv = edit.inverse()
    assert isinstance(inv, BulkDelete)
    inv.apply(s)
    assert [(lb.frame, lb.cls) for lb in s.labels.all()] == [(1, "ME")]
    inv.inverse().apply(s)
    assert len(s.labels) == 11


def test_edits_survive_their_journal_form():
    s1, s2 = state(), state()
    edits = [AddLabel("a", 3, "ME", "ann", 1.0, 2.0), AddLabel("b", 4, "MaE", created=5.0),
             MoveLabel("a", 3, "ME", 8, 6.0), RetypeLabel("b", 4, "MaE", "ME", 7.0),
             BulkImport([PointLabel("a", 20, "MaE", "q", 3.0, 4.0)]), DeleteLabel("a", 20, "MaE"),
             BulkDelete([("a", 8, "ME")]),
             SetReview("a", "r", "ME", 1, 2, 3, "adjusted", 0.5, (1, 2, 4), "rev", 9.0)]
    for e in edits:
        e.apply(s1)
        edit_from_dict(e.to_dict()).apply(s2)
    assert s1.labels.all() == s2.labels.all() and len(s1.labels) == 1
    assert s1.reviews.all() == s2.reviews.all()
    with pytest.raises(LabelError, match="unknown edit kind"):
        edit_from_dict({"kind": "explode"})


def test_hundred_thousand_labels_stay_fast():
    n = 100_000
    labels = [PointLabel(f"v{i % 10}", i // 10 * 2, "ME" if i % 3 else "MaE") for i in range(n)]
    t0 = time.perf_counter()
    store = LabelStore(labels)
    build = time.perf_counter() - t0
    assert len(store) == n
    t0 = time.perf_counter()
    for k in range(1000):
        store.in_range("v3", k * 10, k * 10 + 40)
        store.nearest("v3", k * 17 + 1)
        store.at("v5", k * 2)
    per_query = (time.perf_counter() - t0) / 3000
    assert per_query < 2e-4, per_query  # O(log n): microseconds, not a scan of 100k
    assert build < 5.0
    s = SimpleNamespace(labels=store, reviews=ReviewStore(),
                        videos={f"v{i}": VideoRecord(f"v{i}", "x", 30.0, 10**6, "f") for i in range(10)})
    t0 = time.perf_counter()
    for k in range(500):
        AddLabel("v3", 2 * k + 1, "ME").apply(s)
    assert (time.perf_counter() - t0) / 500 < 1e-3


def test_earlier_decision_is_the_newest_on_the_same_expression_in_another_run():
    from pfes_core.reviews import ReviewDecision
    from pfes_core.types import Interval

    def d(run, cls, on, off, status, t, adjusted=None):
        return ReviewDecision("v", run, cls, on, (on + off) // 2, off, 0.5, status, adjusted, "a", t)

    store = ReviewStore([d("r1", "ME", 100, 112, "rejected", 1.0),
                         d("r2", "ME", 101, 113, "accepted", 2.0),       # newer: wins
                         d("r3", "ME", 100, 112, "rejected", 9.0),       # the asking run: skipped
                         d("r1", "MaE", 100, 112, "rejected", 5.0),      # other class
                         d("r1", "ME", 300, 330, "adjusted", 3.0, adjusted=(200, 205, 210))])
    assert store.earlier_decision("r3", Interval("v", "ME", 102, 107, 114)).run_id == "r2"
    assert store.earlier_decision("r3", Interval("w", "ME", 102, 107, 114)) is None
    assert store.earlier_decision("r3", Interval("v", "ME", 109, 115, 125)) is None   # IoU 4/26
    # an adjusted decision stands for the reviewer's span, not the proposal's
    assert store.earlier_decision("r3", Interval("v", "ME", 199, 205, 211)).status == "adjusted"
    assert store.earlier_decision("r3", Interval("v", "ME", 300, 315, 330)) is None
    # the index follows edits
    state = SimpleNamespace(reviews=store, videos={"v": SimpleNamespace(n_frames=1000)})
    SetReview("v", "r2", "ME", 101, 107, 113, None).apply(state)
    assert store.earlier_decision("r3", Interval("v", "ME", 102, 107, 114)).run_id == "r1"
