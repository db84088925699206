"""The annotator's desk, review side, on the real MainWindow: handles on the right bar when an ME
and a MaE proposal share frames, adjusted boundaries shown, accept linking to a label already
inside, the video list keeping its run columns, uncut evaluation/queue text with notes, the export
dialog's names and columns, U through proposals sharing an apex, and the label-free first pass."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("qasync")

from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QDialog  # noqa: E402

from pfes_core.runs import Predictions  # noqa: E402
from pfes_core.types import Interval  # noqa: E402
from test_gui_review import RUN_ID, reviewed_project_template, window  # noqa: E402,F401
from video_helpers import pattern_project, write_noise_video  # noqa: E402

pytestmark = pytest.mark.gui

N = 200
ME = Interval("v1", "ME", 60, 70, 80, 0.55)
MAE = Interval("v1", "MaE", 60, 70, 80, 0.71)


def _show(qtbot, mw):
    mw.resize(1280, 720)
    mw.show()
    qtbot.waitExposed(mw)


def _predictions(*proposals, video="v1"):
    a, q = np.zeros(N), np.zeros((N, 2))
    return {video: Predictions(a, q, list(proposals))}


def _row_of(review, p):
    return review._rows[(p.video, p.cls, p.onset, p.offset)]


def _scene_y_range(mw, y0, y1):
    vb = mw.timeline.vb
    a = vb.mapViewToScene(QPointF(0, y0)).y()
    b = vb.mapViewToScene(QPointF(0, y1)).y()
    return min(a, b), max(a, b)


# ---- item 6: handles of the selected proposal only ------------------------------------------------
def test_handles_land_on_the_selected_bar_when_me_and_mae_share_a_span(window, qtbot):
    from pfes_gui.timeline import PROPOSAL_ROWS

    mw, c = window
    _show(qtbot, mw)
    c.set_predictions(RUN_ID, _predictions(ME, MAE))
    tl = mw.timeline
    c.review.select(ME)
    qtbot.wait(20)
    c.review.select(MAE)
    qtbot.wait(20)
    assert tl.edit_proposal == MAE
    # the drawn (and draggable) edges lie in the MaE row, not in the ME row
    lo, hi = _scene_y_range(mw, *PROPOSAL_ROWS["MaE"])
    me_lo, me_hi = _scene_y_range(mw, *PROPOSAL_ROWS["ME"])
    for line in tl._edit_span.lines:
        rect = line.mapRectToScene(line.boundingRect())
        assert lo - 4 <= rect.top() and rect.bottom() <= hi + 4, (rect, lo, hi)
        assert rect.top() > me_hi or rect.bottom() < me_lo
    assert tl._edit_spans["MaE"].isVisible() and not tl._edit_spans["ME"].isVisible()
    # Adjust (a drag of the left edge, finished) moves the MaE proposal only
    region = tl._edit_span
    region.setRegion((63 - 0.5, 80 + 0.5))
    mae_d = mw.project.reviews.get("v1", RUN_ID, "MaE", 60, 80)
    assert mae_d is not None and mae_d.adjusted == (63, 70, 80)
    assert mw.project.reviews.get("v1", RUN_ID, "ME", 60, 80) is None
    # the adjusted boundaries show in the table and on the bar; the ME bar is untouched
    row = _row_of(c.review, MAE)
    assert c.review.model.item(row, 2).text() == "60 \u2192 63"
    assert "adjusted in review to 63" in c.review.model.item(row, 2).toolTip()
    assert c.review.model.item(_row_of(c.review, ME), 2).text() == "60"
    shown = {tl.proposals[i].cls: tl.shown_span(i) for i in range(len(tl.proposals))}
    assert shown == {"MaE": (63, 70, 80), "ME": (60, 70, 80)}
    spans = tl._proposal_spans
    assert sorted(zip(spans.onset.tolist(), spans.offset.tolist())) == [(60.0, 80.0), (63.0, 80.0)]
    assert "proposed 60-80" in tl.proposal_tooltip(72, sum(PROPOSAL_ROWS["MaE"]) / 2)
    mw.undo_stack.undo()
    assert c.review.model.item(row, 2).text() == "60"


# ---- item 12: accept links to a label already inside ------------------------------------------------
def test_accept_links_to_a_same_class_label_inside_instead_of_adding_one(window, qtbot):
    mw, c = window
    mae = Interval("v1", "MaE", 100, 115, 130, 0.8)
    me = Interval("v1", "ME", 150, 156, 162, 0.6)
    c.set_predictions(RUN_ID, _predictions(mae, me))
    assert mw.add_label(118, "MaE")                 # the annotator's own click, 3 frames off apex
    assert mw.add_label(157, "MaE")                 # another class inside the ME proposal
    n = len(mw.project.labels)
    assert c.review._decide("accepted", mae, advance=False)
    assert len(mw.project.labels) == n              # no near-duplicate at 115
    assert mw.project.labels.get("v1", 115, "MaE") is None
    assert mw.project.reviews.status_of(RUN_ID, mae) == "accepted"
    assert "linked to the MaE label at frame 118" in c.review.note_label.text()
    assert mw.statusBar().currentMessage() == ("Accepted MaE proposal 100-130 (v1): linked to the MaE label "
                                               "at frame 118 inside it (no new label added)")
    # a label of the other class does not count: accepting the ME proposal adds its label
    assert c.review._decide("accepted", me, advance=False)
    assert mw.project.labels.get("v1", 156, "ME") is not None
    assert c.review.note_label.text() == ""
    assert mw.statusBar().currentMessage() == "Accepted ME proposal 150-162 (v1): ME label at frame 156"


def test_each_decision_says_what_it_did_and_the_clear_button_clears(window, qtbot):
    """The desk moves on to the next proposal at once: the status line is where the annotator
    sees what the key did. Clear (status None) once raised in its slot."""
    mw, c = window
    mae = Interval("v1", "MaE", 100, 115, 130, 0.8)
    me = Interval("v1", "ME", 150, 156, 162, 0.6)
    c.set_predictions(RUN_ID, _predictions(mae, me))
    assert mw.add_label(118, "MaE")
    assert c.review._decide("accepted", me, advance=False)
    assert mw.statusBar().currentMessage() == "Accepted ME proposal 150-162 (v1): ME label at frame 156"
    assert c.review._decide("rejected", mae, advance=False)
    assert mw.statusBar().currentMessage() == "Rejected MaE proposal 100-130 (v1)"
    assert c.review._decide("adjusted", mae, adjusted=(102, 112, 128), advance=False)
    assert mw.statusBar().currentMessage().startswith("Adjusted MaE proposal 100-130 to 102-128 (v1): linked")
    assert c.review._decide(None, me, advance=False)
    assert mw.statusBar().currentMessage() == "Cleared the review of ME proposal 150-162 (v1)"
    assert c.review._decide("rejected", me, advance=False)
    c.review.select(me, jump=False)
    c.review.clear_button.click()                   # the button, as a person uses it
    assert mw.project.reviews.status_of(RUN_ID, me) is None


# ---- item 5: adding a video keeps the Prop and Rev columns -------------------------------------------
def test_adding_a_video_keeps_every_videos_proposal_and_review_counts(window, qtbot, tmp_path):
    from pfes_gui.video_list import COL_PROPOSALS, COL_REVIEWED

    mw, c = window
    vl = mw.video_list
    p = c.predictions["v1"].proposals[0]
    assert c.review._decide("rejected", p, advance=False)
    before = {vid: (vl.item(r, COL_PROPOSALS).text(), vl.item(r, COL_REVIEWED).text())
              for vid, r in vl._rows.items()}
    assert before == {"v1": ("3", "1/3"), "v2": ("1", "0/1")}
    clip = tmp_path / "new.mp4"
    write_noise_video(clip, n_frames=30, seed=3)
    mw.add_videos([clip])
    qtbot.waitUntil(lambda: len(vl.video_ids()) == 3, timeout=20000)
    after = {vid: (vl.item(r, COL_PROPOSALS).text(), vl.item(r, COL_REVIEWED).text())
             for vid, r in vl._rows.items()}
    new = next(v for v in after if v not in before)
    assert after == {**before, new: ("-", "-")}


# ---- item 8: full text of evaluation and queue rows, and what the figures are worth ----------------
def test_evaluation_rows_are_uncut_and_notes_say_training_videos_and_newer_labels(window, qtbot):
    mw, c = window
    mw.resize(900, 600)
    task = c.evaluate()
    qtbot.waitUntil(task.done, timeout=20000)
    tree = c.evaluation.tree
    video = tree.topLevelItem(3).child(0)
    video.setExpanded(True)
    leaves = [video.child(i) for i in range(video.childCount())
              if video.child(i).text(0).startswith(("false positive", "miss"))]
    assert leaves
    for leaf in leaves:
        assert leaf.isFirstColumnSpanned()
        assert leaf.toolTip(0).endswith(leaf.text(0)) and "score" in leaf.toolTip(0)
    notes = c.evaluation.notes.text()
    # the template's run: one model (no LOSO), a snapshot with no labels, two labels in the project
    assert "trained on" in notes and "optimistic" in notes
    assert "2 labels newer than the model's label snapshot" in notes
    queue = c.review.queue
    child = queue.topLevelItem(0).child(0)
    assert child.text(4) and child.text(4) in child.toolTip(4)


# ---- item 7: export names, overwrite, columns ---------------------------------------------------------
def test_export_dialog_names_do_not_collide_and_overwrite_is_asked(window, qtbot, tmp_path,
                                                                  monkeypatch):
    from pfes_gui import dialogs
    from pfes_gui.export_dialog import ExportDialog

    mw, c = window
    dialog = ExportDialog(mw, RUN_ID, str(tmp_path), ["v1", "v2"])
    names = {}
    for i in range(dialog.format_box.count()):
        dialog.format_box.setCurrentIndex(i)
        names[dialog.format_box.currentData()] = dialog.values()[0]
    assert names["csv"].endswith("intervals.csv") and names["megc"].endswith("intervals_megc.csv")
    assert len(set(names.values())) == 4
    # the column line is the header the writer puts in the file
    for fmt in ("csv", "megc"):
        dialog.format_box.setCurrentIndex([f for f in names].index(fmt))
        task = c.spawn(c.export(tmp_path / f"{fmt}.csv", fmt))
        qtbot.waitUntil(task.done, timeout=30000)
        with open(tmp_path / f"{fmt}.csv", newline="") as fh:
            header = next(csv.reader(line for line in fh if not line.startswith("#")))
        assert dialog.columns_label.text() == "Columns: " + ", ".join(header)
    # an existing target: OK asks, "no" keeps the dialog open, "yes" accepts
    dialog.format_box.setCurrentIndex(0)
    dialog.path_edit.setText(str(tmp_path / "csv.csv"))
    asked = []
    monkeypatch.setattr(dialogs, "ask_yes_no", lambda *a, **k: asked.append(a) or False)
    dialog._accept()
    assert asked and "csv.csv" in asked[0][2] and dialog.result() != QDialog.DialogCode.Accepted
    monkeypatch.setattr(dialogs, "ask_yes_no", lambda *a, **k: True)
    dialog._accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    dialog.path_edit.setText(str(tmp_path / "fresh.csv"))
    monkeypatch.setattr(dialogs, "ask_yes_no", lambda *a, **k: pytest.fail("asked for a new file"))
    dialog.setResult(0)
    dialog._accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    dialog.deleteLater()


# ---- friction: U steps through two proposals sharing an apex -------------------------------------------
def test_u_visits_both_proposals_that_share_an_apex(window, qtbot):
    mw, c = window
    late = Interval("v1", "ME", 120, 125, 130, 0.4)
    c.set_predictions(RUN_ID, _predictions(ME, MAE, late))
    mw.go_to_frame("v1", 0)
    u = mw.actions["nav.next_unreviewed"]
    seen = []
    for _ in range(4):
        u.trigger()
        seen.append((mw.current_frame, c.review.selected().cls, c.review.current().cls))
    assert seen == [(70, "MaE", "MaE"), (70, "ME", "ME"), (125, "ME", "ME"), (70, "MaE", "MaE")]
    # R acts on the proposal U stepped to, not on the other one at the same frame
    u.trigger()
    assert c.review.reject_current() is True
    assert mw.project.reviews.status_of(RUN_ID, ME) == "rejected"
    assert mw.project.reviews.status_of(RUN_ID, MAE) is None


# ---- label-free first pass -------------------------------------------------------------------------------
@pytest.fixture
def model_window(qtbot, loop, monkeypatch):
    from pfes_gui import dialogs
    from pfes_gui.main_window import MainWindow
    from pfes_gui.model_menu import install_model_menu

    said = []
    monkeypatch.setattr(dialogs, "error", lambda *a, **k: said.append(a))
    monkeypatch.setattr(dialogs, "info", lambda *a, **k: said.append(a))
    opened = []

    def _open(root):
        mw = MainWindow(annotator="first")
        qtbot.addWidget(mw)
        c = install_model_menu(mw)
        assert mw.open_project(root)
        qtbot.waitUntil(lambda: not c.busy, timeout=30000)
        mw.said = said
        opened.append(mw)
        return mw, c

    yield _open
    for mw in opened:
        mw.close_project()


def test_spot_before_any_training_offers_motion_proposals_to_review(model_window, qtbot,
                                                                     small_demo_project, tmp_path):
    from pfes_core.baseline import BASELINE_RUN_ID

    root = tmp_path / "first.pfes"
    shutil.copytree(small_demo_project, root)
    shutil.rmtree(root / "runs", ignore_errors=True)
    mw, c = model_window(root)
    assert c.run_id is None
    assert c.actions["model.spot"].isEnabled()
    task = c.spot()
    qtbot.waitUntil(task.done, timeout=60000)
    assert task.result() is True and not mw.said
    assert c.run_id == BASELINE_RUN_ID
    props = c.review.proposals()
    assert props
    # marked as such: review summary, timeline legend and lane name, tooltips
    assert "motion baseline (no model)" in c.review.summary_label.text()
    assert "motion baseline" in mw.timeline.legend.text()
    p = props[0]
    mw.go_to_frame(p.video, p.apex)
    assert "motion baseline" in mw.timeline.proposal_tooltip(p.apex, 1.2 if p.cls == "ME" else 1.44)
    # review works before any label: accepting a proposal nobody labelled adds its label
    from pfes_gui.review_commands import linked_label

    p = next(q for q in props if linked_label(mw.project, q) is None)
    n = len(mw.project.labels)
    assert c.review._decide("accepted", p, advance=False)
    assert mw.project.labels.get(p.video, p.apex, p.cls) is not None
    assert len(mw.project.labels) == n + 1
    assert mw.project.reviews.status_of(BASELINE_RUN_ID, p) == "accepted"
    # reopening the project brings the reviewed motion proposals back
    assert mw.save()
    mw.close_project()
    assert mw.open_project(root)
    qtbot.waitUntil(lambda: c.run_id == BASELINE_RUN_ID and not c.busy, timeout=60000)
    assert c.review.model.item(_row_of(c.review, p), 6).text() == "accepted"


def test_spot_without_features_says_what_to_do_in_the_gui(model_window, qtbot, tmp_path):
    mw, c = model_window(pattern_project(tmp_path / "nofeat", 60))
    task = c.spot()
    qtbot.waitUntil(task.done, timeout=30000)
    assert task.result() is False and c.run_id is None
    text = " ".join(part for said in mw.said for part in said if isinstance(part, str))
    assert "Model -> Extract features" in text
    assert "pfes" not in text and "--" not in text         # no command line in a GUI message


def test_review_states_are_worked_out_once_per_change_and_follow_every_edit(tmp_path, monkeypatch):
    """The desk's three views share one answer per proposal until a label or a decision changes
    (the stores' revision); every kind of change, an undo and a reopened project are seen at once."""
    from pfes_core.labels import AddLabel
    from pfes_core.project import Project
    from pfes_core.reviews import SetReview
    from pfes_gui import review_commands as rc

    video = tmp_path / "noise.mp4"
    write_noise_video(video, n_frames=N, seed=3)
    project = Project.create(tmp_path / "memo")
    project.add_video(video, subject="s1", video_id="v1")
    calls = []
    real = rc._review_state
    monkeypatch.setattr(rc, "_review_state", lambda *a: calls.append(a) or real(*a))

    assert rc.review_state(project, RUN_ID, ME) == (None, None, "")
    assert rc.review_state(project, RUN_ID, MAE)[0] is None
    for _ in range(3):                                   # the table, the timeline, the video list
        rc.review_state(project, RUN_ID, ME)
    assert len(calls) == 2

    label = project.apply(AddLabel("v1", 72, "ME", "tester"))
    assert rc.review_state(project, RUN_ID, ME)[0] == rc.SETTLED       # a label of its class inside
    assert rc.review_state(project, RUN_ID, MAE)[0] is None
    project.apply(label.inverse())                                       # undo
    assert rc.review_state(project, RUN_ID, ME)[0] is None

    project.apply(SetReview.for_proposal("20240101-000000-0000", ME, "rejected"))
    state, _, note = rc.review_state(project, RUN_ID, ME)                 # an earlier run's rejection
    assert state == "rejected" and "20240101-000000-0000" in note
    assert rc.review_state(project, "20240101-000000-0000", ME)[2] == ""  # that run's own decision
    project.apply(SetReview.for_proposal(RUN_ID, ME, "accepted"))
    assert rc.review_state(project, RUN_ID, ME)[0] == "accepted"          # this run's wins
    n = len(calls)
    rc.review_state(project, RUN_ID, ME)
    assert len(calls) == n

    project.save()
    project.close()
    reopened = Project.open(project.root)
    try:
        assert rc.review_state(reopened, RUN_ID, ME)[0] == "accepted" and len(calls) == n + 1
    finally:
        reopened.close()
