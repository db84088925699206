"""Epoch choice on a validation training subject (pfes_core.epoch_selection) and its use by runs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from pfes_core import runs
from pfes_core.epoch_selection import EpochChoice, point_f1, point_hits, train_model, validation_subject
from pfes_core.errors import TrainingError
from pfes_core.inference import predict_video
from pfes_core.progress import ProgressReporter
from pfes_core.spotting import PRESETS
from pfes_core.training import train
from pfes_core.types import Interval
from test_training import make_project, make_videos, tiny_config

torch.set_num_threads(1)


def iv(on, off, cls="MaE", score=0.5, apex=None):
    return Interval(video="v", cls=cls, onset=on, apex=on if apex is None else apex, offset=off, score=score)


def test_point_hits_match_each_point_once_by_class_and_score():
    points = [(10, 0), (50, 1)]
    # two MaE proposals cover the one MaE point: only the higher-scored one hits
    assert point_hits([iv(0, 20, score=0.4), iv(5, 15, score=0.9)], points) == 1
    # class matters: an ME proposal over the MaE point is a miss; over the ME point a hit
    assert point_hits([iv(5, 15, "ME"), iv(45, 55, "ME")], points) == 1
    assert point_hits([iv(60, 70)], points) == 0
    assert point_f1(1, 2, 2) == pytest.approx(0.5)
    assert point_f1(0, 0, 0) == 0.0


def test_validation_subject_needs_two_subjects_left_to_train_on():
    assert validation_subject(make_videos(n=4, subjects=2), seed=0) is None
    videos = make_videos(n=6, subjects=3)
    picks = {validation_subject(videos, seed) for seed in range(12)}
    assert picks <= {"s0", "s1", "s2"} and len(picks) > 1        # the seed draws it
    assert validation_subject(videos, 3) == validation_subject(videos, 3)


def test_choice_keeps_the_best_candidate_epoch_and_prefers_the_later_on_ties():
    model = torch.nn.Linear(2, 1)
    choice = EpochChoice("s1", first_candidate=3)
    for epoch, f1 in [(1, 0.9), (2, 0.2), (3, 0.5), (4, 0.7), (5, 0.7), (6, 0.1)]:
        with torch.no_grad():
            model.weight.fill_(epoch)
        choice.observe(epoch, f1, model)
    assert choice.epoch == 5                          # epoch 1 scored higher but is not a candidate
    assert float(choice.best_state["weight"][0, 0]) == 5.0
    d = choice.to_dict()
    assert d["validation_subject"] == "s1" and d["validation_point_f1"] == 0.7 and len(d["per_epoch"]) == 6


def test_validation_selection_trains_without_the_subject_and_restores_the_chosen_epoch():
    videos = make_videos(seed=3, n=6, subjects=3, n_frames=300)
    cfg = tiny_config(epochs=4, select_epoch="validation", seed=1)
    subject = validation_subject(videos, cfg.seed)
    weights = {}

    def remember(state):
        weights[state.epoch] = {k: v.detach().clone() for k, v in state.model.state_dict().items()}

    state, choice = train_model(videos, cfg, PRESETS["default"], device="cpu", on_epoch_end=remember)
    assert choice["validation_subject"] == subject and choice["epoch"] in (2, 3, 4)
    assert set(choice["per_epoch"]) == {1, 2, 3, 4}
    n_trained = sum(len(v.model_input) for v in videos if v.subject != subject)
    assert all(h["frames"] == n_trained for h in state.history)       # the subject was never trained on
    for k, v in state.model.state_dict().items():
        torch.testing.assert_close(v, weights[choice["epoch"]][k])
    # "last" trains on every subject and keeps the last epoch
    state_last, none = train_model(videos, replace(cfg, select_epoch="last"), PRESETS["default"], device="cpu")
    assert none is None and state_last.history[-1]["frames"] == sum(len(v.model_input) for v in videos)


def test_unknown_selection_is_refused():
    with pytest.raises(TrainingError, match="epoch selection"):
        tiny_config(select_epoch="best").validate()


def test_run_records_the_choice_and_its_checkpoint_is_the_chosen_model(tmp_path):
    root = make_project(tmp_path, make_videos(seed=4, n=6, subjects=3, n_frames=300))
    events = []
    run_id = train(root, tiny_config(epochs=4, select_epoch="validation"),
                   ProgressReporter("none", callback=events.append))
    d = root / "runs" / run_id
    metrics = json.loads((d / "metrics.json").read_text())
    choice = metrics["folds"][0]["epoch_selection"]
    assert choice["select_epoch"] == "validation" and choice["epoch"] in (2, 3, 4)
    said = [e for e in events if "kept epoch" in e.get("message", "")]       # the training dock shows it
    assert len(said) == 1 and said[0]["metrics"]["kept epoch"] == choice["epoch"]
    assert choice["validation_subject"] in said[0]["message"]
    model = runs.load_model(d / "checkpoint.pt")
    preds = runs.read_predictions(d / "predictions.h5")
    x = make_videos(seed=4, n=6, subjects=3, n_frames=300)[0].model_input
    np.testing.assert_allclose(preds["v0"].intensity, predict_video(model, x)[0], atol=1e-5)
    assert json.loads((d / "config.json").read_text())["select_epoch"] == "validation"


def test_two_subjects_fall_back_to_the_last_epoch_and_say_so(tmp_path):
    root = make_project(tmp_path, make_videos(seed=4, n=2, subjects=2, n_frames=300))
    run_id = train(root, tiny_config(epochs=2, select_epoch="validation"), ProgressReporter("none"))
    choice = json.loads((root / "runs" / run_id / "metrics.json").read_text())["folds"][0]["epoch_selection"]
    assert choice["select_epoch"] == "last" and "fewer than three" in choice["note"]
