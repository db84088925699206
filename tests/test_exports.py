"""Exports: round trips, files that plain readers load, ELAN structure, file modes, refusals."""

import csv
import json
import os
import stat
import xml.etree.ElementTree as ET
from contextlib import contextmanager

import pytest

import pfes_core
from pfes_core import atomic
from pfes_core.errors import PfesError
from pfes_core.exports import (CSV_COLUMNS, MEGC_COLUMNS, ExportError, export_targets,
                               make_provenance, provenance_path, read_intervals, write_intervals,
                               write_points_eaf)
from pfes_core.types import Interval, PointLabel

IVS = [
    Interval("v2", "ME", 40, 45, 51, 0.61),
    Interval("v1", "MaE", 100, 120, 139, 0.875),
    Interval("v1", "MaE", 130, 140, 160, 0.5),   # overlaps the previous MaE
    Interval("v1", "ME", 10, 14, 21, None),
    Interval("v,odd \"name\"", "MaE", 0, 3, 29, 0.25),
]
REVIEW = ["unreviewed", "accepted", "adjusted", "unreviewed", "accepted"]
SUBJECTS = {"v1": "s01", "v2": "s02", "v,odd \"name\"": "s03"}
PROV = make_provenance("run-20260101-abc", "sha256:deadbeef", preset="default",
                       settings={"budget": [8, 2]})
POINTS = [PointLabel("v1", 118, "MaE", "ann"), PointLabel("v1", 15, "ME", "ann"),
          PointLabel("v1", 1, "ME", "ann"), PointLabel("v2", 44, "ME", "bob")]


def key(iv):
    return (iv.video, iv.onset, iv.offset, iv.cls)


@contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_provenance_defaults():
    assert PROV["app_version"] == pfes_core.__version__
    assert list(PROV)[:3] == ["run_id", "label_snapshot", "app_version"]


