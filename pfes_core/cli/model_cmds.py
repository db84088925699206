"""`pfes train` and `pfes runs`: train the spotting model on a project, list its runs.

`pfes train ... --progress jsonl` is the GUI's worker: one JSON object per line, last one
stage "done" (with run_id), "cancelled" or "error". SIGTERM / Ctrl-C cancel between steps and
leave a consistent run with status "cancelled" that `--resume RUN_ID` continues.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import replace

from ..engine import add_engine_options, ray_engine_for
from ..errors import CancelledError, PfesError
from .options import add_deprecated_alias


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the spotting model (GIM) on the project's point labels",
                              description="Train on every labelled video with features; writes runs/<run-id>/ "
                                          "and predictions for every video with features.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--train-preset", dest="train_preset", choices=("cpu", "paper"), default="cpu",
                   help="cpu: small model, minutes on a laptop (default); paper: the reference setup "
                        "(was --preset, which still works)")
    add_deprecated_alias(p, "--preset", "--train-preset", "train_preset", ("cpu", "paper"))
    p.add_argument("--json", action="store_true",
                   help="print the finished run as JSON on stdout (run id, device, folds, losses)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epoch count")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument("--loso", action="store_true", help="leave-one-subject-out: one model per held-out subject")
    add_engine_options(p, "fold (--loso; else one task for the model)")
    p.add_argument("--mode", choices=("default", "faithful"), default="default",
                   help="faithful: the published method number for number (reference backbone, dropout "
                        "0.7 on logits, pseudo-labels from train-mode outputs, its edge/overlap and loss "
                        "rules, padding); default: pseudo-labels from clean outputs that keep the reliable "
                        "frames reliable, duration clip in seconds (docs/REFERENCE.md lists every difference)")
    p.add_argument("--dataset", choices=("casme2", "samm-lv", "casme3"), default=None,
                   help="the published loss weights of this dataset (SAMM-LV: sparsity 0.3, IAC 2e-6; else "
                        "2.5, 1.4e-5) and, unless the project sets one, its spotting preset; default: the "
                        "project's settings (dataset, or the import's), else CAS(ME)^2 weights")
    p.add_argument("--ablation", choices=("full", "hard", "gim-no-iac"), default="full")
    p.add_argument("--neutral-mining", choices=("lowest", "hardest"), default=None,
                   help="pseudo-neutral frames: lowest (the default; faithful mode always): the reference's "
                        "lowest-intensity frames; hardest: the highest-intensity frames beyond every point's "
                        "reach, which assumes every expression of a labelled video carries a point (fewer false "
                        "proposals, but lower recall on one of two benchmark sets: benchmarks/RESULTS.md)")
    p.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                   help="at most N updates per epoch, cycling through the point groups so every label is "
                        "used in turn (default: 12 with the cpu preset, whose schedule is tuned in epochs of "
                        "about 12 updates; 0: one update per point group; faithful mode always takes every one)")
    p.add_argument("--me-repeats", type=int, default=None, metavar="N",
                   help="take each point group that holds an ME point N times per pass over the others "
                        "(1..4; default: the preset's). More updates on the rarest class lifted ME F1 on "
                        "fresh benchmark sets (benchmarks/RESULTS.md); faithful mode always takes each once")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--members", type=int, default=None, metavar="N",
                   help="train N models (seeds SEED, SEED+1, ...) and average their intensity and apex "
                        "outputs, for N times the training time (default: 3 with the cpu preset, better "
                        "proposals on five of six fresh benchmark sets; 1 with the paper preset; "
                        "benchmarks/RESULTS.md)")
    p.add_argument("--select-epoch", choices=("last", "validation"), default=None,
                   help="last: keep the last epoch's model (the default); validation: set one labelled "
                        "training subject aside, spot it after every epoch and keep the epoch whose "
                        "proposals best hit its point labels (needs three labelled subjects)")
    p.add_argument("--resume", metavar="RUN_ID", default=None, help="continue a cancelled or crashed run (with its own config and label snapshot)")
    p.add_argument("--warm-start", metavar="RUN_ID", nargs="?", const="latest", default=None,
                   help="quick review round: fine-tune RUN_ID's model (default: the latest finished run) on "
                        "the current labels and review decisions for --epochs more epochs (default 3); "
                        "network, mode and losses are the parent's")
    p.add_argument("--no-reviews", action="store_true",
                   help="ignore review decisions (rejected proposals as negatives, reviewed spans as GIM "
                        "duration priors); faithful mode always ignores them")
    p.add_argument("--labels", metavar="LAYER", default="union",
                   help="label layer to train on: an annotator's name, 'consensus' (adjudicated), or "
                        "'union' (every annotator's labels, the default); the run's label snapshot records it")
    p.add_argument("--progress", choices=("bar", "jsonl", "none"), default="bar")
    p.set_defaults(func=cmd_train)

    r = subparsers.add_parser("runs", help="list the training runs of a project")
    r.add_argument("project", metavar="PROJECT_DIR")
    r.add_argument("--json", action="store_true", help="one JSON object per run")
    r.set_defaults(func=cmd_runs)


def cmd_train(args) -> int:
    from ..progress import ProgressReporter
    from ..training import TrainConfig, train
    from ..warm_start import WARM_EPOCHS

    reporter = ProgressReporter(args.progress)
    cancel = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        cancel.set()

    previous = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGINT", None)):
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread (in-process callers)
                pass
    try:
        if args.json and args.progress == "jsonl":
            raise PfesError("--json prints the result on stdout, where --progress jsonl writes its "
                            "events; use one of them")
        if args.resume and args.labels != "union":
            raise PfesError("--resume continues with the run's own label snapshot; --labels chooses the "
                            "labels of a new run (use one of them)")
        if args.warm_start and args.resume:
            raise PfesError("--warm-start starts a new run; --resume continues one (use one of them)")
        epochs = args.epochs if args.epochs is not None or not args.warm_start else WARM_EPOCHS
        config = TrainConfig.from_preset(args.train_preset, epochs=epochs, device=args.device, loso=args.loso,
                                         mode=args.mode, ablation=args.ablation, seed=args.seed,
                                         reviews=not args.no_reviews, warm_start=args.warm_start,
                                         dataset=args.dataset, select_epoch=args.select_epoch,
                                         members=args.members)
        if args.neutral_mining:
            config = replace(config, gim=replace(config.gim, neutral_mining=args.neutral_mining))
        if args.steps_per_epoch is not None:
            if args.steps_per_epoch < 0:
                raise PfesError(f"--steps-per-epoch must be 0 (no cap) or more, got {args.steps_per_epoch}")
            config = replace(config, max_steps_per_epoch=args.steps_per_epoch or None)
        if args.me_repeats is not None:
            config = replace(config, me_step_repeats=args.me_repeats)
            config.validate()       # train() checks again; this refuses before a Ray engine starts
        engine = ray_engine_for(args)
        run_id = train(args.project, config, reporter, cancel=cancel, resume=args.resume,
                       fold_runner=engine.run_folds if engine is not None else None, labels=args.labels)
    except CancelledError as exc:
        reporter.close()
        print(f"cancelled: {exc}", file=sys.stderr)
        return 130
    except PfesError as exc:
        if args.progress == "jsonl":
            reporter.emit("error", message=str(exc))
        reporter.close()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    reporter.close()
    if args.json:
        print(json.dumps(run_summary(args.project, run_id), indent=1))
    elif args.progress != "jsonl":
        print(f"run {run_id} finished (see `pfes runs {args.project}`)")
    return 0


def run_summary(project, run_id: str) -> dict:
    """What `pfes train --json` prints about the run it finished."""
    from .. import runs
    from .eval_cmds import _project_root

    info = next(r for r in runs.list_runs(_project_root(project)) if r.run_id == run_id)
    return {"run_id": info.run_id, "status": info.status, "path": str(info.path),
            "epochs_done": info.epochs_done, "folds_started": info.folds_started,
            "label_snapshot": info.label_snapshot, "config": info.config, "metrics": info.metrics}


def cmd_runs(args) -> int:
    from .. import runs
    from .eval_cmds import _project_root

    root = _project_root(args.project)
    infos = runs.list_runs(root)
    if args.json:
        for r in infos:
            print(json.dumps({"run_id": r.run_id, "created": r.created, "status": r.status,
                              "epochs_done": r.epochs_done, "folds_started": r.folds_started, "label_snapshot": r.label_snapshot,
                              "config": r.config, "metrics": r.metrics}))
        return 0
    if not infos:
        print("no runs yet (train with `pfes train PROJECT_DIR`)")
        return 0
    print(f"{'run':<22} {'status':<10} {'epochs':>9} {'labels':>6}  {'preset':<6} {'mode':<8} {'ablation':<10} loso created")
    for r in infos:
        c = r.config
        ep = f"{r.epochs_done}/{c.get('epochs', '?')}" + (f" x{r.folds_started}" if c.get("loso") else "")
        print(f"{r.run_id:<22} {r.status:<10} {ep:>9} {str(r.label_snapshot.get('count', '?')):>6}  "
              f"{c.get('preset', '?'):<6} {c.get('mode', '?'):<8} {c.get('ablation', '?'):<10} "
              f"{'yes' if c.get('loso') else 'no'}  {time.strftime('%Y-%m-%d %H:%M', time.localtime(r.created))}")
    return 0
