"""Issue 16, item 6: inputs that gave tracebacks give one `error:` line, exit 1, write nothing.

Deeply nested JSON, a read-only project (every write command), journal.jsonl being a folder, an
overlong --id, features of the wrong shape or claiming 1e9 frames, a garbage predictions.h5, a
checkpoint declaring width 200,000 (refused before the network is built), `labels export` into a
missing folder, malformed media files. And the entry point itself: anything unexpected is one
`error: internal error: ...` line with a --debug hint, not a traceback and not silence.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from inputs_common import (T, assert_one_error, finished_run, make_project, run_cli, tree_state,
                           write_checkpoint, write_features)

from pfes_core.project import Project


# ---- label files, journal, ids, export targets --------------------------------------------------
def test_json_nested_100000_deep(tmp_path, capsys):
    root = make_project(tmp_path, run_status=None)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    before = tree_state(root)
    code, _, err = run_cli(capsys, "labels", "import", root, deep)
    assert_one_error(code, err, "deep.json")
    assert tree_state(root) == before


def test_journal_that_is_a_folder(tmp_path, capsys):
    root = make_project(tmp_path, run_status=None)
    journal = root / "journal.jsonl"
    if journal.exists():
        journal.unlink()
    journal.mkdir()
    before = tree_state(root)
    for argv in (("labels", "list", root), ("add-video", root, tmp_path / "x.mp4")):
        code, _, err = run_cli(capsys, *argv)
        assert_one_error(code, err, "journal.jsonl")
    assert tree_state(root) == before


def test_overlong_video_id(tmp_path, tiny_video, capsys):
    root = make_project(tmp_path, run_status=None)
    before = tree_state(root)
    code, _, err = run_cli(capsys, "add-video", root, tiny_video, "--id", "v" * 300)
    assert_one_error(code, err, "invalid video id")
    assert tree_state(root) == before
    with Project.open(root, readonly=True) as p:
        assert sorted(p.videos) == ["a", "b"]


def test_labels_export_into_a_missing_folder(tmp_path, capsys):
    root = make_project(tmp_path, run_status=None)
    target = tmp_path / "missing" / "labels.csv"
    code, _, err = run_cli(capsys, "labels", "export", root, target)
    assert_one_error(code, err, "missing")
    assert not target.parent.exists()


# ---- features, predictions, checkpoints ---------------------------------------------------------
def test_features_of_the_wrong_shape_or_claiming_1e9_frames(tmp_path, capsys):
    root = make_project(tmp_path)
    finished_run(root)
    path = root / "features" / "a.h5"
    with h5py.File(path, "r+") as h5:
        del h5["roi_vectors"]
        h5.create_dataset("roi_vectors", data=np.zeros((T, 12), np.float32))
    before = tree_state(root)
    for argv in (("spot", root, "--progress", "none"),
                 ("train", root, "--epochs", "1", "--device", "cpu", "--progress", "none")):
        code, _, err = run_cli(capsys, *argv)
        assert_one_error(code, err, "a.h5", "roi_vectors")
    with Project.open(root) as p:
        write_features(p, "a", T)
    with h5py.File(path, "r+") as h5:
        h5.attrs["n_frames"] = 10**9
        del h5["model_input"]
        h5.create_dataset("model_input", shape=(10**9, 17, 10, 2), dtype="f4",
                          chunks=(256, 17, 10, 2), compression="gzip")
    before = tree_state(root)
    code, _, err = run_cli(capsys, "spot", root, "--progress", "none")
    assert_one_error(code, err, "a.h5", "n_frames 1000000000")
    assert tree_state(root) == before


def _garbage_predictions(path: Path, kind: str) -> None:
    if kind == "bytes":
        path.write_bytes(os.urandom(4096))
        return
    with h5py.File(path, "r+") as h5:
        g = h5["videos"][sorted(h5["videos"])[0]]
        if kind == "no-videos":
            del h5["videos"]
        elif kind == "proposal-out-of-range":
            rows = g["proposals"][()]
            rows["offset"][0] = 10**12
            del g["proposals"]
            g.create_dataset("proposals", data=rows)
        elif kind == "huge-intensity":
            del g["intensity"]
            g.create_dataset("intensity", shape=(10**9,), dtype="f4", chunks=(4096,),
                             compression="gzip")
        elif kind == "proposals-not-a-table":
            del g["proposals"]
            g.create_dataset("proposals", data=np.arange(5))


@pytest.mark.parametrize("kind", ["bytes", "no-videos", "proposal-out-of-range", "huge-intensity",
                                  "proposals-not-a-table"])
def test_garbage_predictions_in_evaluate_and_export(tmp_path, capsys, kind):
    root = make_project(tmp_path)
    info = finished_run(root)
    _garbage_predictions(info.path / "predictions.h5", kind)
    before = tree_state(root)
    code, out, err = run_cli(capsys, "evaluate", root, "--json")
    assert_one_error(code, err, "predictions.h5")
    assert out == ""
    target = tmp_path / "out.csv"
    code, _, err = run_cli(capsys, "export", root, target, "--format", "csv")
    assert_one_error(code, err, "predictions.h5")
    assert not target.exists() and tree_state(root) == before


@pytest.mark.parametrize("overrides, fragment", [
    ({"width": 200_000}, "model_config.width = '200000' is outside 1..1024"),
    ({"heads": 0}, "model_config.heads"),
    ({"width": "wide"}, "model_config.width = 'wide' is not an integer"),
    ({"hidden_dropout": float("nan")}, "model_config.hidden_dropout"),
    ({"width": 64}, "not of width 64"),
])
def test_crafted_checkpoint_config_is_refused_before_building(tmp_path, capsys, overrides, fragment):
    root = make_project(tmp_path)
    info = finished_run(root)
    write_checkpoint(info.path / "checkpoint.pt", **overrides)
    before = tree_state(root)
    code, _, err = run_cli(capsys, "spot", root, "--progress", "none")
    assert_one_error(code, err, "checkpoint.pt", fragment)
    assert tree_state(root) == before


def test_spot_with_a_sound_checkpoint_still_works(tmp_path, capsys):
    root = make_project(tmp_path)
    finished_run(root)
    code, out, err = run_cli(capsys, "spot", root, "--progress", "none")
    assert code == 0, err
    assert "proposals in 2 videos" in out


# ---- media files --------------------------------------------------------------------------------
def _bad_media(tmp_path: Path, tiny_video: Path) -> dict[str, Path]:
    good = tiny_video.read_bytes()
    files = {"random bytes": os.urandom(20_000), "empty": b"", "first 2 kB": good[:2000],
             "second half": good[len(good) // 2:], "text": b"not a video\n" * 50}
    out = {}
    for k, (name, data) in enumerate(files.items()):
        out[name] = tmp_path / f"bad{k}.mp4"
        out[name].write_bytes(data)
    # Metadata text that is not UTF-8 (PyAV used to raise UnicodeDecodeError opening it).
    import av

    with av.open(str(tmp_path / "titled.mp4"), "w") as dst:
        dst.metadata["title"] = "QQQQQQQQQQQQ"
        stream = dst.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * k, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    data = (tmp_path / "titled.mp4").read_bytes()
    assert b"QQQQQQQQQQQQ" in data
    bad_meta = tmp_path / "bad-meta.mp4"
    bad_meta.write_bytes(data.replace(b"QQQQQQQQQQQQ", b"\xbf\xfe" * 6))
    return out, bad_meta


def test_malformed_media_files(tmp_path, tiny_video, capsys):
    root = make_project(tmp_path, run_status=None)
    before = tree_state(root)
    broken, bad_meta = _bad_media(tmp_path, tiny_video)
    for name, path in broken.items():
        code, _, err = run_cli(capsys, "add-video", root, path)
        assert_one_error(code, err, path.name)
    assert tree_state(root) == before
    # Undecodable metadata text does not matter: the frames are fine, the video is registered.
    code, out, err = run_cli(capsys, "add-video", root, bad_meta)
    assert code == 0, err
    assert "added bad-meta: 10 frames" in out


# ---- a read-only project --------------------------------------------------------------------------
def _read_only_runner(root: Path):
    """argv prefix running a command with `root` read-only: a read-only bind mount in a private
    mount namespace as root (permissions do not stop root), chmod otherwise."""
    if os.geteuid() != 0:
        for p in [root, *root.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return lambda argv: argv
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: cannot make a folder read-only")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind '{root}' '{root}' && "
                            f"mount -o remount,bind,ro '{root}' && ! touch '{root}/x'"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no private mount namespace here: cannot make a folder read-only as root")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return lambda argv: ["unshare", "-m", "sh", "-c", script, str(root), *argv]


@pytest.mark.slow
def test_every_write_command_on_a_read_only_project(tmp_path, tiny_video):
    root = make_project(tmp_path)
    finished_run(root)
    labels = tmp_path / "labels.json"
    labels.write_text('[{"video": "a", "frame": 7, "class": "ME"}]')
    wrap = _read_only_runner(root)
    before = tree_state(root)
    pfes = [sys.executable, "-m", "pfes_core"]
    commands = [["add-video", root, tiny_video], ["labels", "import", root, labels],
                ["extract", root, "--force", "--progress", "none"],
                ["train", root, "--epochs", "1", "--device", "cpu", "--progress", "none"],
                ["spot", root, "--progress", "none"], ["restore-backup", root],
                ["labels", "export", root, root / "labels.csv"]]
    try:
        for argv in commands:
            proc = subprocess.run(wrap(pfes + [str(a) for a in argv]), capture_output=True,
                                  text=True, timeout=300)
            assert_one_error(proc.returncode, proc.stderr)
            assert tree_state(root) == before, argv
    finally:
        if os.geteuid() != 0:
            for p in [root, *root.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)


# ---- the entry point ------------------------------------------------------------------------------
def test_unexpected_errors_are_one_line_with_a_debug_hint(tmp_path, capsys, monkeypatch):
    from pfes_core.cli import project_cmds

    def broken(args):
        return {}["no such key"]

    monkeypatch.setattr(project_cmds, "cmd_labels_list", broken)
    root = make_project(tmp_path, run_status=None)
    code, _, err = run_cli(capsys, "labels", "list", root)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("error: internal error: KeyError") and "--debug" in lines[0]
    with pytest.raises(KeyError):
        run_cli(capsys, "--debug", "labels", "list", root)

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(project_cmds, "cmd_labels_list", interrupted)
    code, _, err = run_cli(capsys, "labels", "list", root)
    assert code == 130 and err.strip() == "error: interrupted"

    def quoting(args):      # an error quoting a cell that holds a line break
        from pfes_core.errors import LabelError

        raise LabelError("in.csv, line 3: unknown expression class 'smile\nwide'")

    monkeypatch.setattr(project_cmds, "cmd_labels_list", quoting)
    code, _, err = run_cli(capsys, "labels", "list", root)
    assert code == 1 and err.strip() == "error: in.csv, line 3: unknown expression class 'smile\\nwide'"
