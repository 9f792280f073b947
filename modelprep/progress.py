"""Long work is never silent: the one progress line of every command that can take minutes (a model
export or build, a quantization, `make bench`, the device check).

On a terminal it is one live line (rich's spinner with the elapsed time). In a log (no TTY: CI, a Thor run
over SSH) each step prints one line with the time so far, and a step that runs on without a new line gets
a "still running" line at least every HEARTBEAT_S seconds, from a background thread.

    with StepLog("bench") as log:
        log.step("sentence-transformers fp32")    # a new step
        log.note("bulk 47.1 texts/s")             # a finding within the step
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

#: The longest a log may stay silent while work goes on.
HEARTBEAT_S = 30.0


class StepLog:
    def __init__(self, name: str, *, stream: TextIO | None = None, live: bool | None = None,
                 heartbeat_s: float = HEARTBEAT_S):
        self.name = name
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.heartbeat_s = heartbeat_s
        self.started = time.perf_counter()
        self.current = ""
        self._last_line = self.started
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._status = None  # rich's live status on a terminal

    def __enter__(self) -> StepLog:
        if self.live:
            from rich.console import Console

            self._status = Console(file=self.stream).status(self.name)
            self._status.__enter__()
        else:
            threading.Thread(target=self._heartbeat, name=f"{self.name}-heartbeat", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._status is not None:
            self._status.__exit__(*exc)
        self._line(f"{self.name}: {'failed' if exc[0] else 'done'} after {self.elapsed_s:.0f} s")

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def step(self, text: str) -> None:
        """A new step: shown live, or one line in a log."""
        self.current = text
        if self._status is not None:
            self._status.update(f"{self.name}: {text} ({self.elapsed_s:.0f} s)")
        else:
            self._line(f"{self.name}: {text} ... ({self.elapsed_s:.0f} s so far)")

    def note(self, text: str) -> None:
        """A finding worth a line of its own on a terminal too (it stays above the live line)."""
        self._line(f"{self.name}: {text}")

    def _line(self, text: str) -> None:
        with self._lock:
            if self._status is not None:
                self._status.console.print(text, highlight=False)
            else:
                print(text, file=self.stream, flush=True)
            self._last_line = time.perf_counter()

    def _heartbeat(self) -> None:
        while not self._done.wait(min(5.0, self.heartbeat_s / 2)):
            if time.perf_counter() - self._last_line >= self.heartbeat_s:
                self._line(f"{self.name}: still running{': ' + self.current if self.current else ''} "
                           f"({self.elapsed_s:.0f} s so far)")
