"""Thin on purpose: the sign-off machinery lives in acceptance/plugin.py, thresholds in
acceptance/criteria/*.toml, models in fixtures/models/*.toml."""

import os

from hypothesis import HealthCheck, Phase, settings

pytest_plugins = ["acceptance.plugin"]

# ci: reproducible and bounded; dev: more examples, random. HYPOTHESIS_PROFILE picks one.
settings.register_profile(
    "ci", derandomize=True, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
# meta: the mutant runs in tests/test_mutants.py, a dozen suites in one CI job. No shrinking: a mutant
# is expected to fail its properties, and what matters there is which criteria fail, not the smallest
# failing example (shrinking was most of a failing mutant's run time).
settings.register_profile(
    "meta", derandomize=True, max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
