"""Training on generated motion (no video): learning, determinism, run folders, cancel/resume,
safe checkpoints, predictions, leave-one-subject-out, and the `pfes train` worker contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pfes_core import runs
from pfes_core.errors import CancelledError, TrainingError
from pfes_core.gim import GimConstants
from pfes_core.inference import predict_video
from pfes_core.model import ModelConfig
from pfes_core.progress import ProgressReporter
from pfes_core.training import (TrainConfig, VideoData, _padding_frames, dataset_from_settings, epoch_steps,
                                point_groups, select_frames, step_jobs, steps_per_epoch, train, train_on_arrays)

torch.set_num_threads(1)

# ----------------------------------------------------------------------------- generated data


def make_motion(rng: np.random.Generator, n_frames: int = 400, n_events: int = 5, noise: float = 0.02):
    """Model input (T, 17, 10, 2) with Gaussian motion bumps at known events.

    MaE: strong bump on all ROIs (~30 frames); ME: weak bump on the mouth ROIs (~12 frames).
    Returns (model_input, points [(frame, cls)], event centres).
    """
    vec = rng.normal(0.0, noise, size=(n_frames, 10, 2)).astype(np.float32)
    slots = np.arange(40, n_frames - 40, 55)
    centres = np.sort(rng.choice(slots, size=min(n_events, len(slots)), replace=False))
    t = np.arange(n_frames)
    points = []
    for i, c in enumerate(centres):
        cls = i % 2
        length, amp, rois = (30, 0.5, slice(0, 10)) if cls == 0 else (12, 0.3, slice(6, 10))
        bump = np.exp(-0.5 * ((t - c) / (length / 4)) ** 2).astype(np.float32)
        vec[:, rois, 1] += (amp * bump)[:, None]
        points.append((int(c + rng.integers(-2, 3)), cls))
    idx = np.clip(t[:, None] + np.arange(-8, 9)[None], 0, n_frames - 1)
    return vec[idx], points, centres


def make_videos(seed: int = 0, n: int = 3, subjects: int = 1, n_frames: int = 400) -> list[VideoData]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x, pts, _ = make_motion(rng, n_frames)
        out.append(VideoData(f"v{i}", x, pts, subject=f"s{i % subjects}", fps=25.0))
    return out


def tiny_config(**kw) -> TrainConfig:
    base = TrainConfig.from_preset("cpu", epochs=3, device="cpu", members=1)
    base = replace(base, model=ModelConfig(width=16, heads=2, ffn_mult=2, hidden_dropout=0.3),
                   gim=GimConstants(soft_switch=1, gim_start=2, theta_epochs=2), background_frames=96)
    return replace(base, **kw)


class CancelAfter:
    """Event-like: is_set() turns true after `n` checks (one check per training step)."""

    def __init__(self, n: int):
        self.n = n
        self.calls = 0

    def is_set(self) -> bool:
        self.calls += 1
        return self.calls > self.n


# ----------------------------------------------------------------------------- in-process training


def test_training_lowers_loss_and_intensity_peaks_at_events():
    videos = make_videos(seed=1, n=6, n_frames=300)
    cfg = tiny_config(epochs=6, lr=3e-3)
    events = []
    state = train_on_arrays(videos, cfg, ProgressReporter("none", callback=events.append))
    losses = [h["loss"] for h in state.history]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert {"mse", "reward", "sparsity", "apex", "iac"} <= set(state.history[-1])
    # unseen video from the same generator
    x, _, centres = make_motion(np.random.default_rng(99), 400)
    a, q = predict_video(state.model, x)
    at_events = np.array([a[c - 2:c + 3].max() for c in centres])
    far = np.ones(len(a), bool)
    for c in centres:
        far[max(c - 30, 0):c + 30] = False
    assert at_events.min() > np.percentile(a[far], 90)
    assert at_events.mean() > 2 * a[far].mean()
    train_events = [e for e in events if e["stage"] == "train"]
    n_steps = 6 * steps_per_epoch(videos, cfg)
    assert len(train_events) == n_steps and train_events[-1]["step"] == train_events[-1]["total"] == n_steps
    assert train_events[0]["device"] == "cpu" and "eta" in train_events[0]
    assert set(train_events[-1]["loss"]) >= {"total", "mse", "apex"}


def test_same_seed_same_weights_other_seed_differs():
    videos = make_videos(seed=2, n=2)
    cfg = tiny_config(epochs=3)
    s1 = train_on_arrays(videos, cfg).model.state_dict()
    s2 = train_on_arrays(videos, cfg).model.state_dict()
    s3 = train_on_arrays(videos, replace(cfg, seed=1)).model.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)


def test_faithful_mode_and_ablations_train():
    videos = make_videos(seed=3, n=2)
    for kw in ({"mode": "faithful"}, {"ablation": "hard"}, {"ablation": "gim-no-iac"}):
        st = train_on_arrays(videos, tiny_config(epochs=3, **kw))
        last = st.history[-1]
        assert np.isfinite(last["loss"])
        assert ("iac" in last) == (kw.get("ablation") != "gim-no-iac")
        assert "apex" in last                       # apex loss runs from gim_start in every variant
    assert st.model.cfg.logit_dropout == 0.0
    assert tiny_config(mode="faithful").model_config().logit_dropout == 0.7


def test_pseudo_label_constants_per_mode():
    """Faithful mode labels with the reference's constants; default mode keeps the reliable frames
    and takes the duration clip in seconds (at 25 fps the ME cap is 13 frames, not 16). Neutral
    mining is the reference's unless a default-mode config asks for the hardest frames."""
    paper = TrainConfig.from_preset("paper")
    assert replace(paper, mode="faithful").pseudo_label_constants(25.0) == GimConstants(
        skip_last_frame=True, overwrite_overlaps=True, neutral_mining="lowest")
    default = paper.pseudo_label_constants(25.0)
    assert default.keep_reliable and default.duration_clip == ((13, 30), (7, 13))
    assert paper.pseudo_label_constants(30.0) == replace(GimConstants(), keep_reliable=True)
    hardest = replace(paper, gim=replace(paper.gim, neutral_mining="hardest"))
    assert hardest.pseudo_label_constants(30.0).neutral_mining == "hardest"
    assert replace(hardest, mode="faithful").pseudo_label_constants(30.0).neutral_mining == "lowest"
    with pytest.raises(TrainingError, match="neutral mining"):
        replace(paper, gim=replace(paper.gim, neutral_mining="highest")).validate()


