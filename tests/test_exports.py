"""Export round trips and ELAN structure."""

import csv
import json
import xml.etree.ElementTree as ET

import pytest

import pfes_core
from pfes_core.errors import PfesError
from pfes_core.exports import make_provenance, read_intervals, write_intervals
from pfes_core.types import Interval

IVS = [
    Interval("v2", "ME", 40, 45, 51, 0.61),
    Interval("v1", "MaE", 100, 120, 139, 0.875),
    Interval("v1", "MaE", 130, 140, 160, 0.5),   # overlaps the previous MaE
    Interval("v1", "ME", 10, 14, 21, None),
    Interval("v,odd \"name\"", "MaE", 0, 3, 29, 0.25),
]
PROV = make_provenance("run-20260101-abc", "sha256:deadbeef", preset="default",
                       settings={"budget": [8, 2]})


def key(iv):
    return (iv.video, iv.onset, iv.offset, iv.cls)


def test_provenance_defaults():
    assert PROV["app_version"] == pfes_core.__version__
    assert list(PROV)[:3] == ["run_id", "label_snapshot", "app_version"]


def test_csv_round_trip(tmp_path):
    p = tmp_path / "out.csv"
    assert write_intervals(p, IVS, "csv", PROV) == [p]
    back, prov = read_intervals(p)
    assert sorted(back, key=key) == sorted(IVS, key=key)
    assert prov == PROV
    text = p.read_text()
    assert text.startswith("# run_id: run-20260101-abc\n")
    rows = list(csv.reader(line for line in text.splitlines() if not line.startswith("#")))
    assert rows[0] == ["video", "class", "onset", "apex", "offset", "score"]
    assert len(rows) == 1 + len(IVS)


def test_json_round_trip(tmp_path):
    p = tmp_path / "out.json"
    write_intervals(p, IVS, "json", PROV)
    back, prov = read_intervals(p)
    assert sorted(back, key=key) == sorted(IVS, key=key)
    assert prov == PROV
    doc = json.loads(p.read_text())
    assert doc["format"] == "pfes-intervals" and doc["provenance"]["label_snapshot"] == "sha256:deadbeef"


def test_megc_lines(tmp_path):
    p = tmp_path / "sub.csv"
    write_intervals(p, IVS, "megc", PROV)
    body = [l for l in p.read_text().splitlines() if not l.startswith("#")]
    assert body[0] == "video,onset,offset,class"
    assert "v1,100,139,mae" in body and "v2,40,51,me" in body
    back, prov = read_intervals(p, "megc")
    assert prov["run_id"] == "run-20260101-abc"
    assert sorted((b.video, b.cls, b.onset, b.offset) for b in back) == \
        sorted((i.video, i.cls, i.onset, i.offset) for i in IVS)


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
    assert set(tiers) == {"MaE", "MaE 2", "ME"}  # overlapping MaE moved to a second tier
    lt_ids = {e.get("LINGUISTIC_TYPE_ID") for e in root.iter("LINGUISTIC_TYPE")}
    assert all(t.get("LINGUISTIC_TYPE_REF") in lt_ids for t in tiers.values())
    got = []
    for tier in tiers.values():
        for al in tier.iter("ALIGNABLE_ANNOTATION"):
            got.append((slots[al.get("TIME_SLOT_REF1")], slots[al.get("TIME_SLOT_REF2")],
                        al.find("ANNOTATION_VALUE").text))
    got.sort()
    # 25 fps: frame f starts at 40 f ms; the inclusive offset frame ends at 40 (offset + 1)
    assert got[0] == (400, 880, "ME apex=14 frames=10-21")
    assert got[1] == (4000, 5600, "MaE apex=120 frames=100-139 score=0.875")
    assert got[2] == (5200, 6440, "MaE apex=140 frames=130-160 score=0.500")
    ids = [a.get("ANNOTATION_ID") for a in root.iter("ALIGNABLE_ANNOTATION")]
    assert len(ids) == len(set(ids)) == 3


def test_eaf_several_videos_one_file_each(tmp_path):
    p = tmp_path / "spots.eaf"
    out = write_intervals(p, IVS, "eaf", PROV, fps={"v1": 30.0, "v2": 25.0, "v,odd \"name\"": 30})
    assert len(out) == 3 and all(o.exists() for o in out)
    names = sorted(o.name for o in out)
    assert "spots.v1.eaf" in names and "spots.v2.eaf" in names
    root = ET.parse(tmp_path / "spots.v2.eaf").getroot()
    ts = sorted(int(e.get("TIME_VALUE")) for e in root.iter("TIME_SLOT"))
    assert ts == [1600, 2080]
    with pytest.raises(PfesError):
        write_intervals(tmp_path / "x.eaf", IVS, "eaf", PROV, fps={"v1": 30.0})


def test_bad_format_and_bad_file(tmp_path):
    with pytest.raises(PfesError):
        write_intervals(tmp_path / "x", IVS, "xls", PROV)
    bad = tmp_path / "bad.csv"
    bad.write_text("# run_id: r\nvideo,class,onset,apex,offset,score\nv,MaE,ten,1,2,\n")
    with pytest.raises(PfesError):
        read_intervals(bad)
    badj = tmp_path / "bad.json"
    badj.write_text("{\"intervals\": [{\"video\": \"v\"}]}")
    with pytest.raises(PfesError):
        read_intervals(badj)


def test_empty_export(tmp_path):
    p = tmp_path / "e.csv"
    write_intervals(p, [], "csv", PROV)
    assert read_intervals(p) == ([], PROV)
