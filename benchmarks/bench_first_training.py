"""First-training benchmark: how long, and at what lr, should the first training run?

The review loop's quick rounds with nothing reviewed (nine more epochs at the warm lr) lifted the
first training's F1 on four fresh sets, mostly through ME (RESULTS.md, "The quick rounds alone").
This measures the same epochs folded into the first training: one run per training seed of
--epochs epochs with the lr cut at most --lr-decays times (then held), its seed-averaged models
scored at each of --eval-epochs on videos never labelled. The schedule up to a cut-off is the same
whatever the run's length, so the epoch-12 score of a 21-epoch run is the 12-epoch default's.

Split as bench_review_loop's: per subject the first video is labelled (its point labels are the
training set); the other videos are never labelled. F1 is reported on the loop benchmark's test
videos (per subject the videos after the first 1 + --review-videos) and on every unlabelled video.

Run: python benchmarks/bench_first_training.py --project /tmp/ft/set293.pfes --seed 293
     --epochs 21 --lr-decays 2 --eval-epochs 12,15,18,21 --train-seeds 1 --json /tmp/ft/s293-1.json
then --from-json FILE... to pool seeds and sets into one table (appended to RESULTS.md unless
--no-append).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench_review_loop import (build_project, load, pooled_f1, report, spot,  # noqa: E402  (benchmarks/ is
                               train_members)                                # the script's folder)


def snapshots(labelled, cfg, members: int, eval_epochs: list[int]) -> tuple[dict[int, list], float]:
    """{epoch: [member models]} at each of `eval_epochs`, members trained as `pfes train --members`."""
    import copy

    kept: dict[int, list] = {e: [] for e in eval_epochs}

    def keep(state):
        if state.epoch in kept:
            kept[state.epoch].append(copy.deepcopy(state.model).eval())

    t = time.monotonic()
    train_members(labelled, cfg, members, on_epoch_end=keep)
    return kept, time.monotonic() - t


def run_seed(args, labelled, review, test, truth, seed: int) -> dict:
    from pfes_core.spotting import preset_from_settings
    from pfes_core.training import TrainConfig

    preset = preset_from_settings()
    cfg = TrainConfig.from_preset("cpu", device="cpu", seed=seed, epochs=args.epochs, lr_decays=args.lr_decays,
                                  me_step_repeats=args.me_repeats)
    kept, seconds = snapshots(labelled, cfg, args.members, args.eval_epochs)
    out = {"seed": seed, "seconds": seconds, "epochs": {}}
    for epoch, models in kept.items():
        if args.save_outputs:
            save_outputs(Path(args.save_outputs) / f"set{args.seed}-s{seed}-e{epoch}.npz", models,
                         review + test, truth, cfg.predict_chunk, args.project)
        test_pred = spot(models, test, preset, cfg.predict_chunk)
        all_pred = {**test_pred, **spot(models, review, preset, cfg.predict_chunk)}
        row = {"test": report(test_pred, truth, [v.video_id for v in test]),
               "unlabelled": report(all_pred, truth, [v.video_id for v in review + test])}
        out["epochs"][str(epoch)] = row
        print(f"seed {seed} epoch {epoch}: test F1 {row['test']['f1']:.3f} (MaE {row['test']['mae']:.3f}, "
              f"ME {row['test']['me']:.3f}); unlabelled F1 {row['unlabelled']['f1']:.3f}", flush=True)
    return out


def save_outputs(path: Path, models, videos, truth, chunk, project: str) -> None:
    """The members' mean intensity and apex scores per unlabelled video, with its ground truth and
    frame rate, so spotting variants can be compared without training again
    (bench_spotting_variants.py, which reads the ROI motion from `project`)."""
    import numpy as np

    from pfes_core.inference import predict_members

    arrays = {}
    for v in videos:
        a, q = predict_members(models, v.model_input, chunk, "cpu")
        gt = [(iv.cls == "ME", iv.onset, iv.apex if iv.apex is not None else -1, iv.offset) for iv in truth[v.video_id]]
        arrays[f"{v.video_id}/a"], arrays[f"{v.video_id}/q"] = a, q
        arrays[f"{v.video_id}/gt"] = np.asarray(gt, dtype=np.int64).reshape(-1, 4)
        arrays[f"{v.video_id}/fps"] = np.float64(v.fps)
    arrays["__project__"] = np.str_(str(Path(project).resolve()))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def pooled(rows: list[dict]) -> dict:
    """F1 from the summed counts of several seeds' reports (MaE/ME F1 averaged)."""
    return {"f1": pooled_f1(rows), "mae": sum(r["mae"] for r in rows) / len(rows), "me": sum(r["me"] for r in rows) / len(rows)}