def test_faithful_mode_is_the_reference_recipe_at_the_presets_size():
    """Faithful: reference backbone, embedding dropout 0.1, logit dropout 0.7, smooth term, IAC over
    every anchor. The paper preset is the reference network in either mode; the cpu preset's
    default mode keeps the project's backbone."""
    for preset in ("cpu", "paper"):
        faithful = TrainConfig.from_preset(preset, mode="faithful")
        m = faithful.model_config()
        assert (m.arch, m.emb_dropout, m.logit_dropout) == ("reference", 0.1, 0.7)
        lc = faithful.loss_constants()
        assert lc.smooth == 0.1 and lc.iac_all_anchors and faithful.pads_videos
        default = TrainConfig.from_preset(preset)
        assert default.loss_constants() == default.losses and not default.pads_videos
        assert default.loss_constants().smooth == 0.0 and not default.loss_constants().iac_all_anchors
    paper = TrainConfig.from_preset("paper").model_config()
    assert (paper.arch, paper.ffn_mult, paper.emb_dropout, paper.logit_dropout) == ("reference", 1, 0.1, 0.0)
    assert TrainConfig.from_preset("cpu").model_config().arch == "pfes"
    # A config stored before the reference backbone existed rebuilds the backbone it was trained with.
    old = TrainConfig.from_preset("paper").to_dict()
    for key in ("arch", "emb_dropout"):
        del old["model"][key]
    assert TrainConfig.from_dict(old).model.arch == "pfes"


def test_dataset_sets_the_reference_loss_weights():
    samm = TrainConfig.from_preset("paper", dataset="SAMM_LV")
    assert samm.dataset == "samm-lv" and (samm.losses.sparsity, samm.losses.lambda_c) == (0.3, 2e-6)
    for name in ("casme2", "CAS(ME)^2", "casme3"):
        cfg = TrainConfig.from_preset("cpu", dataset=name)
        assert (cfg.losses.sparsity, cfg.losses.lambda_c) == (2.5, 1.4e-5)
    assert TrainConfig.from_dict(json.loads(json.dumps(samm.to_dict()))) == samm
    with pytest.raises(TrainingError, match="unknown dataset 'megc'"):
        TrainConfig.from_preset("cpu", dataset="megc")
    assert dataset_from_settings({"dataset": "samm-lv"}) == "samm-lv"
    assert dataset_from_settings({"import": {"dataset": "casme3"}}) == "casme3"
    assert dataset_from_settings({"spotting": {"preset": "samm_lv"}}) == "samm-lv"
    assert dataset_from_settings({"spotting": {"preset": "default"}}) is None
    assert dataset_from_settings({"dataset": "our lab"}) is None and dataset_from_settings({}) is None


