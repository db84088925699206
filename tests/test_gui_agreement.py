"""Two annotators label the demo in the real main window: layers (show/hide, colour, mine only),
the switch that guards a colleague's labels, the Agreement dock's figures worked out by hand,
adjudication into the consensus layer through the undo stack, and Retrain on that layer."""

from __future__ import annotations

import shutil

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture
def window(small_demo_project, tmp_path, show_window, errors, qtbot, loop):
    from pfes_gui.app import install_extensions

    root = tmp_path / "two.pfes"
    shutil.copytree(small_demo_project, root)
    win = show_window(annotator="ann")
    install_extensions(win)
    assert win.open_project(root)
    qtbot.waitUntil(lambda: win.frame_view.frame_index == 0, timeout=5000)
    yield win
    win.close()


def test_two_annotators_layers_agreement_and_adjudication(window, qtbot, monkeypatch):
    w = window
    demo = w.project.labels.all(["demo"])
    n = len(demo)
    first, second = demo[0], demo[1]

    # Another annotator's label is safe from a stray edit until the switch is on.
    w.set_video(first.video)
    assert not w.labelling.delete_label(first)
    assert "Edit other annotators' labels" in w.statusBar().currentMessage()
    assert not w.labelling.move_label(first, first.frame + 3)
    assert w.project.labels.get(first.video, first.frame, first.cls, "demo") is not None
    w.layers_panel.edit_others.setChecked(True)
    assert w.labelling.move_label(first, first.frame + 3)
    w.undo_stack.undo()
    w.layers_panel.edit_others.setChecked(False)
    assert w.project.labels.get(first.video, first.frame, first.cls, "demo") is not None

    # "ann" labels the demo: one frame after every demo label but the first, the second with the
    # other class; both annotators' labels then share the timeline.
    for lb in demo[1:]:
        w.set_video(lb.video)
        cls = ("ME" if lb.cls == "MaE" else "MaE") if lb is second else lb.cls
        assert w.add_label(lb.frame + 1, cls)
    assert len(w.project.labels.all(["ann"])) == n - 1
    assert w.project.labels.all(["ann"])[0].annotator == "ann"

    # Layers: both drawn (with rings per annotator), "mine only", hiding a layer, a colour.
    w.set_video(second.video)
    names = {lb.annotator for lb in w.timeline.labels}
    assert names == {"ann", "demo"}
    assert sum(len(r.data) for r in w.layers._rings) == len(w.timeline.labels)
    w.layers_panel.mine.setChecked(True)
    assert {lb.annotator for lb in w.timeline.labels} == {"ann"}
    w.layers_panel.mine.setChecked(False)
    w.layers.set_shown("ann", False)
    assert {lb.annotator for lb in w.timeline.labels} == {"demo"}
    w.layers.set_shown("ann", True)
    assert w.layers.set_colour("ann", "#ff0000")
    assert w.project.annotator_colour("ann") == "#ff0000" and w.layers.colour("ann") == "#ff0000"
    # Del at the playhead acts on the user's own label only, even where a colleague's sits too.
    w.seek(second.frame)
    assert w.labelling.labels_at_playhead() == []
    # ... and says whose label is drawn there, never "no label" under a visible marker
    w.actions["label.delete"].trigger()
    assert w.project.labels.get(second.video, second.frame, second.cls, "demo") is not None
    message = w.statusBar().currentMessage()
    assert "demo" in message and "Edit other annotators' labels" in message and "No label" not in message

    # Agreement dock, tolerance 3 frames, A = demo, B = ann. By hand: A n labels, B n - 1; matched
    # same-class pairs n - 2 (first missing, second retyped); F1 = 2(n-2) / (2n-1); one MaE/ME.
    view = w.agreement.view
    w.agreement.dock.show()
    view.tolerance.setValue(3)
    view.fill_annotators()
    view.a.setCurrentIndex(view.a.findData("demo"))
    view.b.setCurrentIndex(view.b.findData("ann"))
    view.refresh()
    overall = [r for r in range(view.summary.rowCount()) if view.summary.item(r, 1).text() == "overall"]
    assert len(overall) == 1
    row = [view.summary.item(overall[0], c).text() for c in range(view.summary.columnCount())]
    pair_a, pair_b = (int(row[2]), int(row[3]))
    assert sorted([pair_a, pair_b]) == [n - 1, n] and int(row[4]) == n - 2
    assert row[7] == f"{2 * (n - 2) / (2 * n - 1):.3f}" and row[8] == "1" and row[9] in ("+1.0", "-1.0")
    kinds = sorted((d.kind, d.frame) for d in view.items)
    assert kinds == sorted([("unmatched", first.frame), ("class", second.frame)])

    # Selecting a row jumps to its frame; Keep B writes consensus; Ctrl+Z takes it back.
    conflict = next(i for i, d in enumerate(view.items) if d.kind == "class")
    view.select(conflict)
    assert w.current_video_id == second.video and w.current_frame == second.frame
    assert view.resolve("keep_b")
    assert [(lb.frame, lb.annotator) for lb in w.project.labels.all(["consensus"])] == [(second.frame + 1, "consensus")]
    view.refresh()
    assert view.table.item(conflict, 4).text().startswith("consensus")
    w.undo_stack.undo()
    assert w.project.labels.all(["consensus"]) == []
    w.undo_stack.redo()
    lonely = next(i for i, d in enumerate(view.items) if d.kind == "unmatched")
    view.select(lonely)
    assert view.resolve("reject")
    view.refresh()
    assert view.table.item(lonely, 4).text() == "rejected"
    assert view.resolve("accept_all")   # agreed pairs are 1 frame apart: within half the tolerance
    assert len(w.project.labels.all(["consensus"])) == 1 + (n - 2)

    # Retrain on the consensus layer: the worker is asked for `pfes train --labels consensus`.
    w.layers_panel.refresh()
    w.layers_panel.train_on.setCurrentIndex(w.layers_panel.train_on.findData("consensus"))
    assert w.layers.train_layer == "consensus"
    started = []
    ctrl = w.model_controller
    monkeypatch.setattr(ctrl, "_start", lambda kind, name, argv, *a, **k: started.append(argv))
    ctrl.retrain()
    argv = started[0]
    assert argv[argv.index("--labels") + 1] == "consensus"
    assert not w.project.is_dirty   # Retrain saved first: the consensus layer is on disk
