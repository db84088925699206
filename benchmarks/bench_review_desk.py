"""Review desk: the cost of working out every proposal's state after an edit.

After each label or review edit (a key press) the review dock, the timeline and the video list
each ask for the state of their proposals. Since a decision carries to the same expression in
later runs and a labelled proposal is settled (`pfes_gui.review_commands.review_state`), a state
is an index lookup, a search among the decisions of the same video and class, and a label range
query; the answers are kept until a label or decision changes, so the first view pays and the
other two read them back. This times one pass over every proposal: this run's decision alone
(`status_of`, the dictionary lookup the states replaced), the first view after an edit, a later
view, and the three views per edit with and without the kept answers, on a large project: 2,000
proposals of the shown run, 1,000 to 8,000 decisions of five earlier runs and 500 labels over 10
videos. A review edit also rebuilds its video and class's part of the decision index (timed apart).

    python benchmarks/bench_review_desk.py [--no-append]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from types import SimpleNamespace

from pfes_core.labels import AddLabel, LabelStore
from pfes_core.reviews import ReviewDecision, ReviewStore, SetReview
from pfes_core.types import Interval
from pfes_gui.review_commands import _review_state, review_state, status_of
from results_md import record

N_VIDEOS, N_FRAMES = 10, 90_000


def make_project(n_decisions: int, n_labels: int, seed: int = 0):
    rng = random.Random(seed)
    labels = LabelStore()
    state = SimpleNamespace(labels=labels, videos={f"v{i}": SimpleNamespace(n_frames=N_FRAMES + 100)
                                                   for i in range(N_VIDEOS)})
    for i in range(n_labels):
        AddLabel(f"v{i % N_VIDEOS}", rng.randrange(N_FRAMES), rng.choice(["MaE", "ME"]), "a").apply(state)
    decisions = []
    for i in range(n_decisions):
        on = rng.randrange(N_FRAMES)
        decisions.append(ReviewDecision(f"v{i % N_VIDEOS}", f"run{i % 5}", rng.choice(["MaE", "ME"]),
                                        on, on + 6, on + rng.randrange(8, 40), 0.5,
                                        rng.choice(["accepted", "rejected"]), None, "a", float(i)))
    return SimpleNamespace(labels=labels, reviews=ReviewStore(decisions))


def proposals(n: int, seed: int = 1) -> list[Interval]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        on = rng.randrange(N_FRAMES)
        out.append(Interval(f"v{i % N_VIDEOS}", rng.choice(["MaE", "ME"]), on, on + 6, on + 12, 0.5))
    return out


def time_refresh(fn, project, props, repeats: int) -> float:
    """Median ms of one pass of `fn` over every proposal, nothing edited between passes."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for p in props:
            fn(project, "shown", p)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def time_views(project, props, repeats: int) -> tuple[float, float]:
    """Median ms of (the first view's pass, a later view's pass) after an edit. The edit is a label
    past every proposal: it changes no state, only the labels' revision, as any edit does."""
    first, later = [], []
    for i in range(repeats):
        AddLabel("v0", N_FRAMES + 1 + i, "MaE", "a").apply(SimpleNamespace(
            labels=project.labels, videos={"v0": SimpleNamespace(n_frames=N_FRAMES + 100)}))
        for out in (first, later):
            t = time.perf_counter()
            for p in props:
                review_state(project, "shown", p)
            out.append(1000 * (time.perf_counter() - t))
    return statistics.median(first), statistics.median(later)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proposals", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    props = proposals(args.proposals)
    rows = []
    for n_dec in (1000, 4000, 8000):
        project = make_project(n_dec, 500)
        review_state(project, "shown", props[0])          # the index, built when the run is shown
        edit = SetReview.for_proposal("shown", props[0], "rejected")
        edit.apply(SimpleNamespace(reviews=project.reviews,
                                   videos={props[0].video: SimpleNamespace(n_frames=N_FRAMES + 100)}))
        t = time.perf_counter()
        review_state(project, "shown", props[1])          # rebuilds the edited group only
        build = 1000 * (time.perf_counter() - t)
        carried = sum(review_state(project, "shown", p)[0] is not None for p in props)
        uncached = time_refresh(_review_state, project, props, args.repeats)
        first, later = time_views(project, props, args.repeats)
        rows.append((n_dec, time_refresh(status_of, project, props, args.repeats), uncached, first, later,
                     build, carried))
    lines = ["| earlier decisions | this run's decision only (ms) | states, first view after an edit (ms) | "
             "each later view (ms) | three views per edit, answers kept (ms) | three views, each working "
             "them out (ms) | index update after a review edit (ms) | proposals carried or settled |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n_dec, old, uncached, first, later, build, carried in rows:
        lines.append(f"| {n_dec} | {old:.1f} | {first:.1f} | {later:.1f} | {first + 2 * later:.1f} | "
                     f"{3 * uncached:.1f} | {build:.1f} | {carried} / {len(props)} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_append:
        record("Review desk state refresh", "bench_review_desk.py", argv,
               f"{len(props)} proposals of the shown run over {N_VIDEOS} videos, 500 labels; a pass goes "
               f"over every proposal (what each of the review dock, the timeline and the video list "
               f"does after an edit), median of {args.repeats}", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