def test_faithful_pads_each_video_to_the_longest():
    """The padding takes part in the BatchNorm statistics and the sparsity mean, so it changes
    training; default mode never pads."""
    videos = make_videos(seed=4, n=1, n_frames=200)
    whole = dict(background_frames=None, points_per_step=None, epochs=1)
    faithful = tiny_config(mode="faithful", **whole)
    plain = train_on_arrays(videos, faithful).model.state_dict()
    padded_state = train_on_arrays(videos, faithful, pad_length=600)
    padded = padded_state.model.state_dict()
    assert not torch.equal(plain["backbone.embed_norm.running_mean"], padded["backbone.embed_norm.running_mean"])
    assert "smooth" in padded_state.history[-1]
    default = tiny_config(**whole)
    d1 = train_on_arrays(videos, default).model.state_dict()
    d2 = train_on_arrays(videos, default, pad_length=600).model.state_dict()
    assert all(torch.equal(d1[k], d2[k]) for k in d1)
    # A whole-video step gets L - T zero windows; a sampled step the same share, within the cap.
    assert _padding_frames(200, 200, 600, faithful) == 400
    assert _padding_frames(50, 200, 600, faithful) == 100
    assert _padding_frames(200, 200, 600, replace(faithful, max_frames_per_step=300)) == 100
    assert _padding_frames(200, 200, 600, default) == 0


def test_frame_selection_keeps_every_frame_gim_can_read():
    cfg = tiny_config()
    pts = [(100, 0), (300, 1)]
    frames = select_frames(1000, pts, cfg, np.random.default_rng(0))
    r = cfg.gim.context_radius
    for p, _ in pts:
        assert set(range(p - r, p + r + 1)) <= set(frames.tolist())
    assert len(frames) == 2 * (2 * r + 1) + 96 and np.all(np.diff(frames) > 0)
    everything = select_frames(1000, pts, replace(cfg, background_frames=None), np.random.default_rng(0))
    assert len(everything) == 1000


def test_points_split_into_steps_keep_neighbours_together():
    cfg = tiny_config(points_per_step=2)
    r2 = 2 * cfg.gim.context_radius
    far = r2 + 1
    # 0 and 10 overlap (one cluster); the others are isolated
    pts = [(100, 0), (110, 1), (100 + far + 10, 0), (100 + 2 * far + 10, 1), (100 + 3 * far + 10, 0)]
    video = VideoData("v", np.zeros((2000, 17, 10, 2), np.float32), pts)
    groups = point_groups(video, cfg)
    assert groups == [pts[:2], pts[2:4], pts[4:]]
    assert point_groups(video, replace(cfg, points_per_step=None)) == [sorted(pts)]
    unlabelled = VideoData("u", video.model_input, [])
    assert steps_per_epoch([video, unlabelled], replace(cfg, me_step_repeats=1)) == 3
    assert steps_per_epoch([video, unlabelled], cfg) == 5       # the cpu preset takes ME groups twice
    # a group's background never comes near another group's points
    frames = select_frames(2000, groups[1], cfg, np.random.default_rng(0), all_points=pts)
    r = cfg.gim.context_radius
    own = {f for p, _ in groups[1] for f in range(p - r, p + r + 1)}
    others = {f for p, _ in groups[0] + groups[2] for f in range(p - r, p + r + 1)}
    assert own <= set(frames.tolist()) and not (others & set(frames.tolist()))


def busy_videos(n: int) -> list[VideoData]:
    """`n` 900-frame videos with 8 events each: several point groups per video."""
    rng = np.random.default_rng(4)
    videos = []
    for i in range(n):
        x, pts, _ = make_motion(rng, 900, n_events=8)
        videos.append(VideoData(f"v{i}", x, pts, fps=25.0))
    return videos


