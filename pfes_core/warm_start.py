"""Warm start: fine-tune the latest run's model on new labels and review decisions.

A review round changes a handful of labels; retraining from scratch repeats the whole schedule
(hard boxes, soft labels, GIM warm-up) to relearn what the last model already knew. A warm-started
run loads the parent's weights and continues GIM's schedule from the parent's last epoch for a few
epochs at a reduced, constant learning rate (fresh optimiser state), so a round takes seconds.

The parent's checkpoint is read with torch.load(weights_only=True) (`runs.read_checkpoint`); the
child records the parent's run id and epoch in its config.json (`warm_start`, `start_epoch`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .errors import TrainingError

#: Fine-tuning epochs of a warm-started round unless --epochs says otherwise.
WARM_EPOCHS = 3
#: The fine-tuning lr is the parent's base lr times this (kept constant for the round): 2.5e-4,
#: the lr the cpu preset ends at, lets new labels move the model without undoing it.
WARM_LR_FACTOR = 0.25


def resolve_parent(project_root, spec: str) -> str:
    """'latest' -> the newest finished single-model run; a run id -> itself, if it can be a parent."""
    from . import runs

    if spec == "latest":
        for info in reversed(runs.list_runs(project_root)):
            if info.status == "done" and not info.config.get("loso") \
                    and runs.checkpoint_path(info.path).exists():
                return info.run_id
        raise TrainingError("no finished run to warm-start from (train once without --warm-start)")
    path = runs.run_dir(project_root, spec)
    config = runs.read_json(path / "config.json")
    if config.get("loso"):
        raise TrainingError(f"run {spec} is leave-one-subject-out (one model per fold); "
                            "warm start needs a single-model run")
    if not runs.checkpoint_path(path).exists():
        raise TrainingError(f"run {spec} has no checkpoint to warm-start from")
    return spec


def child_config(project_root, request):
    """The config of a warm-started run: the parent's network, mode and losses, the request's
    seed, device, review switch, updates per epoch and ME repeats, `request.epochs` more epochs from the
    parent's last one. (A round's update count is the round's: a parent trained before the cap
    existed must not give its child uncapped epochs, which overtrained.)"""
    from . import runs
    from .training import TrainConfig

    if request.loso:
        raise TrainingError("warm start fine-tunes one model; it cannot be combined with --loso")
    parent_id = resolve_parent(project_root, str(request.warm_start))
    parent_dir = runs.run_dir(project_root, parent_id)
    parent = TrainConfig.from_dict(runs.read_json(parent_dir / "config.json"))
    done = int(runs.read_checkpoint(runs.checkpoint_path(parent_dir))["epoch"])
    return fine_tune_config(parent, done, request.epochs, parent_id, seed=request.seed,
                            device=request.device, reviews=request.reviews,
                            max_steps_per_epoch=request.max_steps_per_epoch,
                            me_step_repeats=request.me_step_repeats)


def fine_tune_config(parent, parent_epochs: int, epochs: int, parent_id: str, **overrides):
    """The parent's config continued for `epochs` more epochs at the warm lr (constant)."""
    lr = parent.lr if parent.warm_start else parent.lr * WARM_LR_FACTOR
    total = parent_epochs + epochs
    child = replace(parent, epochs=total, start_epoch=parent_epochs, warm_start=parent_id, lr=lr,
                    lr_step=total + 1, loso=False, **overrides)
    child.validate()
    return child


def load_parent_into(parent_dir: Path, state, device="cpu", member: int = 0) -> None:
    """Parent weights into a fresh TrainState (weights only: optimiser and lr start anew), and the
    epoch counter set to the parent's so GIM's schedule continues. Member m of a seed-averaged
    child fine-tunes the parent's member m."""
    from . import runs

    path = runs.member_checkpoint_path(Path(parent_dir), None, member)
    if member and not path.exists():
        raise TrainingError(f"the warm-start parent {Path(parent_dir).name} has no model {member + 1} "
                            f"(it was trained with fewer --members)")
    payload = runs.read_checkpoint(path, map_location=device)
    try:
        state.model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise TrainingError(f"the warm-start parent {Path(parent_dir).name} does not match this "
                            f"network: {str(exc)[:200]}") from None
    state.epoch = int(payload["epoch"])


__all__ = ["WARM_EPOCHS", "WARM_LR_FACTOR", "resolve_parent", "child_config", "fine_tune_config",
           "load_parent_into"]
