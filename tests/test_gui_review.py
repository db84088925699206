"""Review on the real MainWindow: proposals from a run on disk, accept/reject/adjust with undo,
the review queue, the evaluation table and the export through `pfes export`'s code."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("PySide6")
qasync = pytest.importorskip("qasync")

from PySide6.QtCore import Qt  # noqa: E402

from pfes_core.labels import AddLabel  # noqa: E402
from pfes_core.types import Interval  # noqa: E402
from video_helpers import write_noise_video  # noqa: E402

pytestmark = pytest.mark.gui

RUN_ID = "20250101-120000-abcd"
N_FRAMES = 200




def _curves(events):
    """Intensity + apex curves with Gaussian bumps at (centre, width, class column[, height])."""
    t = np.arange(N_FRAMES)
    a, q = np.zeros(N_FRAMES), np.zeros((N_FRAMES, 2))
    for centre, width, col, *height in events:
        bump = (height[0] if height else 0.9) * np.exp(-0.5 * ((t - centre) / width) ** 2)
        a += bump
        q[:, col] += bump
    return a, q


@pytest.fixture(scope="module")
def reviewed_project_template(tmp_path_factory):
    """Two videos, two labels, reference intervals and a finished run with real predictions.h5
    (written by pfes_core.runs, proposals by pfes_core.spotting): no training needed."""
    from pfes_core import runs
    from pfes_core.project import Project

    base = tmp_path_factory.mktemp("review")
    video = base / "noise.mp4"
    write_noise_video(video, n_frames=N_FRAMES, seed=7)
    project = Project.create(base / "rev")
    for vid in ("v1", "v2"):
        project.add_video(video, subject="s1", video_id=vid)
    project.apply(AddLabel("v1", 40, "MaE", "tester"))      # on the MaE proposal
    project.apply(AddLabel("v1", 185, "ME", "tester"))      # where the model sees nothing
    project.set_reference([Interval("v1", "MaE", 25, 40, 55), Interval("v1", "ME", 150, 158, 166)])
    project.save()
    root = project.root
    project.close()
    run_path = root / "runs" / RUN_ID
    run_path.mkdir(parents=True)
    runs.write_predictions(run_path / "predictions.h5",
                           {"v1": _curves([(40, 12, 0), (110, 4, 1), (160, 4, 1)]),
                            # at 140 a weak ME-like bump under the class gate: no proposal, a look
                            "v2": _curves([(70, 4, 1), (140, 4, 1, 0.45)])}, {"v1": 30.0, "v2": 30.0})
    runs.write_json(run_path / "labels.json", {"count": 2, "sha256": "x", "labels": []})
    runs.write_status(run_path, "done", labels={"count": 2, "sha256": "x"})
    return root


@pytest.fixture
def window(qtbot, loop, tmp_path, reviewed_project_template, monkeypatch):
    import shutil

    from pfes_gui import dialogs
    from pfes_gui.main_window import MainWindow
    from pfes_gui.model_menu import install_model_menu

    messages = []
    monkeypatch.setattr(dialogs, "error", lambda *a, **k: messages.append(a))
    monkeypatch.setattr(dialogs, "info", lambda *a, **k: messages.append(a))
    root = tmp_path / "rev.pfes"
    shutil.copytree(reviewed_project_template, root)
    mw = MainWindow(annotator="reviewer")
    qtbot.addWidget(mw)
    controller = install_model_menu(mw)
    assert mw.open_project(root)
    qtbot.waitUntil(lambda: controller.run_id == RUN_ID and not controller.busy, timeout=30000)
    mw.messages = messages
    yield mw, controller
    mw.close_project()


def _group(controller, title):
    """The review queue's group whose heading starts with `title`."""
    queue = controller.review.queue
    return next(queue.topLevelItem(i) for i in range(queue.topLevelItemCount())
                if queue.topLevelItem(i).text(0).startswith(title))


def _proposal(controller, video, apex):
    return next(p for p in controller.predictions[video].proposals if p.apex == apex)


def test_run_is_loaded_onto_timeline_table_and_video_list(window):
    mw, c = window
    assert mw.current_video_id == "v1"
    props = mw.timeline.proposals
    assert [(p.cls, p.apex) for p in props] == [("MaE", 40), ("ME", 110), ("ME", 160)]
    # the MaE proposal holds the annotator's MaE label at 40: settled, U and Next step over it
    assert mw.timeline.proposal_status == ["settled", None, None]
    assert mw.timeline.proposal_notes[0] == "labelled at frame 40"
    assert mw.timeline.intensity is not None and len(mw.timeline.intensity) == N_FRAMES
    assert c.review.model.rowCount() == 4
    assert "4 proposals, 0 reviewed" in c.review.summary_label.text()
    assert "1 already decided in an earlier run or labelled" in c.review.summary_label.text()
    # sorted by score, highest first
    scores = [p.score for p in c.review.proposals()]
    assert scores == sorted(scores, reverse=True)
    mw.set_video("v2")
    assert [(p.cls, p.apex) for p in mw.timeline.proposals] == [("ME", 70)]


