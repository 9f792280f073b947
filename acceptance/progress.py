"""Progress for the long phases of a sign-off run, without breaking pytest's output.

On a terminal, a phase shows as one live line that redraws as it advances and is replaced by its closing
line; in a CI log (no TTY) each phase writes one line when it starts and one when it ends, and a line with
where it is at least every HEARTBEAT_S seconds in between (a LoadGen scenario, the latency grid, a model
build): a log over SSH or in CI never goes quiet for long. Output goes through pytest's terminal writer with
capture suspended, the way pytest's own live logging does. Under pytest-xdist the workers have no terminal:
progress is silent there (the controller shows pytest's own progress).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import pytest

from modelprep.progress import HEARTBEAT_S, StepLog


@dataclass
class Phase:
    """One long phase: `update()` says how far it got."""

    name: str
    reporter: ProgressReporter
    started: float = field(default_factory=time.perf_counter)
    last: str = ""

    def update(self, text: str, *, paced: bool = False) -> None:
        """`paced`: the caller already speaks at most every HEARTBEAT_S (a StepLog), so a log gets every line."""
        self.last = text
        self.reporter.draw(f"{self.name}: {text}", final=False, paced=paced)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """While the block runs (a session's engine build, a LoadGen run whose queries take long), a log gets
        "still running" at least every HEARTBEAT_S even when nothing else reports progress."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(HEARTBEAT_S):
                self.update(f"still running ({self.elapsed_s:.0f} s so far)", paced=True)

        thread = threading.Thread(target=beat, name=f"{self.name}-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def steps(self) -> StepLog:
        """A StepLog whose lines (a build's steps, and its heartbeat when a step runs long) go to this phase."""
        return StepLog(self.name, stream=_PhaseStream(self), live=False)


class _PhaseStream:
    """A text stream that hands each line to a phase's update()."""

    def __init__(self, phase: Phase):
        self.phase = phase

    def write(self, text: str) -> None:
        if text.strip():
            self.phase.update(text.strip().removeprefix(f"{self.phase.name}: "), paced=True)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class ProgressReporter:
    """Writes phase lines to pytest's terminal; a no-op where there is none (xdist workers, -p no:terminal)."""

    def __init__(self, config: pytest.Config | None):
        self.config = config
        self._last_draw = 0.0
        self._last_line = time.perf_counter()  # when a log (not a terminal) last got a line
        self._lock = threading.Lock()  # a build's heartbeat speaks from its own thread

    @property
    def terminal(self):
        """pytest's terminal reporter (looked up when drawing: it registers after the plugins configure)."""
        if self.config is None or hasattr(self.config, "workerinput"):  # xdist workers have no terminal
            return None
        return self.config.pluginmanager.get_plugin("terminalreporter")

    @property
    def live(self) -> bool:
        terminal = self.terminal
        return terminal is not None and bool(getattr(terminal, "isatty", False))

    def draw(self, line: str, *, final: bool, paced: bool = False) -> None:
        if self.terminal is None:
            return
        with self._lock:
            self._draw(line, final, paced)

    def _draw(self, line: str, final: bool, paced: bool = False) -> None:
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        now = time.perf_counter()
        if not final and self.live and now - self._last_draw < 0.2:
            return  # a terminal at most five redraws a second
        if not final and not self.live and not paced and now - self._last_line < HEARTBEAT_S:
            return  # a log: a line when a phase starts and ends, and one at least every HEARTBEAT_S between
        self._last_line = now
        self._last_draw = now
        suspend = capture.global_and_fixture_disabled() if capture else nullcontext()
        with suspend:
            if self.live and not final:
                width = max(self.config.get_terminal_writer().fullwidth - 1, 20)
                self.terminal.ensure_newline()
                self.terminal.write("\r" + line[:width].ljust(width), flush=True)
            else:  # a CI log line, or a live line's last state (which stays on screen)
                if self.live:
                    self.terminal.write("\r")
                self.terminal.write_line(line)

    @contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        phase = Phase(name, self)
        if not self.live:
            self.draw(f"{name} ...", final=True)
        try:
            yield phase
        finally:
            self.draw(f"{name}: {phase.last + ', ' if phase.last else ''}done in {phase.elapsed_s:.1f} s", final=True)

