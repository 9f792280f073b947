"""The exhaustive shape sweep (acceptance/shape_sweep.py): which shapes it covers, and that it names the one
batch size or length range a deployment is wrong at, the same on every run. The mutants' full acceptance
runs (tests/test_mutants.py) show the criterion alone trips; these show what it says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acceptance.shape_sweep import served_shapes, sweep
from runtime.embedder import Embedder
from runtime.manifest import load_manifest
from runtime.tensorrt import shape_profile
from tests import mutants as m
from tests.conftest import built

GRID = {"grid_batch_sizes": [1, 4, 8, 16, 32], "grid_text_tokens": [10, 50, 100, 256, 512]}


def test_every_batch_size_and_the_declared_boundaries_are_covered():
    manifest = replace(load_manifest("all-minilm-l6-v2"), max_batch=40)
    shapes = served_shapes(manifest, length_stride=7, **GRID)
    assert shapes.batch_sizes == list(range(1, 41))
    assert shapes.boundaries == [255, 256, 257]
    assert {7, 14, 140, 252, 10, 50, 100, 256, 257} <= set(shapes.lengths)
    assert max(shapes.lengths) == 257  # one past max_length: truncated, the boundary a user hits
    # Every run of 7 consecutive lengths up to max_length holds one that is swept.
    assert all(any(n in shapes.lengths for n in range(start, start + 7)) for start in range(1, 251))


def test_a_tensorrt_profile_adds_its_shapes_and_their_neighbours():
    manifest = load_manifest("qwen3-embedding-0.6b")
    trt = shape_profile(manifest, ["input_ids", "attention_mask"], max_batch=48)
    shapes = served_shapes(manifest, length_stride=7, trt_profile=trt, **GRID)
    assert shapes.batch_sizes[-1] == 48
    assert {1, 2, 127, 128, 129, 511, 512, 513} <= set(shapes.boundaries)


@pytest.fixture(scope="module")
def minilm_manifest():
    return built("all-minilm-l6-v2").manifest


@pytest.mark.parametrize("build, options, batches, lengths", [
    ("wrong_at_batch_size", {"batch_size": 27}, [27], []),
    ("wrong_at_lengths", {"low": 137, "high": 143}, [], [140]),
])
def test_the_sweep_names_the_one_shape_that_is_wrong(minilm_manifest, tmp_path, build, options, batches, lengths):
    manifest = load_manifest(getattr(m, build)(minilm_manifest, tmp_path / "model", id="mutant", **options))
    embedder = Embedder.load(manifest)
    shapes = served_shapes(manifest, length_stride=7, **GRID)
    first, second = sweep(embedder, shapes), sweep(embedder, shapes)
    passes = lambda v: v >= 0.9999  # noqa: E731 - cpu-default's target
    assert first.failing(passes) == (batches, lengths) == second.failing(passes)
    assert first.by_batch == second.by_batch and first.by_length == second.by_length
    assert first.rows == 32 + sum(range(1, 33)) + 4 * len(shapes.lengths)