def test_grouped_steps_train_and_count_progress():
    videos = busy_videos(2)
    cfg = tiny_config(epochs=2, points_per_step=2)
    n_steps = steps_per_epoch(videos, cfg)
    assert n_steps > len(videos)
    events = []
    st = train_on_arrays(videos, cfg, ProgressReporter("none", callback=events.append))
    train_events = [e for e in events if e["stage"] == "train"]
    assert len(train_events) == 2 * n_steps and train_events[-1]["step"] == train_events[-1]["total"] == 2 * n_steps
    assert st.history[-1]["steps"] == n_steps and np.isfinite(st.history[-1]["loss"])


def test_capped_epochs_cycle_through_every_group_in_turn():
    cfg = tiny_config(max_steps_per_epoch=4)
    rng = np.random.default_rng(0)
    # under the cap: every group once, in a shuffle
    assert sorted(epoch_steps(3, 0, cfg, rng).tolist()) == [0, 1, 2]
    # over it: 4 steps per epoch; 5 epochs are two whole passes over 10 groups, each group twice
    epochs = [epoch_steps(10, e, cfg, rng).tolist() for e in range(5)]
    assert all(len(e) == 4 for e in epochs)
    flat = sum(epochs, [])
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    # the same seed and epoch give the same steps whatever the rng (a resumed run repeats them)
    assert epoch_steps(10, 3, cfg, np.random.default_rng(99)).tolist() == epochs[3]
    assert epoch_steps(10, 3, replace(cfg, seed=1), rng).tolist() != epochs[3]
    # faithful mode, the published method, takes every step whatever the config says
    assert len(epoch_steps(10, 0, replace(cfg, mode="faithful"), rng)) == 10


def test_point_groups_holding_an_me_are_taken_more_often_per_pass():
    mae, me = 0, 1
    groups = [[[(100, mae)], [(300, me), (310, mae)]], [[(50, mae)]], [[(80, me)]]]
    cfg = tiny_config(me_step_repeats=2)
    jobs = step_jobs(groups, cfg)
    assert sorted(jobs) == [(0, 0), (0, 1), (0, 1), (1, 0), (2, 0), (2, 0)]
    assert step_jobs(groups, replace(cfg, me_step_repeats=1)) == [(0, 0), (0, 1), (1, 0), (2, 0)]
    # faithful mode, the published method, takes each group once whatever the config says
    assert len(step_jobs(groups, replace(cfg, mode="faithful"))) == 4
    assert TrainConfig.from_preset("cpu").me_repeats == 2
    assert TrainConfig.from_preset("cpu", mode="faithful").me_step_repeats == 1
    assert TrainConfig.from_preset("paper").me_repeats == 1
    for bad in (0, 5):
        with pytest.raises(TrainingError, match="me_step_repeats"):
            replace(cfg, me_step_repeats=bad).validate()
    # a run's config keeps the setting; one saved before it existed reads as 1 (no repeats)
    assert TrainConfig.from_dict(cfg.to_dict()).me_repeats == 2
    old = cfg.to_dict()
    old.pop("me_step_repeats")
    assert TrainConfig.from_dict(old).me_repeats == 1


def test_repeated_me_groups_are_trained_counted_and_resumed_exactly():
    videos = busy_videos(2)
    cfg = tiny_config(epochs=3, points_per_step=2, max_steps_per_epoch=None, me_step_repeats=2)
    plain = steps_per_epoch(videos, replace(cfg, me_step_repeats=1))
    with_me = sum(1 for v in videos for g in point_groups(v, cfg) if any(c == 1 for _, c in g))
    assert with_me and steps_per_epoch(videos, cfg) == plain + with_me
    seen = []
    whole = train_on_arrays(videos, cfg, ProgressReporter("none", callback=seen.append))
    assert [h["steps"] for h in whole.history] == [plain + with_me] * 3
    assert len([e for e in seen if e["stage"] == "train"]) == 3 * (plain + with_me)
    first = train_on_arrays(videos, replace(cfg, epochs=2))
    resumed = train_on_arrays(videos, cfg, state=first).model.state_dict()
    assert all(torch.equal(resumed[k], v) for k, v in whole.model.state_dict().items())
    # with the cap, the repeats share the epoch's updates with the other groups
    assert steps_per_epoch(videos, replace(cfg, max_steps_per_epoch=plain)) == plain