def test_accept_adds_label_and_decision_as_one_undo_step(window, qtbot):
    mw, c = window
    mw.show()
    qtbot.waitExposed(mw)
    mw.activateWindow()
    mw.go_to_frame("v1", 112)                  # inside the ME proposal 104-116
    p = _proposal(c, "v1", 110)
    assert c.review.current() == p
    n_labels, depth = len(mw.project.labels), mw.undo_stack.count()
    c.actions["review.accept"].trigger()
    assert mw.project.reviews.status_of(RUN_ID, p) == "accepted"
    assert mw.project.labels.get("v1", 110, "ME") is not None
    assert len(mw.project.labels) == n_labels + 1
    assert mw.undo_stack.count() == depth + 1
    assert mw.timeline.proposal_status[1] == "accepted"
    assert c.review.model.item(c.review._rows[("v1", "ME", p.onset, p.offset)], 6).text() == "accepted"
    mw.undo_stack.undo()
    assert mw.project.reviews.status_of(RUN_ID, p) is None
    assert mw.project.labels.get("v1", 110, "ME") is None
    assert mw.timeline.proposal_status[1] is None
    mw.undo_stack.redo()
    assert mw.project.reviews.status_of(RUN_ID, p) == "accepted"
    assert mw.project.labels.get("v1", 110, "ME") is not None
    # accepting where the annotator already clicked adds no duplicate label
    mae = _proposal(c, "v1", 40)
    c.review.select(mae)
    assert mw.current_frame == 40
    assert c.review.accept_current()
    assert len(mw.project.labels) == n_labels + 1
    assert mw.project.reviews.status_of(RUN_ID, mae) == "accepted"


def test_reject_with_the_keyboard_then_undo(window, qtbot):
    from pfes_gui import shortcuts

    mw, c = window
    assert shortcuts.get("review.accept").key == "A" and shortcuts.get("review.reject").key == "R"
    mw.show()
    qtbot.waitExposed(mw)
    mw.activateWindow()
    mw.go_to_frame("v1", 160)
    p = _proposal(c, "v1", 160)
    n_labels = len(mw.project.labels)
    qtbot.keyClick(mw, Qt.Key.Key_R)
    if mw.project.reviews.status_of(RUN_ID, p) is None:   # no active window on this platform
        c.actions["review.reject"].trigger()
    assert mw.project.reviews.status_of(RUN_ID, p) == "rejected"
    assert len(mw.project.labels) == n_labels
    # a decision advances the table to the next unreviewed proposal (and jumps there)
    nxt = c.review.selected()
    assert nxt is not None and nxt != p and (mw.current_video_id, mw.current_frame) == (nxt.video, nxt.apex)
    mw.go_to_frame("v1", 160)
    assert mw.timeline.proposal_status[2] == "rejected"
    mw.undo_stack.undo()
    assert mw.project.reviews.status_of(RUN_ID, p) is None
    assert mw.timeline.proposal_status[2] is None


def test_adjust_boundaries_is_an_accept_with_new_bounds(window):
    mw, c = window
    p = _proposal(c, "v1", 110)
    c.review.select(p)
    assert (c.review.onset_box.value(), c.review.apex_box.value(),
            c.review.offset_box.value()) == (p.onset, p.apex, p.offset)
    c.review.onset_box.setValue(p.onset + 2)
    c.review.apex_box.setValue(p.apex + 1)
    c.review.offset_box.setValue(p.offset - 2)
    assert c.review.adjust_current()
    d = mw.project.reviews.get("v1", RUN_ID, "ME", p.onset, p.offset)
    assert d.status == "adjusted" and d.adjusted == (p.onset + 2, p.apex + 1, p.offset - 2)
    assert mw.project.labels.get("v1", p.apex + 1, "ME") is not None
    c.review.onset_box.setValue(p.offset)            # onset after apex: refused, nothing pushed
    depth = mw.undo_stack.count()
    assert not c.review.adjust_current()
    assert mw.undo_stack.count() == depth
    mw.undo_stack.undo()
    assert mw.project.reviews.get("v1", RUN_ID, "ME", p.onset, p.offset) is None
    assert mw.project.labels.get("v1", p.apex + 1, "ME") is None


