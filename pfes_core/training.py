"""Training the spotting model with GIM pseudo-labels (METHOD.md sections 3-4).

Two levels:
- `train_on_arrays(videos, config, ...)`: in-process training on arrays (tests, benchmarks,
  leave-one-subject-out folds); returns the model and its per-epoch history.
- `train(project_path, config, reporter, cancel=None, resume=None) -> run_id`: the app's entry:
  snapshots labels into runs/<run-id>/, trains (one model, or one per held-out subject), saves
  checkpoints each epoch, writes predictions for every video with features.

`TrainConfig` (sizes, schedule, mode) lives in `pfes_core.train_config` and is re-exported here.

One video per optimisation step, as in the reference. The "cpu" preset reads a bounded subset of
frames per step: every frame GIM can touch around each point, plus a random sample of the rest
(neutral mining and sparsity); the "paper" preset reads whole videos up to a memory cap.

The cpu preset also splits a video with many points into several steps (`points_per_step`):
each step reads the GIM reach of a group of nearby points plus its own background sample. A step
costs about the frames it reads, so this gives several Adam updates per video and epoch for
little more compute. Why: with one step per video, a leave-one-subject-out fold of the accuracy
benchmark (4 training videos x 45 s) got 48 updates in 12 epochs; pseudo-labels, the apex branch
and ME (the rarest, weakest class) were still far from trained, F1 rose every epoch and ME
intensity at held-out ME stayed below the lowest proposal threshold (0.2).

The other way round, the cpu preset caps an epoch at 12 updates (`max_steps_per_epoch`,
`epoch_steps`): its schedule was tuned on first trainings of about that many, and a project with
three times the labelled videos, given every step, overtrained in the same 15 epochs.
Within that cap, a group holding an ME point is taken twice per pass (`me_step_repeats`,
`step_jobs`): ME is the rarest class, and taken once its apex branch often learnt no class signal.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from .epoch_selection import train_model
from .errors import CancelledError, TrainingError
from .features import read_head_track, read_roi_motion
from .gim import make_pseudo_labels, near_points, phase
from .inference import pick_device, predict_members, predict_video
from .losses import apex_loss, iac_loss, intensity_losses, negative_loss, normalise_dataset
from .model import ModelOutput, SpottingModel
from .progress import ProgressReporter
from .review_supervision import apex_targets_with_rejections, review_frames, step_negative_weights
from .spotting import for_mode
from .train_config import ABLATIONS, MODES, PRESETS, TrainConfig  # noqa: F401 (re-exported)
from .types import CLASSES, ME



@dataclass
class VideoData:
    """One training video: its model input and its point labels as (frame, class index)."""

    video_id: str
    model_input: np.ndarray            # (T, 17, 10, 2) float32, or a feature_stream.FeatureStream
    points: list[tuple[int, int]]
    subject: str = ""
    fps: float | None = None
    negatives: np.ndarray | None = None            # (T, 3) rejected-proposal weights (review_supervision)
    span_priors: dict[tuple[int, int], int] | None = None   # (point, class) -> reviewed duration


@dataclass
class TrainState:
    """What resuming needs: weights, optimiser, scheduler position, epochs done, history."""

    model: SpottingModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.StepLR
    epoch: int = 0
    history: list[dict] = field(default_factory=list)


def build_state(config: TrainConfig, device: torch.device) -> TrainState:
    torch.manual_seed(config.seed)
    model = SpottingModel(config.model_config()).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.lr_step, gamma=config.lr_gamma)
    return TrainState(model, opt, sched)


def select_frames(n_frames: int, points: list[tuple[int, int]], config: TrainConfig,
                  rng: np.random.Generator, all_points: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Sorted frame indices read this step: every frame within GIM's reach of a point, plus background.

    `all_points` (the video's points when `points` is one step's group): background is never drawn
    near any of them, so another group's expression frames cannot be mined as neutrals."""
    radius = config.gim.context_radius
    near = near_points(n_frames, points, radius)
    local = np.flatnonzero(near)
    busy = near if all_points is None else near | near_points(n_frames, all_points, radius)
    rest = np.flatnonzero(~busy)
    budget = config.max_frames_per_step - len(local)
    if config.background_frames is not None:
        budget = min(budget, config.background_frames)
    budget = max(budget, min(len(rest), 16))
    if len(rest) > budget:
        rest = np.sort(rng.choice(rest, size=budget, replace=False))
    return np.union1d(local, rest)