def test_capped_training_counts_its_steps_and_resumes_exactly():
    videos = busy_videos(3)
    cfg = tiny_config(epochs=3, points_per_step=2, max_steps_per_epoch=3)
    assert steps_per_epoch(videos, replace(cfg, max_steps_per_epoch=None)) > 3
    assert steps_per_epoch(videos, cfg) == 3
    events = []
    whole = train_on_arrays(videos, cfg, ProgressReporter("none", callback=events.append))
    train_events = [e for e in events if e["stage"] == "train"]
    assert len(train_events) == 9 and train_events[-1]["step"] == train_events[-1]["total"] == 9
    assert [h["steps"] for h in whole.history] == [3, 3, 3]
    first = train_on_arrays(videos, replace(cfg, epochs=2))
    resumed = train_on_arrays(videos, cfg, state=first).model.state_dict()
    assert all(torch.equal(resumed[k], v) for k, v in whole.model.state_dict().items())


def test_lr_decays_hold_the_lr_and_leave_the_earlier_epochs_alone():
    videos = make_videos(seed=3, n=2, n_frames=200)
    at_epoch_4 = {}

    def keep(state):
        if state.epoch == 4:
            at_epoch_4.update({k: v.clone() for k, v in state.model.state_dict().items()})

    held = train_on_arrays(videos, tiny_config(epochs=6, lr=1e-3, lr_step=2, lr_decays=1), on_epoch_end=keep)
    assert [h["lr"] for h in held.history] == pytest.approx([1e-3, 5e-4, 5e-4, 5e-4, 5e-4, 5e-4])
    free = train_on_arrays(videos, tiny_config(epochs=6, lr=1e-3, lr_step=2, lr_decays=None))
    assert [h["lr"] for h in free.history] == pytest.approx([1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 1.25e-4])
    # until the schedule would cut below the floor the two runs are the same run
    short = train_on_arrays(videos, tiny_config(epochs=4, lr=1e-3, lr_step=2, lr_decays=None)).model.state_dict()
    assert all(torch.equal(short[k], at_epoch_4[k]) for k in short)
    assert not all(torch.equal(held.model.state_dict()[k], free.model.state_dict()[k]) for k in short)
    with pytest.raises(TrainingError, match="lr_decays"):
        tiny_config(lr_decays=-1).validate()
    cfg = tiny_config(lr_decays=2)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_cpu_preset_holds_its_lr_in_default_mode_only():
    from pfes_core.train_config import CPU_EPOCHS, FAITHFUL_CPU_EPOCHS

    cpu = TrainConfig.from_preset("cpu")
    assert (cpu.epochs, cpu.lr_decays, cpu.lr_floor) == (CPU_EPOCHS, 2, pytest.approx(2.5e-4))
    assert CPU_EPOCHS > 2 * cpu.lr_step             # epochs at the held lr after the two cuts
    faithful = TrainConfig.from_preset("cpu", mode="faithful")
    assert (faithful.epochs, faithful.lr_decays, faithful.lr_floor) == (FAITHFUL_CPU_EPOCHS, None, 0.0)
    assert TrainConfig.from_preset("cpu", mode="faithful", epochs=5).epochs == 5
    assert TrainConfig.from_preset("cpu", epochs=30).lr_decays == 2
    assert TrainConfig.from_preset("paper").lr_decays is None


def test_cpu_preset_caps_its_updates_per_epoch_in_default_mode_only():
    from pfes_core.train_config import CPU_STEPS_PER_EPOCH

    cpu = TrainConfig.from_preset("cpu")
    assert cpu.max_steps_per_epoch == cpu.step_cap == CPU_STEPS_PER_EPOCH
    assert TrainConfig.from_preset("cpu", mode="faithful").max_steps_per_epoch is None
    assert replace(cpu, mode="faithful").step_cap is None
    assert TrainConfig.from_preset("paper").step_cap is None
    assert TrainConfig.from_dict(json.loads(json.dumps(cpu.to_dict()))) == cpu
    # a run recorded before the cap existed reads back uncapped, so it resumes as it began
    old = {k: v for k, v in cpu.to_dict().items() if k != "max_steps_per_epoch"}
    assert TrainConfig.from_dict(old).step_cap is None
    with pytest.raises(TrainingError, match="max_steps_per_epoch"):
        replace(cpu, max_steps_per_epoch=0).validate()


