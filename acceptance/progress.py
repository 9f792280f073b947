"""Progress for the long phases of a sign-off run, without breaking pytest's output.

On a terminal, a phase shows as one live line that redraws as it advances and is replaced by
its closing line; in a CI log (no TTY) each phase writes one line when it starts and one when it ends,
nothing in between. Output goes through pytest's terminal writer with capture suspended, the way
pytest's own live logging does. Under pytest-xdist the workers have no terminal: progress is silent
there (the controller shows pytest's own progress).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import pytest


@dataclass
class Phase:
    """One long phase: `update()` says how far it got."""

    name: str
    reporter: ProgressReporter
    started: float = field(default_factory=time.perf_counter)
    last: str = ""

    def update(self, text: str) -> None:
        self.last = text
        self.reporter.draw(f"{self.name}: {text}", final=False)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started


class ProgressReporter:
    """Writes phase lines to pytest's terminal; a no-op where there is none (xdist workers, -p no:terminal)."""

    def __init__(self, config: pytest.Config | None):
        self.config = config
        self._last_draw = 0.0

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

    def draw(self, line: str, *, final: bool) -> None:
        if self.terminal is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        now = time.perf_counter()
        if not final and (not self.live or now - self._last_draw < 0.2):
            return  # a CI log gets no redraws; a terminal at most five a second
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

