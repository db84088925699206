"""Annotator as part of a label's identity: layers on one frame, edits by full identity, the
annotator list, old journal lines, migration of schema-1 projects and refusal by older versions."""

from __future__ import annotations

import h5py
import pytest

from pfes_core import project_file
from pfes_core.errors import LabelError, ProjectError
from pfes_core.journal import encode_line
from pfes_core.labels import (AddLabel, BulkDelete, BulkImport, DeleteLabel, LabelStore, MoveLabel, RetypeLabel,
                              annotator_title, edit_from_dict)
from pfes_core.project import Project
from pfes_core.types import PointLabel


def make(tmp_path, name="p"):
    project = Project.create(tmp_path / name)
    project.add_video(tmp_path / "v1.mp4", subject="s1", video_id="v1", fps=30.0, n_frames=200, fingerprint="fp")
    return project


def test_two_annotators_share_a_frame_but_one_annotator_does_not_repeat(tmp_path):
    with make(tmp_path) as p:
        p.apply(AddLabel("v1", 10, "ME", "ann"))
        p.apply(AddLabel("v1", 10, "ME", "bob"))
        p.apply(AddLabel("v1", 10, "ME", ""))
        with pytest.raises(LabelError, match="annotator 'bob' already exists"):
            p.apply(AddLabel("v1", 10, "ME", "bob"))
        assert [lb.annotator for lb in p.labels.at("v1", 10)] == ["", "ann", "bob"]
        assert [lb.annotator for lb in p.labels.at("v1", 10, ["bob"])] == ["bob"]
        assert p.labels.get("v1", 10, "ME", "ann").annotator == "ann"
        assert p.labels.get("v1", 10, "ME", "carl") is None
        assert PointLabel("v1", 10, "ME", "bob") in p.labels
        assert p.labels.counts(["ann"]) == {"v1": {"MaE": 0, "ME": 1}}
        assert p.labels.annotators() == ["", "ann", "bob"]
        assert annotator_title("") == "(unknown)"


def test_edits_address_one_annotator_and_undo_exactly(tmp_path):
    with make(tmp_path) as p:
        p.apply(AddLabel("v1", 10, "ME", "ann", created=1.0))
        p.apply(AddLabel("v1", 10, "ME", "bob", created=2.0))
        before = p.labels.all()
        # An edit without the annotator is ambiguous when two annotators share the spot.
        with pytest.raises(LabelError, match="2 annotators .* name the annotator"):
            p.apply(DeleteLabel("v1", 10, "ME"))
        p.apply(MoveLabel("v1", 10, "ME", 14, annotator="bob"))
        assert p.labels.get("v1", 14, "ME", "bob") and p.labels.get("v1", 10, "ME", "ann")
        p.apply(RetypeLabel("v1", 10, "ME", "MaE", annotator="ann"))
        p.apply(DeleteLabel("v1", 14, "ME", "bob"))
        with pytest.raises(LabelError, match="no ME label of annotator 'ann'"):
            p.apply(DeleteLabel("v1", 10, "ME", "ann"))
        assert [(lb.frame, lb.cls, lb.annotator) for lb in p.labels.all()] == [(10, "MaE", "ann")]
        for _ in range(3):
            p.undo()
        assert p.labels.all() == before
        p.redo()
        p.save()
        p.redo()
        p.redo()
        p.undo()  # journaled as the inverse edit, which names the annotator
    with Project.open(tmp_path / "p") as back:
        assert [(lb.frame, lb.cls, lb.annotator) for lb in back.labels.all()] == [(10, "MaE", "ann"), (14, "ME", "bob")]


def test_journal_form_carries_the_annotator_and_old_lines_still_replay(tmp_path):
    edits = [AddLabel("v1", 3, "ME", "ann"), MoveLabel("v1", 3, "ME", 5, annotator="ann"),
             RetypeLabel("v1", 5, "ME", "MaE", annotator="ann"), DeleteLabel("v1", 5, "MaE", "ann"),
             BulkDelete([("v1", 1, "ME", "")])]
    for e in edits:
        assert edit_from_dict(e.to_dict()).to_dict() == e.to_dict()
        assert e.kind == "bulk_delete" or e.to_dict()["annotator"] == "ann"
    assert BulkDelete([("v1", 1, "ME", "")]).to_dict()["keys"] == [["v1", 1, "ME", ""]]
    # A journal written before the annotator was part of the identity: lines name no annotator.
    with make(tmp_path) as p:
        p.apply(BulkImport([PointLabel("v1", f, "ME", "old", 1.0, 1.0) for f in (1, 2, 3, 4)]))
        p.save()
        generation = p.generation
    old_lines = [{"op": "apply", "edit": {"kind": "delete", "video": "v1", "frame": 1, "cls": "ME"}},
                 {"op": "apply", "edit": {"kind": "move", "video": "v1", "frame": 2, "cls": "ME", "new_frame": 20,
                                          "modified": 5.0}},
                 {"op": "apply", "edit": {"kind": "retype", "video": "v1", "frame": 3, "cls": "ME", "new_cls": "MaE",
                                          "modified": 6.0}},
                 {"op": "apply", "edit": {"kind": "bulk_delete", "keys": [["v1", 4, "ME"]]}}]
    journal = tmp_path / "p.pfes" / "journal.jsonl"
    journal.write_bytes(encode_line({"op": "header", "generation": generation})
                        + b"".join(encode_line(r) for r in old_lines))
    with Project.open(tmp_path / "p") as back:
        assert back.recovered_edits == 4 and back.rejected_edits == 0
        assert [(lb.frame, lb.cls, lb.annotator) for lb in back.labels.all()] == [(3, "MaE", "old"), (20, "ME", "old")]