def test_unlabelled_input_and_bad_config_are_refused():
    videos = make_videos(n=1)
    videos[0].points = []
    with pytest.raises(TrainingError, match="no labelled videos"):
        train_on_arrays(videos, tiny_config())
    with pytest.raises(TrainingError, match="ablation"):
        TrainConfig.from_preset("cpu", ablation="nope")
    with pytest.raises(TrainingError, match="preset"):
        TrainConfig.from_preset("gpu")
    paper = TrainConfig.from_preset("paper")
    assert (paper.epochs, paper.lr, paper.weight_decay, paper.lr_step, paper.model.width) == (100, 2e-5, 0.1, 30, 256)
    assert paper.points_per_step is None and paper.background_frames is None      # whole videos per step
    assert TrainConfig.from_dict(json.loads(json.dumps(paper.to_dict()))) == paper


# ----------------------------------------------------------------------------- project level


def make_project(tmp_path: Path, videos: list[VideoData], unlabelled: int = 1) -> Path:
    """A project whose videos exist only as records + features files (no media needed)."""
    from pfes_core.features import FeatureParams, Features, features_path, save_features
    from pfes_core.labels import BulkImport
    from pfes_core.project import Project
    from pfes_core.types import CLASSES, PointLabel

    extra = make_videos(seed=77, n=unlabelled)
    for v in extra:
        v.video_id, v.points = "unlabelled" + v.video_id, []
    project = Project.create(tmp_path / "p.pfes")
    root = project.root
    try:
        labels = []
        for v in videos + extra:
            n = len(v.model_input)
            project.add_video(tmp_path / f"{v.video_id}.mp4", subject=v.subject, video_id=v.video_id,
                              fps=25.0, n_frames=n, fingerprint=f"fp-{v.video_id}")
            labels += [PointLabel(v.video_id, f, CLASSES[c], "test") for f, c in v.points]
            save_features(features_path(project.features_dir, v.video_id), Features(
                landmarks=np.zeros((n, 68, 2), np.float32), face_found=np.ones(n, bool),
                roi_vectors=np.zeros((n, 12, 2), np.float32), model_input=v.model_input,
                params=FeatureParams().to_dict(), fingerprint=f"fp-{v.video_id}", n_frames=n, fps=25.0,
                video_id=v.video_id))
        project.apply(BulkImport(labels))
        project.save()
    finally:
        project.close()
    return root


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("proj"), make_videos(seed=5, n=2, subjects=2))


def test_train_writes_a_complete_run(project_dir):
    events = []
    run_id = train(project_dir, tiny_config(epochs=2), ProgressReporter("none", callback=events.append))
    d = project_dir / "runs" / run_id
    for name in ("labels.json", "config.json", "log.jsonl", "checkpoint.pt", "metrics.json",
                 "status.json", "predictions.h5"):
        assert (d / name).exists(), name
    snap = json.loads((d / "labels.json").read_text())
    assert snap["count"] == 10 and len(snap["labels"]) == 10 and len(snap["sha256"]) == 64
    assert json.loads((d / "status.json").read_text())["status"] == "done"
    assert len((d / "log.jsonl").read_text().splitlines()) == 2
    assert events[0]["stage"] == "snapshot" and events[0]["n_labels"] == 10
    assert events[-1] == {**events[-1], "stage": "done", "run_id": run_id}
    # weights-only checkpoint rebuilds the model; predictions cover every video with features
    payload = torch.load(d / "checkpoint.pt", weights_only=True)
    assert payload["epoch"] == 2 and "optimizer" in payload
    model = runs.load_model(d / "checkpoint.pt")
    preds = runs.read_predictions(d / "predictions.h5")
    assert set(preds) == {"v0", "v1", "unlabelledv0"}
    a, q = predict_video(model, make_videos(seed=5, n=2, subjects=2)[0].model_input)
    np.testing.assert_allclose(preds["v0"].intensity, a, atol=1e-5)
    assert preds["v0"].apex.shape == (400, 2)
    assert all(p.video == "v0" and p.onset <= p.apex <= p.offset for p in preds["v0"].proposals)
    info = [r for r in runs.list_runs(project_dir) if r.run_id == run_id][0]
    assert info.status == "done" and info.label_snapshot["count"] == 10 and info.epochs_done == 2