def test_a_run_that_proposed_nothing_says_what_to_do_next(window):
    """A first training on a few labels can propose nothing anywhere: the summary says so and points
    to the looks, not '0 proposals, 0 reviewed'."""
    from dataclasses import replace

    mw, c = window
    empty = {v: replace(pred, proposals=[]) for v, pred in c.review.predictions.items()}
    c.review.set_run(RUN_ID, empty)
    text = c.review.summary_label.text()
    assert text.startswith(f"Run {RUN_ID} proposed nothing") and "Review queue" in text
    assert c.review.model.rowCount() == 0


def test_adjust_offset_typed_past_the_end_is_refused_not_cut(window, qtbot):
    """Typed into the box, a frame past the video's end stays what was typed and Adjust says why
    it refuses; a box bounded at the end took 224 as 22 in a 200-frame video."""
    mw, c = window
    p = _proposal(c, "v1", 110)
    c.review.select(p)
    last = mw.project.videos["v1"].n_frames - 1
    mw.show()
    qtbot.waitExposed(mw)
    mw.activateWindow()
    c.review.offset_box.setFocus()
    qtbot.waitUntil(c.review.offset_box.hasFocus)
    edit = c.review.offset_box.lineEdit()
    edit.selectAll()
    qtbot.keyClicks(edit, str(last + 25))
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert c.review.offset_box.value() == last + 25
    assert mw.centralWidget().hasFocus()   # Return hands the keys back to the desk (A, R, arrows)
    depth = mw.undo_stack.count()
    assert not c.review.adjust_current()
    assert mw.undo_stack.count() == depth
    assert mw.statusBar().currentMessage() == \
        f"Offset {last + 25} is past the end of v1 (frames 0-{last})"


def test_accept_as_the_other_class_labels_it_and_rejects_the_proposals_class(window, qtbot):
    """C on an ME proposal that is really a MaE: one undo step holding a MaE label at the apex and
    a rejection of the ME proposal, which the next run reads as "MaE here, not ME"."""
    from pfes_core.review_supervision import MAE_SCORE, ME_SCORE, review_targets
    from pfes_core.types import CLASSES
    from pfes_gui import shortcuts

    mw, c = window
    assert shortcuts.get("review.other_class").key == "C"
    mw.show()
    qtbot.waitExposed(mw)
    mw.activateWindow()
    mw.go_to_frame("v1", 110)
    p = _proposal(c, "v1", 110)
    n_labels, depth = len(mw.project.labels), mw.undo_stack.count()
    qtbot.keyClick(mw, Qt.Key.Key_C)
    if mw.project.reviews.status_of(RUN_ID, p) is None:   # no active window on this platform
        c.actions["review.other_class"].trigger()
    assert mw.project.reviews.status_of(RUN_ID, p) == "rejected"
    assert mw.project.labels.get("v1", 110, "MaE") is not None
    assert mw.project.labels.get("v1", 110, "ME") is None
    assert len(mw.project.labels) == n_labels + 1
    assert mw.undo_stack.count() == depth + 1
    assert mw.undo_stack.undoText() == f"Accept ME proposal {p.onset}-{p.offset} as MaE (v1)"
    points = [(lab.frame, CLASSES.index(lab.cls)) for lab in mw.project.labels.for_video("v1")]
    neg = review_targets(list(mw.project.reviews), points, N_FRAMES).negatives
    assert neg[p.onset:p.offset + 1, ME_SCORE].all() and not neg[:, MAE_SCORE].any()
    # the desk steps on: the proposal is decided, the table moved to the next unreviewed one
    assert c.review.selected() != p
    row = c.review._rows[("v1", "ME", p.onset, p.offset)]
    assert c.review.model.item(row, 6).text() == "as MaE"
    assert "1 reviewed (0 accepted, 0 adjusted, 0 rejected, 1 as the other class)" in \
        c.review.summary_label.text()
    mw.undo_stack.undo()
    assert mw.project.reviews.status_of(RUN_ID, p) is None
    assert mw.project.labels.get("v1", 110, "MaE") is None
    assert c.review.model.item(row, 6).text() == ""
    mw.undo_stack.redo()
    assert mw.project.reviews.status_of(RUN_ID, p) == "rejected"
    assert mw.project.labels.get("v1", 110, "MaE") is not None


