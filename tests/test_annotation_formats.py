"""`pfes labels import` from ELAN, BORIS and spreadsheets, through the real CLI and project."""

from __future__ import annotations

import json
from fractions import Fraction

import openpyxl
import pympi
import pytest

from dataset_fixtures import labels, pfes, reference
from video_helpers import pattern_frames, write_video


@pytest.fixture
def vfr_project(tmp_path):
    """A project with one variable-frame-rate video: frames 0-9 every 10 ms, then 10-19 from 500 ms,
    so time -> frame needs the real timestamps (a nominal fps would be far off)."""
    pts = [10 * k for k in range(10)] + [500 + 10 * k for k in range(10)]
    video = write_video(tmp_path / "face.mp4", pattern_frames(20, w=64, h=48), fps=100, pts=pts,
                        time_base=Fraction(1, 1000))
    assert pfes("init", tmp_path / "p.pfes").returncode == 0
    assert pfes("add-video", tmp_path / "p.pfes", video, "--subject", "s1").returncode == 0
    return tmp_path / "p.pfes"


def _eaf(path, media, tiers: dict[str, list[tuple[int, int, str]]]):
    eaf = pympi.Elan.Eaf(author="test")
    eaf.add_linked_file(str(media), mimetype="video/mp4")
    for tier, anns in tiers.items():
        eaf.add_tier(tier)
        for start, end, value in anns:
            eaf.add_annotation(tier, start, end, value)
    eaf.to_file(str(path))
    return path


def test_eaf_points_and_intervals_use_the_videos_timestamps(vfr_project, tmp_path):
    eaf = _eaf(tmp_path / "coded.eaf", tmp_path / "face.mp4", {
        "expr": [(20, 60, "macro"), (505, 545, "Micro - 1/2")],
        "expr apex": [(30, 40, "")],
        "notes": [(100, 200, "subject sneezed")],
    })
    out = pfes("labels", "import", vfr_project, eaf, "--tiers", "expr", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["format"], doc["imported"], doc["per_class"]) == ("eaf", 2, {"MaE": 1, "ME": 1})
    # midpoints 40 ms -> frame 4; 525 ms -> frame 12 (frame 10 starts at 500 ms)
    assert [(lb["frame"], lb["class"]) for lb in labels(vfr_project)] == [(4, "MaE"), (12, "ME")]

    out = pfes("labels", "import", vfr_project, eaf, "--tiers", "expr", "--intervals")
    assert out.returncode == 0, out.stderr
    # onset = frame showing at the start, offset = frame showing just before the end, apex from the apex tier
    assert reference(vfr_project) == [("face", "MaE", 2, 3, 5), ("face", "ME", 10, 12, 14)]


def test_eaf_value_map_and_errors(vfr_project, tmp_path):
    eaf = _eaf(tmp_path / "coded.eaf", tmp_path / "face.mp4", {"events": [(0, 30, "smile"), (510, 530, "twitch")]})
    out = pfes("labels", "import", vfr_project, eaf, "--tiers", "events")
    assert out.returncode == 1
    assert "coded.eaf, tier 'events', 0.000 s: 'smile' is not MaE or ME" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and labels(vfr_project) == []
    out = pfes("labels", "import", vfr_project, eaf, "--map", "smile=MaE", "--map", "twitch=ME")
    assert out.returncode == 0, out.stderr
    assert [(lb["frame"], lb["class"]) for lb in labels(vfr_project)] == [(1, "MaE"), (12, "ME")]

    broken = tmp_path / "broken.eaf"
    broken.write_text("<ANNOTATION_DOCUMENT><TIME_ORDER>")
    out = pfes("labels", "import", vfr_project, broken)
    assert out.returncode == 1 and "broken.eaf: not a readable ELAN file" in out.stderr
    assert len(labels(vfr_project)) == 2


