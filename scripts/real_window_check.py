"""Drive the real app in a real X window and check what an annotator's keys and mouse do.

Not part of the test suite (it needs Xvfb, openbox, xdotool, xwininfo and ImageMagick's `import`):

    python scripts/real_window_check.py DEMO.pfes [--out DIR] [--display :99] [--screen 1280x800]
    python scripts/real_window_check.py --demo-starts 10 [--interruptions] [--out DIR]
    python scripts/real_window_check.py DEMO.pfes --readme-shots --out DIR

It copies the project (the original is never touched), starts Xvfb with the openbox window
manager, starts `pfes-gui` on the copy with PFES_GUI_STATE_FILE set (the app then keeps a
JSON file with its video, frame, labels, proposals, the frame view's zoom, and the screen
positions of the timeline rows, menus, dialog buttons, named widgets, item-view rows and dock
tabs), and sends real X key and mouse events with xdotool: taps at several rates, a held key
(the X server's own auto-repeat), Shift taps, labels, a drag of a label marker, undo, video
switching with PgDn/PgUp, a menu opened with the mouse, a restart that must come back at the
same video and frame; the frame view's fit (after start, with a menu and a dialog open, after a
video switch; a wheel notch and a double-click); File -> Import annotations on an ELAN file made
with pympi; Spot before any trained run (motion proposals) with U, A and R; Preferences (the
annotator's name, a key rebound through the find box, still working after a restart); the
Annotators dock (Mine only) and the Agreement dock (a disagreement row jumps to its frame).

--demo-starts N starts `pfes-gui --demo` N times with a fresh demo folder and settings file
(each builds the demo: minutes) and checks that the demo's first frame is drawn and no
`.building-*` folder is left; --interruptions first breaks builds mid-way (the worker killed,
Cancel, SIGTERM and SIGKILL to the app). --readme-shots takes the README's two screenshots.
Screenshots go to --out; the results print as a table (also OUT/results.md) and the exit status
is the number of failed checks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Desk:
    """Xvfb + openbox + the app, with helpers to send X events and read the app's state."""

    def __init__(self, project: Path, out: Path, display: str, screen: str = "1600x1000"):
        self.project, self.out, self.display, self.screen = project, out, display, screen
        self.state_file = out / "state.json"
        self.settings = out / "settings.ini"
        self.env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb",
                        PFES_GUI_STATE_FILE=str(self.state_file),
                        PFES_GUI_SETTINGS=str(self.settings))
        self.env.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
        self.procs: list[subprocess.Popen] = []
        self.app: subprocess.Popen | None = None

    # ---- processes ----------------------------------------------------------------------------
    def start_x(self) -> None:
        self.procs.append(subprocess.Popen(["Xvfb", self.display, "-screen", "0", f"{self.screen}x24",
                                            "-nolisten", "tcp"], stderr=subprocess.DEVNULL))
        time.sleep(1.0)
        self.procs.append(subprocess.Popen(["openbox"], env=self.env, stderr=subprocess.DEVNULL))
        time.sleep(1.0)
        # the X server's auto-repeat, as on a desktop: 500 ms delay, 30 repeats/s
        subprocess.run(["xset", "r", "rate", "500", "30"], env=self.env, check=False)

    def launch(self, *args: str, env: dict | None = None) -> None:
        """Start `pfes-gui ARGS` (without waiting for anything)."""
        if self.state_file.exists():
            self.state_file.unlink()
        gui = shutil.which("pfes-gui", path=str(Path(sys.executable).parent)) or "pfes-gui"
        with open(self.out / "app.log", "a") as log:
            self.app = subprocess.Popen([gui, *args], env=dict(self.env, **(env or {})),
                                        stdout=log, stderr=subprocess.STDOUT)

    def start_app(self, timeout: float = 60) -> float:
        t0 = time.monotonic()
        self.launch(str(self.project))
        self.wait(lambda s: s.get("video") is not None, timeout, "the app to show a video")
        time.sleep(1.0)
        self.focus()
        return time.monotonic() - t0

    def stop_app(self) -> None:
        if self.app is None:
            return
        self.key("ctrl+q")
        try:
            self.app.wait(30)
        except subprocess.TimeoutExpired:
            print("note: the app did not quit on Ctrl+Q within 30 s; terminating it", flush=True)
            self.app.terminate()
            try:
                self.app.wait(20)
            except subprocess.TimeoutExpired:
                self.app.kill()
                self.app.wait(10)
        self.app = None

    def close(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.terminate()
            try:
                self.app.wait(20)
            except subprocess.TimeoutExpired:
                self.app.kill()
        for p in reversed(self.procs):
            p.terminate()
            p.wait(10)

    # ---- X events --------------------------------------------------------------------------------
    def xdo(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.env, check=True,
                              capture_output=True, text=True).stdout.strip()

    def geometry(self, wid: str) -> dict:
        return {k: int(v) for k, v in (line.split("=", 1) for line in self.xdo(
            "getwindowgeometry", "--shell", wid).splitlines() if "=" in line) if v.isdigit()}

    def focus(self) -> None:
        """Activate the app's main window: the largest visible window with its title (Qt keeps
        small helper windows with the same title)."""
        self.xdo("search", "--sync", "--onlyvisible", "--name", "P-FES Studio")
        wids = self.xdo("search", "--onlyvisible", "--name", "P-FES Studio").split()
        wid = max(wids, key=lambda w: self.geometry(w).get("WIDTH", 0) * self.geometry(w).get("HEIGHT", 0))
        self.xdo("windowactivate", "--sync", wid)
        self.window_id = wid

    def key(self, name: str, times: int = 1, delay_ms: int = 60) -> None:
        self.xdo("key", "--delay", str(delay_ms), *([name] * times))
        time.sleep(0.3)

    def hold(self, name: str, seconds: float) -> None:
        self.xdo("keydown", name)
        time.sleep(seconds)
        self.xdo("keyup", name)
        time.sleep(0.4)

    def drag(self, x0: int, y0: int, x1: int, y1: int) -> None:
        self.xdo("mousemove", "--sync", str(x0), str(y0))
        time.sleep(0.2)
        self.xdo("mousedown", "1")
        for i in range(1, 11):
            self.xdo("mousemove", "--sync", str(x0 + (x1 - x0) * i // 10), str(y0 + (y1 - y0) * i // 10))
            time.sleep(0.03)
        self.xdo("mouseup", "1")
        time.sleep(0.4)

    def screenshot(self, name: str, window_only: bool = False) -> Path:
        """The root window (or only the app's main window) as OUT/NAME.png."""
        path = self.out / f"{name}.png"
        crop = []
        if window_only:       # xwininfo's absolute corner (xdotool's is off by the decoration)
            info = subprocess.run(["xwininfo", "-id", self.window_id], env=self.env, check=True,
                                  capture_output=True, text=True).stdout
            field = {k.strip(): v.strip() for k, v in
                     (line.split(":", 1) for line in info.splitlines() if ":" in line)}
            crop = ["-crop", f"{field['Width']}x{field['Height']}+{field['Absolute upper-left X']}"
                             f"+{field['Absolute upper-left Y']}", "+repage"]
        subprocess.run(["import", "-window", "root", *crop, str(path)], env=self.env, check=True)
        return path

    def click(self, x: int, y: int, button: str = "1") -> None:
        self.xdo("mousemove", "--sync", str(x), str(y))
        time.sleep(0.15)
        self.xdo("click", button)
        time.sleep(0.4)

    def type_text(self, text: str) -> None:
        self.xdo("type", "--delay", "40", text)
        time.sleep(0.3)

    # ---- widgets, found through the state file's "ui" part -----------------------------------------
    def ui_window(self, title: str | None = None, cls: str | None = None,
                  timeout: float = 20) -> dict:
        """A visible top-level window of the app by title (or class), waiting for it to open."""
        def find(s):
            for w in (s.get("ui") or {}).get("windows", []):
                if (title is None or w["title"] == title) and (cls is None or w["class"] == cls):
                    return w
            return None
        return find(self.wait(lambda s: find(s) is not None, timeout, f"window {title or cls}"))

    def window_gone(self, title: str, timeout: float = 20) -> bool:
        try:
            self.wait(lambda s: all(w["title"] != title
                                    for w in (s.get("ui") or {}).get("windows", [])),
                      timeout, f"{title} to close")
            return True
        except RuntimeError:
            return False

    def main_ui(self) -> dict:
        return self.ui_window(cls="MainWindow")

    def click_button(self, text: str, title: str | None = None, cls: str | None = "MainWindow") -> None:
        w = self.ui_window(title, None if title else cls)
        x, y = w["buttons"][text][:2]
        self.click(x, y)

    def click_named(self, name: str, title: str | None = None, cls: str | None = "MainWindow") -> None:
        w = self.ui_window(title, None if title else cls)
        x, y = w["named"][name][:2]
        self.click(x, y)

    def named_text(self, name: str, title: str | None = None, cls: str | None = "MainWindow") -> str:
        w = self.ui_window(title, None if title else cls)
        return (w["named"].get(name) or [0, 0, ""])[2]

    def menu_item(self, menu: str, item_prefix: str) -> None:
        """Open a menu of the menu bar with the mouse and click its item starting with the text."""
        x, y = self.state()["menus"][menu]
        self.click(x, y)

        def find(s):
            items = (s.get("ui") or {}).get("popup_menu") or {}
            return next((xy for text, xy in items.items() if text.startswith(item_prefix)), None)
        xy = find(self.wait(lambda s: find(s) is not None, 10, f"{menu} -> {item_prefix}"))
        self.click(*xy)

    # ---- the app's state ---------------------------------------------------------------------------
    def state(self) -> dict:
        for _ in range(20):
            try:
                return json.loads(self.state_file.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
        return {}

    def wait(self, pred, timeout: float, what: str) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = self.state()
            if s and pred(s):
                return s
            if self.app is not None and self.app.poll() is not None:
                raise RuntimeError(f"the app exited (code {self.app.returncode}) waiting for {what}")
            time.sleep(0.1)
        shot = self.screenshot("timeout_" + "".join(c if c.isalnum() else "_" for c in what)[:40])
        raise RuntimeError(f"timed out waiting for {what} (screen: {shot.name})")

    def frame(self) -> int:
        return int(self.state()["frame"])

    def marker_xy(self, frame: int, cls: str) -> tuple[int, int]:
        g = self.state()["timeline"]
        (f0, f1), (x0, x1) = g["frames"], g["x"]
        return round(x0 + (frame - f0) * (x1 - x0) / (f1 - f0)), int(g["rows"][cls])


def run_checks(desk: Desk) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    seconds = desk.start_app()
    s = desk.state()
    check("app opens the project", s.get("video") is not None,
          f"{s.get('video')} shown after {seconds:.1f} s, {len(s.get('videos', []))} videos")
    desk.key("Home")
    for gap in (150, 60):
        start = desk.frame()
        desk.key("Right", 30, gap)
        moved = desk.frame() - start
        check(f"30 taps of Right {gap} ms apart", moved == 30, f"moved {moved} frames (want 30)")
    start = desk.frame()
    desk.key("shift+Right", 3, 120)
    moved = desk.frame() - start
    check("3 taps of Shift+Right", moved == 30, f"moved {moved} frames (want 30)")
    start = desk.frame()
    desk.key("Left", 5, 100)
    check("5 taps of Left", desk.frame() - start == -5, f"moved {desk.frame() - start} (want -5)")
    start = desk.frame()
    desk.hold("Right", 2.0)
    moved = desk.frame() - start
    # 2 s held: 0.5 s delay, then ~45 auto-repeats; with acceleration that is well over 45
    check("Right held 2 s accelerates", moved > 60, f"moved {moved} frames (> 60 wanted)")

    desk.key("Home")
    desk.key("Right", 40, 20)
    f = desk.frame()
    n0 = len(desk.state()["labels"])
    desk.key("m")
    s = desk.state()
    check("M adds an MaE label at the playhead", [f, "MaE"] in s["labels"]
          and len(s["labels"]) == n0 + 1, f"label at {f}: {[f, 'MaE'] in s['labels']}")
    desk.screenshot("after_label")
    x, y = desk.marker_xy(f, "MaE")
    g = desk.state()["timeline"]
    px_per_frame = (g["x"][1] - g["x"][0]) / (g["frames"][1] - g["frames"][0])
    target = f + max(8, round(25 / max(px_per_frame, 1e-6)))
    x1, _ = desk.marker_xy(target, "MaE")
    desk.drag(x, y, x1, y)
    s = desk.state()
    moved_to = [fr for fr, c in s["labels"] if c == "MaE" and fr != f and [fr, "MaE"] not in []]
    check("dragging the label under the playhead moves the label",
          [f, "MaE"] not in s["labels"] and any(abs(fr - target) <= 2 for fr in moved_to),
          f"label {f} -> {sorted(moved_to)[:6]} (target ~{target}); playhead {s['frame']}")
    desk.key("ctrl+z")
    s = desk.state()
    check("Ctrl+Z undoes the drag", [f, "MaE"] in s["labels"], f"label back at {f}: "
          f"{[f, 'MaE'] in s['labels']}")
    desk.key("e")
    desk.key("Delete")
    s = desk.state()
    check("Del on a frame with both classes changes nothing and says so",
          [f, "MaE"] in s["labels"] and [f, "ME"] in s["labels"] and "both" in s["status"],
          f"status: {s['status'][:70]!r}")

    first = desk.state()["video"]
    desk.key("Home")
    desk.key("Right", 12, 20)
    desk.key("Next")                                     # PgDn
    s = desk.state()
    check("PgDn shows the next video", s["video"] != first, f"{first} -> {s['video']} at {s['frame']}")
    desk.key("Prior")                                    # PgUp: back at frame 12
    s = desk.state()
    check("PgDn and back returns to the frame", s["video"] == first and s["frame"] == 12,
          f"{s['video']} at frame {s['frame']} (want {first} at 12)")
    desk.key("Prior")
    s = desk.state()
    check("PgUp on the first video does not wrap", s["video"] == first, f"still {s['video']}")

    start = desk.frame()
    x, y = desk.state()["menus"]["Navigate"]             # a menu opened with the mouse...
    desk.xdo("mousemove", "--sync", str(x), str(y))
    desk.xdo("click", "1")
    time.sleep(0.8)
    desk.screenshot("navigate_menu")
    desk.key("Down")                                     # ...its first item: Next frame
    desk.key("Return")
    check("Navigate menu by mouse, first item (Next frame)", desk.frame() == start + 1,
          f"frame {start} -> {desk.frame()}")

    desk.key("Right", 7, 20)
    where = (desk.state()["video"], desk.frame())
    n_labels = desk.state()["n_labels"]
    desk.screenshot("before_restart")
    desk.stop_app()
    desk.start_app()
    s = desk.state()
    check("a restart comes back at the same video and frame", (s["video"], s["frame"]) == where,
          f"{(s['video'], s['frame'])} (want {where})")
    check("labels survive the restart", s["n_labels"] == n_labels, f"{s['n_labels']} labels")
    desk.screenshot("after_restart")
    for part in (check_frame_fit, check_import_annotations, check_spot_and_review,
                 check_preferences_and_annotators, check_agreement):
        try:
            part(desk, check)
        except (RuntimeError, KeyError, IndexError, TypeError, StopIteration,
                subprocess.CalledProcessError) as exc:
            desk.screenshot(f"error_{part.__name__}")
            check(f"{part.__name__} ran to its end", False, f"{type(exc).__name__}: {exc}")
            for _ in range(3):                       # close what it left open
                desk.key("Escape")
    desk.stop_app()
    check_after_restart(desk, check)
    return results


def check_frame_fit(desk: Desk, check) -> None:
    """The frame view shows the whole frame after start, with a menu and a dialog open and
    after them, and after switching videos (once seen drawn ~1.3x zoomed at 1280x800)."""
    seen = []

    def look(moment: str) -> None:
        fv = desk.state().get("frame_view") or {}
        seen.append((moment, bool(fv.get("whole_frame")), fv.get("zoom"), fv.get("view_px")))

    look("after start")
    x, y = desk.state()["menus"]["File"]
    desk.click(x, y)
    time.sleep(0.5)
    look("File menu open")
    desk.key("Escape")
    look("File menu closed")
    desk.key("ctrl+g")                                   # Go to frame...: a modal dialog
    time.sleep(0.8)
    look("Go to frame dialog open")
    desk.key("Escape")
    look("dialog closed")
    desk.key("Next")
    time.sleep(0.5)
    look("next video")
    desk.key("Prior")
    time.sleep(0.5)
    look("back")
    bad = [f"{m}: zoom {z} in {px}" for m, ok, z, px in seen if not ok]
    check("frame view shows the whole frame (start, menu, dialog, video switch)", not bad,
          "; ".join(bad) or f"zoom {seen[0][2]} in a {seen[0][3]} px view at all {len(seen)} moments")
    x, y = desk.state()["frame_view"]["centre"]
    desk.click(x, y, "4")                                # one wheel notch up over the frame
    fv = desk.state()["frame_view"]
    zoomed = (fv["zoom"], fv["caption"])
    desk.key("Right")
    still = desk.state()["frame_view"]["zoom"]
    desk.xdo("click", "--repeat", "2", "--delay", "80", "1")
    time.sleep(0.5)
    fv = desk.state()["frame_view"]
    check("a wheel notch zooms (caption says so), a step keeps it, a double-click fits",
          zoomed[0] > 1.2 and "zoom" in zoomed[1] and still == zoomed[0] and fv["whole_frame"]
          and "zoom" not in fv["caption"],
          f"zoom {zoomed[0]}, caption {zoomed[1][-45:]!r}; after a step {still}; after the "
          f"double-click {fv['zoom']} ({'whole frame' if fv['whole_frame'] else 'cut'})")
    desk.key("Left")


def _elan_file(path: Path, video: str) -> Path:
    import pympi

    eaf = pympi.Elan.Eaf(author="coder")
    eaf.add_linked_file(f"/data/{video}.mp4", mimetype="video/mp4")
    eaf.add_tier("events")
    eaf.add_annotation("events", 2000, 2080, "smile")      # middle 2.04 s
    eaf.add_annotation("events", 6000, 6040, "twitch")     # middle 6.02 s
    eaf.add_annotation("events", 9000, 9040, "blink")      # not mapped: passed over
    eaf.to_file(str(path))
    return path


def check_import_annotations(desk: Desk, check) -> None:
    """File -> Import annotations (opened with the mouse) reads an ELAN file as one undoable edit."""
    s = desk.state()
    video, before = s["video"], {tuple(x) for x in s["labels_by"]}
    eaf = _elan_file(desk.out / "coded.eaf", video)
    desk.menu_item("File", "Import labels or intervals")
    desk.ui_window("Import annotations")
    desk.screenshot("import_dialog")
    desk.click_named("import_path", "Import annotations")
    desk.type_text(str(eaf))
    desk.click_named("import_mapping", "Import annotations")
    desk.type_text("smile=MaE, twitch=ME")
    desk.click_button("Preview", "Import annotations")
    time.sleep(0.8)
    summary = desk.named_text("import_summary", "Import annotations")
    check("Import annotations dialog previews the ELAN file", "2 point labels (MaE 1, ME 1)" in summary,
          f"summary: {summary[:90]!r}")
    desk.click_button("Import", "Import annotations")
    closed = desk.window_gone("Import annotations")
    s = desk.state()
    new = sorted({tuple(x) for x in s["labels_by"]} - before)
    fps = s["n_frames"] / 15.0                           # the demo's videos are 15 s long
    want = [(round(2.04 * fps), "MaE"), (round(6.02 * fps), "ME")]
    ok = closed and len(new) == 2 and all(
        any(abs(f - wf) <= 1 and c == wc and a == s["annotator"] for f, c, a in new) for wf, wc in want)
    check("Import adds the ELAN labels as the desk's annotator", ok,
          f"new labels {new} (want ~{want} by {s['annotator']}); dialog closed: {closed}")
    desk.key("ctrl+z")
    after_undo = {tuple(x) for x in desk.state()["labels_by"]}
    desk.key("ctrl+shift+z")
    after_redo = {tuple(x) for x in desk.state()["labels_by"]}
    check("one Ctrl+Z undoes the whole import, Ctrl+Shift+Z redoes it",
          after_undo == before and after_redo - before == set(new),
          f"after undo {len(after_undo - before)} new, after redo {len(after_redo - before)} new")


def check_spot_and_review(desk: Desk, check) -> None:
    """Spot before any trained run shows the motion proposals; U, A and R review them.
    Proposals in the state file: [video, onset, apex, offset, class, status]."""
    desk.key("ctrl+shift+t")
    try:
        s = desk.wait(lambda s: s.get("proposals"), 180, "motion proposals")
    except RuntimeError as exc:
        check("Spot before any run shows motion proposals", False, str(exc))
        return
    here_video = [p for p in s["proposals"] if p[0] == s["video"]]
    check("Spot before any run shows motion proposals", "motion proposals" in s["status"],
          f"{len(s['proposals'])} in all, {len(here_video)} in this video; status {s['status'][:80]!r}")
    desk.screenshot("motion_proposals")

    def unreviewed_here(s):
        return [p for p in s["proposals"] if p[0] == s["video"] and p[1] <= s["frame"] <= p[3]
                and p[5] is None]

    def status(s, proposal):
        return next((p[5] for p in s["proposals"] if p[:5] == proposal[:5]), "gone")

    desk.key("Home")
    desk.key("u")
    s = desk.state()
    here = unreviewed_here(s)
    check("U jumps to an unreviewed proposal", bool(here), f"{s['video']} frame {s['frame']}: {here[:2]}")
    if not here:
        return
    target = min(here, key=lambda p: abs(p[2] - s["frame"]))
    n_labels = s["n_labels"]
    desk.key("a")
    s = desk.state()
    linked = "no new label added" in (desk.named_text("review_note") or "")
    check("A accepts the proposal under the playhead (a label at its apex, or linked to one in it)",
          status(s, target) == "accepted" and (s["n_labels"] == n_labels + 1 or linked),
          f"{target[4]} {target[1]}-{target[3]} apex {target[2]}: {status(s, target)}; labels "
          f"{n_labels} -> {s['n_labels']}" + (" (linked to a label inside it)" if linked else ""))
    here = unreviewed_here(s)
    check("A then shows the next unreviewed proposal", bool(here),
          f"{s['video']} frame {s['frame']}: {here[:1]}")
    before = (s["video"], s["frame"])
    desk.key("u")
    try:                                                 # a loaded machine may take a moment
        s = desk.wait(lambda s: (s["video"], s["frame"]) != before, 5, "U to move")
    except RuntimeError:
        s = desk.state()
    here = unreviewed_here(s)
    if not here:
        check("U then R rejects the next unreviewed proposal", False,
              f"U went to {s['video']} {s['frame']}, no unreviewed proposal there")
        return
    second = min(here, key=lambda p: abs(p[2] - s["frame"]))
    desk.key("r")
    s = desk.state()
    check("U then R rejects the next unreviewed proposal",
          status(s, second) == "rejected" and second != target,
          f"{second[0]} {second[4]} {second[1]}-{second[3]}: {status(s, second)}")


def check_preferences_and_annotators(desk: Desk, check) -> None:
    """Preferences: the annotator's name and a rebound key (E -> W for an ME label); the
    Annotators dock lists the new name, and 'Mine only' shows only their labels."""
    desk.key("ctrl+comma")
    desk.ui_window("Preferences")
    desk.click_named("annotator_name", "Preferences")
    desk.key("ctrl+a")
    desk.type_text("coder2")
    desk.click_named("shortcut_filter", "Preferences")
    desk.type_text("micro")                              # the find box selects the one match
    rows = desk.ui_window("Preferences")["rows"]["shortcut_table"]
    desk.click_named("shortcut_key_edit", "Preferences")
    desk.key("w")
    time.sleep(1.5)                                      # the key edit ends a second after a key
    shown = desk.named_text("shortcut_key_edit", "Preferences")
    problem = desk.named_text("problem", "Preferences")
    desk.screenshot("preferences")
    desk.click_button("OK", "Preferences")
    closed = desk.window_gone("Preferences")
    found = [r[0].split(" | ")[1] for r in rows]
    check("Preferences: find 'micro', type W for it, OK", closed and shown == "W" and not problem
          and len(found) == 1 and "micro-expression" in found[0],
          f"rows found {found}; key edit shows {shown!r}; problem {problem!r}; closed {closed}")
    s = desk.state()
    check("the annotator name changes to coder2", s["annotator"] == "coder2", f"{s['annotator']}")
    desk.key("End")
    desk.key("Left", 3, 40)
    f = desk.frame()
    desk.key("w")
    s = desk.state()
    check("the rebound key W adds an ME label by coder2", [f, "ME", "coder2"] in s["labels_by"],
          f"labels at {f}: {[x for x in s['labels_by'] if x[0] == f]}")
    desk.key("Left", 2, 40)
    f2, n = desk.frame(), len(desk.state()["labels_by"])
    desk.key("e")
    check("E no longer adds a label", len(desk.state()["labels_by"]) == n, f"frame {f2}")

    main = desk.main_ui()
    desk.click(*main["tabs"]["Annotators"])
    rows = [r[0] for r in desk.main_ui()["rows"].get("annotator_list", [])]
    check("the Annotators dock lists coder2 as you", any(r.startswith("coder2 (you)") for r in rows),
          f"rows {rows}")
    desk.click_button("Mine only")
    s = desk.state()
    shown_by = {a for _f, _c, a in s["shown_labels"]}
    mine = [x for x in s["labels_by"] if x[2] == "coder2"]
    desk.screenshot("mine_only")
    check("Mine only shows only coder2's labels",
          shown_by == {"coder2"} and len(s["shown_labels"]) == len(mine),
          f"shown by {sorted(shown_by)}: {len(s['shown_labels'])} of {len(s['labels_by'])} labels")
    desk.click_button("Mine only")
    s = desk.state()
    check("Mine only off shows every layer again", len(s["shown_labels"]) == len(s["labels_by"]),
          f"{len(s['shown_labels'])} of {len(s['labels_by'])}")


def check_agreement(desk: Desk, check) -> None:
    """View -> Agreement between annotators: figures per pair; a disagreement row jumps there."""
    desk.menu_item("View", "Agreement between annotators")

    def summary(s):
        w = next((w for w in (s.get("ui") or {}).get("windows", []) if w["class"] == "MainWindow"), None)
        return (w or {}).get("rows", {}).get("agreement_summary")
    s = desk.wait(lambda s: summary(s), 30, "agreement figures")
    rows = summary(s)
    check("the Agreement dock shows figures per annotator pair", len(rows) >= 1,
          f"{len(rows)} rows; first: {rows[0][0][:90]!r}")
    items = desk.main_ui()["rows"].get("disagreements", [])
    if not items:
        check("a disagreement row jumps to its frame", False, "no disagreement rows")
        return
    video, frame = items[0][0].split(" | ")[:2]
    desk.click(*items[0][1:3])
    time.sleep(0.5)
    s = desk.state()
    check("a disagreement row jumps to its frame", (s["video"], s["frame"]) == (video, int(frame)),
          f"row {video} {frame} -> {s['video']} {s['frame']}")
    desk.screenshot("agreement", window_only=True)
    desk.menu_item("View", "Agreement between annotators")   # hide it again


def check_after_restart(desk: Desk, check) -> None:
    """The rebound key and the annotator's name survive a restart."""
    desk.start_app()
    s = desk.state()
    check("after a restart the annotator is still coder2", s["annotator"] == "coder2", s["annotator"])
    desk.key("Home")
    desk.key("Right", 3, 40)
    f = desk.frame()
    desk.key("w")
    s = desk.state()
    check("after a restart W still adds an ME label", [f, "ME", "coder2"] in s["labels_by"],
          f"labels at {f}: {[x for x in s['labels_by'] if x[0] == f]}")
    desk.stop_app()


# ---- first starts of `pfes-gui --demo` (issue 10) ---------------------------------------------------
BUILD_TIMEOUT_S = 1500      # one demo build on a loaded 2-core machine takes minutes


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                          text=True).stdout.strip()[:1] not in ("Z", "")


def _wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.5)
    return pred()


def run_demo_starts(desk: Desk, n_starts: int, interruptions: bool) -> list[tuple[str, bool, str]]:
    """Start `pfes-gui --demo` with a fresh demo folder and a fresh settings file `n_starts`
    times; each must show the demo's first video, and no `.building-*` folder may be left next
    to the demo. With `interruptions`, also break builds mid-way: the worker killed (a failed
    build), Cancel pressed, the app sent SIGTERM, and the app SIGKILLed (its folder can only
    be removed by the next start, which must then build and open the demo)."""
    results: list[tuple[str, bool, str]] = []
    base = Path(tempfile.mkdtemp(prefix="pfes-demo-starts-"))

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    def leftovers() -> list[str]:
        return sorted(p.name for p in base.glob(".building-*"))

    def launch(tag: str) -> Path:
        demo = base / f"{tag}.pfes"
        desk.launch("--demo", env={"PFES_DEMO_DIR": str(demo),
                                   "PFES_GUI_SETTINGS": str(base / f"{tag}.ini")})
        return demo

    def quit_app() -> None:
        if desk.app is None:
            return
        if desk.app.poll() is None:
            try:
                desk.focus()
                desk.stop_app()
            except (subprocess.CalledProcessError, IndexError):
                desk.app.terminate()
                try:
                    desk.app.wait(30)
                except subprocess.TimeoutExpired:
                    desk.app.kill()
        desk.app = None

    def mid_build(demo: Path) -> Path | None:
        """Wait until the build has written part of its folder; return that folder."""
        def started():
            found = list(base.glob(f".building-*-{demo.name}"))
            return found and any(found[0].iterdir())
        if not _wait_for(started, 600):
            return None
        time.sleep(15)              # well into the build (videos being written)
        return next(iter(base.glob(f".building-*-{demo.name}")), None)

    def open_demo(tag: str, label: str) -> None:
        t0 = time.monotonic()
        demo = launch(tag)
        try:
            s = desk.wait(lambda s: s.get("video") is not None, BUILD_TIMEOUT_S,
                          "the demo to open")
            listed = time.monotonic() - t0
            s = desk.wait(lambda s: (s.get("frame_view") or {}).get("whole_frame"), 60,
                          "the first frame")
            opened, why = True, (f"{s['video']} listed after {listed:.0f} s, its first frame "
                                 f"drawn after {time.monotonic() - t0:.0f} s")
        except RuntimeError as exc:
            opened, why = False, f"{exc} after {time.monotonic() - t0:.0f} s"
        desk.screenshot(f"demo_{tag}")
        left = leftovers()
        complete = (demo / "project.h5").exists()
        quit_app()
        left_after = leftovers()
        check(label, opened and complete and not left and not left_after,
              f"{why}; building folders left: {left + left_after or 'none'}")

    if interruptions:
        # a failed build: the worker dies mid-way -> an error dialog, the folder removed
        demo = launch("killed_worker")
        folder = mid_build(demo)
        workers = _children(desk.app.pid)
        for pid in workers:
            os.kill(pid, 9)
        shown = _wait_for(lambda: subprocess.run(
            ["xdotool", "search", "--name", "Cannot build the demo project"], env=desk.env,
            capture_output=True).returncode == 0, 60)
        _wait_for(lambda: not leftovers(), 30)
        desk.screenshot("demo_killed_worker")
        check("worker killed mid-build: error shown, no folder left",
              folder is not None and shown and not leftovers() and not demo.exists()
              and desk.app.poll() is None,
              f"killed {len(workers)} worker(s) while {folder.name if folder else 'no folder'} "
              f"was being written; error dialog: {shown}; left: {leftovers() or 'none'}")
        if shown:                   # dismiss the error box (it is window-modal)
            desk.xdo("search", "--name", "Cannot build the demo project", "windowactivate", "--sync")
            desk.key("Return")
        quit_app()

        # Cancel in the progress dialog (Esc)
        demo = launch("cancelled")
        folder = mid_build(demo)
        workers = _children(desk.app.pid)
        desk.xdo("search", "--sync", "--name", "P-FES Studio demo", "windowactivate", "--sync")
        desk.key("Escape")
        gone = _wait_for(lambda: not leftovers() and not any(map(_alive, workers)), 60)
        desk.screenshot("demo_cancelled")
        check("Cancel mid-build: worker stopped, no folder left",
              folder is not None and gone and desk.app.poll() is None and not demo.exists(),
              f"left: {leftovers() or 'none'}; workers alive: "
              f"{[p for p in workers if _alive(p)] or 'none'}; app running: {desk.app.poll() is None}")
        quit_app()

        # SIGTERM to the app (logout, kill PID): it closes as File -> Quit does
        demo = launch("sigterm")
        folder = mid_build(demo)
        workers = _children(desk.app.pid)
        desk.app.terminate()
        try:
            code = desk.app.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        _wait_for(lambda: not any(map(_alive, workers)), 30)
        check("SIGTERM to the app mid-build: it exits, no folder or worker left",
              folder is not None and code is not None and not leftovers()
              and not any(map(_alive, workers)),
              f"exit code {code}; left: {leftovers() or 'none'}; workers alive: "
              f"{[p for p in workers if _alive(p)] or 'none'}")
        quit_app()

        # SIGKILL: nothing can clean up in the process; its worker must follow it, and the
        # next start must remove the leftover and build the demo
        demo = launch("sigkill")
        folder = mid_build(demo)
        workers = _children(desk.app.pid)
        desk.app.kill()
        desk.app.wait(30)
        desk.app = None
        followed = _wait_for(lambda: not any(map(_alive, workers)), 30)
        check("SIGKILL to the app mid-build: its worker exits too", folder is not None and followed,
              f"workers alive 30 s later: {[p for p in workers if _alive(p)] or 'none'}; "
              f"left until the next start: {leftovers() or 'none'}")
        open_demo("sigkill", "the start after a SIGKILLed build removes it and opens the demo")

    for i in range(1, n_starts + 1):
        open_demo(f"demo{i}", f"fresh --demo start {i}/{n_starts}")
    shutil.rmtree(base, ignore_errors=True)
    return results


# ---- the README's screenshots --------------------------------------------------------------------
def take_readme_shots(desk: Desk) -> list[tuple[str, bool, str]]:
    """docs/screenshot.png (motion proposals under review) and docs/multi_annotator.png (two
    annotators' layers, the Annotators dock and the Agreement dock), window only, from the
    real app on a copy of the demo. They land in --out; copy them into docs/ after looking."""
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    def go_to(frame: int) -> None:
        desk.key("ctrl+g")
        desk.ui_window(cls="QInputDialog")
        desk.key("ctrl+a")
        desk.type_text(str(frame))
        desk.key("Return")
        desk.wait(lambda s: s["frame"] == frame, 10, f"frame {frame}")

    desk.start_app()
    desk.key("ctrl+shift+t")
    desk.wait(lambda s: s.get("proposals"), 180, "motion proposals")
    go_to(80)
    desk.key("u")                                        # the MaE proposal around frame 85
    time.sleep(1.0)
    desk.screenshot("screenshot", window_only=True)
    s = desk.state()
    check("main window with motion proposals", bool(s["proposals"]) and s["frame_view"]["whole_frame"],
          f"{s['video']} frame {s['frame']}, {len(s['proposals'])} proposals")

    desk.key("ctrl+comma")
    desk.ui_window("Preferences")
    desk.click_named("annotator_name", "Preferences")
    desk.key("ctrl+a")
    desk.type_text("coder2")
    desk.click_button("OK", "Preferences")
    desk.window_gone("Preferences")
    # a second coder: two labels agreeing within the tolerance, one of the other class,
    # one the first coder did not mark
    for frame, key in ((101, "m"), (151, "m"), (283, "m"), (320, "e")):
        go_to(frame)
        desk.key(key)
    desk.click(*desk.main_ui()["tabs"]["Annotators"])
    desk.menu_item("View", "Agreement between annotators")
    desk.wait(lambda s: any(w["rows"].get("disagreements") for w in s["ui"]["windows"]
                            if w["class"] == "MainWindow"), 30, "disagreements")
    rows = desk.main_ui()["rows"]["disagreements"]
    pick = next((r for r in rows if "class" in r[0]), rows[0])
    desk.click(*pick[1:3])
    time.sleep(1.0)
    desk.xdo("mousemove", "5", "5")                      # no hover highlight in the picture
    time.sleep(0.5)
    desk.screenshot("multi_annotator", window_only=True)
    s = desk.state()
    check("two annotators, the Annotators and Agreement docks",
          {"demo", "coder2"} <= {a for _f, _c, a in s["labels_by"]} and s["frame_view"]["whole_frame"],
          f"{s['video']} frame {s['frame']}; disagreement row {pick[0]!r}")
    desk.stop_app()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("project", nargs="?",
                    help="a demo project (pfes demo DIR); it is copied, not changed")
    ap.add_argument("--out", default=None, help="folder for screenshots, logs and the result table")
    ap.add_argument("--display", default=":99")
    ap.add_argument("--screen", default="1600x1000", help="the X screen's size (e.g. 1280x800)")
    ap.add_argument("--demo-starts", type=int, default=0, metavar="N",
                    help="instead: start `pfes-gui --demo` N times, each with a fresh demo folder "
                         "and settings file (each builds the demo: minutes)")
    ap.add_argument("--readme-shots", action="store_true",
                    help="instead: take the README's two screenshots (window only) into --out")
    ap.add_argument("--interruptions", action="store_true",
                    help="with --demo-starts: also kill, cancel and SIGTERM builds mid-way")
    args = ap.parse_args(argv)
    if args.readme_shots and not args.project:
        ap.error("--readme-shots needs the demo project")
    if not args.demo_starts and not args.project:
        ap.error("give a demo project, or --demo-starts N")
    for tool in ("Xvfb", "openbox", "xdotool", "import", "xset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (apt-get install xvfb openbox xdotool "
                  f"imagemagick x11-xserver-utils)", file=sys.stderr)
            return 2
    out = Path(args.out or tempfile.mkdtemp(prefix="pfes-real-window-"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pfes-rwc-"))
    copy = None
    if args.project:
        copy = work / Path(args.project).name
        shutil.copytree(args.project, copy, ignore=shutil.ignore_patterns("project.lock"))
    desk = Desk(copy, out, args.display, args.screen)
    try:
        desk.start_x()
        if args.readme_shots:
            results = take_readme_shots(desk)
        elif args.demo_starts:
            results = run_demo_starts(desk, args.demo_starts, args.interruptions)
        else:
            results = run_checks(desk)
    finally:
        desk.close()
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in results if not r[1]]
    lines = ["| check | result | detail |", "|---|---|---|"]
    lines += [f"| {n} | {'pass' if ok else 'FAIL'} | {d} |" for n, ok, d in results]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed; screenshots in {out}")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
