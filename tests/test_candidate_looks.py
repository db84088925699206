"""The model's low-scored candidates as places to look: which runs are offered, which are covered,
and the "looked" decision that remembers an empty look across saves and runs."""

from __future__ import annotations

import numpy as np

from pfes_core.candidate_looks import (LOOK_SLACK, loose_preset, looks_needed, model_candidates,
                                       needs_look, project_looks)
from pfes_core.cli.eval_cmds import reviewed_intervals
from pfes_core.labels import AddLabel
from pfes_core.project import Project
from pfes_core.reviews import LOOKED, SetReview
from pfes_core.runs import Predictions
from pfes_core.spotting import PRESETS, propose
from pfes_core.types import Interval

N = 600


def curves(bumps):
    """Intensity with a raised-cosine bump per (centre, half width, height, apex score); the apex
    score goes to MaE for wide bumps, ME for narrow ones, a third of it to the other class."""
    t = np.arange(N)
    a = np.zeros(N)
    q = np.zeros((N, 2))
    for centre, half, height, peak in bumps:
        inside = np.abs(t - centre) <= half
        shape = 0.5 * (1 + np.cos(np.pi * (t[inside] - centre) / half))
        a[inside] = np.maximum(a[inside], height * shape)
        c = 0 if half >= 10 else 1
        q[inside, c] = np.maximum(q[inside, c], peak * shape)
        q[inside, 1 - c] = np.maximum(q[inside, 1 - c], peak / 3 * shape)
    return a, q


def test_a_bump_under_the_class_gate_is_no_proposal_but_a_candidate():
    preset = PRESETS["default"]
    a, q = curves([(100, 20, 0.95, 0.9), (400, 9, 0.6, 0.3)])
    proposals = propose(a, q, preset, "v", 30.0)
    assert any(p.onset <= 100 <= p.offset for p in proposals)
    assert not any(p.onset <= 400 <= p.offset for p in proposals)
    candidates = model_candidates(a, q, preset, "v", 30.0)
    near = [c for c in candidates if c.onset <= 400 <= c.offset]
    assert near, "the weak bump is one of the model's candidate runs"
    looks = looks_needed(candidates, proposals, [], [])
    assert all(not (c.onset <= 100 <= c.offset) for c in looks), "the proposed bump is covered"
    assert any(c.onset <= 400 <= c.offset for c in looks)
    # one row per span: the class the model scored higher (ME, the narrow bump)
    spans = [(c.onset, c.offset) for c in looks]
    assert len(spans) == len(set(spans))
    assert [c.cls for c in looks if c.onset <= 400 <= c.offset][0] == "ME"


def test_loose_preset_drops_every_cut_but_keeps_the_rules():
    loose = loose_preset(PRESETS["casme2"])
    assert loose.score_threshold == (-1.0, -1.0) and loose.class_gate == 0.0
    assert loose.budget == (None, None) and not loose.faithful
    assert loose.mae_length == PRESETS["casme2"].mae_length


def test_a_label_within_the_slack_an_overlapping_proposal_or_an_earlier_look_covers_a_candidate():
    c = Interval("v", "ME", 200, 205, 210, 0.2)
    assert needs_look(c, [], [], [])
    assert not needs_look(c, [], [210 + LOOK_SLACK], [])
    assert needs_look(c, [], [210 + LOOK_SLACK + 1, 200 - LOOK_SLACK - 1], [])
    assert not needs_look(c, [Interval("v", "MaE", 150, 180, 200, 0.8)], [], [])
    assert needs_look(c, [Interval("v", "MaE", 150, 180, 199, 0.8)], [], [])
    # the same place looked at before, as another class in another run, frames a little off
    assert not needs_look(c, [], [], [Interval("v", "MaE", 202, 206, 212)])
    assert needs_look(c, [], [], [Interval("v", "MaE", 208, 212, 230)])


def test_looks_are_ordered_by_score_and_one_per_place():
    cands = [Interval("v", "MaE", 10, 15, 30, 0.1), Interval("v", "ME", 10, 15, 30, 0.25),
             Interval("v", "ME", 100, 104, 108, 0.4), Interval("v", "ME", 300, 302, 306, -0.2),
             # the same place as 321-337 (IoU 13/17), lower: one look answers both
             Interval("v", "MaE", 321, 325, 337, 0.42), Interval("v", "ME", 324, 325, 336, 0.05),
             # overlapping, but another place (IoU 4/20)
             Interval("v", "ME", 334, 340, 353, 0.02)]
    looks = looks_needed(cands, [], [], [])
    assert [(c.onset, c.cls, c.score) for c in looks] == [
        (321, "MaE", 0.42), (100, "ME", 0.4), (10, "ME", 0.25), (334, "ME", 0.02), (300, "ME", -0.2)]
    # "nothing here" at 321-337 covers its twin too
    assert [c.onset for c in looks_needed(cands, [], [], [looks[0]])] == [100, 10, 334, 300]