def test_boris_aggregated_and_tabular_exports(vfr_project, tmp_path):
    agg = tmp_path / "boris_aggregated.tsv"
    agg.write_text("\t".join(["Observation id", "Media file name", "FPS", "Subject", "Behavior", "Behavior type",
                              "Start (s)", "Stop (s)", "Duration (s)"]) + "\n"
                   + "obs1\t/lab/videos/face.mp4\t100\tnone\tsmile\tSTATE\t0.02\t0.065\t0.045\n"
                   + "obs1\t/lab/videos/face.mp4\t100\tnone\ttwitch\tPOINT\t0.512\t\t\n"
                   + "obs1\t/lab/videos/face.mp4\t100\tnone\tblink\tPOINT\t0.55\t\t\n")
    out = pfes("labels", "import", vfr_project, agg)
    assert out.returncode == 1 and "boris_aggregated.tsv, line 2: behaviour 'smile' is not MaE or ME" in out.stderr
    out = pfes("labels", "import", vfr_project, agg, "--map", "smile=MaE,twitch=ME,blink=-", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ignored"] == 1
    assert [(lb["frame"], lb["class"]) for lb in labels(vfr_project)] == [(4, "MaE"), (11, "ME")]

    tab = tmp_path / "boris_events.csv"
    tab.write_text("Time,Media file path,Total length,FPS,Subject,Behavior,Behavioral category,Comment,Status\n"
                   "0.03,face.mp4,0.6,100,,smile,,,START\n"
                   "0.07,face.mp4,0.6,100,,smile,,,STOP\n"
                   "0.52,face.mp4,0.6,100,,twitch,,,POINT\n")
    out = pfes("labels", "import", vfr_project, tab, "--map", "smile=MaE,twitch=ME", "--intervals")
    assert out.returncode == 0, out.stderr
    assert reference(vfr_project) == [("face", "MaE", 3, 4, 6)]


def test_spreadsheet_with_a_column_mapping(vfr_project, tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "coding"
    for row in (["Lab coding sheet"], [], ["Clip", "Type", "Apex frame", "Coder"],
                ["face", "Macro", 3, "ana"], ["face", "Micro - 1/2", 16, "ana"]):
        ws.append(row)
    book.save(tmp_path / "coding.xlsx")
    out = pfes("labels", "import", vfr_project, tmp_path / "coding.xlsx")
    assert out.returncode == 1 and "--columns" in out.stderr
    cols = "video=Clip,class=Type,frame=Apex frame,annotator=Coder"
    out = pfes("labels", "import", vfr_project, tmp_path / "coding.xlsx", "--columns", cols, "--first-frame", "1")
    assert out.returncode == 0, out.stderr
    assert [(lb["frame"], lb["class"], lb["annotator"]) for lb in labels(vfr_project)] == [
        (2, "MaE", "ana"), (15, "ME", "ana")]

    ws.append(["face", "Macro", 25, "ana"])
    book.save(tmp_path / "coding.xlsx")
    out = pfes("labels", "import", vfr_project, tmp_path / "coding.xlsx", "--columns", cols, "--skip-existing")
    assert out.returncode == 1
    assert "coding.xlsx, sheet 'coding', row 6: frame 25 is outside video 'face' (20 frames" in out.stderr
    assert len(labels(vfr_project)) == 2


def test_eaf_round_trip_points_and_intervals(tmp_path):
    """What P-FES writes to ELAN (pfes_core.exports) reads back identical (a constant-rate video: the
    writer times frames as frame / fps)."""
    from pfes_core.exports import write_intervals
    from pfes_core.project import Project
    from pfes_core.types import Interval

    write_video(tmp_path / "face.mp4", pattern_frames(20, w=64, h=48), fps=30)
    project = tmp_path / "p.pfes"
    assert pfes("init", project).returncode == 0
    assert pfes("add-video", project, tmp_path / "face.mp4").returncode == 0

    src = tmp_path / "pts.csv"
    src.write_text("video,frame,class,annotator\nface,0,MaE,ana\nface,9,ME,ana\nface,10,MaE,ana\nface,19,ME,ana\n")
    assert pfes("labels", "import", project, src).returncode == 0
    out = pfes("labels", "export", project, tmp_path / "points.eaf")
    assert out.returncode == 0, out.stderr
    assert pfes("init", tmp_path / "q.pfes").returncode == 0
    assert pfes("add-video", tmp_path / "q.pfes", tmp_path / "face.mp4").returncode == 0
    out = pfes("labels", "import", tmp_path / "q.pfes", tmp_path / "points.eaf")
    assert out.returncode == 0, out.stderr
    assert labels(tmp_path / "q.pfes") == labels(project)

    intervals = [Interval("face", "MaE", 0, 3, 9), Interval("face", "ME", 8, 10, 12), Interval("face", "MaE", 15, 19, 19)]
    with Project.open(project, readonly=True) as p:
        fps = p.videos["face"].fps
    write_intervals(tmp_path / "spots.eaf", intervals, "eaf", {"run_id": "r1", "label_snapshot": "x"},
                    fps={"face": fps}, media={"face": tmp_path / "face.mp4"})
    out = pfes("labels", "import", tmp_path / "q.pfes", tmp_path / "spots.eaf", "--intervals")
    assert out.returncode == 0, out.stderr
    assert reference(tmp_path / "q.pfes") == [(iv.video, iv.cls, iv.onset, iv.apex, iv.offset) for iv in intervals]