def point_groups(video: "VideoData", config: TrainConfig) -> list[list[tuple[int, int]]]:
    """The video's points split into per-step groups (deterministic; the order is shuffled per epoch).

    Points whose GIM reaches overlap (within 2 x context_radius) always share a group, so a step
    never sees part of another instance's window without its label. Clusters are taken in time
    order and a group is closed once it holds `points_per_step` points."""
    pts = sorted(video.points)
    if not config.points_per_step or len(pts) <= config.points_per_step:
        return [pts]
    reach = 2 * config.gim.context_radius
    clusters: list[list[tuple[int, int]]] = [[pts[0]]]
    for pt in pts[1:]:
        if pt[0] - clusters[-1][-1][0] <= reach:
            clusters[-1].append(pt)
        else:
            clusters.append([pt])
    groups: list[list[tuple[int, int]]] = [[]]
    for cl in clusters:
        if len(groups[-1]) >= config.points_per_step:
            groups.append([])
        groups[-1].extend(cl)
    return groups


def _trainable(v: "VideoData", config: TrainConfig) -> bool:
    """Point labels, or (when reviews are used) rejected spans to learn from."""
    return bool(v.points) or (config.uses_reviews and v.negatives is not None)


def step_jobs(groups: list[list[list[tuple[int, int]]]], config: TrainConfig) -> list[tuple[int, int]]:
    """One pass as (video, group) pairs: every group once, a group holding an ME point
    `config.me_repeats` times. Why: ME, the rarest class, is a fifth of a first training's points,
    and its apex branch learnt almost no class signal from them (benchmarks/RESULTS.md)."""
    me, jobs = CLASSES.index(ME), []
    for vi, video_groups in enumerate(groups):
        for gi, group in enumerate(video_groups):
            holds_me = any(cls == me for _, cls in group)
            jobs.extend([(vi, gi)] * (config.me_repeats if holds_me else 1))
    return jobs


def steps_per_epoch(videos: list["VideoData"], config: TrainConfig) -> int:
    groups = [point_groups(v, config) for v in videos if _trainable(v, config)]
    return _capped(len(step_jobs(groups, config)), config)


def _capped(n_jobs: int, config: TrainConfig) -> int:
    """Updates per epoch for `n_jobs` point groups: all of them, or the config's cap."""
    return n_jobs if config.step_cap is None else min(n_jobs, config.step_cap)


