"""Command-line conventions: quiet closed pipes, progress only on terminals, native log noise off,
`--json` results, preset flags, shell completion, exports that never overwrite silently."""

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_cli_eval import project_with_run  # noqa: F401  (fixture: a project with a finished run)

from pfes_core.cli import build_parser, main
from pfes_core.exports import read_intervals
from pfes_core.labels import AddLabel
from pfes_core.native_logs import is_noise
from pfes_core.progress import ProgressReporter
from pfes_core.project import Project

REPO = Path(__file__).resolve().parents[1]


def _run_proposals(root, run_id, video):
    from pfes_core import runs

    preds = runs.read_predictions(Path(root) / "runs" / run_id / "predictions.h5")
    return preds[video].proposals if video in preds else []


def run_pfes(*args, **kw):
    return subprocess.run([sys.executable, "-m", "pfes_core", *map(str, args)], cwd=REPO,
                          capture_output=True, timeout=120, **kw)


# ---- stdout closed by its reader ---------------------------------------------------------------
def test_closed_stdout_ends_quietly(tmp_path):
    Project.create(tmp_path / "p.pfes").close()
    proc = subprocess.Popen([sys.executable, "-m", "pfes_core", "info", "--json", str(tmp_path / "p.pfes")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command writes (like `| head` done early)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""
    # and through a real shell pipeline
    out = subprocess.run(["bash", "-c", f"{sys.executable} -m pfes_core completion bash | head -n 1"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("#") and "Traceback" not in out.stderr and "Broken" not in out.stderr


# ---- progress --------------------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    log = io.StringIO()
    rep = ProgressReporter("bar", stream=log)
    assert rep.mode == "lines"
    now = [0.0]
    monkeypatch.setattr("pfes_core.progress.time.monotonic", lambda: now[0])
    for step, t in zip(range(5), (0.0, 1.0, 2.0, 40.0, 41.0)):
        now[0] = t
        rep.emit("train", step=step, total=4)
    rep.emit("done", message="run r1")
    lines = log.getvalue().splitlines()
    # first event, one after 30 s, the end; no carriage returns or bar glyphs in a log
    assert lines == ["train: 0/4 (0%)", "train: 3/4 (75%)", "train: 4/4 (100%)", "done: run r1"]
    assert "\r" not in log.getvalue()

    tty = FakeTerminal()
    bar = ProgressReporter("bar", stream=tty)
    assert bar.mode == "bar"
    bar.emit("spot", step=1, total=2)
    bar.close()
    assert "\r" in tty.getvalue() and "1/2" in tty.getvalue()


# ---- native library log lines ----------------------------------------------------------------
NOISE = [b"WARNING: Logging before InitGoogle() is written to STDERR",
         b"W0000 00:00:1796203487.529393   19716 face_landmarker_graph.cc:181] Sets FaceBlendshapesGraph",
         b"I0000 00:00:1796203487.5   12 gl_context.cc:357] GL version: 3.2",
         b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."]
KEPT = [b"E0000 00:00:1796203487.5   12 calculator_graph.cc:887] INTERNAL: graph failed",
        b"error: no project at /x", b"Warning: something the user should see", b"INFORMATION"]


def test_noise_patterns():
    assert all(is_noise(line) for line in NOISE)
    assert not any(is_noise(line) for line in KEPT)


def test_filter_drops_noise_keeps_the_rest_in_order():
    script = ("import os, time\n"
              "from pfes_core import native_logs\n"
              "assert native_logs.install()\n"
              f"lines = {NOISE + KEPT!r}\n"
              "for line in lines:\n"
              "    os.write(2, line + b'\\n')\n"
              "os.write(2, b'\\rW')\n"            # a partial line that might become noise...
              "time.sleep(0.5)\n"
              "os.write(2, b'orking 50%')\n")     # ...and does not: it still comes out
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60)
    assert out.returncode == 0
    assert out.stderr == b"\n".join(KEPT) + b"\n\rWorking 50%"


def test_mediapipe_chatter_filtered_for_real():
    script = ("import sys, numpy as np\n"
              "from pfes_core import native_logs\n"
              "if sys.argv[1] == 'quiet':\n"
              "    native_logs.install()\n"
              "from pfes_core.face import detect_landmarks_image\n"
              "print(detect_landmarks_image(np.zeros((64, 64, 3), np.uint8)))\n")
    loud = subprocess.run([sys.executable, "-c", script, "loud"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    quiet = subprocess.run([sys.executable, "-c", script, "quiet"], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert loud.stdout == quiet.stdout == "None\n"
    assert "XNNPACK" in loud.stderr or "] " in loud.stderr  # the libraries do talk...
    assert quiet.stderr == ""                                 # ...and the filter silences them


# ---- option spellings and completion ---------------------------------------------------------
def test_train_and_spot_presets_have_their_own_flags(capsys):
    parser = build_parser()
    assert parser.parse_args(["train", "P", "--train-preset", "paper"]).train_preset == "paper"
    assert parser.parse_args(["train", "P"]).train_preset == "cpu"
    assert parser.parse_args(["spot", "P", "--spot-preset", "casme2"]).spot_preset == "casme2"
    assert capsys.readouterr().err == ""
    assert parser.parse_args(["train", "P", "--preset", "paper"]).train_preset == "paper"
    assert "--preset is deprecated" in capsys.readouterr().err
    assert parser.parse_args(["spot", "P", "--preset", "samm_lv"]).spot_preset == "samm_lv"
    assert "use --spot-preset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "P", "--preset", "casme2"])
    assert "[--preset" not in parser._subparsers._group_actions[0].choices["train"].format_usage()


def test_completion_script(capsys, tmp_path):
    pytest.importorskip("shtab")
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    for word in ("import-dataset", "export", "--train-preset", "--spot-preset", "--force"):
        assert word in script
    (tmp_path / "pfes.bash").write_text(script)
    assert subprocess.run(["bash", "-n", str(tmp_path / "pfes.bash")]).returncode == 0


# ---- pfes export / labels export -------------------------------------------------------------
def test_export_force_json_and_refusals(project_with_run, tmp_path, capsys):  # noqa: F811
    root, run_id, _ = project_with_run
    out = tmp_path / "out" / "spots.csv"
    assert main(["export", str(root), str(out), "--format", "megc"]) == 1
    assert "does not exist" in capsys.readouterr().err
    out.parent.mkdir()
    old = os.umask(0o022)
    try:
        assert main(["export", str(root), str(out), "--format", "megc", "--json"]) == 0
    finally:
        os.umask(old)
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == [str(out), str(out.with_name("spots.provenance.json"))]
    assert report["run_id"] == run_id and report["intervals"] == 5
    assert {stat.S_IMODE(Path(f).stat().st_mode) for f in report["files"]} == {0o644}
    header, *rows = out.read_text().splitlines()
    assert header == "subject,video,onset,offset,type" and "s1,a,300,310,me" in rows
    subject = {"a": "s1", "b": "s2", "c": "s2"}
    with Project.open(root, readonly=True) as p:
        proposals = [iv for v, ivs in p.videos.items() for iv in _run_proposals(root, run_id, v)]
    assert sorted(rows) == sorted(f"{subject[i.video]},{i.video},{i.onset},{i.offset},{i.cls.lower()}"
                                  for i in proposals)
    assert len(read_intervals(out)[0]) == len(proposals)

    before = out.read_text()
    assert main(["export", str(root), str(out), "--format", "csv"]) == 1
    assert "already exists" in capsys.readouterr().err and out.read_text() == before
    assert main(["export", str(root), str(out), "--format", "csv", "--force"]) == 0
    assert out.read_text().startswith("video,subject,class,onset,apex,offset,score,review\n")
    assert main(["export", str(root), str(tmp_path), "--format", "eaf"]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_labels_export_eaf_and_force(project_with_run, tmp_path, capsys):  # noqa: F811
    root, _, _ = project_with_run
    with Project.open(root) as p:
        p.apply(AddLabel("a", 110, "MaE", "ann"))
        p.apply(AddLabel("b", 205, "ME", "ann"))
        p.save()
    target = tmp_path / "labels.eaf"
    assert main(["labels", "export", str(root), str(target), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert [Path(f).name for f in files] == ["labels.a.eaf", "labels.b.eaf"]
    doc = ET.parse(files[0]).getroot()
    assert [t.get("TIER_ID") for t in doc.iter("TIER")] == ["MaE points", "ME points"]
    assert doc.find("HEADER/MEDIA_DESCRIPTOR").get("RELATIVE_MEDIA_URL") == "./a.mp4"
    assert main(["labels", "export", str(root), str(target)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["labels", "export", str(root), str(target), "--force"]) == 0
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("keep")
    assert main(["labels", "export", str(root), str(csv_path)]) == 1
    assert csv_path.read_text() == "keep"
    assert main(["labels", "export", str(root), str(csv_path), "--force", "--video", "a"]) == 0
    assert csv_path.read_text().splitlines()[1].startswith("a,110,MaE,ann,")


# ---- pfes train --json -----------------------------------------------------------------------
@pytest.mark.slow
def test_train_json(small_demo_project, tmp_path, capsys):
    root = tmp_path / "copy.pfes"
    shutil.copytree(small_demo_project, root)
    assert main(["train", str(root), "--epochs", "1", "--json", "--progress", "jsonl"]) == 1
    assert "use one of them" in capsys.readouterr().err
    assert main(["train", str(root), "--epochs", "1", "--json", "--progress", "none",
                 "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "done" and summary["epochs_done"] == 1
    assert summary["config"]["preset"] == "cpu" and summary["label_snapshot"]["count"] > 0
    assert (Path(summary["path"]) / "predictions.h5").exists()
