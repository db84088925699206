"""Progress reporting shared by every long job: a terminal progress bar, or JSON lines for the GUI.

A job calls ``reporter.emit(stage=..., step=..., total=..., **extra)``. With ``mode="jsonl"`` each
call prints one JSON object per line on stdout (flushed), which the GUI's worker reader parses.
With ``mode="bar"`` a tqdm bar per stage is drawn on stderr. ``mode="none"`` is silent.
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


class ProgressReporter:
    """Emit progress events; also forwards every event to an optional callback (used by tests)."""

    def __init__(self, mode: str = "bar", stream: TextIO | None = None,
                 callback: Callable[[dict], None] | None = None):
        if mode not in ("bar", "jsonl", "none"):
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        self.stream = stream
        self.callback = callback
        self._bars: dict[str, Any] = {}
        self._t0 = time.monotonic()

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