def epoch_steps(n_jobs: int, epoch: int, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Indices of the point groups this epoch trains on, in order.

    Every group in a fresh shuffle, unless there are more than `config.step_cap`: then the epoch
    takes the next `step_cap` of a cycle through shuffled passes (pass k shuffled by seed and k),
    so every group is used in turn and a resumed run repeats the same steps. Why a cap: the
    schedule is tuned in epochs of about 12 updates, and more updates per epoch overtrained."""
    cap = config.step_cap
    if cap is None or n_jobs <= cap:
        return rng.permutation(n_jobs)
    passes: dict[int, np.ndarray] = {}
    out = []
    for i in range(epoch * cap, (epoch + 1) * cap):
        k, pos = divmod(i, n_jobs)
        if k not in passes:
            passes[k] = np.random.default_rng([config.seed, k, n_jobs]).permutation(n_jobs)
        out.append(passes[k][pos])
    return np.asarray(out, dtype=np.int64)


def _seed_epoch(seed: int, epoch: int) -> np.random.Generator:
    """Per-epoch seeding: a resumed run repeats exactly what the uninterrupted run would do."""
    torch.manual_seed(seed * 100_003 + epoch)
    return np.random.default_rng([seed, epoch])


def _padding_frames(n_read: int, n_video: int, pad_to: int | None, config: TrainConfig) -> int:
    """Zero windows appended to a step (faithful mode): the reference pads each video to the
    dataset's longest, so a step reading a whole video gets `pad_to - T` of them; a step reading a
    sample of frames gets the same share, within the per-step frame cap."""
    if not config.pads_videos or not pad_to or pad_to <= n_video:
        return 0
    want = round(n_read * (pad_to - n_video) / n_video)
    return int(max(0, min(want, config.max_frames_per_step - n_read)))


def _step(state: TrainState, video: VideoData, epoch: int, config: TrainConfig, device: torch.device,
          rng: np.random.Generator, points: list[tuple[int, int]] | None = None,
          pad_to: int | None = None) -> dict[str, float]:
    """One optimisation step on one video (on `points`, a group of its points, when given).
    `pad_to`: the dataset's longest video, for faithful mode's padding. Returns the loss parts."""
    model = state.model
    model.train()
    n = len(video.model_input)
    group = video.points if points is None else points
    frames = select_frames(n, group, config, rng, all_points=video.points if points is not None else None)
    reviews = config.uses_reviews
    if reviews:
        frames = np.union1d(frames, review_frames(video, group, config.gim.k))
    x = torch.from_numpy(np.ascontiguousarray(video.model_input[frames], dtype=np.float32)).to(device)
    n_pad = _padding_frames(len(frames), n, pad_to, config)
    if n_pad:
        x = torch.cat([x, x.new_zeros((n_pad,) + tuple(x.shape[1:]))])
    out = model(x)                          # padding shares the BatchNorm statistics, as published
    pad_a = out.a[len(frames):]
    out = ModelOutput(*(t[:len(frames)] for t in out))
    lc = config.loss_constants()
    with torch.no_grad():
        if config.mode == "faithful":
            h_src, a_src = out.h, out.a          # the reference: noisy train-mode outputs
        else:
            h_src, a_src, _ = model.heads(out.f, dropout=False)
        a_full = np.full(n, np.nan, dtype=np.float64)
        a_full[frames] = a_src.float().cpu().numpy()     # (MPS has no float64)
        h_full = np.zeros((n, h_src.shape[1]), dtype=np.float32)
        h_full[frames] = h_src.float().cpu().numpy()
    pl = make_pseudo_labels(group, a_full, h_full, epoch, config.pseudo_label_constants(video.fps),
                            config.ablation, durations=video.span_priors if reviews else None)
    y = torch.from_numpy(pl.y[frames]).to(device)
    in_win = torch.from_numpy(pl.in_window[frames]).to(device)
    neutral = torch.from_numpy(pl.neutral[frames]).to(device)
    parts = intensity_losses(out.a, y, in_win, neutral, lc, padding=pad_a)
    apex_t = None if pl.apex is None else pl.apex[frames]
    if reviews and video.negatives is not None:
        w = step_negative_weights(video.negatives[frames], pl.in_window[frames], apex_t)
        if w[:, 0].any():
            parts["negative"] = negative_loss(out.a, torch.from_numpy(w[:, 0]).to(device), lc)
        if apex_t is not None:
            apex_t = apex_targets_with_rejections(apex_t, w)
    if apex_t is not None:
        parts["apex"] = apex_loss(out.q, torch.from_numpy(apex_t).to(device), lc)
    if config.ablation != "gim-no-iac":
        labels = np.full(len(frames), -1, dtype=np.int64)
        labels[pl.neutral[frames]] = 0
        labels[pl.y[frames, 1] > 0.5] = 2
        labels[pl.y[frames, 0] > 0.5] = 1
        sel = np.flatnonzero(labels >= 0)
        cap = None if config.mode == "faithful" else config.iac_max_samples    # the reference: no cap
        if cap is not None and len(sel) > cap:
            sel = np.sort(rng.choice(sel, size=cap, replace=False))
        if len(sel) >= 2:
            inten = np.where(labels[sel] == 0, 0.0, pl.y[frames[sel]].max(axis=1)).astype(np.float32)
            sel_t = torch.from_numpy(sel).to(device)
            parts["iac"] = lc.lambda_c * iac_loss(
                out.f[sel_t], torch.from_numpy(labels[sel]).to(device), torch.from_numpy(inten).to(device), lc)
    total = sum(parts.values())
    if not torch.isfinite(total):
        raise TrainingError(f"training diverged (non-finite loss on video {video.video_id}); "
                            "try a lower learning rate")
    state.optimizer.zero_grad(set_to_none=True)
    total.backward()
    state.optimizer.step()
    result = {k: float(v.detach()) for k, v in parts.items()}
    result["loss"] = float(total.detach())
    return result


def train_on_arrays(videos: list[VideoData], config: TrainConfig, reporter: ProgressReporter | None = None,
                    cancel=None, state: TrainState | None = None, device: torch.device | str | None = None,
                    on_epoch_end: Callable[[TrainState], None] | None = None,
                    fold: str | None = None, step_offset: int = 0, total_steps: int | None = None,
                    pad_length: int | None = None) -> TrainState:
    """Train (or continue `state`) until config.epochs. Raises CancelledError between steps when
    `cancel.is_set()`; the state then holds the last finished epoch only if on_epoch_end saved it.

    step_offset/total_steps number the progress events across several folds (one bar, one ETA).
    pad_length: the dataset's longest video (faithful mode pads to it); default: the longest here."""
    config.validate()
    if not any(v.points for v in videos):
        raise TrainingError("no labelled videos to train on (add point labels first)")
    videos = [v for v in videos if _trainable(v, config)]
    dev = torch.device(device) if device is not None else pick_device(config.device)
    if state is None:
        state = build_state(config, dev)
    reporter = reporter or ProgressReporter("none")
    groups = [point_groups(v, config) for v in videos]
    pad_to = (pad_length or max(len(v.model_input) for v in videos)) if config.pads_videos else None
    jobs = step_jobs(groups, config)
    per_epoch = _capped(len(jobs), config)
    total_steps = total_steps or (config.epochs - config.start_epoch) * per_epoch
    t_start = time.monotonic()
    steps_done_here = 0
    _set_determinism()
    while state.epoch < config.epochs:
        epoch = state.epoch
        rng = _seed_epoch(config.seed, epoch)
        order = epoch_steps(len(jobs), epoch, config, rng)
        sums: dict[str, float] = {}
        t_epoch = time.monotonic()
        for i, ji in enumerate(order):
            if cancel is not None and cancel.is_set():
                raise CancelledError("training cancelled")
            vi, gi = jobs[ji]
            parts = _step(state, videos[vi], epoch, config, dev, rng,
                          points=groups[vi][gi] if len(groups[vi]) > 1 else None, pad_to=pad_to)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            steps_done_here += 1
            step = step_offset + (epoch - config.start_epoch) * per_epoch + i + 1
            rate = (time.monotonic() - t_start) / steps_done_here
            event = dict(epoch=epoch + 1, epochs=config.epochs,
                         loss={"total": parts["loss"], **{k: v for k, v in parts.items() if k != "loss"}},
                         eta=round(rate * (total_steps - step), 1), device=dev.type,
                         phase=phase(epoch, config.gim, config.ablation), video=videos[vi].video_id)
            if fold is not None:
                event["fold"] = fold
            reporter.emit("train", step=step, total=total_steps, **event)
        state.scheduler.step()
        for group in state.optimizer.param_groups:      # `lr_decays`: the schedule stops cutting
            group["lr"] = max(group["lr"], config.lr_floor)
        state.epoch = epoch + 1
        record = {"epoch": epoch + 1, "lr": state.optimizer.param_groups[0]["lr"],
                  "seconds": round(time.monotonic() - t_epoch, 3),
                  "frames": int(sum(len(v.model_input) for v in videos)),
                  "steps": per_epoch, **{k: v / per_epoch for k, v in sums.items()}}
        if fold is not None:
            record["fold"] = fold
        state.history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(state)
    return state


def _set_determinism() -> None:
    """Deterministic kernels where they are cheap (CPU always is; CUDA needs the cuBLAS setting)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
    except Exception:  # pragma: no cover - older torch
        pass
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.benchmark = False


# --------------------------------------------------------------------------- project level


def _class_index(cls: str) -> int:
    return CLASSES.index(cls)


def label_snapshot(labels: Iterable, layer: str = "union") -> dict:
    """JSON-able frozen copy of point labels with a content hash (what a run trained on) and the
    layer they came from (an annotator, "consensus" or "union"; pfes_core.labels.layer_labels)."""
    items = sorted(({"video": l.video, "frame": int(l.frame), "cls": l.cls, "annotator": l.annotator}
                    for l in labels), key=lambda d: (d["video"], d["frame"], d["cls"], d["annotator"]))
    blob = json.dumps([[d["video"], d["frame"], d["cls"]] for d in items]).encode()
    return {"count": len(items), "sha256": hashlib.sha256(blob).hexdigest(), "layer": layer,
            "annotators": sorted({d["annotator"] for d in items}), "labels": items}


def load_project_videos(project_path, snapshot: dict | None = None,
                        labels: str = "union") -> tuple[list[VideoData], dict, dict]:
    """Read videos with up-to-date features and the label snapshot from a project (read-only).

    Returns (videos with features, snapshot, {"root", "settings"}). Labels come from `snapshot` when given
    (resume), otherwise from the project now: the layer `labels` names (layer_labels).
    """
    from .feature_stream import open_features
    from .labels import layer_labels
    from .project import Project

    with Project.open(project_path, readonly=True) as project:
        if snapshot is None:
            snapshot = label_snapshot(layer_labels(project.labels, labels), labels)
        by_video: dict[str, list[tuple[int, int]]] = {}
        for item in snapshot["labels"]:
            by_video.setdefault(item["video"], []).append((int(item["frame"]), _class_index(item["cls"])))
        videos = []
        missing = []
        for vid, rec in project.videos.items():
            feats = open_features(project, vid)     # read per step: memory bounded (feature_stream)
            if feats is None:
                if by_video.get(vid):
                    missing.append(vid)
                continue
            videos.append(VideoData(vid, feats,
                                    sorted(by_video.get(vid, [])), subject=rec.subject or vid,
                                    fps=float(rec.fps) / max(int(getattr(rec, "step", 1) or 1), 1)))
        root = Path(project.root)
        settings = dict(project.settings or {})
        decisions = project.reviews.all()
    return videos, snapshot, {"root": str(root), "settings": settings, "labelled_without_features": missing,
                              "decisions": decisions}


# The spotting preset (pfes_core.spotting.PRESETS) of each dataset with published loss weights.
DATASET_SPOTTING = {"casme2": "casme2", "samm-lv": "samm_lv", "casme3": "casme3"}


def dataset_from_settings(settings: dict | None) -> str | None:
    """The dataset a project declares: settings["dataset"], else the dataset its import recorded
    (settings["import"]["dataset"]), else a dataset-named spotting preset. None for a lab's own
    recordings or an unknown name (the CAS(ME)^2 weights then apply)."""
    settings = settings or {}
    imported = settings.get("import") if isinstance(settings.get("import"), dict) else {}
    spotting = settings.get("spotting") if isinstance(settings.get("spotting"), dict) else {}
    for candidate in (settings.get("dataset"), imported.get("dataset"), spotting.get("preset")):
        if isinstance(candidate, str):
            try:
                return normalise_dataset(candidate)
            except ValueError:
                continue
    return None


def _spotting_preset_for(settings: dict, dataset: str | None):
    """The project's spotting preset; a dataset run without one uses that dataset's preset."""
    from .spotting import project_preset     # the same preset `pfes spot` uses

    spotting = settings.get("spotting") if isinstance(settings.get("spotting"), dict) else {}
    name = None if spotting.get("preset") else DATASET_SPOTTING.get(dataset or "")
    return project_preset(settings, name=name)


def train(project_path, config: TrainConfig, reporter: ProgressReporter | None = None, cancel=None,
          resume: str | None = None, fold_runner=None, labels: str = "union") -> str:
    """Train on a project's labelled videos; returns the run id. See `pfes_core.runs` for the files.

    With `resume`, the run's own config and label snapshot are used (the project's labels may have
    changed since) and training continues from the last saved epoch of each fold. `fold_runner`:
    where the folds run (see `run_training`; default: here, one after the other). `labels`: the label
    layer to train on (an annotator, "consensus" or "union"); the snapshot records which.
    """
    from . import review_supervision, runs, warm_start
    from .project import project_root

    reporter = reporter or ProgressReporter("none")
    root = project_root(project_path)
    if resume is not None:
        run_dir = runs.run_dir(root, resume)
        config = TrainConfig.from_dict(runs.read_json(run_dir / "config.json"))
        snapshot = runs.read_json(run_dir / "labels.json")
        videos, snapshot, info = load_project_videos(root, snapshot)
        decisions = (runs.read_json(run_dir / "decisions.json") if (run_dir / "decisions.json").exists()
                     else review_supervision.decisions_snapshot([], used=False, note="run made before decisions were recorded"))
        run_id = resume
    else:
        config.validate()
        pick_device(config.device)                  # refuse before a run folder exists
        if config.warm_start:
            config = warm_start.child_config(root, config)
        videos, snapshot, info = load_project_videos(root, labels=labels)
        if config.dataset is None and dataset_from_settings(info["settings"]):
            config = config.with_dataset(dataset_from_settings(info["settings"]))
        _fold_plan(videos, config.loso)
        decisions = review_supervision.decisions_snapshot(
            info["decisions"], used=config.uses_reviews,
            note="" if config.uses_reviews else ("faithful mode (the published method) ignores review decisions"
                                                 if config.mode == "faithful" else "review decisions switched off"))
        run_dir, run_id = runs.new_run(root)
        runs.write_json(run_dir / "labels.json", snapshot)
        runs.write_json(run_dir / "decisions.json", decisions)
        runs.write_json(run_dir / "config.json", config.to_dict())
    review_summary = review_supervision.attach_reviews(
        videos, review_supervision.decisions_from_snapshot(decisions)) if decisions.get("used") else None
    reporter.emit("snapshot", run_id=run_id, n_labels=snapshot["count"],
                  label_snapshot=f"runs/{run_id}/labels.json", sha256=snapshot["sha256"],
                  n_decisions=decisions["count"], decisions_used=bool(decisions.get("used")),
                  decisions_snapshot=f"runs/{run_id}/decisions.json", parent_run=config.warm_start)
    if review_summary:
        reporter.emit("train", message=(f"review decisions: {review_summary['rejected']} rejected spans "
                                        f"({review_summary['negative_frames']} negative frames), "
                                        f"{review_summary['span_priors']} span priors"))
    if info["labelled_without_features"]:
        reporter.emit("train", message="skipped labelled videos without up-to-date features: "
                      + ", ".join(info["labelled_without_features"]) + " (run `pfes extract`)")
    return run_training(run_dir, run_id, videos, config, reporter, cancel, resume=resume is not None,
                        label_summary={"count": snapshot["count"], "sha256": snapshot["sha256"],
                                       "layer": snapshot.get("layer", "union"),
                                       "decisions": decisions["count"], "decisions_used": bool(decisions.get("used")),
                                       "parent_run": config.warm_start},
                        spotting_preset=for_mode(_spotting_preset_for(info["settings"], config.dataset),
                                                 config.mode),
                        fold_runner=fold_runner, motion=partial(read_roi_motion, root),
                        head=partial(read_head_track, root))


def _fold_plan(videos: list[VideoData], loso: bool) -> list[tuple[str | None, list[VideoData], list[VideoData]]]:
    """(fold name, train videos, predicted videos). One fold on everything unless loso."""
    labelled = [v for v in videos if v.points]
    if not labelled:
        raise TrainingError("no labelled videos with features to train on "
                            "(label some frames and run `pfes extract`)")
    if not loso:
        return [(None, [v for v in videos if v.points or v.negatives is not None], videos)]
    subjects = sorted({v.subject for v in labelled})
    if len(subjects) < 2:
        raise TrainingError("leave-one-subject-out needs labelled videos from at least two subjects")
    plan = []
    for s in subjects:
        plan.append((s, [v for v in labelled if v.subject != s], [v for v in videos if v.subject == s]))
    return plan


def train_fold(run_dir: Path, fold: str | None, train_videos: list[VideoData], pred_videos: list[VideoData],
               config: TrainConfig, reporter: ProgressReporter, cancel=None, resume: bool = False,
               device: torch.device | str | None = None, step_offset: int = 0, total_steps: int | None = None,
               pad_length: int | None = None, predict_offset: int = 0,
               predict_total: int | None = None,
               spotting_preset=None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """One fold of a run: train (or resume from its own checkpoint) and predict its videos.

    Returns (predictions {video: (intensity, apex)}, the fold's metrics). `run_training` calls it
    fold after fold; `pfes_core.engine.ray_engine` runs each fold as a cluster task (the videos'
    model input is a `FeatureStream`, so a fold travels as paths). Offsets and totals number the
    progress events within the whole run. With `config.members` > 1 the fold trains that many
    models (seeds seed, seed+1, ...; checkpoint.pt, checkpoint-m1.pt, ...) and its predictions are
    their mean (benchmarks/RESULTS.md, "Quality without an oracle": better on one fresh dataset,
    worse on a smaller one, so one model stays the default).
    """
    run_dir = Path(run_dir)
    dev = torch.device(device) if device is not None else pick_device(config.device)
    member_steps = (config.epochs - config.start_epoch) * steps_per_epoch(train_videos, config)
    models, choices = [], []
    for member in range(config.members):
        state, choice = _train_member(run_dir, fold, member, train_videos, config, reporter, cancel, resume,
                                      dev, step_offset + member * member_steps, total_steps, pad_length,
                                      spotting_preset)
        models.append(state.model)
        choices.append(choice)
        if member == 0:
            first = state            # the fold's epoch count and loss are member 0's
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for v in pred_videos:
        if cancel is not None and cancel.is_set():
            raise CancelledError("training cancelled")
        predictions[v.video_id] = predict_members(models, v.model_input, config.predict_chunk, dev)
        reporter.emit("predict", step=predict_offset + len(predictions),
                      total=predict_total or len(pred_videos), video=v.video_id)
    metrics = {"fold": fold, "epochs": first.epoch,
               "final_loss": first.history[-1]["loss"] if first.history else None,
               "train_videos": [v.video_id for v in train_videos],
               "predicted_videos": [v.video_id for v in pred_videos]}
    if config.members > 1:
        metrics["members"] = config.members
    if any(c is not None for c in choices):
        metrics["epoch_selection"] = choices[0] if config.members == 1 else choices
    return predictions, metrics


def _train_member(run_dir: Path, fold: str | None, member: int, train_videos: list[VideoData],
                  config: TrainConfig, reporter: ProgressReporter, cancel, resume: bool, dev: torch.device,
                  step_offset: int, total_steps: int | None, pad_length: int | None, spotting_preset):
    """One model of a fold (member m of a seed-averaged run trains with seed + m), from its own
    checkpoint when resuming. Returns (state, epoch choice or None)."""
    from . import runs

    if member:
        config = replace(config, seed=config.seed + member)
    ckpt = runs.member_checkpoint_path(run_dir, fold, member)
    state = build_state(config, dev)
    if resume and ckpt.exists():
        runs.load_checkpoint_into(ckpt, state, dev)
    elif config.warm_start:
        from .warm_start import load_parent_into

        load_parent_into(run_dir.parent / config.warm_start, state, dev, member=member)
    log_path = run_dir / "log.jsonl"

    def save(st: TrainState) -> None:
        runs.save_checkpoint(ckpt, st, config)
        record = {**st.history[-1], "member": member} if config.members > 1 else st.history[-1]
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    choice = None
    if state.epoch < config.epochs:
        state, choice = train_model(train_videos, config, spotting_preset, reporter, cancel, state=state,
                                    device=dev, on_epoch_end=save, fold=fold, step_offset=step_offset,
                                    total_steps=total_steps, pad_length=pad_length)
        if choice and choice.get("epoch"):
            runs.save_checkpoint(ckpt, state, config)   # the chosen epoch's weights are the fold's model
            reporter.emit("train", message=f"kept epoch {choice['epoch']} of {config.epochs}: best on "
                          f"validation subject {choice['validation_subject']}",
                          metrics={"kept epoch": choice["epoch"],
                                   "validation point F1": choice["validation_point_f1"]},
                          **({"fold": fold} if fold is not None else {}))
    return state, choice


def run_training(run_dir: Path, run_id: str, videos: list[VideoData], config: TrainConfig,
                 reporter: ProgressReporter, cancel=None, resume: bool = False,
                 label_summary: dict | None = None, spotting_preset=None, fold_runner=None,
                 motion=None, head=None) -> str:
    """Train into an existing run folder (config/labels already written) and finish it.

    Status goes running -> done | cancelled | failed; checkpoints are written after every epoch, so
    a cancelled run resumes from its last finished epoch. `fold_runner(run_dir, config, jobs,
    common, reporter, cancel)` runs the folds elsewhere (`pfes_core.engine`): it returns what
    `train_fold(run_dir, config=config, **job, **common)` returns for each job, in order.
    `motion(video)`, `head(video)`: its ROI motion and head track, for the proposals
    (`runs.write_predictions`).
    """
    from . import runs

    run_dir = Path(run_dir)
    try:
        dev = pick_device(config.device)
        plan = _fold_plan(videos, config.loso)
    except TrainingError as exc:
        runs.write_status(run_dir, "failed", message=str(exc))
        raise
    runs.write_status(run_dir, "running", device=dev.type, labels=label_summary)
    fold_steps = [config.members * (config.epochs - config.start_epoch) * steps_per_epoch(t, config)
                  for _, t, _ in plan]
    total_steps = sum(fold_steps)
    reporter.emit("train", message=f"training on {dev.type}", device=dev.type, run_id=run_id,
                  step=0, total=total_steps)
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    fold_metrics = []
    jobs = [dict(fold=fold, train_videos=t, pred_videos=pv, step_offset=sum(fold_steps[:k]),
                 predict_offset=sum(len(p) for _, _, p in plan[:k]))
            for k, (fold, t, pv) in enumerate(plan)]
    common = dict(resume=resume, total_steps=total_steps, predict_total=sum(len(pv) for _, _, pv in plan),
                  pad_length=max(len(v.model_input) for v in videos), spotting_preset=spotting_preset)
    try:
        if fold_runner is None:
            results = [train_fold(run_dir, config=config, reporter=reporter, cancel=cancel, device=dev,
                                  **job, **common) for job in jobs]
        else:
            results = fold_runner(run_dir, config, jobs, common, reporter, cancel)
        for fold_predictions, metrics in results:
            predictions.update(fold_predictions)
            fold_metrics.append(metrics)
        reporter.emit("proposals", message=f"proposals for {len(predictions)} videos")
        runs.write_predictions(run_dir / "predictions.h5", predictions,
                               {v.video_id: v.fps for v in videos}, preset=spotting_preset, fold_of={
                                   v.video_id: f for f, _, pv in plan for v in pv}, motion=motion, head=head)
        metrics = {"folds": fold_metrics, "device": dev.type, "n_videos_predicted": len(predictions),
                   "parent_run": config.warm_start}
        runs.write_json(run_dir / "metrics.json", metrics)
        runs.write_status(run_dir, "done", device=dev.type, labels=label_summary)
    except (CancelledError, KeyboardInterrupt):
        runs.write_status(run_dir, "cancelled", device=dev.type, labels=label_summary)
        reporter.emit("cancelled", run_id=run_id, message="training cancelled; resume with --resume " + run_id)
        raise CancelledError(f"training cancelled (run {run_id}; resume with --resume {run_id})") from None
    except Exception as exc:
        runs.write_status(run_dir, "failed", message=str(exc)[:500], labels=label_summary)
        raise
    reporter.emit("done", run_id=run_id, device=dev.type)
    return run_id


__all__ = ["TrainConfig", "VideoData", "TrainState", "train", "train_on_arrays", "run_training", "train_fold",
           "build_state", "select_frames", "dataset_from_settings", "DATASET_SPOTTING", "point_groups", "steps_per_epoch", "epoch_steps", "label_snapshot", "predict_video", "PRESETS", "MODES",
           "ABLATIONS"]
