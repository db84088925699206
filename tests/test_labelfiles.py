"""Label files: exact round trips, lenient-but-checked import, malformed input never reaches a project."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfes_core.errors import LabelError
from pfes_core.labelfiles import read_intervals, read_points, write_points
from pfes_core.labels import BulkImport
from pfes_core.project import Project
from pfes_core.types import Interval, PointLabel

REFERENCE = Path("/work/shared/data/reference_annotations")

text_st = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=8)
labels_st = st.lists(
    st.builds(PointLabel, video=st.text("abcXYZ_-019 é", min_size=1, max_size=6).map(str.strip).filter(bool),
              frame=st.integers(0, 10**7), cls=st.sampled_from(["MaE", "ME"]),
              annotator=text_st.map(str.strip),
              created=st.floats(0, 2e9, allow_nan=False), modified=st.floats(0, 2e9, allow_nan=False)),
    max_size=20, unique_by=lambda lb: (lb.video, lb.frame, lb.cls))


@pytest.mark.parametrize("suffix", [".csv", ".json"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=labels_st)
def test_points_round_trip_exactly(tmp_path, suffix, labels):
    # created == 0 reads back as "unknown" and modified falls back to created; keep them consistent
    labels = [lb if lb.modified else PointLabel(lb.video, lb.frame, lb.cls, lb.annotator, lb.created,
                                                lb.created) for lb in labels]
    path = tmp_path / f"points{suffix}"
    write_points(path, labels, fps={lb.video: 30.0 for lb in labels})
    assert read_points(path) == labels


def test_csv_import_is_case_insensitive_and_accepts_cls_and_minimal_columns(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("\ufeffVideo,Frame,CLS\nv1,3,me\nv1,4,MAE\n\nv2, 7 ,Me\n", encoding="utf-8")
    assert [(lb.video, lb.frame, lb.cls) for lb in read_points(p)] == [("v1", 3, "ME"), ("v1", 4, "MaE"),
                                                                       ("v2", 7, "ME")]
    p.write_text("video,frame,class,annotator,time_s\nv1,3,ME,ann,0.1\n", encoding="utf-8")
    assert read_points(p) == [PointLabel("v1", 3, "ME", "ann")]


@pytest.mark.parametrize("content, line, fragment", [
    ("video,frame,class\nv1,3,ME\nv1,x,ME\n", 3, "not a whole number"),
    ("video,frame,class\nv1,-3,ME\n", 2, "negative"),
    ("video,frame,class\nv1,3,smile\n", 2, "unknown expression class"),
    ("video,frame,class\nv1,3\n", 2, "expected 3 fields"),
    ("video,frame,class\nv1,3,ME\nv1,3,me\n", 3, "duplicate"),
    ("video,frame\nv1,3\n", 1, "missing column 'class'"),
    ("video,class\nv1,ME\n", 1, "missing column 'frame'"),
    ("video,frame,class\n,3,ME\n", 2, "video id is empty"),
    ("video,frame,class,created\nv1,3,ME,soon\n", 2, "not a number"),
    ('video,frame,class\n"v1,3,ME\n', 2, "malformed CSV"),
])
def test_malformed_csv_names_file_and_line(tmp_path, content, line, fragment):
    p = tmp_path / "bad.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(LabelError) as info:
        read_points(p)
    assert str(p) in str(info.value) and f"line {line}" in str(info.value) and fragment in str(info.value)


def test_other_malformed_files(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(LabelError, match="empty file"):
        read_points(p)
    p = tmp_path / "latin.csv"
    p.write_bytes(b"video,frame,class\nv\xe9,1,ME\n")
    with pytest.raises(LabelError, match="line 2: not UTF-8"):
        read_points(p)
    p = tmp_path / "bad.json"
    p.write_text('{"labels": [\n{"video": "v", "frame": 1, "class": "ME"},\n')
    with pytest.raises(LabelError, match="bad.json, line 3: invalid JSON"):
        read_points(p)
    p.write_text('[{"video": "v", "frame": 1.5, "class": "ME"}]')
    with pytest.raises(LabelError, match="label #1: frame"):
        read_points(p)
    p.write_text('{"format": "something-else", "labels": []}')
    with pytest.raises(LabelError, match="not a point-label file"):
        read_points(p)
    with pytest.raises(LabelError, match="file not found"):
        read_points(tmp_path / "missing.csv")


def test_interval_tables_ignore_extra_columns_and_fix_unknown_apex(tmp_path):
    p = tmp_path / "iv.csv"
    p.write_text("video,subject,cls,onset,apex,offset,au\nv1,s,MaE,81,92,106,4B\nv1,s,me,10,0,20,x\n"
                 "v2,s,ME,5,,9,\n", encoding="utf-8")
    assert read_intervals(p) == [Interval("v1", "MaE", 81, 92, 106), Interval("v1", "ME", 10, 15, 20),
                                 Interval("v2", "ME", 5, 7, 9)]
    p.write_text("video,class,onset,apex,offset\nv1,ME,30,31,20\n")
    with pytest.raises(LabelError, match="line 2: offset 20 is before onset 30"):
        read_intervals(p)
    p.write_text("video,class,apex,offset\nv1,ME,31,40\n")
    with pytest.raises(LabelError, match="missing column 'onset'"):
        read_intervals(p)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference annotations not present")
@pytest.mark.parametrize("name, n", [("casme2_intervals.csv", 357), ("samm_lv_intervals.csv", 502)])
def test_real_reference_tables_load(name, n):
    ivs = read_intervals(REFERENCE / name)
    assert len(ivs) == n
    assert all(iv.onset <= iv.apex <= iv.offset and iv.cls in ("MaE", "ME") for iv in ivs)


# ---- property tests: malformed files never crash and never change the project ----------------
@pytest.fixture(scope="module")
def shared_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("prop")
    project = Project.create(root / "p")
    project.add_video(root / "v1.mp4", video_id="v1", fps=30, n_frames=50, fingerprint="f")
    project.apply(BulkImport([PointLabel("v1", 3, "ME", "a", 1.0, 1.0)]))
    project.set_reference([Interval("v1", "ME", 1, 2, 3)])
    project.save()
    yield project
    project.close()


row_field = st.one_of(st.sampled_from(["v1", "v2", "", "ME", "me", "MaE", "xx", "3", "-1", "49", "50", "1e3",
                                       "2.0", " 7 ", '"', "a,b", "\ufeff", "nan"]),
                      st.text(max_size=5))
csv_text = st.lists(st.lists(row_field, max_size=6), max_size=6).map(
    lambda rows: "\n".join(",".join(r) for r in rows))
header = st.sampled_from(["video,frame,class", "video,frame,cls,annotator", "video,cls,onset,apex,offset",
                          "video,class,onset,apex,offset,subject", "frame,class", ""])
json_text = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 60), st.floats(allow_nan=True), st.sampled_from(
        ["v1", "ME", "mae", "zz"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["video", "frame", "class", "cls", "onset", "apex", "offset", "labels", "intervals",
                         "created", "annotator", "format"]), inner, max_size=6)),
    max_leaves=12).map(lambda obj: __import__("json").dumps(obj))


def _try_import(project, path, intervals):
    """What `pfes labels import` does; returns True when the file was accepted."""
    if intervals:
        ivs = read_intervals(path)
        project.set_reference(ivs)
    else:
        project.apply(BulkImport(read_points(path)))
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=header, body=csv_text, raw=st.binary(max_size=40), as_json=json_text, which=st.integers(0, 2),
       intervals=st.booleans())
def test_malformed_files_raise_label_error_and_leave_project_unchanged(shared_project, tmp_path_factory,
                                                                      head, body, raw, as_json, which, intervals):
    project = shared_project
    folder = tmp_path_factory.mktemp("f", numbered=True)
    if which == 0:
        path = folder / "in.csv"
        path.write_text(head + "\n" + body, encoding="utf-8", errors="surrogatepass")
    elif which == 1:
        path = folder / "in.csv"
        path.write_bytes(raw)
    else:
        path = folder / "in.json"
        path.write_text(as_json, encoding="utf-8")
    before = (project.labels.all(), dict(project.reference), project.unsaved_edits,
              project.journal_path.read_bytes())
    try:
        _try_import(project, path, intervals)
    except LabelError as exc:
        assert str(exc) and "\n" not in str(exc)
        after = (project.labels.all(), dict(project.reference), project.unsaved_edits,
                 project.journal_path.read_bytes())
        assert after == before
        return
    # accepted: it must have been a valid file; undo our change so the next example starts clean
    if intervals:
        project.set_reference([Interval("v1", "ME", 1, 2, 3)])
    else:
        project.undo()
    assert project.labels.all() == before[0]


# ---- class words, deep JSON, frames outside the video, re-import of an export -----------------
@pytest.mark.parametrize("word, cls", [("macro", "MaE"), ("macro-expression", "MaE"), ("Macro", "MaE"),
                                       ("Macro-expression", "MaE"), ("micro", "ME"), ("Micro - 1/2", "ME"),
                                       ("micro-expression", "ME"), ("MAE", "MaE")])
def test_dataset_class_words_read_as_classes(tmp_path, word, cls):
    p = tmp_path / "p.csv"
    p.write_text(f'video,frame,class\nv,3,"{word}"\n')
    assert read_points(p)[0].cls == cls


def test_deeply_nested_json_is_one_line_error(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LabelError, match="nested too deeply") as info:
        read_points(p)
    assert "\n" not in str(info.value)
    with pytest.raises(LabelError, match="nested too deeply"):
        read_intervals(p)


def test_frame_outside_video_names_the_line(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("video,frame,class\nv,3,ME\nw,99,ME\nv,30,MaE\n")
    with pytest.raises(LabelError, match=r"p.csv, line 4: frame 30 is outside video 'v' \(30 frames"):
        read_points(p, n_frames={"v": 30})
    q = tmp_path / "iv.csv"
    q.write_text("video,class,onset,apex,offset\nv,ME,2,3,4\nv,MaE,20,25,31\n")
    with pytest.raises(LabelError, match=r"iv.csv, line 3: frame 31 is outside video 'v'"):
        read_intervals(q, n_frames={"v": 30})


def test_reimport_of_an_export_keeps_creation_time_0_and_empty_annotator(tmp_path):
    from pfes_core.cli import main
    from pfes_core.project import Project
    from video_helpers import pattern_frames, write_video

    video = write_video(tmp_path / "v.mp4", pattern_frames(10, w=32, h=24))
    proj = tmp_path / "p.pfes"
    assert main(["init", str(proj)]) == 0 and main(["add-video", str(proj), str(video)]) == 0
    src = tmp_path / "src.csv"
    src.write_text("video,frame,class,annotator,created,modified\nv,2,ME,,0,0\nv,5,MaE,bo,12.5,13.0\n")
    assert main(["labels", "import", str(proj), str(src), "--annotator", "importer"]) == 0
    exported = tmp_path / "out.csv"
    assert main(["labels", "export", str(proj), str(exported)]) == 0
    proj2 = tmp_path / "q.pfes"
    assert main(["init", str(proj2)]) == 0 and main(["add-video", str(proj2), str(video)]) == 0
    assert main(["labels", "import", str(proj2), str(exported), "--annotator", "someone-else"]) == 0
    with Project.open(proj2, readonly=True) as p:
        got = [(lb.frame, lb.cls, lb.annotator, lb.created, lb.modified) for lb in p.labels.all()]
    assert got == [(2, "ME", "", 0.0, 0.0), (5, "MaE", "bo", 12.5, 13.0)]
    # a file without those columns still gets the importer's name and the import time
    bare = tmp_path / "bare.csv"
    bare.write_text("video,frame,class\nv,7,ME\n")
    assert main(["labels", "import", str(proj2), str(bare), "--annotator", "zoe"]) == 0
    with Project.open(proj2, readonly=True) as p:
        label = p.labels.get("v", 7, "ME")
    assert label.annotator == "zoe" and label.created > 1e9


def test_a_line_break_inside_a_quoted_header_cell_stays_one_error_line(tmp_path):
    """Found by the property test above: a quoted header cell holding a newline was quoted back
    into the message, which then spanned two lines."""
    path = tmp_path / "in.csv"
    path.write_text('"","v1\nv1"\nv1,2\n')
    with pytest.raises(LabelError) as info:
        read_points(path)
    assert "missing column 'video'" in str(info.value) and "\n" not in str(info.value)
    assert "v1\\nv1" in str(info.value)
