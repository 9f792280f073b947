"""Fault injection: deliberately broken deployments that only a runtime bug could produce.

Broken *models* (perturbed weights, a foreign tokenizer, a graph that ignores its mask, a wrong
manifest) are files and manifests made by tests/mutants.py; the faults here are the ones the runtime
itself is built never to make, so they are injected around it:

  sleep:N                 every session.run stalls N ms (a throttled or contended device)
  final-position-pooling  last-token pooling reads the final column whatever the padding side, and
                          position_ids are a plain arange (the classic right-padding bug of decoder
                          embedding models served naively). With this runtime's position_ids, a
                          right-side EOS pad sees exactly what the last real EOS sees, so the bug
                          would be invisible; the naive positions make it real, as in the wild.
"""

from __future__ import annotations

import time

import numpy as np

from runtime.embedder import Embedder


class _WrappedSession:
    """A session whose run() stalls and/or rewrites its feeds; everything else passes through."""

    def __init__(self, session, *, sleep_s: float = 0.0, naive_positions: bool = False):
        self._session, self._sleep_s, self._naive_positions = session, sleep_s, naive_positions

    def run(self, output_names, feeds, *args, **kwargs):
        if self._sleep_s:
            time.sleep(self._sleep_s)
        if self._naive_positions and "position_ids" in feeds:
            ids = feeds["input_ids"]
            feeds = feeds | {"position_ids": np.broadcast_to(np.arange(ids.shape[1]), ids.shape).copy()}
        return self._session.run(output_names, feeds, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._session, name)


def inject(embedder: Embedder, fault: str | None) -> Embedder:
    if not fault:
        return embedder
    name, _, arg = fault.partition(":")
    if name == "sleep":
        embedder.session = _WrappedSession(embedder.session, sleep_s=float(arg or 50) / 1e3)
    elif name == "final-position-pooling":
        finish = embedder._finish
        embedder.session = _WrappedSession(embedder.session, naive_positions=True)

        def final_position(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return finish(hidden[:, -1:, :], np.ones_like(mask[:, -1:]))

        embedder._finish = final_position
    else:
        raise ValueError(f"unknown fault {fault!r}: use sleep:N or final-position-pooling")
    return embedder
