"""Stretches to scan whole: the grid and its fixed order, videos taking turns, a stretch done only
by a "looked" decision, and the candidates a scanned stretch answers for."""

from __future__ import annotations

from pfes_core.candidate_looks import needs_look, project_looks
from pfes_core.labels import AddLabel
from pfes_core.project import Project
from pfes_core.reviews import LOOKED, SetReview
from pfes_core.runs import Predictions
from pfes_core.scan_stretches import (project_stretches, stretch_frames, stretches_needed,
                                      video_stretches)
from pfes_core.spotting import PRESETS
from pfes_core.types import Interval
from test_candidate_looks import curves


def test_the_grid_covers_every_frame_once_in_a_fixed_order_of_its_own_per_video():
    stretches = video_stretches("sub01_v2", 1000, 30.0)
    assert stretch_frames(30.0) == 180 and stretch_frames(25.0) == 150
    frames = sorted(f for s in stretches for f in range(s.onset, s.offset + 1))
    assert frames == list(range(1000))                                # no gap, no overlap
    assert sorted(s.offset - s.onset + 1 for s in stretches) == [100] + [180] * 5   # the last one shorter
    assert all(s.onset <= s.apex <= s.offset for s in stretches)
    assert video_stretches("sub01_v2", 1000, 30.0) == stretches       # the same for every run and annotator
    orders = {tuple(s.onset for s in video_stretches(f"v{i}", 3000, 25.0)) for i in range(5)}
    assert len(orders) > 1                                            # the shuffle is keyed by the video
    assert any([s.onset for s in video_stretches(f"v{i}", 3000, 25.0)] != list(range(0, 3000, 150))
               for i in range(5))                                     # shuffled, not in time order


def test_videos_take_turns_the_least_scanned_and_least_labelled_first():
    videos = {"a": (750, 25.0), "b": (750, 25.0), "c": (750, 25.0)}
    order = stretches_needed(videos, {}, {"a": 4, "b": 0, "c": 1})
    assert [s.video for s in order[:6]] == ["b", "c", "a", "b", "c", "a"]
    assert len(order) == 15                                           # 5 stretches of 150 frames each
    first_b = order[0]
    # b's first stretch looked at: b has one scanned now, so c and a come first, then b again
    after = stretches_needed(videos, {"b": [first_b]}, {"a": 4, "b": 0, "c": 1})
    assert first_b not in after and len(after) == 14
    assert [s.video for s in after[:3]] == ["c", "a", "b"]
    # a "looked" span of another shape that is not the same place leaves the stretch open
    small = Interval("b", "ME", first_b.onset, first_b.onset + 5, first_b.onset + 10)
    assert first_b in stretches_needed(videos, {"b": [small]}, {})


def test_a_scanned_stretch_answers_for_every_candidate_inside_it():
    stretch = Interval("v", "MaE", 150, 225, 299)
    inside = Interval("v", "ME", 200, 206, 212, 0.2)
    astride = Interval("v", "ME", 290, 300, 310, 0.2)
    assert not needs_look(inside, [], [], [stretch])
    assert needs_look(astride, [], [], [stretch])


def test_scanning_a_stretch_in_a_project_survives_reopening_and_takes_its_looks_off(tmp_path):
    project = Project.create(tmp_path / "p.pfes")
    project.add_video(tmp_path / "v.mp4", subject="s1", video_id="v", fps=25.0, n_frames=600,
                      fingerprint="fp-v")
    a, q = curves([(400, 9, 0.6, 0.3)])
    preds = {"v": Predictions(a, q, [])}
    preset = PRESETS["default"]
    look = project_looks(project, preds, preset)[0]
    stretch = next(s for s in project_stretches(project, ["v", "missing"])
                   if s.onset <= look.onset and look.offset <= s.offset)
    project.apply(AddLabel("v", stretch.onset + 3, "ME"))             # a label inside: still open
    assert stretch in project_stretches(project, ["v"])
    project.apply(SetReview.for_proposal("run1", stretch, LOOKED))
    assert stretch not in project_stretches(project, ["v"]) and len(project_stretches(project, ["v"])) == 3
    assert look not in project_looks(project, preds, preset)           # the scan answered for it
    project.close()
    again = Project.open(tmp_path / "p.pfes")
    assert stretch not in project_stretches(again, ["v"])
    again.close()