def test_project_dataset_setting_picks_loss_weights_and_spotting_preset(tmp_path):
    from pfes_core.project import Project

    root = make_project(tmp_path, make_videos(seed=9, n=1, n_frames=200), unlabelled=0)
    with Project.open(root) as project:
        project.update_settings({"dataset": "samm-lv"})
        project.save()
    run_id = train(root, tiny_config(epochs=1))
    d = root / "runs" / run_id
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["dataset"] == "samm-lv" and cfg["losses"]["sparsity"] == 0.3 and cfg["losses"]["lambda_c"] == 2e-6
    import h5py

    with h5py.File(d / "predictions.h5", "r") as h5:
        assert json.loads(h5.attrs["preset"])["name"] == "samm_lv"
    # An explicit dataset wins over the project's.
    run2 = train(root, tiny_config(epochs=1).with_dataset("casme2"))
    assert json.loads((root / "runs" / run2 / "config.json").read_text())["losses"]["sparsity"] == 2.5


def test_faithful_run_checkpoint_rebuilds_the_reference_backbone(project_dir):
    run_id = train(project_dir, tiny_config(epochs=1, mode="faithful"))
    model = runs.load_model(project_dir / "runs" / run_id / "checkpoint.pt")
    assert model.cfg.arch == "reference" and model.cfg.emb_dropout == 0.1
    assert model.backbone.pool_norm1 is not None and model.backbone.out_norm is None
    preds = runs.read_predictions(project_dir / "runs" / run_id / "predictions.h5")
    a, _ = predict_video(model, make_videos(seed=5, n=2, subjects=2)[0].model_input)
    np.testing.assert_allclose(preds["v0"].intensity, a, atol=1e-5)


def test_imported_dataset_declares_its_dataset_preset(tmp_path):
    """`import-dataset samm-lv` records the dataset, so training takes SAMM-LV's loss weights and
    spotting its preset without any flag."""
    sys.path.insert(0, str(Path(__file__).parent))
    from dataset_fixtures import samm_lv

    from pfes_core.datasets import import_dataset
    from pfes_core.project import Project

    summary = import_dataset("samm-lv", samm_lv(tmp_path / "SAMM"), tmp_path / "s.pfes")
    with Project.open(summary.project, readonly=True) as project:
        settings = dict(project.settings)
    assert dataset_from_settings(settings) == "samm-lv"
    assert settings["spotting"]["preset"] == "samm_lv"


