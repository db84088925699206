"""`pfes evaluate` / `pfes export` (and `pfes spot` once a model can be trained) end to end."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from pfes_core import runs
from pfes_core.cli import main
from pfes_core.exports import read_intervals
from pfes_core.labels import AddLabel
from pfes_core.project import Project
from pfes_core.reviews import SetReview
from pfes_core.types import Interval


def _bump_outputs(T, spans):
    """Intensity with flat-topped bumps and apex scores of the given class on each bump."""
    a = np.full(T, 0.02, dtype=np.float32)
    q = np.zeros((T, 2), dtype=np.float32)
    for on, off, c in spans:
        a[on:off + 1] = 0.9
        a[(on + off) // 2] = 0.95
        q[on:off + 1, c] = 0.9
    return a, q


@pytest.fixture
def project_with_run(tmp_path):
    """Two videos at 25 fps with reference intervals and a finished run with saved outputs."""
    root = tmp_path / "p.pfes"
    with Project.create(root) as p:
        p.add_video(tmp_path / "a.mp4", subject="s1", video_id="a", fps=25.0, n_frames=600, fingerprint="fa")
        p.add_video(tmp_path / "b.mp4", subject="s2", video_id="b", fps=25.0, n_frames=600, fingerprint="fb")
        p.add_video(tmp_path / "c.mp4", subject="s2", video_id="c", fps=25.0, n_frames=600, fingerprint="fc")
        p.set_reference([Interval("a", "MaE", 100, 115, 130), Interval("a", "ME", 300, 305, 310),
                         Interval("b", "MaE", 200, 210, 225), Interval("b", "MaE", 400, 410, 420)])
        p.save()
    run_path, run_id = runs.new_run(root)
    runs.write_json(run_path / "config.json", {"loso": False, "epochs": 3})
    runs.write_json(run_path / "labels.json", {"count": 4, "sha256": "abc123", "labels": []})
    outputs = {"a": _bump_outputs(600, [(100, 130, 0), (300, 310, 1)]),       # both right
               "b": _bump_outputs(600, [(200, 225, 0), (500, 530, 0)]),       # one right, one FP
               "c": _bump_outputs(600, [(50, 80, 0)])}                        # no reference
    preds = runs.write_predictions(run_path / "predictions.h5", outputs, {v: 25.0 for v in outputs})
    runs.write_status(run_path, "done")
    return root, run_id, preds


def test_evaluate_json_counts(project_with_run, capsys):
    root, run_id, preds = project_with_run
    assert [(p.cls, p.onset, p.offset) for p in preds["a"].proposals] == [("MaE", 100, 130), ("ME", 300, 310)]
    assert main(["evaluate", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == run_id and out["selection"] == "fixed-epoch"
    o = out["overall"]
    assert (o["tp"], o["fp"], o["fn"], o["n_gt"]) == (3, 1, 1, 4)
    assert out["classes"]["ME"]["f1"] == 1.0
    assert o["f1"] == pytest.approx(6 / 8)
    vids = {v["video"]: v for v in out["videos"]}
    assert set(vids) == {"a", "b"}  # c has no reference
    assert vids["b"]["false_positives"][0]["onset"] == 500
    assert vids["b"]["missed"][0]["onset"] == 400

    assert main(["evaluate", str(root), "--json", "--include-unreferenced"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overall"]["fp"] == 2

    assert main(["evaluate", str(root)]) == 0
    text = capsys.readouterr().out
    assert "overall" in text and "0.7500" in text


def test_export_applies_reviews(project_with_run, tmp_path, capsys):
    root, run_id, preds = project_with_run
    with Project.open(root) as p:
        b = preds["b"].proposals
        p.apply(SetReview.for_proposal(run_id, b[1], "rejected"))
        p.apply(SetReview.for_proposal(run_id, b[0], "adjusted", adjusted=(198, 210, 226)))
        p.apply(SetReview.for_proposal(run_id, preds["a"].proposals[0], "accepted"))
        p.save()
    out = tmp_path / "x.csv"
    assert main(["export", str(root), str(out), "--format", "csv"]) == 0
    ivs, prov = read_intervals(out)
    spans = sorted((i.video, i.onset, i.offset) for i in ivs)
    assert spans == [("a", 100, 130), ("a", 300, 310), ("b", 198, 226), ("c", 50, 80)]
    assert prov["run_id"] == run_id and prov["label_snapshot"] == "abc123"
    assert prov["reviews"] == {"accepted": 1, "rejected": 1, "adjusted": 1, "unreviewed": 2,
                               "from_earlier_runs": 0, "as_other_class": 0}

    assert main(["export", str(root), str(tmp_path / "r.json"), "--format", "json", "--reviewed-only"]) == 0
    ivs, _ = read_intervals(tmp_path / "r.json")
    assert sorted((i.video, i.onset, i.offset) for i in ivs) == [("a", 100, 130), ("b", 198, 226)]

    # a label of the other class inside the rejected proposal: it was accepted as that class
    rejected = b[1]
    other = "ME" if rejected.cls == "MaE" else "MaE"
    with Project.open(root) as p:
        p.apply(AddLabel("b", rejected.apex, other, "tester"))
        p.save()
    assert main(["export", str(root), str(tmp_path / "o.json"), "--format", "json", "--reviewed-only"]) == 0
    ivs, prov = read_intervals(tmp_path / "o.json")
    assert sorted((i.video, i.cls, i.onset, i.offset) for i in ivs if i.video == "b") == sorted(
        [("b", b[0].cls, 198, 226), ("b", other, rejected.onset, rejected.offset)])
    assert prov["reviews"]["as_other_class"] == 1

    assert main(["export", str(root), str(tmp_path / "s.eaf"), "--format", "eaf", "--run", run_id]) == 0
    doc = ET.parse(tmp_path / "s.a.eaf").getroot()
    md = doc.find("HEADER/MEDIA_DESCRIPTOR")
    assert md.get("MEDIA_URL").endswith("/a.mp4") and md.get("MIME_TYPE") == "video/mp4"
    slots = {e.get("TIME_SLOT_ID"): int(e.get("TIME_VALUE")) for e in doc.iter("TIME_SLOT")}
    ts = sorted(slots[a.get(ref)] for t in doc.iter("TIER") if t.get("TIER_ID") in ("MaE", "ME")
                for a in t.iter("ALIGNABLE_ANNOTATION") for ref in ("TIME_SLOT_REF1", "TIME_SLOT_REF2"))
    assert ts == [4000, 5240, 12000, 12440]  # 25 fps: 40 ms per frame, offsets at frame end

    assert main(["export", str(root), str(tmp_path / "m.csv"), "--format", "megc"]) == 0
    assert "a,300,310,me" in (tmp_path / "m.csv").read_text()


def test_export_follows_decisions_of_earlier_runs(project_with_run, tmp_path):
    """A retrained model proposes a rejected expression again, frames a little off: the export
    drops it; an expression adjusted in an earlier run keeps the reviewer's span; a decision on
    another class or a span under IoU 0.5 does not carry."""
    root, run_id, preds = project_with_run
    old = "20240101-000000-old0"
    with Project.open(root) as p:
        p.apply(SetReview("b", old, "MaE", 503, 515, 533, "rejected"))          # IoU 28/34 with 500-530
        p.apply(SetReview("c", old, "MaE", 52, 66, 82, "adjusted", adjusted=(45, 60, 85)))
        p.apply(SetReview("a", old, "ME", 100, 115, 130, "rejected"))           # other class
        p.apply(SetReview("b", old, "MaE", 215, 225, 245, "rejected"))          # IoU 11/46: another one
        p.save()
    out = tmp_path / "x.csv"
    assert main(["export", str(root), str(out), "--format", "csv", "--run", run_id]) == 0
    ivs, prov = read_intervals(out)
    assert sorted((i.video, i.onset, i.offset) for i in ivs) == [
        ("a", 100, 130), ("a", 300, 310), ("b", 200, 225), ("c", 45, 85)]
    assert prov["reviews"] == {"accepted": 0, "rejected": 1, "adjusted": 1, "unreviewed": 3,
                               "from_earlier_runs": 2, "as_other_class": 0}
    assert main(["export", str(root), str(tmp_path / "r.csv"), "--format", "csv", "--reviewed-only"]) == 0
    ivs, _ = read_intervals(tmp_path / "r.csv")
    assert [(i.video, i.onset, i.offset) for i in ivs] == [("c", 45, 85)]
    # the run's own decision wins over the earlier one
    with Project.open(root) as p:
        p.apply(SetReview.for_proposal(run_id, preds["b"].proposals[1], "accepted"))
        p.save()
    again = tmp_path / "again.csv"
    assert main(["export", str(root), str(again), "--format", "csv", "--run", run_id]) == 0
    assert ("b", 500, 530) in {(i.video, i.onset, i.offset) for i in read_intervals(again)[0]}


def test_errors(project_with_run, tmp_path, capsys):
    root, run_id, _ = project_with_run
    assert main(["evaluate", str(root), "--run", "nope"]) == 1
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing")]) == 1
    assert "no project" in capsys.readouterr().err
    empty = tmp_path / "e.pfes"
    Project.create(empty).close()
    assert main(["export", str(empty), str(tmp_path / "o.csv"), "--format", "csv"]) == 1
    assert "no finished training run" in capsys.readouterr().err


def _fake_features(project, vid, T, seed):
    """Features file that load_features accepts, with motion bumps where the labels are."""
    from pfes_core.features import FEATURE_VERSION, Features, features_path, save_features

    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.01, (T, 17, 10, 2)).astype(np.float32)
    x[60:90, :, :, 1] += 0.3
    rec = project.videos[vid]
    feats = Features(landmarks=np.zeros((T, 68, 2), np.float32), face_found=np.ones(T, bool),
                     roi_vectors=rng.normal(0, 0.01, (T, 12, 2)).astype(np.float32), model_input=x,
                     params={"version": FEATURE_VERSION}, fingerprint=rec.fingerprint, n_frames=T,
                     fps=rec.fps, step=1, video_id=vid)
    save_features(features_path(project.features_dir, vid), feats)


@pytest.mark.slow
def test_train_then_spot_end_to_end(tmp_path, capsys):
    from pfes_core.labels import BulkImport
    from pfes_core.types import PointLabel

    root = tmp_path / "t.pfes"
    T = 160
    with Project.create(root) as p:
        for k, (vid, subj) in enumerate((("a", "s1"), ("b", "s2"), ("c", "s3"))):
            p.add_video(tmp_path / f"{vid}.mp4", subject=subj, video_id=vid, fps=25.0, n_frames=T,
                        fingerprint=f"f{vid}")
        p.apply(BulkImport([PointLabel(v, 75, "MaE") for v in ("a", "b")]))
        p.set_reference([Interval(v, "MaE", 60, 75, 89) for v in ("a", "b", "c")])
        p.save()
        for k, vid in enumerate(("a", "b", "c")):
            if vid != "c":
                _fake_features(p, vid, T, k)
    assert main(["train", str(root), "--epochs", "1", "--loso", "--device", "cpu",
                 "--progress", "none"]) == 0
    capsys.readouterr()
    run = runs.list_runs(root)[-1]
    before = runs.read_predictions(run.path / "predictions.h5")
    assert main(["spot", str(root), "--progress", "jsonl", "--preset", "casme2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["stage"] == "done" and events[-1]["run_id"] == run.run_id
    assert events[-1]["skipped"] == ["c"]  # no features
    after = runs.read_predictions(run.path / "predictions.h5")
    assert set(after) == {"a", "b"}
    for v in after:  # each video re-predicted by its own held-out fold model
        assert after[v].fold == before[v].fold == {"a": "s1", "b": "s2"}[v]
        np.testing.assert_allclose(after[v].intensity, before[v].intensity, rtol=1e-5, atol=1e-6)
    import h5py
    with h5py.File(run.path / "predictions.h5", "r") as h5:
        assert json.loads(h5.attrs["preset"])["name"] == "casme2"
    assert main(["evaluate", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overall"]["n_gt"] == 3  # c has reference but no predictions: its GT is missed
    assert out["overall"]["fn"] >= 1


def test_evaluate_protocol_is_named(project_with_run, capsys):
    """`--protocol reference` scores as the published code does and says so; megc is the default.
    (Counting differences are checked on the published fixture in tests/test_metrics.py.)"""
    root, _, _ = project_with_run
    assert main(["evaluate", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["protocol"] == "megc"
    assert main(["evaluate", str(root), "--json", "--protocol", "reference", "--include-unreferenced"]) == 0
    out = json.loads(capsys.readouterr().out)
    o = out["overall"]
    assert out["protocol"] == "reference" and (o["tp"], o["fp"], o["n_gt"]) == (3, 2, 4)
    assert main(["evaluate", str(root), "--protocol", "reference"]) == 0
    assert "protocol: reference" in capsys.readouterr().out


def test_looks_lists_the_weak_candidates_no_proposal_label_or_look_covers(tmp_path, capsys):
    """A weak bump under the class gate is no proposal but a place to look; a label beside it or a
    'looked' decision takes it off the list, and the text output says how many there are."""
    from pfes_core.labels import AddLabel
    from pfes_core.reviews import LOOKED

    root = tmp_path / "p.pfes"
    with Project.create(root) as p:
        p.add_video(tmp_path / "a.mp4", subject="s1", video_id="a", fps=25.0, n_frames=600, fingerprint="fa")
        p.save()
    run_path, run_id = runs.new_run(root)
    a, q = _bump_outputs(600, [(100, 130, 0)])
    for on, off in ((300, 311), (450, 461)):             # weak: intensity 0.45, ME score 0.3
        a[on:off + 1] = 0.45
        q[on:off + 1, 1] = 0.3
    runs.write_predictions(run_path / "predictions.h5", {"a": (a, q)}, {"a": 25.0})
    runs.write_status(run_path, "done")
    assert main(["looks", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == run_id and out["total"] == 2
    assert sorted((c["onset"], c["offset"], c["leans"]) for c in out["looks"]) == [
        (300, 311, "ME"), (450, 461, "ME")]
    with Project.open(root) as p:
        p.apply(AddLabel("a", 314, "ME", "coder"))        # within 4 frames of the first
        look = next(c for c in out["looks"] if c["onset"] == 450)
        p.apply(SetReview("a", run_id, "ME", 450, look["apex"], 461, LOOKED))
        p.save()
    assert main(["looks", str(root)]) == 0
    text = capsys.readouterr().out
    assert text.strip().endswith(f"0 places to look at in run {run_id}")
    assert main(["looks", str(root), "--run", "nope"]) == 1
    assert "no run 'nope'" in capsys.readouterr().err
    empty = tmp_path / "e.pfes"
    Project.create(empty).close()
    assert main(["looks", str(empty)]) == 1
    assert "no finished training run" in capsys.readouterr().err


def test_looks_scan_lists_the_stretches_left_to_scan_in_the_queue_order(tmp_path, capsys):
    from pfes_core.reviews import LOOKED
    from pfes_core.scan_stretches import video_stretches

    root = tmp_path / "p.pfes"
    with Project.create(root) as p:
        for vid in ("a", "b"):
            p.add_video(tmp_path / f"{vid}.mp4", subject="s1", video_id=vid, fps=25.0, n_frames=300,
                        fingerprint=f"f{vid}")
        p.save()
    run_path, run_id = runs.new_run(root)
    a, q = _bump_outputs(300, [(100, 130, 0)])
    runs.write_predictions(run_path / "predictions.h5", {"a": (a, q), "b": (a, q)}, {"a": 25.0, "b": 25.0})
    runs.write_status(run_path, "done")
    assert main(["looks", str(root), "--scan", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == 4 and [s["video"] for s in out["stretches"]] == ["a", "b", "a", "b"]
    first = video_stretches("a", 300, 25.0)[0]
    assert (out["stretches"][0]["onset"], out["stretches"][0]["offset"]) == (first.onset, first.offset)
    with Project.open(root) as p:
        p.apply(SetReview.for_proposal(run_id, first, LOOKED))
        p.save()
    assert main(["looks", str(root), "--scan", "--limit", "1"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[1].split()[0] == "b"              # a has one scanned now: b's turn
    assert text.strip().endswith(f"3 stretches to scan in the videos of run {run_id} (the first 1 shown)")