def test_csv_header_first_and_provenance_sidecar(tmp_path):
    p = tmp_path / "out.csv"
    side = tmp_path / "out.provenance.json"
    assert provenance_path(p) == side
    assert write_intervals(p, IVS, "csv", PROV, review=REVIEW, subjects=SUBJECTS) == [p, side]
    assert p.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    with open(p, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(IVS)
    by_span = {(r["video"], int(r["onset"])): r for r in rows}
    assert by_span[("v1", 130)]["review"] == "adjusted" and by_span[("v1", 130)]["subject"] == "s01"
    assert by_span[("v1", 10)]["score"] == "" and by_span[("v,odd \"name\"", 0)]["class"] == "MaE"
    doc = json.loads(side.read_text())
    assert doc["provenance"] == PROV and doc["describes"] == "out.csv"
    assert list(doc["columns"]) == CSV_COLUMNS
    back, prov = read_intervals(p)
    assert sorted(back, key=key) == sorted(IVS, key=key)
    assert prov == PROV


def test_csv_and_megc_load_in_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    write_intervals(tmp_path / "a.csv", IVS, "csv", PROV, review=REVIEW, subjects=SUBJECTS)
    df = pd.read_csv(tmp_path / "a.csv")
    assert list(df.columns) == CSV_COLUMNS and len(df) == len(IVS)
    assert df["onset"].dtype.kind == "i" and df.loc[df["video"] == "v2", "score"].item() == 0.61
    write_intervals(tmp_path / "m.csv", IVS, "megc", PROV, subjects=SUBJECTS)
    megc = pd.read_csv(tmp_path / "m.csv", dtype={"subject": str, "video": str})
    assert list(megc.columns) == MEGC_COLUMNS
    got = sorted(zip(megc["subject"], megc["video"], megc["onset"], megc["offset"], megc["type"]))
    want = sorted((SUBJECTS[i.video], i.video, i.onset, i.offset, i.cls.lower()) for i in IVS)
    assert got == want


def test_megc_reads_back(tmp_path):
    p = tmp_path / "sub.csv"
    write_intervals(p, IVS, "megc", PROV)
    lines = p.read_text().splitlines()
    assert lines[0] == "subject,video,onset,offset,type"
    assert ",v1,100,139,mae" in lines and ",v2,40,51,me" in lines
    back, prov = read_intervals(p, "megc")
    assert prov["run_id"] == "run-20260101-abc"
    assert sorted((b.video, b.cls, b.onset, b.offset) for b in back) == \
        sorted((i.video, i.cls, i.onset, i.offset) for i in IVS)


def test_old_commented_csv_still_reads(tmp_path):
    p = tmp_path / "old.csv"
    p.write_text("# run_id: r1\n# reviews: {\"accepted\": 1}\n"
                 "video,class,onset,apex,offset,score\nv,MaE,1,2,3,0.5\n")
    back, prov = read_intervals(p)
    assert back == [Interval("v", "MaE", 1, 2, 3, 0.5)]
    assert prov == {"run_id": "r1", "reviews": {"accepted": 1}}


def test_json_round_trip_with_review(tmp_path):
    p = tmp_path / "out.json"
    assert write_intervals(p, IVS, "json", PROV, review=REVIEW, subjects=SUBJECTS) == [p]
    back, prov = read_intervals(p)
    assert sorted(back, key=key) == sorted(IVS, key=key)
    assert prov == PROV
    doc = json.loads(p.read_text())
    assert doc["format"] == "pfes-intervals" and doc["provenance"]["label_snapshot"] == "sha256:deadbeef"
    states = {(r["video"], r["onset"]): (r["review"], r["subject"]) for r in doc["intervals"]}
    assert states[("v1", 100)] == ("accepted", "s01") and states[("v2", 40)] == ("unreviewed", "s02")


def test_eaf_one_video_time_slots(tmp_path):
    p = tmp_path / "v1.eaf"
    v1 = [iv for iv in IVS if iv.video == "v1"]
    assert write_intervals(p, v1, "eaf", PROV, fps=25.0) == [p]
    root = ET.parse(p).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT") == "3.0"
    assert [c.tag for c in root][:2] == ["HEADER", "TIME_ORDER"]
    assert root.find("HEADER").get("TIME_UNITS") == "milliseconds"
    props = {e.get("NAME"): e.text for e in root.iter("PROPERTY")}
    assert props["pfes:run_id"] == "run-20260101-abc"
    assert props["pfes:label_snapshot"] == "sha256:deadbeef"
    assert props["pfes:app_version"] == pfes_core.__version__
    slots = {e.get("TIME_SLOT_ID"): int(e.get("TIME_VALUE")) for e in root.iter("TIME_SLOT")}
    values = [int(e.get("TIME_VALUE")) for e in root.iter("TIME_SLOT")]
    assert values == sorted(values)
    tiers = {t.get("TIER_ID"): t for t in root.iter("TIER")}
    # overlapping MaE moved to a second tier; every interval tier has its apex child tier
    assert set(tiers) == {"MaE", "MaE 2", "ME", "MaE apex", "MaE 2 apex", "ME apex"}
    assert tiers["MaE 2 apex"].get("PARENT_REF") == "MaE 2"
    lt = {e.get("LINGUISTIC_TYPE_ID"): e for e in root.iter("LINGUISTIC_TYPE")}
    assert all(t.get("LINGUISTIC_TYPE_REF") in lt for t in tiers.values())
    assert lt["pfes-apex"].get("CONSTRAINTS") == "Included_In"
    assert root.find("CONSTRAINT").get("STEREOTYPE") == "Included_In"

    def spans(tier_id):
        return sorted((slots[al.get("TIME_SLOT_REF1")], slots[al.get("TIME_SLOT_REF2")],
                       al.find("ANNOTATION_VALUE").text)
                      for al in tiers[tier_id].iter("ALIGNABLE_ANNOTATION"))
    # 25 fps: frame f starts at 40 f ms; the inclusive offset frame ends at 40 (offset + 1)
    assert spans("ME") == [(400, 880, "ME apex=14 frames=10-21")]
    assert spans("MaE") == [(4000, 5600, "MaE apex=120 frames=100-139 score=0.875")]
    assert spans("MaE 2") == [(5200, 6440, "MaE apex=140 frames=130-160 score=0.500")]
    assert spans("MaE apex") == [(4800, 4840, "MaE apex=120")]
    assert spans("ME apex") == [(560, 600, "ME apex=14")]
    ids = [a.get("ANNOTATION_ID") for a in root.iter("ALIGNABLE_ANNOTATION")]
    assert len(ids) == len(set(ids)) == 6


def test_eaf_media_links_points_and_review(tmp_path):
    media = tmp_path / "project" / "videos" / "clip one.mp4"
    out = tmp_path / "exports"
    out.mkdir()
    p = out / "v1.eaf"
    v1 = [iv for iv in IVS if iv.video == "v1"]
    write_intervals(p, v1, "eaf", PROV, fps=30.0, review=["accepted", "adjusted", "unreviewed"],
                    points=POINTS, media={"v1": media})
    root = ET.parse(p).getroot()
    md = root.find("HEADER/MEDIA_DESCRIPTOR")
    assert md.get("MEDIA_URL") == media.as_uri()
    assert md.get("RELATIVE_MEDIA_URL") == "../project/videos/clip%20one.mp4"
    assert md.get("MIME_TYPE") == "video/mp4"
    tiers = {t.get("TIER_ID"): t for t in root.iter("TIER")}
    assert tiers["MaE points"].get("ANNOTATOR") == "ann"
    texts = [e.text for e in tiers["MaE"].iter("ANNOTATION_VALUE")]
    assert texts == ["MaE apex=120 frames=100-139 score=0.875 review=accepted"]
    assert [e.text for e in tiers["ME points"].iter("ANNOTATION_VALUE")] == ["ME", "ME"]
    assert len(list(tiers["MaE points"].iter("ANNOTATION"))) == 1  # only v1's labels


def test_eaf_loads_in_pympi_and_points_round_trip(tmp_path):
    pympi = pytest.importorskip("pympi")
    p = tmp_path / "v1.eaf"
    fps = 30.0
    write_intervals(p, [iv for iv in IVS if iv.video == "v1"], "eaf", PROV, fps=fps,
                    points=POINTS, media={"v1": tmp_path / "v1.mp4"})
    eaf = pympi.Elan.Eaf(str(p))
    names = set(eaf.get_tier_names())
    assert {"MaE", "MaE 2", "ME", "MaE apex", "ME points", "MaE points"} <= names
    assert eaf.get_parameters_for_tier("MaE apex")["PARENT_REF"] == "MaE"
    assert eaf.media_descriptors[0]["RELATIVE_MEDIA_URL"] == "./v1.mp4"
    frames = sorted((cls, int(fps * (a[0] + a[1]) / 2 / 1000))
                    for cls in ("MaE", "ME")
                    for a in eaf.get_annotation_data_for_tier(f"{cls} points"))
    assert frames == sorted((lb.cls, lb.frame) for lb in POINTS if lb.video == "v1")
    (start, end, text), = eaf.get_annotation_data_for_tier("ME apex")
    assert (start, end, text) == (467, 500, "ME apex=14")


def test_eaf_several_videos_one_file_each(tmp_path):
    p = tmp_path / "spots.eaf"
    fps = {"v1": 30.0, "v2": 25.0, "v,odd \"name\"": 30}
    assert export_targets(p, "eaf", [iv.video for iv in IVS]) == \
        [tmp_path / n for n in ("spots.v2.eaf", "spots.v1.eaf", "spots.v_odd_name_.eaf")]
    out = write_intervals(p, IVS, "eaf", PROV, fps=fps)
    assert len(out) == 3 and all(o.exists() for o in out)
    names = sorted(o.name for o in out)
    assert "spots.v1.eaf" in names and "spots.v2.eaf" in names
    root = ET.parse(tmp_path / "spots.v2.eaf").getroot()
    ts = sorted(int(e.get("TIME_VALUE")) for e in root.iter("TIME_SLOT"))
    assert ts == [1600, 1800, 1840, 2080]  # interval 40-51 and apex frame 45 at 25 fps
    with pytest.raises(PfesError):
        write_intervals(tmp_path / "x.eaf", IVS, "eaf", PROV, fps={"v1": 30.0})


def test_point_labels_to_eaf(tmp_path):
    p = tmp_path / "labels.eaf"
    out = write_points_eaf(p, POINTS, {"v1": 25.0, "v2": 25.0}, videos=["v1", "v2"])
    assert out == [tmp_path / "labels.v1.eaf", tmp_path / "labels.v2.eaf"]
    root = ET.parse(out[1]).getroot()
    assert {t.get("TIER_ID") for t in root.iter("TIER")} == {"MaE points", "ME points"}
    slots = sorted(int(e.get("TIME_VALUE")) for e in root.iter("TIME_SLOT"))
    assert slots == [1760, 1800]  # frame 44 at 25 fps
    with pytest.raises(ExportError, match="already exists"):
        write_points_eaf(p, POINTS, 25.0, overwrite=False)


def test_files_follow_the_umask(tmp_path):
    with umask(0o022):
        files = write_intervals(tmp_path / "a.csv", IVS, "csv", PROV)
        files += write_intervals(tmp_path / "a.json", IVS, "json", PROV)
        files += write_intervals(tmp_path / "a.eaf", IVS[:1], "eaf", PROV, fps=25.0)
        files += write_intervals(tmp_path / "m.csv", IVS, "megc", PROV)
    assert len(files) == 6 and {mode(f) for f in files} == {0o644}
    with umask(0o027):
        atomic.write_text(tmp_path / "g.txt", "x")
        assert atomic.default_file_mode() == 0o640
    assert mode(tmp_path / "g.txt") == 0o640
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(
        ["a.csv", "a.provenance.json", "a.json", "a.eaf", "m.csv", "m.provenance.json", "g.txt"])


def test_existing_file_refused_without_overwrite(tmp_path):
    p = tmp_path / "a.csv"
    write_intervals(p, IVS, "csv", PROV)
    before = p.read_text()
    with pytest.raises(ExportError, match="already exists.*--force"):
        write_intervals(p, IVS[:1], "csv", PROV, overwrite=False)
    assert p.read_text() == before
    # the sidecar counts too: a stale one is not silently replaced
    p.unlink()
    with pytest.raises(ExportError, match="a.provenance.json already exists"):
        write_intervals(p, IVS[:1], "csv", PROV, overwrite=False)
    assert not p.exists()
    assert write_intervals(p, IVS[:1], "csv", PROV, overwrite=True) == [p, provenance_path(p)]
    assert len(read_intervals(p)[0]) == 1
    with pytest.raises(ExportError, match="v1.eaf already exists"):
        (tmp_path / "s.v1.eaf").write_text("keep")
        write_intervals(tmp_path / "s.eaf", IVS, "eaf", PROV, fps=25.0, overwrite=False)
    assert (tmp_path / "s.v1.eaf").read_text() == "keep" and not (tmp_path / "s.v2.eaf").exists()


def test_folder_targets_and_missing_folders_refused(tmp_path):
    with pytest.raises(ExportError, match="is a folder"):
        write_intervals(tmp_path, IVS, "eaf", PROV, fps=25.0)
    with pytest.raises(ExportError, match="is a folder"):
        write_intervals(str(tmp_path / "new") + "/", IVS, "csv", PROV)
    with pytest.raises(ExportError, match="is a folder"):
        write_intervals(tmp_path, IVS, "json", PROV)
    with pytest.raises(ExportError, match="folder .*missing.* does not exist"):
        write_intervals(tmp_path / "missing" / "a.csv", IVS, "csv", PROV)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_target(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    with pytest.raises(FileExistsError):
        atomic.write_bytes(target, b"new", overwrite=False)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_bad_format_and_bad_file(tmp_path):
    with pytest.raises(PfesError):
        write_intervals(tmp_path / "x", IVS, "xls", PROV)
    bad = tmp_path / "bad.csv"
    bad.write_text("video,class,onset,apex,offset,score\nv,MaE,ten,1,2,\n")
    with pytest.raises(PfesError, match="line 2"):
        read_intervals(bad)
    badj = tmp_path / "bad.json"
    badj.write_text("{\"intervals\": [{\"video\": \"v\"}]}")
    with pytest.raises(PfesError):
        read_intervals(badj)
    with pytest.raises(ExportError, match="review state"):
        write_intervals(tmp_path / "r.csv", IVS[:1], "csv", PROV, review=["rejected"])


def test_empty_export(tmp_path):
    p = tmp_path / "e.csv"
    write_intervals(p, [], "csv", PROV)
    assert p.read_text() == ",".join(CSV_COLUMNS) + "\n"
    assert read_intervals(p) == ([], PROV)
