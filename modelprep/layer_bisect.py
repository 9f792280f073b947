"""Precision bisection: which layers, kept in fp32, make a lower-precision variant pass the embedding criteria
(min cosine and recall@10 against the fp32 graph on a dev set), not an elementwise tolerance.

It bisects, as Polygraphy's `debug precision` does, rather than trying each layer alone: a set of candidate
layers is halved, and a half is dropped whenever the variant passes with only the other half kept in fp32.
One layer that breaks the variant (an FP16 overflow, a Q/DQ in the wrong place) is found in about
2 log2(n) builds; layers that only fail together are kept together. The result is the manifest's recipe
(`fp32_layers`), which a rebuild reuses without bisecting again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Judgement:
    """A variant built with some layers kept in fp32, judged on the dev set."""

    kept: tuple[str, ...]
    min_cosine: float
    recall_at_10: float
    passed: bool


@dataclass
class Bisection:
    kept: list[str]  # the layers to keep in fp32 (the recipe's fp32_layers)
    passed: bool  # whether the variant with them kept passes (False: not even every layer in fp32 does)
    steps: list[Judgement] = field(default_factory=list)  # every build judged, in order

    def as_record(self) -> dict:
        return {"fp32_layers": self.kept, "passed": self.passed, "builds": len(self.steps),
                "steps": [{"kept": len(s.kept), "min_cosine": s.min_cosine, "recall_at_10": s.recall_at_10,
                           "passed": s.passed} for s in self.steps]}


def bisect_fp32_layers(candidates: list[str], judge: Callable[[tuple[str, ...]], Judgement],
                       step: Callable[[str], None] = lambda text: None) -> Bisection:
    """The layers of `candidates` to keep in fp32 so that judge() passes; `judge(kept)` builds and judges the
    variant with `kept` in fp32 and every other candidate in the lower precision."""
    steps: list[Judgement] = []
    memo: dict[frozenset[str], Judgement] = {}

    def passes(kept: list[str]) -> bool:
        key = frozenset(kept)
        if key not in memo:
            step(f"bisection: {len(kept)} of {len(candidates)} layers kept in fp32")
            memo[key] = judge(tuple(kept))
            steps.append(memo[key])
        return memo[key].passed

    def needed(group: list[str], kept: list[str]) -> list[str]:
        """The layers of `group` to keep, given `kept` (outside the group) kept too; the caller knows that
        keeping all of `group` passes."""
        if passes(kept):
            return []
        if len(group) == 1:
            return group
        first, second = group[: len(group) // 2], group[len(group) // 2:]
        if passes(kept + first):
            return needed(first, kept)
        if passes(kept + second):
            return needed(second, kept)
        in_first = needed(first, kept + second)
        return in_first + needed(second, kept + in_first)

    if not passes(list(candidates)):
        return Bisection(kept=list(candidates), passed=False, steps=steps)
    kept = needed(list(candidates), [])
    return Bisection(kept=[c for c in candidates if c in kept], passed=True, steps=steps)
