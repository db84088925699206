"""Seed-averaged runs (`TrainConfig.members`): several models per fold, their outputs averaged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pfes_core import runs
from pfes_core.errors import TrainingError
from pfes_core.inference import predict_members, predict_video
from pfes_core.progress import ProgressReporter
from pfes_core.training import TrainConfig, train
from pfes_core.warm_start import child_config
from test_training import make_project, make_videos, tiny_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def two_member_run(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("members"), make_videos(seed=6, n=2, subjects=2, n_frames=300))
    events = []
    run_id = train(root, tiny_config(epochs=2, members=2, seed=3), ProgressReporter("none", callback=events.append))
    return root, run_id, events


def test_each_member_has_its_seed_and_checkpoint_and_predictions_are_their_mean(two_member_run):
    root, run_id, events = two_member_run
    d = root / "runs" / run_id
    first, second = runs.load_members(d / "checkpoint.pt")
    assert (d / "checkpoint-m1.pt").exists() and not (d / "checkpoint-m2.pt").exists()
    assert json.loads(runs.read_checkpoint(d / "checkpoint-m1.pt")["train_config"])["seed"] == 4
    w1, w2 = first.state_dict(), second.state_dict()
    assert any(not torch.equal(w1[k], w2[k]) for k in w1)    # seed 3 and seed 4
    x = make_videos(seed=6, n=2, subjects=2, n_frames=300)[0].model_input
    (a1, q1), (a2, q2) = predict_video(first, x), predict_video(second, x)
    assert np.abs(a1 - a2).max() > 1e-4                      # two different models
    pred = runs.read_predictions(d / "predictions.h5")["v0"]
    np.testing.assert_allclose(pred.intensity, (a1 + a2) / 2, atol=1e-5)
    np.testing.assert_allclose(pred.apex, (q1 + q2) / 2, atol=1e-5)
    a, q = predict_members([first, second], x)
    np.testing.assert_allclose(a, pred.intensity, atol=1e-6)
    # both members' epochs are logged; the progress bar counts both members' steps to its end
    log = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
    assert [(r["member"], r["epoch"]) for r in log] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    steps = [e for e in events if e["stage"] == "train" and "step" in e and e["step"] > 0]
    assert steps[-1]["step"] == steps[-1]["total"] and len({e["step"] for e in steps}) == len(steps)
    assert json.loads((d / "metrics.json").read_text())["folds"][0]["members"] == 2


def test_warm_start_fine_tunes_every_member(two_member_run):
    root, run_id, _ = two_member_run
    request = TrainConfig.from_preset("cpu", device="cpu", warm_start=run_id, epochs=1)
    child = child_config(root, request)
    assert child.members == 2 and child.start_epoch == 2
    child_id = train(root, request, ProgressReporter("none"))      # train() makes the child config
    d = root / "runs" / child_id
    assert (d / "checkpoint.pt").exists() and (d / "checkpoint-m1.pt").exists()
    parent_m1 = runs.read_checkpoint(root / "runs" / run_id / "checkpoint-m1.pt")["model"]
    child_m1 = runs.read_checkpoint(d / "checkpoint-m1.pt")["model"]
    assert runs.read_checkpoint(d / "checkpoint-m1.pt")["epoch"] == 3
    assert any(not torch.equal(parent_m1[k], child_m1[k]) for k in parent_m1)   # fine-tuned, not copied
    (root / "runs" / run_id / "checkpoint-m1.pt").rename(root / "runs" / run_id / "gone.pt")
    try:
        with pytest.raises(TrainingError, match="has no model 2"):
            train(root, request, ProgressReporter("none"))
    finally:
        (root / "runs" / run_id / "gone.pt").rename(root / "runs" / run_id / "checkpoint-m1.pt")


def test_cpu_preset_averages_three_models_and_the_paper_preset_one():
    assert TrainConfig.from_preset("cpu").members == 3
    assert TrainConfig.from_preset("cpu", members=1).members == 1
    assert TrainConfig.from_preset("paper").members == 1
    assert TrainConfig.from_preset("cpu", mode="faithful").members == 1       # the published method
    assert TrainConfig.from_preset("cpu", mode="faithful", members=2).members == 2


def test_member_count_is_checked():
    with pytest.raises(TrainingError, match="members must be"):
        tiny_config(members=0).validate()