def test_accept_as_the_other_class_links_to_a_label_already_there(window):
    mw, c = window
    assert mw.push_edit(AddLabel("v1", 158, "MaE", "reviewer"))
    p = _proposal(c, "v1", 160)
    c.review.select(p)
    n_labels = len(mw.project.labels)
    assert c.review.other_class_current() is True
    assert len(mw.project.labels) == n_labels            # the MaE at 158 stands for it
    assert mw.project.labels.get("v1", 160, "MaE") is None
    assert mw.project.reviews.status_of(RUN_ID, p) == "rejected"
    assert "linked to the MaE label at frame 158" in c.review.note_label.text()


def test_next_unreviewed_walks_the_table_across_videos(window):
    mw, c = window
    seen = []
    for _ in range(3):
        p = c.review.next_unreviewed()
        seen.append((p.video, p.apex))
        assert (mw.current_video_id, mw.current_frame) == (p.video, p.apex)
        c.review.reject_current()
    # the MaE proposal at 40 holds the annotator's label: never stepped to
    assert sorted(seen) == [("v1", 110), ("v1", 160), ("v2", 70)]
    assert c.review.next_unreviewed() is None
    assert "3 reviewed" in c.review.summary_label.text()
    # it can still be accepted for the record: linked to the label, no second label
    settled = _proposal(c, "v1", 40)
    c.review.select(settled)
    n_labels = len(mw.project.labels)
    assert c.review.accept_current() is True
    assert len(mw.project.labels) == n_labels
    assert "4 reviewed" in c.review.summary_label.text()


def test_decisions_of_an_earlier_run_carry_to_the_same_expression(window):
    """A retrained model proposes the ME at 104-116 again: the annotator's rejection of 105-117
    in an earlier run stands for it (table, timeline, U, queue); another class does not carry."""
    from pfes_core.reviews import SetReview

    mw, c = window
    p = _proposal(c, "v1", 110)
    old = "20241231-120000-old0"
    assert mw.push_edit(SetReview("v1", old, "ME", p.onset + 1, p.apex, p.offset + 1, "rejected"))
    assert mw.push_edit(SetReview("v1", old, "MaE", 150, 160, 170, "rejected"))
    row = c.review._rows[("v1", "ME", p.onset, p.offset)]
    status = c.review.model.item(row, 6)
    assert status.text() == "rejected (earlier run)" and old in status.toolTip()
    assert mw.project.reviews.status_of(RUN_ID, p) is None          # no decision in this run
    i = mw.timeline.proposals.index(p)
    assert mw.timeline.proposal_status[i] == "rejected"
    assert mw.timeline.proposal_notes[i] == f"rejected in run {old}"
    assert mw.timeline.proposal_status == ["settled", "rejected", None]
    from pfes_gui.video_list import COL_REVIEWED
    assert mw.video_list.item(mw.video_list._rows["v1"], COL_REVIEWED).text() == "2/3"
    misses = _group(c, "Likely misses")
    assert {int(misses.child(k).text(2)) for k in range(misses.childCount())} == {160, 70}
    mw.go_to_frame("v1", 0)
    mw.actions["nav.next_unreviewed"].trigger()
    assert mw.current_frame == 160
    # this run's own decision wins
    c.review.select(p)
    assert c.review.accept_current() is True
    assert c.review.model.item(row, 6).text() == "accepted"
    mw.undo_stack.undo()
    assert c.review.model.item(row, 6).text() == "rejected (earlier run)"


def _activate(mw, qtbot):
    """Show the window and wait until it is active, so typed keys reach its shortcuts."""
    from PySide6.QtWidgets import QApplication

    mw.show()
    qtbot.waitExposed(mw)
    mw.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is mw, timeout=5000)


def _look_rows(c):
    group = _group(c, "Look here")
    return [(group.child(i).text(1), int(group.child(i).text(2))) for i in range(group.childCount())]


