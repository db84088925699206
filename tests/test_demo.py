"""The demo project: videos, point labels, reference intervals and features all in place."""

from __future__ import annotations

import json

from pfes_core.cli import main as cli_main
from pfes_core.features import load_features
from pfes_core.project import Project
from pfes_core.types import CLASSES


def test_small_demo_project_is_ready(small_demo_project):
    root = small_demo_project
    manifest = json.loads((root / "media" / "manifest.json").read_text())
    with Project.open(root, readonly=True) as project:
        assert len(project.videos) == 2
        assert {r.subject for r in project.videos.values()} == {"sub01", "sub02"}
        faces = {s["face"] for s in manifest["subjects"]}
        assert len(faces) == 2                          # different people
        n_events = 0
        for v in manifest["videos"]:
            record = project.videos[v["id"]]
            assert project.video_path(v["id"]).is_file()
            assert record.n_frames == v["n_frames"] and abs(record.fps - 25.0) < 1e-6
            labels = project.labels.for_video(v["id"])
            assert sorted((p.frame, p.cls) for p in labels) == \
                sorted((e["point"], e["cls"]) for e in v["events"])
            ref = project.reference.get(v["id"], [])
            assert sorted((i.onset, i.apex, i.offset, i.cls) for i in ref) == \
                sorted((e["onset"], e["apex"], e["offset"], e["cls"]) for e in v["events"])
            assert all(i.cls in CLASSES for i in ref)
            n_events += len(v["events"])
            feats = load_features(project, v["id"])
            assert feats is not None, v["id"]
            assert feats.roi_vectors.shape == (record.n_frames, 12, 2)
            assert feats.face_found.mean() > 0.95     # the detector finds the synthetic faces
        assert n_events >= 2
        assert project.settings["demo"]["seed"] == 0


def test_demo_command_refuses_an_existing_project(small_demo_project, capsys):
    assert cli_main(["demo", str(small_demo_project), "--progress", "none"]) == 1
    assert "already a project" in capsys.readouterr().err
