"""The non-learned motion baseline on synthetic ROI motion."""

import numpy as np
import pytest

from pfes_core.baseline import baseline_predict, duration_apex, motion_intensity
from pfes_core.errors import FeatureError
from pfes_core.spotting import PRESETS


def motion(T, events, seed=0, noise=0.02):
    """ROI vectors with small noise plus (start, length, rois, speed) motion events."""
    rng = np.random.default_rng(seed)
    v = rng.normal(0, noise, (T, 12, 2))
    for start, length, rois, speed in events:
        v[start:start + length, rois, 1] += speed
    return v


def test_intensity_peaks_on_motion_and_ignores_nose():
    T = 600
    v = motion(T, [(200, 30, [8, 9, 10, 11], 0.5), (400, 30, [6, 7], 3.0)])
    a = motion_intensity(v, fps=30)
    assert a.shape == (T,) and a.min() >= 0 and a.max() <= 1
    assert a[215] > 0.9
    assert a[415] < 0.2  # nose-only motion is head motion: not an expression
    assert np.median(a) == pytest.approx(0.0, abs=1e-3)


def test_flat_motion_gives_zero_and_no_proposals():
    v = np.zeros((300, 12, 2))
    a, q, props = baseline_predict(v, PRESETS["default"], "v", fps=30)
    assert not a.any() and not q.any() and props == []


def test_duration_apex_classes():
    a = np.zeros(200)
    a[20:30] = 0.9   # 10 frames -> ME (<= 16 in the default preset)
    a[100:160] = 0.9  # 60 frames -> MaE
    q = duration_apex(a, PRESETS["default"])
    assert q[25].tolist() == [0.0, 1.0] and q[130].tolist() == [1.0, 0.0]
    assert q[0].tolist() == [0.0, 0.0] and q[80].tolist() == [0.0, 0.0]


def test_baseline_finds_mae_and_me():
    T = 1500
    v = motion(T, [(300, 40, [0, 1, 2, 3, 4, 5], 0.6), (900, 6, [8, 9, 10, 11], 0.5)], seed=3)
    _, _, props = baseline_predict(v, PRESETS["default"], "vid", fps=30)
    got = {(p.cls, p.video) for p in props}
    assert ("MaE", "vid") in got and ("ME", "vid") in got
    mae = [p for p in props if p.cls == "MaE"]
    me = [p for p in props if p.cls == "ME"]
    assert any(p.onset <= 320 <= p.offset for p in mae)
    assert any(p.onset <= 903 <= p.offset for p in me)


def test_bad_shape():
    with pytest.raises(FeatureError):
        motion_intensity(np.zeros((10, 10, 2)))


def test_project_baseline_proposes_for_videos_with_features(small_demo_project, tmp_path):
    """The label-free first pass: motion proposals per video from its saved features; a video
    without features is reported as skipped; the same features give the same proposals."""
    import shutil

    from pfes_core.baseline import project_baseline
    from pfes_core.project import Project

    root = tmp_path / "p.pfes"
    shutil.copytree(small_demo_project, root)
    with Project.open(root, readonly=True) as project:
        ids = list(project.videos)
        first, skipped = project_baseline(project)
        again, _ = project_baseline(project)
        truth = [iv for v in ids for iv in project.reference.get(v, [])]
    assert skipped == [] and sorted(first) == sorted(ids)
    props = [p for pred in first.values() for p in pred.proposals]
    assert props and all(p.video in ids and p.onset <= p.apex <= p.offset for p in props)
    assert {p.cls for p in props} <= {"MaE", "ME"}
    assert [p for pred in again.values() for p in pred.proposals] == props
    # the motion really is where the synthetic expressions are: most proposals hit one
    hits = sum(any(t.video == p.video and t.onset <= p.apex <= t.offset for t in truth)
               for p in props)
    assert hits >= len(props) / 2
    (root / "features" / f"{ids[0]}.h5").unlink()
    with Project.open(root, readonly=True) as project:
        preds, skipped = project_baseline(project)
    assert skipped == [ids[0]] and list(preds) == ids[1:]