def test_look_here_offers_the_weak_bump_and_k_x_walk_it_with_undo(window, qtbot):
    """The v2 bump at 140 sits under the class gate: no proposal, but the model's candidate. K
    jumps there and marks its span; X records "nothing here" as one undo step and empties the
    list; Ctrl+Z offers it again."""
    from pfes_core.reviews import LOOKED

    mw, c = window
    _activate(mw, qtbot)
    assert _look_rows(c) == [("v2", 140)]
    assert _group(c, "Look here").text(0) == "Look here: not proposed (1)"
    look = c.review.looks.looks()[0]
    assert look.onset < 140 < look.offset and look.cls == "ME"
    mw.go_to_frame("v1", 0)
    qtbot.keyClick(mw, Qt.Key.Key_K)
    assert (mw.current_video_id, mw.current_frame) == ("v2", 140)
    assert mw.timeline.look_shown() == (look.onset, look.offset)
    assert "X if there is none" in mw.statusBar().currentMessage()
    depth = mw.undo_stack.count()
    qtbot.keyClick(mw, Qt.Key.Key_X)
    assert [(d.status, d.onset, d.offset) for d in mw.project.reviews.for_video("v2")] == \
        [(LOOKED, look.onset, look.offset)]
    assert mw.undo_stack.count() == depth + 1
    assert mw.undo_stack.undoText().startswith("Nothing here: frames")
    assert _look_rows(c) == [] and mw.timeline.look_shown() is None
    assert "Nothing left to look at" in mw.statusBar().currentMessage()
    # the look is no decision on a proposal: the table's counts do not move
    assert "4 proposals, 0 reviewed" in c.review.summary_label.text()
    qtbot.keyClick(mw, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert mw.project.reviews.for_video("v2") == [] and _look_rows(c) == [("v2", 140)]


def test_a_label_clicked_at_a_look_takes_it_off_the_list_and_x_then_refuses(window, qtbot):
    mw, c = window
    _activate(mw, qtbot)
    qtbot.keyClick(mw, Qt.Key.Key_K)
    assert (mw.current_video_id, mw.current_frame) == ("v2", 140)
    mw.seek(138)
    qtbot.keyClick(mw, Qt.Key.Key_E)                 # the annotator sees an ME there
    assert mw.project.labels.get("v2", 138, "ME") is not None
    assert _look_rows(c) == []
    qtbot.keyClick(mw, Qt.Key.Key_X)                 # a label is there: not "nothing"
    assert mw.project.reviews.for_video("v2") == []
    assert "covered already" in mw.statusBar().currentMessage()


def test_s_walks_the_stretches_to_scan_and_x_marks_one_scanned_with_its_candidates(window, qtbot):
    """Real S / M / X presses: v2 (no labels) is scanned first; a label inside keeps the stretch
    open, X marks it scanned (one undo step), answers for the candidate inside it, and S moves
    on to the other video."""
    from pfes_core.reviews import LOOKED
    from pfes_core.scan_stretches import video_stretches

    mw, c = window
    _activate(mw, qtbot)
    group = _group(c, "Scan whole")
    assert group.text(0) == "Scan whole: 6 s stretches (4)"     # 200 frames at 30 fps: 2 per video
    first = video_stretches("v2", N_FRAMES, 30.0)[0]
    assert (group.child(0).text(1), int(group.child(0).text(2))) == ("v2", first.onset)
    away = N_FRAMES - 1 if first.onset == 0 else 0
    mw.go_to_frame("v2", away)
    mw.timeline.set_view_range(away - 20, away + 20)              # zoomed in, narrower than a stretch
    qtbot.keyClick(mw, Qt.Key.Key_S)
    assert (mw.current_video_id, mw.current_frame) == ("v2", first.onset)
    assert mw.timeline.look_shown() == (first.onset, first.offset)
    lo, hi = mw.timeline.view_range()
    assert lo < first.onset and first.offset < hi                 # the whole stretch in view
    assert "X when done" in mw.statusBar().currentMessage()
    mw.seek(first.onset + 5)
    qtbot.keyClick(mw, Qt.Key.Key_M)                     # an expression in the stretch: still open
    assert len(c.review.looks.stretches()) == 4
    depth = mw.undo_stack.count()
    qtbot.keyClick(mw, Qt.Key.Key_X)
    assert [(d.status, d.onset, d.offset) for d in mw.project.reviews.for_video("v2")] == \
        [(LOOKED, first.onset, first.offset)]
    assert mw.undo_stack.count() == depth + 1
    assert _group(c, "Scan whole").text(0) == "Scan whole: 6 s stretches (3)"
    holds_look = first.onset <= 140 <= first.offset
    assert _look_rows(c) == ([] if holds_look else [("v2", 140)])
    # S went on by itself: v1 has no stretch scanned, v2 has one
    assert mw.current_video_id == "v1" and c.review.looks.scanning
    assert mw.current_frame == video_stretches("v1", N_FRAMES, 30.0)[0].onset
    qtbot.keyClick(mw, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert mw.project.reviews.for_video("v2") == [] and len(c.review.looks.stretches()) == 4
    # a whole 6 s stretch is wider than a zoomed-in view: the view widens to show all of it
    whole = next(s for s in video_stretches("v1", N_FRAMES, 30.0) if s.offset - s.onset + 1 == 180)
    away = N_FRAMES - 1 if whole.onset == 0 else 0
    mw.go_to_frame("v1", away)
    mw.timeline.set_view_range(away - 20, away + 20)
    c.review.looks.scan_at(whole)
    lo, hi = mw.timeline.view_range()
    assert lo < whole.onset and whole.offset < hi


def test_candidates_are_found_in_the_background_after_a_run_is_shown(window, qtbot):
    mw, c = window
    c.set_predictions(RUN_ID, dict(c.predictions))
    # the proposals are there at once; the candidates come from a worker thread
    assert c.review.model.rowCount() == 4
    assert _group(c, "Look here").text(0).startswith("Look here: finding")
    assert c.review.looks.next_look() is None
    assert "Still finding" in mw.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not c.busy, timeout=10000)
    assert _look_rows(c) == [("v2", 140)]
    assert c.review.looks.next_look() is not None and mw.current_frame == 140


def test_look_rows_jump_and_motion_proposals_have_stretches_only(window, qtbot):
    """Stretches owe nothing to a model: the motion baseline's proposals get the Scan whole group
    and S / X work on them (the looked span kept under the baseline's run id); K has no
    candidates to offer there and says why."""
    from pfes_core.baseline import BASELINE_ORIGIN, BASELINE_RUN_ID
    from pfes_core.reviews import LOOKED

    mw, c = window
    row = _group(c, "Look here").child(0)
    assert "score" in row.text(4) and row.text(4) in row.toolTip(4)
    c.review._queue_jump(row)
    assert (mw.current_video_id, mw.current_frame) == ("v2", 140)
    assert mw.timeline.look_shown() is not None
    mw.set_video("v1")                               # the marked span belongs to v2 only
    assert mw.timeline.look_shown() is None
    mw.set_video("v2")
    assert mw.timeline.look_shown() is not None
    c.set_predictions(BASELINE_RUN_ID, dict(c.predictions), origin=BASELINE_ORIGIN)
    queue = c.review.queue
    assert not any(queue.topLevelItem(i).text(0).startswith("Look here")
                   for i in range(queue.topLevelItemCount()))
    assert queue.topLevelItem(0).text(0) == "Scan whole: 6 s stretches (4)"
    assert not c.actions["review.next_look"].isEnabled()
    assert c.actions["review.next_stretch"].isEnabled() and c.actions["review.nothing_here"].isEnabled()
    assert c.review.looks.next_look() is None and mw.timeline.look_shown() is None
    assert "needs a trained model" in mw.statusBar().currentMessage()
    _activate(mw, qtbot)
    qtbot.keyClick(mw, Qt.Key.Key_S)
    stretch = c.review.looks.current
    assert mw.timeline.look_shown() == (stretch.onset, stretch.offset)
    qtbot.keyClick(mw, Qt.Key.Key_X)
    assert [(d.run_id, d.status, d.onset, d.offset) for d in mw.project.reviews.for_video(stretch.video)] == \
        [(BASELINE_RUN_ID, LOOKED, stretch.onset, stretch.offset)]
    assert _group(c, "Scan whole").text(0) == "Scan whole: 6 s stretches (3)"


def test_review_queue_lists_misses_and_suspicious_labels_and_jumps(window):
    mw, c = window
    queue = c.review.queue
    # the stretches lead, unfolded; the looks follow, folded until the annotator opens them
    assert queue.topLevelItem(0).text(0).startswith("Scan whole") and queue.topLevelItem(0).isExpanded()
    assert queue.topLevelItem(1).text(0).startswith("Look here") and not queue.topLevelItem(1).isExpanded()
    misses, suspicious = _group(c, "Likely misses"), _group(c, "Suspicious labels")
    miss_rows = {(misses.child(i).text(1), int(misses.child(i).text(2)))
                 for i in range(misses.childCount())}
    # the MaE proposal has a label at its apex; the ME ones nobody labelled
    assert miss_rows == {("v1", 110), ("v1", 160), ("v2", 70)}
    sus_rows = [(suspicious.child(i).text(1), int(suspicious.child(i).text(2)))
                for i in range(suspicious.childCount())]
    assert sus_rows == [("v1", 185)]
    c.review._queue_jump(suspicious.child(0))
    assert (mw.current_video_id, mw.current_frame) == ("v1", 185)
    target = next(misses.child(i) for i in range(misses.childCount())
                  if misses.child(i).text(1) == "v2")
    c.review._queue_jump(target)
    assert (mw.current_video_id, mw.current_frame) == ("v2", 70)
    # labelling the miss removes it from the queue
    mw.add_label(70, "ME")
    misses = _group(c, "Likely misses")
    assert ("v2", 70) not in {(misses.child(i).text(1), int(misses.child(i).text(2)))
                              for i in range(misses.childCount())}


def test_queue_groups_keep_the_annotators_folding_when_an_edit_rebuilds_the_queue(window):
    mw, c = window
    _group(c, "Look here").setExpanded(True)          # the annotator opens the looks
    _group(c, "Scan whole").setExpanded(False)        # and folds the stretches away
    mw.go_to_frame("v2", 70)
    mw.add_label(70, "ME")                            # an edit: the queue is rebuilt
    misses = _group(c, "Likely misses")                # rebuilt: the labelled miss is gone
    assert ("v2", "70") not in {(misses.child(i).text(1), misses.child(i).text(2))
                                for i in range(misses.childCount())}
    assert _group(c, "Look here").isExpanded() and not _group(c, "Scan whole").isExpanded()
    mw.undo_stack.undo()
    assert _group(c, "Look here").isExpanded() and not _group(c, "Scan whole").isExpanded()


def test_evaluation_table_per_class_and_video_and_jump(window, qtbot):
    mw, c = window
    task = c.evaluate()
    qtbot.waitUntil(task.done, timeout=20000)
    report = task.result()
    assert report.classes["MaE"].tp == 1 and report.classes["ME"].tp == 1
    assert report.classes["ME"].fp == 1 and report.overall.fn == 0
    tree = c.evaluation.tree
    assert [tree.topLevelItem(i).text(0) for i in range(3)] == ["Overall", "MaE", "ME"]
    assert tree.topLevelItem(2).text(8) == f"{report.classes['ME'].f1:.3f}"
    videos = tree.topLevelItem(3)
    assert videos.childCount() == 1 and videos.child(0).text(0) == "v1"   # only v1 has reference
    leaves = [videos.child(0).child(i) for i in range(videos.child(0).childCount())]
    fp = [leaf for leaf in leaves if leaf.text(0).startswith("false positive")]
    assert len(fp) == 1 and "ME 104-116" in fp[0].text(0)
    mw.go_to_frame("v1", 0)
    c.evaluation._jump(fp[0])
    assert mw.current_frame == 110


def test_export_applies_review_decisions_like_the_cli(window, qtbot, tmp_path):
    from pfes_core.exports import read_intervals

    mw, c = window
    reject = _proposal(c, "v1", 160)
    accept = _proposal(c, "v1", 110)
    assert c.review._decide("rejected", reject, advance=False)
    assert c.review._decide("accepted", accept, advance=False)
    assert mw.project.is_dirty
    results = {}
    for fmt, name in (("csv", "out.csv"), ("json", "out.json"), ("megc", "megc.csv")):
        task = c.spawn(c.export(tmp_path / name, fmt))
        qtbot.waitUntil(task.done, timeout=30000)
        results[fmt] = task.result()
    assert not mw.project.is_dirty                      # saved before the export read it
    files, n = results["csv"]
    assert n == 3 and files[0] == tmp_path / "out.csv"
    with open(files[0], newline="") as fh:
        rows = list(csv.DictReader(fh))
    body = [(r["video"], r["class"], int(r["apex"])) for r in rows]
    assert sorted(body) == sorted([("v1", "MaE", 40), ("v1", "ME", 110), ("v2", "ME", 70)])
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["provenance"]["run_id"] == RUN_ID
    assert doc["provenance"]["reviews"] == {"accepted": 1, "rejected": 1, "adjusted": 0,
                                            "unreviewed": 2, "from_earlier_runs": 0,
                                            "as_other_class": 0}
    intervals, _prov = read_intervals(tmp_path / "out.json")
    assert (reject.onset, reject.offset) not in {(iv.onset, iv.offset) for iv in intervals}
    # reviewed-only keeps the accepted one only
    task = c.spawn(c.export(tmp_path / "reviewed.csv", "csv", reviewed_only=True))
    qtbot.waitUntil(task.done, timeout=30000)
    assert task.result()[1] == 1
    megc = (tmp_path / "megc.csv").read_text()
    assert "v1,104,116,me" in megc.replace(" ", "")


def test_export_writes_a_proposal_accepted_as_the_other_class_with_that_class(window, qtbot, tmp_path):
    """C on the ME proposal at 160: the reviewed-only export keeps the expression, as a MaE over
    the proposal's frames (review "accepted"), not dropped as a rejection."""
    mw, c = window
    p = _proposal(c, "v1", 160)
    c.review.select(p)
    assert c.review.other_class_current()
    task = c.spawn(c.export(tmp_path / "reviewed.json", "json", reviewed_only=True))
    qtbot.waitUntil(task.done, timeout=30000)
    doc = json.loads((tmp_path / "reviewed.json").read_text())
    assert [(r["class"], r["onset"], r["offset"], r["review"]) for r in doc["intervals"]] == [
        ("MaE", p.onset, p.offset, "accepted")]
    assert doc["provenance"]["reviews"]["as_other_class"] == 1


def test_export_does_not_write_an_expression_twice_when_the_other_class_proposed_it_too(window):
    """Both classes proposed the same movement; the MaE one was accepted as ME: the ME proposal that
    holds the new ME label is that expression, the flipped MaE span is not written again."""
    from pfes_core.cli.eval_cmds import _review_rows
    from pfes_core.reviews import SetReview

    mw, c = window
    me = _proposal(c, "v1", 110)
    mae = Interval("v1", "MaE", me.onset - 4, me.apex, me.offset + 4, 0.9)
    assert mw.push_edit(AddLabel("v1", me.apex, "ME", "reviewer"))
    assert mw.push_edit(SetReview.for_proposal(RUN_ID, mae, "rejected"))
    out, states, counts = _review_rows([mae, me], mw.project.reviews, RUN_ID, labels=mw.project.labels)
    assert [(iv.cls, iv.onset) for iv in out] == [("ME", me.onset)] and states == ["unreviewed"]
    assert counts["as_other_class"] == 1 and counts["rejected"] == 1
    # without the ME proposal the flipped span stands for the expression
    out, states, _ = _review_rows([mae], mw.project.reviews, RUN_ID, labels=mw.project.labels)
    assert [(iv.cls, iv.onset, iv.offset) for iv in out] == [("ME", mae.onset, mae.offset)]
    assert states == ["accepted"]


def test_export_dialog_reads_its_choices(window, tmp_path):
    from pfes_gui.export_dialog import ExportDialog

    mw, _c = window
    dialog = ExportDialog(mw, RUN_ID, str(tmp_path))
    dialog.format_box.setCurrentIndex(2)          # ELAN EAF: suffix follows the format
    dialog.reviewed_only.setChecked(True)
    path, fmt, reviewed_only = dialog.values()
    assert fmt == "eaf" and path.endswith("intervals.eaf") and reviewed_only
    dialog.deleteLater()


def test_dragging_the_proposal_edges_on_the_timeline_adjusts_it(window, qtbot):
    mw, c = window
    p = _proposal(c, "v1", 110)
    c.review.select(p)
    region = mw.timeline._edit_span
    assert region.isVisible() and mw.timeline.edit_proposal == p
    assert mw.timeline.edit_span_frames() == (p.onset, p.offset)
    depth = mw.undo_stack.count()
    # The user drags the left edge 3 frames right and the right edge 2 frames left (a drag ends
    # with sigRegionChangeFinished, which setRegion emits too; positions off the frame grid
    # snap to whole frames). A repeated 'finished' with unchanged edges decides nothing.
    region.setRegion((p.onset + 3 - 0.4, p.offset - 2 + 0.3))
    region.sigRegionChangeFinished.emit(region)
    d = mw.project.reviews.get("v1", RUN_ID, "ME", p.onset, p.offset)
    assert d is not None and d.status == "adjusted"
    assert d.adjusted == (p.onset + 3, p.apex, p.offset - 2)
    assert mw.undo_stack.count() == depth + 1            # one undo step, like the spin boxes
    assert (c.review.onset_box.value(), c.review.offset_box.value()) == (p.onset + 3, p.offset - 2)
    assert mw.timeline.edit_span_frames() == (p.onset + 3, p.offset - 2)
    assert mw.timeline.proposal_status[[q.apex for q in mw.timeline.proposals].index(110)] == "adjusted"
    # Dragging past the apex moves the apex inside the new span.
    region.setRegion((p.apex + 1 - 0.5, p.offset + 0.5))
    d = mw.project.reviews.get("v1", RUN_ID, "ME", p.onset, p.offset)
    assert d.adjusted == (p.apex + 1, p.apex + 1, p.offset)
    mw.undo_stack.undo()
    mw.undo_stack.undo()
    assert mw.project.reviews.get("v1", RUN_ID, "ME", p.onset, p.offset) is None
    assert mw.timeline.edit_span_frames() == (p.onset, p.offset)   # edges follow the undo
    # Another video: no edges on the timeline until its proposal is selected.
    mw.set_video("v2")
    assert not region.isVisible()
