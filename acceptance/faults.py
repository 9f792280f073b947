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
  nondeterministic        hidden states carry fresh noise on every call (racy kernels, uninitialised memory)
  unordered-output        rows come back in the length-sorted batching order, not the caller's
  truncation:N            the tokenizer truncates at N tokens instead of the manifest's max_length
  accept-blank            empty, whitespace-only and invisible texts are embedded (as "-") instead of rejected
  serialize               every session.run waits for one lock: concurrent callers are served one at a time
                          (a deployment that guards a thread-unsafe session, or a GIL-bound wrapper)

Faults compose, comma-separated and applied in order: `sleep:20,serialize` is a device that takes 20 ms a
call with the CPU free (a GPU's kernels), served one call at a time (the lock holds across the stall).
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from dataclasses import replace

import numpy as np

from runtime.embedder import Embedder, Embeddings, has_visible_character


class _WrappedSession:
    """A session whose run() stalls, rewrites its feeds and/or waits for a lock; everything else passes through."""

    def __init__(self, session, *, sleep_s: float = 0.0, naive_positions: bool = False,
                 lock: threading.Lock | None = None):
        self._session, self._sleep_s, self._naive_positions = session, sleep_s, naive_positions
        self._lock = lock or nullcontext()

    def run(self, output_names, feeds, *args, **kwargs):
        with self._lock:
            if self._sleep_s:
                time.sleep(self._sleep_s)
            if self._naive_positions and "position_ids" in feeds:
                ids = feeds["input_ids"]
                feeds = feeds | {"position_ids": np.broadcast_to(np.arange(ids.shape[1]), ids.shape).copy()}
            return self._session.run(output_names, feeds, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._session, name)


#: name -> (what its argument is, a parser that raises ValueError on a bad one)
FAULTS = {
    "sleep": ("milliseconds", float), "final-position-pooling": (None, None), "nondeterministic": (None, None),
    "unordered-output": (None, None), "truncation": ("tokens", int), "accept-blank": (None, None),
    "serialize": (None, None),
}


class FaultError(ValueError):
    """--inject-fault names no known fault, or its argument is wrong (a usage error at start-up)."""


def parse_faults(spec: str) -> list[tuple[str, str]]:
    """Validate a (comma-separated) fault spec before any test runs."""
    return [parse_fault(one.strip()) for one in spec.split(",")]


def parse_fault(spec: str) -> tuple[str, str]:
    """Validate one fault before any test runs."""
    name, _, arg = spec.partition(":")
    if name not in FAULTS:
        raise FaultError(f"--inject-fault {spec!r}: unknown fault {name!r}; known: "
                         + ", ".join(f"{n}:{a.upper()}" if a else n for n, (a, _) in FAULTS.items()))
    what, parse = FAULTS[name]
    if parse is None and arg:
        raise FaultError(f"--inject-fault {spec!r}: {name} takes no argument")
    if parse is not None and arg:
        try:
            if parse(arg) <= 0:
                raise ValueError
        except ValueError:
            raise FaultError(f"--inject-fault {spec!r}: {name} takes a positive number of {what}") from None
    if name == "truncation" and not arg:
        raise FaultError(f"--inject-fault {spec!r}: say how many tokens, e.g. truncation:64")
    return name, arg


class UnorderedOutput(Embedder):
    """A deployment that returns rows in its length-sorted batching order, not the caller's."""

    def embed(self, texts, batch_size=None, kind="document") -> Embeddings:
        result = super().embed(texts, batch_size=batch_size, kind=kind)
        order = np.argsort(-result.token_counts, kind="stable")
        return replace(result, vectors=result.vectors[order])


class AcceptsBlank(Embedder):
    """A deployment that embeds empty, whitespace-only and invisible texts (as "-") instead of rejecting them."""

    def embed(self, texts, batch_size=None, kind="document") -> Embeddings:
        lenient = [t if has_visible_character(t) else "-" for t in texts]
        return super().embed(lenient, batch_size=batch_size, kind=kind)


def _final_position(postprocess):
    def final_position(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return postprocess(hidden[:, -1:, :], np.ones_like(mask[:, -1:]))
    return final_position


def _noisy(postprocess):
    rng = np.random.default_rng()  # unseeded on purpose: a racy kernel is not reproducible either

    def noisy(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        scale = 0.05 * float(hidden.std())
        return postprocess(hidden + rng.normal(0, scale, hidden.shape).astype(hidden.dtype), mask)
    return noisy


def inject(embedder: Embedder, fault: str | None) -> Embedder:
    """The deployment with a fault: a new Embedder whose stages (session, tokenizer, post-processing) are
    wrapped, or of a class whose embed() is broken; `embedder` itself is unchanged."""
    if not fault:
        return embedder
    for name, arg in parse_faults(fault):
        embedder = _inject_one(embedder, name, arg)
    return embedder


def _inject_one(embedder: Embedder, name: str, arg: str) -> Embedder:
    stages = embedder.stages
    if name == "sleep":
        return embedder.with_stages(session=_WrappedSession(stages.session, sleep_s=float(arg or 50) / 1e3))
    if name == "final-position-pooling":
        return embedder.with_stages(session=_WrappedSession(stages.session, naive_positions=True),
                                    postprocess=_final_position(stages.postprocess))
    if name == "nondeterministic":
        return embedder.with_stages(postprocess=_noisy(stages.postprocess))
    if name == "serialize":
        return embedder.with_stages(session=_WrappedSession(stages.session, lock=threading.Lock()))
    if name == "truncation":
        return embedder.with_stages(tokenizer=stages.tokenizer.with_max_length(int(arg)))
    return embedder.with_stages({"unordered-output": UnorderedOutput, "accept-blank": AcceptsBlank}[name])
