"""Two annotators label the demo from the command line: layers, agreement figures worked out by hand,
disagreements, a consensus layer from the agreements, and training on that layer."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from pfes_core import project_file
from pfes_core.cli import main
from pfes_core.project import Project


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_two_annotators_on_the_demo_from_the_cli(small_demo_project, tmp_path, capsys):
    root = tmp_path / "two.pfes"
    shutil.copytree(small_demo_project, root)
    with Project.open(root, readonly=True) as p:
        demo = p.labels.all(["demo"])
        n_frames = {v: r.n_frames for v, r in p.videos.items()}
    n = len(demo)
    assert n >= 3
    # The hand computation below needs demo labels far apart (no label within 7 frames of another).
    for x in demo:
        assert not [y for y in demo if y is not x and y.video == x.video and abs(y.frame - x.frame) <= 7]

    # Annotator "bob": every demo label one frame later, except: the first is missing, the second
    # has the other class, and one extra label far from all others.
    first, second = demo[0], demo[1]
    video = demo[-1].video
    extra = next(f for f in range(5, n_frames[video] - 5)
                 if all(abs(f - x.frame) > 10 for x in demo if x.video == video))
    rows = [(x.video, x.frame + 1, ("ME" if x.cls == "MaE" else "MaE") if x is second else x.cls)
            for x in demo if x is not first] + [(video, extra, "ME")]
    bob_csv = tmp_path / "bob.csv"
    with open(bob_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["video", "frame", "class"])
        w.writerows(rows)
    assert run(capsys, "labels", "import", root, bob_csv, "--annotator", "bob")[0] == 0

    code, out, _ = run(capsys, "labels", "annotators", root, "--json")
    assert code == 0
    assert {r["name"]: r["labels"] for r in json.loads(out)} == {"demo": n, "bob": n}
    code, out, _ = run(capsys, "labels", "list", root, "--annotator", "bob", "--json")
    assert code == 0 and len(json.loads(out)) == n and {x["annotator"] for x in json.loads(out)} == {"bob"}
    code, _, err = run(capsys, "labels", "list", root, "--annotator", "zed")
    assert code == 1 and "unknown annotator 'zed'" in err
    target = tmp_path / "bob_out.csv"
    assert run(capsys, "labels", "export", root, target, "--annotator", "bob")[0] == 0
    assert len(target.read_text().splitlines()) == n + 1

    # By hand: A (demo) n labels, B (bob) n labels; same-class matches: all but the first (missing
    # in B) and the second (other class) -> n - 2; every offset +1; one MaE/ME confusion.
    code, out, _ = run(capsys, "agreement", root, "--tolerance", "3", "--json")
    assert code == 0
    pair = json.loads(out)["pairs"][0]
    assert (pair["a"], pair["b"]) == ("bob", "demo") or (pair["a"], pair["b"]) == ("demo", "bob")
    assert pair["n_a"] == n and pair["n_b"] == n and pair["matched"] == n - 2
    assert pair["f1"] == pytest.approx((n - 2) / n)
    assert pair["precision"] == pytest.approx((n - 2) / n) and pair["recall"] == pytest.approx((n - 2) / n)
    assert abs(pair["median_offset"]) == 1.0 and pair["class_disagreements"] == 1
    assert sum(v["matched"] for v in pair["videos"].values()) == n - 2
    # Tolerance 0: nothing matches (every bob label is one frame off).
    code, out, _ = run(capsys, "agreement", root, "--tolerance", "0", "--json")
    assert json.loads(out)["pairs"][0]["matched"] == 0
    code, out, _ = run(capsys, "agreement", root, "--tolerance", "3")
    assert code == 0 and "overall" in out and "(A) vs" in out

    # Disagreements: demo's first alone, the class conflict, bob's extra alone.
    code, out, _ = run(capsys, "agreement", root, "--annotators", "demo,bob", "--tolerance", "3",
                       "--disagreements", "--json")
    items = json.loads(out)["disagreements"]
    assert sorted((d["kind"], d["frame"]) for d in items) == sorted(
        [("unmatched", first.frame), ("class", second.frame), ("unmatched", extra)])

    # The agreements become the consensus layer (midpoint of f and f + 1 is f), and training uses it.
    code, out, _ = run(capsys, "agreement", root, "--annotators", "demo,bob", "--tolerance", "3",
                       "--accept-agreements", "--json")
    assert code == 0 and json.loads(out)["consensus_added"] == n - 2
    with Project.open(root, readonly=True) as p:
        consensus = p.labels.all(["consensus"])
    assert sorted((x.video, x.frame, x.cls) for x in consensus) == sorted(
        (x.video, x.frame, x.cls) for x in demo if x is not first and x is not second)
    code, _, err = run(capsys, "train", root, "--labels", "zed", "--epochs", "1", "--progress", "none")
    assert code == 1 and "no labels of annotator 'zed'" in err
    code, out, _ = run(capsys, "train", root, "--labels", "consensus", "--epochs", "1", "--device", "cpu",
                       "--json", "--progress", "none")
    assert code == 0
    summary = json.loads(out)
    assert summary["label_snapshot"]["layer"] == "consensus" and summary["label_snapshot"]["count"] == n - 2
    snapshot = json.loads((root / "runs" / summary["run_id"] / "labels.json").read_text())
    assert snapshot["layer"] == "consensus" and {x["annotator"] for x in snapshot["labels"]} == {"consensus"}


def test_an_older_cli_refuses_the_new_project(tmp_path, capsys, monkeypatch):
    assert run(capsys, "init", tmp_path / "p")[0] == 0
    monkeypatch.setattr(project_file, "SCHEMA_VERSION", 1)   # what an app reading schema 1 checks
    code, _, err = run(capsys, "info", tmp_path / "p.pfes")
    assert code == 1
    assert err.startswith("error: ") and "written by a newer P-FES Studio" in err and "update P-FES Studio" in err