def tables(docs: list[dict]) -> str:
    """One row per data set and epoch (seeds pooled), then every set pooled."""
    lines = ["| data set | epoch | test F1 | test MaE F1 | test ME F1 | unlabelled F1 | unlabelled MaE F1 "
             "| unlabelled ME F1 | seeds |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    epochs = sorted({int(e) for d in docs for s in d["seeds"] for e in s["epochs"]})
    groups = [(f"{d['data_seed']}", [d]) for d in docs] + ([("all pooled", docs)] if len(docs) > 1 else [])
    for name, group in groups:
        for e in epochs:
            seeds = [s for d in group for s in d["seeds"] if str(e) in s["epochs"]]
            if not seeds:
                continue
            t = pooled([s["epochs"][str(e)]["test"] for s in seeds])
            u = pooled([s["epochs"][str(e)]["unlabelled"] for s in seeds])
            lines.append(f"| {name} | {e} | {t['f1']:.3f} | {t['mae']:.3f} | {t['me']:.3f} | {u['f1']:.3f} "
                         f"| {u['mae']:.3f} | {u['me']:.3f} | {','.join(str(s['seed']) for s in seeds)} |")
    return "\n".join(lines)


def merge(docs: list[dict]) -> list[dict]:
    """Runs of the same data set (one per training seed) as one document per set."""
    by_set: dict[int, dict] = {}
    for d in docs:
        if d["data_seed"] in by_set:
            by_set[d["data_seed"]]["seeds"] += d["seeds"]
            by_set[d["data_seed"]]["commands"] += d["commands"]
        else:
            by_set[d["data_seed"]] = {**d, "seeds": list(d["seeds"]), "commands": list(d["commands"])}
    return list(by_set.values())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default="/tmp/pfes_first/bench.pfes")
    ap.add_argument("--seed", type=int, default=293, help="data seed (a fresh one: never used for tuning)")
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--videos", type=int, default=5, help="videos per subject (>= 3: labelled, review, test)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--review-videos", type=int, default=2,
                    help="per subject, the unlabelled videos before the test ones (as bench_review_loop's)")
    ap.add_argument("--train-seeds", default="1")
    ap.add_argument("--members", type=int, default=3, help="models per training, outputs averaged")
    ap.add_argument("--epochs", type=int, default=21)
    ap.add_argument("--lr-decays", type=int, default=None, help="cut the lr at most this many times, then hold it")
    ap.add_argument("--eval-epochs", default="12,15,18,21")
    ap.add_argument("--me-repeats", type=int, default=None,
                    help="passes over each ME point group per pass (pfes train --me-repeats; default: the preset's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--from-json", nargs="+", metavar="FILE", help="pool earlier runs into one table")
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--save-outputs", metavar="DIR",
                    help="also save each eval epoch's outputs on the unlabelled videos (npz per set, seed, epoch)")
    args = ap.parse_args(argv)
    args.eval_epochs = sorted(int(e) for e in args.eval_epochs.split(",") if e)
    command = "python benchmarks/bench_first_training.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        docs = merge([json.loads(Path(f).read_text()) for f in args.from_json])
    else:
        import torch

        torch.set_num_threads(args.threads)
        labelled, review, test, truth, _ = load(build_project(args), args.review_videos)
        seeds = [run_seed(args, labelled, review, test, truth, int(s)) for s in args.train_seeds.split(",") if s]
        docs = [{"data_seed": args.seed, "commands": [command], "seeds": seeds, "members": args.members,
                 "epochs": args.epochs, "lr_decays": args.lr_decays,
                 "meta": {"labelled": len(labelled), "review": len(review), "test": len(test),
                          "clicks": sum(len(v.points) for v in labelled),
                          "test_gt": sum(len(truth[v.video_id]) for v in test),
                          "unlabelled_gt": sum(len(truth[v.video_id]) for v in review + test)}}]
        if args.json:
            Path(args.json).write_text(json.dumps(docs[0], indent=1))
    table = tables(docs)
    print(table)
    if not args.no_append:
        import torch

        from results_md import append_section, machine_line

        text = (machine_line(f", torch {torch.__version__}, 1 torch thread per process")
                + "".join(f"- command: `{c}`\n" for d in docs for c in d["commands"])
                + (f"- pooled with: `{command}`\n" if args.from_json else "")
                + "".join(f"- data seed {d['data_seed']} (fresh): {d['meta']['labelled']} labelled videos "
                          f"({d['meta']['clicks']} point labels), {d['meta']['test']} test videos "
                          f"({d['meta']['test_gt']} GT), {d['meta']['review'] + d['meta']['test']} unlabelled "
                          f"({d['meta']['unlabelled_gt']} GT); {d['epochs']} epochs, lr cut at most "
                          f"{d['lr_decays']} times, {d['members']} models averaged per training seed\n"
                          for d in docs)
                + f"\n{table}\n")
        append_section("First training: length and final lr", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
