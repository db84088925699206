"""Issue 16, item 4 (inputs part): what is read is checked against what it must be.

A features file with 10 rows for a 375-frame video, and a run still marked running, were taken as
good by train/spot and evaluate/export. Each must now be refused with one `error:` line naming the
file or the run, and write nothing.
"""

from __future__ import annotations

import h5py
import pytest
from inputs_common import (T, assert_one_error, finished_run, make_project, run_cli, tree_state,
                           write_features)

from pfes_core import runs
from pfes_core.errors import FeatureError
from pfes_core.features import load_features
from pfes_core.project import Project


@pytest.fixture
def short_features(tmp_path):
    """A project whose video "a" has a features file of 10 rows (the video has 375 frames)."""
    root = make_project(tmp_path)
    finished_run(root)
    with Project.open(root) as p:
        write_features(p, "a", 10)
    return root


def test_train_refuses_features_shorter_than_the_video(short_features, tmp_path, capsys):
    before = tree_state(short_features)
    code, _, err = run_cli(capsys, "train", short_features, "--epochs", "1", "--device", "cpu",
                           "--progress", "none")
    assert_one_error(code, err, "a.h5", "has 10 frames but the video has 375")
    assert tree_state(short_features) == before


def test_spot_refuses_features_shorter_than_the_video(short_features, capsys):
    before = tree_state(short_features)
    code, _, err = run_cli(capsys, "spot", short_features, "--progress", "none")
    assert_one_error(code, err, "a.h5", "has 10 frames but the video has 375")
    assert tree_state(short_features) == before


def test_features_with_a_wrong_per_frame_shape_or_huge_claim_are_damaged(tmp_path):
    root = make_project(tmp_path, run_status=None)
    with Project.open(root, readonly=True) as p:
        path = p.features_dir / "a.h5"
    with h5py.File(path, "r+") as h5:            # right frame count, wrong window shape
        del h5["model_input"]
        h5.create_dataset("model_input", shape=(T, 17, 9, 2), dtype="f4")
    with pytest.raises(FeatureError, match=r"model_input is float32 \(375, 17, 9, 2\)"):
        load_features(root, "a")
    with h5py.File(path, "r+") as h5:            # 1e9 frames declared: refused before reading
        h5.attrs["n_frames"] = 10**9
        del h5["model_input"]
        h5.create_dataset("model_input", shape=(10**9, 17, 10, 2), dtype="f4",
                          chunks=(256, 17, 10, 2), compression="gzip")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(FeatureError, match="n_frames 1000000000 is outside"):
        load_features(root, "a")


@pytest.mark.parametrize("status", ["running", "cancelled", "failed"])
def test_evaluate_and_export_refuse_an_unfinished_run(tmp_path, capsys, status):
    root = make_project(tmp_path, run_status=status)
    run_id = runs.list_runs(root)[-1].run_id
    before = tree_state(root)
    code, out, err = run_cli(capsys, "evaluate", root, "--run", run_id, "--json")
    assert_one_error(code, err, f"run {run_id} is {status}, not finished")
    assert out == ""
    target = tmp_path / "out.csv"
    code, _, err = run_cli(capsys, "export", root, target, "--format", "csv", "--run", run_id)
    assert_one_error(code, err, f"run {run_id} is {status}, not finished")
    assert not target.exists() and tree_state(root) == before


def test_a_finished_run_with_matching_features_still_works(tmp_path, capsys):
    root = make_project(tmp_path)
    code, out, err = run_cli(capsys, "evaluate", root, "--json")
    assert code == 0, err
    assert '"tp": 1' in out