def make_project(tmp_path):
    project = Project.create(tmp_path / "p.pfes")
    project.add_video(tmp_path / "v.mp4", subject="s1", video_id="v", fps=30.0, n_frames=N,
                      fingerprint="fp-v")
    return project


def test_project_looks_and_a_looked_decision_that_survives_reopening(tmp_path):
    a, q = curves([(100, 20, 0.95, 0.9), (400, 9, 0.6, 0.3), (500, 15, 0.5, 0.2)])
    preset = PRESETS["default"]
    preds = {"v": Predictions(a, q, propose(a, q, preset, "v", 30.0))}
    project = make_project(tmp_path)
    looks = project_looks(project, preds, preset)
    assert all(any(c.onset <= f <= c.offset for c in looks) for f in (400, 500))
    assert not any(c.onset <= 100 <= c.offset for c in looks), "the proposed bump is covered"
    # a label clicked at the weak ME bump covers it; the MaE-like one is looked at, found empty
    project.apply(AddLabel("v", 401, "ME", "coder"))
    empty = next(c for c in project_looks(project, preds, preset) if c.onset <= 500 <= c.offset)
    project.apply(SetReview.for_proposal("run1", empty, LOOKED, annotator="coder"))
    assert not [c for c in project_looks(project, preds, preset)
                if c.onset <= 400 <= c.offset or c.onset <= 500 <= c.offset]
    project.save()
    root = project.root
    project.close()
    with Project.open(root, readonly=True) as again:
        assert [(s.onset, s.offset) for s in again.reviews.looked("v")] == [(empty.onset, empty.offset)]
        # a retrained run proposing at that place is not settled by the look: it is asked about
        same_place = Interval("v", empty.cls, empty.onset, empty.apex, empty.offset, 0.6)
        assert again.reviews.earlier_decision("run2", same_place) is None
        out, counts = reviewed_intervals([same_place], again.reviews, "run2")
        assert out == [same_place] and counts["unreviewed"] == 1
        # a run without the strong proposal: its bump is offered, the label and the look still hold
        offered = project_looks(again, {"v": Predictions(a, q, [])}, preset)
        assert [f for f in (100, 400, 500) if any(c.onset <= f <= c.offset for c in offered)] == [100]


def test_undoing_a_look_offers_the_span_again(tmp_path):
    a, q = curves([(300, 15, 0.5, 0.2)])
    preset = PRESETS["default"]
    preds = {"v": Predictions(a, q, [])}
    project = make_project(tmp_path)
    first = project_looks(project, preds, preset)[0]
    edit = project.apply(SetReview.for_proposal("run1", first, LOOKED))
    assert first not in project_looks(project, preds, preset)
    project.apply(edit.inverse())
    assert project_looks(project, preds, preset)[0] == first
    project.close()


def test_cover_answers_as_the_plain_rule_on_random_layouts():
    """Cover's bisect shortcuts against the rule written out, on random spans and labels."""
    from pfes_core.candidate_looks import Cover
    from pfes_core.spotting import interval_iou

    rng = np.random.default_rng(5)

    def span(cls="ME", longest=60):
        on = int(rng.integers(0, 900))
        return Interval("v", cls, on, on, on + int(rng.integers(0, longest)))

    for _ in range(40):
        proposals = [span("MaE") for _ in range(rng.integers(0, 8))]
        frames = [int(f) for f in rng.integers(0, 1000, rng.integers(0, 8))]
        looked = [span(longest=int(rng.choice([60, 200]))) for _ in range(rng.integers(0, 8))]
        cover = Cover(proposals, frames, looked)
        for _ in range(50):
            c = span()
            plain = (any(c.onset - LOOK_SLACK <= f <= c.offset + LOOK_SLACK for f in frames)
                     or any(p.onset <= c.offset and c.onset <= p.offset for p in proposals)
                     or any(interval_iou(c, s) >= 0.5 or s.onset <= c.onset <= c.offset <= s.offset
                            for s in looked))
            assert cover.covers(c) == plain


def test_run_candidates_are_the_loose_proposals_of_each_video():
    from pfes_core.candidate_looks import run_candidates
    from pfes_core.spotting import preset_for_fps

    preset = PRESETS["default"]
    a1, q1 = curves([(100, 20, 0.95, 0.9), (400, 9, 0.6, 0.3)])
    a2, q2 = curves([(250, 15, 0.5, 0.2)])
    found = run_candidates({"v1": Predictions(a1, q1, []), "v2": Predictions(a2, q2, [])}, preset,
                           {"v1": 30.0, "v2": 50.0})
    assert found["v1"] == propose(a1, q1, loose_preset(preset), "v1", 30.0)
    # the 50 fps video: lengths scaled as for its proposals
    assert found["v2"] == propose(a2, q2, preset_for_fps(loose_preset(preset), 50.0), "v2", 50.0)
    assert found["v2"] and all(c.video == "v2" for c in found["v2"])
