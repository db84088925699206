"""Review-loop benchmark: a simulated annotator labels a few videos, then reviews proposals.

Split per subject (videos in id order): the first video carries its point labels (what the
annotator clicked); the next --review-videos (1) are the review pool (spotted and reviewed); the
rest are test videos never shown to the annotator. With --labelled-subjects K only the first K
subjects have a labelled video; the others' first video joins the review pool, as when a lab
labels its first participants and reviews its way into the next ones. Round 0 trains from scratch on the labelled videos. Each review
round then: spots the review pool, lets an oracle judge up to K proposals, highest score first
(accept: IoU >= 0.5 with a ground truth of the same class, which adds a point label at the
proposal's apex unless one is already inside, as the app's Accept does; with --adjust, a
same-class near miss is adjusted to the true span; with --reclass, a proposal on an expression of
the other class is accepted as that class, the desk's C; reject: everything else; see `Oracle`), and
trains again. As in the app's review desk, a proposal that holds a label of its class or that the
annotator decided in an earlier round (same class, IoU >= 0.5) is stepped over and costs nothing.

Variants of the training after a review round (VARIANTS): warm start (fine-tune the last model,
the app's quick round) or full retrain, each with decisions (span priors and rejections as
negatives; rejections on the intensity and the class score, or on the class score only), or with
the accepted labels alone (ablation).

Per round: F1 on the test videos, ground truths found in the review pool, review actions
(accepts + rejects + 2 per adjust) per expression found there, the whole workflow's actions
(initial clicks + review actions) per expression labelled or found, training seconds. References:
labelling every expression by hand (3 actions: onset, apex, offset) and reviewing the non-learned
motion baseline's proposals with the same budget. --ceiling adds the loop's upper bound: a
training from scratch with every expression of the review pool labelled, what no review order or
training trick can beat with these videos. --sample-check compares, after the rounds, what the
expressions review found teach with what as many pool expressions drawn at random teach.

Run: python benchmarks/bench_review_loop.py --project /tmp/loop/bench.pfes --seed 11 --subjects 6
     --videos 3 --seconds 30 --train-seeds 1 --json /tmp/loop/s1.json --no-append
then --from-json FILE... to pool seeds into one table (appended to RESULTS.md unless --no-append).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from pfes_core.features import spotting_signals
from pfes_core.metrics import evaluate
from pfes_core.spotting import preset_for_fps, preset_from_settings, propose
from pfes_core.types import CLASSES, ME, Interval

from loop_oracle import Oracle, budget_left, expression_key  # noqa: E402  (benchmarks/ is the script's folder)

HAND_ACTIONS = 3

VARIANTS = {
    "warm_dec": ("warm start + decisions, rejections on the intensity and the class score",
                 {"warm": True, "reviews": True, "intensity_negatives": True}),
    "warm_cls": ("warm start + decisions, rejections on the class score only",
                 {"warm": True, "reviews": True, "intensity_negatives": False}),
    "warm_priors": ("warm start + span priors, rejections unused",
                    {"warm": True, "reviews": True, "negative_weight": 0.0}),
    "warm_looked": ("warm start + decisions, rejections on the class score, looked spans negatives of both classes",
                    {"warm": True, "reviews": True, "intensity_negatives": False, "looked": True}),
    "warm_nodec": ("warm start, labels only", {"warm": True, "reviews": False}),
    "warm_none": ("warm start, nothing reviewed (the control: the quick round alone)",
                  {"warm": True, "reviews": False, "review": False}),
    "full_dec": ("full retrain + decisions, rejections on the intensity and the class score",
                 {"warm": False, "reviews": True, "intensity_negatives": True}),
    "full_cls": ("full retrain + decisions, rejections on the class score only",
                 {"warm": False, "reviews": True, "intensity_negatives": False}),
    "full_nodec": ("full retrain, labels only", {"warm": False, "reviews": False}),
}


def build_project(args) -> Path:
    from pfes_core.demo import build_demo_project

    from pfes_core.project import Project

    target = Path(args.project)
    if (target / "project.h5").exists():
        # a project still being built (or built with other sizes) would give figures on a subset
        with Project.open(target, readonly=True) as project:
            n = len(project.videos)
        if n != args.subjects * args.videos:
            raise SystemExit(f"{target} holds {n} videos, not {args.subjects} x {args.videos}: still "
                             "being built, or built with other --subjects/--videos")
        return target
    return build_demo_project(target, seed=args.seed, subjects=args.subjects,
                              videos_per_subject=args.videos, seconds=args.seconds, jobs=args.jobs)


#: ROI motion and head track of every video `load` read ({video: {"motion": (T, 10, 2), "head":
#: (T, 2)}}): `spot` gives them to the proposals, which join MaE onsets to their releases and check
#: ME proposals with them, as the app does.
SIGNALS: dict[str, dict] = {}


def load(root: Path, review_videos: int = 1, labelled_subjects: int = 0):
    from pfes_core.features import load_features
    from pfes_core.project import Project
    from pfes_core.training import load_project_videos

    videos, _, _ = load_project_videos(root)
    with Project.open(root, readonly=True) as project:
        truth = {v: list(project.reference.get(v, [])) for v in project.videos}
        feats = {v.video_id: load_features(project, v.video_id) for v in videos}
    rois = {v: np.asarray(f.roi_vectors) for v, f in feats.items()}
    SIGNALS.update({v: spotting_signals(f) for v, f in feats.items()})
    by_subject: dict[str, list] = {}
    for v in sorted(videos, key=lambda v: v.video_id):
        by_subject.setdefault(v.subject, []).append(v)
    labelled, review, test = [], [], []
    for i, vs in enumerate(by_subject.values()):
        clicked = not labelled_subjects or i < labelled_subjects
        (labelled if clicked else review).append(vs[0])
        review.extend(vs[1:1 + review_videos])
        test.extend(vs[1 + review_videos:])
    for v in review + test:
        v.points = []                         # never labelled by the annotator
    return labelled, review, test, truth, rois


def spot(models, videos, preset, chunk):
    """Proposals of the mean outputs of `models` (one model, or a seed-averaged run's members)."""
    from pfes_core.inference import predict_members

    out = {}
    for v in videos:
        a, q = predict_members(models, v.model_input, chunk, "cpu")
        out[v.video_id] = propose(a, q, preset_for_fps(preset, v.fps), v.video_id, v.fps,
                                   **SIGNALS.get(v.video_id, {}))
    return out


def train_members(videos, cfg, n: int, parents=None, on_epoch_end=None) -> list:
    """`n` TrainStates with seeds cfg.seed, cfg.seed + 1, ... as `pfes train --members n` trains
    them; with `parents`, member m fine-tunes parents[m] (a warm round of a seed-averaged run).
    `on_epoch_end(state)` sees every member's every epoch (as train_on_arrays' hook)."""
    from pfes_core.training import build_state, train_on_arrays

    states = []
    for m in range(n):
        mcfg = replace(cfg, seed=cfg.seed + m, members=1)
        state = None
        if parents is not None:
            state = build_state(mcfg, "cpu")
            state.model.load_state_dict(parents[m].model.state_dict())
            state.epoch = parents[m].epoch
        states.append(train_on_arrays(videos, mcfg, state=state, device="cpu", on_epoch_end=on_epoch_end))
    return states


def first_training(labelled, cfg, n: int, args) -> tuple[list, float]:
    """Round 0's members, read from --round0-cache when an earlier run of the same project, seed,
    members, epochs and update cap left them there (so workflows compared in several runs share one round 0);
    returns the states and the seconds their training took."""
    import torch

    from pfes_core.atomic import atomic_target
    from pfes_core.train_config import CPU_STEPS_PER_EPOCH
    from pfes_core.training import build_state

    cache = None
    if args.round0_cache:
        cap = "" if cfg.max_steps_per_epoch == CPU_STEPS_PER_EPOCH else f"-c{cfg.max_steps_per_epoch or 0}"
        cap += "" if cfg.me_step_repeats == 1 else f"-r{cfg.me_step_repeats}"   # caches made before repeats: 1
        cap += f"-l{args.labelled_subjects}" if args.labelled_subjects else ""
        cache = Path(args.round0_cache) / f"{Path(args.project).name}-s{cfg.seed}-m{n}-e{cfg.epochs}{cap}.pt"
        if cache.exists():
            saved = torch.load(cache, map_location="cpu", weights_only=True)
            states = []
            for m, weights in enumerate(saved["members"]):
                state = build_state(replace(cfg, seed=cfg.seed + m, members=1), "cpu")
                state.model.load_state_dict(weights)
                state.epoch = int(saved["epoch"])
                states.append(state)
            return states, float(saved["seconds"])
    t = time.monotonic()
    states = train_members(labelled, cfg, n)
    seconds = time.monotonic() - t
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(cache) as tmp:     # a run killed mid-write leaves no half file to load
            torch.save({"members": [st.model.state_dict() for st in states], "epoch": states[0].epoch,
                        "seconds": seconds}, tmp)
    return states, seconds


def training_set(labelled, review, oracle: Oracle, use_reviews: bool, intensity_negatives: bool = False,
                 negative_weight: float = 1.0, looked: bool = False):
    """The labelled videos and the review pool with the oracle's labels; decisions attached when
    `use_reviews`."""
    from pfes_core.review_supervision import attach_reviews
    from pfes_core.training import VideoData

    videos = [VideoData(v.video_id, v.model_input, list(v.points), v.subject, v.fps) for v in labelled]
    for v in review:
        videos.append(VideoData(v.video_id, v.model_input, oracle.points(v.video_id), v.subject, v.fps))
    if use_reviews:
        attach_reviews(videos, oracle.decisions(), weight=negative_weight, intensity=intensity_negatives,
                       looked=looked)
    return videos


def fully_labelled(review, truth) -> list:
    """The review pool as if the annotator had clicked every expression (a point at each true apex):
    what no number of review rounds can add to, the loop's ceiling."""
    return pool_sample(review, truth, set(pool_keys(review, truth)))


def pool_keys(review, truth) -> list[tuple]:
    """Every expression of the review pool, named as `Oracle.found` names them."""
    return [expression_key(t) for v in review for t in truth[v.video_id]]


def pool_sample(review, truth, keys) -> list:
    """The review pool with a point at the true apex of each expression in `keys` ((video, class,
    onset, offset), as `Oracle.found`) and nothing else: what those expressions teach, with neither
    the accepted proposals' apex offsets nor any decision."""
    from pfes_core.training import VideoData

    return [VideoData(v.video_id, v.model_input,
                      sorted((t.apex, CLASSES.index(t.cls)) for t in truth[v.video_id]
                             if expression_key(t) in keys), v.subject, v.fps)
            for v in review]


def sample_check(labelled, review, truth, found: set, base, n: int, seed: int, test, preset, test_ids) -> dict:
    """Full retrains (no decisions) on the expressions review found and on as many expressions of
    the pool drawn at random, both at their true apexes: whether the loop's labels teach less
    because of which expressions they are."""
    pool = pool_keys(review, truth)
    rng = np.random.default_rng(seed)
    drawn = {pool[i] for i in rng.choice(len(pool), size=min(len(found), len(pool)), replace=False)}
    out = {}
    for name, keys in (("found", found), ("random", drawn)):
        t = time.monotonic()
        states = train_members(labelled + pool_sample(review, truth, keys), base, n)
        out[name] = {**report(spot([st.model for st in states], test, preset, base.predict_chunk), truth,
                              test_ids),
                     "seconds": time.monotonic() - t, "labels": len(keys),
                     "me_labels": sum(1 for k in keys if k[1] == ME)}
    return out


def pooled_f1(rows) -> float:
    """Overall F1 of several reports (seeds, sets) from their summed TP, FP and GT counts."""
    tp, fp, gt = (sum(r[k] for r in rows) for k in ("tp", "fp", "n_gt"))
    return 2 * tp / max(tp + fp + gt, 1)


def report(pred, truth, ids) -> dict:
    rep = evaluate(pred, truth, videos=ids)
    return {"f1": rep.overall.f1, "mae": rep.f1("MaE"), "me": rep.f1("ME"), "tp": rep.overall.tp,
            "fp": rep.overall.fp, "n_gt": rep.overall.n_gt}


def run_seed(args, labelled, review, test, truth, seed: int, candidates=None) -> dict:
    """Round 0 and every variant's rounds for one training seed; `candidates`: the motion
    baseline's proposals on the review pool (for --misses)."""
    from pfes_core.candidate_looks import loose_preset
    from pfes_core.training import TrainConfig
    from pfes_core.warm_start import fine_tune_config

    preset = preset_from_settings()
    base = TrainConfig.from_preset("cpu", device="cpu", seed=seed)
    if args.epochs:
        base = replace(base, epochs=args.epochs)
    if args.steps_per_epoch is not None:
        base = replace(base, max_steps_per_epoch=args.steps_per_epoch or None)
    if args.me_repeats is not None:
        base = replace(base, me_step_repeats=args.me_repeats)
    n = args.members
    test_ids = [v.video_id for v in test]
    n_clicks = sum(len(v.points) for v in labelled)
    states0, t_first = first_training(labelled, base, n, args)

    def models(states):
        return [st.model for st in states]

    first = report(spot(models(states0), test, preset, base.predict_chunk), truth, test_ids)
    print(f"seed {seed} round 0: F1 {first['f1']:.3f} (MaE {first['mae']:.3f}, ME {first['me']:.3f}), "
          f"{t_first:.0f} s", flush=True)
    out = {"round0": {**first, "seconds": t_first}, "clicks": n_clicks, "variants": {}}
    if args.ceiling:
        t = time.monotonic()
        states = train_members(labelled + fully_labelled(review, truth), base, n)
        out["ceiling"] = {**report(spot(models(states), test, preset, base.predict_chunk), truth, test_ids),
                          "seconds": time.monotonic() - t}
        print(f"seed {seed} ceiling: F1 {out['ceiling']['f1']:.3f}", flush=True)
    for key in args.variants:
        name, opts = VARIANTS[key]
        oracle = Oracle(truth, adjust=args.adjust, reclass=args.reclass)
        states, cfg = states0, base
        rows = []
        reviewing = opts.get("review", True)
        for r in range(1, args.rounds + 1):
            decided = {}
            if reviewing:
                shown = spot(models(states), review, preset, cfg.predict_chunk)
                decided = oracle.review(shown, args.budget, args.order)
            if args.fill_looks and reviewing:
                # proposals ran out before the budget (a first training on a few labels can propose
                # nothing): the rest of the budget goes to the queue's looks, as the desk then says
                left = budget_left(decided, args.budget)
                if left:
                    loose = spot(models(states), review, loose_preset(preset), cfg.predict_chunk)
                    decided["fill_clicked"] = oracle.visit_misses(loose, shown, left)
            if args.misses and reviewing:
                if args.miss_source == "model":     # the model's own runs below the proposal scores
                    candidates = spot(models(states), review, loose_preset(preset), cfg.predict_chunk)
                decided["clicked"] = oracle.visit_misses(candidates, shown, args.misses)
            if args.scans and reviewing:
                decided["scan_clicks"] = oracle.scan({v.video_id: (len(v.model_input), v.fps) for v in review},
                                                     args.scans)
            videos = training_set(labelled, review, oracle, opts["reviews"],
                                  opts.get("intensity_negatives", False), opts.get("negative_weight", 1.0),
                                  opts.get("looked", False))
            t = time.monotonic()
            if opts["warm"]:
                cfg = fine_tune_config(cfg, states[0].epoch, args.warm_epochs, f"round{r - 1}",
                                       reviews=opts["reviews"])
                if args.warm_lr:
                    cfg = replace(cfg, lr=args.warm_lr)
                states = train_members(videos, cfg, n, parents=states)
            else:
                cfg = replace(base, reviews=opts["reviews"])
                states = train_members(videos, cfg, n)
            secs = time.monotonic() - t
            res = report(spot(models(states), test, preset, cfg.predict_chunk), truth, test_ids)
            row = {"round": r, **res, **decided, "found": len(oracle.found), "actions": oracle.actions,
                   "seconds": secs}
            rows.append(row)
            print(f"seed {seed} {name} round {r}: F1 {res['f1']:.3f} (MaE {res['mae']:.3f}, "
                  f"ME {res['me']:.3f}), found {len(oracle.found)}, actions {oracle.actions}, "
                  f"{secs:.0f} s", flush=True)
        out["variants"][key] = rows
        if args.final_full and opts["warm"] and reviewing and rows:
            # the same labels and decisions, trained from scratch: does the warm chain waste them?
            t = time.monotonic()
            states = train_members(videos, replace(base, reviews=opts["reviews"]), n)
            res = report(spot(models(states), test, preset, base.predict_chunk), truth, test_ids)
            out.setdefault("final_full", {})[key] = {**res, "seconds": time.monotonic() - t}
            print(f"seed {seed} {name}, then a full retrain: F1 {res['f1']:.3f} (MaE {res['mae']:.3f}, "
                  f"ME {res['me']:.3f})", flush=True)
        if args.sample_check and reviewing and oracle.found:
            check = sample_check(labelled, review, truth, oracle.found, base, n, seed, test, preset, test_ids)
            out.setdefault("sample_check", {})[key] = check
            print(f"seed {seed} {name}: the {check['found']['labels']} found ({check['found']['me_labels']} ME) at "
                  f"true apexes F1 {check['found']['f1']:.3f}; as many at random ({check['random']['me_labels']} "
                  f"ME) {check['random']['f1']:.3f}", flush=True)
    return out


def baseline_proposals(videos, rois) -> dict[str, list[Interval]]:
    from pfes_core.baseline import baseline_predict

    preset = preset_from_settings()
    return {v.video_id: baseline_predict(rois[v.video_id], preset_for_fps(preset, v.fps), v.video_id, v.fps)[2]
            for v in videos}


def baseline_review(review, truth, rois, budget_total: int, adjust: bool = False,
                    reclass: bool = False) -> dict:
    oracle = Oracle(truth, adjust=adjust, reclass=reclass)
    oracle.review(baseline_proposals(review, rois), budget_total)
    return {"found": len(oracle.found), "actions": oracle.actions}


def baseline_test(test, truth, rois) -> dict:
    return report(baseline_proposals(test, rois), truth, [v.video_id for v in test])


def tables(doc: dict) -> str:
    """The per-round table; a variant is named by the run's own record (`names`, so tables of
    runs made with earlier code keep their meaning), else by VARIANTS."""
    seeds = doc["seeds"]
    names = doc.get("names", {})
    n_review_gt = doc["meta"]["review_gt"]
    clicks = doc["meta"]["clicks"]
    lines = ["| workflow | round | test F1 (overall) | MaE | ME | found in review pool | "
             "review actions | actions per found | clicks + review actions per expression | train s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def per_found(actions, found):
        return f"{actions / found:.2f}" if found else "- (none found)"

    def whole(actions, found):
        """The workflow's cost: each initial click labels one expression, then the review."""
        return f"{(clicks + actions) / (clicks + found):.2f}"

    def mean(rows, k):
        return float(np.mean([r[k] for r in rows]))

    r0 = list({s["seed"]: s["round0"] for s in seeds}.values())    # one per training seed
    k = doc["meta"].get("labelled_subjects")
    whose = f"1 video of each of the first {k} subjects" if k else "1 video/subject"
    lines.append(f"| first training (labels of {whose}) | 0 | {pooled_f1(r0):.3f} | {mean(r0, 'mae'):.3f} | "
                 f"{mean(r0, 'me'):.3f} | 0 / {n_review_gt} | 0 | - | {whole(0, 0)} | {mean(r0, 'seconds'):.0f} |")
    variants = list(dict.fromkeys(k for s in seeds for k in s["variants"]))
    for key in variants:
        name = names.get(key) or VARIANTS[key][0]
        having = [s for s in seeds if key in s["variants"]]
        for r in range(max(len(s["variants"][key]) for s in having)):
            rows = [s["variants"][key][r] for s in having if len(s["variants"][key]) > r]
            name_r = f"{name} (seeds {', '.join(str(s['seed']) for s in having)})" if r == 0 else name
            found, actions = mean(rows, "found"), mean(rows, "actions")
            lines.append(f"| {name_r} | {r + 1} | {pooled_f1(rows):.3f} | {mean(rows, 'mae'):.3f} | {mean(rows, 'me'):.3f} | "
                         f"{found:.1f} / {n_review_gt} | {actions:.1f} | "
                         f"{per_found(actions, found)} | {whole(actions, found)} | {mean(rows, 'seconds'):.0f} |")
        finals = [s["final_full"][key] for s in having if key in s.get("final_full", {})]
        if finals:
            lines.append(f"| then a full retrain on everything the rounds gathered | - | {pooled_f1(finals):.3f} | "
                         f"{mean(finals, 'mae'):.3f} | {mean(finals, 'me'):.3f} | - | - | - | - | "
                         f"{mean(finals, 'seconds'):.0f} |")
        for sample, what in (("found", "the expressions review found, at their true apexes"),
                             ("random", "as many expressions of the pool drawn at random, at their true apexes")):
            rows = [s["sample_check"][key][sample] for s in having if key in s.get("sample_check", {})]
            if rows:
                lines.append(f"| full retrain on {what} ({mean(rows, 'labels'):.1f} labels, "
                             f"{mean(rows, 'me_labels'):.1f} ME) | - | {pooled_f1(rows):.3f} | {mean(rows, 'mae'):.3f} | "
                             f"{mean(rows, 'me'):.3f} | - | - | - | - | {mean(rows, 'seconds'):.0f} |")
    ceiling = [s["ceiling"] for s in seeds if "ceiling" in s]
    if ceiling:
        # one click per expression, as the first labels are counted
        lines.append(f"| every review expression clicked as a point, full retrain (the loop's ceiling) | - | "
                     f"{pooled_f1(ceiling):.3f} | {mean(ceiling, 'mae'):.3f} | {mean(ceiling, 'me'):.3f} | "
                     f"{n_review_gt} / {n_review_gt} | {n_review_gt} clicks | 1.00 | "
                     f"{whole(n_review_gt, n_review_gt)} | {mean(ceiling, 'seconds'):.0f} |")
    b = doc["baseline_review"]
    lines.append(f"| review motion-baseline proposals (same total budget) | - | {doc['baseline_test']['f1']:.3f} | "
                 f"{doc['baseline_test']['mae']:.3f} | {doc['baseline_test']['me']:.3f} | {b['found']} / {n_review_gt} | "
                 f"{b['actions']} | {per_found(b['actions'], b['found'])} | {whole(b['actions'], b['found'])} | - |")
    lines.append(f"| label every expression by hand | - | - | - | - | {n_review_gt} / {n_review_gt} | "
                 f"{HAND_ACTIONS * n_review_gt} | {HAND_ACTIONS:.2f} | {HAND_ACTIONS:.2f} | - |")
    per_seed = "; ".join(f"seed {s['seed']} {names.get(k) or VARIANTS[k][0]}: " + " / ".join(
        [f"{s['round0']['f1']:.3f}"] + [f"{row['f1']:.3f}" for row in rows])
        for s in seeds for k, rows in s["variants"].items())
    return "\n".join(lines) + f"\n\nTest F1 by round (0, 1, ...) per training seed: {per_seed}\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default="/tmp/pfes_loop/bench.pfes")
    ap.add_argument("--seed", type=int, default=11, help="data seed (a fresh one: never used for tuning)")
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--videos", type=int, default=3, help="videos per subject (>= 3: labelled, review, test)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--labelled-subjects", type=int, default=0, metavar="K",
                    help="only the first K subjects have a labelled video (0: every subject)")
    ap.add_argument("--review-videos", type=int, default=1,
                    help="videos per subject in the review pool (after the labelled one)")
    ap.add_argument("--train-seeds", default="1")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--budget", type=int, default=20, help="proposals reviewed per round")
    ap.add_argument("--warm-epochs", type=int, default=3)
    ap.add_argument("--warm-lr", type=float, default=0.0,
                    help="fine-tuning lr of a warm round (default: the app's, parent lr x WARM_LR_FACTOR)")
    ap.add_argument("--epochs", type=int, default=0, help="override the cpu preset's epochs (first training)")
    ap.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                    help="updates per epoch at most in every training (pfes train --steps-per-epoch; 0: one "
                         "per point group; default: the cpu preset's 12)")
    ap.add_argument("--me-repeats", type=int, default=None, metavar="N",
                    help="passes over each ME point group per pass in every training (pfes train --me-repeats)")
    ap.add_argument("--members", type=int, default=1,
                    help="models per training, seeds SEED..SEED+N-1, outputs averaged (pfes train --members)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--order", choices=("score", "time", "classes", "quantile"), default="score",
                    help="review order: highest score first, along each video's timeline, the classes "
                         "taking turns, or each class by its rank within the class (review_order)")
    ap.add_argument("--misses", type=int, default=0,
                    help="per round, also look at up to N motion candidates the model proposes nothing "
                         "at, clicking the expressions found there (Oracle.visit_misses)")
    ap.add_argument("--miss-source", choices=("motion", "model"), default="motion",
                    help="where --misses looks: the motion baseline's proposals, or the model's own "
                         "candidate runs whatever their score")
    ap.add_argument("--fill-looks", action="store_true",
                    help="per round, spend what the proposals leave of --budget on the model's own "
                         "candidate runs (the queue's looks), as the desk advises when a run proposes too few")
    ap.add_argument("--scans", type=int, default=0,
                    help="per round, also scan the next N stretches the desk offers (6 s each), clicking "
                         "every expression there (Oracle.scan: one action per stretch and per click)")
    ap.add_argument("--final-full", action="store_true",
                    help="after a warm variant's last round, also train from scratch on the same labels and "
                         "decisions (is the warm chain what loses the gain?)")
    ap.add_argument("--round0-cache", metavar="DIR",
                    help="keep round 0's models here and reuse them in later runs of the same project, "
                         "seed, members and epochs (workflows compared in separate runs share round 0)")
    ap.add_argument("--sample-check", action="store_true",
                    help="after a reviewing variant's rounds, also train from scratch on the expressions review "
                         "found and on as many pool expressions drawn at random, both at their true apexes")
    ap.add_argument("--ceiling", action="store_true",
                    help="also train from scratch with every review expression labelled (the loop's upper bound)")
    ap.add_argument("--adjust", action="store_true",
                    help="the oracle adjusts same-class near misses (IoU < 0.5) instead of rejecting them")
    ap.add_argument("--reclass", action="store_true",
                    help="the oracle accepts a proposal on an expression of the other class as that class "
                         "(the desk's 'accept as the other class') instead of rejecting it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--from-json", nargs="+", metavar="FILE", help="pool the seeds of earlier runs into one table")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    if not 0 <= args.labelled_subjects <= args.subjects:
        ap.error(f"--labelled-subjects must be 0..{args.subjects} (0: every subject)")
    args.variants = [v for v in args.variants.split(",") if v]
    command = "python benchmarks/bench_review_loop.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        docs = [json.loads(Path(f).read_text()) for f in args.from_json]
        doc = {**docs[0], "seeds": [s for d in docs for s in d["seeds"]],
               "names": {k: v for d in docs for k, v in d.get("names", {}).items()},
               "commands": [d["command"] for d in docs] + [command]}
    else:
        import torch

        torch.set_num_threads(args.threads)
        root = build_project(args)
        labelled, review, test, truth, rois = load(root, args.review_videos, args.labelled_subjects)
        review_gt = sum(len(truth[v.video_id]) for v in review)
        candidates = baseline_proposals(review, rois) if args.misses and args.miss_source == "motion" else None
        t0 = time.monotonic()
        seeds = []
        for s in [int(x) for x in args.train_seeds.split(",") if x]:
            seeds.append({"seed": s, **run_seed(args, labelled, review, test, truth, s, candidates)})
        doc = {"command": command, "commands": [command], "variants": args.variants, "rounds": args.rounds,
               "names": {k: VARIANTS[k][0] for k in args.variants},
               "budget": args.budget, "order": args.order, "misses": args.misses, "miss_source": args.miss_source,
               "scans": args.scans, "fill_looks": args.fill_looks, "seeds": seeds, "members": args.members, "warm_lr": args.warm_lr,
               "baseline_review": baseline_review(review, truth, rois, args.budget * args.rounds, args.adjust,
                                                  args.reclass),
               "adjust": args.adjust, "reclass": args.reclass,
               "baseline_test": baseline_test(test, truth, rois),
               "meta": {"videos": len(labelled) + len(review) + len(test), "labelled": len(labelled),
                        "review": len(review), "test": len(test), "review_gt": review_gt,
                        "test_gt": sum(len(truth[v.video_id]) for v in test),
                        "clicks": sum(len(v.points) for v in labelled), "seconds": args.seconds,
                        "review_videos_per_subject": args.review_videos,
                        "labelled_subjects": args.labelled_subjects,
                        "data_seed": args.seed, "minutes": (time.monotonic() - t0) / 60}}
        if args.json:
            Path(args.json).write_text(json.dumps(doc, indent=1))
    table = tables(doc)
    print(table)
    if not args.no_append:
        import torch

        from results_md import append_section, machine_line

        m = doc["meta"]
        text = (machine_line(f", torch {torch.__version__}, 1 torch thread per process")
                + "".join(f"- command: `{c}`\n" for c in doc["commands"])
                + f"- data: data seed {m['data_seed']} (fresh), {m['videos']} videos x {m['seconds']:.0f} s at 25 fps; "
                + (f"1 labelled video for each of the first {m['labelled_subjects']} subjects (the others' "
                   "first video joins the review pool)" if m.get("labelled_subjects") else "per subject 1 labelled")
                + f" ({m['clicks']} point labels in all), "
                f"{m.get('review_videos_per_subject', 1)} review, the rest test "
                f"({m['test_gt']} GT in test videos, {m['review_gt']} in the review pool); budget "
                f"{doc['budget']} proposals per round, {doc['rounds']} rounds; training seeds "
                f"{[s['seed'] for s in doc['seeds']]}"
                + (f", each the average of {doc['members']} models (seeds S..S+{doc['members'] - 1})"
                   if doc.get("members", 1) > 1 else "")
                + f" (F1 pooled over seeds, other columns averaged)\n\n{table}\n")
        append_section("Review loop, simulated annotator", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
