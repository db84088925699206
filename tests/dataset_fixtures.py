"""Tiny stand-ins for CAS(ME)^2, SAMM-LV and CAS(ME)^3 in their published layouts (the real
datasets cannot be shipped): a few small numbered frames or a short video per recording and the
annotation workbooks written with openpyxl in the documented columns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import openpyxl

from video_helpers import pattern_frames, write_video


def frames_folder(folder: Path, numbers, name: str = "{}.jpg", seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    numbers = list(numbers)
    for k, (n, rgb) in enumerate(zip(numbers, pattern_frames(len(numbers), w=32, h=24, seed=seed))):
        cv2.imwrite(str(folder / name.format(n)), rgb[:, :, ::-1])
    return folder


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


# CAS(ME)^2: participant 1 = s15, 2 = s16; code sheet without a header, 1-based frame numbers.
CASME2_CODE = [
    [1, "disgust1_1", 5, 8, 12, "4+7", "disgust", "macro-expression", "disgust"],
    [1, "disgust1_2", 20, 22, 0, "4", "disgust", "micro-expression", "disgust"],       # offset coded 0
    [1, "disgust1_2", 20, 22, 0, "4", "disgust", "micro-expression", "disgust"],       # duplicated row
    [1, "disgust2_1", 3, 50, 9, "12", "happy", "macro-expression", "happy"],            # apex outside
    [2, "disgust1_1", 10, 12, 15, "4", "disgust", "micro-expression", "disgust"],
    [1, "anger1_1", 4, 6, 9, "4", "anger", "macro-expression", "anger"],                # video not on disk
]


def casme2(root: Path, code=None, video: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    workbook(root / "CAS(ME)^2code_final.xlsx", {
        "CASMEcode_final": code or CASME2_CODE,
        "naming rule1": [[15, "s15", 1], [16, "s16", 2]],
        "naming rule2": [["0101", "disgust1"], ["0102", "disgust2"], ["0401", "anger1"]],
    })
    for rel, n in (("s15/15_0101disgustingteeth", 40), ("s15/15_0102eatingworms", 30),
                   ("s16/16_0101disgustingteeth", 30)):
        frames_folder(root / "rawpic" / rel, range(1, n + 1), "img{}.jpg")
        if video:
            (root / "rawvideo" / rel).parent.mkdir(parents=True, exist_ok=True)
            write_video(root / "rawvideo" / (rel + ".avi"), pattern_frames(n, w=32, h=24), fps=30)
    (root / "selectedpic").mkdir(exist_ok=True)
    (root / "cropped").mkdir(exist_ok=True)
    return root


# SAMM-LV: title rows before the header; image numbers from 1; Apex -1 = not annotated.
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"]
SAMM_ROWS = [
    ["006", "006_1_1", 1, 8, 15, 29, 22, "Macro", "4+7", ""],
    ["006", "006_1_2", 1, 36, -1, 50, 15, "Micro - 1/2", "4", "apex not coded"],
    [7, "007_2_1", 2, 15, 22, 0, 0, "Micro - 1/2", "12", ""],
]


def samm_lv(root: Path, rows=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    workbook(root / "SAMM_LongVideos_V2_Release.xlsx", {"FACS_Movement_Only": [
        ["SAMM Long Videos"], [], ["Release 2"], [], SAMM_HEADER, *(rows or SAMM_ROWS)]})
    frames_folder(root / "SAMM_longvideos" / "006_1", range(1, 71), "006_1_{:04d}.jpg")
    frames_folder(root / "SAMM_longvideos" / "007_2", range(1, 57), "007_2_{:04d}.jpg", seed=1)
    return root


# CAS(ME)^3 part A: spNO.1/a has dropped frames 11 and 12.
CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Expression type",
                 "Objective class", "emotion"]
CASME3_ROWS = [
    ["spNO.1", "A", 5, 8, 14, "4", "Macro-expression", 1, "disgust"],
    ["spNO.1", "a", 9, 11, 16, "4", "Micro-expression", 1, "disgust"],     # apex on a dropped frame
    ["spNO.1", "b", 2, 4, 6, "12", "Micro-expression", 2, "happy"],
    ["spNO.2", "a", 3, 6, 40, "12", "Macro-expression", 2, "happy"],       # offset past the end
]


def casme3(root: Path, rows=None) -> Path:
    (root / "annotation").mkdir(parents=True, exist_ok=True)
    workbook(root / "annotation" / "CAS(ME)3_part_A_v2.xlsx", {"Sheet1": [CASME3_HEADER, *(rows or CASME3_ROWS)]})
    base = root / "data" / "part_A"
    frames_folder(base / "spNO.1" / "a" / "color", [n for n in range(1, 31) if n not in (11, 12)])
    (base / "spNO.1" / "a" / "depth").mkdir(parents=True)
    frames_folder(base / "spNO.1" / "b" / "color", range(1, 21), seed=1)
    frames_folder(base / "spNO.2" / "a" / "color", range(1, 26), seed=2)
    return root


def pfes(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pfes_core", *map(str, args)], capture_output=True, text=True)


def info(project: Path) -> dict:
    out = pfes("info", project, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def labels(project: Path) -> list[dict]:
    out = pfes("labels", "list", project, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def reference(project: Path) -> list[tuple]:
    from pfes_core.project import Project

    with Project.open(project, readonly=True) as p:
        return sorted(((iv.video, iv.cls, iv.onset, iv.apex, iv.offset) for ivs in p.reference.values() for iv in ivs),
                      key=lambda r: (r[0], r[2], r[1]))
