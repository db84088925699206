"""Progress reporting shared by every long job: a terminal progress bar, or JSON lines for the GUI.

A job calls ``reporter.emit(stage=..., step=..., total=..., **extra)``. With ``mode="jsonl"`` each
call prints one JSON object per line on stdout (flushed), which the GUI's worker reader parses.
With ``mode="bar"`` a tqdm bar per stage is drawn on stderr when stderr is a terminal; when it is
a file or a pipe (batch jobs, ``2> log``) the same events become a few plain lines instead - a
stage's first event, at most one line every `LOG_EVERY_S` seconds, its end, and every message -
so logs stay readable. ``mode="none"`` is silent.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Callable, TextIO


def _clean(value: Any) -> Any:
    """Make numpy scalars and non-finite floats JSON-safe."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


LOG_EVERY_S = 30.0  # plain-line progress (stderr not a terminal): one line per stage this often


class ProgressReporter:
    """Emit progress events; also forwards every event to an optional callback (used by tests)."""

    def __init__(self, mode: str = "bar", stream: TextIO | None = None,
                 callback: Callable[[dict], None] | None = None):
        if mode not in ("bar", "jsonl", "none", "lines"):
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        self.stream = stream
        self.callback = callback
        self._bars: dict[str, Any] = {}
        self._t0 = time.monotonic()
        self._logged: dict[str, float] = {}  # stage -> time of its last plain progress line
        if mode == "bar" and not self._to_terminal():
            self.mode = "lines"

    def _to_terminal(self) -> bool:
        if self.stream is None:
            from .native_logs import stderr_is_terminal

            return stderr_is_terminal()
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def emit(self, stage: str, step: int | None = None, total: int | None = None,
             message: str | None = None, **extra: Any) -> None:
        event: dict[str, Any] = {"stage": stage, "t": round(time.monotonic() - self._t0, 3)}
        if step is not None:
            event["step"] = int(step)
        if total is not None:
            event["total"] = int(total)
        if message is not None:
            event["message"] = message
        event.update(extra)
        event = _clean(event)
        if self.callback is not None:
            self.callback(event)
        if self.mode == "jsonl":
            out = self.stream or sys.stdout
            out.write(json.dumps(event) + "\n")
            out.flush()
        elif self.mode == "bar":
            self._draw_bar(event)
        elif self.mode == "lines":
            self._write_line(event)

    def _write_line(self, event: dict) -> None:
        """Progress as plain lines for a log file (see the module docstring)."""
        out = self.stream or sys.stderr
        stage, now = event["stage"], time.monotonic()
        text = None
        if "step" in event and "total" in event:
            step, total = event["step"], event["total"]
            last = self._logged.get(stage)
            if last is None or step >= total or now - last >= LOG_EVERY_S:
                pct = f" ({100.0 * step / total:.0f}%)" if total else ""
                text = f"{stage}: {step}/{total}{pct}"
                if event.get("message"):
                    text += f" {event['message']}"
                self._logged[stage] = now
                if step >= total:
                    self._logged.pop(stage, None)
        elif event.get("message"):
            text = f"{stage}: {event['message']}"
        if text is not None:
            out.write(text + "\n")
            out.flush()

    def _draw_bar(self, event: dict) -> None:
        from tqdm import tqdm

        stage = event["stage"]
        if "total" not in event or "step" not in event:
            if event.get("message"):
                tqdm.write(f"{stage}: {event['message']}", file=self.stream or sys.stderr)
            return
        bar = self._bars.get(stage)
        if bar is None or bar.total != event["total"]:
            if bar is not None:
                bar.close()
            bar = tqdm(total=event["total"], desc=stage, file=self.stream or sys.stderr,
                       leave=True, dynamic_ncols=True)
            self._bars[stage] = bar
        bar.n = event["step"]
        postfix = {k: v for k, v in event.items()
                   if k not in ("stage", "step", "total", "t", "message") and isinstance(v, (int, float))}
        if postfix:
            bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in postfix.items()},
                            refresh=False)
        bar.refresh()
        if event["step"] >= event["total"]:
            bar.close()
            del self._bars[stage]

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
