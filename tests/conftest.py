"""Shared fixtures for the project's own tests: the two embedded models, built once per run."""

from __future__ import annotations

import pytest

from modelprep.assets import ensure_artifacts
from runtime.embedder import Embedder
from runtime.manifest import load_manifest

SENTENCES = [
    "The cat sits on the mat.",
    "Hi.",
    "Machine learning is a subset of artificial intelligence, and it keeps growing every single year.",
    "机器学习是人工智能的一个分支。",
    "To reset the router, hold the button on the back for ten seconds until the light blinks orange.",
    "What is the capital of France?",
]


@pytest.fixture(scope="session", params=["all-minilm-l6-v2", "qwen3-tiny"])
def model_name(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def built_manifest(model_name):
    manifest = load_manifest(model_name)
    ensure_artifacts(manifest)
    return manifest


@pytest.fixture(scope="session")
def model(built_manifest) -> Embedder:
    return Embedder.load(built_manifest)


def built(name: str) -> Embedder:
    """An embedded model, built by modelprep on first use (the runtime itself never builds)."""
    manifest = load_manifest(name)
    ensure_artifacts(manifest)
    return Embedder.load(manifest)


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    return built("all-minilm-l6-v2")


@pytest.fixture(scope="session")
def qwen_tiny() -> Embedder:
    return built("qwen3-tiny")


#: Modules whose tests each run a whole acceptance suite (or a browser) in a subprocess: 10-50 s apiece.
#: They go first, so that under xdist's work stealing the two workers end together instead of one
#: finishing a long mutant run alone (longest-first scheduling); the order within a module is kept.
LONG_FIRST = ("test_mutants.py", "test_acceptance_suite.py", "test_contention.py", "test_report_browser.py",
              "test_terminal.py", "test_baseline.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The decoder of real size takes minutes and gigabytes: only when asked for (make real-size, -m real_size).
    if "real_size" not in (config.option.markexpr or ""):
        for item in items:
            if item.get_closest_marker("real_size"):
                item.add_marker(pytest.mark.skip(reason="a decoder of real size (minutes, GBs): make real-size"))
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable: order kept within a rank
