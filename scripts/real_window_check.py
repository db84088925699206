"""Drive the real app in a real X window and check what an annotator's keys and mouse do.

Not part of the test suite (it needs Xvfb, openbox, xdotool and ImageMagick's `import`):

    python scripts/real_window_check.py DEMO.pfes [--out DIR] [--display :99]

It copies the project (the original is never touched), starts Xvfb with the openbox window
manager, starts `pfes-gui` on the copy with PFES_GUI_STATE_FILE set (the app then keeps a
JSON file with its video, frame, labels and the screen position of the timeline rows), and
sends real X key and mouse events with xdotool: taps at several rates, a held key (the X
server's own auto-repeat), Shift taps, labels, a drag of a label marker, undo, video switching
with PgDn/PgUp, a menu opened with the mouse, and a restart that must come back at the same
video and frame. Screenshots of the root window go to --out; the results print as a table and
the exit status is the number of failed checks.
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

    def __init__(self, project: Path, out: Path, display: str):
        self.project, self.out, self.display = project, out, display
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
        self.procs.append(subprocess.Popen(["Xvfb", self.display, "-screen", "0", "1600x1000x24",
                                            "-nolisten", "tcp"], stderr=subprocess.DEVNULL))
        time.sleep(1.0)
        self.procs.append(subprocess.Popen(["openbox"], env=self.env, stderr=subprocess.DEVNULL))
        time.sleep(1.0)
        # the X server's auto-repeat, as on a desktop: 500 ms delay, 30 repeats/s
        subprocess.run(["xset", "r", "rate", "500", "30"], env=self.env, check=False)

    def start_app(self) -> float:
        if self.state_file.exists():
            self.state_file.unlink()
        t0 = time.monotonic()
        gui = shutil.which("pfes-gui", path=str(Path(sys.executable).parent)) or "pfes-gui"
        self.app = subprocess.Popen([gui, str(self.project)], env=self.env,
                                    stdout=open(self.out / "app.log", "a"), stderr=subprocess.STDOUT)
        self.wait(lambda s: s.get("video") is not None, 60, "the app to show a video")
        time.sleep(1.0)
        self.focus()
        return time.monotonic() - t0

    def stop_app(self) -> None:
        if self.app is None:
            return
        self.key("ctrl+q")
        try:
            self.app.wait(20)
        except subprocess.TimeoutExpired:
            self.app.terminate()
            self.app.wait(10)
        self.app = None

    def close(self) -> None:
        if self.app is not None:
            self.app.terminate()
            self.app.wait(10)
        for p in reversed(self.procs):
            p.terminate()
            p.wait(10)

    # ---- X events --------------------------------------------------------------------------------
    def xdo(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.env, check=True,
                              capture_output=True, text=True).stdout.strip()

    def focus(self) -> None:
        wid = self.xdo("search", "--sync", "--name", "P-FES Studio").split()[0]
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

    def screenshot(self, name: str) -> Path:
        path = self.out / f"{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True)
        return path

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
        raise RuntimeError(f"timed out waiting for {what}")

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
    desk.stop_app()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("project", help="a demo project (pfes demo DIR); it is copied, not changed")
    ap.add_argument("--out", default=None, help="folder for screenshots, logs and the result table")
    ap.add_argument("--display", default=":99")
    args = ap.parse_args(argv)
    for tool in ("Xvfb", "openbox", "xdotool", "import", "xset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (apt-get install xvfb openbox xdotool "
                  f"imagemagick x11-xserver-utils)", file=sys.stderr)
            return 2
    out = Path(args.out or tempfile.mkdtemp(prefix="pfes-real-window-"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pfes-rwc-"))
    copy = work / Path(args.project).name
    shutil.copytree(args.project, copy, ignore=shutil.ignore_patterns("project.lock"))
    desk = Desk(copy, out, args.display)
    try:
        desk.start_x()
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
