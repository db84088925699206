"""Issue 16, item 1: a crafted project cannot make P-FES write (or read) outside itself.

Video ids read from project.h5 or replayed from journal.jsonl used to skip the id check: one
journal line registering ``../../victim.pfes/project`` let `pfes extract` overwrite another
project's project.h5. Every stored id is now checked where it is read, and every derived path is
checked to stay in its folder.
"""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest
from store_common import assert_one_error, make_project, run_cli

from pfes_core.errors import LabelError, ProjectError
from pfes_core.features import features_path
from pfes_core.journal import encode_line
from pfes_core.project import Project
from pfes_core.reviews import SetReview
from pfes_core.safe_paths import inside, safe_id

EVIL = "../../victim.pfes/project"


def _digest(root):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir()) if p.is_file()}


def _journal_line(root, record: dict) -> None:
    with open(root / "journal.jsonl", "ab") as fh:
        fh.write(encode_line(record))


def test_journal_registering_an_escaping_id_is_rejected_and_victim_untouched(tmp_path):
    victim = make_project(tmp_path, "victim")
    before = _digest(victim)
    root = make_project(tmp_path / "attacker")
    _journal_line(root, {"op": "add_video", "record": {
        "id": EVIL, "path": "x.mp4", "fps": 25.0, "n_frames": 10, "fingerprint": "f", "subject": "",
        "step": 1, "extra": {}}})
    with Project.open(root) as project:
        assert EVIL not in project.videos
        assert project.rejected_edits == 1
        assert project.replay_errors[0].startswith("journal.jsonl line 2 (add_video): invalid video record: id")
        project.save()  # the rejected line is not lost by the save
    assert EVIL in (root / "journal.rejected").read_text()
    code, _, err = run_cli("extract", root, "--videos", EVIL)
    assert code != 0 and "Traceback" not in err
    assert _digest(victim) == before


def test_project_h5_with_an_escaping_id_is_refused_naming_file_and_field(tmp_path):
    root = make_project(tmp_path)
    with h5py.File(root / "project.h5", "r+") as f:
        del f["videos/id"]
        f["videos"].create_dataset("id", data=np.array([EVIL], dtype=object), dtype=h5py.string_dtype())
        # keep the labels pointing at a registered name, so the id is what is refused
    with pytest.raises(ProjectError) as info:
        Project.open(root)
    msg = str(info.value)
    assert "project.h5" in msg and "videos/id row 0" in msg and "../../victim" in msg
    code, _, err = run_cli("labels", "list", root)
    assert code == 1
    assert_one_error(err, "videos/id")


@pytest.mark.parametrize("bad", [EVIL, "a/b", "..", ".hidden", "x" * 101, "nul", "tab\there", "", "a\\b"])
def test_safe_id_refuses(bad):
    with pytest.raises(ProjectError, match="invalid video id"):
        safe_id(bad)


@pytest.mark.parametrize("good", ["015_0101", "s01 happy (take 2)", "Sujet-é_3", "CAS(ME)^2 15_0402"])
def test_safe_id_accepts_real_names(good):
    assert safe_id(good) == good


def test_add_video_refuses_a_300_character_id(tmp_path):
    root = make_project(tmp_path)
    code, _, err = run_cli("add-video", root, tmp_path / "v1.mp4", "--id", "x" * 300)
    assert code == 1
    assert_one_error(err, "longer than 100 characters")


def test_derived_paths_stay_inside(tmp_path):
    root = make_project(tmp_path)
    features = root / "features"
    with pytest.raises(ProjectError, match="invalid video id"):
        features_path(features, EVIL)
    outside = tmp_path / "elsewhere.h5"
    outside.write_bytes(b"precious")
    (features / "v1.h5").symlink_to(outside)  # a crafted project shipping a link
    with pytest.raises(ProjectError, match="leads outside"):
        features_path(features, "v1")
    with Project.open(root, readonly=True) as project:
        with pytest.raises(ProjectError, match="leads outside"):
            project.features_file("v1")
    assert inside(features, "v2.h5") == features / "v2.h5"
    assert outside.read_bytes() == b"precious"


def test_review_with_an_escaping_run_id_is_refused(tmp_path):
    root = make_project(tmp_path)
    with Project.open(root) as project:
        with pytest.raises(LabelError, match="invalid run id"):
            project.apply(SetReview("v1", "../../x", "ME", 1, 2, 3, "accepted"))
        assert len(project.reviews) == 0
    lines = (root / "journal.jsonl").read_text().splitlines()
    assert [json.loads(line)["op"] for line in lines] == ["header"]
