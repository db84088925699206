"""docs/PROJECT_FORMAT.md stays true: its recipe reads what P-FES reads, it names every dataset a
real project.h5 and features file hold, text is UTF-8 and numeric columns carry units."""

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from pfes_core.features import Features, save_features
from pfes_core.labels import AddLabel
from pfes_core.project import Project
from pfes_core.reviews import SetReview
from pfes_core.types import Interval

DOC = Path(__file__).resolve().parents[1] / "docs" / "PROJECT_FORMAT.md"


def doc_text():
    return DOC.read_text(encoding="utf-8")


def documented(section_start: str, section_end: str | None) -> set[str]:
    """Dataset paths named in the first column of the doc's tables within one section."""
    text = doc_text()
    body = text[text.index(section_start):text.index(section_end) if section_end else None]
    names, in_table = set(), False
    for line in body.splitlines():
        if line.startswith("| dataset |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            names.update(re.findall(r"^\| `([a-z_]+(?:/[a-z_]+)?)` \|", line))
    return names


def datasets(path) -> dict[str, tuple]:
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found[name] = (obj.dtype, dict(obj.attrs))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


@pytest.fixture
def project(tmp_path, tiny_video):
    root = tmp_path / "lab.pfes"
    with Project.create(root) as p:
        p.add_video(tiny_video, subject="s01", video_id="clip")
        p.add_video(tiny_video, subject="s02", video_id="caméra 2")
        p.apply(AddLabel("clip", 4, "MaE", "ann"))
        p.apply(AddLabel("clip", 9, "ME", "bob"))
        p.apply(AddLabel("caméra 2", 20, "ME", "ann"))
        p.set_reference([Interval("clip", "MaE", 2, 4, 8), Interval("caméra 2", "ME", 18, 20, 22)])
        p.apply(SetReview.for_proposal("run-1", Interval("clip", "ME", 7, 9, 12, 0.7), "adjusted",
                                       adjusted=(8, 9, 11)))
        p.save()
    return root


def test_recipe_reads_labels_and_intervals(project):
    pd = pytest.importorskip("pandas")
    code = re.search(r"<!-- recipe:begin -->\s*```python\n(.*?)```", doc_text(), re.S).group(1)
    lines = [line for line in code.strip().splitlines() if not line.startswith("import")]
    assert len(lines) == 3  # the page promises three lines after the imports
    scope = {}
    exec(code.replace("NAME.pfes", str(project)), scope)  # noqa: S102 (our own documentation)
    scope["f"].close()
    labels, intervals = scope["labels"], scope["intervals"]
    assert isinstance(labels, pd.DataFrame) and isinstance(intervals, pd.DataFrame)
    with Project.open(project, readonly=True) as p:
        want_labels = sorted((lb.video, lb.frame, lb.cls) for lb in p.labels.all())
        want_ivs = sorted((iv.video, iv.cls, iv.onset, iv.apex, iv.offset)
                          for ivs in p.reference.values() for iv in ivs)
    assert sorted(zip(labels["video"], labels["frame"].tolist(), labels["class"])) == want_labels
    assert sorted(zip(intervals["video"], intervals["cls"], intervals["onset"].tolist(),
                      intervals["apex"].tolist(), intervals["offset"].tolist())) == want_ivs


def test_project_h5_matches_the_page(project):
    found = datasets(project / "project.h5")
    assert set(found) == documented("## project.h5", "## features/")
    for name, (dtype, attrs) in found.items():
        info = h5py.check_string_dtype(dtype)
        if info is not None:
            assert info.encoding == "utf-8", name
        elif name not in ("labels/video", "labels/annotator", "labels/cls"):  # table indexes
            assert attrs.get("units"), f"{name} has no units attribute"
    with h5py.File(project / "project.h5", "r") as f:
        assert f["videos/fps"].attrs["units"] == "frames per second"
        assert f["labels/created"].attrs["units"] == "seconds since 1970-01-01 UTC"
        assert "caméra 2" in f["videos/id"].asstr()[()].tolist()
        assert h5py.check_string_dtype(f.attrs.get_id("format").dtype).encoding == "utf-8"
        for key in ("format", "schema_version", "generation", "saved"):
            assert f"| `{key}` |" in doc_text() and key in f.attrs


def test_features_file_matches_the_page(tmp_path):
    T = 5
    feats = Features(landmarks=np.zeros((T, 68, 2), np.float32), face_found=np.ones(T, bool),
                     roi_vectors=np.zeros((T, 12, 2), np.float32),
                     model_input=np.zeros((T, 17, 10, 2), np.float32), params={"flow": "dis"},
                     fingerprint="abc", n_frames=T, fps=25.0, step=2, video_id="clip")
    path = save_features(tmp_path / "clip.h5", feats)
    found = datasets(path)
    assert set(found) == documented("## features/", "## runs/")
    assert all(attrs.get("units") for _dtype, attrs in found.values())
    with h5py.File(path, "r") as f:
        for key in f.attrs:
            assert f"| `{key}` |" in doc_text(), f"attribute {key} is not documented"
