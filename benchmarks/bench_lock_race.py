"""Stale-lock takeover race: N processes try to take over the same stale project.lock at once.

Each round writes a lock left by a dead process of this host, releases N processes through a
barrier into ProjectLock.acquire(), and counts how many hold the lock at the same time (each
holder also creates an O_EXCL marker file, so two holders are caught even if the counts race).
The lock must be held by exactly one process per round. ``--jitter`` adds a random 0-1 ms pause
after every read of the lock file, which widens the window a naive takeover loses in.

    python benchmarks/bench_lock_race.py --rounds 500 --processes 6 --jitter
    python benchmarks/bench_lock_race.py --lock-module /path/to/old/lock.py   # compare a version
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import random
import socket
import sys
import tempfile
import time
from pathlib import Path


def _load_lock_module(path: str | None):
    if path is None:
        from pfes_core import lock
        return lock
    spec = importlib.util.spec_from_file_location("pfes_core._raced_lock", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "pfes_core"
    spec.loader.exec_module(module)
    return module


def _worker(root: str, rounds: int, barrier, holders, giveups, clashes, jitter: bool, lock_module: str | None):
    lock_mod = _load_lock_module(lock_module)
    if jitter:
        plain = lock_mod.read_lock
        rng = random.Random(os.getpid())

        def slow_read(path):
            info = plain(path)
            time.sleep(rng.random() / 1000)
            return info

        lock_mod.read_lock = slow_read
    marker = os.path.join(root, "holder.marker")
    for r in range(rounds):
        barrier.wait()                      # the stale lock is in place
        lock = lock_mod.ProjectLock(root)
        held = False
        try:
            lock.acquire()
            held = True
        except lock_mod.ProjectLockedError as exc:
            if "try again" in str(exc):
                with giveups.get_lock():
                    giveups.value += 1
        if held:
            with holders.get_lock():
                holders[r] += 1
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                with clashes.get_lock():
                    clashes.value += 1
        barrier.wait()                      # everyone has tried
        if held:
            try:
                os.unlink(marker)
            except FileNotFoundError:
                pass
            lock.release()
        barrier.wait()                      # the round is over


def race(rounds: int, processes: int = 6, jitter: bool = False, lock_module: str | None = None,
         workdir: str | None = None) -> dict:
    """Run the race; returns counts (rounds with 0 / 1 / several holders, marker clashes, give-ups)."""
    ctx = mp.get_context("fork")
    dead = ctx.Process(target=int)
    dead.start()
    dead.join()
    stale = json.dumps({"pid": dead.pid, "hostname": socket.gethostname(), "time": 1.0, "token": "dead"})
    with tempfile.TemporaryDirectory(dir=workdir) as root:
        barrier = ctx.Barrier(processes + 1)
        holders = ctx.Array("i", rounds)
        giveups, clashes = ctx.Value("i", 0), ctx.Value("i", 0)
        procs = [ctx.Process(target=_worker, args=(root, rounds, barrier, holders, giveups, clashes, jitter,
                                                   lock_module)) for _ in range(processes)]
        for p in procs:
            p.start()
        lock_path = Path(root) / "project.lock"
        start = time.perf_counter()
        for _ in range(rounds):
            lock_path.write_text(stale)
            barrier.wait()
            barrier.wait()
            barrier.wait()
        seconds = time.perf_counter() - start
        for p in procs:
            p.join(timeout=30)
        counts = list(holders)
    return {"rounds": rounds, "processes": processes, "jitter": jitter,
            "no_holder": sum(c == 0 for c in counts), "one_holder": sum(c == 1 for c in counts),
            "several_holders": sum(c > 1 for c in counts), "marker_clashes": clashes.value,
            "give_ups": giveups.value, "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=500)
    ap.add_argument("--processes", type=int, default=6)
    ap.add_argument("--jitter", action="store_true")
    ap.add_argument("--lock-module", default=None, help="race this lock.py instead of pfes_core.lock")
    args = ap.parse_args()
    res = race(args.rounds, args.processes, args.jitter, args.lock_module)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"command: python {' '.join(sys.argv)}")
    print()
    print("| measure | result |")
    print("|---|---|")
    for key, value in res.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
