"""Warm start: a quick review round fine-tunes the latest run's model (weights-only load), records
its parent, continues GIM's schedule, and refuses parents it cannot use; `pfes train --warm-start`."""

from __future__ import annotations

import json

import pytest
import torch

from pfes_core import runs
from pfes_core.errors import TrainingError
from pfes_core.progress import ProgressReporter
from pfes_core.training import train
from pfes_core.warm_start import WARM_LR_FACTOR, resolve_parent
from test_training import make_project, make_videos, tiny_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project and one finished 2-epoch run (the parent)."""
    root = make_project(tmp_path_factory.mktemp("warm"), make_videos(seed=5, n=2, subjects=2))
    parent = train(root, tiny_config(epochs=2))
    return root, parent


def test_warm_start_loads_the_parent_weights_only_and_records_it(trained, monkeypatch):
    root, parent = trained
    loads = []
    real_load = torch.load

    def spy(*args, **kwargs):
        loads.append((str(args[0]), kwargs.get("weights_only")))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    events = []
    run_id = train(root, tiny_config(epochs=1, warm_start="latest", seed=4),
                   ProgressReporter("none", callback=events.append))
    parent_ckpt = str(root / "runs" / parent / "checkpoint.pt")
    assert (parent_ckpt, True) in loads and all(w is True for _, w in loads)
    d = root / "runs" / run_id
    cfg = json.loads((d / "config.json").read_text())
    parent_cfg = json.loads((root / "runs" / parent / "config.json").read_text())
    assert cfg["warm_start"] == parent and cfg["start_epoch"] == 2 and cfg["epochs"] == 3
    assert cfg["lr"] == pytest.approx(parent_cfg["lr"] * WARM_LR_FACTOR) and cfg["seed"] == 4
    assert cfg["model"] == parent_cfg["model"]
    assert json.loads((d / "metrics.json").read_text())["parent_run"] == parent
    assert json.loads((d / "status.json").read_text())["labels"]["parent_run"] == parent
    assert events[0]["stage"] == "snapshot" and events[0]["parent_run"] == parent
    log = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [3]                    # one epoch, numbered after the parent's
    steps = [e for e in events if e["stage"] == "train" and e.get("epoch")]
    assert steps[-1]["step"] == steps[-1]["total"] == len(steps)
    assert steps[0]["phase"] == "gim"                           # the schedule continues, no hard boxes again
    assert torch.load(d / "checkpoint.pt", weights_only=True)["epoch"] == 3


def test_a_warm_round_takes_the_requests_update_cap_not_its_parents(trained):
    from dataclasses import replace

    from pfes_core.warm_start import child_config

    root, parent = trained
    cfg = json.loads((root / "runs" / parent / "config.json").read_text())
    cfg.pop("max_steps_per_epoch")                      # a parent trained before the cap existed
    cfg.pop("me_step_repeats")                          # and before ME groups were repeated
    (root / "runs" / parent / "config.json").write_text(json.dumps(cfg))
    child = child_config(root, replace(tiny_config(epochs=1, warm_start=parent), max_steps_per_epoch=5,
                                       me_step_repeats=2))
    assert child.step_cap == 5 and child.warm_start == parent and child.me_repeats == 2
    assert child_config(root, replace(tiny_config(epochs=1, warm_start=parent),
                                      max_steps_per_epoch=None)).step_cap is None


def test_warm_start_continues_from_the_parent_not_from_scratch(trained):
    """One fine-tuning epoch from the parent stays close to the parent; one epoch from scratch does not."""
    root, parent = trained
    warm = train(root, tiny_config(epochs=1, warm_start=parent))
    scratch = train(root, tiny_config(epochs=1))
    p = runs.read_predictions(root / "runs" / parent / "predictions.h5")["v0"].intensity
    w = runs.read_predictions(root / "runs" / warm / "predictions.h5")["v0"].intensity
    s = runs.read_predictions(root / "runs" / scratch / "predictions.h5")["v0"].intensity
    assert abs(w - p).mean() < abs(s - p).mean()


def test_unusable_parents_are_refused(trained, tmp_path):
    root, parent = trained
    empty = make_project(tmp_path, make_videos(seed=6, n=1))
    with pytest.raises(TrainingError, match="no finished run to warm-start from"):
        train(empty, tiny_config(epochs=1, warm_start="latest"))
    with pytest.raises(TrainingError, match="cannot be combined with --loso"):
        train(root, tiny_config(epochs=1, warm_start=parent, loso=True))
    with pytest.raises(TrainingError, match="no run"):
        train(root, tiny_config(epochs=1, warm_start="20990101-000000-beef"))
    loso = train(root, tiny_config(epochs=1, loso=True))
    with pytest.raises(TrainingError, match="leave-one-subject-out"):
        resolve_parent(root, loso)
    assert resolve_parent(root, "latest") != loso                # latest skips LOSO runs


def test_tampered_parent_checkpoint_is_refused(tmp_path):
    root = make_project(tmp_path, make_videos(seed=7, n=1))
    parent = train(root, tiny_config(epochs=1))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": runs.CHECKPOINT_FORMAT, "model": Evil(), "epoch": 1},
               root / "runs" / parent / "checkpoint.pt")
    with pytest.raises(TrainingError, match="refused checkpoint"):
        train(root, tiny_config(epochs=1, warm_start=parent))


def test_cli_train_warm_start(trained, capsys):
    from pfes_core.cli import main

    root, _ = trained
    rc = main(["train", str(root), "--warm-start", "--epochs", "1", "--device", "cpu", "--progress", "jsonl"])
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert rc == 0 and lines[-1]["stage"] == "done"
    run_id = lines[-1]["run_id"]
    snap = [e for e in lines if e["stage"] == "snapshot"][0]
    assert snap["parent_run"] is not None and snap["parent_run"] != run_id
    assert snap["decisions_snapshot"] == f"runs/{run_id}/decisions.json"
    cfg = json.loads((root / "runs" / run_id / "config.json").read_text())
    assert cfg["warm_start"] == snap["parent_run"] and cfg["epochs"] == cfg["start_epoch"] + 1
    rc = main(["train", str(root), "--warm-start", "--resume", run_id, "--progress", "none"])
    assert rc == 1 and "use one of them" in capsys.readouterr().err


@pytest.mark.gui
@pytest.mark.slow
def test_gui_quick_round_warm_starts_from_the_latest_run(qtbot, loop, tmp_path, small_demo_project):
    pytest.importorskip("PySide6")
    from test_gui_training import demo_window

    mw, c = demo_window(qtbot, tmp_path, small_demo_project)
    qtbot.waitUntil(lambda: not c.busy, timeout=20000)
    c.train_args = ["--epochs", "1"]
    # no finished run yet: the quick round trains from scratch and says so
    c.actions["model.train_quick"].trigger()
    first = c.last_job
    assert first is not None and "--warm-start" not in first.command
    qtbot.waitUntil(lambda: first.is_done, timeout=240000)
    assert first.result["ok"], first.result["error"]
    qtbot.waitUntil(lambda: not c.busy and c.actions["model.train_quick"].isEnabled(), timeout=30000)
    c.actions["model.train_quick"].trigger()
    quick = c.last_job
    assert quick is not first and "--warm-start" in quick.command
    assert quick.command[quick.command.index("--warm-start") + 1] == "latest"
    qtbot.waitUntil(lambda: quick.is_done, timeout=240000)
    assert quick.result["ok"], quick.result["error"]
    cfg = json.loads((mw.project.root / "runs" / quick.run_id / "config.json").read_text())
    assert cfg["warm_start"] == first.run_id and cfg["epochs"] == cfg["start_epoch"] + 1
    qtbot.waitUntil(lambda: f"warm start from {first.run_id}" in c.dock.snapshot_label.text(), timeout=10000)
    assert "review decisions (used" in c.dock.snapshot_label.text()
    mw.close_project()