def test_annotator_list_is_journaled_saved_and_checked(tmp_path):
    with make(tmp_path) as p:
        p.register_annotator("ann", "#ff0000")
        p.apply(AddLabel("v1", 10, "ME", "bob"))
        assert p.annotators() == ["ann", "bob"]
        with pytest.raises(ProjectError, match="colour"):
            p.register_annotator("carl", "red")
        with pytest.raises(ProjectError, match="control characters"):
            p.register_annotator("a\nb")
        p.register_annotator("", "")   # the unknown annotator is a valid name
    with Project.open(tmp_path / "p") as back:   # from the journal
        assert back.annotators() == ["ann", "", "bob"] and back.annotator_colour("ann") == "#ff0000"
        back.save()
    with Project.open(tmp_path / "p") as back:   # from project.h5
        assert back.annotators() == ["ann", "", "bob"] and back.annotator_colour("ann") == "#ff0000"
        assert back.annotator_colour("bob") == ""


def to_schema_1(root):
    """Rewrite project.h5 the way schema 1 stored it: no annotator list, schema_version 1."""
    with h5py.File(root / "project.h5", "r+") as f:
        del f["annotators"]
        f.attrs["schema_version"] = 1


def test_schema_1_project_migrates_on_open_and_keeps_every_label(tmp_path):
    with make(tmp_path) as p:
        p.apply(BulkImport([PointLabel("v1", 5, "ME", "", 0.0, 0.0), PointLabel("v1", 5, "MaE", "ann", 3.0, 4.0),
                            PointLabel("v1", 9, "ME", "bob", 5.0, 6.0)]))
        p.save()
        want = p.labels.all()
        root = p.root
    to_schema_1(root)
    with Project.open(root, readonly=True) as ro:   # read-only: read as it is, nothing written
        assert ro.labels.all() == want and ro.migrated_from == 1
        assert any("schema 1" in n and "next save" in n for n in ro.open_notes())
    assert project_file.schema_version_of(root / "project.h5") == 1
    with Project.open(root) as p:
        assert p.labels.all() == want
        assert p.migrated_from == 1 and not p.is_dirty
        assert any("migrated project.h5 from project schema 1 to 2" in n for n in p.open_notes())
        assert p.annotators() == ["", "ann", "bob"]
        p.apply(AddLabel("v1", 5, "ME", "carl"))   # a second annotator on the same frame and class
    assert project_file.schema_version_of(root / "project.h5") == 2
    assert project_file.schema_version_of(root / "project.h5.bak1") == 1
    with Project.open(root) as p:
        assert p.migrated_from is None and len(p.labels) == 4


def test_an_older_version_refuses_the_new_file_with_a_message(tmp_path, monkeypatch):
    with make(tmp_path) as p:
        p.apply(AddLabel("v1", 5, "ME", "ann"))
        p.apply(AddLabel("v1", 5, "ME", "bob"))
        p.save()
        root = p.root
    # An app that reads schema 1 runs the same check with its own number.
    monkeypatch.setattr(project_file, "SCHEMA_VERSION", 1)
    with pytest.raises(ProjectError, match=r"newer P-FES Studio \(project schema 2; this version reads up to 1\); "
                                           r"update P-FES Studio"):
        Project.open(root)


def test_store_queries_filter_by_annotator():
    store = LabelStore([PointLabel("v", f, c, a) for f in range(0, 50, 5) for c in ("MaE", "ME") for a in ("a", "b")])
    assert len(store.in_range("v", 10, 20, ["a"])) == 6
    assert store.nearest("v", 12, "ME", ["b"]) == PointLabel("v", 10, "ME", "b")
    assert store.nearest("v", 13, None, ["a"]).frame == 15
    assert store.class_totals(["b"]) == {"MaE": 10, "ME": 10}
    assert store.for_video("v", []) == []
