"""`--shard K/N` without Ray: every video in exactly one share, shares balanced by frames, the same
split in every job of an array; sharded spotting merges into one predictions file (also when
two jobs write at once); the engine options fail clearly without Ray or a reachable cluster."""

from __future__ import annotations

import multiprocessing
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfes_core import runs
from pfes_core.cli import main
from pfes_core.engine.shards import parse_shard, select_videos, shard_videos, update_predictions
from pfes_core.errors import PfesError, ProjectError

from test_training import make_project, make_videos


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text("abcxyz0123", min_size=1, max_size=6), st.integers(0, 10_000),
                       max_size=40), st.integers(1, 9))
def test_shares_partition_the_videos_and_are_balanced(frames, n):
    shares = [shard_videos(frames, k, n) for k in range(1, n + 1)]
    flat = [v for s in shares for v in s]
    assert sorted(flat) == sorted(frames)                       # each video exactly once
    for s in shares:                                            # project order kept
        assert s == [v for v in frames if v in s]
    loads = [sum(max(frames[v], 1) for v in s) for s in shares]
    if frames:
        assert max(loads) - min(loads) <= max(max(f, 1) for f in frames.values())
    # the same split whatever order the jobs see the project in
    reordered = dict(reversed(list(frames.items())))
    assert [sorted(shard_videos(reordered, k, n)) for k in range(1, n + 1)] == [sorted(s) for s in shares]


def test_shard_spelling_and_selection():
    assert parse_shard("2/8") == (2, 8) and parse_shard(" 1 / 1 ") == (1, 1)
    for bad, why in (("0/4", "1 <= K <= N"), ("5/4", "1 <= K <= N"), ("1/0", "1 <= K <= N"),
                     ("2of8", "K/N"), ("", "K/N")):
        with pytest.raises(PfesError, match=why):
            parse_shard(bad)
    frames = {"a": 100, "b": 300, "c": 200, "d": 100}
    assert select_videos(frames) == ["a", "b", "c", "d"]
    # longest first, each to the lightest share: b->1, c->2, a->2, d->1 (tie: the lower share)
    assert select_videos(frames, shard="1/2") == ["b", "d"]
    assert select_videos(frames, shard="2/2") == ["a", "c"]
    assert select_videos(frames, ["c", "a", "c"]) == ["c", "a"]
    assert select_videos(frames, ["c", "a"], "2/2") == ["a"]
    with pytest.raises(ProjectError, match="unknown video ids: zz"):
        select_videos(frames, ["a", "zz"])


def test_cli_refuses_a_bad_shard_and_an_address_without_ray_engine(tmp_path, capsys):
    root = make_project(tmp_path, make_videos(seed=1, n=2, subjects=2), unlabelled=0)
    assert main(["extract", str(root), "--shard", "3/2"]) == 1
    assert "--shard K/N needs 1 <= K <= N (got 3/2" in capsys.readouterr().err
    assert main(["extract", str(root), "--ray-address", "auto"]) == 1
    assert "--ray-address is for --engine ray" in capsys.readouterr().err


def test_engine_ray_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    root = make_project(tmp_path, make_videos(seed=1, n=2, subjects=2), unlabelled=0)
    monkeypatch.setitem(sys.modules, "ray", None)           # as on a machine without Ray
    for argv in (["extract", str(root), "--engine", "ray"],
                 ["train", str(root), "--loso", "--engine", "ray", "--progress", "none"],
                 ["evaluate", str(root), "--engine", "ray"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "error: --engine ray needs Ray" in err and "pip install 'pfes-studio[cluster]'" in err, argv
    assert runs.list_runs(root) == []                           # refused before a run folder exists


def test_unreachable_cluster_is_one_clear_line(tmp_path, capsys):
    pytest.importorskip("ray", reason="needs Ray: pip install 'pfes-studio[cluster]'")
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray instance is running in this process")
    root = make_project(tmp_path, make_videos(seed=1, n=1), unlabelled=0)
    assert main(["extract", str(root), "--engine", "ray", "--ray-address", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: cannot reach the Ray cluster at 127.0.0.1:1 (")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("shards"), make_videos(seed=4, n=3, subjects=1),
                        unlabelled=1)
    assert main(["train", str(root), "--epochs", "1", "--device", "cpu", "--progress", "none"]) == 0
    return root, runs.list_runs(root)[-1]


def test_sharded_spotting_merges_into_one_predictions_file(trained):
    root, run = trained
    path = run.path / "predictions.h5"
    assert main(["spot", str(root), "--progress", "none"]) == 0
    whole = runs.read_predictions(path)
    path.unlink()
    for k in (1, 2, 3):
        assert main(["spot", str(root), "--shard", f"{k}/3", "--progress", "none"]) == 0
    merged = runs.read_predictions(path)
    assert set(merged) == set(whole) == {"v0", "v1", "v2", "unlabelledv0"}
    for v in whole:
        np.testing.assert_array_equal(merged[v].intensity, whole[v].intensity)
        assert merged[v].proposals == whole[v].proposals
    # --videos replaces only those videos' predictions
    assert main(["spot", str(root), "--videos", "v1", "--progress", "none"]) == 0
    assert set(runs.read_predictions(path)) == set(whole)


def _merge_one(path: str, vid: str, n: int, barrier) -> None:
    barrier.wait()
    update_predictions(path, {vid: (np.full(n, 0.1, np.float32), np.zeros((n, 2), np.float32))},
                       {vid: 25.0}, None, {vid: None})


def test_shards_finishing_together_lose_nothing(tmp_path):
    path = tmp_path / "predictions.h5"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_merge_one, args=(str(path), f"v{i}", 50, barrier)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    assert set(runs.read_predictions(path)) == {"v0", "v1", "v2", "v3"}