def test_cancel_then_resume_equals_uninterrupted(project_dir):
    cfg = tiny_config(epochs=3, me_step_repeats=1)
    with pytest.raises(CancelledError, match="resume"):
        train(project_dir, cfg, cancel=CancelAfter(3))      # 2 videos per epoch, once each: stops in epoch 2
    cancelled = sorted((project_dir / "runs").iterdir())[-1]
    assert json.loads((cancelled / "status.json").read_text())["status"] == "cancelled"
    assert torch.load(cancelled / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (cancelled / "predictions.h5").exists()
    run_id = train(project_dir, tiny_config(epochs=99), resume=cancelled.name)   # config comes from the run
    assert run_id == cancelled.name
    assert json.loads((cancelled / "status.json").read_text())["status"] == "done"
    resumed = torch.load(cancelled / "checkpoint.pt", weights_only=True)
    straight_id = train(project_dir, cfg)
    straight = torch.load(project_dir / "runs" / straight_id / "checkpoint.pt", weights_only=True)
    assert resumed["epoch"] == straight["epoch"] == 3
    assert all(torch.equal(resumed["model"][k], straight["model"][k]) for k in straight["model"])


def test_loso_stores_fold_checkpoints_and_fold_predictions(project_dir):
    events = []
    run_id = train(project_dir, tiny_config(epochs=1, loso=True), ProgressReporter("none", callback=events.append))
    d = project_dir / "runs" / run_id
    steps = [(e["step"], e["total"], e.get("fold")) for e in events if e["stage"] == "train" and e.get("epoch")]
    cfg = tiny_config()
    v0, v1 = make_videos(seed=5, n=2, subjects=2)          # the fixture's videos; fold s0 trains on v1
    n1, n0 = (len(step_jobs([point_groups(v, cfg)], cfg)) for v in (v1, v0))
    total = n1 + n0
    expected = [(i, total, "s0") for i in range(1, n1 + 1)] + [(n1 + i, total, "s1") for i in range(1, n0 + 1)]
    assert steps == expected                                # one bar across folds
    assert (d / "folds" / "s0" / "checkpoint.pt").exists() and (d / "folds" / "s1" / "checkpoint.pt").exists()
    preds = runs.read_predictions(d / "predictions.h5")
    assert preds["v0"].fold == "s0" and preds["v1"].fold == "s1"
    metrics = json.loads((d / "metrics.json").read_text())
    assert [f["train_videos"] for f in metrics["folds"]] == [["v1"], ["v0"]]
    info = [r for r in runs.list_runs(project_dir) if r.run_id == run_id][0]
    assert (info.epochs_done, info.folds_started, info.status) == (1, 2, "done")


def test_tampered_checkpoints_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    bad = tmp_path / "evil.pt"
    torch.save({"format": runs.CHECKPOINT_FORMAT, "model": Evil()}, bad)
    with pytest.raises(TrainingError, match="refused checkpoint"):
        runs.load_model(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(TrainingError, match="refused checkpoint"):
        runs.read_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(TrainingError, match="not a P-FES checkpoint"):
        runs.read_checkpoint(plain)


def test_cli_train_jsonl_and_runs(project_dir, capsys):
    from pfes_core.cli import main

    rc = main(["train", str(project_dir), "--epochs", "1", "--device", "cpu", "--progress", "jsonl",
               "--ablation", "gim-no-iac", "--seed", "3", "--dataset", "samm-lv", "--neutral-mining", "hardest",
               "--steps-per-epoch", "1", "--me-repeats", "3"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    events = [json.loads(line) for line in out]
    assert events[0]["stage"] == "snapshot" and events[-1]["stage"] == "done"
    run_id = events[-1]["run_id"]
    cfg = json.loads((project_dir / "runs" / run_id / "config.json").read_text())
    assert (cfg["epochs"], cfg["ablation"], cfg["seed"]) == (1, "gim-no-iac", 3)
    assert (cfg["dataset"], cfg["losses"]["sparsity"], cfg["losses"]["lambda_c"]) == ("samm-lv", 0.3, 2e-6)
    assert cfg["gim"]["neutral_mining"] == "hardest"
    assert cfg["max_steps_per_epoch"] == 1 and cfg["me_step_repeats"] == 3
    steps = [e for e in events if e["stage"] == "train" and e.get("step")]
    assert steps and all(e["total"] == len(steps) == cfg["members"] for e in steps)   # one update per model
    assert json.loads((project_dir / "runs" / run_id / "log.jsonl").read_text().splitlines()[0])["steps"] == 1
    assert main(["train", str(project_dir), "--steps-per-epoch", "-2", "--progress", "none"]) == 1
    assert "--steps-per-epoch must be 0" in capsys.readouterr().err
    assert main(["train", str(project_dir), "--me-repeats", "9", "--progress", "none"]) == 1
    assert "me_step_repeats must be 1..4" in capsys.readouterr().err
    assert main(["runs", str(project_dir)]) == 0
    listing = capsys.readouterr().out
    assert run_id in listing and "done" in listing
    assert main(["train", str(project_dir), "--resume", "no-such-run"]) == 1
    assert "no run" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_leaves_a_cancelled_run(tmp_path):
    root = make_project(tmp_path, make_videos(seed=6, n=2), unlabelled=0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "pfes_core", "train", str(root), "--epochs", "50",
                             "--device", "cpu", "--progress", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if json.loads(line)["stage"] == "train":
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    (run,) = runs.list_runs(root)
    assert run.status == "cancelled"


def test_nothing_to_train_is_refused_before_a_run_exists(tmp_path):
    root = make_project(tmp_path, [], unlabelled=1)
    with pytest.raises(TrainingError, match="no labelled videos"):
        train(root, tiny_config())
    one_subject = make_project(tmp_path / "b", make_videos(seed=8, n=2, subjects=1), unlabelled=0)
    with pytest.raises(TrainingError, match="two subjects"):
        train(one_subject, tiny_config(loso=True))
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA"):
            train(one_subject, tiny_config(device="cuda"))
    assert runs.list_runs(root) == [] and runs.list_runs(one_subject) == []


def test_listing_runs_and_reading_predictions_does_not_import_torch(project_dir):
    run_id = train(project_dir, tiny_config(epochs=1))
    code = ("import sys; from pfes_core import runs; r = runs.load_predictions(sys.argv[1], sys.argv[2]); "
            "assert runs.list_runs(sys.argv[1]); print(len(r), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(project_dir), run_id], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["3", "False"]
